//! PostgreSQL through diesel-async: the pool, migrations under an advisory lock, and storage
//! errors mapped to stable API errors. Every connection is made by [`connect`], which honours
//! `database.url`'s `sslmode` and `sslrootcert` (see [`crate::postgres`]).

use crate::backoff::Backoff;
use crate::config::DatabaseSettings;
use crate::postgres::PgTarget;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection, RunError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use futures::FutureExt;
use std::time::{Duration, Instant};

pub type PgPool = Pool<AsyncPgConnection>;
pub type PgConn = PooledConnection<'static, AsyncPgConnection>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found")]
    NotFound,
    #[error("unique constraint violated: {0}")]
    Conflict(String),
    /// The database could not be reached in time; the caller may retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

impl StorageError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Unavailable(_))
    }
}

impl From<DieselError> for StorageError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => StorageError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StorageError::Conflict(info.constraint_name().unwrap_or("unique").to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info)
            | DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                StorageError::Unavailable(info.message().to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().contains("statement timeout")
                    || info.message().contains("connection") =>
            {
                StorageError::Unavailable(info.message().to_owned())
            }
            other => StorageError::Other(other.to_string()),
        }
    }
}

impl From<RunError> for StorageError {
    fn from(e: RunError) -> Self {
        StorageError::Unavailable(e.to_string())
    }
}

/// One connection to the database `url` names, over TLS as its `sslmode` asks (never a fallback
/// to plaintext when TLS was asked for and failed). Everything that connects goes through here:
/// the pool, migrations, `ensure_database` and the retention purge.
pub async fn connect(url: &str) -> Result<AsyncPgConnection, diesel::ConnectionError> {
    PgTarget::parse(url)
        .map_err(|e| diesel::ConnectionError::InvalidConnectionUrl(format!("database.url: {e}")))?
        .connect()
        .await
}

/// Opens the pool without connecting: a service starts (and says it is not ready) while
/// PostgreSQL is down, and connections are made when first needed.
pub fn pool(settings: &DatabaseSettings) -> PgPool {
    let statement_timeout_ms = settings.statement_timeout.as_millis();
    let runtime = tokio::runtime::Handle::current();
    // Parsed once; `Settings` has checked it already, so the error is only a safety net.
    let target = PgTarget::parse(settings.url.expose()).map_err(|e| format!("database.url: {e}"));
    let mut config = ManagerConfig::default();
    // tokio-postgres drives each connection from a task; spawn it on the main runtime so it does
    // not live and die with whichever actix worker first asked for a connection.
    config.custom_setup = Box::new(move |_url| {
        let target = target.clone();
        let runtime = runtime.clone();
        async move {
            let target = target.map_err(diesel::ConnectionError::InvalidConnectionUrl)?;
            let mut conn = runtime
                .spawn(async move { target.connect().await })
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))??;
            diesel::sql_query(format!("SET statement_timeout = {statement_timeout_ms}"))
                .execute(&mut conn)
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        settings.url.expose().clone(),
        config,
    );
    Pool::builder()
        .max_size(settings.pool_size)
        .connection_timeout(settings.acquire_timeout)
        .build_unchecked(manager)
}

pub async fn get(pool: &PgPool) -> Result<PgConn, StorageError> {
    Ok(pool.get_owned().await?)
}

/// True when `SELECT 1` answers on `conn`.
pub async fn select_one(conn: &mut AsyncPgConnection) -> bool {
    diesel::sql_query("SELECT 1").execute(conn).await.is_ok()
}

/// True when a trivial query answers within `timeout`.
pub async fn ping(pool: &PgPool, timeout: Duration) -> bool {
    let check = async {
        let mut conn = pool.get().await.ok()?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.ok()
    };
    matches!(tokio::time::timeout(timeout, check).await, Ok(Some(_)))
}

/// Creates the database named in `url` when it does not exist (for the local stack).
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url)?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    anyhow::ensure!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "database name '{name}' must be letters, digits, '_' or '-'"
    );
    let mut admin_url = parsed.clone();
    admin_url.set_path("/postgres");
    let mut conn = connect(admin_url.as_str()).await?;
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result(&mut conn)
            .await?;
    if !found.exists {
        match diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another replica created it first.
            Err(DieselError::DatabaseError(DatabaseErrorKind::Unknown, info))
                if info.message().contains("already exists") => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Applies the service's embedded migrations to its own schema.
///
/// Replicas starting together take a session advisory lock first, so exactly one migrates and the
/// others then find nothing pending. diesel's bookkeeping table goes into the service's schema,
/// so the services sharing one database never see each other's migration history.
pub async fn migrate(
    settings: &DatabaseSettings,
    schema: &str,
    migrations: EmbeddedMigrations,
) -> anyhow::Result<()> {
    let url = settings.url.expose().clone();
    if settings.create_if_missing {
        ensure_database(&url).await?;
    }
    let mut conn = connect(&url).await?;
    diesel::sql_query(format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&mut conn)
        .await
        .or_else(|e| match e {
            // Two replicas racing on CREATE SCHEMA IF NOT EXISTS can still collide.
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Ok(0),
            e => Err(e),
        })?;
    let lock_key = format!("paybridge-migrate-{schema}");
    diesel::sql_query("SELECT pg_advisory_lock(hashtext($1))")
        .bind::<diesel::sql_types::Text, _>(&lock_key)
        .execute(&mut conn)
        .await?;
    diesel::sql_query(format!("SET search_path TO {schema}"))
        .execute(&mut conn)
        .await?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness
        .run_pending_migrations(migrations)
        .map(|versions| versions.iter().map(|v| v.to_string()).collect::<Vec<_>>())
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"));
    let mut conn = harness.into_inner();
    diesel::sql_query("SELECT pg_advisory_unlock(hashtext($1))")
        .bind::<diesel::sql_types::Text, _>(&lock_key)
        .execute(&mut conn)
        .await?;
    let applied = applied?;
    if !applied.is_empty() {
        tracing::info!(schema, migrations = ?applied, "applied migrations");
    }
    Ok(())
}

/// [`migrate`], retried with backoff until `database.startup_timeout`: a service started before
/// its database waits for it instead of crash-looping.
pub async fn migrate_when_reachable(
    settings: &DatabaseSettings,
    schema: &str,
    migrations: fn() -> EmbeddedMigrations,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + settings.startup_timeout;
    let mut backoff = Backoff::default();
    loop {
        match migrate(settings, schema, migrations()).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not ready for migrations");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}
