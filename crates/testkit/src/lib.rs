//! What the services' tests share. Every test gets its own database, its own exchange and its
//! own queue names, so tests run in parallel against one PostgreSQL and one RabbitMQ.

pub mod process;
pub mod python;
pub mod services;
pub mod tls;

pub use process::{free_port, sibling_binary, ServiceProcess};
pub use services::{raw, Started, Stops, TOKEN, WAIT};

use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use std::sync::Arc;
use std::time::Duration;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// Creates an empty database of the test's own and returns its URL. `.ci/run` drops leftovers.
pub async fn create_database() -> String {
    let name = unique("pbt_");
    let mut conn = AsyncPgConnection::establish(PG_ADMIN_URL)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}

/// A connection to `db_url`, TLS as its `sslmode` says (the services' own connection code).
pub async fn connect(db_url: &str) -> AsyncPgConnection {
    platform::db::connect(db_url)
        .await
        .unwrap_or_else(|e| panic!("connect to the test database: {e}"))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Runs `SELECT count(*) AS n …` and returns n.
pub async fn count(db_url: &str, sql: &str) -> i64 {
    let mut conn = connect(db_url).await;
    let c: Count = diesel::sql_query(sql)
        .get_result(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    c.n
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

/// Runs `SELECT … AS line …` and returns the lines, for asserting a table's contents at once.
pub async fn rows(db_url: &str, sql: &str) -> Vec<String> {
    let mut conn = connect(db_url).await;
    let lines: Vec<Line> = diesel::sql_query(sql)
        .load(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    lines.into_iter().map(|l| l.line).collect()
}

pub async fn execute(db_url: &str, sql: &str) {
    let mut conn = connect(db_url).await;
    diesel::sql_query(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Publishes each `(routing key, body)` to `exchange` in order, as another service's relay would
/// (persistent, with publisher confirms and `mandatory`), and panics unless the broker took each
/// one and routed it to some queue: a test whose event went nowhere would wait for nothing.
pub async fn publish<B: AsRef<[u8]>>(exchange: &str, messages: &[(&str, B)]) {
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672");
    let channel = conn.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm_select");
    for (key, body) in messages {
        let confirm = channel
            .basic_publish(
                exchange.to_owned().into(),
                (*key).to_owned().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body.as_ref(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("publisher confirm");
        assert!(
            matches!(confirm, lapin::Confirmation::Ack(None)),
            "the broker did not route '{key}' to any queue: {confirm:?}"
        );
    }
    conn.close(200, "published".into()).await.ok();
}

/// Takes messages off `queue` (a DLQ, say) until `expected` have come or `timeout` has passed, then
/// waits `quiet` for any more, so that a test can assert there was no extra one.
pub async fn take_from(
    queue: &str,
    expected: usize,
    timeout: Duration,
    quiet: Duration,
) -> Vec<Vec<u8>> {
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672");
    let channel = conn.create_channel().await.expect("channel");
    let mut taken = Vec::new();
    let mut deadline = tokio::time::Instant::now() + timeout;
    let mut settling = false;
    loop {
        match channel
            .basic_get(queue.to_owned().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic_get")
        {
            Some(m) => taken.push(m.delivery.data),
            None if tokio::time::Instant::now() >= deadline => break,
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
        if taken.len() >= expected && !settling {
            settling = true;
            deadline = tokio::time::Instant::now() + quiet;
        }
    }
    conn.close(200, "taken".into()).await.ok();
    taken
}

/// How many of `seen` went out under each routing key: "one event of each kind" in one assert.
pub fn tally(seen: &[Seen]) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for s in seen {
        *counts.entry(s.routing_key.clone()).or_default() += 1;
    }
    counts
}

/// Everything the process logs from now on, as the services write it (JSON, at debug), for tests
/// that assert what must never be logged. It installs the global subscriber, so call it once per
/// test binary, before anything logs.
pub fn capture_logs() -> CapturedLogs {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .init();
    logs
}

#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("logs are UTF-8")
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One message seen on the broker.
#[derive(Debug, Clone)]
pub struct Seen {
    pub routing_key: String,
    pub properties: BasicProperties,
    pub body: serde_json::Value,
}

/// A private queue bound to a test's exchange: what the broker carries, as a consumer sees it.
pub struct EventTap {
    _conn: Connection,
    consumer: lapin::Consumer,
}

impl EventTap {
    pub async fn new(exchange: &str, binding: &str) -> EventTap {
        let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
            .await
            .expect("RabbitMQ on 127.0.0.1:5672");
        EventTap::on(conn, exchange, binding).await
    }

    /// A tap on the broker `conn` is connected to (the TLS node of [`tls::TlsRabbit`], say).
    pub async fn on(conn: Connection, exchange: &str, binding: &str) -> EventTap {
        let channel = conn.create_channel().await.unwrap();
        channel
            .exchange_declare(
                exchange.to_owned().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let queue = unique("tap.");
        channel
            .queue_declare(
                queue.clone().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.clone().into(),
                exchange.to_owned().into(),
                binding.to_owned().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let consumer = channel
            .basic_consume(
                queue.into(),
                "tap".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        EventTap {
            _conn: conn,
            consumer,
        }
    }

    /// The next message, or None after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Seen> {
        match tokio::time::timeout(timeout, self.consumer.next()).await {
            Ok(Some(Ok(d))) => Some(Seen {
                routing_key: d.routing_key.to_string(),
                properties: d.properties.clone(),
                body: serde_json::from_slice(&d.data).expect("events are JSON"),
            }),
            _ => None,
        }
    }

    /// Everything that arrives until `quiet` passes with nothing new.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Seen> {
        let mut seen = Vec::new();
        while let Some(s) = self.next(quiet).await {
            seen.push(s);
        }
        seen
    }
}

/// What a [`TcpSwitch`] does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Forwards both ways.
    Up,
    /// Refuses new connections and closes the open ones: a stopped server.
    Cut,
    /// Takes connections and bytes and answers nothing: a server that hangs, or a network that
    /// drops packets. Restoring closes what was held, as a healed partition resets them.
    Blackhole,
}

/// A TCP proxy in front of a real server (RabbitMQ, PostgreSQL) that a test can cut, black-hole
/// and restore, to play an outage without touching the server other tests share. Point the
/// service at [`TcpSwitch::port`] (see [`TcpSwitch::url_for`]).
pub struct TcpSwitch {
    pub port: u16,
    target: u16,
    link: Arc<tokio::sync::watch::Sender<Link>>,
}

impl TcpSwitch {
    /// A proxy to `127.0.0.1:<target>`, forwarding from the start if `up`.
    pub async fn start(target: u16, up: bool) -> TcpSwitch {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, _) = tokio::sync::watch::channel(if up { Link::Up } else { Link::Cut });
        let link = Arc::new(tx);
        let watch = link.clone();
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut state = watch.subscribe();
                let now = *state.borrow_and_update();
                match now {
                    Link::Cut => drop(inbound),
                    Link::Blackhole => {
                        tokio::spawn(async move {
                            let _held = inbound;
                            let _ = state.wait_for(|l| *l != Link::Blackhole).await;
                        });
                    }
                    Link::Up => {
                        tokio::spawn(forward(inbound, target, state));
                    }
                }
            }
        });
        TcpSwitch { port, target, link }
    }

    /// A proxy to the machine's PostgreSQL (5432).
    pub async fn postgres() -> TcpSwitch {
        TcpSwitch::start(5432, true).await
    }

    /// A proxy to the machine's RabbitMQ (5672).
    pub async fn rabbitmq(up: bool) -> TcpSwitch {
        TcpSwitch::start(5672, up).await
    }

    /// `url` (which names `127.0.0.1:<target>`, as [`create_database`]'s and [`AMQP_URL`] do)
    /// rewritten to go through this proxy.
    pub fn url_for(&self, url: &str) -> String {
        let direct = format!("127.0.0.1:{}", self.target);
        assert!(url.contains(&direct), "{url} does not name {direct}");
        url.replace(&direct, &format!("127.0.0.1:{}", self.port))
    }

    /// Refuses new connections and cuts the open ones.
    pub fn cut(&self) {
        self.link.send_replace(Link::Cut);
    }

    /// Keeps every connection open and silent: calls hang until their own timeouts.
    pub fn blackhole(&self) {
        self.link.send_replace(Link::Blackhole);
    }

    /// Forwards again (connections held by a black hole are closed first).
    pub fn restore(&self) {
        self.link.send_replace(Link::Up);
    }
}

async fn forward(
    mut inbound: tokio::net::TcpStream,
    target: u16,
    mut state: tokio::sync::watch::Receiver<Link>,
) {
    let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
        return;
    };
    let outage = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
        outage = state.wait_for(|l| *l != Link::Up) => match outage {
            Ok(l) => *l,
            Err(_) => return,
        },
    };
    if outage == Link::Blackhole {
        // Stop forwarding but keep both ends open, so neither side sees a close.
        let _ = state.wait_for(|l| *l != Link::Blackhole).await;
    }
}

/// A TCP proxy to RabbitMQ that a test can cut and restore, to play a broker outage.
pub struct BrokerSwitch {
    pub port: u16,
    switch: TcpSwitch,
}

impl BrokerSwitch {
    pub async fn start(up: bool) -> BrokerSwitch {
        let switch = TcpSwitch::rabbitmq(up).await;
        BrokerSwitch {
            port: switch.port,
            switch,
        }
    }

    pub fn url(&self) -> String {
        self.switch.url_for(AMQP_URL)
    }

    /// Refuses new connections and cuts the open ones.
    pub fn cut(&self) {
        self.switch.cut();
    }

    pub fn blackhole(&self) {
        self.switch.blackhole();
    }

    pub fn restore(&self) {
        self.switch.restore();
    }
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
