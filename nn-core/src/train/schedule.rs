//! Learning-rate schedules: the learning rate for each epoch as a function of the optimizer's
//! initial rate, so that a schedule never repeats (and never contradicts) the rate the optimizer
//! was built with.

use std::fmt;

/// How the learning rate changes from epoch to epoch. `lr_at(base_lr, epoch)` gives the rate for
/// the epoch with 0-based index `epoch` (the first epoch is 0), where `base_lr` is the
/// optimizer's rate when training started.
///
/// ```
/// use nn_core::train::LrSchedule;
/// let s = LrSchedule::StepDecay { every: 10, gamma: 0.5 };
/// assert_eq!(s.lr_at(0.1, 9), 0.1);
/// assert_eq!(s.lr_at(0.1, 10), 0.05);
/// let c = LrSchedule::cosine(20);
/// assert_eq!(c.lr_at(0.1, 0), 0.1);
/// assert!(c.lr_at(0.1, 19) < 0.001);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum LrSchedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// The base rate times `gamma` to the number of completed `every`-epoch periods (PyTorch's
    /// `StepLR`): with `every = 10, gamma = 0.5`, epochs 0–9 use the base rate, 10–19 half of it.
    /// `every = 0` never decays.
    StepDecay {
        /// The number of epochs between decays.
        every: usize,
        /// The factor applied at each decay, usually in (0, 1).
        gamma: f32,
    },
    /// Half a cosine from the base rate at epoch 0 down to `min_lr` at epoch `epochs`, then
    /// `min_lr` (PyTorch's `CosineAnnealingLR` without restarts). Set `epochs` to the length of
    /// the run, so the last epoch trains at nearly `min_lr`.
    Cosine {
        /// The number of epochs the decay takes.
        epochs: usize,
        /// The floor the rate decays to (an absolute rate, not a fraction of the base).
        min_lr: f32,
    },
}

impl LrSchedule {
    /// Cosine annealing to zero over `epochs` epochs.
    pub fn cosine(epochs: usize) -> Self {
        LrSchedule::Cosine { epochs, min_lr: 0.0 }
    }

    /// The learning rate for the epoch with 0-based index `epoch`, given the initial rate.
    pub fn lr_at(&self, base_lr: f32, epoch: usize) -> f32 {
        match *self {
            LrSchedule::Constant => base_lr,
            LrSchedule::StepDecay { every: 0, .. } => base_lr,
            LrSchedule::StepDecay { every, gamma } => {
                let periods = i32::try_from(epoch / every).unwrap_or(i32::MAX);
                (f64::from(base_lr) * f64::from(gamma).powi(periods)) as f32
            }
            LrSchedule::Cosine { epochs, min_lr } => {
                if epoch >= epochs {
                    return min_lr;
                }
                let t = epoch as f64 / epochs as f64;
                let (lo, hi) = (f64::from(min_lr), f64::from(base_lr));
                (lo + (hi - lo) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())) as f32
            }
        }
    }
}

impl fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LrSchedule::Constant => write!(f, "constant"),
            LrSchedule::StepDecay { every: 0, .. } => write!(f, "constant"),
            LrSchedule::StepDecay { every, gamma } => {
                write!(
                    f,
                    "step decay x{gamma} every {every} epoch{}",
                    if every == 1 { "" } else { "s" }
                )
            }
            LrSchedule::Cosine { epochs, min_lr } => write!(f, "cosine to {min_lr} over {epochs} epochs"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_keeps_the_base_rate() {
        for e in [0, 1, 1000] {
            assert_eq!(LrSchedule::Constant.lr_at(0.01, e), 0.01);
        }
    }

    #[test]
    fn step_decay_multiplies_at_each_period_boundary() {
        let s = LrSchedule::StepDecay { every: 3, gamma: 0.1 };
        let expected = [1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01];
        for (e, want) in expected.into_iter().enumerate() {
            let got = s.lr_at(1.0, e);
            assert!((got - want).abs() <= want * 1e-6, "epoch {e}: {got} != {want}");
        }
        assert_eq!(LrSchedule::StepDecay { every: 0, gamma: 0.1 }.lr_at(0.5, 7), 0.5);
        // No overflow or panic far out.
        assert_eq!(
            LrSchedule::StepDecay { every: 1, gamma: 0.5 }.lr_at(1.0, usize::MAX),
            0.0
        );
    }

    #[test]
    fn cosine_falls_from_base_to_min_through_the_midpoint() {
        let s = LrSchedule::Cosine {
            epochs: 10,
            min_lr: 0.1,
        };
        assert_eq!(s.lr_at(1.0, 0), 1.0);
        assert!((s.lr_at(1.0, 5) - 0.55).abs() < 1e-6);
        assert_eq!(s.lr_at(1.0, 10), 0.1);
        assert_eq!(s.lr_at(1.0, 50), 0.1);
        let lrs: Vec<f32> = (0..=10).map(|e| s.lr_at(1.0, e)).collect();
        assert!(lrs.windows(2).all(|w| w[1] < w[0]), "{lrs:?}");
        // Symmetric about the midpoint.
        assert!(((s.lr_at(1.0, 2) - 0.55) + (s.lr_at(1.0, 8) - 0.55)).abs() < 1e-6);
        assert_eq!(LrSchedule::cosine(0).lr_at(1.0, 0), 0.0);
    }

    #[test]
    fn display_reads_as_configuration() {
        assert_eq!(
            LrSchedule::StepDecay {
                every: 10,
                gamma: 0.5
            }
            .to_string(),
            "step decay x0.5 every 10 epochs"
        );
        assert_eq!(LrSchedule::cosine(20).to_string(), "cosine to 0 over 20 epochs");
    }
}
