//! What every service binary shares: the `serve`/`migrate` switch, and a built service's
//! lifecycle (its HTTP server and background tasks, stopped together).

use crate::config::{Service, Settings};
use actix_web::dev::Server;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A service that is built and listening. Tests start one on port 0 and read the port here.
pub struct Running {
    port: u16,
    server: Server,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Takes over a started server and the background tasks that watch `shutdown`. Cancelling
    /// `shutdown` stops the server gracefully; the server stopping (e.g. on SIGTERM) cancels
    /// `shutdown`, so that the tasks end too.
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
            shutdown,
            tasks,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cancel it to stop the server and every background task.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until stopped, then waits for the background tasks (a relay finishing its batch).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        result
    }
}

/// What the binary was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Apply migrations, then serve (the default).
    Serve,
    /// Apply migrations and exit, e.g. from a Kubernetes init container or job.
    Migrate,
}

/// Loads `service`'s settings, starts its logs and reads the command line. `migrate` is offered
/// only by services that own a schema.
pub fn start(service: Service, has_schema: bool) -> anyhow::Result<(Settings, Command)> {
    let command = parse_command(std::env::args().nth(1).as_deref(), has_schema)?;
    let settings = Settings::load(service)?;
    crate::telemetry::init(service.name(), &settings.log.level, settings.log.json);
    Ok((settings, command))
}

fn parse_command(arg: Option<&str>, has_schema: bool) -> anyhow::Result<Command> {
    match arg {
        None | Some("serve") => Ok(Command::Serve),
        Some("migrate") if has_schema => Ok(Command::Migrate),
        Some(other) if has_schema => {
            anyhow::bail!("unknown command '{other}'; use `serve` (default) or `migrate`")
        }
        Some(other) => anyhow::bail!("unknown command '{other}'; use `serve` (default)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse_command(None, true).unwrap(), Command::Serve);
        assert_eq!(parse_command(Some("serve"), false).unwrap(), Command::Serve);
        assert_eq!(
            parse_command(Some("migrate"), true).unwrap(),
            Command::Migrate
        );
        assert_eq!(
            parse_command(Some("migrate"), false)
                .unwrap_err()
                .to_string(),
            "unknown command 'migrate'; use `serve` (default)"
        );
        assert_eq!(
            parse_command(Some("serv"), true).unwrap_err().to_string(),
            "unknown command 'serv'; use `serve` (default) or `migrate`"
        );
    }
}
