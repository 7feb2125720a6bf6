use platform::config::Service;
use platform::service::Command;
use portone_sandbox::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The sandbox keeps everything in memory: no schema, so nothing to migrate.
    let (settings, command) = platform::service::start(Service::PortoneSandbox, false)?;
    match command {
        Command::Healthcheck => platform::service::healthcheck(&settings),
        Command::Serve => Ok(Application::build(settings)
            .await?
            .run_until_stopped()
            .await?),
        other => anyhow::bail!("portone-sandbox has no command {other:?}"),
    }
}
