use order_query::startup::{migrate, Application};
use platform::config::Service;
use platform::service::Command;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (settings, command) = platform::service::start(Service::OrderQuery, true)?;
    match command {
        Command::Migrate => migrate(&settings).await,
        Command::Healthcheck => platform::service::healthcheck(&settings),
        Command::Dlq(action) => {
            messaging::dlq::run(
                &messaging::dlq::DlqTarget::from_settings(&settings),
                &action,
            )
            .await
        }
        Command::Serve => Ok(Application::build(settings)
            .await?
            .run_until_stopped()
            .await?),
    }
}
