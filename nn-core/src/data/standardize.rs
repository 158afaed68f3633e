//! [`Standardizer`]: per-column standardisation `(x - mean) / std`, fitted on the training split
//! and applied unchanged to the others (scikit-learn's `StandardScaler`).

use super::dataset::Dataset;
use super::source::DataSource;
use super::targets::TargetKind;
use super::DataError;
use crate::error::Result;
use crate::tensor::Tensor;

/// Each column's mean and standard deviation, fitted on one dataset (the training split, so that
/// nothing about the validation or test samples leaks into training) and applied to any.
///
/// The standard deviation is the population one (divided by N, as scikit-learn's), and a
/// constant column keeps a scale of 1 rather than dividing by zero.
///
/// ```
/// use nn_core::data::{Dataset, Standardizer};
/// use nn_core::Tensor;
/// let x = Tensor::from_shape_vec(vec![3, 2], vec![1.0, 10.0, 2.0, 10.0, 3.0, 10.0]).unwrap();
/// let train = Dataset::from_tensor(x, vec![0, 1, 0], 2)?;
/// let scaler = Standardizer::fit_features(&train);
/// assert_eq!(scaler.mean(), &[2.0, 10.0]);
/// let scaled = scaler.features(&train)?;
/// let first = &scaled.features().unwrap()[..2]; // (1 - 2) / sqrt(2/3), and a constant column's 0
/// assert!((first[0] + 1.5f32.sqrt()).abs() < 1e-6 && first[1] == 0.0);
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Standardizer {
    /// The mean and standard deviation of each feature position of `data` (pixels as batches fill
    /// them, divided by 255).
    pub fn fit_features(data: &Dataset) -> Self {
        let width = data.feature_len();
        match (data.features(), data.pixels()) {
            (Some(v), _) => Self::fit(v.iter().copied(), width),
            (None, Some(p)) => Self::fit(p.iter().map(|&p| f32::from(p) / 255.0), width),
            (None, None) => unreachable!("a dataset stores u8 or f32 features"),
        }
    }

    /// The mean and standard deviation of each position of `data`'s value targets (to train a
    /// regression on targets of any scale; [`Standardizer::inverse`] turns predictions back).
    /// Fails unless the targets are values.
    pub fn fit_targets(data: &Dataset) -> Result<Self> {
        match (data.target_values(), data.target_kind()) {
            (Some(v), TargetKind::Values(shape)) => Ok(Self::fit(v.iter().copied(), shape.iter().product())),
            _ => Err(DataError::Invalid(format!(
                "Standardizer::fit_targets: the targets are {}, not values",
                data.target_kind()
            ))
            .into()),
        }
    }

    fn fit(values: impl Iterator<Item = f32> + Clone, width: usize) -> Self {
        let mut sum = vec![0f64; width];
        let mut count = 0usize;
        for (i, v) in values.clone().enumerate() {
            sum[i % width] += f64::from(v);
            count += usize::from(i % width == 0);
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / count.max(1) as f64).collect();
        let mut squares = vec![0f64; width];
        for (i, v) in values.enumerate() {
            squares[i % width] += (f64::from(v) - mean[i % width]).powi(2);
        }
        let std = squares
            .iter()
            .map(|s| {
                let std = (s / count.max(1) as f64).sqrt() as f32;
                // A constant column (or one of a single sample) is left unscaled.
                if std > 0.0 && std.is_finite() {
                    std
                } else {
                    1.0
                }
            })
            .collect();
        Standardizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        }
    }

    /// The means, one per column.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The standard deviations, one per column (1 for a constant column).
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// `data` with its features standardised. Fails unless it has this many feature positions.
    pub fn features(&self, data: &Dataset) -> Result<Dataset> {
        self.check_width("features", data.feature_len())?;
        data.map_features(|v, j| (v - self.mean[j]) / self.std[j])
    }

    /// `data` with its value targets standardised. Fails unless they are values of this width.
    pub fn targets(&self, data: &Dataset) -> Result<Dataset> {
        let width = data.target_values().map_or(0, |v| v.len() / data.len().max(1));
        if !data.is_empty() {
            self.check_width("targets", width)?;
        }
        data.map_target_values(|v, j| (v - self.mean[j]) / self.std[j])
    }

    /// Turns standardised values `[N, columns]` (a regression's predictions) back into the
    /// original units, in place: `v * std + mean`.
    ///
    /// # Panics
    /// Unless each row has one value per column.
    pub fn inverse(&self, values: &mut Tensor) {
        let width = self.mean.len();
        assert!(
            values.shape().last() == Some(&width),
            "Standardizer::inverse: values of shape {:?}, expected [N, {width}]",
            values.shape()
        );
        for (i, v) in values.iter_mut().enumerate() {
            *v = *v * self.std[i % width] + self.mean[i % width];
        }
    }

    fn check_width(&self, what: &str, width: usize) -> Result<()> {
        if width != self.mean.len() {
            return Err(DataError::Invalid(format!(
                "a standardizer fitted on {} columns cannot standardise {what} of {width}",
                self.mean.len()
            ))
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_on_training_applied_to_others_and_inverted() {
        let x = |v: Vec<f32>| Tensor::from_shape_vec(vec![v.len() / 2, 2], v).unwrap();
        let y = |v: Vec<f32>| Tensor::from_shape_vec(vec![v.len(), 1], v).unwrap();
        let train =
            Dataset::from_tensors(x(vec![0.0, 5.0, 2.0, 5.0, 4.0, 5.0]), y(vec![10.0, 20.0, 30.0])).unwrap();
        let test = Dataset::from_tensors(x(vec![6.0, 7.0]), y(vec![40.0])).unwrap();
        let f = Standardizer::fit_features(&train);
        assert_eq!(
            (f.mean(), f.std()),
            (&[2.0, 5.0][..], &[(8.0f32 / 3.0).sqrt(), 1.0][..])
        );
        let scaled = f.features(&test).unwrap();
        assert_eq!(scaled.features().unwrap(), &[4.0 / (8.0f32 / 3.0).sqrt(), 2.0]);
        let t = Standardizer::fit_targets(&train).unwrap();
        let st = t.targets(&test).unwrap();
        let mut back = Tensor::from_shape_vec(vec![1, 1], st.target_values().unwrap().to_vec()).unwrap();
        t.inverse(&mut back);
        assert!((back[[0, 0]] - 40.0).abs() < 1e-5);
        // Widths must agree; class targets have no values to fit.
        let other = Dataset::from_tensors(Tensor::zeros(vec![2, 3]), Tensor::zeros(vec![2, 1])).unwrap();
        assert!(f
            .features(&other)
            .unwrap_err()
            .to_string()
            .contains("fitted on 2 columns"));
        let classes = Dataset::from_f32(vec![0.0; 4], &[2], vec![0, 1], 2).unwrap();
        assert!(Standardizer::fit_targets(&classes).is_err());
    }
}
