//! Layered configuration (design §2): built-in defaults → `config/default.toml` →
//! `config/$PAYBRIDGE_ENV.toml` → `PAYBRIDGE__SECTION__KEY` environment variables.
//!
//! Values are read as text first and then parsed into the types the services use, so a bad value
//! stops start-up with an error that names its key (`bankda.allowed_ips: "10.0.0/8" is not a CIDR`).

use crate::http::auth::ApiToken;
use chrono::FixedOffset;
use common::Secret;
use ipnet::IpNet;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Which service is loading its configuration; it decides the defaults that differ per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    OrderQuery,
    DepositConfirmation,
    PortoneGateway,
    PortoneSandbox,
}

impl Service {
    pub fn name(&self) -> &'static str {
        match self {
            Service::OrderQuery => "order-query",
            Service::DepositConfirmation => "deposit-confirmation",
            Service::PortoneGateway => "portone-gateway",
            Service::PortoneSandbox => "portone-sandbox",
        }
    }

    pub fn default_port(&self) -> u16 {
        match self {
            Service::OrderQuery => 8081,
            Service::DepositConfirmation => 8082,
            Service::PortoneGateway => 8083,
            Service::PortoneSandbox => 8089,
        }
    }

    /// The PostgreSQL schema the service owns.
    pub fn schema(&self) -> &'static str {
        match self {
            Service::OrderQuery => "order_query",
            Service::DepositConfirmation => "deposit_confirmation",
            Service::PortoneGateway => "portone_gateway",
            Service::PortoneSandbox => "portone_sandbox",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    fn parse(raw: &str) -> Result<Self, ConfigError> {
        match raw {
            "development" | "local" => Ok(Environment::Development),
            "test" => Ok(Environment::Test),
            "production" => Ok(Environment::Production),
            other => Err(ConfigError::invalid(
                "PAYBRIDGE_ENV",
                format!("'{other}' is not one of development, test, production"),
            )),
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Source(#[from] config::ConfigError),
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    pub fn invalid(key: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The settings every service reads. A service ignores the sections it has no use for.
#[derive(Debug, Clone)]
pub struct Settings {
    pub service: Service,
    pub environment: Environment,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub http: HttpSettings,
    pub api: ApiSettings,
    pub bankda: BankdaSettings,
    pub portone: PortoneSettings,
    pub orders: OrderSettings,
    pub outbox: OutboxSettings,
    pub shop: ShopSettings,
    pub log: LogSettings,
    pub retention: RetentionSettings,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// May carry a password, hence secret.
    pub url: Secret<String>,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
    /// Create the database at start-up when it is missing (the local stack turns this on).
    pub create_if_missing: bool,
    /// How long start-up waits for PostgreSQL before giving up.
    pub startup_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct AmqpSettings {
    pub url: Secret<String>,
    pub exchange: String,
    /// This service's queue; the dead-letter queue is `<queue>.dlq`.
    pub queue: String,
    pub prefetch: u16,
    /// Deliveries of one message before the broker dead-letters it.
    pub delivery_limit: u32,
    /// Let an idle queue vanish after this long (tests use it; production leaves it unset).
    pub queue_expires: Option<Duration>,
    /// A PEM file of CA certificates trusted, besides the system's, for an `amqps://` broker.
    pub tls_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub max_body_bytes: usize,
    /// When set, `/metrics` is served on this port, on a listener of its own, and not on `port`.
    pub metrics_port: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `api.tokens`: each a token, or `name:token` (see `http::auth`).
    pub tokens: Vec<ApiToken>,
}

#[derive(Debug, Clone)]
pub struct BankdaSettings {
    pub allowed_ips: Vec<IpNet>,
    pub trusted_proxies: Vec<IpNet>,
    pub max_confirm_batch: usize,
}

#[derive(Debug, Clone)]
pub struct PortoneSettings {
    pub base_url: String,
    pub imp_key: Option<String>,
    pub imp_secret: Option<Secret<String>>,
    pub channel_key: Option<String>,
    pub webhook_base_url: String,
    pub timeout: Duration,
    /// Most PortOne calls in flight at once in this process (`portone::Limiter`).
    pub max_concurrency: usize,
    /// How long a call waits for a free slot before it is refused as busy.
    pub queue_timeout: Duration,
    pub reconcile: ReconcileSettings,
    /// Who may call `/portone/webhook` and `/portone/cvs-confirm`; empty: anyone.
    pub webhook_allowed_ips: Vec<IpNet>,
    /// The proxies whose `X-Forwarded-For` is believed on those routes.
    pub trusted_proxies: Vec<IpNet>,
}

/// `portone.reconcile.*` (design §2, §5): when payments the gateway started are re-read at
/// PortOne, and how the sweep of PortOne's recent payments runs.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    pub first_after: Duration,
    pub every: Duration,
    pub max_every: Duration,
    pub sweep_every: Duration,
    pub sweep_window: Duration,
}

#[derive(Debug, Clone)]
pub struct OrderSettings {
    pub default_deposit_deadline: Duration,
    pub expiry_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct OutboxSettings {
    pub poll_interval: Duration,
    pub batch_size: u32,
}

#[derive(Debug, Clone)]
pub struct ShopSettings {
    /// The offset Bankda's `order_date` is written in.
    pub utc_offset: FixedOffset,
}

/// `retention.*` (README, "Retention"): how long kept rows live, and how often they are purged.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// Idempotency keys of refunds, charges and manual deposits.
    pub idempotency: Duration,
    /// Raw webhook records.
    pub webhooks: Duration,
    /// Consumed event ids; also the age past which `dlq replay` refuses an event.
    pub inbox: Duration,
    /// Deposit audit and operator actions.
    pub audit: Duration,
    pub purge_every: Duration,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub level: String,
    pub json: bool,
}

/// What the layers produce before parsing: text and plain numbers, as an operator wrote them.
#[derive(Debug, Deserialize)]
struct Raw {
    database: RawDatabase,
    amqp: RawAmqp,
    http: RawHttp,
    api: RawApi,
    bankda: RawBankda,
    portone: RawPortone,
    orders: RawOrders,
    outbox: RawOutbox,
    shop: RawShop,
    log: RawLog,
    retention: RawRetention,
}

#[derive(Debug, Deserialize)]
struct RawDatabase {
    url: String,
    pool_size: u32,
    acquire_timeout: String,
    statement_timeout: String,
    create_if_missing: bool,
    startup_timeout: String,
}
#[derive(Debug, Deserialize)]
struct RawAmqp {
    url: String,
    exchange: String,
    queue: Option<String>,
    prefetch: u16,
    delivery_limit: u32,
    queue_expires: Option<String>,
    tls_ca_file: Option<String>,
}
#[derive(Debug, Deserialize)]
struct RawHttp {
    host: String,
    port: Option<u16>,
    workers: usize,
    max_body_bytes: usize,
    metrics_port: Option<u16>,
}
#[derive(Debug, Deserialize)]
struct RawApi {
    #[serde(default)]
    tokens: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct RawBankda {
    #[serde(default)]
    allowed_ips: Vec<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    max_confirm_batch: usize,
}
#[derive(Debug, Deserialize)]
struct RawPortone {
    base_url: String,
    imp_key: Option<String>,
    imp_secret: Option<String>,
    channel_key: Option<String>,
    webhook_base_url: String,
    timeout: String,
    max_concurrency: usize,
    queue_timeout: String,
    reconcile: RawReconcile,
    #[serde(default)]
    webhook_allowed_ips: Vec<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct RawReconcile {
    first_after: String,
    every: String,
    max_every: String,
    sweep_every: String,
    sweep_window: String,
}
#[derive(Debug, Deserialize)]
struct RawOrders {
    default_deposit_deadline: String,
    expiry_interval: String,
}
#[derive(Debug, Deserialize)]
struct RawOutbox {
    poll_interval: String,
    batch_size: u32,
}
#[derive(Debug, Deserialize)]
struct RawShop {
    utc_offset: String,
}
#[derive(Debug, Deserialize)]
struct RawRetention {
    idempotency: String,
    webhooks: String,
    inbox: String,
    audit: String,
    purge_every: String,
}
#[derive(Debug, Deserialize)]
struct RawLog {
    level: String,
    format: String,
}

/// Built into every binary, so a service runs with no config files at all.
pub const BUILT_IN_DEFAULTS: &str = include_str!("defaults.toml");

/// The config files the project ships. Production refuses any API token that appears in them:
/// such a token is public.
const SHIPPED_CONFIG: &[&str] = &[
    BUILT_IN_DEFAULTS,
    include_str!("../../../config/default.toml"),
    include_str!("../../../config/development.toml"),
    include_str!("../../../docker-compose.yml"),
];

const LIST_KEYS: &[&str] = &[
    "api.tokens",
    "bankda.allowed_ips",
    "bankda.trusted_proxies",
    "portone.webhook_allowed_ips",
    "portone.trusted_proxies",
];

impl Settings {
    /// Reads every layer: defaults, `config/default.toml`, `config/$PAYBRIDGE_ENV.toml`, then
    /// `PAYBRIDGE__…` variables. The config folder is `$PAYBRIDGE_CONFIG_DIR`, else `./config`.
    pub fn load(service: Service) -> Result<Settings, ConfigError> {
        let environment = Environment::parse(
            &std::env::var("PAYBRIDGE_ENV").unwrap_or_else(|_| "development".into()),
        )?;
        let dir = std::env::var("PAYBRIDGE_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from("config"));
        let mut env_source = config::Environment::with_prefix("PAYBRIDGE")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .try_parsing(true);
        for key in LIST_KEYS {
            env_source = env_source.with_list_parse_key(key);
        }
        let builder = config::Config::builder()
            .add_source(config::File::from_str(
                BUILT_IN_DEFAULTS,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from(dir.join("default.toml")).required(false))
            .add_source(
                config::File::from(dir.join(format!("{}.toml", environment.as_str())))
                    .required(false),
            )
            .add_source(env_source);
        Self::from_builder(service, environment, builder)
    }

    /// Built-in defaults plus the given overrides, and nothing from files or the environment:
    /// what tests start services with.
    pub fn for_tests(
        service: Service,
        overrides: &[(&str, &str)],
    ) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            BUILT_IN_DEFAULTS,
            config::FileFormat::Toml,
        ));
        for (key, value) in overrides {
            builder = if LIST_KEYS.contains(key) {
                let list: Vec<String> = value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                builder.set_override(*key, list)?
            } else {
                builder.set_override(*key, *value)?
            };
        }
        Self::from_builder(service, Environment::Test, builder)
    }

    fn from_builder(
        service: Service,
        environment: Environment,
        builder: config::ConfigBuilder<config::builder::DefaultState>,
    ) -> Result<Settings, ConfigError> {
        let raw: Raw = builder.build()?.try_deserialize()?;
        let settings = Settings::parse(service, environment, raw)?;
        settings.check_for_environment()?;
        Ok(settings)
    }

    fn parse(
        service: Service,
        environment: Environment,
        raw: Raw,
    ) -> Result<Settings, ConfigError> {
        let RawLog { level, format } = raw.log;
        let json = match format.as_str() {
            "json" => true,
            "pretty" | "text" => false,
            other => {
                return Err(ConfigError::invalid(
                    "log.format",
                    format!("'{other}' is not json or pretty"),
                ))
            }
        };
        if raw.database.pool_size == 0 {
            return Err(ConfigError::invalid(
                "database.pool_size",
                "must be at least 1",
            ));
        }
        if raw.outbox.batch_size == 0 {
            return Err(ConfigError::invalid(
                "outbox.batch_size",
                "must be at least 1",
            ));
        }
        if raw.bankda.max_confirm_batch == 0 {
            return Err(ConfigError::invalid(
                "bankda.max_confirm_batch",
                "must be at least 1",
            ));
        }
        if let (Some(metrics), Some(port)) = (raw.http.metrics_port, raw.http.port) {
            if metrics != 0 && metrics == port {
                return Err(ConfigError::invalid(
                    "http.metrics_port",
                    "must differ from http.port",
                ));
            }
        }
        if raw.portone.max_concurrency == 0 {
            return Err(ConfigError::invalid(
                "portone.max_concurrency",
                "must be at least 1",
            ));
        }
        if raw.amqp.prefetch == 0 {
            return Err(ConfigError::invalid("amqp.prefetch", "must be at least 1"));
        }
        if raw.amqp.delivery_limit == 0 {
            return Err(ConfigError::invalid(
                "amqp.delivery_limit",
                "must be at least 1",
            ));
        }
        let tokens: Vec<ApiToken> = raw
            .api
            .tokens
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(|t| {
                ApiToken::parse(t).map_err(|e| ConfigError::invalid("api.tokens", e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let none_if_blank = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let amqp_url = parse_url("amqp.url", &raw.amqp.url, &["amqp", "amqps"])?;
        let tls_ca_file = none_if_blank(raw.amqp.tls_ca_file).map(PathBuf::from);
        // A CA file beside a plaintext URL would look like TLS in a review and be none.
        if tls_ca_file.is_some() && !amqp_url.starts_with("amqps://") {
            return Err(ConfigError::invalid(
                "amqp.tls_ca_file",
                "is set, but amqp.url is not amqps://: the broker would be reached without TLS",
            ));
        }
        Ok(Settings {
            service,
            environment,
            database: DatabaseSettings {
                url: Secret::new(parse_database_url(&raw.database.url)?),
                pool_size: raw.database.pool_size,
                acquire_timeout: parse_duration(
                    "database.acquire_timeout",
                    &raw.database.acquire_timeout,
                )?,
                statement_timeout: parse_duration(
                    "database.statement_timeout",
                    &raw.database.statement_timeout,
                )?,
                create_if_missing: raw.database.create_if_missing,
                startup_timeout: parse_duration(
                    "database.startup_timeout",
                    &raw.database.startup_timeout,
                )?,
            },
            amqp: AmqpSettings {
                url: Secret::new(amqp_url),
                exchange: non_empty("amqp.exchange", raw.amqp.exchange)?,
                queue: match none_if_blank(raw.amqp.queue) {
                    Some(q) => q,
                    None => format!("{}.events", service.name()),
                },
                prefetch: raw.amqp.prefetch,
                delivery_limit: raw.amqp.delivery_limit,
                queue_expires: none_if_blank(raw.amqp.queue_expires)
                    .map(|v| parse_duration("amqp.queue_expires", &v))
                    .transpose()?,
                tls_ca_file,
            },
            http: HttpSettings {
                host: raw.http.host,
                port: raw.http.port.unwrap_or_else(|| service.default_port()),
                workers: raw.http.workers,
                max_body_bytes: raw.http.max_body_bytes,
                metrics_port: raw.http.metrics_port,
            },
            api: ApiSettings { tokens },
            bankda: BankdaSettings {
                allowed_ips: parse_cidrs("bankda.allowed_ips", &raw.bankda.allowed_ips)?,
                trusted_proxies: parse_cidrs(
                    "bankda.trusted_proxies",
                    &raw.bankda.trusted_proxies,
                )?,
                max_confirm_batch: raw.bankda.max_confirm_batch,
            },
            portone: PortoneSettings {
                base_url: parse_url(
                    "portone.base_url",
                    &raw.portone.base_url,
                    &["http", "https"],
                )?,
                imp_key: none_if_blank(raw.portone.imp_key),
                imp_secret: none_if_blank(raw.portone.imp_secret).map(Secret::new),
                channel_key: none_if_blank(raw.portone.channel_key),
                webhook_base_url: parse_url(
                    "portone.webhook_base_url",
                    &raw.portone.webhook_base_url,
                    &["http", "https"],
                )?,
                timeout: parse_duration("portone.timeout", &raw.portone.timeout)?,
                max_concurrency: raw.portone.max_concurrency,
                queue_timeout: parse_duration("portone.queue_timeout", &raw.portone.queue_timeout)?,
                reconcile: parse_reconcile(&raw.portone.reconcile)?,
                webhook_allowed_ips: parse_cidrs(
                    "portone.webhook_allowed_ips",
                    &raw.portone.webhook_allowed_ips,
                )?,
                trusted_proxies: parse_cidrs(
                    "portone.trusted_proxies",
                    &raw.portone.trusted_proxies,
                )?,
            },
            orders: OrderSettings {
                default_deposit_deadline: parse_duration(
                    "orders.default_deposit_deadline",
                    &raw.orders.default_deposit_deadline,
                )?,
                expiry_interval: parse_duration(
                    "orders.expiry_interval",
                    &raw.orders.expiry_interval,
                )?,
            },
            outbox: OutboxSettings {
                poll_interval: parse_duration("outbox.poll_interval", &raw.outbox.poll_interval)?,
                batch_size: raw.outbox.batch_size,
            },
            shop: ShopSettings {
                utc_offset: raw.shop.utc_offset.parse::<FixedOffset>().map_err(|_| {
                    ConfigError::invalid(
                        "shop.utc_offset",
                        format!("'{}' is not an offset like +09:00", raw.shop.utc_offset),
                    )
                })?,
            },
            log: LogSettings { level, json },
            retention: parse_retention(&raw.retention)?,
        })
    }

    /// Production refuses to run with what is only fit for a laptop.
    fn check_for_environment(&self) -> Result<(), ConfigError> {
        if self.environment != Environment::Production {
            return Ok(());
        }
        if matches!(
            self.service,
            Service::OrderQuery | Service::DepositConfirmation | Service::PortoneGateway
        ) && self.api.tokens.is_empty()
        {
            return Err(ConfigError::invalid(
                "api.tokens",
                "production needs at least one API token",
            ));
        }
        for token in self.api.tokens.iter().map(ApiToken::secret) {
            if token.expose().len() < 16 {
                return Err(ConfigError::invalid(
                    "api.tokens",
                    "production tokens must be at least 16 characters",
                ));
            }
            if SHIPPED_CONFIG
                .iter()
                .any(|file| file.contains(token.expose().as_str()))
            {
                return Err(ConfigError::invalid(
                    "api.tokens",
                    "a token appears in a config file shipped with paybridge; it is public, choose another",
                ));
            }
        }
        if self.service == Service::PortoneGateway {
            for (key, missing) in [
                ("portone.imp_key", self.portone.imp_key.is_none()),
                ("portone.imp_secret", self.portone.imp_secret.is_none()),
                ("portone.channel_key", self.portone.channel_key.is_none()),
            ] {
                if missing {
                    return Err(ConfigError::invalid(key, "production needs it set"));
                }
            }
            if let Some(secret) = &self.portone.imp_secret {
                if SHIPPED_CONFIG
                    .iter()
                    .any(|file| file.contains(secret.expose().as_str()))
                {
                    return Err(ConfigError::invalid(
                        "portone.imp_secret",
                        "the value appears in a shipped config file",
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn listen_address(&self) -> String {
        format!("{}:{}", self.http.host, self.http.port)
    }
}

fn non_empty(key: &str, value: String) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::invalid(key, "must not be empty"))
    } else {
        Ok(value)
    }
}

fn parse_url(key: &str, raw: &str, schemes: &[&str]) -> Result<String, ConfigError> {
    let url =
        url::Url::parse(raw).map_err(|e| ConfigError::invalid(key, format!("not a URL ({e})")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(ConfigError::invalid(
            key,
            format!("scheme must be one of {}", schemes.join(", ")),
        ));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// A `postgres://` URL whose TLS parameters (`sslmode`, `sslrootcert`) make sense; the reason never
/// repeats the URL, which may carry a password.
fn parse_database_url(raw: &str) -> Result<String, ConfigError> {
    let url = parse_url("database.url", raw, &["postgres", "postgresql"])?;
    crate::postgres::PgTarget::parse(&url)
        .map_err(|reason| ConfigError::invalid("database.url", reason))?;
    Ok(url)
}

fn parse_retention(raw: &RawRetention) -> Result<RetentionSettings, ConfigError> {
    let positive = |key: &str, value: &str| -> Result<Duration, ConfigError> {
        let d = parse_duration(key, value)?;
        if d.is_zero() {
            return Err(ConfigError::invalid(key, "must be longer than 0"));
        }
        Ok(d)
    };
    Ok(RetentionSettings {
        idempotency: positive("retention.idempotency", &raw.idempotency)?,
        webhooks: positive("retention.webhooks", &raw.webhooks)?,
        inbox: positive("retention.inbox", &raw.inbox)?,
        audit: positive("retention.audit", &raw.audit)?,
        purge_every: positive("retention.purge_every", &raw.purge_every)?,
    })
}

fn parse_cidrs(key: &str, raw: &[String]) -> Result<Vec<IpNet>, ConfigError> {
    raw.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError::invalid(key, format!("'{s}' is not a CIDR such as 203.0.113.0/24"))
                })
        })
        .collect()
}

/// PortOne's payment searches span at most 90 days.
const SWEEP_WINDOW_MAX: Duration = Duration::from_secs(90 * 86400);

fn parse_reconcile(raw: &RawReconcile) -> Result<ReconcileSettings, ConfigError> {
    let positive = |key: &str, value: &str| -> Result<Duration, ConfigError> {
        let d = parse_duration(key, value)?;
        if d.is_zero() {
            return Err(ConfigError::invalid(key, "must be longer than 0"));
        }
        Ok(d)
    };
    let r = ReconcileSettings {
        first_after: positive("portone.reconcile.first_after", &raw.first_after)?,
        every: positive("portone.reconcile.every", &raw.every)?,
        max_every: positive("portone.reconcile.max_every", &raw.max_every)?,
        sweep_every: positive("portone.reconcile.sweep_every", &raw.sweep_every)?,
        sweep_window: positive("portone.reconcile.sweep_window", &raw.sweep_window)?,
    };
    if r.max_every < r.every {
        return Err(ConfigError::invalid(
            "portone.reconcile.max_every",
            "must be at least portone.reconcile.every",
        ));
    }
    if r.sweep_window > SWEEP_WINDOW_MAX {
        return Err(ConfigError::invalid(
            "portone.reconcile.sweep_window",
            "PortOne's payment search spans at most 90 days",
        ));
    }
    Ok(r)
}

/// `500ms`, `30s`, `15m`, `24h`, `7d`, `5y` (a year is 365 days).
pub fn parse_duration(key: &str, raw: &str) -> Result<Duration, ConfigError> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().map_err(|_| {
        ConfigError::invalid(
            key,
            format!("'{raw}' is not a duration such as 30s, 15m, 7d or 5y"),
        )
    })?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86400),
        "y" => Duration::from_secs(n * 365 * 86400),
        _ => {
            return Err(ConfigError::invalid(
                key,
                format!("'{raw}' is not a duration such as 30s, 15m, 7d or 5y"),
            ))
        }
    };
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design() {
        let s = Settings::for_tests(Service::OrderQuery, &[]).unwrap();
        assert_eq!(
            s.database.url.expose(),
            "postgres://postgres@localhost:5432/paybridge"
        );
        assert_eq!(s.amqp.url.expose(), "amqp://guest:guest@localhost:5672/%2f");
        assert_eq!(s.amqp.exchange, "paybridge.events");
        assert_eq!(s.amqp.queue, "order-query.events");
        assert_eq!(s.http.port, 8081);
        assert!(s.api.tokens.is_empty());
        assert_eq!(
            s.bankda.allowed_ips,
            vec![
                "127.0.0.1/32".parse::<IpNet>().unwrap(),
                "::1/128".parse().unwrap()
            ]
        );
        assert!(s.bankda.trusted_proxies.is_empty());
        assert_eq!(s.bankda.max_confirm_batch, 1000);
        assert_eq!(s.portone.base_url, "https://api.iamport.kr");
        assert_eq!(s.portone.webhook_base_url, "http://localhost:8083");
        assert_eq!(
            (s.portone.max_concurrency, s.portone.queue_timeout),
            (16, Duration::from_secs(2))
        );
        let r = &s.portone.reconcile;
        assert_eq!(
            (
                r.first_after,
                r.every,
                r.max_every,
                r.sweep_every,
                r.sweep_window
            ),
            (
                Duration::from_secs(60),
                Duration::from_secs(300),
                Duration::from_secs(3600),
                Duration::from_secs(600),
                Duration::from_secs(6 * 3600)
            )
        );
        assert_eq!(
            s.orders.default_deposit_deadline,
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(s.shop.utc_offset.local_minus_utc(), 9 * 3600);
        let s = Settings::for_tests(Service::PortoneGateway, &[]).unwrap();
        assert_eq!(
            (s.http.port, s.amqp.queue.as_str()),
            (8083, "portone-gateway.events")
        );
    }

    #[test]
    fn errors_name_the_bad_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("bankda.allowed_ips", "10.0.0/8", "bankda.allowed_ips"),
            ("bankda.trusted_proxies", "nope", "bankda.trusted_proxies"),
            ("database.url", "mysql://x", "database.url"),
            (
                "orders.default_deposit_deadline",
                "7 weeks",
                "orders.default_deposit_deadline",
            ),
            ("shop.utc_offset", "KST", "shop.utc_offset"),
            ("http.port", "eighty", "http.port"),
            ("bankda.max_confirm_batch", "0", "bankda.max_confirm_batch"),
            ("portone.reconcile.every", "0s", "portone.reconcile.every"),
            ("portone.max_concurrency", "0", "portone.max_concurrency"),
            ("portone.queue_timeout", "2 s", "portone.queue_timeout"),
            (
                "portone.reconcile.max_every",
                "1m",
                "portone.reconcile.max_every",
            ),
            (
                "portone.reconcile.sweep_window",
                "91d",
                "portone.reconcile.sweep_window",
            ),
            (
                "database.url",
                "postgres://u:pw@h/d?sslmode=verify",
                "sslmode 'verify'",
            ),
            ("retention.inbox", "0d", "retention.inbox"),
            ("retention.audit", "5 years", "retention.audit"),
            ("retention.purge_every", "soon", "retention.purge_every"),
            ("amqp.tls_ca_file", "/etc/ca.pem", "amqp.tls_ca_file"),
        ];
        for (key, value, named) in cases {
            let err = Settings::for_tests(Service::OrderQuery, &[(key, value)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(named),
                "error for {key}={value} does not name the key: {err}"
            );
        }
    }

    #[test]
    fn retention_and_tls_settings() {
        let s = Settings::for_tests(Service::DepositConfirmation, &[]).unwrap();
        let r = &s.retention;
        assert_eq!(
            (r.idempotency, r.webhooks, r.inbox, r.audit, r.purge_every),
            (
                Duration::from_secs(30 * 86400),
                Duration::from_secs(90 * 86400),
                Duration::from_secs(90 * 86400),
                Duration::from_secs(5 * 365 * 86400),
                Duration::from_secs(3600)
            )
        );
        assert_eq!(s.amqp.tls_ca_file, None);
        let s = Settings::for_tests(
            Service::OrderQuery,
            &[
                ("amqp.url", "amqps://u:p@mq.example:5671/%2f"),
                ("amqp.tls_ca_file", "/etc/paybridge-ca/ca.pem"),
                (
                    "database.url",
                    "postgres://u:p@db.example/app?sslmode=verify-full&sslrootcert=/etc/paybridge-ca/ca.pem",
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            s.amqp.tls_ca_file.as_deref(),
            Some(std::path::Path::new("/etc/paybridge-ca/ca.pem"))
        );
        // The error about a database URL never repeats it: it may hold a password.
        let err = Settings::for_tests(
            Service::OrderQuery,
            &[("database.url", "postgres://u:hunter2@h/d?sslmode=maybe")],
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn lists_and_single_addresses() {
        let s = Settings::for_tests(
            Service::OrderQuery,
            &[
                ("bankda.allowed_ips", "203.0.113.7,198.51.100.0/24"),
                ("api.tokens", "a,b"),
            ],
        )
        .unwrap();
        assert_eq!(s.bankda.allowed_ips.len(), 2);
        assert_eq!(s.bankda.allowed_ips[0].to_string(), "203.0.113.7/32");
        assert_eq!(s.api.tokens.len(), 2);
        let shown = format!("{:?}", s.api.tokens);
        assert!(shown.contains("*** masked ***"), "{shown}");
        assert!(
            !shown.contains("\"a\"") && !shown.contains("\"b\""),
            "{shown}"
        );
    }

    #[test]
    fn trust_boundary_keys() {
        let s = Settings::for_tests(Service::PortoneGateway, &[]).unwrap();
        assert!(s.portone.webhook_allowed_ips.is_empty());
        assert!(s.portone.trusted_proxies.is_empty());
        assert_eq!(s.http.metrics_port, None);
        let s = Settings::for_tests(
            Service::PortoneGateway,
            &[
                (
                    "portone.webhook_allowed_ips",
                    "52.78.100.19,52.78.48.223/32",
                ),
                ("portone.trusted_proxies", "10.0.0.0/8"),
                ("http.metrics_port", "9464"),
            ],
        )
        .unwrap();
        assert_eq!(s.portone.webhook_allowed_ips.len(), 2);
        assert_eq!(s.portone.trusted_proxies[0].to_string(), "10.0.0.0/8");
        assert_eq!(s.http.metrics_port, Some(9464));
        for (key, value) in [
            ("portone.webhook_allowed_ips", "52.78.100"),
            ("portone.trusted_proxies", "x"),
        ] {
            let err = Settings::for_tests(Service::PortoneGateway, &[(key, value)])
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(key), "{err}");
        }
        let err = Settings::for_tests(
            Service::OrderQuery,
            &[("http.port", "8081"), ("http.metrics_port", "8081")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("http.metrics_port"), "{err}");
    }

    #[test]
    fn named_tokens() {
        let s = Settings::for_tests(
            Service::OrderQuery,
            &[(
                "api.tokens",
                "ops.kim:first-secret-token,second-secret-token",
            )],
        )
        .unwrap();
        let names: Vec<&str> = s.api.tokens.iter().map(|t| t.actor().as_str()).collect();
        assert_eq!(names[0], "ops.kim");
        assert!(names[1].starts_with("token-"));
        assert_eq!(s.api.tokens[0].secret().expose(), "first-secret-token");
        // A bad name is refused, and the error shows no part of the entry.
        let err = Settings::for_tests(Service::OrderQuery, &[("api.tokens", "Kim:hidden-secret")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("api.tokens"), "{err}");
        assert!(!err.contains("hidden") && !err.contains("Kim"), "{err}");
        // Production judges the token part: a long name does not make a short token long.
        let err = production(
            Service::OrderQuery,
            &[("api.tokens", "a-very-long-operator-name:short")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("at least 16"), "{err}");
        let err = production(
            Service::OrderQuery,
            &[("api.tokens", "ops:dev-token-change-me")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("shipped"), "{err}");
        assert!(production(
            Service::OrderQuery,
            &[("api.tokens", "ops:a-long-private-production-token")]
        )
        .is_ok());
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("k", "250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            parse_duration("k", "7d").unwrap(),
            Duration::from_secs(604800)
        );
        assert_eq!(
            parse_duration("k", "5y").unwrap(),
            Duration::from_secs(5 * 365 * 86400)
        );
        assert!(parse_duration("k", "7").is_err());
        assert!(parse_duration("k", "d").is_err());
    }

    fn production(service: Service, overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            BUILT_IN_DEFAULTS,
            config::FileFormat::Toml,
        ));
        for (k, v) in overrides {
            builder = if LIST_KEYS.contains(k) {
                builder.set_override(*k, vec![v.to_string()]).unwrap()
            } else {
                builder.set_override(*k, *v).unwrap()
            };
        }
        Settings::from_builder(service, Environment::Production, builder)
    }

    #[test]
    fn production_refuses_missing_and_public_secrets() {
        let err = production(Service::OrderQuery, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("api.tokens"), "{err}");
        let err = production(
            Service::OrderQuery,
            &[("api.tokens", "dev-token-change-me")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("shipped"), "{err}");
        assert!(production(
            Service::OrderQuery,
            &[("api.tokens", "a-long-private-production-token")]
        )
        .is_ok());
        let err = production(
            Service::PortoneGateway,
            &[("api.tokens", "a-long-private-production-token")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("portone.imp_key"), "{err}");
    }
}
