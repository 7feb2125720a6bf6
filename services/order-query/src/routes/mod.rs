pub mod bankda;
pub mod history;
pub mod orders;
pub mod overpayments;
