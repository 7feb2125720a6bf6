use platform::config::Service;
use portone_sandbox::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The sandbox keeps everything in memory: no schema, so nothing to migrate.
    let (settings, _serve) = platform::service::start(Service::PortoneSandbox, false)?;
    Ok(Application::build(settings)
        .await?
        .run_until_stopped()
        .await?)
}
