//! What the trainer shows while it runs: one summary line per epoch on stdout, and with the
//! `progress` feature a progress bar per epoch on a terminal (`progress_bar.rs`).

use crate::train::history::EpochRecord;
#[cfg(feature = "progress")]
use crate::train::progress_bar::EpochBar;
#[cfg(not(feature = "progress"))]
use no_bar::EpochBar;
use std::fmt::Write as _;

/// Without the `progress` feature there is never a bar: a type with no values stands in for it.
#[cfg(not(feature = "progress"))]
mod no_bar {
    pub(crate) enum EpochBar {}

    impl EpochBar {
        pub(crate) fn start(_epoch: usize, _epochs: usize, _batches: usize, _size: usize) -> Option<Self> {
            None
        }

        pub(crate) fn batch_done(&self, _running_loss: f32) {
            match *self {}
        }
    }
}

/// How much the trainer prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing at all (tests, library use).
    Silent,
    /// One summary line per epoch on stdout, no progress bar.
    Lines,
    /// A progress bar during each epoch when stdout is a terminal (batches done, ETA, samples/s,
    /// running loss), cleared at the end of the epoch, plus the summary lines. When stdout is not
    /// a terminal (a pipe, a log file), or nn-core is built without its `progress` feature, only
    /// the summary lines are written.
    #[default]
    Progress,
}

/// The display of one `fit`: a bar per epoch (when enabled, built with the `progress` feature,
/// and stdout is a terminal) and the per-epoch lines.
pub(crate) struct Progress {
    verbosity: Verbosity,
    epochs: usize,
    bar: Option<EpochBar>,
}

impl Progress {
    pub(crate) fn new(verbosity: Verbosity, epochs: usize) -> Self {
        Progress {
            verbosity,
            epochs,
            bar: None,
        }
    }

    /// Starts the bar for `epoch` (1-based) of `batches` batches of `batch_size` samples.
    pub(crate) fn start_epoch(&mut self, epoch: usize, batches: usize, batch_size: usize) {
        if self.verbosity == Verbosity::Progress {
            self.bar = EpochBar::start(epoch, self.epochs, batches, batch_size);
        }
    }

    /// One batch done; `running_loss` is the epoch's mean loss so far.
    pub(crate) fn batch_done(&self, running_loss: f32) {
        if let Some(bar) = &self.bar {
            bar.batch_done(running_loss);
        }
    }

    /// Clears the bar and prints the epoch's summary line.
    pub(crate) fn end_epoch(&mut self, record: &EpochRecord) {
        // Dropping the bar clears it.
        self.bar = None;
        if self.verbosity != Verbosity::Silent {
            println!("{}", summary_line(record, self.epochs));
        }
    }

    /// Prints a line that is not an epoch summary (early stopping), unless silent.
    pub(crate) fn note(&self, text: &str) {
        if self.verbosity != Verbosity::Silent {
            println!("{text}");
        }
    }
}

/// `epoch 3/15  train_loss=0.1234 train_acc=0.9612  valid_loss=0.1500 valid_acc=0.9550  lr=1.000e-3  2.1s`,
/// with whatever metrics the record holds.
pub(crate) fn summary_line(r: &EpochRecord, epochs: usize) -> String {
    let mut line = format!("epoch {}/{epochs}  train_loss={:.4}", r.epoch, r.train_loss);
    for (name, v) in r.train_metrics.iter() {
        let _ = write!(line, " train_{name}={v:.4}");
    }
    if let Some(loss) = r.valid_loss {
        let _ = write!(line, "  valid_loss={loss:.4}");
        for (name, v) in r.valid_metrics.iter() {
            let _ = write!(line, " valid_{name}={v:.4}");
        }
    }
    let _ = write!(line, "  lr={:.3e}  {:.1}s", r.lr, r.seconds);
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::MetricValues;

    #[test]
    fn summary_line_has_every_metric_in_order() {
        let mut r = EpochRecord {
            epoch: 3,
            train_loss: 0.12344,
            train_metrics: MetricValues::from_iter([("acc", 0.96124)]),
            valid_loss: Some(0.15),
            valid_metrics: MetricValues::from_iter([("acc", 0.955)]),
            lr: 1e-3,
            seconds: 2.06,
        };
        assert_eq!(
            summary_line(&r, 15),
            "epoch 3/15  train_loss=0.1234 train_acc=0.9612  valid_loss=0.1500 valid_acc=0.9550  \
             lr=1.000e-3  2.1s"
        );
        r.valid_loss = None;
        r.valid_metrics = MetricValues::new();
        assert_eq!(
            summary_line(&r, 15),
            "epoch 3/15  train_loss=0.1234 train_acc=0.9612  lr=1.000e-3  2.1s"
        );
        // A regression run: its metrics, and no accuracy anywhere.
        r.train_metrics = MetricValues::from_iter([("mae", 1.5), ("rmse", 2.25)]);
        r.valid_loss = Some(4.0);
        r.valid_metrics = MetricValues::from_iter([("mae", 1.75), ("rmse", 2.5)]);
        assert_eq!(
            summary_line(&r, 15),
            "epoch 3/15  train_loss=0.1234 train_mae=1.5000 train_rmse=2.2500  valid_loss=4.0000 \
             valid_mae=1.7500 valid_rmse=2.5000  lr=1.000e-3  2.1s"
        );
    }
}
