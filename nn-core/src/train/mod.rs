//! Training utilities: learning-rate schedules, early stopping, the per-epoch history with its
//! CSV and PNG outputs, and chart drawing.

pub mod early_stopping;
pub mod schedule;

pub use early_stopping::{EarlyStopping, Verdict};
pub use schedule::LrSchedule;
