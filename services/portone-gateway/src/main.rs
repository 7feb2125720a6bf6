use platform::config::{Service, Settings};
use portone_gateway::startup::{migrate, Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load(Service::PortoneGateway)?;
    platform::telemetry::init(
        Service::PortoneGateway.name(),
        &settings.log.level,
        settings.log.json,
    );
    match std::env::args().nth(1).as_deref() {
        Some("migrate") => migrate(&settings).await,
        None | Some("serve") => Ok(Application::build(settings)
            .await?
            .run_until_stopped()
            .await?),
        Some(other) => {
            anyhow::bail!("unknown command '{other}'; use `serve` (default) or `migrate`")
        }
    }
}
