//! Part "charges": billing-key charges through portone-gateway against portone-sandbox, beside
//! the same charges made on the sandbox directly, so the gateway's own cost (claim, verification,
//! outbox) shows next to the sandbox's time.
//!
//! On a fresh database, order-query, portone-sandbox and portone-gateway run in-process; the
//! bench seeds card orders, issues one billing key, then
//! 1. charges `--charges` merchant_uids directly at the sandbox (`POST /subscribe/payments/again`
//!    through the `portone` client), `--charge-concurrency` at a time: the sandbox's time;
//! 2. charges every seeded order through `POST /v1/orders/{id}/billing-key-payment`, as many at a
//!    time: the charge path's latency and charges per second;
//!
//! and checks that every order was charged exactly once (201, one `paid` claim per order).

use crate::{ms, to_ms, Args, BrokerSink, Stats, AMQP_URL, TOKEN};
use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use common::Secret;
use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use platform::config::{Service, Settings};
use portone::{AgainRequest, BillingKeyIssueRequest, PortOneClient, PortOneConfig};
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const HEADING: &str = "## portone-gateway: billing-key charges";
const CHANNEL_KEY: &str = "bench-channel";
const CUSTOMER: &str = "bench_customer";

fn settings(
    service: Service,
    db_url: &str,
    exchange: &str,
    queue: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<Settings> {
    let mut pairs = vec![
        ("database.url", db_url),
        ("amqp.url", AMQP_URL),
        ("amqp.exchange", exchange),
        ("amqp.queue", queue),
        ("amqp.queue_expires", "10m"),
        ("outbox.poll_interval", "50ms"),
        ("log.level", "warn"),
        ("http.host", "127.0.0.1"),
        ("http.port", "0"),
        ("api.tokens", TOKEN),
    ];
    pairs.extend_from_slice(extra);
    Ok(Settings::for_tests(service, &pairs)?)
}

struct Spawned {
    name: &'static str,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Spawned {
    fn spawn(name: &'static str, app: platform::service::Running) -> (Spawned, u16) {
        let port = app.port();
        let s = Spawned {
            name,
            shutdown: app.shutdown_token(),
            task: tokio::spawn(app.run_until_stopped()),
        };
        (s, port)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        match tokio::time::timeout(Duration::from_secs(15), self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => eprintln!("warning: {} stopped with {e}", self.name),
            Ok(Err(e)) => eprintln!("warning: {} task failed: {e}", self.name),
            Err(_) => eprintln!("warning: {} did not stop within 15 s", self.name),
        }
    }
}

pub struct ChargeReport {
    charges: usize,
    concurrency: usize,
    seed_secs: f64,
    direct: Stats,
    direct_rate: f64,
    gateway: Stats,
    gateway_rate: f64,
    gateway_workers: usize,
    gateway_pool: u32,
    finished_at: DateTime<Utc>,
}

/// Starts the three services on `db_url` and one exchange, measures, stops them.
pub async fn run(args: &Args, db_url: &str) -> anyhow::Result<ChargeReport> {
    let exchange = format!("bench.{}", uuid::Uuid::new_v4().simple());
    let queues = [
        format!("{exchange}.order-query"),
        format!("{exchange}.portone-gateway"),
    ];
    let sink = BrokerSink::open(&exchange).await?;
    let outcome = with_sink(args, db_url, &exchange, &queues).await;
    if let Err(e) = sink.close(&queues).await {
        eprintln!(
            "warning: could not remove the bench's exchange {exchange} and its queues: {e:#}"
        );
    }
    outcome
}

async fn with_sink(
    args: &Args,
    db_url: &str,
    exchange: &str,
    [oq_queue, gw_queue]: &[String; 2],
) -> anyhow::Result<ChargeReport> {
    let sandbox_settings = Settings::for_tests(
        Service::PortoneSandbox,
        &[
            ("http.host", "127.0.0.1"),
            ("http.port", "0"),
            ("log.level", "warn"),
        ],
    )?;
    let options = portone_sandbox::SandboxOptions {
        channel_key: Some(CHANNEL_KEY.into()),
        ..Default::default()
    };
    let sandbox = portone_sandbox::startup::Application::build_with(sandbox_settings, options)
        .await
        .context("starting portone-sandbox")?;
    let (sandbox, sandbox_port) = Spawned::spawn("portone-sandbox", sandbox);
    let sandbox_url = format!("http://127.0.0.1:{sandbox_port}");
    let oq = match order_query::startup::Application::build(settings(
        Service::OrderQuery,
        db_url,
        exchange,
        oq_queue,
        &[],
    )?)
    .await
    {
        Ok(app) => app,
        Err(e) => {
            sandbox.stop().await;
            return Err(e.context("starting order-query"));
        }
    };
    let (oq, oq_port) = Spawned::spawn("order-query", oq);
    // The gateway tells PortOne where its webhook is before it listens: a port chosen first.
    let gw_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let gw_port_text = gw_port.to_string();
    let webhook = format!("http://127.0.0.1:{gw_port}");
    let gw_settings = settings(
        Service::PortoneGateway,
        db_url,
        exchange,
        gw_queue,
        &[
            ("http.port", gw_port_text.as_str()),
            ("portone.base_url", sandbox_url.as_str()),
            ("portone.imp_key", portone_sandbox::DEFAULT_IMP_KEY),
            ("portone.imp_secret", portone_sandbox::DEFAULT_IMP_SECRET),
            ("portone.channel_key", CHANNEL_KEY),
            ("portone.webhook_base_url", webhook.as_str()),
        ],
    )?;
    let (workers, pool) = (gw_settings.http.workers, gw_settings.database.pool_size);
    let gw = match portone_gateway::startup::Application::build(gw_settings).await {
        Ok(app) => app,
        Err(e) => {
            oq.stop().await;
            sandbox.stop().await;
            return Err(e.context("starting portone-gateway"));
        }
    };
    let (gw, _) = Spawned::spawn("portone-gateway", gw);
    println!("portone-sandbox {sandbox_url}");
    println!("order-query   http://127.0.0.1:{oq_port}");
    println!("portone-gateway http://127.0.0.1:{gw_port} ({workers} HTTP workers, pool {pool}), exchange {exchange}");

    let outcome = measure(args, db_url, &sandbox_url, oq_port, gw_port, workers, pool).await;

    gw.stop().await;
    oq.stop().await;
    sandbox.stop().await;
    outcome
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<i64> {
    Ok(diesel::sql_query(sql).get_result::<Count>(conn).await?.n)
}

fn order_id(i: usize) -> String {
    format!("CHG-{i:07}")
}

/// Runs `n` jobs, `concurrency` at a time; each returns its own latency.
async fn timed<F, Fut>(
    n: usize,
    concurrency: usize,
    job: F,
) -> anyhow::Result<(Vec<Duration>, Duration)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (job, next) = (job.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut sample = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(sample);
                }
                let t = Instant::now();
                job(i).await?;
                sample.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for w in workers {
        all.extend(w.await??);
    }
    Ok((all, started.elapsed()))
}

async fn measure(
    args: &Args,
    db_url: &str,
    sandbox_url: &str,
    oq_port: u16,
    gw_port: u16,
    gateway_workers: usize,
    gateway_pool: u32,
) -> anyhow::Result<ChargeReport> {
    let n = args.charges;
    let concurrency = args.charge_concurrency;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .build()?;
    let mut conn = AsyncPgConnection::establish(db_url).await?;
    for base in [
        format!("http://127.0.0.1:{oq_port}"),
        format!("http://127.0.0.1:{gw_port}"),
    ] {
        let started = Instant::now();
        while !http
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
        {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("{base}/health/ready is not 200 after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Seed card orders and wait until the gateway's view has them all.
    let started = Instant::now();
    let oq = format!("http://127.0.0.1:{oq_port}/v1/orders");
    let client = http.clone();
    timed(n, 16, move |i| {
        let (client, url) = (client.clone(), oq.clone());
        async move {
            let body = serde_json::json!({
                "order_id": order_id(i), "order_price_amount": "15000", "billing_name": "김영희",
                "bank_account_no": "1002-123-456789", "bank_code_name": "우리은행",
                "payment_method": "card"
            });
            let res = client
                .post(url)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await?;
            if res.status() != 201 {
                bail!("creating an order: HTTP {}", res.status());
            }
            Ok(())
        }
    })
    .await?;
    loop {
        if count(
            &mut conn,
            "SELECT count(*) AS n FROM portone_gateway.orders",
        )
        .await?
            == n as i64
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the gateway's order view did not reach {n} orders in 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seed_secs = started.elapsed().as_secs_f64();
    println!("seeded        {n} card orders in {seed_secs:.2} s");

    let portone = PortOneClient::new(PortOneConfig::new(
        sandbox_url,
        portone_sandbox::DEFAULT_IMP_KEY,
        Secret::new(portone_sandbox::DEFAULT_IMP_SECRET.into()),
    ))?;
    portone
        .issue_billing_key(
            CUSTOMER,
            &BillingKeyIssueRequest {
                channel_key: CHANNEL_KEY.into(),
                card_number: Secret::new("5365-1011-2233-4455".into()),
                expiry: Secret::new("2099-12".into()),
                ..Default::default()
            },
        )
        .await?;

    // 1. The sandbox alone, through the same client the gateway uses.
    let client = portone.clone();
    let (direct, direct_wall) = timed(n, concurrency, move |i| {
        let client = client.clone();
        async move {
            let request = AgainRequest {
                customer_uid: CUSTOMER.into(),
                merchant_uid: format!("DIRECT-{i:07}"),
                amount: Decimal::new(15000, 0),
                name: "bench".into(),
                channel_key: Some(CHANNEL_KEY.into()),
                ..Default::default()
            };
            let p = client.pay_again(&request).await?;
            if p.status != portone::PaymentStatus::Paid {
                bail!("a direct charge was {}", p.status);
            }
            Ok(())
        }
    })
    .await?;
    let direct_rate = n as f64 / direct_wall.as_secs_f64();
    let direct = Stats::of(direct);
    println!(
        "sandbox       {n} charges, {concurrency} concurrent: {direct_rate:.0} charges/s, median {} p95 {} p99 {}",
        ms(direct.median), ms(direct.p95), ms(direct.p99)
    );

    // 2. Through the gateway.
    let gw = format!("http://127.0.0.1:{gw_port}");
    let client = http.clone();
    let (gateway, gateway_wall) = timed(n, concurrency, move |i| {
        let (client, gw) = (client.clone(), gw.clone());
        async move {
            let res = client
                .post(format!(
                    "{gw}/v1/orders/{}/billing-key-payment",
                    order_id(i)
                ))
                .bearer_auth(TOKEN)
                .json(&serde_json::json!({"customer_uid": CUSTOMER}))
                .send()
                .await?;
            if res.status() != 201 {
                bail!(
                    "charging {}: HTTP {} {}",
                    order_id(i),
                    res.status(),
                    res.text().await.unwrap_or_default()
                );
            }
            Ok(())
        }
    })
    .await?;
    let gateway_rate = n as f64 / gateway_wall.as_secs_f64();
    let gateway = Stats::of(gateway);
    println!(
        "gateway       {n} charges, {concurrency} concurrent: {gateway_rate:.0} charges/s, median {} p95 {} p99 {}",
        ms(gateway.median), ms(gateway.p95), ms(gateway.p99)
    );
    let paid = count(
        &mut conn,
        "SELECT count(*) AS n FROM portone_gateway.charges WHERE status = 'paid'",
    )
    .await?;
    let payments = count(
        &mut conn,
        "SELECT count(*) AS n FROM portone_gateway.payments WHERE status = 'paid' AND pay_method = 'card'",
    )
    .await?;
    if paid != n as i64 || payments != n as i64 {
        bail!("expected {n} paid charges and payments, found {paid} and {payments}");
    }
    Ok(ChargeReport {
        charges: n,
        concurrency,
        seed_secs,
        direct,
        direct_rate,
        gateway,
        gateway_rate,
        gateway_workers,
        gateway_pool,
        finished_at: Utc::now(),
    })
}

impl ChargeReport {
    pub fn markdown_section(&self) -> String {
        let overhead = |g: Duration, d: Duration| {
            format!(
                "{:.2} ms ({:.1}×)",
                to_ms(g) - to_ms(d),
                to_ms(g) / to_ms(d).max(0.001)
            )
        };
        let rows = [
            (
                "sandbox alone: charges/s",
                format!("{:.0}", self.direct_rate),
            ),
            (
                "sandbox alone: median / p95 / p99",
                format!(
                    "{} / {} / {}",
                    ms(self.direct.median),
                    ms(self.direct.p95),
                    ms(self.direct.p99)
                ),
            ),
            (
                "through the gateway: charges/s",
                format!("{:.0}", self.gateway_rate),
            ),
            (
                "through the gateway: median / p95 / p99",
                format!(
                    "{} / {} / {}",
                    ms(self.gateway.median),
                    ms(self.gateway.p95),
                    ms(self.gateway.p99)
                ),
            ),
            (
                "gateway's own cost, median (gateway − sandbox)",
                overhead(self.gateway.median, self.direct.median),
            ),
            (
                "gateway's own cost, p95",
                overhead(self.gateway.p95, self.direct.p95),
            ),
        ];
        let mut out = format!(
            "{HEADING}\n\nRun {}: `target/release/paybridge-bench --only charges --charges {} --charge-concurrency {}` on {} cores{}. \
             portone-sandbox, order-query and portone-gateway run in-process in release mode (the gateway with {} HTTP workers, database pool {}), \
             on a fresh database; the bench client, PostgreSQL and RabbitMQ share the same cores.\n\n\
             - Seed: {} card orders through `POST /v1/orders`, until the gateway's view has them all ({:.2} s), and one billing key.\n\
             - Sandbox alone: {} `POST /subscribe/payments/again` on new merchant_uids through the `portone` client, {} at a time: what PortOne's side costs here.\n\
             - Through the gateway: `POST /v1/orders/{{id}}/billing-key-payment` for every seeded order, {} at a time (claim, the sandbox's charge, verification, `payment.paid` in the outbox); every answer 201, one paid charge per order.\n\n\
             | measure | figure |\n| --- | --- |\n",
            self.finished_at.format("%Y-%m-%d %H:%M UTC"),
            self.charges,
            self.concurrency,
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            crate::cpu_model().map(|m| format!(" ({m})")).unwrap_or_default(),
            self.gateway_workers,
            self.gateway_pool,
            self.charges,
            self.seed_secs,
            self.charges,
            self.concurrency,
            self.concurrency,
        );
        for (a, b) in rows {
            out += &format!("| {a} | {b} |\n");
        }
        out
    }
}
