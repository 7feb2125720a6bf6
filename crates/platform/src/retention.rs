//! The purge job (README, "Retention"): rows a service keeps only for a while (consumed event
//! ids, raw webhooks, audit records, idempotency keys) are deleted once older than their
//! `retention.*` setting.
//!
//! Each service lists what it purges when it starts, one line a table:
//!
//! ```ignore
//! Purger::new(&settings, SCHEMA, &metrics)
//!     .keep("inbox", "received_at", settings.retention.inbox)
//!     .keep("webhooks", "received_at", settings.retention.webhooks)
//! ```
//!
//! Every `retention.purge_every`, one replica at a time purges: a round starts only if it gets a
//! PostgreSQL advisory lock (`pg_try_advisory_lock`, per schema) on a connection of its own; a
//! replica that does not get it skips the round. Rows go in batches of [`DEFAULT_BATCH`], each
//! batch one short statement of its own (`DELETE … WHERE ctid IN (SELECT ctid … LIMIT n)`), so no
//! lock is held for long and a concurrent insert or the consumer's transaction never waits on a
//! whole purge.

use crate::config::Settings;
use crate::db::{self, StorageError};
use crate::metrics::Metrics;
use common::Secret;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use prometheus::{IntCounterVec, Opts};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows deleted by one statement.
pub const DEFAULT_BATCH: i64 = 1000;

/// One kind of kept row: `<schema>.<table>`, old once `<column>` is more than `keep` ago.
#[derive(Debug, Clone)]
struct Kept {
    table: String,
    column: String,
    keep: Duration,
}

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    /// Another replica held the lock: nothing was done.
    Skipped,
    /// Rows deleted by each statement, per table, in the order registered.
    Purged(Vec<(String, Vec<u64>)>),
}

impl Round {
    /// Rows deleted from `table` this round.
    pub fn purged(&self, table: &str) -> u64 {
        match self {
            Round::Skipped => 0,
            Round::Purged(tables) => tables
                .iter()
                .filter(|(t, _)| t == table)
                .flat_map(|(_, batches)| batches)
                .sum(),
        }
    }
}

/// The purge job of one service. See the module's comment.
pub struct Purger {
    database_url: Secret<String>,
    statement_timeout: Duration,
    schema: String,
    every: Duration,
    batch: i64,
    kept: Vec<Kept>,
    purged_rows: IntCounterVec,
    runs: IntCounterVec,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

impl Purger {
    /// A purger of `schema`'s tables, run every `retention.purge_every`, counting into
    /// `paybridge_retention_purged_rows_total{table}` and `paybridge_retention_runs_total{outcome}`.
    pub fn new(settings: &Settings, schema: &str, metrics: &Metrics) -> Self {
        assert!(
            is_identifier(schema),
            "schema '{schema}' is not an identifier"
        );
        let purged_rows = metrics.register(
            IntCounterVec::new(
                Opts::new(
                    "retention_purged_rows_total",
                    "Rows deleted by the retention purge, by table",
                ),
                &["table"],
            )
            .expect("valid metric"),
        );
        let runs = metrics.register(
            IntCounterVec::new(
                Opts::new(
                    "retention_runs_total",
                    "Retention purge rounds: purged (this replica held the lock), skipped (another did), failed",
                ),
                &["outcome"],
            )
            .expect("valid metric"),
        );
        for outcome in ["purged", "skipped", "failed"] {
            runs.with_label_values(&[outcome]);
        }
        Self {
            database_url: settings.database.url.clone(),
            statement_timeout: settings.database.statement_timeout,
            schema: schema.to_owned(),
            every: settings.retention.purge_every,
            batch: DEFAULT_BATCH,
            kept: Vec::new(),
            purged_rows,
            runs,
        }
    }

    /// Purges rows of `<schema>.<table>` whose `column` (a timestamptz) is more than `keep` ago.
    /// Table and column are fixed in code; they also name the metric's `table` label.
    pub fn keep(mut self, table: &str, column: &str, keep: Duration) -> Self {
        assert!(
            is_identifier(table) && is_identifier(column),
            "'{table}.{column}' is not an identifier"
        );
        self.purged_rows.with_label_values(&[table]);
        self.kept.push(Kept {
            table: table.to_owned(),
            column: column.to_owned(),
            keep,
        });
        self
    }

    /// Rows deleted by one statement (tests make it small to see the batches).
    pub fn batch_size(mut self, rows: i64) -> Self {
        assert!(rows > 0, "a batch deletes at least one row");
        self.batch = rows;
        self
    }

    /// The advisory lock's key text; the key is `hashtext` of it.
    pub fn lock_key(schema: &str) -> String {
        format!("paybridge-purge-{schema}")
    }

    /// One round: takes the lock or skips, then purges each table in batches. The lock lives
    /// with the round's own connection, so it is released when the round ends however it ends.
    pub async fn run_once(&self) -> Result<Round, StorageError> {
        let outcome = self.round().await;
        let label = match &outcome {
            Ok(Round::Purged(_)) => "purged",
            Ok(Round::Skipped) => "skipped",
            Err(_) => "failed",
        };
        self.runs.with_label_values(&[label]).inc();
        outcome
    }

    async fn round(&self) -> Result<Round, StorageError> {
        let mut conn = db::connect(self.database_url.expose())
            .await
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        diesel::sql_query(format!(
            "SET statement_timeout = {}",
            self.statement_timeout.as_millis()
        ))
        .execute(&mut conn)
        .await?;
        let key = Self::lock_key(&self.schema);
        let locked: Locked =
            diesel::sql_query("SELECT pg_try_advisory_lock(hashtext($1)) AS locked")
                .bind::<Text, _>(&key)
                .get_result(&mut conn)
                .await?;
        if !locked.locked {
            return Ok(Round::Skipped);
        }
        let purged = self.purge_all(&mut conn).await;
        // Dropping the connection would release the lock too; unlocking says so at once.
        let _ = diesel::sql_query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind::<Text, _>(&key)
            .execute(&mut conn)
            .await;
        purged.map(Round::Purged)
    }

    async fn purge_all(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<Vec<(String, Vec<u64>)>, StorageError> {
        let mut report = Vec::with_capacity(self.kept.len());
        for kept in &self.kept {
            let sql = format!(
                "DELETE FROM {schema}.{table} WHERE ctid IN (\
                     SELECT ctid FROM {schema}.{table} \
                     WHERE {column} < now() - $1 * interval '1 second' LIMIT $2)",
                schema = self.schema,
                table = kept.table,
                column = kept.column,
            );
            let seconds = i64::try_from(kept.keep.as_secs()).unwrap_or(i64::MAX);
            let mut batches = Vec::new();
            loop {
                let n = diesel::sql_query(&sql)
                    .bind::<BigInt, _>(seconds)
                    .bind::<BigInt, _>(self.batch)
                    .execute(conn)
                    .await? as u64;
                if n > 0 {
                    batches.push(n);
                    self.purged_rows
                        .with_label_values(&[kept.table.as_str()])
                        .inc_by(n);
                }
                if (n as i64) < self.batch {
                    break;
                }
            }
            let total: u64 = batches.iter().sum();
            if total > 0 {
                tracing::info!(
                    table = %format!("{}.{}", self.schema, kept.table),
                    rows = total,
                    statements = batches.len(),
                    older_than_secs = seconds,
                    "purged rows past their retention"
                );
            }
            report.push((kept.table.clone(), batches));
        }
        Ok(report)
    }

    /// Runs a round now and then every `retention.purge_every` until `shutdown`. A round that
    /// fails (the database is away) is logged and tried again at the next tick.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            // A round stuck on an unreachable database must not hold the exit.
            tokio::select! {
                outcome = self.run_once() => {
                    if let Err(e) = outcome {
                        tracing::warn!(error = %e, schema = %self.schema, "retention purge failed; retrying at the next round");
                    }
                }
                _ = crate::service::grace_expired(&shutdown) => return,
            }
        }
    }
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
