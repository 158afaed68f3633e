//! Early stopping: stop training once the validation loss has not improved for a number of
//! epochs, remembering which epoch was best so that the trainer can restore its weights.

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
    /// No improvement for more epochs than the patience: stop and restore the best weights.
    Stop,
}

/// Patience on the validation loss (Keras' `EarlyStopping(monitor="val_loss")`).
///
/// An epoch improves when its loss is below the best so far by more than `min_delta`. Training
/// stops after `patience` consecutive epochs without improvement, counted after the best one: with
/// patience 2 and losses 0.5, 0.4, 0.45, 0.41, 0.42 it stops after the fifth epoch, best epoch 2.
/// A NaN or infinite loss never improves.
///
/// ```
/// use nn_core::train::{EarlyStopping, Verdict};
/// let mut es = EarlyStopping::new(1);
/// assert_eq!(es.observe(1, 0.50), Verdict::Improved);
/// assert_eq!(es.observe(2, 0.52), Verdict::Waiting { stale: 1 });
/// assert_eq!(es.observe(3, 0.51), Verdict::Stop);
/// assert_eq!(es.best_epoch(), Some(1));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    patience: usize,
    min_delta: f32,
    best: Option<(usize, f32)>,
    stale: usize,
}

impl EarlyStopping {
    /// Stops after `patience` epochs without improvement; any decrease counts as improvement.
    pub fn new(patience: usize) -> Self {
        EarlyStopping {
            patience,
            min_delta: 0.0,
            best: None,
            stale: 0,
        }
    }

    /// Counts a decrease as improvement only if it exceeds `min_delta` (its absolute value).
    pub fn min_delta(mut self, min_delta: f32) -> Self {
        self.min_delta = min_delta.abs();
        self
    }

    /// Records the validation loss of `epoch` and says whether to snapshot, go on, or stop.
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
        if self.stale > self.patience {
            Verdict::Stop
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

    /// The number of epochs without improvement allowed before stopping.
    pub fn patience(&self) -> usize {
        self.patience
    }

    /// Forgets the best loss and the count, for a new run.
    pub fn reset(&mut self) {
        self.best = None;
        self.stale = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(es: &mut EarlyStopping, losses: &[f32]) -> Vec<Verdict> {
        losses
            .iter()
            .enumerate()
            .map(|(i, &l)| es.observe(i + 1, l))
            .collect()
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let mut es = EarlyStopping::new(2);
        let v = run(&mut es, &[0.5, 0.4, 0.45, 0.41, 0.42]);
        use Verdict::*;
        assert_eq!(
            v,
            [
                Improved,
                Improved,
                Waiting { stale: 1 },
                Waiting { stale: 2 },
                Stop
            ]
        );
        assert_eq!(es.best_epoch(), Some(2));
        assert_eq!(es.best_loss(), Some(0.4));
    }

    #[test]
    fn an_improvement_resets_the_count() {
        let mut es = EarlyStopping::new(1);
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
        let mut es = EarlyStopping::new(1).min_delta(0.01);
        use Verdict::*;
        assert_eq!(
            run(&mut es, &[1.0, 0.995, 0.992]),
            [Improved, Waiting { stale: 1 }, Stop]
        );
        assert_eq!(es.best_epoch(), Some(1));
        let mut es = EarlyStopping::new(0).min_delta(-0.01);
        assert_eq!(run(&mut es, &[1.0, 0.98]), [Improved, Improved]);
    }

    #[test]
    fn non_finite_losses_never_improve() {
        let mut es = EarlyStopping::new(1);
        use Verdict::*;
        assert_eq!(
            run(&mut es, &[f32::NAN, 0.5, f32::INFINITY, f32::NAN]),
            [Waiting { stale: 1 }, Improved, Waiting { stale: 1 }, Stop]
        );
        assert_eq!(es.best_epoch(), Some(2));
        es.reset();
        assert_eq!(es.best_epoch(), None);
        assert_eq!(es.observe(1, 3.0), Improved);
    }
}
