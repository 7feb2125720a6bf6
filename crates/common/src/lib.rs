//! Models every paybridge service shares. Nothing here does I/O, so the rules for ids, money,
//! order states, events and Bankda's wire format are written (and tested) once.

pub mod bankda;
pub mod events;
pub mod ids;
pub mod json;
pub mod masking;
pub mod money;
pub mod order;
pub mod secret;

pub use ids::{CustomerUid, ImpUid, OrderId, OrderIdError, PortOneIdError};
pub use money::{Money, MoneyError};
pub use order::{OrderStatus, PaymentMethod, Transition, TransitionError, TransitionOutcome};
pub use secret::Secret;
