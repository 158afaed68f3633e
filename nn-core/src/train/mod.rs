//! Training: the [`Trainer`] (`trainer.rs`: its settings; `fit.rs`: the loop) over any data source with any loss and metrics,
//! its checks before the first step (`checks.rs`), its evaluation and prediction
//! (`evaluate.rs`), what it prints (`progress.rs`, `progress_bar.rs`), learning-rate schedules,
//! [`Callback`]s (`callback.rs`: the trait; `callbacks/`: checkpoints, ReduceLROnPlateau, CSV
//! logging; `early_stopping.rs`) watching a [`Monitor`]ed value, checkpoints a run resumes from
//! (`resume.rs`), the per-epoch [`History`] and [`TrainError`].
//!
//! Charts of a history are presentation, not training: they live in `crate::plot` (the `plot`
//! feature), which reads this module and is never read by it.

pub mod callback;
pub mod callbacks;
mod checks;
pub mod early_stopping;
mod error;
mod evaluate;
mod fit;
pub mod history;
mod monitor;
pub mod progress;
#[cfg(feature = "progress")]
mod progress_bar;
mod resume;
pub mod schedule;
pub mod trainer;

pub use callback::{Callback, Context};
pub use callbacks::{CsvLogger, ModelCheckpoint, ReduceLROnPlateau, ThresholdMode};
pub use early_stopping::{EarlyStopping, Verdict};
pub use error::TrainError;
pub use evaluate::{predict, predict_proba, Evaluation};
pub use history::{EpochRecord, History, MetricValues};
pub use monitor::{Monitor, MonitorMode};
pub use progress::Verbosity;
pub use resume::{MODEL_FILE, STATE_FILE};
pub use schedule::LrSchedule;
pub use trainer::Trainer;
