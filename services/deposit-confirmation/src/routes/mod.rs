pub mod bankda;
pub mod deposits;
