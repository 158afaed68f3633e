//! The terminal progress bar of one epoch (indicatif; the `progress` feature): batches done, ETA,
//! samples per second and the running loss.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A bar drawn on stdout while an epoch runs, cleared when it ends or is dropped.
pub(crate) struct EpochBar {
    bar: ProgressBar,
    /// The running mean loss as f32 bits, read by the bar's `loss` key when it redraws: storing
    /// it costs no allocation per batch, unlike a formatted message.
    running_loss: Arc<AtomicU32>,
}

impl EpochBar {
    /// A bar for `epoch` of `epochs` (1-based) over `batches` batches of `batch_size` samples, or
    /// `None` when stdout is not a terminal (a pipe, a log file).
    pub(crate) fn start(epoch: usize, epochs: usize, batches: usize, batch_size: usize) -> Option<Self> {
        if !std::io::stdout().is_terminal() {
            return None;
        }
        let running_loss = Arc::new(AtomicU32::new(f32::NAN.to_bits()));
        let loss = Arc::clone(&running_loss);
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
            .with_prefix(format!("epoch {epoch}/{epochs}"));
        Some(EpochBar { bar, running_loss })
    }

    /// One batch done; `running_loss` is the epoch's mean loss so far.
    pub(crate) fn batch_done(&self, running_loss: f32) {
        self.running_loss.store(running_loss.to_bits(), Ordering::Relaxed);
        self.bar.inc(1);
    }
}

impl Drop for EpochBar {
    /// An epoch that ends, or a `fit` that fails mid-epoch, leaves no half-drawn bar behind.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
