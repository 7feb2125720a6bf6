//! What the routes share beyond the database, built by `startup` and read by `routes`.

use portone::PortOneClient;
use std::sync::Arc;
use tokio::sync::Notify;

/// What the routes need of the gateway beyond the database.
pub struct Gateway {
    pub client: PortOneClient,
    pub channel_key: String,
    pub webhook_base_url: String,
    pub relay: Arc<Notify>,
}
