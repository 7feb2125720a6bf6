//! What every service binary shares: its commands (`serve`, `migrate`, `healthcheck`), and a
//! built service's lifecycle (its HTTP server and background tasks, stopped together within
//! [`STOP_WITHIN`] of SIGTERM).

use crate::config::{Service, Settings};
use actix_web::dev::Server;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// From SIGTERM to the process exit: Kubernetes' grace period and compose's `stop_grace_period`
/// are set above this (design §3.4).
pub const STOP_WITHIN: Duration = Duration::from_secs(10);
/// What the HTTP server gets to finish the requests in flight; the rest of [`STOP_WITHIN`] is
/// margin for the background tasks and the exit itself.
pub const HTTP_DRAIN_SECS: u64 = 8;
/// When whatever is still running is abandoned. Abandoning is safe: an unfinished outbox batch
/// rolls back and is published again later, and unacked deliveries go back to the broker when
/// the connection closes.
const GIVE_UP_AFTER: Duration = Duration::from_millis(9_000);

/// How long a background task may take, once asked to stop, to finish the step it is in (the
/// relay's batch, the consumer's transaction, a call to PortOne) before it drops it.
pub const TASK_GRACE: Duration = Duration::from_secs(5);

/// Completes [`TASK_GRACE`] after `shutdown` is cancelled: race a task's step against it, so
/// that a step stuck on an unreachable dependency cannot hold the exit.
pub async fn grace_expired(shutdown: &CancellationToken) {
    shutdown.cancelled().await;
    tokio::time::sleep(TASK_GRACE).await;
}

/// A service that is built and listening. Tests start one on port 0 and read the port here.
pub struct Running {
    port: u16,
    server: Server,
    /// `/metrics` on its own listener (`http.metrics_port`), when it has one.
    metrics: Option<(u16, Server)>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    signals: StopSignals,
}

impl Running {
    /// Takes over a started server (built with `.disable_signals()`: this handles them) and the
    /// background tasks that watch `shutdown`. Cancelling `shutdown`, SIGTERM or SIGINT stop the
    /// server gracefully and the tasks with it.
    pub fn new(
        port: u16,
        server: Server,
        shutdown: CancellationToken,
        tasks: Vec<JoinHandle<()>>,
    ) -> Self {
        crate::http::stop_on_cancel(server.handle(), shutdown.clone());
        Self {
            port,
            server,
            metrics: None,
            shutdown,
            tasks,
            // Listening from here on, not from `run_until_stopped`: the server already accepts.
            signals: StopSignals::listen(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Adds the `/metrics` listener that [`crate::http::Basics::serve_metrics`] started, to be
    /// stopped with the rest.
    pub fn with_metrics(mut self, metrics: Option<crate::http::MetricsServer>) -> Self {
        if let Some(m) = metrics {
            let port = m.port();
            let server = m.into_server();
            crate::http::stop_on_cancel(server.handle(), self.shutdown.clone());
            self.metrics = Some((port, server));
        }
        self
    }

    /// The port `/metrics` listens on when `http.metrics_port` is set (the bound one, for port 0).
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// Cancel it to stop the server and every background task.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until a stop signal or the token, then stops everything at once: the listener
    /// closes (new connections are refused), requests in flight finish, the relay finishes its
    /// batch and the consumer lets go of its deliveries, all in parallel and within
    /// [`STOP_WITHIN`]. A stop on request is a success: `Ok` (exit code 0).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Running {
            mut server,
            metrics,
            shutdown,
            tasks,
            mut signals,
            ..
        } = self;
        // The metrics listener has no requests that matter: it runs until the stop and is
        // awaited with the background tasks.
        let metrics = metrics.map(|(_, server)| tokio::spawn(server));
        let finished = tokio::select! {
            result = &mut server => Some(result),
            signal = signals.recv() => {
                tracing::info!(signal, "stopping: draining requests and background tasks");
                None
            }
            _ = shutdown.cancelled() => None,
        };
        let give_up = tokio::time::Instant::now() + GIVE_UP_AFTER;
        let started = Instant::now();
        // Cancelling stops the server too (see `stop_on_cancel`), so both drain together.
        shutdown.cancel();
        let result = match finished {
            Some(result) => result,
            None => match tokio::time::timeout_at(give_up, server).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!("requests still in flight at the stop deadline; dropped");
                    Ok(())
                }
            },
        };
        if let Some(mut metrics) = metrics {
            if tokio::time::timeout_at(give_up, &mut metrics)
                .await
                .is_err()
            {
                metrics.abort();
            }
        }
        for mut task in tasks {
            if tokio::time::timeout_at(give_up, &mut task).await.is_err() {
                tracing::warn!("a background task did not stop in time; abandoned");
                task.abort();
            }
        }
        tracing::info!(took_ms = started.elapsed().as_millis() as u64, "stopped");
        result
    }
}

/// SIGTERM (Kubernetes, compose, systemd) and SIGINT (Ctrl-C) both mean "drain and exit 0".
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let open = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, signal = name, "cannot listen for the signal");
                    None
                }
            };
            Self {
                term: open(SignalKind::terminate(), "SIGTERM"),
                int: open(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = next(&mut self.term) => "SIGTERM",
                _ = next(&mut self.int) => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// What the binary was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Apply migrations, then serve (the default).
    Serve,
    /// Apply migrations and exit, e.g. from a Kubernetes init container or job.
    Migrate,
    /// GET this service's own `/health` and exit 0 if it answers 200: a container HEALTHCHECK
    /// that needs nothing but the binary.
    Healthcheck,
    /// Act on the service's dead-lettered events (design §3.4); `messaging::dlq` carries it out.
    Dlq(DlqAction),
}

/// `dlq list | replay (--all | --event-id ID) | discard --event-id ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DlqAction {
    List,
    Replay(DlqSelection),
    Discard { event_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DlqSelection {
    All,
    EventId(String),
}

pub const DLQ_USAGE: &str =
    "usage: dlq list | dlq replay (--all | --event-id ID) | dlq discard --event-id ID";

impl DlqAction {
    /// The words after `dlq`.
    pub fn parse(args: &[&str]) -> anyhow::Result<DlqAction> {
        match args {
            ["list"] => Ok(DlqAction::List),
            ["replay", "--all"] => Ok(DlqAction::Replay(DlqSelection::All)),
            ["replay", "--event-id", id] => {
                Ok(DlqAction::Replay(DlqSelection::EventId(id.to_string())))
            }
            ["discard", "--event-id", id] => Ok(DlqAction::Discard {
                event_id: id.to_string(),
            }),
            _ => anyhow::bail!(DLQ_USAGE),
        }
    }
}

/// Loads `service`'s settings, starts its logs and reads the command line. `migrate` is offered
/// only by services that own a schema.
pub fn start(service: Service, has_schema: bool) -> anyhow::Result<(Settings, Command)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let command = parse_command(&args, has_schema)?;
    let settings = Settings::load(service)?;
    // A health check prints one line and `dlq` prints JSON lines: the service's logs would only
    // be noise in their output.
    if !matches!(command, Command::Healthcheck | Command::Dlq(_)) {
        crate::telemetry::init(service.name(), &settings.log.level, settings.log.json);
    }
    Ok((settings, command))
}

/// The commands a binary offers, for the usage line. A new command goes here and in
/// [`parse_command`]'s match.
fn command_names(has_schema: bool) -> Vec<&'static str> {
    let mut names = vec!["`serve` (default)"];
    if has_schema {
        names.push("`migrate`");
        names.push("`dlq`");
    }
    names.push("`healthcheck`");
    names
}

fn usage(has_schema: bool) -> String {
    let names = command_names(has_schema);
    match names.split_last() {
        Some((last, [])) => format!("use {last}"),
        Some((last, rest)) => format!("use {} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `args` are the command-line arguments after the program name.
pub fn parse_command(args: &[&str], has_schema: bool) -> anyhow::Result<Command> {
    let Some((&name, rest)) = args.split_first() else {
        return Ok(Command::Serve);
    };
    let command = match name {
        // Every service with a schema consumes events, and so has dead letters.
        "dlq" if has_schema => return Ok(Command::Dlq(DlqAction::parse(rest)?)),
        "serve" => Command::Serve,
        "migrate" if has_schema => Command::Migrate,
        "healthcheck" => Command::Healthcheck,
        other => anyhow::bail!("unknown command '{other}'; {}", usage(has_schema)),
    };
    if let Some(extra) = rest.first() {
        anyhow::bail!("`{name}` takes no arguments, got '{extra}'");
    }
    Ok(command)
}

/// How long the health check waits for its own service, connecting and reading together.
pub const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `<binary> healthcheck`: GETs `/health` on the port the service listens on, prints one line
/// and returns (exit 0) when it answered 200; otherwise prints why on stderr and exits 1 here,
/// so that no error report (or `RUST_BACKTRACE` trace) of main's adds lines to a probe's log.
pub fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
    let host = probe_host(&settings.http.host);
    match probe(&host, settings.http.port, HEALTHCHECK_TIMEOUT) {
        Ok(line) => {
            println!("{line}");
            Ok(())
        }
        Err(why) => {
            eprintln!("{why}");
            std::process::exit(1);
        }
    }
}

/// The service listens on `http.host`; a wildcard address is reached through loopback.
fn probe_host(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => Ipv6Addr::LOCALHOST.to_string(),
        _ => host.to_owned(),
    }
}

/// A bare HTTP/1.0 GET over a std socket: no client library or runtime for a one-shot probe.
fn probe(host: &str, port: u16, timeout: Duration) -> anyhow::Result<String> {
    let display = if host.contains(':') {
        format!("http://[{host}]:{port}/health")
    } else {
        format!("http://{host}:{port}/health")
    };
    let fail = |why: String| anyhow::anyhow!("unhealthy: GET {display}: {why}");
    let deadline = Instant::now() + timeout;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| fail(format!("cannot resolve: {e}")))?
        .next()
        .ok_or_else(|| fail("no address".into()))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail(e.to_string()))?;
    let remaining = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    stream
        .set_write_timeout(Some(remaining()))
        .and_then(|_| {
            stream.write_all(
                format!("GET /health HTTP/1.0\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
        })
        .map_err(|e| fail(e.to_string()))?;
    // Only the status line matters; read until it is complete or the deadline passes.
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        if Instant::now() >= deadline {
            return Err(fail(format!("no answer within {timeout:?}")));
        }
        stream
            .set_read_timeout(Some(remaining()))
            .map_err(|e| fail(e.to_string()))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(fail(format!("no answer within {timeout:?}")))
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let status_line = line.lines().next().unwrap_or("").trim();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(200) => Ok(format!("healthy: GET {display} answered 200")),
        Some(code) => Err(fail(format!("answered {code}"))),
        None => Err(fail(format!("not an HTTP answer: {status_line:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse_command(&[], true).unwrap(), Command::Serve);
        assert_eq!(parse_command(&["serve"], false).unwrap(), Command::Serve);
        assert_eq!(parse_command(&["migrate"], true).unwrap(), Command::Migrate);
        assert_eq!(
            parse_command(&["healthcheck"], true).unwrap(),
            Command::Healthcheck
        );
        assert_eq!(
            parse_command(&["healthcheck"], false).unwrap(),
            Command::Healthcheck
        );
        assert_eq!(
            parse_command(&["migrate"], false).unwrap_err().to_string(),
            "unknown command 'migrate'; use `serve` (default) or `healthcheck`"
        );
        assert_eq!(
            parse_command(&["serv"], true).unwrap_err().to_string(),
            "unknown command 'serv'; use `serve` (default), `migrate`, `dlq` or `healthcheck`"
        );
        assert_eq!(
            parse_command(&["healthcheck", "--verbose"], true)
                .unwrap_err()
                .to_string(),
            "`healthcheck` takes no arguments, got '--verbose'"
        );
    }

    #[test]
    fn dlq_commands() {
        let dlq = |args: &[&str]| parse_command(args, true);
        assert_eq!(
            dlq(&["dlq", "list"]).unwrap(),
            Command::Dlq(DlqAction::List)
        );
        assert_eq!(
            dlq(&["dlq", "replay", "--all"]).unwrap(),
            Command::Dlq(DlqAction::Replay(DlqSelection::All))
        );
        assert_eq!(
            dlq(&["dlq", "replay", "--event-id", "e1"]).unwrap(),
            Command::Dlq(DlqAction::Replay(DlqSelection::EventId("e1".into())))
        );
        assert_eq!(
            dlq(&["dlq", "discard", "--event-id", "e1"]).unwrap(),
            Command::Dlq(DlqAction::Discard {
                event_id: "e1".into()
            })
        );
        for bad in [
            &["dlq"][..],
            &["dlq", "replay"],
            &["dlq", "discard", "--all"],
            &["dlq", "list", "extra"],
            &["dlq", "purge"],
        ] {
            assert_eq!(dlq(bad).unwrap_err().to_string(), DLQ_USAGE, "{bad:?}");
        }
        // The sandbox consumes nothing: it has no dead letters.
        assert!(parse_command(&["dlq", "list"], false).is_err());
    }

    #[test]
    fn a_wildcard_listen_address_is_probed_through_loopback() {
        assert_eq!(probe_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(probe_host("::"), "::1");
        assert_eq!(probe_host("127.0.0.1"), "127.0.0.1");
        assert_eq!(probe_host("10.1.2.3"), "10.1.2.3");
    }

    /// A one-shot server that answers `reply` to the first connection, and the request it got.
    fn serve_once(reply: &'static str) -> (u16, std::thread::JoinHandle<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let n = conn.read(&mut request).unwrap();
            conn.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        (port, handle)
    }

    #[test]
    fn healthy_only_on_200() {
        let (port, server) =
            serve_once("HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}");
        assert_eq!(
            probe("127.0.0.1", port, HEALTHCHECK_TIMEOUT).unwrap(),
            format!("healthy: GET http://127.0.0.1:{port}/health answered 200")
        );
        assert!(server
            .join()
            .unwrap()
            .starts_with("GET /health HTTP/1.0\r\n"));

        let (port, _server) = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert_eq!(
            probe("127.0.0.1", port, HEALTHCHECK_TIMEOUT)
                .unwrap_err()
                .to_string(),
            format!("unhealthy: GET http://127.0.0.1:{port}/health: answered 503")
        );

        let (port, _server) = serve_once("SSH-2.0-OpenSSH\r\n");
        assert!(probe("127.0.0.1", port, HEALTHCHECK_TIMEOUT)
            .unwrap_err()
            .to_string()
            .contains("not an HTTP answer"));
    }

    #[test]
    fn unhealthy_when_nothing_listens_or_nothing_answers() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(probe("127.0.0.1", closed, HEALTHCHECK_TIMEOUT)
            .unwrap_err()
            .to_string()
            .starts_with(&format!(
                "unhealthy: GET http://127.0.0.1:{closed}/health: "
            )));

        // Accepts (the backlog does) but never answers: the timeout bounds the wait.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let started = Instant::now();
        let err = probe("127.0.0.1", port, Duration::from_millis(300)).unwrap_err();
        assert!(err.to_string().contains("no answer within 300ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
