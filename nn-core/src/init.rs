//! Weight initialisation, exactly as the seed notebook defines it.
//!
//! Every scheme draws `N(0, std)` samples from an RNG the caller seeded, so two runs with one
//! seed give bit-identical weights. Biases start at zero (see [`crate::layers::Linear`]).

use crate::rng::StdRng;
use crate::tensor::Tensor;
use ndarray::IxDyn;
use rand::Rng as _;
use rand_distr::StandardNormal;

/// How to draw a layer's initial weights: `N(0, std)` with `std` fixed or derived from the
/// layer's fan-in (its number of input features).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// A fixed standard deviation, such as the seed's `weight_init_std = 0.01`.
    Std(f32),
    /// He (Kaiming) initialisation for ReLU networks: `std = sqrt(2 / fan_in)`.
    He,
    /// Xavier initialisation as the seed defines it, for sigmoid/tanh networks:
    /// `std = sqrt(1 / fan_in)` (the seed's variant, not Glorot's `sqrt(2 / (fan_in + fan_out))`).
    Xavier,
}

impl Init {
    /// The standard deviation this scheme uses for a layer with `fan_in` inputs.
    ///
    /// Panics if `fan_in` is zero or a fixed std is negative or not finite (programmer errors).
    pub fn std(self, fan_in: usize) -> f64 {
        assert!(fan_in > 0, "Init: fan_in must be at least 1");
        match self {
            Init::Std(s) => {
                assert!(
                    s.is_finite() && s >= 0.0,
                    "Init::Std needs a finite, non-negative standard deviation, got {s}"
                );
                f64::from(s)
            }
            Init::He => (2.0 / fan_in as f64).sqrt(),
            Init::Xavier => (1.0 / fan_in as f64).sqrt(),
        }
    }

    /// A tensor of `shape` filled with `N(0, std)` draws from `rng`, in row-major order.
    ///
    /// ```
    /// use nn_core::{init::Init, seeded};
    /// let w = Init::He.sample(&[128, 784], 784, &mut seeded(4321));
    /// assert_eq!(w.shape(), &[128, 784]);
    /// ```
    pub fn sample(self, shape: &[usize], fan_in: usize, rng: &mut StdRng) -> Tensor {
        let std = self.std(fan_in);
        // Sample in f64 and round once, so the f32 weights are the nearest values to std * z.
        Tensor::from_shape_simple_fn(IxDyn(shape), || {
            let z: f64 = rng.sample(StandardNormal);
            (z * std) as f32
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;

    #[test]
    fn std_follows_the_seed_formulas() {
        assert_eq!(Init::Std(0.01).std(784), f64::from(0.01f32));
        assert!((Init::He.std(784) - (2.0f64 / 784.0).sqrt()).abs() < 1e-15);
        assert!((Init::Xavier.std(100) - 0.1).abs() < 1e-15);
    }

    #[test]
    fn same_seed_gives_bit_identical_weights_and_another_seed_does_not() {
        let a = Init::He.sample(&[64, 32], 32, &mut seeded(4321));
        let b = Init::He.sample(&[64, 32], 32, &mut seeded(4321));
        let c = Init::He.sample(&[64, 32], 32, &mut seeded(4322));
        let bits = |t: &Tensor| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b));
        assert_ne!(bits(&a), bits(&c));
    }

    #[test]
    fn samples_have_the_requested_spread() {
        // 100k draws: the sample std is within 1% of the target with overwhelming probability.
        let w = Init::He.sample(&[200, 500], 500, &mut seeded(1));
        let n = w.len() as f64;
        let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = w.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        let target = (2.0f64 / 500.0).sqrt();
        assert!(mean.abs() < 0.01 * target, "mean {mean}");
        assert!(
            (var.sqrt() / target - 1.0).abs() < 0.01,
            "std {} vs {target}",
            var.sqrt()
        );
    }

    #[test]
    #[should_panic(expected = "non-negative standard deviation")]
    fn negative_std_is_rejected() {
        Init::Std(-0.1).std(10);
    }
}
