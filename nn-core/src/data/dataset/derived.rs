//! New datasets made from one: its features or value targets mapped, a subset of its samples,
//! and a seeded split into training and validation samples.

use super::{check_finite, invalid, Dataset, Features, Stored};
use crate::data::source::DataSource;
use crate::data::DataError;
use crate::error::Result;
use crate::rng::StdRng;
use rand::seq::SliceRandom;

impl Dataset {
    /// The same samples with each feature value `v` replaced by `f(v, position in the sample)`,
    /// as `f32` (pixels as filled, divided by 255): for standardisation. Fails if a new value is
    /// not finite, naming it.
    pub fn map_features(&self, f: impl Fn(f32, usize) -> f32) -> Result<Dataset> {
        let per_sample = self.feature_len;
        let values: Vec<f32> = match &self.features {
            Features::U8(p) => p
                .iter()
                .enumerate()
                .map(|(i, &v)| f(f32::from(v) / 255.0, i % per_sample))
                .collect(),
            Features::F32(v) => v.iter().enumerate().map(|(i, &v)| f(v, i % per_sample)).collect(),
        };
        check_finite("feature", &values, &self.feature_shape)?;
        Ok(Dataset {
            features: Features::F32(values),
            ..self.clone_without_features()
        })
    }

    /// The same samples with each value target `v` replaced by `f(v, position in the sample)`.
    /// Fails unless the targets are values, or if a new value is not finite.
    pub fn map_target_values(&self, f: impl Fn(f32, usize) -> f32) -> Result<Dataset> {
        let Stored::Values { values, shape } = &self.targets else {
            return Err(invalid(format!(
                "map_target_values: the targets are {}, not values",
                self.target_kind()
            )));
        };
        let per_sample = shape.iter().product::<usize>();
        let values: Vec<f32> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| f(v, i % per_sample))
            .collect();
        check_finite("target value", &values, shape)?;
        let shape = shape.clone();
        Ok(Dataset {
            targets: Stored::Values { values, shape },
            ..self.clone()
        })
    }

    /// Every field but the features, which are left empty (to be replaced).
    fn clone_without_features(&self) -> Dataset {
        Dataset {
            features: Features::F32(Vec::new()),
            feature_shape: self.feature_shape.clone(),
            feature_len: self.feature_len,
            len: self.len,
            targets: self.targets.clone(),
        }
    }

    /// The samples at `indices`, in that order, as a new dataset. Fails if an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(invalid(format!(
                "subset index {bad} is out of range for {} samples",
                self.len()
            )));
        }
        let f = self.feature_len;
        let features = match &self.features {
            Features::U8(p) => Features::U8(gather(p, indices, f)),
            Features::F32(v) => Features::F32(gather(v, indices, f)),
        };
        let targets = match &self.targets {
            Stored::Classes { labels, classes } => Stored::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                classes: *classes,
            },
            Stored::Values { values, shape } => Stored::Values {
                values: gather(values, indices, shape.iter().product()),
                shape: shape.clone(),
            },
            other => other.clone(),
        };
        Ok(Dataset {
            features,
            feature_shape: self.feature_shape.clone(),
            feature_len: f,
            len: indices.len(),
            targets,
        })
    }

    /// Splits off `n_valid` randomly chosen samples for validation: returns `(train, valid)`.
    /// The shuffle comes from `rng`, so the same seed gives the same split. MNIST's usual split is
    /// `split_valid(10_000, ..)` (50,000 / 10,000), as in the seed notebook.
    pub fn split_valid(&self, n_valid: usize, rng: &mut StdRng) -> Result<(Dataset, Dataset)> {
        let (train, valid) = split_order(self.len(), n_valid, rng)?;
        Ok((self.subset(&train)?, self.subset(&valid)?))
    }
}

/// The indices `0..len` shuffled by `rng` and split into `(train, valid)`, `n_valid` of them in
/// validation: the split of every `split_valid`, so one seed splits a dataset and an image folder
/// of the same length alike.
pub(crate) fn split_order(len: usize, n_valid: usize, rng: &mut StdRng) -> Result<(Vec<usize>, Vec<usize>)> {
    if n_valid > len {
        return Err(DataError::SplitTooLarge { n_valid, len }.into());
    }
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(rng);
    let train = order.split_off(n_valid);
    Ok((train, order))
}

fn gather<T: Copy>(values: &[T], indices: &[usize], f: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(indices.len() * f);
    for &i in indices {
        out.extend_from_slice(&values[i * f..(i + 1) * f]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{filled, pixels};
    use super::*;
    use crate::data::targets::TargetKind;
    use crate::data::Targets;
    use crate::rng::seeded;
    use crate::tensor::Tensor;
    use ndarray::IxDyn;

    #[test]
    fn value_targets_follow_their_samples_through_subsets_and_batches() {
        let x = Tensor::from_shape_fn(vec![5, 2], |i| (i[0] * 10 + i[1]) as f32);
        let y = Tensor::from_shape_fn(vec![5, 1, 2], |i| -((i[0] * 10 + i[2]) as f32));
        let d = Dataset::from_tensors(x, y).unwrap();
        assert_eq!(d.target_kind(), TargetKind::Values(&[1, 2]));
        let sub = d.subset(&[4, 1]).unwrap();
        let b = filled(&sub, &[1, 0]);
        assert_eq!(b.inputs.as_slice().unwrap(), &[10.0, 11.0, 40.0, 41.0]);
        let Targets::Values(t) = b.targets() else {
            panic!("values")
        };
        assert_eq!(t.shape(), &[2, 1, 2]);
        assert_eq!(t.as_slice().unwrap(), &[-10.0, -11.0, -40.0, -41.0]);
        assert!(d.subset(&[]).unwrap().is_empty());
        // NaN or infinity in the targets: an error naming the sample.
        let bad = Tensor::from_shape_vec(vec![2, 2], vec![0.0, 1.0, f32::INFINITY, 0.0]).unwrap();
        let err = Dataset::from_tensors(Tensor::zeros(IxDyn(&[2, 3])), bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("target value 0 of sample 1 is inf"), "{err}");
        let err = Dataset::from_tensors(Tensor::zeros(IxDyn(&[2, 3])), Tensor::zeros(IxDyn(&[3, 1])))
            .unwrap_err()
            .to_string();
        assert!(err.contains("different numbers of samples"), "{err}");
    }

    #[test]
    fn split_is_seeded_disjoint_and_checked() {
        let d = pixels(25, 5);
        let (t1, v1) = d.split_valid(12, &mut seeded(7)).unwrap();
        let (t2, v2) = d.split_valid(12, &mut seeded(7)).unwrap();
        assert_eq!((t1.len(), v1.len()), (13, 12));
        assert_eq!((&t1, &v1), (&t2, &v2));
        let (_, v3) = d.split_valid(12, &mut seeded(8)).unwrap();
        assert_ne!(v1, v3);
        // Every sample lands in exactly one part: the first pixel of each row is 10 * index.
        let mut ids: Vec<u8> = t1
            .pixels()
            .unwrap()
            .iter()
            .chain(v1.pixels().unwrap())
            .step_by(6)
            .copied()
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..25).map(|i| (i * 10) as u8).collect::<Vec<_>>());
        assert!(d.split_valid(25, &mut seeded(1)).is_ok());
        let err = d.split_valid(26, &mut seeded(1)).unwrap_err().to_string();
        assert!(err.contains("26") && err.contains("25"), "{err}");
    }

    #[test]
    fn mapped_features_and_targets_are_checked() {
        let x = Tensor::from_shape_vec(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let y = Tensor::from_shape_vec(vec![2, 1], vec![5.0, 6.0]).unwrap();
        let d = Dataset::from_tensors(x, y).unwrap();
        let m = d.map_features(|v, j| v * 10.0 + j as f32).unwrap();
        assert_eq!(m.features().unwrap(), &[10.0, 21.0, 30.0, 41.0]);
        let t = d.map_target_values(|v, _| v - 5.0).unwrap();
        assert_eq!(t.target_values().unwrap(), &[0.0, 1.0]);
        let err = d.map_features(|v, _| v / 0.0).unwrap_err().to_string();
        assert!(err.contains("feature 0 of sample 0 is inf"), "{err}");
        assert!(pixels(2, 2).map_target_values(|v, _| v).is_err());
        // Pixels are mapped as batches fill them.
        assert_eq!(
            pixels(1, 1).map_features(|v, _| v).unwrap().features().unwrap()[1],
            1.0 / 255.0
        );
    }
}
