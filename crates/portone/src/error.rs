use std::time::Duration;

/// Why a PortOne call failed. PortOne's own `code` and `message` are kept wherever it sent them.
/// No variant can hold `imp_secret`, a token or card data: none of them is ever put in an error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PortOneError {
    /// HTTP 404: no such payment or billing key.
    #[error("PortOne: not found (HTTP 404, code {}): {}", show_code(*.code), show(.message))]
    NotFound {
        code: Option<i64>,
        message: Option<String>,
    },
    /// HTTP 401: the credentials were refused, or the access token was refused even after a refresh.
    #[error("PortOne: unauthorized (HTTP 401, code {}): {}", show_code(*.code), show(.message))]
    Unauthorized {
        code: Option<i64>,
        message: Option<String>,
    },
    /// PortOne answered with its envelope and a `code` other than 0 (on HTTP 200, or on a 4xx
    /// other than 401/404).
    #[error("PortOne refused the request (HTTP {status}, code {code}): {}", show(.message))]
    Business {
        status: u16,
        code: i64,
        message: Option<String>,
    },
    /// Any other HTTP status (5xx after the retries a read gets, or an answer with no envelope).
    #[error("PortOne answered HTTP {status} (code {}): {}", show_code(*.code), show(.message))]
    Http {
        status: u16,
        code: Option<i64>,
        message: Option<String>,
    },
    /// No answer within the configured timeout. For a POST the outcome is unknown.
    #[error("PortOne did not answer within {0:?}")]
    Timeout(Duration),
    /// The request could not be sent or the answer not received (DNS, connection, TLS, ...).
    #[error("could not reach PortOne: {0}")]
    Transport(String),
    /// The answer was not the JSON the spec describes.
    #[error("PortOne's answer could not be read: {0}")]
    Decode(String),
    /// The request was refused before sending (an empty path id, a bad configuration, ...).
    #[error("invalid PortOne request: {0}")]
    InvalidRequest(String),
    /// Every slot of the concurrency bound ([`crate::Limiter`]) stayed taken for the whole queue
    /// timeout. Nothing was sent to PortOne; try again after `retry_after`.
    #[error("too many PortOne calls in flight; retry after {retry_after:?}")]
    Busy { retry_after: Duration },
}

fn show(message: &Option<String>) -> &str {
    message.as_deref().unwrap_or("(no message)")
}

fn show_code(code: Option<i64>) -> String {
    code.map(|c| c.to_string()).unwrap_or_else(|| "none".into())
}

impl PortOneError {
    /// A short, stable name of the variant, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            PortOneError::NotFound { .. } => "not_found",
            PortOneError::Unauthorized { .. } => "unauthorized",
            PortOneError::Business { .. } => "refused",
            PortOneError::Http { .. } => "http",
            PortOneError::Timeout(_) => "timeout",
            PortOneError::Transport(_) => "transport",
            PortOneError::Decode(_) => "decode",
            PortOneError::InvalidRequest(_) => "invalid_request",
            PortOneError::Busy { .. } => "busy",
        }
    }

    /// PortOne failed to answer as it should: not a refusal or a 404, which are answers, and not
    /// a request refused before it was sent.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            PortOneError::Unauthorized { .. }
                | PortOneError::Http { .. }
                | PortOneError::Timeout(_)
                | PortOneError::Transport(_)
                | PortOneError::Decode(_)
        )
    }

    /// PortOne's `code`, when it sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            PortOneError::NotFound { code, .. }
            | PortOneError::Unauthorized { code, .. }
            | PortOneError::Http { code, .. } => *code,
            PortOneError::Business { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// PortOne's `message`, when it sent one.
    pub fn message(&self) -> Option<&str> {
        match self {
            PortOneError::NotFound { message, .. }
            | PortOneError::Unauthorized { message, .. }
            | PortOneError::Business { message, .. }
            | PortOneError::Http { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status PortOne answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            PortOneError::NotFound { .. } => Some(404),
            PortOneError::Unauthorized { .. } => Some(401),
            PortOneError::Business { status, .. } | PortOneError::Http { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Refused by the concurrency bound before anything was sent: PortOne never saw the call.
    pub fn is_busy(&self) -> bool {
        matches!(self, PortOneError::Busy { .. })
    }

    /// For [`PortOneError::Busy`], how long the caller should wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PortOneError::Busy { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, PortOneError::NotFound { .. })
    }

    /// Worth trying again later: PortOne could not be reached, was too slow, or failed (5xx).
    /// For a write this means its outcome is unknown. [`PortOneError::Busy`] is not transient in
    /// that sense: nothing was sent (see [`is_busy`](Self::is_busy)).
    pub fn is_transient(&self) -> bool {
        match self {
            PortOneError::Timeout(_) | PortOneError::Transport(_) => true,
            PortOneError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
