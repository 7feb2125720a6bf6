use platform::config::Service;
use platform::service::Command;
use portone_gateway::startup::{migrate, Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (settings, command) = platform::service::start(Service::PortoneGateway, true)?;
    match command {
        Command::Migrate => migrate(&settings).await,
        Command::Healthcheck => platform::service::healthcheck(&settings),
        Command::Serve => Ok(Application::build(settings)
            .await?
            .run_until_stopped()
            .await?),
    }
}
