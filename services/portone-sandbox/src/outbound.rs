//! The sandbox's own calls to the merchant: the `confirm_url` question and `notice_url` webhooks.

use portone::{CvsConfirmRequest, WebhookNotice};
use serde::{Deserialize, Serialize};

/// What one outgoing call got back.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub url: String,
    /// The HTTP status, when the merchant answered.
    pub status: Option<u16>,
    /// The start of the answer's body.
    pub body: String,
    /// Why no answer came (connection refused, timeout, ...).
    pub error: Option<String>,
}

impl Delivery {
    pub fn is_ok(&self) -> bool {
        self.status == Some(200)
    }
}

/// How a webhook body is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Form,
}

async fn finish(url: &str, result: Result<reqwest::Response, reqwest::Error>) -> Delivery {
    match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            Delivery {
                url: url.to_owned(),
                status: Some(status),
                body: body.chars().take(2000).collect(),
                error: None,
            }
        }
        Err(e) => Delivery {
            url: url.to_owned(),
            status: None,
            body: String::new(),
            error: Some(if e.is_timeout() {
                "timed out".to_owned()
            } else {
                e.to_string()
            }),
        },
    }
}

/// POSTs the `Galaxia.Cvs.Confirm` payload (JSON) to the barcode's confirm_url.
pub async fn confirm(http: &reqwest::Client, url: &str, payload: &CvsConfirmRequest) -> Delivery {
    let result = http.post(url).json(payload).send().await;
    let delivery = finish(url, result).await;
    tracing::info!(imp_uid = %payload.imp_uid, status = ?delivery.status, error = ?delivery.error, "confirm_url asked");
    delivery
}

/// POSTs `{imp_uid, merchant_uid, status}` as JSON or form to a notice_url.
pub async fn notify(
    http: &reqwest::Client,
    url: &str,
    notice: &WebhookNotice,
    format: Format,
) -> Delivery {
    let request = http.post(url);
    let request = match format {
        Format::Json => request.json(notice),
        Format::Form => request.form(notice),
    };
    let delivery = finish(url, request.send().await).await;
    tracing::info!(imp_uid = %notice.imp_uid, status = ?delivery.status, error = ?delivery.error, format = ?format, "notice_url webhook sent");
    delivery
}
