pub mod bankda;
pub mod orders;
