//! [`ReduceLROnPlateau`]: lowers the learning rates when a monitored value stops improving, with
//! PyTorch's arguments and arithmetic.

use crate::error::Result;
use crate::train::callback::{Callback, Context};
use crate::train::error::TrainError;
use crate::train::history::EpochRecord;
use crate::train::monitor::{Monitor, MonitorMode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Whether [`ReduceLROnPlateau`]'s threshold is relative to the best value or absolute
/// (PyTorch's `threshold_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdMode {
    /// Better means beyond `best * (1 ∓ threshold)`.
    Rel,
    /// Better means beyond `best ∓ threshold`.
    Abs,
}

/// Lowers every parameter group's learning rate by `factor` once the monitored value has not
/// improved for more than `patience` epochs (PyTorch's `torch.optim.lr_scheduler.ReduceLROnPlateau`,
/// stepped with the monitored value after each epoch).
///
/// The arguments and defaults are PyTorch's: `mode` (from the monitor: lower is better for a
/// loss), `factor` 0.1, `patience` 10, `threshold` 1e-4 with `threshold_mode` relative,
/// `cooldown` 0, `min_lr` 0 (one for all groups, or one per group), `eps` 1e-8. As PyTorch: an
/// epoch improves if its value beats the best by more than the threshold; after more than
/// `patience` epochs in a row without improvement, each rate becomes `max(rate * factor,
/// min_lr)` (unless that changes it by `eps` or less), the count restarts, and the `cooldown`
/// epochs that follow count no bad epoch. The first fixture test checks the rates against
/// PyTorch's on the same values.
///
/// It lowers the rates the trainer's schedule starts from
/// ([`Context::base_learning_rates_mut`]), from the next epoch on: with the default constant
/// schedule that is the rate itself, as in PyTorch; with another schedule the reduction
/// multiplies the scheduled rate. Its state (best value, counts) is saved in checkpoints.
///
/// ```
/// use nn_core::train::{ReduceLROnPlateau, Trainer};
/// use nn_core::Adam;
/// let trainer = Trainer::new(Adam::new(1e-3))
///     .callback(ReduceLROnPlateau::new("valid_loss").factor(0.5).patience(2).min_lr(1e-5));
/// ```
#[derive(Clone, Debug)]
pub struct ReduceLROnPlateau {
    monitor: Monitor,
    factor: f32,
    patience: usize,
    threshold: f32,
    threshold_mode: ThresholdMode,
    cooldown: usize,
    min_lrs: Vec<f32>,
    eps: f32,
    state: PlateauState,
}

/// What [`ReduceLROnPlateau`] remembers between epochs (PyTorch's `state_dict`'s counters).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct PlateauState {
    /// The best value so far; `None` before the first (PyTorch's `inf`, which JSON cannot hold).
    best: Option<f32>,
    num_bad_epochs: usize,
    cooldown_counter: usize,
}

impl ReduceLROnPlateau {
    /// Watches `monitor` (a history column such as `valid_loss`, or a [`Monitor`]), with
    /// PyTorch's defaults.
    pub fn new(monitor: impl Into<Monitor>) -> Self {
        ReduceLROnPlateau {
            monitor: monitor.into(),
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lrs: vec![0.0],
            eps: 1e-8,
            state: PlateauState::default(),
        }
    }

    /// Whether lower (`Min`) or higher (`Max`) values are better, instead of the monitor's.
    pub fn mode(mut self, mode: MonitorMode) -> Self {
        self.monitor = match mode {
            MonitorMode::Min => Monitor::min(self.monitor.column()),
            MonitorMode::Max => Monitor::max(self.monitor.column()),
        };
        self
    }

    /// The factor each reduction multiplies the rates by.
    ///
    /// # Panics
    /// Unless `0 <= factor < 1` (PyTorch refuses a factor of 1 or more).
    pub fn factor(mut self, factor: f32) -> Self {
        assert!(
            (0.0..1.0).contains(&factor),
            "ReduceLROnPlateau: factor must be in [0, 1), got {factor}"
        );
        self.factor = factor;
        self
    }

    /// The epochs without improvement allowed before a reduction (it comes after `patience + 1`).
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// How much better than the best a value must be to count as an improvement.
    ///
    /// # Panics
    /// If `threshold` is negative or not finite.
    pub fn threshold(mut self, threshold: f32) -> Self {
        assert!(
            threshold.is_finite() && threshold >= 0.0,
            "ReduceLROnPlateau: threshold must be finite and >= 0, got {threshold}"
        );
        self.threshold = threshold;
        self
    }

    /// Whether the threshold is relative to the best value (default) or absolute.
    pub fn threshold_mode(mut self, mode: ThresholdMode) -> Self {
        self.threshold_mode = mode;
        self
    }

    /// The epochs after a reduction during which no epoch counts as bad.
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The floor of every group's rate.
    ///
    /// # Panics
    /// If `min_lr` is negative or not finite.
    pub fn min_lr(self, min_lr: f32) -> Self {
        self.min_lrs(vec![min_lr])
    }

    /// One floor per parameter group: the optimizer's default group first, then each of
    /// [`Optimizer::param_groups`](crate::optim::Optimizer::param_groups) (checked when training
    /// starts).
    ///
    /// # Panics
    /// If a floor is negative or not finite, or none is given.
    pub fn min_lrs(mut self, min_lrs: Vec<f32>) -> Self {
        assert!(
            !min_lrs.is_empty(),
            "ReduceLROnPlateau: min_lrs needs one rate per group"
        );
        for &m in &min_lrs {
            assert!(
                m.is_finite() && m >= 0.0,
                "ReduceLROnPlateau: min_lr must be finite and >= 0, got {m}"
            );
        }
        self.min_lrs = min_lrs;
        self
    }

    /// The smallest change of a rate worth making.
    pub fn eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    /// The monitored value's best so far.
    pub fn best(&self) -> Option<f32> {
        self.state.best
    }

    /// Epochs in a row without improvement so far.
    pub fn num_bad_epochs(&self) -> usize {
        self.state.num_bad_epochs
    }

    /// One epoch's `value`: PyTorch's `step(value)`. Returns whether the rates are to be
    /// reduced now.
    fn step(&mut self, value: f32) -> bool {
        let s = &mut self.state;
        let best = s.best.unwrap_or(self.monitor.worst());
        // In f64, as PyTorch computes with Python floats.
        let (v, b, t) = (f64::from(value), f64::from(best), f64::from(self.threshold));
        let better = match (self.monitor.mode(), self.threshold_mode) {
            (MonitorMode::Min, ThresholdMode::Rel) => v < b * (1.0 - t),
            (MonitorMode::Min, ThresholdMode::Abs) => v < b - t,
            (MonitorMode::Max, ThresholdMode::Rel) => v > b * (t + 1.0),
            (MonitorMode::Max, ThresholdMode::Abs) => v > b + t,
        };
        if better {
            s.best = Some(value);
            s.num_bad_epochs = 0;
        } else {
            s.num_bad_epochs += 1;
        }
        if s.cooldown_counter > 0 {
            s.cooldown_counter -= 1;
            s.num_bad_epochs = 0;
        }
        if s.num_bad_epochs > self.patience {
            s.cooldown_counter = self.cooldown;
            s.num_bad_epochs = 0;
            return true;
        }
        false
    }

    /// Each rate times the factor, not below its group's floor, unless the change is within eps.
    fn reduce(&self, rates: &mut [f32]) -> bool {
        let mut changed = false;
        for (i, rate) in rates.iter_mut().enumerate() {
            let floor = self.min_lrs[if self.min_lrs.len() == 1 { 0 } else { i }];
            let old = f64::from(*rate);
            let new = (old * f64::from(self.factor)).max(f64::from(floor));
            if old - new > f64::from(self.eps) {
                *rate = new as f32;
                changed = true;
            }
        }
        changed
    }
}

impl Callback for ReduceLROnPlateau {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.monitor.check("ReduceLROnPlateau", ctx)?;
        let groups = ctx.base_learning_rates().len();
        if self.min_lrs.len() != 1 && self.min_lrs.len() != groups {
            return Err(TrainError::CallbackSetup {
                callback: self.name(),
                message: format!(
                    "it has {} min_lrs, but the optimizer has {groups} parameter groups (its \
                     default group and {} more); give one min_lr, or one per group",
                    self.min_lrs.len(),
                    groups - 1
                ),
            }
            .into());
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, record: &EpochRecord) -> Result<()> {
        let value = self.monitor.value(record).unwrap_or(f32::NAN);
        if self.step(value) && self.reduce(ctx.base_learning_rates_mut()) {
            let text = format!(
                "ReduceLROnPlateau: {} has not improved for {} epochs; learning rates now {:?}",
                self.monitor.column(),
                self.patience + 1,
                ctx.base_learning_rates()
            );
            ctx.note(&text);
        }
        Ok(())
    }

    fn state(&self) -> Option<Value> {
        Some(serde_json::to_value(&self.state).expect("the state serialises"))
    }

    fn load_state(&mut self, state: &Value) -> Result<()> {
        self.state = PlateauState::deserialize(state).map_err(|e| TrainError::CallbackState {
            callback: self.name(),
            message: e.to_string(),
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `values`, one per epoch, through `plateau`: the rate after each epoch, starting at 1.
    fn rates(mut plateau: ReduceLROnPlateau, values: &[f32]) -> Vec<f32> {
        let mut rate = [1.0f32];
        values
            .iter()
            .map(|&v| {
                if plateau.step(v) {
                    plateau.reduce(&mut rate);
                }
                rate[0]
            })
            .collect()
    }

    #[test]
    fn reduces_after_more_than_patience_bad_epochs_then_cools_down() {
        let p = ReduceLROnPlateau::new("valid_loss")
            .patience(1)
            .factor(0.5)
            .cooldown(1);
        // Epoch 1 is best; 2 and 3 are bad, the second of them exceeds patience 1: reduce.
        // Epoch 4 is in cooldown (no bad count); 5 and 6 bad again: reduce after 6.
        let got = rates(p, &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(got, [1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn the_relative_threshold_ignores_tiny_improvements_and_min_lr_floors_the_rate() {
        let p = ReduceLROnPlateau::new("valid_loss").patience(0).min_lr(0.3);
        // 0.99999 is not below 1 * (1 - 1e-4): no improvement, reduce to max(0.1, 0.3).
        assert_eq!(rates(p.clone(), &[1.0, 0.99999]), [1.0, 0.3]);
        // Already at the floor: no further change.
        assert_eq!(rates(p, &[1.0, 2.0, 3.0]), [1.0, 0.3, 0.3]);
        let abs = ReduceLROnPlateau::new("valid_acc")
            .patience(0)
            .threshold(0.01)
            .threshold_mode(ThresholdMode::Abs);
        // Max mode for an accuracy: 0.505 is not above 0.5 + 0.01.
        assert_eq!(rates(abs, &[0.5, 0.6, 0.605]), [1.0, 1.0, 0.1]);
    }

    #[test]
    fn the_rates_are_pytorch_s_on_the_same_values() {
        // tools/make_plateau_fixture.py: torch.optim.lr_scheduler.ReduceLROnPlateau stepped with
        // each value, the rate of every group after each step, on f32 values and settings.
        let fixture: Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/plateau_pytorch.json")).unwrap();
        let number = |v: &Value| v.as_f64().unwrap() as f32;
        for (k, case) in fixture["cases"].as_array().unwrap().iter().enumerate() {
            let mode = match case["mode"].as_str().unwrap() {
                "min" => MonitorMode::Min,
                _ => MonitorMode::Max,
            };
            let min_lrs = match &case["min_lr"] {
                Value::Array(a) => a.iter().map(number).collect(),
                v => vec![number(v)],
            };
            let mut plateau = ReduceLROnPlateau::new("valid_x")
                .mode(mode)
                .factor(number(&case["factor"]))
                .patience(case["patience"].as_u64().unwrap() as usize)
                .threshold(number(&case["threshold"]))
                .threshold_mode(match case["threshold_mode"].as_str().unwrap() {
                    "rel" => ThresholdMode::Rel,
                    _ => ThresholdMode::Abs,
                })
                .cooldown(case["cooldown"].as_u64().unwrap() as usize)
                .min_lrs(min_lrs)
                .eps(number(&case["eps"]));
            let mut rates: Vec<f32> = case["lrs"].as_array().unwrap().iter().map(number).collect();
            let values = case["values"].as_array().unwrap();
            for (epoch, (value, expected)) in values
                .iter()
                .zip(case["expected"].as_array().unwrap())
                .enumerate()
            {
                let value = value.as_f64().map_or(f32::NAN, |v| v as f32);
                if plateau.step(value) {
                    plateau.reduce(&mut rates);
                }
                // PyTorch keeps each rate in f64, nn in f32: equal to f32's precision.
                for (got, want) in rates.iter().zip(expected.as_array().unwrap()) {
                    let want = want.as_f64().unwrap();
                    assert!(
                        (f64::from(*got) - want).abs() <= 1e-6 * want,
                        "case {k}, epoch {}: {rates:?} vs {expected}",
                        epoch + 1
                    );
                }
            }
        }
    }

    #[test]
    fn a_nan_value_is_a_bad_epoch() {
        let p = ReduceLROnPlateau::new("valid_loss").patience(0);
        assert_eq!(rates(p, &[f32::NAN, 1.0, f32::NAN]), [0.1, 0.1, 0.010000001]);
    }
}
