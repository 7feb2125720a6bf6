//! Virtual accounts (가상계좌): `POST /vbanks`, `PUT /vbanks/{imp_uid}`, `DELETE /vbanks/{imp_uid}`.
//! A virtual account is a payment in status `ready` (`pay_method` `vbank`) until the customer
//! transfers the amount to `vbank_num`; PortOne then sends the `notice_url` webhook (`paid`).

use crate::amount;
use crate::client::{non_empty, required, to_json};
use crate::lenient;
use crate::types::Payment;
use crate::{PortOneClient, PortOneError};
use reqwest::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Parameters of `POST /vbanks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VbankIssueRequest {
    /// Required by the spec.
    pub channel_key: String,
    /// Max 40. A merchant_uid already paid gets no further account.
    pub merchant_uid: String,
    #[serde(with = "amount")]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub amount: Decimal,
    /// 은행구분코드 (`004` KB국민, `088` 신한, ...).
    pub vbank_code: String,
    /// 입금기한, unix seconds.
    #[serde(deserialize_with = "lenient::i64")]
    pub vbank_due: i64,
    /// 예금주명, max 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbank_holder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_tel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_postcode: Option<String>,
    /// Told when the deposit arrives. An array in the spec; a single string is read too.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient::string_or_seq"
    )]
    pub notice_url: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
}

/// Parameters of `PUT /vbanks/{imp_uid}` (before the deposit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VbankModifyRequest {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "amount::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub amount: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub vbank_due: Option<i64>,
}

impl PortOneClient {
    /// `POST /vbanks`: issues a virtual account. Never retried: on [`PortOneError::Timeout`]
    /// whether it was issued is unknown (`find_payment` by merchant_uid tells).
    pub async fn issue_vbank(&self, request: &VbankIssueRequest) -> Result<Payment, PortOneError> {
        non_empty("merchant_uid", &request.merchant_uid)?;
        let url = self.url(&["vbanks"], &[])?;
        required(
            self.call(Method::POST, url, Some(to_json(request)?))
                .await?,
        )
    }

    /// `PUT /vbanks/{imp_uid}`: changes the amount or deadline of an account not yet paid into.
    pub async fn modify_vbank(
        &self,
        imp_uid: &str,
        request: &VbankModifyRequest,
    ) -> Result<Payment, PortOneError> {
        let url = self.url(&["vbanks", non_empty("imp_uid", imp_uid)?], &[])?;
        required(self.call(Method::PUT, url, Some(to_json(request)?)).await?)
    }

    /// `DELETE /vbanks/{imp_uid}`: voids an account not yet paid into.
    pub async fn revoke_vbank(&self, imp_uid: &str) -> Result<Payment, PortOneError> {
        let url = self.url(&["vbanks", non_empty("imp_uid", imp_uid)?], &[])?;
        required(self.call(Method::DELETE, url, None).await?)
    }
}
