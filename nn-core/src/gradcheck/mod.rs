//! Gradient checking: compares a layer's backward with central finite differences of its
//! forward, for the input and for every parameter, by name. Works on any [`Layer`], including
//! your own.
//!
//! The check is deterministic: the input `x` and a projection `r` of the output are drawn from
//! an RNG with a fixed seed, and the scalar compared is `L = sum(r * forward(x))`, whose gradient
//! with respect to the output is exactly `r` (what backward receives). Layers compute in f32;
//! `L` is accumulated in f64 and each difference quotient divides by the step actually taken
//! (`x + eps` rounded to f32), so the only f32 error left is the rounding of the outputs.
//!
//! Defaults: step `eps = 1e-2`, tolerance `1e-2` on the error
//! `|analytic - numeric| / max(|analytic|, |numeric|, scale)`, where `scale` is the largest
//! gradient (analytic or numeric) of the same tensor or, if larger, 100 times the f32 rounding
//! noise of the difference quotients (noise alone stays within 1e-2). That noise is bounded by
//! `f32::EPSILON * sum(|r * y|) / eps` (each output rounds by half an ulp, doubled to cover the
//! layer's own intermediate roundings). So each value is compared relative to its tensor's
//! gradients: a backward off by half in a layer whose gradients are all about 1e-3 fails, while
//! a gradient that is zero up to rounding (a bias before BatchNorm) passes, which no fixed
//! absolute floor does both of. With f32 outputs a smaller step amplifies rounding noise and a
//! larger one adds truncation error (`eps^2 * f''' / 6`); at 1e-2 both stay near 1e-4 for the
//! built-in layers, while a wrong backward (a missing term, a transposed weight, a sign) is off
//! by far more than 1e-2.
//!
//! Inputs are drawn with magnitudes in `[0.1, 1]` and random signs, so no input lies within
//! `eps` of 0, where ReLU-like layers have a kink that finite differences cannot cross. Inside a
//! network the kinks move: a ReLU after a convolution bends wherever a pre-activation is 0, and
//! a bias step of `eps` can carry some pre-activation across it, so a correct backward fails
//! there. A failing check therefore also compares the one-sided differences at its worst value:
//! when they disagree by at least as much as backward and the central difference do, the loss
//! bends within the step ([`TensorCheck::bends_within_step`]) and the report says so and how to
//! check such a layer: at another sample ([`GradCheck::seed`], [`GradCheck::check_input`]), or
//! with a smooth activation (Tanh) in place of the ReLU-like one.

use crate::layer::{for_each_buffer, for_each_param, Layer, Mode};
use crate::rng::{seeded, StdRng};
use crate::tensor::Tensor;
use ndarray::IxDyn;
use rand::Rng as _;
mod report;

use report::{compare, Quotients};
pub use report::{GradReport, TensorCheck};

/// Checks `layer`'s gradients on a random input of `input_shape` with the default settings.
///
/// ```
/// use nn_core::{gradcheck::gradcheck, layers::Linear, init::Init, seeded};
/// let mut fc = Linear::new(6, 3, Init::He, &mut seeded(1));
/// let report = gradcheck(&mut fc, &[4, 6]);
/// assert!(report.passed(), "{report}");
/// ```
pub fn gradcheck<L: Layer + ?Sized>(layer: &mut L, input_shape: &[usize]) -> GradReport {
    GradCheck::default().check(layer, input_shape)
}

/// Settings of a gradient check: finite-difference step, pass threshold, RNG seed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradCheck {
    /// Finite-difference step added to and subtracted from each value.
    pub eps: f64,
    /// Largest error (`|a - n| / max(|a|, |n|, scale)`, see [`TensorCheck::scale`]) that passes.
    pub tolerance: f64,
    /// Seed for the random input and output projection.
    pub seed: u64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck {
            eps: 1e-2,
            tolerance: 1e-2,
            seed: crate::rng::DEFAULT_SEED,
        }
    }
}

/// A random input for gradient checks: magnitudes in `[0.1, 1]`, random signs.
fn random_input(shape: &[usize], rng: &mut StdRng) -> Tensor {
    Tensor::from_shape_simple_fn(IxDyn(shape), || {
        let magnitude: f32 = rng.random_range(0.1..=1.0);
        if rng.random::<bool>() {
            magnitude
        } else {
            -magnitude
        }
    })
}

/// `sum(|r * y|)` in f64: the scale of the terms of the projected loss, and so of its rounding.
fn magnitude(r: &Tensor, y: &Tensor) -> f64 {
    r.iter()
        .zip(y)
        .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
        .sum()
}

/// `sum(r * y)` in f64.
fn project(r: &Tensor, y: &Tensor) -> f64 {
    assert_eq!(
        r.shape(),
        y.shape(),
        "gradcheck: the layer's output shape changed between forwards of one input shape"
    );
    r.iter().zip(y).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum()
}

/// Reads the `i`-th value (logical order) of the `k`-th parameter and optionally overwrites it.
fn param_value<L: Layer + ?Sized>(layer: &mut L, k: usize, i: usize, new: Option<f32>) -> f32 {
    let (mut j, mut old) = (0, f32::NAN);
    for_each_param(layer, |_, mut p| {
        if j == k {
            let v = p
                .value
                .iter_mut()
                .nth(i)
                .expect("parameter sizes do not change during a check");
            old = *v;
            if let Some(new) = new {
                *v = new;
            }
        }
        j += 1;
    });
    old
}

impl GradCheck {
    /// Checks `layer` on a random input of `input_shape` (batch first).
    pub fn check<L: Layer + ?Sized>(&self, layer: &mut L, input_shape: &[usize]) -> GradReport {
        let mut rng = seeded(self.seed);
        let x = random_input(input_shape, &mut rng);
        self.run(layer, x, &mut rng)
    }

    /// Checks `layer` at the input `x` (for layers with kinks or input constraints of their own).
    pub fn check_input<L: Layer + ?Sized>(&self, layer: &mut L, x: Tensor) -> GradReport {
        let mut rng = seeded(self.seed);
        self.run(layer, x, &mut rng)
    }

    /// Compares `analytic`, a claimed gradient of the scalar function `f` at `x`, with central
    /// differences of `f`, reporting under `name`. For losses and other functions that are not
    /// layers: `f` should compute in f32 and return its result widened to f64. The rounding
    /// noise is estimated from `|f(x)|`, so a function whose value is a small difference of
    /// large f32 terms may need a larger `tolerance`.
    pub fn check_fn(
        &self,
        name: &str,
        x: &Tensor,
        analytic: &Tensor,
        mut f: impl FnMut(&Tensor) -> f64,
    ) -> GradReport {
        assert_eq!(
            x.shape(),
            analytic.shape(),
            "gradcheck: gradient and point differ in shape"
        );
        let mut probe = x.as_standard_layout().into_owned();
        let base = f(&probe);
        // `|f(x)|` stands in for the sum of magnitudes whose rounding perturbs `f`.
        let floor = self.noise_floor(base.abs());
        let numeric = self.input_differences(&mut probe, base, |p| f(p));
        GradReport {
            tensors: vec![compare(name, analytic, &numeric, floor)],
            deterministic: true,
            eps: self.eps,
            tolerance: self.tolerance,
        }
    }

    /// The smallest gradient scale that finite differences resolve to 1%, for a function whose
    /// terms add up to `magnitude` in absolute value: 100 times a bound on the error rounding to
    /// f32 puts into a difference quotient. Each evaluation is off by up to about
    /// `f32::EPSILON * magnitude` (half an ulp per term, doubled for the layer's own intermediate
    /// roundings), and the quotient divides the difference of two evaluations by `2 * eps`.
    /// Independent of the tolerance, so that raising the tolerance also admits more noise.
    fn noise_floor(&self, magnitude: f64) -> f64 {
        100.0 * f64::from(f32::EPSILON) * magnitude / self.eps
    }

    /// The representable f32 values a step above and below `v`.
    fn steps(&self, v: f32) -> (f32, f32) {
        ((f64::from(v) + self.eps) as f32, (f64::from(v) - self.eps) as f32)
    }

    /// The difference quotients of `f` at `original`, where `f(v)` evaluates the function with
    /// the value set to `v` and `base` is its value at `original`.
    fn quotients(&self, original: f32, base: f64, mut f: impl FnMut(f32) -> f64) -> Quotients {
        let (up, down) = self.steps(original);
        let (plus, minus) = (f(up), f(down));
        let (up, down, at) = (f64::from(up), f64::from(down), f64::from(original));
        Quotients {
            central: (plus - minus) / (up - down),
            above: (plus - base) / (up - at),
            below: (base - minus) / (at - down),
        }
    }

    /// The difference quotients of `loss` with respect to every value of `probe` (row-major),
    /// whose loss is `base`.
    fn input_differences(
        &self,
        probe: &mut Tensor,
        base: f64,
        mut loss: impl FnMut(&Tensor) -> f64,
    ) -> Vec<Quotients> {
        (0..probe.len())
            .map(|i| {
                let original = probe.as_slice().expect("row-major")[i];
                let q = self.quotients(original, base, |v| {
                    probe.as_slice_mut().expect("row-major")[i] = v;
                    loss(probe)
                });
                probe.as_slice_mut().expect("row-major")[i] = original;
                q
            })
            .collect()
    }

    fn run<L: Layer + ?Sized>(&self, layer: &mut L, x: Tensor, rng: &mut StdRng) -> GradReport {
        // Train forwards update buffers (BatchNorm's running statistics); put them back after.
        let mut saved_buffers = Vec::new();
        for_each_buffer(layer, |_, t| saved_buffers.push(t.to_owned()));

        let y = layer.forward(x.clone(), Mode::Train);
        let y_again = layer.forward(x.clone(), Mode::Train);
        let deterministic =
            y.shape() == y_again.shape() && y.iter().zip(&y_again).all(|(a, b)| a.to_bits() == b.to_bits());
        let r = Tensor::from_shape_simple_fn(y.raw_dim(), || rng.random_range(-1.0f32..=1.0));
        let dx = layer.backward(r.clone());
        assert_eq!(
            dx.shape(),
            x.shape(),
            "gradcheck: backward returned a gradient of shape {:?} for an input of shape {:?}",
            dx.shape(),
            x.shape()
        );
        let mut analytic = Vec::new();
        for_each_param(layer, |name, p| {
            analytic.push((name.to_string(), p.grad.to_owned()))
        });

        let base = project(&r, &y);
        let mut probe = x.as_standard_layout().into_owned();
        let numeric = self.input_differences(&mut probe, base, |p| {
            project(&r, &layer.forward(p.clone(), Mode::Train))
        });
        let floor = self.noise_floor(magnitude(&r, &y));
        let mut tensors = vec![compare("input", &dx, &numeric, floor)];

        for (k, (name, grad)) in analytic.iter().enumerate() {
            let numeric: Vec<Quotients> = (0..grad.len())
                .map(|i| {
                    let original = param_value(layer, k, i, None);
                    let q = self.quotients(original, base, |v| {
                        param_value(layer, k, i, Some(v));
                        project(&r, &layer.forward(x.clone(), Mode::Train))
                    });
                    param_value(layer, k, i, Some(original));
                    q
                })
                .collect();
            tensors.push(compare(name, grad, &numeric, floor));
        }

        let mut saved = saved_buffers.into_iter();
        for_each_buffer(layer, |_, mut t| {
            if let Some(s) = saved.next() {
                t.assign(&s);
            }
        });
        GradReport {
            tensors,
            deterministic,
            eps: self.eps,
            tolerance: self.tolerance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{ParamKind, Visitor};

    /// `y = w * x^2 + b`, elementwise with scalar w and b; `broken` drops the 2 in dy/dx.
    struct Square {
        w: Tensor,
        b: Tensor,
        gw: Tensor,
        gb: Tensor,
        x: Option<Tensor>,
        broken: bool,
    }

    impl Square {
        fn new(broken: bool) -> Self {
            let s = |v| Tensor::from_elem(IxDyn(&[1]), v);
            Square {
                w: s(0.7),
                b: s(0.1),
                gw: s(0.0),
                gb: s(0.0),
                x: None,
                broken,
            }
        }
    }

    impl Layer for Square {
        fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
            let y = x.mapv(|v| self.w[0] * v * v + self.b[0]);
            if mode == Mode::Train {
                self.x = Some(x);
            }
            y
        }
        fn backward(&mut self, g: Tensor) -> Tensor {
            let x = self.x.take().unwrap();
            self.gw[0] = (&g * &x * &x).sum();
            self.gb[0] = g.sum();
            let factor = if self.broken { 1.0 } else { 2.0 };
            g * &x * (factor * self.w[0])
        }
        fn visit(&mut self, v: &mut Visitor<'_>) {
            v.param("w", &mut self.w, &mut self.gw, ParamKind::Weight);
            v.param("b", &mut self.b, &mut self.gb, ParamKind::Bias);
        }
    }

    #[test]
    fn a_correct_layer_passes_with_small_errors() {
        let report = gradcheck(&mut Square::new(false), &[3, 4]);
        assert!(report.passed(), "{report}");
        assert!(report.worst_error() < 1e-4, "{report}");
        let names: Vec<_> = report.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["input", "w", "b"]);
        assert_eq!(report.tensors[0].values, 12);
    }

    #[test]
    fn a_wrong_backward_fails_and_the_report_names_where() {
        let report = gradcheck(&mut Square::new(true), &[3, 4]);
        assert!(!report.passed());
        let worst = report.worst().unwrap();
        assert_eq!(worst.name, "input");
        assert_eq!(worst.worst_index.len(), 2);
        assert!((worst.numeric / worst.analytic - 2.0).abs() < 1e-2, "{report}");
        let text = report.to_string();
        assert!(text.starts_with("gradcheck FAILED: worst error"), "{text}");
        assert!(text.contains("at input["), "{text}");
        // A smooth function: the one-sided differences agree, so no kink is blamed.
        assert!(!report.failed_at_a_kink(), "{report}");
        assert!(!text.contains("bends"), "{text}");
    }

    #[test]
    fn a_failure_at_a_kink_says_so_and_how_to_check_the_layer() {
        use crate::layers::{Relu, Tanh};
        // 0.004 is within eps = 0.01 of ReLU's kink: the central difference mixes the slopes 1
        // and 0 (0.7 of backward's value), the difference below the point too (0.4).
        let x = Tensor::from_shape_vec(vec![1, 2], vec![0.5, 0.004]).unwrap();
        let report = GradCheck::default().check_input(&mut Relu::new(), x.clone());
        assert!(!report.passed(), "{report}");
        assert!(report.failed_at_a_kink(), "{report}");
        let worst = report.worst().unwrap();
        assert_eq!(worst.worst_index, [0, 1]);
        // In units of backward's value (the output's random projection scales all three).
        let ratio = |q: f64| q / worst.analytic;
        assert!((ratio(worst.numeric) - 0.7).abs() < 1e-3, "{report}");
        assert!((ratio(worst.above) - 1.0).abs() < 1e-3, "{report}");
        assert!((ratio(worst.below) - 0.4).abs() < 1e-3, "{report}");
        let text = report.to_string();
        assert!(
            text.contains("the loss bends within ±eps of input[0, 1]"),
            "{text}"
        );
        assert!(text.contains("move the sample"), "{text}");
        assert!(text.contains("smooth activation (Tanh)"), "{text}");
        // The same point away from the kink passes, and so does a smooth activation at it.
        let away = Tensor::from_shape_vec(vec![1, 2], vec![0.5, 0.04]).unwrap();
        GradCheck::default()
            .check_input(&mut Relu::new(), away)
            .assert_passed();
        GradCheck::default()
            .check_input(&mut Tanh::new(), x)
            .assert_passed();
    }

    #[test]
    fn is_deterministic_and_restores_buffers() {
        let mut bn = crate::layers::BatchNorm::new(3);
        let a = gradcheck(&mut bn, &[4, 3]);
        let b = gradcheck(&mut bn, &[4, 3]);
        assert_eq!(a, b);
        assert!(bn.running_mean().iter().all(|&v| v == 0.0));
        assert!(bn.running_var().iter().all(|&v| v == 1.0));
    }

    #[test]
    fn checks_every_parameter_of_a_network_by_its_full_name() {
        use crate::init::Init;
        use crate::layers::{BatchNorm, Linear, Tanh};
        use crate::rng::seeded;
        let mut rng = seeded(3);
        let mut net: Vec<Box<dyn Layer>> = vec![
            Box::new(Linear::new(6, 5, Init::He, &mut rng)),
            Box::new(BatchNorm::new(5)),
            Box::new(Tanh::new()),
            Box::new(Linear::new(5, 3, Init::Xavier, &mut rng)),
        ];
        let report = gradcheck(&mut net, &[4, 2, 3]);
        report.assert_passed();
        let names: Vec<_> = report.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["input", "0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
        );
    }

    /// A layer whose backward scales the input gradient of `inner` by `factor`.
    struct ScaledDx<L> {
        inner: L,
        factor: f32,
    }

    impl<L: Layer> Layer for ScaledDx<L> {
        fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
            self.inner.forward(x, mode)
        }
        fn backward(&mut self, g: Tensor) -> Tensor {
            self.inner.backward(g) * self.factor
        }
        fn visit(&mut self, v: &mut Visitor<'_>) {
            self.inner.visit(v)
        }
    }

    #[test]
    fn a_wrong_backward_fails_even_where_every_gradient_is_tiny() {
        use crate::init::Init;
        use crate::layers::Linear;
        // Weights of about 1e-3 give input gradients of about 1e-3: an absolute floor of 1
        // would let a backward off by half of that through.
        let tiny = |factor| ScaledDx {
            inner: Linear::new(8, 4, Init::Std(0.001), &mut seeded(2)),
            factor,
        };
        let good = gradcheck(&mut tiny(1.0), &[5, 8]);
        good.assert_passed();
        let input = &good.tensors[0];
        assert!(input.scale < 1e-2 && input.worst_error < 1e-3, "{good}");
        let bad = gradcheck(&mut tiny(1.5), &[5, 8]);
        assert!(!bad.passed(), "{bad}");
        assert_eq!(bad.worst().unwrap().name, "input", "{bad}");
        assert!(bad.worst_error() > 0.2, "{bad}");
    }

    #[test]
    #[should_panic(expected = "w: gradient of shape [2] for a parameter of shape [1]")]
    fn a_parameter_gradient_of_the_wrong_shape_is_named() {
        struct Keep(Square);
        impl Layer for Keep {
            fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
                self.0.forward(x, mode)
            }
            // Leaves a weight gradient of two values for a weight of one.
            fn backward(&mut self, g: Tensor) -> Tensor {
                let x = self.0.x.clone().unwrap();
                let gw = (&g * &x * &x).sum();
                let dx = self.0.backward(g);
                self.0.gw = Tensor::from_shape_vec(vec![2], vec![gw, 0.0]).unwrap();
                dx
            }
            fn visit(&mut self, v: &mut Visitor<'_>) {
                self.0.visit(v)
            }
        }
        gradcheck(&mut Keep(Square::new(false)), &[3, 4]);
    }

    #[test]
    fn gradients_that_are_zero_up_to_rounding_pass() {
        use crate::init::Init;
        use crate::layers::{BatchNorm, Linear};
        // BatchNorm removes the mean, so the bias before it has a zero gradient whose finite
        // differences are pure rounding noise: the noise floor keeps that from failing.
        let mut rng = seeded(3);
        let mut net: Vec<Box<dyn Layer>> = vec![
            Box::new(Linear::new(6, 5, Init::He, &mut rng)),
            Box::new(BatchNorm::new(5)),
        ];
        let report = gradcheck(&mut net, &[4, 6]);
        report.assert_passed();
        let bias = &report.tensors[2];
        assert_eq!(bias.name, "0.bias");
        assert!(bias.numeric != 0.0 && bias.scale > bias.numeric.abs(), "{report}");
        // The floor does not depend on the tolerance: raising the tolerance admits more noise.
        let loose = GradCheck {
            tolerance: 0.1,
            ..GradCheck::default()
        };
        assert_eq!(loose.check(&mut net, &[4, 6]).tensors[2].scale, bias.scale);
    }

    #[test]
    fn check_fn_compares_a_scalar_function() {
        let x = Tensor::from_shape_vec(vec![3], vec![0.5, -1.0, 2.0]).unwrap();
        let f = |x: &Tensor| x.iter().map(|&v| f64::from(v).powi(3)).sum::<f64>();
        let good = x.mapv(|v| 3.0 * v * v);
        assert!(GradCheck::default().check_fn("x", &x, &good, f).passed());
        let mut bad = good.clone();
        bad[2] += 1.0;
        let report = GradCheck::default().check_fn("x", &x, &bad, f);
        assert!(!report.passed());
        assert_eq!(report.worst().unwrap().worst_index, [2]);
    }
}
