use platform::config::{Service, Settings};
use portone_sandbox::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load(Service::PortoneSandbox)?;
    platform::telemetry::init(
        Service::PortoneSandbox.name(),
        &settings.log.level,
        settings.log.json,
    );
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => Ok(Application::build(settings)
            .await?
            .run_until_stopped()
            .await?),
        Some(other) => anyhow::bail!("unknown command '{other}'; use `serve` (default)"),
    }
}
