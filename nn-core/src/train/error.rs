//! [`TrainError`]: why training could not go on, each message naming where and how to fix it.

use crate::data::batch_shape;
use std::fmt;
use std::path::PathBuf;

/// Why training could not go on. Following [`crate::error`]'s policy, each message is complete on
/// its own; none has an underlying foreign error, so `source()` is `None`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The loss of a training batch was NaN or infinite: training diverged.
    #[error(
        "training diverged: the loss is {loss} at epoch {epoch}/{epochs}, batch {batch}/{batches} \
         (learning rate {}); fix: lower the learning rate (e.g. to {}), or clip gradients with \
         `with_clip_grad_norm`",
        Readable(*.lr),
        Tenth(*.lr)
    )]
    NonFiniteLoss {
        /// The loss value (NaN, inf or -inf).
        loss: f32,
        /// The epoch, counting from 1.
        epoch: usize,
        /// The number of epochs of the run.
        epochs: usize,
        /// The batch within the epoch, counting from 1.
        batch: usize,
        /// Batches per epoch.
        batches: usize,
        /// The learning rate of the epoch.
        lr: f32,
    },
    /// A dataset gives no batch to work on.
    #[error("the {set} set gives no batch: {samples} samples{}", no_batch_fix(*.batch_size, *.drop_last))]
    NoBatches {
        /// "training", "validation" or "evaluation".
        set: &'static str,
        /// Samples in the set.
        samples: usize,
        /// The batch size.
        batch_size: usize,
        /// Whether a short last batch is dropped.
        drop_last: bool,
    },
    /// Early stopping was configured but `fit` got no validation set to watch.
    #[error(
        "early stopping watches the validation loss, but fit got no validation set; fix: pass \
         Some(&valid) to fit (e.g. from Dataset::split_valid), or drop early_stopping"
    )]
    EarlyStoppingWithoutValidation,
    /// [`Trainer::initial_epoch`](crate::train::Trainer::initial_epoch) is beyond
    /// [`Trainer::epochs`](crate::train::Trainer::epochs), which counts the epochs already done
    /// too: there is nothing to train.
    #[error(
        "the run resumes after epoch {initial_epoch} but is set to end at epoch {epochs}; fix: \
         `epochs` counts the epochs already done, so set it to the total (above {initial_epoch})"
    )]
    ResumedPastTheEnd {
        /// Epochs already done.
        initial_epoch: usize,
        /// The total the run should reach.
        epochs: usize,
    },
    /// A dataset's targets do not fit the loss or a metric, given the network's outputs: found
    /// before the first step.
    #[error(
        "{name} cannot be used on the {set} set: the network outputs {} and the set's targets are \
         {targets}; {name} {needs}",
        batch_shape(output)
    )]
    TargetMismatch {
        /// The loss's or the metric's name.
        name: String,
        /// "training", "validation" or "evaluation".
        set: &'static str,
        /// The shape of one sample's output.
        output: Vec<usize>,
        /// What the set's targets are, as [`TargetKind`](crate::data::TargetKind) prints it.
        targets: String,
        /// What the loss or metric needs instead, and the fix.
        needs: String,
    },
    /// Two datasets of one run hold inputs of different shapes.
    #[error(
        "the {set} set's inputs are {} but the training set's are {}; fix: build both from the \
         same columns or files, with the same shape",
        batch_shape(found),
        batch_shape(expected)
    )]
    InputShapes {
        /// "validation" or "evaluation".
        set: &'static str,
        /// The training set's input shape (one sample).
        expected: Vec<usize>,
        /// This set's.
        found: Vec<usize>,
    },
    /// A callback watches a history column the run does not record.
    #[error(
        "{callback} monitors `{monitor}`, which this run does not record; it records {}{}",
        available.join(", "),
        if *without_validation {
            "; the valid_ columns need a validation set: pass Some(&valid) to fit"
        } else {
            "; fix: monitor one of these"
        }
    )]
    MonitorUnavailable {
        /// The callback's name.
        callback: String,
        /// The column it monitors.
        monitor: String,
        /// The columns the run records.
        available: Vec<String>,
        /// Whether the column is a validation column and `fit` got no validation set.
        without_validation: bool,
    },
    /// A callback's settings do not fit the run (found before anything trains).
    #[error("{callback} cannot run: {message}")]
    CallbackSetup {
        /// The callback's name.
        callback: String,
        /// What does not fit, and the fix.
        message: String,
    },
    /// A callback's saved state (in a checkpoint) cannot be restored.
    #[error("the checkpoint's state of {callback} cannot be restored: {message}")]
    CallbackState {
        /// The callback's name.
        callback: String,
        /// What is wrong with it.
        message: String,
    },
    /// A checkpoint does not fit the trainer and network resuming from it; nothing was changed.
    #[error("cannot resume from {}: {message}; nothing was changed", dir.display())]
    Resume {
        /// The checkpoint's directory.
        dir: PathBuf,
        /// What differs, and the fix.
        message: String,
    },
}

/// The end of a [`TrainError::NoBatches`] message: why there is no batch, and the fix.
fn no_batch_fix(batch_size: usize, drop_last: bool) -> String {
    if drop_last {
        format!(
            ", fewer than one batch of {batch_size} with drop_last on; fix: a smaller batch size, \
             or drop_last(false)"
        )
    } else {
        "; fix: pass a non-empty dataset".to_string()
    }
}

/// A rate as typed when it is of a usual size (`0.5`, `0.001`), in exponent form otherwise
/// (`1e30` rather than thirty-one digits).
struct Readable(f32);

impl fmt::Display for Readable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0.abs();
        if v == 0.0 || !v.is_finite() || (1e-4..1e4).contains(&v) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}

/// A tenth of a rate in exponent form, computed on its decimal digits: `5e27` for 5e28, where
/// `lr / 10.0` would print the float noise of the division (`5.0000003e27`).
struct Tenth(f32);

impl fmt::Display for Tenth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:e}` gives the shortest digits that read back as the same f32: "5e28", "3.5e-1".
        let digits = format!("{:e}", self.0);
        match digits.split_once('e').map(|(m, e)| (m, e.parse::<i32>())) {
            Some((mantissa, Ok(exponent))) => write!(f, "{mantissa}e{}", exponent - 1),
            _ => write!(f, "{digits}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suggested_rate_is_a_tenth_without_float_noise() {
        assert_eq!(Tenth(5e28).to_string(), "5e27");
        assert_eq!(Tenth(0.3).to_string(), "3e-2");
        assert_eq!(Tenth(0.007).to_string(), "7e-4");
        assert_eq!(Tenth(1e36).to_string(), "1e35");
        assert_eq!(Tenth(2.5e-3).to_string(), "2.5e-4");
    }

    #[test]
    fn the_divergence_message_names_where_and_suggests_a_lower_rate() {
        let e = TrainError::NonFiniteLoss {
            loss: f32::NAN,
            epoch: 3,
            epochs: 15,
            batch: 57,
            batches: 600,
            lr: 0.5,
        };
        assert_eq!(
            e.to_string(),
            "training diverged: the loss is NaN at epoch 3/15, batch 57/600 (learning rate 0.5); \
             fix: lower the learning rate (e.g. to 5e-2), or clip gradients with `with_clip_grad_norm`"
        );
        let huge = TrainError::NonFiniteLoss {
            loss: f32::INFINITY,
            epoch: 1,
            epochs: 1,
            batch: 1,
            batches: 1,
            lr: 1e36,
        };
        assert!(huge.to_string().contains("(learning rate 1e36)"), "{huge}");
    }

    #[test]
    fn the_no_batch_message_says_whether_drop_last_is_to_blame() {
        let e = |drop_last| TrainError::NoBatches {
            set: "training",
            samples: 30,
            batch_size: 64,
            drop_last,
        };
        assert_eq!(
            e(true).to_string(),
            "the training set gives no batch: 30 samples, fewer than one batch of 64 with drop_last \
             on; fix: a smaller batch size, or drop_last(false)"
        );
        assert_eq!(
            e(false).to_string(),
            "the training set gives no batch: 30 samples; fix: pass a non-empty dataset"
        );
        assert!(std::error::Error::source(&e(false)).is_none());
    }

    #[test]
    fn a_target_mismatch_names_the_loss_the_set_and_both_shapes() {
        let e = TrainError::TargetMismatch {
            name: "MseLoss".into(),
            set: "training",
            output: vec![1],
            targets: "class indices below 3, shape [N]".into(),
            needs: "needs f32 value targets of the outputs' shape [N, 1]".into(),
        };
        assert_eq!(
            e.to_string(),
            "MseLoss cannot be used on the training set: the network outputs [N, 1] and the set's \
             targets are class indices below 3, shape [N]; MseLoss needs f32 value targets of the \
             outputs' shape [N, 1]"
        );
    }

    #[test]
    fn rates_print_as_typed_unless_extreme() {
        assert_eq!(Readable(0.001).to_string(), "0.001");
        assert_eq!(Readable(0.0).to_string(), "0");
        assert_eq!(Readable(1e-7).to_string(), "1e-7");
        assert_eq!(Readable(-2e5).to_string(), "-2e5");
    }
}
