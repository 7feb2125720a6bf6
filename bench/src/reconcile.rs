//! Part "reconcile": what portone-gateway's reconciler costs with many unfinished barcodes.
//!
//! On a fresh database it seeds N orders with a `ready` barcode each (the barcodes exist at an
//! in-process portone-sandbox, which answers every re-read), then:
//! 1. computes the PortOne calls per minute the default schedule makes (from the schedule
//!    itself: `portone.reconcile.*` defaults);
//! 2. runs the reconciler's pass, as the service does, with every barcode due: wall time, CPU
//!    time of the thread that runs it (the pass, its database pool and PortOne client run on a
//!    current-thread runtime of their own; the sandbox answers on its own threads), PostgreSQL's
//!    CPU, the statements the pass issued and the PortOne calls the sandbox received;
//! 3. a pass with nothing due;
//! 4. the plans of the pass's statements (EXPLAIN), which must use the schedule's partial
//!    indexes, not a scan per payment or of the table.

use crate::{Args, CpuSample};
use anyhow::{bail, Context};
use chrono::Utc;
use diesel::sql_types::{Array, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use platform::config::{ReconcileSettings, Service, Settings};
use portone_gateway::reconcile::{self, PassStats, ReconcileMetrics, Reconciler};
use portone_sandbox::{SandboxOptions, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub const HEADING: &str = "## portone-gateway reconciliation";

const CHANNEL_KEY: &str = "bench-channel";
/// A barcode's life at most: the default deposit deadline (`orders.default_deposit_deadline`).
const LIFE: Duration = Duration::from_secs(7 * 86400);

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    stats: PassStats,
    wall: Duration,
    cpu: Duration,
    postgres_cpu: Duration,
    portone_calls: u64,
}

pub struct Report {
    started: chrono::DateTime<Utc>,
    barcodes: usize,
    settings: ReconcileSettings,
    passes: Vec<Sample>,
    idle: Sample,
    plans: Vec<(String, Vec<String>)>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The CPU time this thread has run, from the scheduler's own account (nanoseconds).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

fn ticks_to_duration(ticks: u64) -> Duration {
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

async fn portone_calls(client: &reqwest::Client, sandbox: &str) -> anyhow::Result<u64> {
    let faults: Value = client
        .get(format!("{sandbox}/__sandbox/faults"))
        .send()
        .await?
        .json()
        .await?;
    faults["get_payment_calls"]
        .as_u64()
        .context("the sandbox's get_payment_calls")
}

pub async fn run(args: &Args, db_url: &str) -> anyhow::Result<Report> {
    let started = Utc::now();
    let sandbox = portone_sandbox::startup::Application::build_with(
        Settings::for_tests(
            Service::PortoneSandbox,
            &[
                ("http.host", "127.0.0.1"),
                ("http.port", "0"),
                ("log.level", "warn"),
            ],
        )?,
        SandboxOptions {
            channel_key: Some(CHANNEL_KEY.into()),
            ..SandboxOptions::default()
        },
    )
    .await?;
    let sandbox_url = format!("http://127.0.0.1:{}", sandbox.port());
    let sandbox_stop = sandbox.shutdown_token();
    tokio::spawn(sandbox.run_until_stopped());
    let outcome = measure(args, db_url, &sandbox_url, started).await;
    sandbox_stop.cancel();
    outcome
}

async fn measure(
    args: &Args,
    db_url: &str,
    sandbox_url: &str,
    started: chrono::DateTime<Utc>,
) -> anyhow::Result<Report> {
    let settings = Settings::for_tests(
        Service::PortoneGateway,
        &[
            ("database.url", db_url),
            ("portone.base_url", sandbox_url),
            ("portone.imp_key", DEFAULT_IMP_KEY),
            ("portone.imp_secret", DEFAULT_IMP_SECRET),
            ("portone.channel_key", CHANNEL_KEY),
            ("log.level", "warn"),
        ],
    )?;
    portone_gateway::startup::migrate(&settings).await?;
    let n = args.barcodes;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let mut conn = AsyncPgConnection::establish(db_url).await?;
    let seeding = Instant::now();
    diesel::sql_query(format!(
        "INSERT INTO portone_gateway.orders (order_id, status, payment_method, amount, billing_name) \
         SELECT 'RB-' || lpad(i::text, 6, '0'), 'awaiting_payment', 'cvs', 15000, '벤치' \
         FROM generate_series(1, {n}) AS i"
    ))
    .execute(&mut conn)
    .await?;
    // The barcodes at PortOne: `ready` payments the sandbox answers re-reads for.
    let mut imp_uids: Vec<String> = Vec::with_capacity(n);
    let mut orders: Vec<String> = Vec::with_capacity(n);
    for chunk_start in (1..=n).step_by(1000) {
        let chunk: Vec<String> = (chunk_start..=(chunk_start + 999).min(n))
            .map(|i| format!("RB-{i:06}"))
            .collect();
        let payments: Vec<Value> = chunk
            .iter()
            .map(|o| json!({"merchant_uid": o, "amount": 15000, "status": "ready"}))
            .collect();
        let res = client
            .post(format!("{sandbox_url}/__sandbox/payments"))
            .json(&json!({ "payments": payments }))
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("seeding the sandbox: {}", res.status());
        }
        let body: Value = res.json().await?;
        let created = body["created"].as_array().context("created")?;
        if created.len() != chunk.len() {
            bail!("the sandbox created {} of {}", created.len(), chunk.len());
        }
        imp_uids.extend(created.iter().filter_map(|v| v.as_str().map(str::to_owned)));
        orders.extend(chunk);
    }
    // Issued two hours ago: the first pass enrols them all, due at once.
    diesel::sql_query(
        "INSERT INTO portone_gateway.payments (imp_uid, order_id, pay_method, amount, status, issued_at) \
         SELECT u, o, 'cvs', 15000, 'ready', now() - interval '2 hours' FROM UNNEST($1, $2) AS t(u, o)",
    )
    .bind::<Array<Text>, _>(&imp_uids)
    .bind::<Array<Text>, _>(&orders)
    .execute(&mut conn)
    .await?;
    diesel::sql_query("ANALYZE portone_gateway.payments")
        .execute(&mut conn)
        .await?;
    println!(
        "seed          {n} orders with a ready barcode each (database and sandbox) in {:.2} s",
        seeding.elapsed().as_secs_f64()
    );

    // The pass runs on a thread of its own, so that its CPU time is its alone.
    let (passes, idle) = {
        let settings = settings.clone();
        let sandbox_url = sandbox_url.to_owned();
        let runs = args.reconcile_passes;
        tokio::task::spawn_blocking(move || -> anyhow::Result<(Vec<Sample>, Sample)> {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(passes_on_this_thread(settings, sandbox_url, runs))
        })
        .await??
    };

    // The plans of the pass's statements, in the state the measured passes began in: every
    // barcode on the schedule and due.
    diesel::sql_query(
        "UPDATE portone_gateway.payments SET next_reread_at = now() - interval '1 second'",
    )
    .execute(&mut conn)
    .await?;
    diesel::sql_query("ANALYZE portone_gateway.payments")
        .execute(&mut conn)
        .await?;
    let lease_ms = 70_000;
    let plans_of = [
        (
            "enrol",
            reconcile::schedule_sql::enrol().replace("$1", "60000"),
        ),
        (
            "claim",
            reconcile::schedule_sql::claim()
                .replace("$1", &reconcile::BATCH.to_string())
                .replace("$2", &lease_ms.to_string()),
        ),
        ("oldest", reconcile::schedule_sql::oldest()),
    ];
    let mut plans = Vec::new();
    for (name, sql) in plans_of {
        let lines: Vec<PlanLine> = diesel::sql_query(format!("EXPLAIN {sql}"))
            .load(&mut conn)
            .await
            .with_context(|| format!("EXPLAIN {name}"))?;
        let lines: Vec<String> = lines.into_iter().map(|l| l.line).collect();
        if lines.iter().any(|l| l.contains("Seq Scan on payments")) {
            bail!(
                "the {name} statement scans the payments table:\n{}",
                lines.join("\n")
            );
        }
        plans.push((name.to_owned(), lines));
    }

    Ok(Report {
        started,
        barcodes: n,
        settings: settings.portone.reconcile.clone(),
        passes,
        idle,
        plans,
    })
}

async fn passes_on_this_thread(
    settings: Settings,
    sandbox_url: String,
    runs: usize,
) -> anyhow::Result<(Vec<Sample>, Sample)> {
    // Clients of this runtime's own: their connections' tasks run here.
    let client = reqwest::Client::builder().no_proxy().build()?;
    let pool = platform::db::pool(&settings.database);
    let p = &settings.portone;
    let mut config = portone::PortOneConfig::new(
        p.base_url.clone(),
        p.imp_key.clone().context("imp_key")?,
        p.imp_secret.clone().context("imp_secret")?,
    );
    config.timeout = p.timeout;
    let portone = portone::PortOneClient::new(config)?;
    let metrics = platform::metrics::Metrics::new("bench");
    let reconciler = Reconciler::new(
        pool.clone(),
        portone,
        p.reconcile.clone(),
        p.timeout,
        ReconcileMetrics::register(&metrics),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    let shutdown = CancellationToken::new();
    let mut conn = platform::db::connect(settings.database.url.expose()).await?;
    let mut samples = Vec::new();
    // The first pass enrols every barcode; later ones find them all due again.
    for run in 0..=runs {
        if run > 0 {
            diesel::sql_query(
                "UPDATE portone_gateway.payments SET next_reread_at = now() - interval '1 second'",
            )
            .execute(&mut conn)
            .await?;
        }
        let sample = one_pass(&reconciler, &shutdown, &client, &sandbox_url).await?;
        println!(
            "pass {run}        {} re-read in {:.2} s, {:.2} s CPU, {} statements in {} batches, {} PortOne calls",
            sample.stats.reread,
            sample.wall.as_secs_f64(),
            sample.cpu.as_secs_f64(),
            sample.stats.statements,
            sample.stats.batches,
            sample.portone_calls
        );
        if sample.stats.errors > 0 {
            bail!("{} re-reads failed", sample.stats.errors);
        }
        samples.push(sample);
    }
    let idle = one_pass(&reconciler, &shutdown, &client, &sandbox_url).await?;
    println!(
        "idle pass     {} statements, {:.2} ms",
        idle.stats.statements,
        idle.wall.as_secs_f64() * 1000.0
    );
    Ok((samples, idle))
}

async fn one_pass(
    reconciler: &Reconciler,
    shutdown: &CancellationToken,
    client: &reqwest::Client,
    sandbox_url: &str,
) -> anyhow::Result<Sample> {
    let calls_before = portone_calls(client, sandbox_url).await?;
    let pg_before = CpuSample::now();
    let cpu_before = thread_cpu();
    let t = Instant::now();
    let stats = reconciler.pass(shutdown).await?;
    let wall = t.elapsed();
    let cpu = thread_cpu().saturating_sub(cpu_before);
    let pg_after = CpuSample::now();
    let calls = portone_calls(client, sandbox_url).await? - calls_before;
    let postgres_cpu = match (pg_before, pg_after) {
        (Some(a), Some(b)) => ticks_to_duration(b.postgres.saturating_sub(a.postgres)),
        _ => Duration::ZERO,
    };
    Ok(Sample {
        stats,
        wall,
        cpu,
        postgres_cpu,
        portone_calls: calls,
    })
}

impl Report {
    /// Re-reads per minute for `n` barcodes issued at a steady rate over their life.
    fn calls_per_minute(&self) -> (f64, f64, usize) {
        let times = reconcile::reread_times(&self.settings, LIFE);
        let per_life = times.len();
        let life_minutes = LIFE.as_secs_f64() / 60.0;
        let steady = self.barcodes as f64 / (self.settings.max_every.as_secs_f64() / 60.0);
        let averaged = self.barcodes as f64 * per_life as f64 / life_minutes;
        (steady, averaged, per_life)
    }

    pub fn markdown_section(&self) -> String {
        let measured: Vec<&Sample> = self.passes.iter().skip(1).collect();
        let med = |f: &dyn Fn(&Sample) -> f64| median(measured.iter().map(|s| f(s)).collect());
        let wall = med(&|s| s.wall.as_secs_f64());
        let cpu = med(&|s| s.cpu.as_secs_f64());
        let pg = med(&|s| s.postgres_cpu.as_secs_f64());
        let statements = med(&|s| s.stats.statements as f64);
        let calls = med(&|s| s.portone_calls as f64);
        let reread = med(&|s| s.stats.reread as f64);
        let cpu_per_read_us = cpu / reread.max(1.0) * 1e6;
        let pg_per_read_us = pg / reread.max(1.0) * 1e6;
        let (steady, averaged, per_life) = self.calls_per_minute();
        let r = &self.settings;
        // Spelled out: diesel-async's blanket `RunQueryDsl::first` would take `self.passes.first()`.
        let first = <[Sample]>::first(&self.passes);
        let mut out = format!(
            "{HEADING}\n\nRun {} UTC: `target/release/paybridge-bench --only reconcile --barcodes {} --reconcile-passes {}` on {} cores{}. \
             {} orders each with a `ready` barcode, issued two hours before, in portone-gateway's tables and at an in-process portone-sandbox; \
             the reconciler's pass (`Reconciler::pass`, what the service runs every few seconds) with every barcode due, {} times after a first pass that enrolled them; \
             then a pass with nothing due. The pass, its database pool and its PortOne client run on one thread of their own \
             (the CPU below is that thread's, from `/proc/thread-self/schedstat`); the sandbox answers on other threads; PostgreSQL's CPU is all its processes' (`/proc/*/stat`), including whatever else used the server meanwhile.\n\n",
            self.started.format("%Y-%m-%d %H:%M"),
            self.barcodes,
            measured.len(),
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            crate::cpu_model().map(|m| format!(" ({m})")).unwrap_or_default(),
            self.barcodes,
            measured.len(),
        );
        out += "| measure | figure |\n| --- | --- |\n";
        let rows: Vec<(String, String)> = vec![
            (
                format!("PortOne calls/min, {} barcodes past their first {} (default schedule: first re-read after {}, then every {} doubling to {})",
                    self.barcodes, humanize(reconcile::reread_times(r, LIFE).get(4).copied().unwrap_or_default()),
                    humanize(r.first_after), humanize(r.every), humanize(r.max_every)),
                format!("{steady:.0}"),
            ),
            (
                format!("PortOne calls/min, {} barcodes issued at a steady rate over a 7-day life ({per_life} re-reads each)", self.barcodes),
                format!("{averaged:.0}"),
            ),
            (
                format!("PortOne calls/min at worst: {} barcodes issued in the same minute, one minute later", self.barcodes),
                format!("{}", self.barcodes),
            ),
            (
                format!("sweep (every {}, window {})", humanize(r.sweep_every), humanize(r.sweep_window)),
                format!("2 list calls per sweep (1000 payments a page) = {:.1}/min", 2.0 / (r.sweep_every.as_secs_f64() / 60.0)),
            ),
            ("pass over all due: PortOne calls (median)".into(), format!("{calls:.0}")),
            ("pass over all due: wall time (median)".into(), format!("{wall:.2} s ({:.0} re-reads/s)", reread / wall.max(1e-9))),
            ("pass over all due: CPU of the reconciler (median)".into(), format!("{cpu:.2} s ({cpu_per_read_us:.0} µs per re-read)")),
            ("pass over all due: PostgreSQL CPU (median)".into(), format!("{pg:.2} s ({pg_per_read_us:.0} µs per re-read)")),
            (
                format!("pass over all due: SQL statements (batches of {})", reconcile::BATCH),
                format!("{statements:.0} (enrol 1, claim + write-back per batch, oldest 1; {:.3} per re-read)", statements / reread.max(1.0)),
            ),
            (
                "first pass (enrols them all): statements / wall".into(),
                first.map(|s| format!("{} / {:.2} s", s.stats.statements, s.wall.as_secs_f64())).unwrap_or_default(),
            ),
            (
                "pass with nothing due: statements / wall".into(),
                format!("{} / {:.2} ms", self.idle.stats.statements, self.idle.wall.as_secs_f64() * 1000.0),
            ),
            (
                "reconciler CPU at the steady rate (calls/min × CPU per re-read)".into(),
                format!("{:.0} ms per minute ({:.2}% of one core)", steady * cpu_per_read_us / 1000.0, steady * cpu_per_read_us / 1e6 / 60.0 * 100.0),
            ),
        ];
        for (k, v) in rows {
            out += &format!("| {k} | {v} |\n");
        }
        out += "\nThe pass's statements, as PostgreSQL plans them on the seeded table (`EXPLAIN`): each reads the schedule's partial indexes; none scans the table, and none runs per payment.\n\n";
        for (name, lines) in &self.plans {
            out += &format!("{name}:\n\n```\n{}\n```\n\n", lines.join("\n"));
        }
        out
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 3600 == 0 && s > 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
