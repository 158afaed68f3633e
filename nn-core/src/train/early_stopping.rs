//! Early stopping: stop training once the validation loss has not improved for a number of
//! epochs, and give the model the best epoch's weights back: a [`Callback`].

use crate::checkpoint::Snapshot;
use crate::error::Result;
use crate::train::callback::{Callback, Context};
use crate::train::error::TrainError;
use crate::train::history::EpochRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What [`EarlyStopping::observe`] concluded from one epoch's validation loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A new best loss: keep a snapshot of the weights now.
    Improved,
    /// No improvement for `stale` epochs in a row, fewer than the patience allows.
    Waiting {
        /// Consecutive epochs without improvement so far.
        stale: usize,
    },
    /// No improvement for `patience` epochs in a row: stop and restore the best weights.
    Stop {
        /// Consecutive epochs without improvement.
        stale: usize,
    },
}

/// Patience on the validation loss, as Keras' `EarlyStopping(monitor="val_loss",
/// patience=p, min_delta=d, restore_best_weights=True)` defines it.
///
/// An epoch improves when its loss is below the best so far by more than `min_delta`; a NaN or
/// infinite loss never improves. Training stops at the end of the `patience`-th epoch in a row
/// without improvement: with patience 2 and losses 0.5, 0.4, 0.45, 0.41 it stops after the
/// fourth epoch, best epoch 2. As in Keras, patience 0 stops at the first epoch without
/// improvement (as patience 1 does), and the first epoch never stops training.
///
/// ```
/// use nn_core::train::{EarlyStopping, Verdict};
/// let mut es = EarlyStopping::new(2);
/// assert_eq!(es.observe(1, 0.50), Verdict::Improved);
/// assert_eq!(es.observe(2, 0.52), Verdict::Waiting { stale: 1 });
/// assert_eq!(es.observe(3, 0.51), Verdict::Stop { stale: 2 });
/// assert_eq!(es.best_epoch(), Some(1));
/// ```
///
/// As a [`Callback`] ([`Trainer::early_stopping`](crate::train::Trainer::early_stopping) adds
/// it), it stops training and, at the end, restores the weights (and buffers) of the best epoch
/// if training went on past it, naming that epoch in [`History::best_epoch`](crate::train::History::best_epoch).
/// Its counts and the best epoch's weights are saved in checkpoints, so a resumed run stops and
/// restores as the uninterrupted one would.
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    patience: usize,
    min_delta: f32,
    best: Option<(usize, f32)>,
    stale: usize,
    /// The weights of the best epoch, once this run has seen it.
    weights: Snapshot,
    weights_epoch: Option<usize>,
}

/// What [`EarlyStopping`] remembers between epochs.
#[derive(Serialize, Deserialize)]
struct EarlyStoppingState {
    best_epoch: Option<usize>,
    best_loss: Option<f32>,
    stale: usize,
    /// The epoch whose weights it holds (saved beside, see [`Callback::weights`]).
    weights_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Stops after `patience` epochs in a row without improvement; any decrease counts as
    /// improvement.
    pub fn new(patience: usize) -> Self {
        EarlyStopping {
            patience,
            min_delta: 0.0,
            best: None,
            stale: 0,
            weights: Snapshot::default(),
            weights_epoch: None,
        }
    }

    /// Counts a decrease as improvement only if it exceeds `min_delta` (its absolute value).
    pub fn min_delta(mut self, min_delta: f32) -> Self {
        self.min_delta = min_delta.abs();
        self
    }

    /// Records the validation loss of `epoch` (counting from 1) and says whether to snapshot, go
    /// on, or stop.
    pub fn observe(&mut self, epoch: usize, valid_loss: f32) -> Verdict {
        let improved = valid_loss.is_finite()
            && match self.best {
                None => true,
                Some((_, best)) => valid_loss < best - self.min_delta,
            };
        if improved {
            self.best = Some((epoch, valid_loss));
            self.stale = 0;
            return Verdict::Improved;
        }
        self.stale += 1;
        // Keras' `wait >= patience and epoch > 0`, its epochs counting from 0.
        if self.stale >= self.patience && epoch > 1 {
            Verdict::Stop { stale: self.stale }
        } else {
            Verdict::Waiting { stale: self.stale }
        }
    }

    /// The epoch with the best validation loss so far, as passed to `observe`.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best.map(|(e, _)| e)
    }

    /// The best validation loss so far.
    pub fn best_loss(&self) -> Option<f32> {
        self.best.map(|(_, l)| l)
    }

    /// The number of epochs in a row without improvement after which training stops.
    pub fn patience(&self) -> usize {
        self.patience
    }

    /// Forgets the best loss and the count, for a new run.
    pub fn reset(&mut self) {
        self.best = None;
        self.stale = 0;
        self.weights_epoch = None;
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        if !ctx.has_validation() {
            return Err(TrainError::EarlyStoppingWithoutValidation.into());
        }
        // A new run starts afresh; a resumed one keeps what its checkpoint restored.
        if ctx.initial_epoch() == 0 {
            self.reset();
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, record: &EpochRecord) -> Result<()> {
        let Some(loss) = record.valid_loss else {
            return Ok(());
        };
        match self.observe(record.epoch, loss) {
            Verdict::Improved => {
                self.weights.recapture(ctx.net());
                self.weights_epoch = Some(record.epoch);
            }
            Verdict::Waiting { .. } => {}
            Verdict::Stop { stale } => ctx.stop(format!(
                "early stopping: the validation loss has not improved for {stale} epochs \
                 (patience {})",
                self.patience
            )),
        }
        Ok(())
    }

    /// Gives the model the best epoch's weights, if training went on past it.
    fn on_train_end(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        let Some(best) = self.best_epoch() else {
            return Ok(());
        };
        let last = ctx.history().last().map(|r| r.epoch);
        if last == Some(best) {
            ctx.set_best_epoch(Some(best));
        } else if self.weights_epoch == Some(best) && !self.weights.is_empty() {
            self.weights.restore(ctx.net())?;
            ctx.set_best_epoch(Some(best));
            let loss = self.best_loss().unwrap_or(f32::NAN);
            ctx.note(&format!(
                "restored the weights of epoch {best} (best valid_loss={loss:.4})"
            ));
        } else {
            ctx.set_best_epoch(None);
            ctx.note(&format!(
                "early stopping: the best epoch, {best}, came before the run was resumed from a \
                 checkpoint without its weights, so the model keeps the last epoch's"
            ));
        }
        Ok(())
    }

    fn state(&self) -> Option<Value> {
        let state = EarlyStoppingState {
            best_epoch: self.best_epoch(),
            best_loss: self.best_loss(),
            stale: self.stale,
            weights_epoch: self.weights_epoch,
        };
        Some(serde_json::to_value(state).expect("serialises"))
    }

    fn load_state(&mut self, state: &Value) -> Result<()> {
        let invalid = |message: String| TrainError::CallbackState {
            callback: self.name(),
            message,
        };
        let s = EarlyStoppingState::deserialize(state).map_err(|e| invalid(e.to_string()))?;
        self.best = match (s.best_epoch, s.best_loss) {
            (Some(epoch), Some(loss)) => Some((epoch, loss)),
            (None, None) => None,
            _ => {
                return Err(
                    invalid("a best epoch without its loss, or a loss without its epoch".into()).into(),
                )
            }
        };
        self.stale = s.stale;
        self.weights_epoch = s.weights_epoch;
        Ok(())
    }

    fn weights(&mut self) -> Option<&mut Snapshot> {
        Some(&mut self.weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verdicts on `losses`, epoch after epoch, up to the first `Stop` (where training ends).
    fn run(es: &mut EarlyStopping, losses: &[f32]) -> Vec<Verdict> {
        let mut verdicts = Vec::new();
        for (i, &loss) in losses.iter().enumerate() {
            verdicts.push(es.observe(i + 1, loss));
            if matches!(verdicts.last(), Some(Verdict::Stop { .. })) {
                break;
            }
        }
        verdicts
    }

    // The expected verdicts are those of Keras 3's `EarlyStopping.on_epoch_end`
    // (keras/src/callbacks/early_stopping.py) on the same losses, in mode "min": `wait += 1`;
    // an improvement (`current + min_delta < best`, best starting at inf) sets `wait = 0`;
    // otherwise training stops when `wait >= patience and epoch > 0` (epochs from 0).

    #[test]
    fn stops_as_keras_does_after_patience_epochs_without_improvement() {
        use Verdict::*;
        // Keras' own docstring example: patience 3 on a loss that never improves after the first
        // epoch: "Only 4 epochs are run."
        let mut es = EarlyStopping::new(3);
        assert_eq!(
            run(&mut es, &[1.0, 1.1, 1.2, 1.3, 1.4, 1.5]),
            [
                Improved,
                Waiting { stale: 1 },
                Waiting { stale: 2 },
                Stop { stale: 3 }
            ]
        );
        let mut es = EarlyStopping::new(2);
        assert_eq!(
            run(&mut es, &[0.5, 0.4, 0.45, 0.41, 0.42]),
            [Improved, Improved, Waiting { stale: 1 }, Stop { stale: 2 }]
        );
        assert_eq!(es.best_epoch(), Some(2));
        assert_eq!(es.best_loss(), Some(0.4));
    }

    #[test]
    fn patience_0_stops_at_the_first_epoch_without_improvement_but_never_at_the_first_epoch() {
        use Verdict::*;
        for patience in [0, 1] {
            let mut es = EarlyStopping::new(patience);
            assert_eq!(run(&mut es, &[1.0, 1.1]), [Improved, Stop { stale: 1 }]);
        }
        let mut es = EarlyStopping::new(0);
        assert_eq!(
            run(&mut es, &[f32::NAN, 0.5, f32::NAN]),
            [Waiting { stale: 1 }, Improved, Stop { stale: 1 }]
        );
        let mut es = EarlyStopping::new(1);
        assert_eq!(
            run(&mut es, &[f32::NAN, f32::NAN, f32::NAN]),
            [Waiting { stale: 1 }, Stop { stale: 2 }]
        );
    }

    #[test]
    fn an_improvement_resets_the_count() {
        let mut es = EarlyStopping::new(2);
        use Verdict::*;
        assert_eq!(
            run(&mut es, &[1.0, 1.1, 0.9, 0.95, 0.8]),
            [
                Improved,
                Waiting { stale: 1 },
                Improved,
                Waiting { stale: 1 },
                Improved
            ]
        );
        assert_eq!(es.best_epoch(), Some(5));
    }

    #[test]
    fn min_delta_ignores_tiny_improvements() {
        use Verdict::*;
        let mut es = EarlyStopping::new(1).min_delta(0.01);
        assert_eq!(run(&mut es, &[1.0, 0.995]), [Improved, Stop { stale: 1 }]);
        let mut es = EarlyStopping::new(2).min_delta(0.01);
        assert_eq!(
            run(&mut es, &[1.0, 0.995, 0.992]),
            [Improved, Waiting { stale: 1 }, Stop { stale: 2 }]
        );
        assert_eq!(es.best_epoch(), Some(1));
        // Its sign is ignored, as Keras takes its absolute value.
        let mut es = EarlyStopping::new(0).min_delta(-0.01);
        assert_eq!(run(&mut es, &[1.0, 0.98]), [Improved, Improved]);
    }

    #[test]
    fn non_finite_losses_never_improve() {
        let mut es = EarlyStopping::new(2);
        use Verdict::*;
        assert_eq!(
            run(&mut es, &[f32::NAN, 0.5, f32::INFINITY, f32::NAN]),
            [
                Waiting { stale: 1 },
                Improved,
                Waiting { stale: 1 },
                Stop { stale: 2 }
            ]
        );
        assert_eq!(es.best_epoch(), Some(2));
        es.reset();
        assert_eq!(es.best_epoch(), None);
        assert_eq!(es.observe(1, 3.0), Improved);
    }
}
