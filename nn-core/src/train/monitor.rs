//! [`Monitor`]: the recorded value a callback watches (a column of the history) and whether
//! lower or higher is better.

use crate::error::Result;
use crate::train::callback::Context;
use crate::train::error::TrainError;
use crate::train::history::EpochRecord;
use serde::{Deserialize, Serialize};

/// Whether lower or higher values of a [`Monitor`]ed quantity are better (PyTorch's and Keras'
/// `mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorMode {
    /// Lower is better: losses, errors.
    Min,
    /// Higher is better: accuracies.
    Max,
}

/// A recorded value to watch, by its history column (`valid_loss`, `valid_acc`, `train_loss`,
/// `train_mae`, …, as in [`History::csv_header`](crate::train::History::csv_header)), and
/// whether lower or higher is better.
///
/// ```
/// use nn_core::train::{Monitor, MonitorMode};
/// assert_eq!(Monitor::new("valid_acc").mode(), MonitorMode::Max);
/// assert_eq!(Monitor::new("valid_loss").mode(), MonitorMode::Min);
/// assert_eq!(Monitor::max("valid_mae").mode(), MonitorMode::Max);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Monitor {
    column: String,
    mode: MonitorMode,
}

impl Monitor {
    /// The column `column`, better when higher if it is an accuracy (its name ends in `acc`:
    /// `valid_acc`, `valid_top5_acc`), when lower otherwise (Keras' `mode="auto"`).
    pub fn new(column: impl Into<String>) -> Self {
        let column = column.into();
        let mode = if column.ends_with("acc") {
            MonitorMode::Max
        } else {
            MonitorMode::Min
        };
        Monitor { column, mode }
    }

    /// The column `column`, better when lower.
    pub fn min(column: impl Into<String>) -> Self {
        Monitor {
            column: column.into(),
            mode: MonitorMode::Min,
        }
    }

    /// The column `column`, better when higher.
    pub fn max(column: impl Into<String>) -> Self {
        Monitor {
            column: column.into(),
            mode: MonitorMode::Max,
        }
    }

    /// The column's name.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// Whether lower or higher is better.
    pub fn mode(&self) -> MonitorMode {
        self.mode
    }

    /// The watched value in `record`.
    pub fn value(&self, record: &EpochRecord) -> Option<f32> {
        record.get(&self.column)
    }

    /// Fails, naming `callback`, unless every record of the run under way will hold the column.
    pub(crate) fn check(&self, callback: &str, ctx: &Context<'_>) -> Result<()> {
        let history = ctx.history();
        let mut available = vec!["train_loss".to_string()];
        available.extend(history.metric_names().iter().map(|m| format!("train_{m}")));
        if ctx.has_validation() {
            available.push("valid_loss".into());
            available.extend(history.metric_names().iter().map(|m| format!("valid_{m}")));
        }
        available.push("lr".into());
        if available.contains(&self.column) {
            return Ok(());
        }
        Err(TrainError::MonitorUnavailable {
            callback: callback.to_string(),
            monitor: self.column.clone(),
            available,
            without_validation: !ctx.has_validation() && self.column.starts_with("valid_"),
        }
        .into())
    }

    /// Whether `value` is better than `best` by more than `threshold`, relative to `best`
    /// (`rel`: PyTorch's `threshold_mode="rel"`) or absolute. NaN is never better; anything
    /// finite is better than no best yet (`best` infinite the wrong way).
    pub(crate) fn improves(&self, value: f32, best: f32, threshold: f32, rel: bool) -> bool {
        match (self.mode, rel) {
            (MonitorMode::Min, true) => value < best * (1.0 - threshold),
            (MonitorMode::Min, false) => value < best - threshold,
            (MonitorMode::Max, true) => value > best * (threshold + 1.0),
            (MonitorMode::Max, false) => value > best + threshold,
        }
    }

    /// The worst possible value: where "best so far" starts.
    pub(crate) fn worst(&self) -> f32 {
        match self.mode {
            MonitorMode::Min => f32::INFINITY,
            MonitorMode::Max => f32::NEG_INFINITY,
        }
    }
}

impl From<&str> for Monitor {
    fn from(column: &str) -> Self {
        Monitor::new(column)
    }
}
