//! [`RootMeanSquaredError`]: the square root of the mean of (output - target)^2 (`rmse`).

use super::{check_values, value_pairs, Metric};
use crate::data::{TargetKind, Targets};
use crate::tensor::Tensor;

/// The square root of the mean squared difference between outputs and value targets over every
/// element seen (not the mean of per-batch roots), in the targets' units.
///
/// ```
/// use nn_core::metrics::{Metric, RootMeanSquaredError};
/// use nn_core::{Targets, Tensor};
/// let mut rmse = RootMeanSquaredError::new();
/// let y = Tensor::from_shape_vec(vec![2, 1], vec![1.0, 5.0]).unwrap();
/// let t = Tensor::from_shape_vec(vec![2, 1], vec![2.0, 2.0]).unwrap();
/// rmse.update(&y, Targets::Values(&t));
/// assert_eq!(rmse.value(), 5f32.sqrt());
/// ```
#[derive(Clone, Debug, Default)]
pub struct RootMeanSquaredError {
    sum: f64,
    count: usize,
}

impl RootMeanSquaredError {
    /// A root mean squared error with nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Metric for RootMeanSquaredError {
    fn name(&self) -> &str {
        "rmse"
    }

    fn reset(&mut self) {
        *self = Self::default();
    }

    fn update(&mut self, output: &Tensor, targets: Targets<'_>) {
        for (y, t) in value_pairs("rmse", output, targets) {
            self.sum += f64::from(y - t).powi(2);
            self.count += 1;
        }
    }

    fn value(&self) -> f32 {
        (self.sum / self.count as f64).sqrt() as f32
    }

    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        check_values(output, targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MeanAbsoluteError;

    #[test]
    fn epoch_values_pool_every_element_not_batch_means() {
        let t1 = |v: Vec<f32>| Tensor::from_shape_vec(vec![v.len(), 1], v).unwrap();
        let (y1, y2) = (t1(vec![1.0, 2.0, 3.0]), t1(vec![10.0]));
        let (a1, a2) = (t1(vec![0.0, 0.0, 0.0]), t1(vec![0.0]));
        let mut rmse = RootMeanSquaredError::new();
        let mut mae = MeanAbsoluteError::new();
        for (y, a) in [(&y1, &a1), (&y2, &a2)] {
            rmse.update(y, Targets::Values(a));
            mae.update(y, Targets::Values(a));
        }
        assert_eq!(rmse.value(), ((1.0 + 4.0 + 9.0 + 100.0) / 4.0f64).sqrt() as f32);
        assert_eq!(mae.value(), 4.0);
        rmse.reset();
        assert!(rmse.value().is_nan());
        assert!(rmse.check(&[1], TargetKind::Values(&[1])).is_ok());
        assert!(mae.check(&[1], TargetKind::Classes(2)).is_err());
    }

    #[test]
    #[should_panic(expected = "rmse: outputs of shape [2, 1] but targets of class indices below 2")]
    fn class_targets_panic_naming_the_metric() {
        let y = Tensor::zeros(vec![2, 1]);
        RootMeanSquaredError::new().update(&y, Targets::Classes(&[0, 1]));
    }
}
