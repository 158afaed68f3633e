//! What the trainer shows while it runs: a progress bar per epoch on a terminal and one summary
//! line per epoch on stdout.

use crate::train::EpochRecord;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// How much the trainer prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing at all (tests, library use).
    Silent,
    /// One summary line per epoch on stdout, no progress bar.
    Lines,
    /// A progress bar during each epoch when stdout is a terminal (batches done, ETA, samples/s,
    /// running loss), cleared at the end of the epoch, plus the summary lines. When stdout is not
    /// a terminal (a pipe, a log file) only the summary lines are written.
    #[default]
    Progress,
}

/// The display of one `fit`: a bar per epoch (when enabled and stdout is a terminal) and the
/// per-epoch lines.
pub(crate) struct Progress {
    verbosity: Verbosity,
    bar: Option<ProgressBar>,
    /// The running mean loss of the current epoch as f32 bits, read by the bar's `loss` key when
    /// it redraws: storing it costs no allocation per batch, unlike a formatted message.
    running_loss: Arc<AtomicU32>,
    epochs: usize,
}

impl Progress {
    pub(crate) fn new(verbosity: Verbosity, epochs: usize) -> Self {
        Progress {
            verbosity,
            bar: None,
            running_loss: Arc::new(AtomicU32::new(f32::NAN.to_bits())),
            epochs,
        }
    }

    /// Starts the bar for `epoch` (1-based) of `batches` batches of `batch_size` samples.
    pub(crate) fn start_epoch(&mut self, epoch: usize, batches: usize, batch_size: usize) {
        self.running_loss.store(f32::NAN.to_bits(), Ordering::Relaxed);
        if self.verbosity != Verbosity::Progress || !std::io::stdout().is_terminal() {
            return;
        }
        let loss = Arc::clone(&self.running_loss);
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:20}] {pos}/{len} batches  ETA {eta}  {samples_per_sec}  loss {loss}",
        )
        .expect("a valid template")
        .progress_chars("=> ")
        .with_key(
            "samples_per_sec",
            move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} samples/s", s.per_sec() * batch_size as f64);
            },
        )
        .with_key("loss", move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let v = f32::from_bits(loss.load(Ordering::Relaxed));
            if v.is_nan() {
                let _ = write!(w, "-");
            } else {
                let _ = write!(w, "{v:.4}");
            }
        });
        let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stdout())
            .with_style(style)
            .with_prefix(format!("epoch {epoch}/{}", self.epochs));
        self.bar = Some(bar);
    }

    /// One batch done; `running_loss` is the epoch's mean loss so far.
    pub(crate) fn batch_done(&self, running_loss: f32) {
        if let Some(bar) = &self.bar {
            self.running_loss.store(running_loss.to_bits(), Ordering::Relaxed);
            bar.inc(1);
        }
    }

    /// Clears the bar and prints the epoch's summary line.
    pub(crate) fn end_epoch(&mut self, record: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
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

impl Drop for Progress {
    /// A `fit` that fails mid-epoch leaves no half-drawn bar behind.
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// `epoch 3/15  train_loss=0.1234 train_acc=0.9612  valid_loss=0.1500 valid_acc=0.9550  lr=1.000e-3  2.1s`
pub(crate) fn summary_line(r: &EpochRecord, epochs: usize) -> String {
    let mut line = format!(
        "epoch {}/{epochs}  train_loss={:.4} train_acc={:.4}",
        r.epoch, r.train_loss, r.train_acc
    );
    if let (Some(loss), Some(acc)) = (r.valid_loss, r.valid_acc) {
        let _ = write!(line, "  valid_loss={loss:.4} valid_acc={acc:.4}");
    }
    let _ = write!(line, "  lr={:.3e}  {:.1}s", r.lr, r.seconds);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_has_every_metric_in_order() {
        let mut r = EpochRecord {
            epoch: 3,
            train_loss: 0.12344,
            train_acc: 0.96124,
            valid_loss: Some(0.15),
            valid_acc: Some(0.955),
            lr: 1e-3,
            seconds: 2.06,
        };
        assert_eq!(
            summary_line(&r, 15),
            "epoch 3/15  train_loss=0.1234 train_acc=0.9612  valid_loss=0.1500 valid_acc=0.9550  \
             lr=1.000e-3  2.1s"
        );
        r.valid_loss = None;
        r.valid_acc = None;
        assert_eq!(
            summary_line(&r, 15),
            "epoch 3/15  train_loss=0.1234 train_acc=0.9612  lr=1.000e-3  2.1s"
        );
    }
}
