//! deposit-confirmation takes Bankda's deposit confirmations. It keeps its own view of which
//! orders await a deposit (from `order.*` events), confirms or refuses each order Bankda names,
//! keeps an audit record of every one, and emits `deposit.confirmed` / `deposit.refused`.

pub mod confirm;
pub mod order_view;
pub mod routes;
pub mod schema;
pub mod startup;
pub mod state;

use diesel_migrations::{embed_migrations, EmbeddedMigrations};

pub const PRODUCER: &str = "deposit-confirmation";
pub const SCHEMA: &str = "deposit_confirmation";
pub const MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("../../migrations/deposit_confirmation");
