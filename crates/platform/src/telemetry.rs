//! Structured logs. Every line is one JSON object; lines logged while serving a request carry its
//! `request_id` through the request's span.

use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};

/// Installs the global subscriber. Returns false when one was already installed (tests start
/// several services in one process).
pub fn init(service: &str, level: &str, json: bool) -> bool {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| {
        // Dependencies chatter at info; keep them at warn unless asked.
        EnvFilter::new(format!("warn,{}", level_directives(service, level)))
    });
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_target(true),
            )
            .try_init()
    } else {
        // Colours only for a person at a terminal, not in a log file.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        registry
            .with(fmt::layer().with_target(false).with_ansi(ansi))
            .try_init()
    };
    result.is_ok()
}

fn level_directives(service: &str, level: &str) -> String {
    let crate_name = service.replace('-', "_");
    [
        "platform",
        "messaging",
        "common",
        "portone",
        crate_name.as_str(),
    ]
    .iter()
    .map(|c| format!("{c}={level}"))
    .collect::<Vec<_>>()
    .join(",")
}
