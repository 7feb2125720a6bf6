//! order-query owns the order aggregate: the merchant order API, Bankda's order list and
//! detail, and (from the payment events) whether each order is paid.

pub mod domain;
pub mod expiry;
pub mod history;
pub mod overpayments;
pub mod payments;
pub mod routes;
pub mod schema;
pub mod startup;
pub mod state;
pub mod store;

use diesel_migrations::{embed_migrations, EmbeddedMigrations};

pub const PRODUCER: &str = "order-query";
pub const SCHEMA: &str = "order_query";
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/order_query");
