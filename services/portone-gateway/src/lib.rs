//! portone-gateway makes every call to PortOne V1 and takes PortOne's callbacks: it issues and
//! voids convenience-store barcodes, verifies payments (webhooks are hints, re-read from
//! PortOne), passes billing-key calls through, and turns what PortOne confirms into events.

pub mod charges;
pub mod order_view;
pub mod reconcile;
pub mod refunds;
pub mod routes;
pub mod schema;
pub mod startup;
pub mod state;
pub mod verify;
pub mod voider;

use diesel_migrations::{embed_migrations, EmbeddedMigrations};

pub const PRODUCER: &str = "portone-gateway";
pub const SCHEMA: &str = "portone_gateway";
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/portone_gateway");
