//! `paybridge-bench`: a benchmark command (not a test) for order-query and deposit-confirmation.
//!
//! Part "order-query": it creates a database of its own, starts order-query in-process (release
//! build, port 0), seeds orders through the merchant API, then measures:
//! 1. Bankda's list (`GET /bankda/orders`) against the same rows fetched by plain SQL;
//! 2. Bankda's detail (`POST /bankda/orders/detail`) under fixed concurrency for a fixed time.
//!
//! Part "deposits" (module `deposits`): on another fresh database, order-query and
//! deposit-confirmation run together and the payment flow is measured (confirmation batches,
//! sustained confirmations, lag until `order.paid` is visible in order-query).
//!
//! Part "charges" (module `charges`): billing-key charges through portone-gateway against
//! portone-sandbox, beside the same charges on the sandbox directly.
//!
//! It prints the figures and rewrites the "order-query", "deposit-confirmation" and charges
//! sections of `docs/benchmarks.md`. It exits non-zero only on errors (a failed request, a wrong count), never
//! on a missed target.

mod charges;
mod deposits;
mod reconcile;

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use diesel::sql_types::{Jsonb, Nullable, Numeric, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use order_query::startup::Application;
use platform::config::{Service, Settings};
use rust_decimal::Decimal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PG_BASE_URL: &str = "postgres://postgres@127.0.0.1:5432";
const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const TOKEN: &str = "bench-token";

const LIST_WARMUPS: usize = 3;
const DETAIL_WARMUP: Duration = Duration::from_secs(1);

// Targets (design): list p95 ≤ 60 ms and ≤ 1.5× plain SQL; detail ≥ 3,000 req/s with p99 ≤ 10 ms.
const LIST_P95_TARGET_MS: f64 = 60.0;
const LIST_SQL_RATIO_TARGET: f64 = 1.5;
const DETAIL_RPS_TARGET: f64 = 3000.0;
const DETAIL_P99_TARGET_MS: f64 = 10.0;

const USAGE: &str = "\
paybridge-bench: benchmark order-query (seed, Bankda list vs plain SQL, Bankda detail under load)
and deposit-confirmation (confirmation batches, sustained confirmations, lag until order.paid)

USAGE: paybridge-bench [OPTIONS]

OPTIONS:
  --only PART           run one part only: order-query, deposits, reconcile or charges (default:
                        all four, in that order)
  --seed-concurrency N  concurrent create requests while seeding (default 32)
  --docs PATH           markdown file to update (default <workspace>/docs/benchmarks.md)
  --no-docs             do not write the markdown file
  --auto-explain MS     diagnostic: log the plans of statements slower than MS ms to PostgreSQL's
                        server log (auto_explain, on the bench's databases only)
  -h, --help            this text

order-query:
  --concurrency N       detail: concurrent workers (default 16)
  --seconds N           detail: measured duration in seconds (default 10)
  --orders N            orders to seed (default 10000)
  --list-runs N         timed list fetches, endpoint and SQL each (default 50)

deposits (the part seeds as many orders as its measurements confirm):
  --batches-100 N       timed confirmation batches of 100 orders (default 20)
  --batches-1000 N      timed confirmation batches of 1000 orders (default 10)
  --sustained-orders N  orders confirmed by the sustained run (default 20000)
  --sustained-senders N concurrent senders in the sustained run (default 4)
  --sustained-batch N   orders per request in the sustained run (default 500)
  --lag-rate N          confirmations per second while measuring the lag (default 500)
  --lag-seconds N       duration of the lag run in seconds (default 10)
  --lag-batch N         orders per confirmation request in the lag run (default 10: Bankda sends the
                        deposits it matched as one list)
  --lag-probe-rate N    diagnostic: the lag again, one order per request, for 5 s at this rate
                        (default 500; 0 skips it)

reconcile (portone-gateway's reconciler with many unfinished barcodes):
  --barcodes N          ready barcodes seeded (default 10000)
  --reconcile-passes N  timed passes over all of them (default 5)

charges:
  --charges N           billing-key charges, on the sandbox alone and through the gateway (default 1000)
  --charge-concurrency N  charges in flight at a time (default 8)

Environment: BENCH_LOG=LEVEL prints the services' JSON logs at LEVEL (e.g. warn) to stdout.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and RabbitMQ on 127.0.0.1:5672.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    OrderQuery,
    Deposits,
    Reconcile,
    Charges,
}

#[derive(Debug, Clone)]
struct Args {
    only: Option<Part>,
    concurrency: usize,
    seconds: u64,
    orders: usize,
    seed_concurrency: usize,
    list_runs: usize,
    batches_100: usize,
    batches_1000: usize,
    sustained_orders: usize,
    sustained_senders: usize,
    sustained_batch: usize,
    lag_rate: usize,
    lag_seconds: u64,
    lag_batch: usize,
    lag_probe_rate: usize,
    auto_explain_ms: Option<u64>,
    docs: Option<PathBuf>,
    barcodes: usize,
    reconcile_passes: usize,
    charges: usize,
    charge_concurrency: usize,
}

impl Args {
    fn parse() -> anyhow::Result<Option<Args>> {
        let mut args = Args {
            only: None,
            concurrency: 16,
            seconds: 10,
            orders: 10_000,
            seed_concurrency: 32,
            list_runs: 50,
            batches_100: 20,
            batches_1000: 10,
            sustained_orders: 20_000,
            sustained_senders: 4,
            sustained_batch: 500,
            lag_rate: 500,
            lag_seconds: 10,
            lag_batch: 10,
            lag_probe_rate: 500,
            auto_explain_ms: None,
            docs: Some(workspace_root().join("docs").join("benchmarks.md")),
            barcodes: 10_000,
            reconcile_passes: 5,
            charges: 1000,
            charge_concurrency: 8,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = |name: &str| it.next().ok_or_else(|| anyhow!("{name} needs a value"));
            match flag.as_str() {
                "-h" | "--help" => return Ok(None),
                "--only" => {
                    args.only = Some(match value(&flag)?.as_str() {
                        "order-query" => Part::OrderQuery,
                        "deposits" | "deposit-confirmation" => Part::Deposits,
                        "reconcile" => Part::Reconcile,
                        "charges" => Part::Charges,
                        other => {
                            bail!("--only wants order-query, deposits, reconcile or charges, got '{other}'")
                        }
                    })
                }
                "--concurrency" => args.concurrency = positive(&flag, &value(&flag)?)?,
                "--seconds" => args.seconds = positive(&flag, &value(&flag)?)? as u64,
                "--orders" => args.orders = positive(&flag, &value(&flag)?)?,
                "--seed-concurrency" => args.seed_concurrency = positive(&flag, &value(&flag)?)?,
                "--list-runs" => args.list_runs = positive(&flag, &value(&flag)?)?,
                "--charges" => args.charges = positive(&flag, &value(&flag)?)?,
                "--charge-concurrency" => {
                    args.charge_concurrency = positive(&flag, &value(&flag)?)?
                }
                "--batches-100" => args.batches_100 = positive(&flag, &value(&flag)?)?,
                "--batches-1000" => args.batches_1000 = positive(&flag, &value(&flag)?)?,
                "--sustained-orders" => args.sustained_orders = positive(&flag, &value(&flag)?)?,
                "--sustained-senders" => args.sustained_senders = positive(&flag, &value(&flag)?)?,
                "--sustained-batch" => args.sustained_batch = positive(&flag, &value(&flag)?)?,
                "--lag-rate" => args.lag_rate = positive(&flag, &value(&flag)?)?,
                "--lag-seconds" => args.lag_seconds = positive(&flag, &value(&flag)?)? as u64,
                "--lag-batch" => args.lag_batch = positive(&flag, &value(&flag)?)?,
                "--lag-probe-rate" => {
                    let v = value(&flag)?;
                    args.lag_probe_rate = v
                        .parse()
                        .map_err(|_| anyhow!("--lag-probe-rate wants an integer, got '{v}'"))?
                }
                "--auto-explain" => {
                    args.auto_explain_ms = Some(positive(&flag, &value(&flag)?)? as u64)
                }
                "--barcodes" => args.barcodes = positive(&flag, &value(&flag)?)?,
                "--reconcile-passes" => args.reconcile_passes = positive(&flag, &value(&flag)?)?,
                "--docs" => args.docs = Some(PathBuf::from(value(&flag)?)),
                "--no-docs" => args.docs = None,
                other => bail!("unknown argument '{other}'\n\n{USAGE}"),
            }
        }
        if args.orders > 999_999 {
            bail!("--orders is at most 999999");
        }
        if args.sustained_batch > deposits::MAX_BATCH || args.lag_batch > deposits::MAX_BATCH {
            bail!(
                "--sustained-batch and --lag-batch are at most {} (bankda.max_confirm_batch)",
                deposits::MAX_BATCH
            );
        }
        if deposits::Plan::of(&args).total() > 999_999 {
            bail!("the deposits part would seed more than 999999 orders; lower its counts");
        }
        Ok(Some(args))
    }
}

/// bench/ → the workspace root.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or(manifest)
}

fn positive(flag: &str, v: &str) -> anyhow::Result<usize> {
    match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{flag} wants a positive integer, got '{v}'"),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // The services' own logs, for finding out why a run failed (e.g. BENCH_LOG=warn).
    if let Ok(level) = std::env::var("BENCH_LOG") {
        platform::telemetry::init("bench", &level, true);
    }
    let args = match Args::parse() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let args = &args;
    let mut admin = AsyncPgConnection::establish(PG_ADMIN_URL)
        .await
        .context("connecting to PostgreSQL on 127.0.0.1:5432 as postgres")?;

    let runs = |part: Part| args.only.is_none_or(|only| only == part);
    if runs(Part::OrderQuery) {
        println!("== order-query ==");
        let report = on_fresh_database(&mut admin, args.auto_explain_ms, |db_url| async move {
            with_app(args, &db_url).await
        })
        .await?;
        if let Some(path) = &args.docs {
            write_docs(path, "## order-query", &report.markdown_section())
                .with_context(|| format!("writing {}", path.display()))?;
            println!("\nwrote the order-query section of {}", path.display());
        }
    }

    if runs(Part::Deposits) {
        println!("\n== deposit-confirmation ==");
        let report = on_fresh_database(&mut admin, args.auto_explain_ms, |db_url| async move {
            deposits::run(args, &db_url).await
        })
        .await?;
        if let Some(path) = &args.docs {
            write_docs(path, deposits::HEADING, &report.markdown_section())
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "\nwrote the deposit-confirmation section of {}",
                path.display()
            );
        }
    }

    if runs(Part::Reconcile) {
        println!("\n== portone-gateway reconciliation ==");
        let report = on_fresh_database(&mut admin, args.auto_explain_ms, |db_url| async move {
            reconcile::run(args, &db_url).await
        })
        .await?;
        if let Some(path) = &args.docs {
            write_docs(path, reconcile::HEADING, &report.markdown_section())
                .with_context(|| format!("writing {}", path.display()))?;
            println!("\nwrote the reconciliation section of {}", path.display());
        }
    }

    if runs(Part::Charges) {
        println!("\n== portone-gateway: billing-key charges ==");
        let report = on_fresh_database(&mut admin, args.auto_explain_ms, |db_url| async move {
            charges::run(args, &db_url).await
        })
        .await?;
        if let Some(path) = &args.docs {
            write_docs(path, charges::HEADING, &report.markdown_section())
                .with_context(|| format!("writing {}", path.display()))?;
            println!("\nwrote the charges section of {}", path.display());
        }
    }
    Ok(())
}

/// Runs `f` on a database created for it, dropping the database afterwards (whatever happened).
async fn on_fresh_database<T, F, Fut>(
    admin: &mut AsyncPgConnection,
    auto_explain_ms: Option<u64>,
    f: F,
) -> anyhow::Result<T>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let db_name = format!("pbbench_{}", uuid::Uuid::new_v4().simple());
    diesel::sql_query(format!("CREATE DATABASE {db_name}"))
        .execute(admin)
        .await
        .with_context(|| format!("CREATE DATABASE {db_name}"))?;
    println!("database      {db_name} (dropped at the end)");
    if let Some(ms) = auto_explain_ms {
        // Every new session on the database loads auto_explain and logs the plans of statements
        // slower than `ms` to the server's log.
        for set in [
            "session_preload_libraries = 'auto_explain'".to_owned(),
            format!("auto_explain.log_min_duration = {ms}"),
            "auto_explain.log_analyze = on".to_owned(),
            "auto_explain.log_buffers = on".to_owned(),
        ] {
            diesel::sql_query(format!("ALTER DATABASE {db_name} SET {set}"))
                .execute(&mut *admin)
                .await
                .with_context(|| format!("ALTER DATABASE {db_name} SET {set}"))?;
        }
        println!(
            "              auto_explain logs statements slower than {ms} ms to PostgreSQL's log"
        );
    }
    let db_url = format!("{PG_BASE_URL}/{db_name}");

    let outcome = f(db_url).await;

    let dropped = diesel::sql_query(format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .execute(admin)
        .await
        .with_context(|| format!("DROP DATABASE {db_name}"));
    let value = outcome?;
    dropped?;
    Ok(value)
}

/// A queue of the bench's own bound to everything on its exchange, keeping at most one message.
struct BrokerSink {
    connection: lapin::Connection,
    channel: lapin::Channel,
    exchange: String,
}

impl BrokerSink {
    async fn open(exchange: &str) -> anyhow::Result<BrokerSink> {
        use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
        use lapin::types::{AMQPValue, FieldTable};
        let connection =
            lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default())
                .await
                .context("connecting to RabbitMQ on 127.0.0.1:5672")?;
        let channel = connection.create_channel().await?;
        // Declared as the relay declares it (durable topic), so the two declarations agree.
        channel
            .exchange_declare(
                exchange.to_owned().into(),
                lapin::ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .context("declaring the bench's exchange")?;
        let queue = format!("{exchange}.sink");
        let mut queue_args = FieldTable::default();
        queue_args.insert("x-max-length".into(), AMQPValue::LongLongInt(1));
        channel
            .queue_declare(
                queue.clone().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                queue_args,
            )
            .await
            .context("declaring the bench's sink queue")?;
        channel
            .queue_bind(
                queue.into(),
                exchange.to_owned().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("binding the bench's sink queue")?;
        Ok(BrokerSink {
            connection,
            channel,
            exchange: exchange.to_owned(),
        })
    }

    /// Deletes the exchange and, once the services have stopped, the queues they declared on it
    /// (`queues`, each with its `.dlq` queue and `.dlx` exchange, as crates/messaging names them);
    /// the exclusive sink queue goes with the connection.
    async fn close(self, queues: &[String]) -> anyhow::Result<()> {
        use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
        for queue in queues {
            for name in [queue.clone(), format!("{queue}.dlq")] {
                self.channel
                    .queue_delete(name.clone().into(), QueueDeleteOptions::default())
                    .await
                    .with_context(|| format!("deleting queue {name}"))?;
            }
            let dlx = format!("{queue}.dlx");
            self.channel
                .exchange_delete(dlx.clone().into(), ExchangeDeleteOptions::default())
                .await
                .with_context(|| format!("deleting exchange {dlx}"))?;
        }
        self.channel
            .exchange_delete(self.exchange.into(), ExchangeDeleteOptions::default())
            .await?;
        self.connection.close(200, "bench done".into()).await?;
        Ok(())
    }
}

/// Starts order-query on the bench's database, measures, then stops it (whatever happened).
async fn with_app(args: &Args, db_url: &str) -> anyhow::Result<Report> {
    let exchange = format!("bench.{}", uuid::Uuid::new_v4().simple());
    let queue = format!("{exchange}.order-query");
    let settings = Settings::for_tests(
        Service::OrderQuery,
        &[
            ("database.url", db_url),
            ("http.port", "0"),
            ("http.host", "127.0.0.1"),
            ("api.tokens", TOKEN),
            ("amqp.exchange", &exchange),
            // A queue of the run's own (not the default `order-query.events`), deleted at the end
            // (or, should the bench die, 10 minutes after).
            ("amqp.queue", &queue),
            ("amqp.queue_expires", "10m"),
            ("log.level", "warn"),
        ],
    )?;
    // The relay publishes with `mandatory`, and keeps an event it cannot route in the outbox,
    // retrying it (1 s, 2 s, 4 s …). With nothing bound to a fresh exchange, every seeded order
    // would be republished again and again during the timed runs; a sink queue makes them routable.
    let sink = BrokerSink::open(&exchange).await?;
    let outcome = with_sink(args, db_url, &exchange, settings).await;
    if let Err(e) = sink.close(&[queue]).await {
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
    settings: Settings,
) -> anyhow::Result<Report> {
    let workers = settings.http.workers;
    let pool_size = settings.database.pool_size;
    let app = Application::build(settings)
        .await
        .context("starting order-query")?;
    let port = app.port();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    println!("order-query   http://127.0.0.1:{port} ({workers} HTTP workers, pool {pool_size}), exchange {exchange}");

    let outcome = measure(args, db_url, port).await;

    shutdown.cancel();
    match tokio::time::timeout(Duration::from_secs(15), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("warning: order-query stopped with {e}"),
        Ok(Err(e)) => eprintln!("warning: order-query task failed: {e}"),
        Err(_) => eprintln!("warning: order-query did not stop within 15 s"),
    }
    outcome.map(|mut r| {
        r.http_workers = workers;
        r.pool_size = pool_size;
        r
    })
}

async fn measure(args: &Args, db_url: &str, port: u16) -> anyhow::Result<Report> {
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;

    let seed = seed(&client, &base, 1..=args.orders, args.seed_concurrency).await?;
    println!(
        "\n[1] seed      {} orders (2 items each), {} concurrent: {:.2} s, {:.0} orders/s (create median {}, p99 {})",
        args.orders,
        args.seed_concurrency,
        seed.elapsed.as_secs_f64(),
        seed.throughput,
        ms(seed.stats.median),
        ms(seed.stats.p99),
    );

    let drained = wait_for_outbox(db_url, "order_query").await?;
    println!(
        "    outbox    the seeding's {} events were on the broker {:.2} s after the last create",
        args.orders,
        drained.as_secs_f64()
    );

    let cpu_start = CpuSample::now();
    let list = bench_list(&client, &base, db_url, args).await?;
    println!(
        "\n[2] list      GET /bankda/orders: {} orders, {:.1} MiB body; {} timed runs after {} warm-ups",
        list.orders_in_body,
        list.body_bytes as f64 / (1024.0 * 1024.0),
        args.list_runs,
        LIST_WARMUPS
    );
    println!(
        "    endpoint  median {:>9}   p95 {:>9}",
        ms(list.endpoint.median),
        ms(list.endpoint.p95)
    );
    println!(
        "    plain SQL median {:>9}   p95 {:>9}   ({} rows)",
        ms(list.sql.median),
        ms(list.sql.p95),
        list.sql_rows
    );
    println!(
        "    (diagnostic) the endpoint's own query alone: median {:>9}   p95 {:>9}",
        ms(list.service_query.median),
        ms(list.service_query.p95)
    );
    println!(
        "    ratio     median {:>8.2}×   p95 {:>8.2}×   (endpoint ÷ SQL)",
        list.ratio_median(),
        list.ratio_p95()
    );
    println!(
        "    target    p95 ≤ {LIST_P95_TARGET_MS} ms: {}   p95 ≤ {LIST_SQL_RATIO_TARGET}× SQL: {}",
        verdict(to_ms(list.endpoint.p95) <= LIST_P95_TARGET_MS),
        verdict(list.ratio_p95() <= LIST_SQL_RATIO_TARGET)
    );

    let detail = bench_detail(&client, &base, args).await?;
    println!(
        "\n[3] detail    POST /bankda/orders/detail: {} workers for {:.2} s (after a {} s warm-up), random ids among {}",
        args.concurrency,
        detail.elapsed.as_secs_f64(),
        DETAIL_WARMUP.as_secs(),
        args.orders
    );
    println!(
        "    {} requests, {:.0} req/s, median {}, p99 {}, max {}; non-200: {}, transport errors: {}",
        detail.requests,
        detail.throughput,
        ms(detail.stats.median),
        ms(detail.stats.p99),
        ms(detail.stats.max),
        detail.non_200,
        detail.transport_errors
    );
    println!(
        "    target    ≥ {DETAIL_RPS_TARGET:.0} req/s: {}   p99 ≤ {DETAIL_P99_TARGET_MS} ms: {}",
        verdict(detail.throughput >= DETAIL_RPS_TARGET),
        verdict(to_ms(detail.stats.p99) <= DETAIL_P99_TARGET_MS)
    );

    let cpu = CpuUse::between(cpu_start, CpuSample::now());
    if let Some(c) = &cpu {
        println!("\n    machine CPU during list and detail: {}", c.describe());
    }
    let report = Report {
        args: args.clone(),
        seed,
        list,
        detail,
        cpu,
        http_workers: 0,
        pool_size: 0,
        finished_at: Utc::now(),
    };
    println!("\n{}", report.summary_table());

    if report.detail.non_200 > 0 || report.detail.transport_errors > 0 {
        bail!(
            "detail: {} non-200 responses and {} transport errors (must be 0)",
            report.detail.non_200,
            report.detail.transport_errors
        );
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// 1. Seeding

struct SeedResult {
    elapsed: Duration,
    throughput: f64,
    stats: Stats,
}

fn order_id(i: usize) -> String {
    format!("B-{i:06}")
}

fn create_body(i: usize) -> String {
    let amount = 10_000 + (i % 500) * 100;
    serde_json::json!({
        "order_id": order_id(i),
        "order_price_amount": format!("{amount}.00"),
        "billing_name": "홍길동",
        "bank_account_no": "12312422234",
        "bank_code_name": "국민은행",
        "buyer_name": "홍길동",
        "buyer_email": format!("buyer{i}@example.com"),
        "buyer_cellphone": "010-1234-5678",
        "items": [{"product_name": format!("상품명{i}-1")}, {"product_name": format!("상품명{i}-2")}],
    })
    .to_string()
}

/// Creates orders `ids` (B-000001 …) through `POST /v1/orders`, `concurrency` requests in flight.
async fn seed(
    client: &reqwest::Client,
    base: &str,
    ids: std::ops::RangeInclusive<usize>,
    concurrency: usize,
) -> anyhow::Result<SeedResult> {
    let count = ids.clone().count();
    let next = Arc::new(AtomicUsize::new(*ids.start()));
    let url = Arc::new(format!("{base}/v1/orders"));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, next, url, last) = (client.clone(), next.clone(), url.clone(), *ids.end());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i > last {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let t0 = Instant::now();
                let resp = client
                    .post(url.as_str())
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(create_body(i))
                    .send()
                    .await
                    .with_context(|| format!("creating {}", order_id(i)))?;
                let status = resp.status();
                let body = resp.bytes().await?;
                latencies.push(t0.elapsed());
                if status != reqwest::StatusCode::CREATED {
                    bail!(
                        "creating {}: HTTP {status}: {}",
                        order_id(i),
                        String::from_utf8_lossy(&body)
                    );
                }
            }
        }));
    }
    let mut all = Vec::with_capacity(count);
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed();
    Ok(SeedResult {
        elapsed,
        throughput: count as f64 / elapsed.as_secs_f64(),
        stats: Stats::of(all),
    })
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Waits until the outbox relay has published the seeding's events, so that its work (and
/// RabbitMQ's) does not overlap the timed runs.
async fn wait_for_outbox(db_url: &str, schema: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut conn = AsyncPgConnection::establish(db_url).await?;
    loop {
        let p: Pending = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM {schema}.outbox WHERE published_at IS NULL"
        ))
        .get_result(&mut conn)
        .await
        .context("counting unpublished outbox events")?;
        if p.n == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!(
                "the outbox still holds {} unpublished events after 120 s (is RabbitMQ up?)",
                p.n
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Bankda list against plain SQL

struct ListResult {
    orders_in_body: usize,
    body_bytes: usize,
    endpoint: Stats,
    sql: Stats,
    sql_rows: usize,
    /// Diagnostic: the endpoint's own query, alone, on the bench's connection.
    service_query: Stats,
}

impl ListResult {
    fn ratio_median(&self) -> f64 {
        self.endpoint.median.as_secs_f64() / self.sql.median.as_secs_f64()
    }
    fn ratio_p95(&self) -> f64 {
        self.endpoint.p95.as_secs_f64() / self.sql.p95.as_secs_f64()
    }
}

/// The columns a hand-written client would read for Bankda's list.
#[derive(QueryableByName)]
#[allow(dead_code)] // decoded to be timed; never read
struct PlainRow {
    #[diesel(sql_type = Text)]
    order_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    buyer_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    buyer_email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    buyer_cellphone: Option<String>,
    #[diesel(sql_type = Text)]
    billing_name: String,
    #[diesel(sql_type = Text)]
    bank_account_no: String,
    #[diesel(sql_type = Text)]
    bank_code_name: String,
    #[diesel(sql_type = Timestamptz)]
    order_date: DateTime<Utc>,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
    #[diesel(sql_type = Jsonb)]
    items: serde_json::Value,
}

const PLAIN_SQL: &str = "SELECT order_id, buyer_name, buyer_email, buyer_cellphone, billing_name, \
     bank_account_no, bank_code_name, order_date, amount, items FROM order_query.orders \
     WHERE status = 'awaiting_payment' AND payment_method = 'bank_transfer' ORDER BY seq";

/// The query behind `GET /bankda/orders` (order-query's `store::bankda_list_body`), timed
/// on its own to split the endpoint's time between PostgreSQL and the HTTP layer.
const SERVICE_LIST_SQL: &str = "SELECT bankda_doc FROM order_query.orders \
     WHERE status = 'awaiting_payment' AND payment_method = 'bank_transfer' ORDER BY seq";

#[derive(QueryableByName)]
struct DocRow {
    #[diesel(sql_type = Text)]
    bankda_doc: String,
}

async fn fetch_list(
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<impl std::ops::Deref<Target = [u8]>> {
    let resp = client.get(url).send().await.context("GET /bankda/orders")?;
    let status = resp.status();
    let body = resp.bytes().await.context("reading the list body")?;
    if status != reqwest::StatusCode::OK {
        bail!(
            "GET /bankda/orders: HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    Ok(body)
}

async fn bench_list(
    client: &reqwest::Client,
    base: &str,
    db_url: &str,
    args: &Args,
) -> anyhow::Result<ListResult> {
    let url = format!("{base}/bankda/orders");

    // Warm-ups; the first body is parsed once to check what the list holds.
    let mut body_bytes = 0;
    let mut orders_in_body = 0;
    for w in 0..LIST_WARMUPS {
        let body = fetch_list(client, &url).await?;
        if w == 0 {
            let doc: serde_json::Value =
                serde_json::from_slice(&body).context("the list body is not JSON")?;
            let orders = doc
                .get("orders")
                .and_then(|o| o.as_array())
                .ok_or_else(|| anyhow!("the list body has no \"orders\" array"))?;
            orders_in_body = orders.len();
            body_bytes = body.len();
            // Seeding was concurrent, so the list's order (by seq) is not B-000001, B-000002, …
            let seen: std::collections::HashSet<&str> = orders
                .iter()
                .filter_map(|o| o.get("order_id").and_then(|v| v.as_str()))
                .collect();
            if let Some(missing) = (1..=args.orders)
                .map(order_id)
                .find(|id| !seen.contains(id.as_str()))
            {
                bail!("the list lacks {missing}");
            }
        }
    }
    println!(
        "    list holds {orders_in_body} orders (expected {})",
        args.orders
    );
    if orders_in_body != args.orders {
        bail!(
            "GET /bankda/orders returned {orders_in_body} orders, expected {}",
            args.orders
        );
    }

    let mut conn = AsyncPgConnection::establish(db_url)
        .await
        .context("connecting for the plain-SQL run")?;
    let mut sql_rows = 0;
    for _ in 0..LIST_WARMUPS {
        let rows: Vec<PlainRow> = diesel::sql_query(PLAIN_SQL)
            .load(&mut conn)
            .await
            .context("plain SQL")?;
        sql_rows = rows.len();
    }
    if sql_rows != args.orders {
        bail!(
            "plain SQL returned {sql_rows} rows, expected {}",
            args.orders
        );
    }

    // Endpoint, plain SQL and (diagnostic) the endpoint's own query take turns, so all see the
    // same background load.
    let mut endpoint = Vec::with_capacity(args.list_runs);
    let mut sql = Vec::with_capacity(args.list_runs);
    let mut service_query = Vec::with_capacity(args.list_runs);
    for _ in 0..args.list_runs {
        let t0 = Instant::now();
        let body = fetch_list(client, &url).await?;
        endpoint.push(t0.elapsed());
        if body.len() != body_bytes {
            bail!(
                "the list body changed size between fetches ({} → {})",
                body_bytes,
                body.len()
            );
        }
        drop(body);

        let t0 = Instant::now();
        let rows: Vec<PlainRow> = diesel::sql_query(PLAIN_SQL)
            .load(&mut conn)
            .await
            .context("plain SQL")?;
        sql.push(t0.elapsed());
        std::hint::black_box(&rows);

        let t0 = Instant::now();
        let docs: Vec<DocRow> = diesel::sql_query(SERVICE_LIST_SQL)
            .load(&mut conn)
            .await
            .context("the service's list query")?;
        service_query.push(t0.elapsed());
        std::hint::black_box(docs.iter().map(|d| d.bankda_doc.len()).sum::<usize>());
    }

    Ok(ListResult {
        orders_in_body,
        body_bytes,
        endpoint: Stats::of(endpoint),
        sql: Stats::of(sql),
        sql_rows,
        service_query: Stats::of(service_query),
    })
}

// ---------------------------------------------------------------------------------------------
// 3. Bankda detail under load

struct DetailResult {
    elapsed: Duration,
    requests: usize,
    throughput: f64,
    stats: Stats,
    non_200: usize,
    transport_errors: usize,
}

/// splitmix64: enough randomness to pick order ids, and no `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Default)]
struct WorkerTally {
    latencies: Vec<Duration>,
    non_200: usize,
    transport_errors: usize,
    first_failure: Option<String>,
}

/// Each worker loops requests on the shared client (keep-alive) until `deadline`.
async fn detail_load(
    client: &reqwest::Client,
    url: &str,
    args: &Args,
    run: Duration,
    seed: u64,
) -> anyhow::Result<(Vec<WorkerTally>, Duration)> {
    let url = Arc::new(url.to_owned());
    let started = Instant::now();
    let deadline = started + run;
    let mut tasks = Vec::with_capacity(args.concurrency);
    for w in 0..args.concurrency {
        let (client, url, orders) = (client.clone(), url.clone(), args.orders);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(seed ^ ((w as u64 + 1) << 32));
            let mut tally = WorkerTally {
                latencies: Vec::with_capacity(8192),
                ..Default::default()
            };
            while Instant::now() < deadline {
                let id = order_id(1 + rng.below(orders));
                let body = format!("{{\"order_id\":\"{id}\"}}");
                let t0 = Instant::now();
                let sent = client
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(resp) => {
                        let status = resp.status();
                        match resp.bytes().await {
                            Ok(_) if status == reqwest::StatusCode::OK => {
                                tally.latencies.push(t0.elapsed())
                            }
                            Ok(b) => {
                                tally.latencies.push(t0.elapsed());
                                tally.non_200 += 1;
                                tally.first_failure.get_or_insert_with(|| {
                                    format!(
                                        "{id}: HTTP {status}: {}",
                                        String::from_utf8_lossy(&b[..b.len().min(200)])
                                    )
                                });
                            }
                            Err(e) => {
                                tally.transport_errors += 1;
                                tally
                                    .first_failure
                                    .get_or_insert_with(|| format!("{id}: reading body: {e}"));
                            }
                        }
                    }
                    Err(e) => {
                        tally.transport_errors += 1;
                        tally
                            .first_failure
                            .get_or_insert_with(|| format!("{id}: {e}"));
                    }
                }
            }
            tally
        }));
    }
    let mut tallies = Vec::with_capacity(args.concurrency);
    for t in tasks {
        tallies.push(t.await?);
    }
    Ok((tallies, started.elapsed()))
}

async fn bench_detail(
    client: &reqwest::Client,
    base: &str,
    args: &Args,
) -> anyhow::Result<DetailResult> {
    let url = format!("{base}/bankda/orders/detail");

    // One checked call: the reply is {"order":{...}} for the order asked for.
    let probe = order_id(args.orders);
    let resp = client
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"order_id\":\"{probe}\"}}"))
        .send()
        .await?;
    let status = resp.status();
    let doc: serde_json::Value = resp.json().await.context("detail reply is not JSON")?;
    let got = doc
        .get("order")
        .and_then(|o| o.get("order_id"))
        .and_then(|v| v.as_str());
    if status != reqwest::StatusCode::OK || got != Some(probe.as_str()) {
        bail!("detail for {probe}: HTTP {status}, body {doc}");
    }

    // Warm-up at the same concurrency (opens the keep-alive connections), not counted.
    let (warm, _) = detail_load(client, &url, args, DETAIL_WARMUP, 0x5EED_0001).await?;
    if let Some(f) = warm.iter().find_map(|t| t.first_failure.clone()) {
        eprintln!("warning: a detail request failed during the warm-up: {f}");
    }

    let (tallies, elapsed) = detail_load(
        client,
        &url,
        args,
        Duration::from_secs(args.seconds),
        0x5EED_0002,
    )
    .await?;
    let non_200 = tallies.iter().map(|t| t.non_200).sum();
    let transport_errors = tallies.iter().map(|t| t.transport_errors).sum();
    if let Some(f) = tallies.iter().find_map(|t| t.first_failure.clone()) {
        eprintln!("first failed detail request: {f}");
    }
    let latencies: Vec<Duration> = tallies.into_iter().flat_map(|t| t.latencies).collect();
    let requests = latencies.len() + transport_errors;
    Ok(DetailResult {
        elapsed,
        requests,
        throughput: requests as f64 / elapsed.as_secs_f64(),
        stats: Stats::of(latencies),
        non_200,
        transport_errors,
    })
}

// ---------------------------------------------------------------------------------------------
// Figures

/// Nearest-rank percentiles of a sample.
#[derive(Debug, Clone, Copy)]
struct Stats {
    median: Duration,
    p95: Duration,
    p99: Duration,
    max: Duration,
}

impl Stats {
    fn of(mut sample: Vec<Duration>) -> Stats {
        sample.sort_unstable();
        Stats {
            median: percentile(&sample, 50.0),
            p95: percentile(&sample, 95.0),
            p99: percentile(&sample, 99.0),
            max: sample.last().copied().unwrap_or_default(),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn to_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", to_ms(d))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

struct Report {
    args: Args,
    seed: SeedResult,
    list: ListResult,
    detail: DetailResult,
    cpu: Option<CpuUse>,
    http_workers: usize,
    pool_size: u32,
    finished_at: DateTime<Utc>,
}

impl Report {
    /// (measure, figure, target, verdict) rows, shared by stdout and the markdown.
    fn rows(&self) -> Vec<[String; 4]> {
        let (l, d, s) = (&self.list, &self.detail, &self.seed);
        let row = |a: &str, b: String, c: &str, v: Option<bool>| {
            [
                a.to_owned(),
                b,
                c.to_owned(),
                v.map(verdict).unwrap_or("").to_owned(),
            ]
        };
        vec![
            row(
                &format!(
                    "seed: create {} orders, {} concurrent",
                    self.args.orders, self.args.seed_concurrency
                ),
                format!("{:.0} orders/s", s.throughput),
                "",
                None,
            ),
            row(
                "seed: create latency median / p99",
                format!("{} / {}", ms(s.stats.median), ms(s.stats.p99)),
                "",
                None,
            ),
            row("list: endpoint median", ms(l.endpoint.median), "", None),
            row(
                "list: endpoint p95",
                ms(l.endpoint.p95),
                &format!("≤ {LIST_P95_TARGET_MS} ms"),
                Some(to_ms(l.endpoint.p95) <= LIST_P95_TARGET_MS),
            ),
            row("list: plain SQL median", ms(l.sql.median), "", None),
            row("list: plain SQL p95", ms(l.sql.p95), "", None),
            row(
                "list (diagnostic): the endpoint's own query alone, median / p95",
                format!(
                    "{} / {}",
                    ms(l.service_query.median),
                    ms(l.service_query.p95)
                ),
                "",
                None,
            ),
            row(
                "list: endpoint ÷ SQL, median",
                format!("{:.2}×", l.ratio_median()),
                "",
                None,
            ),
            row(
                "list: endpoint ÷ SQL, p95",
                format!("{:.2}×", l.ratio_p95()),
                &format!("≤ {LIST_SQL_RATIO_TARGET}×"),
                Some(l.ratio_p95() <= LIST_SQL_RATIO_TARGET),
            ),
            row(
                &format!("detail: throughput, {} concurrent", self.args.concurrency),
                format!("{:.0} req/s", d.throughput),
                &format!("≥ {DETAIL_RPS_TARGET:.0} req/s"),
                Some(d.throughput >= DETAIL_RPS_TARGET),
            ),
            row("detail: median", ms(d.stats.median), "", None),
            row(
                "detail: p99",
                ms(d.stats.p99),
                &format!("≤ {DETAIL_P99_TARGET_MS} ms"),
                Some(to_ms(d.stats.p99) <= DETAIL_P99_TARGET_MS),
            ),
            row(
                "detail: non-200 responses",
                format!("{} of {}", d.non_200 + d.transport_errors, d.requests),
                "0",
                Some(d.non_200 + d.transport_errors == 0),
            ),
        ]
    }

    fn summary_table(&self) -> String {
        render_table(&self.rows())
    }

    fn markdown_section(&self) -> String {
        let cpu = cpu_model().unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let mut s = String::new();
        s += "## order-query\n\n";
        s += &format!(
            "Run {} UTC: `target/release/paybridge-bench --concurrency {} --seconds {}` on {cores} cores ({cpu}). \
             order-query runs in-process in release mode ({} HTTP workers, database pool {}), on a fresh database; \
             the bench client, PostgreSQL and RabbitMQ share the same cores.\n\n",
            self.finished_at.format("%Y-%m-%d %H:%M"),
            self.args.concurrency,
            self.args.seconds,
            self.http_workers,
            self.pool_size
        );
        s += &format!(
            "- Seed: {} bank-transfer orders awaiting payment, 2 items each, created through `POST /v1/orders` \
             with {} requests in flight, in {:.2} s. A queue of the bench's own is bound to the run's exchange so \
             the relay can deliver the seeding's `order.created` events, and nothing is timed until the outbox is empty.\n",
            self.args.orders,
            self.args.seed_concurrency,
            self.seed.elapsed.as_secs_f64()
        );
        s += &format!(
            "- List: `GET /bankda/orders` ({} orders, {:.1} MiB, body read in full) fetched {} times after {} warm-ups, taking turns with \
             plain SQL, which is the same rows' columns read with diesel-async into a struct \
             (`SELECT order_id, buyer_*, billing_name, bank_*, order_date, amount, items … WHERE status = 'awaiting_payment' \
             AND payment_method = 'bank_transfer' ORDER BY seq`) on one connection, also {} times after {} warm-ups. As a diagnostic, the endpoint's own query (`SELECT bankda_doc … ORDER BY seq`) \
             is timed alone on that connection too.\n",
            self.list.orders_in_body,
            self.list.body_bytes as f64 / (1024.0 * 1024.0),
            self.args.list_runs,
            LIST_WARMUPS,
            self.args.list_runs,
            LIST_WARMUPS
        );
        s += &format!(
            "- Detail: `POST /bankda/orders/detail` for random ids among the {}, {} workers looping on one keep-alive client \
             for {:.2} s after a {} s warm-up; {} requests.\n\n",
            self.args.orders,
            self.args.concurrency,
            self.detail.elapsed.as_secs_f64(),
            DETAIL_WARMUP.as_secs(),
            self.detail.requests
        );
        s += "| measure | figure | target | |\n| --- | --- | --- | --- |\n";
        for r in self.rows() {
            s += &format!("| {} | {} | {} | {} |\n", r[0], r[1], r[2], r[3]);
        }
        s += "\nPercentiles are nearest-rank over the timed requests of this one run.\n";
        if let Some(c) = &self.cpu {
            s += &format!(
                "Machine CPU (all {} cores) during list and detail: {}.\n",
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(0),
                c.describe()
            );
        }
        s
    }
}

/// The (measure, figure, target, verdict) rows as an aligned plain-text table.
fn render_table(rows: &[[String; 4]]) -> String {
    let head = ["measure", "figure", "target", ""];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([head[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let w = [width(0), width(1), width(2)];
    let pad = |s: &str, n: usize| format!("{s}{}", " ".repeat(n.saturating_sub(s.chars().count())));
    let mut out = String::from("summary\n");
    let line = |r: [&str; 4]| {
        format!(
            "  {}  {}  {}  {}\n",
            pad(r[0], w[0]),
            pad(r[1], w[1]),
            pad(r[2], w[2]),
            r[3]
        )
        .trim_end()
        .to_owned()
            + "\n"
    };
    out += &line(head);
    out += &line([
        "-".repeat(w[0]).as_str(),
        "-".repeat(w[1]).as_str(),
        "-".repeat(w[2]).as_str(),
        "",
    ]);
    for r in rows {
        out += &line([&r[0], &r[1], &r[2], &r[3]]);
    }
    out
}

/// CPU time (clock ticks, all cores) of the machine, of this process (both services and the bench
/// client), of PostgreSQL's processes and of RabbitMQ's, read from /proc.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    total: u64,
    busy: u64,
    own: u64,
    postgres: u64,
    rabbitmq: u64,
}

impl CpuSample {
    fn now() -> Option<CpuSample> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is already in user)
        let total: u64 = cpu.iter().take(8).sum();
        let idle = cpu.get(3)? + cpu.get(4).copied().unwrap_or(0);
        let mut sample = CpuSample {
            total,
            busy: total.saturating_sub(idle),
            own: process_ticks("/proc/self/stat").map(|(_, t)| t)?,
            postgres: 0,
            rabbitmq: 0,
        };
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Some((comm, ticks)) = process_ticks(&entry.path().join("stat").to_string_lossy())
            {
                if comm == "postgres" {
                    sample.postgres += ticks;
                } else if comm.starts_with("beam") || comm == "erl_child_setup" {
                    sample.rabbitmq += ticks;
                }
            }
        }
        Some(sample)
    }
}

/// A process's name and user + system ticks, from its `stat` file.
fn process_ticks(path: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (head, tail) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = tail.split_whitespace().collect();
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((comm, ticks))
}

/// How busy the machine was between two samples, as shares of all cores' time.
#[derive(Debug, Clone, Copy)]
struct CpuUse {
    busy: f64,
    own: f64,
    postgres: f64,
    rabbitmq: f64,
}

impl CpuUse {
    fn between(a: Option<CpuSample>, b: Option<CpuSample>) -> Option<CpuUse> {
        let (a, b) = (a?, b?);
        let total = b.total.checked_sub(a.total)? as f64;
        if total <= 0.0 {
            return None;
        }
        let share = |x: u64, y: u64| y.saturating_sub(x) as f64 / total;
        Some(CpuUse {
            busy: share(a.busy, b.busy),
            own: share(a.own, b.own),
            postgres: share(a.postgres, b.postgres),
            rabbitmq: share(a.rabbitmq, b.rabbitmq),
        })
    }

    /// Busy time not accounted to this process, PostgreSQL or RabbitMQ: other work on the machine.
    fn other(&self) -> f64 {
        (self.busy - self.own - self.postgres - self.rabbitmq).max(0.0)
    }

    fn describe(&self) -> String {
        format!(
            "{:.0}% busy: the bench process (services and client) {:.0}%, PostgreSQL {:.0}%, RabbitMQ {:.0}%, anything else {:.0}%",
            self.busy * 100.0,
            self.own * 100.0,
            self.postgres * 100.0,
            self.rabbitmq * 100.0,
            self.other() * 100.0
        )
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

const DOCS_INTRO: &str = "\
# Benchmarks

Each section is written by a benchmark command and replaced whenever that command runs; do not edit
the figures by hand.

- `cargo build --release -p bench && target/release/paybridge-bench` writes the sections below, one part
  after the other: \"order-query\" (flags `--concurrency N` and `--seconds N` for the detail load, `--orders N`),
  \"deposit-confirmation\" (flags `--batches-100 N`, `--batches-1000 N`, `--sustained-orders N`,
  `--sustained-senders N`, `--sustained-batch N`, `--lag-rate N`, `--lag-seconds N`, `--lag-batch N`,
  `--lag-probe-rate N`), \"portone-gateway reconciliation\" (flags `--barcodes N`, `--reconcile-passes N`) and
  \"portone-gateway: billing-key charges\" (flags `--charges N`, `--charge-concurrency N`).
  `--only order-query`, `--only deposits`, `--only reconcile` or `--only charges` runs one part, `--no-docs` writes nothing,
  `--help` lists every flag. It needs PostgreSQL on 127.0.0.1:5432 (user `postgres`, trust) and RabbitMQ on
  127.0.0.1:5672; each part creates a database, an exchange and queues of its own and deletes them at the end.

The machine is a 2-core VM shared by the services, the bench client, PostgreSQL and RabbitMQ (and by whatever
else runs on it at the time). The figures are medians, percentiles and ratios from a single run, not averages
over several runs, so expect some noise between runs.
";

/// Replaces the section under `heading` (up to the next `## ` heading), appending it if absent.
fn write_docs(path: &std::path::Path, heading: &str, section: &str) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DOCS_INTRO.to_owned(),
        Err(e) => return Err(e.into()),
    };
    let lines: Vec<&str> = existing.split_inclusive('\n').collect();
    let start = lines.iter().position(|l| l.trim_end() == heading);
    let updated = match start {
        Some(start) => {
            let end = lines[start + 1..]
                .iter()
                .position(|l| l.starts_with("## "))
                .map(|i| start + 1 + i)
                .unwrap_or(lines.len());
            let mut out: String = lines[..start].concat();
            out += section;
            if end < lines.len() {
                out += "\n";
                out += &lines[end..].concat();
            }
            out
        }
        None => {
            let mut out = existing.trim_end().to_owned();
            out += "\n\n";
            out += section;
            out
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, updated)?;
    Ok(())
}
