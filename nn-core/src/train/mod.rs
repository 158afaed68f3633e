//! Training: the [`Trainer`] loop with its progress display, learning-rate schedules, early
//! stopping, the per-epoch history with its CSV and PNG outputs, and chart drawing.

pub mod early_stopping;
pub mod history;
pub mod plot;
pub mod progress;
#[cfg(feature = "progress")]
mod progress_bar;
pub mod schedule;
pub mod trainer;

pub use early_stopping::{EarlyStopping, Verdict};
pub use history::{plot_runs, EpochRecord, History};
pub use plot::{Chart, Series};
pub use progress::Verbosity;
pub use schedule::LrSchedule;
pub use trainer::{Evaluation, TrainError, Trainer};
