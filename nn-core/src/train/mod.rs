//! Training utilities: learning-rate schedules, early stopping, the per-epoch history with its
//! CSV and PNG outputs, and chart drawing.

pub mod early_stopping;
pub mod history;
pub mod plot;
pub mod schedule;

pub use early_stopping::{EarlyStopping, Verdict};
pub use history::{plot_runs, EpochRecord, History};
pub use plot::{Chart, Series};
pub use schedule::LrSchedule;
