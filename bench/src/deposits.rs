//! The deposit-confirmation part: the payment flow of issue 3, with order-query and
//! deposit-confirmation running together in-process on one fresh database and one exchange
//! (each service with a queue of its own).
//!
//! After seeding awaiting orders through order-query's API and waiting until
//! deposit-confirmation's own view (`deposit_confirmation.orders`) holds them all, it measures:
//! 1. `POST /bankda/deposits/confirm` batches of 100 and of 1,000 orders, one at a time, each
//!    after the flow has settled (order-query paid them all, both outboxes are empty);
//! 2. sustained confirmations: concurrent senders of large batches, back to back;
//! 3. the lag from a confirmation request until order-query's `orders` row is `paid`, at a steady
//!    rate of confirmations, seen by an SQL poller on the table order-query serves from.
//!
//! Every measurement confirms orders of its own: Bankda confirms an order once, and a repeat is a
//! success that does nothing.

use super::{
    cpu_model, ms, render_table, seed, to_ms, verdict, wait_for_outbox, Args, BrokerSink,
    CpuSample, CpuUse, SeedResult, Stats, AMQP_URL, TOKEN,
};
use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use platform::config::{Service, Settings};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub const HEADING: &str = "## deposit-confirmation";
/// `bankda.max_confirm_batch` (its default, which the bench does not change).
pub const MAX_BATCH: usize = 1000;

const SMALL: usize = 100;
const LARGE: usize = 1000;
/// How often the lag poller asks order-query's table which of the pending orders are paid.
const POLL_EVERY: Duration = Duration::from_millis(5);
/// How often the bench checks whether the flow has settled.
const SETTLE_POLL: Duration = Duration::from_millis(20);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);
/// The diagnostic lag probe (at `--lag-probe-rate`, single-order requests) lasts this long.
const PROBE_SECONDS: u64 = 5;
const OK_BODY: &str = r#"{"return_code":"200","description":"정상"}"#;

// Targets (issue 3, on the 2-core machine).
const LARGE_P95_TARGET_MS: f64 = 150.0;
const SUSTAINED_TARGET: f64 = 5000.0;
const LAG_P99_TARGET_MS: f64 = 200.0;

/// How many orders each measurement confirms; the part seeds their sum.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    small_batches: usize,
    large_batches: usize,
    sustained_orders: usize,
    lag_orders: usize,
    probe_orders: usize,
}

impl Plan {
    pub fn of(args: &Args) -> Plan {
        // Whole lag requests: rate × seconds orders, rounded down to a multiple of the batch.
        let lag_requests = (args.lag_rate * args.lag_seconds as usize) / args.lag_batch;
        Plan {
            small_batches: args.batches_100,
            large_batches: args.batches_1000,
            sustained_orders: args.sustained_orders,
            lag_orders: lag_requests.max(1) * args.lag_batch,
            probe_orders: args.lag_probe_rate * PROBE_SECONDS as usize,
        }
    }

    /// Orders to seed: one warm-up batch of each size, the timed batches, the sustained run, the
    /// lag run and the lag probe.
    pub fn total(&self) -> usize {
        SMALL * (1 + self.small_batches)
            + LARGE * (1 + self.large_batches)
            + self.sustained_orders
            + self.lag_orders
            + self.probe_orders
    }
}

/// Hands out seeded order ids that no measurement has confirmed yet.
struct Ids {
    next: usize,
    last: usize,
}

impl Ids {
    fn take(&mut self, n: usize) -> anyhow::Result<Vec<String>> {
        if self.next + n - 1 > self.last {
            bail!("ran out of seeded orders (a bug in the plan)");
        }
        let ids = (self.next..self.next + n).map(super::order_id).collect();
        self.next += n;
        Ok(ids)
    }
}

fn confirm_body(ids: &[String]) -> String {
    let mut body = String::with_capacity(16 + ids.len() * 24);
    body.push_str("{\"requests\":[");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{\"order_id\":\"");
        body.push_str(id);
        body.push_str("\"}");
    }
    body.push_str("]}");
    body
}

/// How long a lag run waits before sending a request again that got a 503, as Bankda retries a
/// confirmation the shop could not take.
const RETRY_AFTER_503: Duration = Duration::from_secs(1);

/// A lag run's request: confirmed, after how many 503 replies that were retried.
async fn post_confirm_retrying(
    client: &reqwest::Client,
    url: &str,
    body: String,
) -> anyhow::Result<u32> {
    let mut retries = 0;
    loop {
        match post_confirm(client, url, body.clone()).await {
            Err(e) if e.downcast_ref::<Unavailable>().is_some() && retries < 30 => {
                retries += 1;
                tokio::time::sleep(RETRY_AFTER_503).await;
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(retries),
        }
    }
}

/// deposit-confirmation answered 503: it could not take the request now (e.g. no database
/// connection within `database.acquire_timeout`), and nothing was confirmed.
#[derive(Debug, thiserror::Error)]
#[error("POST /bankda/deposits/confirm: HTTP 503: {0}")]
struct Unavailable(String);

/// One confirmation request; an error unless it is Bankda's 200 "정상" (every order confirmed).
async fn post_confirm(client: &reqwest::Client, url: &str, body: String) -> anyhow::Result<()> {
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .context("POST /bankda/deposits/confirm")?;
    let status = resp.status();
    let reply = resp
        .bytes()
        .await
        .context("reading the confirmation reply")?;
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return Err(Unavailable(
            String::from_utf8_lossy(&reply[..reply.len().min(300)]).into_owned(),
        )
        .into());
    }
    if status != reqwest::StatusCode::OK || &reply[..] != OK_BODY.as_bytes() {
        bail!(
            "POST /bankda/deposits/confirm: HTTP {status}: {}",
            String::from_utf8_lossy(&reply[..reply.len().min(300)])
        );
    }
    Ok(())
}

fn settings(
    service: Service,
    db_url: &str,
    exchange: &str,
    queue: &str,
) -> anyhow::Result<Settings> {
    Ok(Settings::for_tests(
        service,
        &[
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
        ],
    )?)
}

struct Running {
    name: &'static str,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
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

/// Starts both services on `db_url` and one exchange, measures, stops them (whatever happened).
pub async fn run(args: &Args, db_url: &str) -> anyhow::Result<DepositReport> {
    let exchange = format!("bench.{}", uuid::Uuid::new_v4().simple());
    // Every event has a consumer here, but the sink keeps any other (e.g. `deposit.refused`)
    // routable, and removes the exchange at the end.
    let queues = [
        format!("{exchange}.order-query"),
        format!("{exchange}.deposit-confirmation"),
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
    [oq_queue, dc_queue]: &[String; 2],
) -> anyhow::Result<DepositReport> {
    let oq_settings = settings(Service::OrderQuery, db_url, exchange, oq_queue)?;
    let dc_settings = settings(Service::DepositConfirmation, db_url, exchange, dc_queue)?;
    let setup = Setup {
        oq_workers: oq_settings.http.workers,
        oq_pool: oq_settings.database.pool_size,
        dc_workers: dc_settings.http.workers,
        dc_pool: dc_settings.database.pool_size,
        poll_interval: dc_settings.outbox.poll_interval,
        prefetch: dc_settings.amqp.prefetch,
        relay_batch: dc_settings.outbox.batch_size,
    };

    let oq = order_query::startup::Application::build(oq_settings)
        .await
        .context("starting order-query")?;
    let oq_port = oq.port();
    let oq = Running {
        name: "order-query",
        shutdown: oq.shutdown_token(),
        task: tokio::spawn(oq.run_until_stopped()),
    };
    let dc = match deposit_confirmation::startup::Application::build(dc_settings).await {
        Ok(dc) => dc,
        Err(e) => {
            oq.stop().await;
            return Err(e.context("starting deposit-confirmation"));
        }
    };
    let dc_port = dc.port();
    let dc = Running {
        name: "deposit-confirmation",
        shutdown: dc.shutdown_token(),
        task: tokio::spawn(dc.run_until_stopped()),
    };
    println!(
        "order-query   http://127.0.0.1:{oq_port} ({} HTTP workers, pool {})",
        setup.oq_workers, setup.oq_pool
    );
    println!(
        "deposit-confirmation http://127.0.0.1:{dc_port} ({} HTTP workers, pool {}), exchange {exchange}",
        setup.dc_workers, setup.dc_pool
    );

    let outcome = measure(args, db_url, oq_port, dc_port, setup).await;

    dc.stop().await;
    oq.stop().await;
    outcome
}

#[derive(Debug, Clone, Copy)]
struct Setup {
    oq_workers: usize,
    oq_pool: u32,
    dc_workers: usize,
    dc_pool: u32,
    poll_interval: Duration,
    prefetch: u16,
    relay_batch: u32,
}

async fn wait_ready(client: &reqwest::Client, bases: &[&str]) -> anyhow::Result<()> {
    for base in bases {
        let started = Instant::now();
        loop {
            let ok = client
                .get(format!("{base}/health/ready"))
                .send()
                .await
                .map(|r| r.status() == reqwest::StatusCode::OK)
                .unwrap_or(false);
            if ok {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("{base}/health/ready is not 200 after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Waits until deposit-confirmation's view holds `expected` orders.
async fn wait_for_view(conn: &mut AsyncPgConnection, expected: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let c: Count = diesel::sql_query("SELECT count(*) AS n FROM deposit_confirmation.orders")
            .get_result(conn)
            .await
            .context("counting deposit-confirmation's view")?;
        if c.n as usize >= expected {
            return Ok(());
        }
        if started.elapsed() > SETTLE_TIMEOUT {
            bail!(
                "deposit-confirmation's view holds {} of {expected} orders after {} s",
                c.n,
                SETTLE_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    v: String,
}

/// Between steps (untimed), what autovacuum would do in production: without it (this server runs
/// with `autovacuum = off`) every published outbox row and every updated order leaves a dead
/// index entry that later scans wade through, and the planner never gets statistics.
async fn vacuum(conn: &mut AsyncPgConnection) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    diesel::sql_query("VACUUM (ANALYZE)")
        .execute(conn)
        .await
        .context("VACUUM (ANALYZE) of the bench's database")?;
    let took = t0.elapsed();
    println!(
        "    vacuum    VACUUM (ANALYZE) of the database, untimed: {:.2} s",
        took.as_secs_f64()
    );
    Ok(took)
}

/// Before each timed batch (untimed): fresh statistics, as autovacuum's ANALYZE keeps them when it
/// runs. With statistics frozen at the last VACUUM, a connection that has switched
/// deposit-confirmation's cached lookup (`confirmations.order_id = ANY($1)`) to a generic plan
/// keeps a sequential scan chosen when the table was empty, comparing every row with every
/// requested id (seen: 21,100 rows × 1,000 ids, 446 ms). ANALYZE also invalidates such plans.
async fn analyze(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    diesel::sql_query("ANALYZE")
        .execute(conn)
        .await
        .context("ANALYZE of the bench's database")?;
    Ok(())
}

/// Machine CPU per step; the time between `skip` and the next `step` is not counted.
struct CpuSteps {
    mark: Option<CpuSample>,
    steps: Vec<(&'static str, CpuUse)>,
}

impl CpuSteps {
    fn step(&mut self, name: &'static str) {
        let now = CpuSample::now();
        if let Some(c) = CpuUse::between(self.mark, now) {
            println!("    machine CPU: {}", c.describe());
            self.steps.push((name, c));
        }
        self.mark = now;
    }

    fn skip(&mut self) {
        self.mark = CpuSample::now();
    }
}

/// The outboxes' highest ids before a step: the step's events are the rows above them.
#[derive(Debug, Clone, Copy, QueryableByName)]
struct Marks {
    #[diesel(sql_type = BigInt)]
    oq: i64,
    #[diesel(sql_type = BigInt)]
    dc: i64,
}

impl Marks {
    /// Taken on a settled flow, before the step's first request.
    async fn take(conn: &mut AsyncPgConnection) -> anyhow::Result<Marks> {
        diesel::sql_query(
            "SELECT (SELECT coalesce(max(id), 0) FROM order_query.outbox) AS oq, \
             (SELECT coalesce(max(id), 0) FROM deposit_confirmation.outbox) AS dc",
        )
        .get_result(conn)
        .await
        .context("reading the outboxes' marks")
    }
}

#[derive(QueryableByName)]
struct StepState {
    #[diesel(sql_type = BigInt)]
    oq_paid: i64,
    #[diesel(sql_type = BigInt)]
    dc_paid: i64,
    #[diesel(sql_type = BigInt)]
    unpublished: i64,
}

/// Polled while a step settles, so it must stay cheap: order-query writes exactly one
/// `order.paid` outbox row in the transaction that pays an order, so the step's paid orders are
/// the `order.paid` rows above the mark (a range scan of the primary key, not a count over every
/// order); likewise for the events not yet published.
const STEP_STATE_SQL: &str = "SELECT \
     (SELECT count(*) FROM order_query.outbox WHERE id > $1 AND event_type = 'order.paid') AS oq_paid, \
     (SELECT count(*) FROM deposit_confirmation.orders WHERE status = 'paid') AS dc_paid, \
     (SELECT count(*) FROM order_query.outbox WHERE id > $1 AND published_at IS NULL) \
     + (SELECT count(*) FROM deposit_confirmation.outbox WHERE id > $2 AND published_at IS NULL) AS unpublished";

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = BigInt)]
    oq_paid: i64,
    #[diesel(sql_type = BigInt)]
    dc_confirmed: i64,
    #[diesel(sql_type = BigInt)]
    unpublished: i64,
}

/// Checked once a step has settled: every count over the whole database.
const TOTALS_SQL: &str = "SELECT \
     (SELECT count(*) FROM order_query.orders WHERE status = 'paid') AS oq_paid, \
     (SELECT count(*) FROM deposit_confirmation.confirmations) AS dc_confirmed, \
     (SELECT count(*) FROM order_query.outbox WHERE published_at IS NULL) \
     + (SELECT count(*) FROM deposit_confirmation.outbox WHERE published_at IS NULL) AS unpublished";

/// How long after the call order-query had paid all of a step's orders, and how long until
/// the flow had settled: deposit-confirmation's view has seen their `order.paid` too and both
/// outboxes are empty.
#[derive(Debug, Clone, Copy)]
struct Settled {
    oq_paid_after: Duration,
    settled_after: Duration,
}

/// Waits until a step of `step` confirmations (after `marks`) has gone through the flow, then
/// checks that `confirmed` orders in all are confirmed and paid, and nothing else.
async fn wait_settled(
    conn: &mut AsyncPgConnection,
    marks: Marks,
    step: usize,
    confirmed: usize,
) -> anyhow::Result<Settled> {
    let started = Instant::now();
    let mut oq_paid_after = None;
    let (step, confirmed) = (step as i64, confirmed as i64);
    loop {
        let t0 = Instant::now();
        let s: StepState = diesel::sql_query(STEP_STATE_SQL)
            .bind::<BigInt, _>(marks.oq)
            .bind::<BigInt, _>(marks.dc)
            .get_result(conn)
            .await
            .context("reading the flow's state")?;
        let spent = t0.elapsed();
        if s.oq_paid > step || s.dc_paid > confirmed {
            bail!(
                "more paid orders than confirmations (order-query {} of a step of {step}, deposit-confirmation {} of {confirmed})",
                s.oq_paid,
                s.dc_paid
            );
        }
        if s.oq_paid == step && oq_paid_after.is_none() {
            oq_paid_after = Some(started.elapsed());
        }
        if let Some(oq_paid_after) = oq_paid_after {
            if s.dc_paid == confirmed && s.unpublished == 0 {
                let settled_after = started.elapsed();
                let t: Totals = diesel::sql_query(TOTALS_SQL)
                    .get_result(conn)
                    .await
                    .context("counting confirmations and paid orders")?;
                if t.oq_paid != confirmed || t.dc_confirmed != confirmed || t.unpublished != 0 {
                    bail!(
                        "after {confirmed} confirmations: {} paid in order-query, {} confirmations in deposit-confirmation, {} events unpublished",
                        t.oq_paid,
                        t.dc_confirmed,
                        t.unpublished
                    );
                }
                return Ok(Settled {
                    oq_paid_after,
                    settled_after,
                });
            }
        }
        if started.elapsed() > SETTLE_TIMEOUT {
            bail!(
                "the flow has not settled after {} s: {} of {step} paid in order-query, {} of {confirmed} in deposit-confirmation's view, {} events unpublished",
                SETTLE_TIMEOUT.as_secs(),
                s.oq_paid,
                s.dc_paid,
                s.unpublished
            );
        }
        // The bench's own queries must not weigh on the flow it waits for: at most about a tenth of
        // one PostgreSQL backend.
        tokio::time::sleep(SETTLE_POLL.max(spent * 9)).await;
    }
}

async fn measure(
    args: &Args,
    db_url: &str,
    oq_port: u16,
    dc_port: u16,
    setup: Setup,
) -> anyhow::Result<DepositReport> {
    let oq = format!("http://127.0.0.1:{oq_port}");
    let dc = format!("http://127.0.0.1:{dc_port}");
    let confirm_url = format!("{dc}/bankda/deposits/confirm");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    wait_ready(&client, &[&oq, &dc]).await?;
    let mut conn = AsyncPgConnection::establish(db_url)
        .await
        .context("connecting the bench's own connection")?;
    let autovacuum =
        diesel::sql_query("SELECT setting AS v FROM pg_settings WHERE name = 'autovacuum'")
            .get_result::<Setting>(&mut conn)
            .await
            .map(|s| s.v)
            .unwrap_or_else(|_| "unknown".into());

    let plan = Plan::of(args);
    let total = plan.total();
    let mut cpu = CpuSteps {
        mark: CpuSample::now(),
        steps: Vec::new(),
    };
    let seed = seed(&client, &oq, 1..=total, args.seed_concurrency).await?;
    println!(
        "\n[1] seed      {total} orders through order-query, {} concurrent: {:.2} s, {:.0} orders/s (create median {}, p99 {})",
        args.seed_concurrency,
        seed.elapsed.as_secs_f64(),
        seed.throughput,
        ms(seed.stats.median),
        ms(seed.stats.p99),
    );
    let view_started = Instant::now();
    wait_for_outbox(db_url, "order_query").await?;
    wait_for_view(&mut conn, total).await?;
    let view_wait = view_started.elapsed();
    println!(
        "    view      deposit-confirmation's view held all {total} orders {:.2} s after the last create",
        view_wait.as_secs_f64()
    );
    cpu.step("seed, until deposit-confirmation's view is complete");
    let mut vacuums = vec![vacuum(&mut conn).await?];
    cpu.skip();

    let mut ids = Ids {
        next: 1,
        last: total,
    };
    let mut confirmed = 0usize;

    // 1. Batches, one at a time, each on a settled flow.
    let mut batches = Vec::new();
    for (size, runs) in [(SMALL, plan.small_batches), (LARGE, plan.large_batches)] {
        let mut latencies = Vec::with_capacity(runs);
        let mut oq_paid = Vec::with_capacity(runs);
        let mut settled = Vec::with_capacity(runs);
        for run in 0..=runs {
            let body = confirm_body(&ids.take(size)?);
            analyze(&mut conn).await?;
            let marks = Marks::take(&mut conn).await?;
            let t0 = Instant::now();
            post_confirm(&client, &confirm_url, body).await?;
            let took = t0.elapsed();
            confirmed += size;
            let s = wait_settled(&mut conn, marks, size, confirmed).await?;
            if run > 0 {
                // run 0 is the warm-up
                latencies.push(took);
                oq_paid.push(s.oq_paid_after);
                settled.push(s.settled_after);
            }
        }
        let b = BatchResult {
            size,
            runs,
            in_order: latencies
                .iter()
                .map(|d| format!("{:.0}", to_ms(*d)))
                .collect::<Vec<_>>()
                .join(" "),
            latency: Stats::of(latencies),
            oq_paid: Stats::of(oq_paid),
            settled: Stats::of(settled),
        };
        println!(
            "\n[2] batch {size:>4} {runs} timed batches after 1 warm-up: median {}, p95 {}, max {}",
            ms(b.latency.median),
            ms(b.latency.p95),
            ms(b.latency.max)
        );
        println!("    in order (ms): {}", b.in_order);
        println!(
            "    after the reply, all paid in order-query: median {}, p95 {}; flow settled: median {}",
            ms(b.oq_paid.median),
            ms(b.oq_paid.p95),
            ms(b.settled.median)
        );
        batches.push(b);
    }
    cpu.step("batches, each followed by the flow settling");
    vacuums.push(vacuum(&mut conn).await?);
    cpu.skip();
    let large = batches.pop().expect("two sizes");
    let small = batches.pop().expect("two sizes");
    println!(
        "    target    1000-order batch p95 ≤ {LARGE_P95_TARGET_MS} ms: {}",
        verdict(to_ms(large.latency.p95) <= LARGE_P95_TARGET_MS)
    );

    // 2. Sustained.
    let sustained = sustained(
        &client,
        &confirm_url,
        &mut conn,
        &mut ids,
        &mut confirmed,
        args,
    )
    .await?;
    println!(
        "\n[3] sustained {} orders in {} batches of ≤ {}, {} senders: {:.2} s, {:.0} orders/s (batch median {}, p95 {})",
        sustained.orders,
        sustained.requests,
        args.sustained_batch,
        args.sustained_senders,
        sustained.elapsed.as_secs_f64(),
        sustained.throughput,
        ms(sustained.latency.median),
        ms(sustained.latency.p95)
    );
    println!(
        "    order-query had paid them all {:.2} s after the last reply, settled after {:.2} s (end to end {:.0} orders/s)",
        sustained.settled.oq_paid_after.as_secs_f64(),
        sustained.settled.settled_after.as_secs_f64(),
        sustained.end_to_end()
    );
    println!(
        "    target    ≥ {SUSTAINED_TARGET:.0} orders/s: {}",
        verdict(sustained.throughput >= SUSTAINED_TARGET)
    );
    cpu.step("sustained, until order-query had paid them all");
    vacuums.push(vacuum(&mut conn).await?);
    cpu.skip();

    // 3. Lag at a steady rate.
    let marks = Marks::take(&mut conn).await?;
    let lag = lag_run(
        &client,
        &confirm_url,
        db_url,
        ids.take(plan.lag_orders)?,
        args.lag_rate,
        args.lag_batch,
    )
    .await?;
    confirmed += lag.orders;
    wait_settled(&mut conn, marks, lag.orders, confirmed).await?;
    println!(
        "\n[4] lag       {} orders in {} requests of {} every {:.1} ms ({:.0} orders/s achieved over {:.2} s)",
        lag.orders,
        lag.requests,
        args.lag_batch,
        to_ms(lag.period),
        lag.achieved_rate,
        lag.send_window.as_secs_f64()
    );
    println!(
        "    confirmation → paid in order-query: median {}, p95 {}, p99 {}, max {}",
        ms(lag.lag.median),
        ms(lag.lag.p95),
        ms(lag.lag.p99),
        ms(lag.lag.max)
    );
    println!(
        "    confirmation request: median {}, p99 {}, 503 replies retried {}; poller: {} queries, median {}",
        ms(lag.request.median),
        ms(lag.request.p99),
        lag.retried,
        lag.polls,
        ms(lag.poll.median)
    );
    print_stages(&lag.stages);
    println!(
        "    target    p99 ≤ {LAG_P99_TARGET_MS} ms at {} orders/s: {}",
        args.lag_rate,
        verdict(to_ms(lag.lag.p99) <= LAG_P99_TARGET_MS)
    );
    cpu.step("lag run, until the flow had settled");
    if plan.probe_orders > 0 {
        vacuums.push(vacuum(&mut conn).await?);
        cpu.skip();
    }

    // 4. Diagnostic: the same lag at a lower rate, on a settled flow.
    let probe = if plan.probe_orders > 0 {
        let marks = Marks::take(&mut conn).await?;
        let probe = lag_run(
            &client,
            &confirm_url,
            db_url,
            ids.take(plan.probe_orders)?,
            args.lag_probe_rate,
            1,
        )
        .await?;
        confirmed += probe.orders;
        wait_settled(&mut conn, marks, probe.orders, confirmed).await?;
        println!(
            "\n[5] probe     {} single-order confirmations at {:.0} orders/s: lag median {}, p99 {}, max {}; 503 replies retried {}",
            probe.orders,
            probe.achieved_rate,
            ms(probe.lag.median),
            ms(probe.lag.p99),
            ms(probe.lag.max),
            probe.retried
        );
        print_stages(&probe.stages);
        cpu.step("lag probe, until the flow had settled");
        Some(probe)
    } else {
        None
    };

    let report = DepositReport {
        args: args.clone(),
        setup,
        seeded: total,
        seed,
        view_wait,
        small,
        large,
        sustained,
        lag,
        probe,
        cpu: cpu.steps,
        vacuums,
        autovacuum,
        finished_at: Utc::now(),
    };
    println!("\n{}", render_table(&report.rows()));
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Results

struct BatchResult {
    size: usize,
    runs: usize,
    /// Each timed batch's latency in ms, in the order sent.
    in_order: String,
    latency: Stats,
    /// From the reply until order-query had paid every order of the batch.
    oq_paid: Stats,
    /// From the reply until the flow had settled.
    settled: Stats,
}

struct SustainedResult {
    orders: usize,
    requests: usize,
    elapsed: Duration,
    throughput: f64,
    latency: Stats,
    settled: Settled,
}

impl SustainedResult {
    /// Orders per second from the first request until order-query had paid them all.
    fn end_to_end(&self) -> f64 {
        self.orders as f64 / (self.elapsed + self.settled.oq_paid_after).as_secs_f64()
    }
}

async fn sustained(
    client: &reqwest::Client,
    url: &str,
    conn: &mut AsyncPgConnection,
    ids: &mut Ids,
    confirmed: &mut usize,
    args: &Args,
) -> anyhow::Result<SustainedResult> {
    let all = ids.take(args.sustained_orders)?;
    let bodies: Arc<Vec<String>> =
        Arc::new(all.chunks(args.sustained_batch).map(confirm_body).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let url = Arc::new(url.to_owned());
    let marks = Marks::take(conn).await?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.sustained_senders);
    for _ in 0..args.sustained_senders {
        let (client, bodies, next, url) =
            (client.clone(), bodies.clone(), next.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return Ok::<_, anyhow::Error>(latencies);
                };
                let t0 = Instant::now();
                post_confirm(&client, &url, body.clone()).await?;
                latencies.push(t0.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(bodies.len());
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    *confirmed += all.len();
    let settled = wait_settled(conn, marks, all.len(), *confirmed).await?;
    Ok(SustainedResult {
        orders: all.len(),
        requests: bodies.len(),
        elapsed,
        throughput: all.len() as f64 / elapsed.as_secs_f64(),
        latency: Stats::of(latencies),
        settled,
    })
}

struct LagResult {
    orders: usize,
    requests: usize,
    period: Duration,
    send_window: Duration,
    achieved_rate: f64,
    lag: Stats,
    /// Latency until the 200, including any 503s retried on the way.
    request: Stats,
    /// 503 replies retried after `RETRY_AFTER_503`.
    retried: usize,
    polls: usize,
    poll: Stats,
    stages: Vec<Stage>,
}

/// When a lag run's request was sent: the bench's clock, and the wall clock for the breakdown.
#[derive(Debug, Clone, Copy)]
struct Sent {
    at: Instant,
    wall: DateTime<Utc>,
}

/// One order of a lag run: its lag, and the wall-clock times it was sent and first seen paid.
#[derive(Debug, Clone, Copy)]
struct Seen {
    lag: Duration,
    sent: DateTime<Utc>,
    seen: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct PaidId {
    #[diesel(sql_type = Text)]
    order_id: String,
}

const PAID_AMONG_SQL: &str =
    "SELECT order_id FROM order_query.orders WHERE status = 'paid' AND order_id = ANY($1)";

/// Confirms `all` at `rate` orders/s (`batch` per request, one request per tick of a tokio
/// interval), while a poller records when each shows up paid in order-query.
async fn lag_run(
    client: &reqwest::Client,
    url: &str,
    db_url: &str,
    all: Vec<String>,
    rate: usize,
    batch: usize,
) -> anyhow::Result<LagResult> {
    let n = all.len();
    let requests: Vec<Vec<String>> = all.chunks(batch).map(|c| c.to_vec()).collect();
    let period = Duration::from_secs_f64(batch as f64 / rate as f64);

    // The poller learns of each request just before it is sent.
    let (tx, rx) = mpsc::unbounded_channel::<(Vec<String>, Sent)>();
    let mut poll_conn = AsyncPgConnection::establish(db_url)
        .await
        .context("connecting the lag poller")?;
    let poller = tokio::spawn(async move { poll_paid(&mut poll_conn, rx).await });

    let url = Arc::new(url.to_owned());
    let mut ticker = tokio::time::interval(period);
    // Burst (the default) keeps the count per second if the bench falls a tick behind.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut senders = Vec::with_capacity(requests.len());
    let started = Instant::now();
    let mut last_send = started;
    for batch in requests.iter() {
        ticker.tick().await;
        last_send = Instant::now();
        let (client, url, tx) = (client.clone(), url.clone(), tx.clone());
        let body = confirm_body(batch);
        let batch = batch.clone();
        senders.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let _ = tx.send((
                batch,
                Sent {
                    at: t0,
                    wall: Utc::now(),
                },
            ));
            let retries = post_confirm_retrying(&client, &url, body).await?;
            Ok::<_, anyhow::Error>((t0.elapsed(), retries))
        }));
    }
    let send_window = last_send - started;
    drop(tx);
    let mut request_latencies = Vec::with_capacity(senders.len());
    let mut retried = 0;
    let mut failure = None;
    for s in senders {
        match s.await? {
            Ok((d, retries)) => {
                request_latencies.push(d);
                retried += retries as usize;
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        poller.abort();
        return Err(e);
    }
    let (seen, polls) = poller.await??;
    if seen.len() != n {
        bail!("the lag poller saw {} of {n} orders paid", seen.len());
    }
    let stages = stages(db_url, &seen).await?;
    let lags = seen.into_values().map(|s| s.lag).collect();
    Ok(LagResult {
        orders: n,
        requests: requests.len(),
        period,
        send_window,
        achieved_rate: if requests.len() > 1 {
            // requests − 1 intervals between the first and the last send
            ((requests.len() - 1) * batch) as f64 / send_window.as_secs_f64()
        } else {
            0.0
        },
        lag: Stats::of(lags),
        request: Stats::of(request_latencies),
        retried,
        polls: polls.len(),
        poll: Stats::of(polls),
        stages,
    })
}

/// About every `POLL_EVERY`, asks order-query's table which pending orders are paid; an order's lag is
/// the time that query returned minus the time its confirmation was sent (so it errs long, by
/// up to one poll). Returns the lags and the poll queries' own durations.
async fn poll_paid(
    conn: &mut AsyncPgConnection,
    mut rx: mpsc::UnboundedReceiver<(Vec<String>, Sent)>,
) -> anyhow::Result<(HashMap<String, Seen>, Vec<Duration>)> {
    let mut pending: HashMap<String, Sent> = HashMap::new();
    let mut seen = HashMap::new();
    let mut polls = Vec::new();
    let mut open = true;
    let mut closed_at: Option<Instant> = None;
    let mut wait = POLL_EVERY;
    loop {
        tokio::time::sleep(wait).await;
        while open {
            match rx.try_recv() {
                Ok((ids, sent)) => pending.extend(ids.into_iter().map(|id| (id, sent))),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    open = false;
                    closed_at = Some(Instant::now());
                }
            }
        }
        if pending.is_empty() {
            if open {
                continue;
            }
            return Ok((seen, polls));
        }
        if closed_at.is_some_and(|t| t.elapsed() > SETTLE_TIMEOUT) {
            bail!(
                "{} confirmed orders were still not paid in order-query {} s after the last confirmation",
                pending.len(),
                SETTLE_TIMEOUT.as_secs()
            );
        }
        let ask: Vec<&str> = pending.keys().map(String::as_str).collect();
        let t0 = Instant::now();
        let paid: Vec<PaidId> = diesel::sql_query(PAID_AMONG_SQL)
            .bind::<Array<Text>, _>(ask)
            .load(conn)
            .await
            .context("the lag poller's query")?;
        let seen_at = Instant::now();
        let seen_wall = Utc::now();
        polls.push(seen_at - t0);
        // Every POLL_EVERY; less often when the pending ids make the query slow (a backlog), so
        // that the poller takes at most about a fifth of one PostgreSQL backend.
        wait = POLL_EVERY.max((seen_at - t0) * 4);
        for row in paid {
            if let Some(sent) = pending.remove(&row.order_id) {
                seen.insert(
                    row.order_id,
                    Seen {
                        lag: seen_at - sent.at,
                        sent: sent.wall,
                        seen: seen_wall,
                    },
                );
            }
        }
    }
}

/// One step of the way from a confirmation request to order-query's paid row, over a lag run's
/// orders: median and p99 in milliseconds.
struct Stage {
    name: &'static str,
    median_ms: f64,
    p99_ms: f64,
}

#[derive(QueryableByName)]
struct Trace {
    #[diesel(sql_type = Text)]
    order_id: String,
    #[diesel(sql_type = Timestamptz)]
    confirmed_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    dc_claimed: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    oq_received: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    oq_updated: DateTime<Utc>,
}

/// The times each service stamped on the way: deposit-confirmation's confirmation (`confirmed_at`,
/// taken in the request's transaction), its relay's claim of the `deposit.confirmed` row
/// (`outbox.published_at` is the relay transaction's `now()`, taken before it publishes),
/// order-query's consumer beginning the event (`inbox.received_at`, its transaction's `now()`)
/// and order-query's handler paying the order (`orders.updated_at`).
const TRACE_SQL: &str = "SELECT c.order_id, c.confirmed_at, dco.published_at AS dc_claimed, \
     i.received_at AS oq_received, o.updated_at AS oq_updated \
     FROM deposit_confirmation.confirmations c \
     JOIN deposit_confirmation.outbox dco ON dco.event_id = c.event_id \
     JOIN order_query.inbox i ON i.event_id = c.event_id \
     JOIN order_query.orders o ON o.order_id = c.order_id \
     WHERE c.order_id = ANY($1)";

const STAGES: [&str; 5] = [
    "request sent → confirmation stamped (deposit-confirmation)",
    "→ its relay claims the deposit.confirmed row (commit, relay wake-up, earlier batches)",
    "→ order-query's consumer begins it (publish + confirm, broker, consumer queue)",
    "→ order-query's handler pays the order",
    "→ seen paid by the poller (commit, poll interval)",
];

async fn stages(db_url: &str, seen: &HashMap<String, Seen>) -> anyhow::Result<Vec<Stage>> {
    let mut conn = AsyncPgConnection::establish(db_url).await?;
    let ids: Vec<&str> = seen.keys().map(String::as_str).collect();
    let traces: Vec<Trace> = diesel::sql_query(TRACE_SQL)
        .bind::<Array<Text>, _>(ids)
        .load(&mut conn)
        .await
        .context("reading the lag run's timestamps")?;
    if traces.len() != seen.len() {
        bail!(
            "found the timestamps of {} of {} orders",
            traces.len(),
            seen.len()
        );
    }
    let mut steps: Vec<Vec<f64>> = vec![Vec::with_capacity(traces.len()); STAGES.len()];
    let gap = |a: DateTime<Utc>, b: DateTime<Utc>| {
        (b - a).num_microseconds().unwrap_or(0) as f64 / 1000.0
    };
    for t in &traces {
        let s = &seen[&t.order_id];
        let points = [
            s.sent,
            t.confirmed_at,
            t.dc_claimed,
            t.oq_received,
            t.oq_updated,
            s.seen,
        ];
        for (i, w) in points.windows(2).enumerate() {
            steps[i].push(gap(w[0], w[1]));
        }
    }
    Ok(STAGES
        .iter()
        .zip(steps)
        .map(|(name, mut v)| {
            v.sort_unstable_by(f64::total_cmp);
            let pick = |p: f64| {
                let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
                v[rank.clamp(1, v.len()) - 1]
            };
            Stage {
                name,
                median_ms: pick(50.0),
                p99_ms: pick(99.0),
            }
        })
        .collect())
}

fn print_stages(stages: &[Stage]) {
    println!("    where the time goes (median / p99 of each step, wall clock):");
    for s in stages {
        println!(
            "      {:>9.2} ms / {:>9.2} ms  {}",
            s.median_ms, s.p99_ms, s.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Report

pub struct DepositReport {
    args: Args,
    setup: Setup,
    seeded: usize,
    seed: SeedResult,
    view_wait: Duration,
    small: BatchResult,
    large: BatchResult,
    sustained: SustainedResult,
    lag: LagResult,
    probe: Option<LagResult>,
    cpu: Vec<(&'static str, CpuUse)>,
    vacuums: Vec<Duration>,
    autovacuum: String,
    finished_at: DateTime<Utc>,
}

impl DepositReport {
    fn rows(&self) -> Vec<[String; 4]> {
        let (s, l, u, g) = (&self.small, &self.large, &self.sustained, &self.lag);
        let row = |a: String, b: String, c: String, v: Option<bool>| {
            [a, b, c, v.map(verdict).unwrap_or("").to_owned()]
        };
        let none = String::new;
        let mut rows = vec![
            row(
                format!(
                    "seed: create {} orders, {} concurrent",
                    self.seeded, self.args.seed_concurrency
                ),
                format!("{:.0} orders/s", self.seed.throughput),
                none(),
                None,
            ),
            row(
                "seed: deposit-confirmation's view complete after the last create".into(),
                format!("{:.2} s", self.view_wait.as_secs_f64()),
                none(),
                None,
            ),
            row(
                format!("batch of {}: median ({} batches)", s.size, s.runs),
                ms(s.latency.median),
                none(),
                None,
            ),
            row(
                format!("batch of {}: p95", s.size),
                ms(s.latency.p95),
                none(),
                None,
            ),
            row(
                format!("batch of {}: median ({} batches)", l.size, l.runs),
                ms(l.latency.median),
                none(),
                None,
            ),
            row(
                format!("batch of {}: p95", l.size),
                ms(l.latency.p95),
                format!("≤ {LARGE_P95_TARGET_MS} ms"),
                Some(to_ms(l.latency.p95) <= LARGE_P95_TARGET_MS),
            ),
            row(
                format!(
                    "batch of {} (diagnostic): reply → all paid in order-query, median / p95",
                    l.size
                ),
                format!("{} / {}", ms(l.oq_paid.median), ms(l.oq_paid.p95)),
                none(),
                None,
            ),
            row(
                format!(
                    "sustained: {} orders, {} senders × {}-order batches",
                    u.orders, self.args.sustained_senders, self.args.sustained_batch
                ),
                format!("{:.0} orders/s", u.throughput),
                format!("≥ {SUSTAINED_TARGET:.0} orders/s"),
                Some(u.throughput >= SUSTAINED_TARGET),
            ),
            row(
                format!(
                    "sustained: {}-order batch latency median / p95",
                    self.args.sustained_batch
                ),
                format!("{} / {}", ms(u.latency.median), ms(u.latency.p95)),
                none(),
                None,
            ),
            row(
                "sustained (diagnostic): order-query paid them all, after the last reply".into(),
                format!(
                    "{:.2} s ({:.0} orders/s end to end)",
                    u.settled.oq_paid_after.as_secs_f64(),
                    u.end_to_end()
                ),
                none(),
                None,
            ),
            row(
                format!("lag at {:.0} orders/s: median", g.achieved_rate),
                ms(g.lag.median),
                none(),
                None,
            ),
            row(
                format!("lag at {:.0} orders/s: p99", g.achieved_rate),
                ms(g.lag.p99),
                format!("≤ {LAG_P99_TARGET_MS} ms at {} /s", self.args.lag_rate),
                Some(to_ms(g.lag.p99) <= LAG_P99_TARGET_MS),
            ),
            row(
                "lag: p95 / max".into(),
                format!("{} / {}", ms(g.lag.p95), ms(g.lag.max)),
                none(),
                None,
            ),
            row(
                format!(
                    "lag (diagnostic): {}-order confirmation request median / p99",
                    self.args.lag_batch
                ),
                format!("{} / {}", ms(g.request.median), ms(g.request.p99)),
                none(),
                None,
            ),
            row(
                "lag: requests answered 503 and retried 1 s later".into(),
                format!("{} of {}", g.retried, g.requests),
                "0".into(),
                Some(g.retried == 0),
            ),
        ];
        if let Some(p) = &self.probe {
            rows.push(row(
                format!(
                    "lag probe (diagnostic) at {:.0} orders/s: median / p99",
                    p.achieved_rate
                ),
                format!(
                    "{} / {} ({} of {} requests answered 503 and retried)",
                    ms(p.lag.median),
                    ms(p.lag.p99),
                    p.retried,
                    p.requests
                ),
                none(),
                None,
            ));
        }
        rows
    }

    pub fn markdown_section(&self) -> String {
        let cpu = cpu_model().unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let (a, st) = (&self.args, &self.setup);
        let (l, u, g) = (&self.large, &self.sustained, &self.lag);
        let mut s = String::new();
        s += HEADING;
        s += "\n\n";
        s += &format!(
            "Run {} UTC: `target/release/paybridge-bench{}` on {cores} cores ({cpu}). \
             order-query ({} HTTP workers, pool {}) and deposit-confirmation ({} HTTP workers, pool {}) run in-process \
             in release mode on one fresh database and one exchange, each consuming from a queue of its own \
             (quorum queues, prefetch {}); outbox poll interval {} ms (the relay is also woken on commit), relay batch {}. \
             The bench client, both services, PostgreSQL and RabbitMQ share the same {cores} cores, so every figure \
             includes the other side's work.\n\n",
            self.finished_at.format("%Y-%m-%d %H:%M"),
            if a.only.is_some() { " --only deposits" } else { "" },
            st.oq_workers,
            st.oq_pool,
            st.dc_workers,
            st.dc_pool,
            st.prefetch,
            st.poll_interval.as_millis(),
            st.relay_batch,
        );
        s += &format!(
            "- Seed: {} bank-transfer orders awaiting payment created through order-query's `POST /v1/orders` \
             ({} in flight) in {:.2} s; deposit-confirmation's view (`deposit_confirmation.orders`, fed by `order.created`) \
             held them all {:.2} s after the last create. Nothing is timed before that. Each measurement confirms orders \
             of its own (a repeated confirmation is a no-op).\n",
            self.seeded,
            a.seed_concurrency,
            self.seed.elapsed.as_secs_f64(),
            self.view_wait.as_secs_f64(),
        );
        s += &format!(
            "- Vacuum: the server runs with `autovacuum = {}`, so after seeding and between the steps below the bench runs \
             `VACUUM (ANALYZE)` on its database, untimed ({}), and `ANALYZE` before each timed batch, as autovacuum would in \
             production. Without it, every published outbox row and every paid order leaves a dead index entry that later \
             queries must wade through (the relays' scans of the `outbox_pending` index above all), and statistics stay \
             frozen: a connection whose cached `confirmations.order_id = ANY($1)` lookup went to a generic plan then keeps a \
             sequential scan chosen while the table was empty, and a 1,000-order batch grows to hundreds of ms.\n",
            self.autovacuum,
            self.vacuums
                .iter()
                .map(|d| format!("{:.2} s", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", "),
        );
        s += &format!(
            "- Batches: `POST /bankda/deposits/confirm` with {} orders, {} times, then {} orders, {} times, \
             one request at a time, each size after one untimed warm-up batch. Every reply is checked to be 200 \
             `{OK_BODY}`. Before each next batch the bench waits until the flow has settled (order-query has paid every \
             confirmed order, deposit-confirmation's view has seen their `order.paid`, both outboxes are empty), so a \
             batch is timed alone, as when Bankda sends one. Latencies in order, ms: {} orders: {}; {} orders: {} \
             (with fewer than 20 batches, a nearest-rank p95 is the slowest one).\n",
            self.small.size, self.small.runs, l.size, l.runs,
            self.small.size, self.small.in_order, l.size, l.in_order,
        );
        s += &format!(
            "- Sustained: {} orders in {} requests of {}, {} senders back to back; orders/s is orders ÷ time from the \
             first request to the last reply. The events are consumed meanwhile; order-query had paid all of them \
             {:.2} s after the last reply.\n",
            u.orders, u.requests, a.sustained_batch, a.sustained_senders, u.settled.oq_paid_after.as_secs_f64(),
        );
        s += &format!(
            "- Lag: {} orders, one request of {} order(s) every {:.1} ms paced by a tokio interval ({} requests, \
             {:.0} orders/s achieved over {:.2} s), each request on its own task. Bankda confirms the deposits it \
             matched in one request with a list of order ids, so 500 confirmations/s arrive as a few dozen requests a \
             second, not 500 (`--lag-batch 1` measures the latter; see the probe below). A request answered 503 (the \
             service could not take it now) is sent again 1 s later, as Bankda retries, and its orders' lag counts from \
             the first send. An order's lag is the time it was first \
             seen paid minus the time its request was sent. \"Seen paid\" is an SQL poller on the table order-query \
             serves its API from (`{PAID_AMONG_SQL}` for the still-pending ids on a connection of its own, rather than \
             `GET /v1/orders/{{id}}` for each order), {} ms after the previous poll, or four times the previous poll's time if \
             that is longer (so that with a backlog of pending ids the poller does not load PostgreSQL much): {} polls, \
             median {}, p99 {}. The time taken is when the poll returned, so a lag errs long by up to one poll. \
             Between steps, and not timed, the bench waits until the flow has settled.\n\n",
            g.orders,
            a.lag_batch,
            to_ms(g.period),
            g.requests,
            g.achieved_rate,
            g.send_window.as_secs_f64(),
            POLL_EVERY.as_millis(),
            g.polls,
            ms(g.poll.median),
            ms(g.poll.p99),
        );
        s += "| measure | figure | target | |\n| --- | --- | --- | --- |\n";
        for r in self.rows() {
            s += &format!("| {} | {} | {} | {} |\n", r[0], r[1], r[2], r[3]);
        }
        s += "\nPercentiles are nearest-rank over the timed requests (or orders, for the lag) of this one run.\n";

        s += "\nWhere the lag goes, per order, from the times each step stamped (wall clock of the one machine; \
              a step's median and p99 are taken separately, so they do not add up to the lag's):\n\n";
        let probe = self.probe.as_ref();
        s += &format!(
            "| step | at {:.0} orders/s, {} per request: median / p99 |{}\n| --- | --- |{}\n",
            g.achieved_rate,
            self.args.lag_batch,
            probe
                .map(|p| format!(
                    " at {:.0} orders/s, 1 per request: median / p99 |",
                    p.achieved_rate
                ))
                .unwrap_or_default(),
            if probe.is_some() { " --- |" } else { "" },
        );
        for (i, st) in g.stages.iter().enumerate() {
            s += &format!(
                "| {} | {:.2} ms / {:.2} ms |{}\n",
                st.name,
                st.median_ms,
                st.p99_ms,
                probe
                    .and_then(|p| p.stages.get(i))
                    .map(|p| format!(" {:.2} ms / {:.2} ms |", p.median_ms, p.p99_ms))
                    .unwrap_or_default()
            );
        }
        if let Some(p) = probe {
            s += &format!(
                "\nThe second column is a diagnostic probe after the flow settled: {} single-order confirmations at \
                 {:.0} orders/s (`--lag-probe-rate`), measured the same way; lag median {}, p99 {}; {} of {} requests \
                 answered 503 and were retried. One order per request costs a whole request, transaction, relay cycle \
                 and consumer batch per order, which is what the machine runs out of.\n",
                p.orders,
                p.achieved_rate,
                ms(p.lag.median),
                ms(p.lag.p99),
                p.retried,
                p.requests
            );
        }
        if !self.cpu.is_empty() {
            s += &format!(
                "\nMachine CPU (share of all {cores} cores' time) during each step. The bench process is both services and \
                 the bench client. Time not accounted to it, PostgreSQL or RabbitMQ belongs to other work on the machine \
                 and is noise in this run's figures:\n\n\
                 | step | busy | bench process | PostgreSQL | RabbitMQ | anything else |\n| --- | --- | --- | --- | --- | --- |\n"
            );
            for (name, c) in &self.cpu {
                s += &format!(
                    "| {name} | {:.0}% | {:.0}% | {:.0}% | {:.0}% | {:.0}% |\n",
                    c.busy * 100.0,
                    c.own * 100.0,
                    c.postgres * 100.0,
                    c.rabbitmq * 100.0,
                    c.other() * 100.0
                );
            }
        }
        s
    }
}
