//! V2 webhooks: built when a payment or billing key changes, signed with the first of
//! `portone.v2.webhook_secrets` (Standard Webhooks), sent to the payment's `noticeUrls`, else to
//! `portone.v2.webhook_url`, and recorded on the payment (`webhooks`) and for the tests
//! (`GET /__sandbox/v2/webhooks`).

use super::controls::NoticeLoss;
use super::store::{now, random_id, SentWebhook, StoredPayment};
use super::V2Sandbox;
use actix_web::web;
use portone::v2::webhook::{WebhookData, WebhookEvent};
use portone::v2::{PaymentStatus, PaymentWebhook, WebhookStatus, WebhookTrigger};
use serde_json::json;
use std::collections::HashMap;

/// `2024-04-25`: `{type, timestamp, data}`; `2024-01-01`: `{payment_id, tx_id, status}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum BodyVersion {
    #[default]
    #[serde(rename = "2024-04-25")]
    Current,
    #[serde(rename = "2024-01-01")]
    Legacy,
}

/// A webhook to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub payment_id: Option<String>,
    pub event_type: String,
    /// `webhook-id`: the same on a resend.
    pub webhook_id: String,
    /// The exact body (the same on a resend).
    pub body: String,
    pub urls: Vec<String>,
    pub trigger: Option<WebhookTrigger>,
    pub payment_status: Option<PaymentStatus>,
    /// How many times this webhook id has been sent, this one included.
    pub execution: i32,
}

/// Where a payment's webhooks go: its `noticeUrls`, else the console's URL.
pub fn targets(sandbox: &V2Sandbox, notice_urls: &[String]) -> Vec<String> {
    if notice_urls.is_empty() {
        sandbox.options.webhook_url.iter().cloned().collect()
    } else {
        notice_urls.to_vec()
    }
}

/// `Transaction.Paid` → `Paid` (the 2024-01-01 body's status).
fn legacy_status(event_type: &str) -> Option<&str> {
    event_type.strip_prefix("Transaction.")
}

/// The webhook for a payment's change (`Transaction.Paid`, `Transaction.Cancelled`, ...), or
/// `None` when there is nowhere to send it or the request asked for none.
pub fn for_payment(
    sandbox: &V2Sandbox,
    payment: &StoredPayment,
    event_type: &str,
    cancellation_id: Option<String>,
    trigger: Option<WebhookTrigger>,
) -> Option<Outgoing> {
    let urls = targets(sandbox, &payment.notice_urls);
    if urls.is_empty() {
        return None;
    }
    let body = match sandbox.controls.body_version() {
        BodyVersion::Current => serde_json::to_string(&WebhookEvent {
            event_type: event_type.to_owned(),
            timestamp: now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            data: WebhookData {
                store_id: Some(sandbox.options.store_id.clone()),
                payment_id: Some(payment.id.clone()),
                transaction_id: Some(payment.transaction_id.clone()),
                cancellation_id,
                billing_key: None,
            },
        })
        .ok()?,
        BodyVersion::Legacy => json!({
            "payment_id": payment.id,
            "tx_id": payment.transaction_id,
            "status": legacy_status(event_type)?,
        })
        .to_string(),
    };
    Some(Outgoing {
        payment_id: Some(payment.id.clone()),
        event_type: event_type.to_owned(),
        webhook_id: random_id("msg_"),
        body,
        urls,
        trigger,
        payment_status: Some(payment.status.clone()),
        execution: 1,
    })
}

/// `BillingKey.Issued` / `BillingKey.Deleted` (2024-04-25 only: the old version has none).
pub fn for_billing_key(
    sandbox: &V2Sandbox,
    billing_key: &str,
    event_type: &str,
    notice_urls: &[String],
) -> Option<Outgoing> {
    if sandbox.controls.body_version() != BodyVersion::Current {
        return None;
    }
    let urls = targets(sandbox, notice_urls);
    if urls.is_empty() {
        return None;
    }
    let body = serde_json::to_string(&WebhookEvent {
        event_type: event_type.to_owned(),
        timestamp: now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        data: WebhookData {
            store_id: Some(sandbox.options.store_id.clone()),
            billing_key: Some(billing_key.to_owned()),
            ..WebhookData::default()
        },
    })
    .ok()?;
    Some(Outgoing {
        payment_id: None,
        event_type: event_type.to_owned(),
        webhook_id: random_id("msg_"),
        body,
        urls,
        trigger: None,
        payment_status: None,
        execution: 1,
    })
}

/// Signs and sends one webhook to each of its URLs (unless a notice fault loses it), records
/// each delivery on the payment and for the tests, and returns them.
pub async fn send(sandbox: &web::Data<V2Sandbox>, outgoing: Outgoing) -> Vec<SentWebhook> {
    let mut sent = Vec::new();
    for url in &outgoing.urls {
        let timestamp = now().timestamp();
        let signed = sandbox
            .signer
            .sign(&outgoing.webhook_id, timestamp, outgoing.body.as_bytes());
        let headers: HashMap<String, String> = signed
            .pairs()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let requested_at = now();
        let (status, answer, error, lost) = match sandbox.controls.notice_loss() {
            Some(loss) => {
                let (status, error) = match loss {
                    NoticeLoss::Refused => (None, Some("connection refused".to_owned())),
                    NoticeLoss::Status(s) => (Some(s), None),
                    NoticeLoss::Timeout => {
                        tokio::time::sleep(sandbox.options.outbound_timeout).await;
                        (None, Some("timed out".to_owned()))
                    }
                };
                (status, String::new(), error, true)
            }
            None => {
                let mut request = sandbox
                    .http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(outgoing.body.clone());
                for (k, v) in signed.pairs() {
                    request = request.header(k, v);
                }
                match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let text = response.text().await.unwrap_or_default();
                        (Some(status), text.chars().take(2000).collect(), None, false)
                    }
                    Err(e) => (
                        None,
                        String::new(),
                        Some(if e.is_timeout() {
                            "timed out".to_owned()
                        } else {
                            e.to_string()
                        }),
                        false,
                    ),
                }
            }
        };
        tracing::info!(
            payment_id = ?outgoing.payment_id,
            event = %outgoing.event_type,
            status = ?status,
            error = ?error,
            lost,
            "V2 webhook sent"
        );
        let record = SentWebhook {
            url: url.clone(),
            payment_id: outgoing.payment_id.clone(),
            event_type: outgoing.event_type.clone(),
            headers,
            body: outgoing.body.clone(),
            status,
            error: error.clone(),
            lost,
        };
        let responded_at = now();
        let mut state = sandbox.state();
        state.webhooks.push(record.clone());
        if let Some(payment_id) = &outgoing.payment_id {
            if let Some(payment) = state.payments.get_mut(payment_id) {
                payment
                    .webhooks
                    .retain(|w| w.id != outgoing.webhook_id || w.url != *url);
                payment.webhooks.push(PaymentWebhook {
                    payment_status: outgoing.payment_status.clone(),
                    id: outgoing.webhook_id.clone(),
                    status: Some(match status {
                        Some(s) if (200..300).contains(&s) => WebhookStatus::Succeeded,
                        Some(_) => WebhookStatus::FailedNotOkResponse,
                        None => WebhookStatus::FailedUnexpectedError,
                    }),
                    url: url.clone(),
                    is_async: Some(true),
                    current_execution_count: Some(outgoing.execution),
                    max_execution_count: Some(MAX_EXECUTIONS),
                    trigger: outgoing.trigger.clone(),
                    request: Some(json!({
                        "header": "content-type: application/json",
                        "body": outgoing.body,
                        "requestedAt": requested_at,
                    })),
                    response: status.map(|code| {
                        json!({
                            "code": code.to_string(),
                            "header": "",
                            "body": answer,
                            "respondedAt": responded_at,
                        })
                    }),
                    triggered_at: Some(requested_at),
                });
            }
        }
        drop(state);
        sent.push(record);
    }
    sent
}

/// PortOne's `maxExecutionCount` of a webhook (automatic attempts).
pub const MAX_EXECUTIONS: i32 = 6;
/// Manual resends of one webhook id PortOne allows (`MAX_WEBHOOK_RETRY_COUNT_REACHED` after).
pub const MAX_RESENDS: u32 = 5;
