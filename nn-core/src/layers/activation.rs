//! The element-wise activations, each a function and its derivative for
//! [`Elementwise`]: ReLU, LeakyReLU, ELU, sigmoid, tanh, GELU, SiLU and Softplus, with PyTorch's
//! formulas and defaults.

use super::elementwise::{Elementwise, ElementwiseFn};

/// [`Relu`]'s function, `max(0, x)`. Keeps one bool per element (was the input positive?), a
/// quarter of the memory of a copy. NaN inputs stay NaN, so a diverging network is noticed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReluFn;

impl ElementwiseFn for ReluFn {
    type Kept = bool;
    fn name(&self) -> String {
        "Relu".to_string()
    }
    #[inline(always)]
    fn value(&self, x: f32) -> f32 {
        if x < 0.0 {
            0.0
        } else {
            x
        }
    }
    #[inline(always)]
    fn value_and_kept(&self, x: f32) -> (f32, bool) {
        (self.value(x), x > 0.0)
    }
    #[inline(always)]
    fn grad(&self, g: f32, positive: bool) -> f32 {
        if positive {
            g
        } else {
            0.0
        }
    }
}

/// `max(0, x)` (PyTorch's `nn.ReLU`), in place.
///
/// The seed's `ReLULayer.backward` zeroed the caller's gradient array in place behind its back;
/// here backward owns the gradient it is given, so working in place hides nothing.
pub type Relu = Elementwise<ReluFn>;

impl Relu {
    /// A ReLU layer.
    pub fn new() -> Self {
        Self::from_fn(ReluFn)
    }
}

/// [`LeakyRelu`]'s function: `x` where `x > 0`, else `negative_slope * x`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReluFn {
    negative_slope: f32,
}

impl Default for LeakyReluFn {
    /// PyTorch's default slope, 0.01.
    fn default() -> Self {
        LeakyReluFn { negative_slope: 0.01 }
    }
}

impl ElementwiseFn for LeakyReluFn {
    type Kept = bool;
    fn name(&self) -> String {
        format!("LeakyRelu({})", self.negative_slope)
    }
    #[inline(always)]
    fn value(&self, x: f32) -> f32 {
        if x > 0.0 {
            x
        } else {
            x * self.negative_slope
        }
    }
    #[inline(always)]
    fn value_and_kept(&self, x: f32) -> (f32, bool) {
        (self.value(x), x > 0.0)
    }
    #[inline(always)]
    fn grad(&self, g: f32, positive: bool) -> f32 {
        if positive {
            g
        } else {
            g * self.negative_slope
        }
    }
}

/// `x` where `x > 0`, else `negative_slope * x` (PyTorch's `nn.LeakyReLU(negative_slope)`;
/// [`LeakyRelu::default`] has its default slope 0.01).
pub type LeakyRelu = Elementwise<LeakyReluFn>;

impl LeakyRelu {
    /// A leaky ReLU with the given slope for negative inputs. Panics unless it is finite.
    pub fn new(negative_slope: f32) -> Self {
        assert!(
            negative_slope.is_finite(),
            "LeakyRelu: negative_slope must be finite, got {negative_slope}"
        );
        Self::from_fn(LeakyReluFn { negative_slope })
    }

    /// The slope for negative inputs.
    pub fn negative_slope(&self) -> f32 {
        self.function().negative_slope
    }
}

/// [`Elu`]'s function: `x` where `x > 0`, else `alpha * (e^x - 1)`. Keeps the derivative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EluFn {
    alpha: f32,
}

impl Default for EluFn {
    /// PyTorch's default, alpha 1.
    fn default() -> Self {
        EluFn { alpha: 1.0 }
    }
}

impl ElementwiseFn for EluFn {
    type Kept = f32;
    // Calls exp (see ElementwiseFn::VECTORIZE).
    const VECTORIZE: bool = false;
    fn name(&self) -> String {
        format!("Elu(alpha={})", self.alpha)
    }
    #[inline(always)]
    fn value(&self, x: f32) -> f32 {
        if x > 0.0 {
            x
        } else {
            self.alpha * x.exp_m1()
        }
    }
    #[inline(always)]
    fn value_and_kept(&self, x: f32) -> (f32, f32) {
        if x > 0.0 {
            (x, 1.0)
        } else {
            let e = x.exp_m1();
            (self.alpha * e, self.alpha * (e + 1.0))
        }
    }
    #[inline(always)]
    fn grad(&self, g: f32, slope: f32) -> f32 {
        g * slope
    }
}

/// The exponential linear unit (PyTorch's `nn.ELU(alpha)`; [`Elu::default`] has alpha 1).
pub type Elu = Elementwise<EluFn>;

impl Elu {
    /// An ELU with the given `alpha` (the limit `-alpha` for very negative inputs). Panics unless
    /// it is finite.
    pub fn new(alpha: f32) -> Self {
        assert!(alpha.is_finite(), "Elu: alpha must be finite, got {alpha}");
        Self::from_fn(EluFn { alpha })
    }

    /// The negative saturation value's magnitude.
    pub fn alpha(&self) -> f32 {
        self.function().alpha
    }
}

/// [`Sigmoid`]'s function, `1 / (1 + e^-x)`. Keeps its output: `dy/dx = y (1 - y)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SigmoidFn;

impl ElementwiseFn for SigmoidFn {
    type Kept = f32;
    // Calls exp (see ElementwiseFn::VECTORIZE).
    const VECTORIZE: bool = false;
    fn name(&self) -> String {
        "Sigmoid".to_string()
    }
    #[inline(always)]
    fn value(&self, x: f32) -> f32 {
        sigmoid(x)
    }
    #[inline(always)]
    fn value_and_kept(&self, x: f32) -> (f32, f32) {
        let y = sigmoid(x);
        (y, y)
    }
    #[inline(always)]
    fn grad(&self, g: f32, y: f32) -> f32 {
        g * (y * (1.0 - y))
    }
}

/// The logistic function `1 / (1 + e^-x)` (PyTorch's `nn.Sigmoid`).
pub type Sigmoid = Elementwise<SigmoidFn>;

impl Sigmoid {
    /// A sigmoid layer.
    pub fn new() -> Self {
        Self::from_fn(SigmoidFn)
    }
}

/// `1 / (1 + e^-x)`: `e^-x` overflows to +inf for x < -88, which gives the correct limit 0,
/// never NaN.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// [`Tanh`]'s function. Keeps its output: `dy/dx = 1 - y^2`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TanhFn;

impl ElementwiseFn for TanhFn {
    type Kept = f32;
    // Calls tanh (see ElementwiseFn::VECTORIZE).
    const VECTORIZE: bool = false;
    fn name(&self) -> String {
        "Tanh".to_string()
    }
    #[inline(always)]
    fn value(&self, x: f32) -> f32 {
        x.tanh()
    }
    #[inline(always)]
    fn value_and_kept(&self, x: f32) -> (f32, f32) {
        let y = x.tanh();
        (y, y)
    }
    #[inline(always)]
    fn grad(&self, g: f32, y: f32) -> f32 {
        g * (1.0 - y * y)
    }
}

/// The hyperbolic tangent (PyTorch's `nn.Tanh`).
pub type Tanh = Elementwise<TanhFn>;

impl Tanh {
    /// A tanh layer.
    pub fn new() -> Self {
        Self::from_fn(TanhFn)
    }
}

/// [`Gelu`]'s function: `x * Φ(x)`, `Φ` the standard normal distribution function, exactly
/// (with erf) or with PyTorch's tanh approximation. Keeps the derivative, computed with the value
/// (one erf or tanh per element and step).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GeluFn {
    tanh: bool,
}

/// `1 / sqrt(2)`.
const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2 pi)`, the standard normal density at 0.
const NORMAL_PDF_0: f32 = 0.398_942_3;
/// `sqrt(2 / pi)` and the cubic coefficient of the tanh approximation (PyTorch's `kBeta` and
/// `kKappa`).
const TANH_BETA: f32 = 0.797_884_6;
const TANH_KAPPA: f32 = 0.044_715;

impl ElementwiseFn for GeluFn {
    type Kept = f32;
    // Calls erf, exp or tanh (see ElementwiseFn::VECTORIZE).
    const VECTORIZE: bool = false;
    fn name(&self) -> String {
        if self.tanh {
            "Gelu(approximate=tanh)".to_string()
        } else {
            "Gelu".to_string()
        }
    }
    #[inline(always)]
    fn value(&self, x: f32) -> f32 {
        // The same expression as a Train forward's (so the same bits); the slope, unused, is
        // optimised away once inlined.
        self.value_and_kept(x).0
    }
    #[inline(always)]
    fn value_and_kept(&self, x: f32) -> (f32, f32) {
        if self.tanh {
            let x2 = x * x;
            let t = (TANH_BETA * (x + TANH_KAPPA * x2 * x)).tanh();
            let d_inner = TANH_BETA * (1.0 + 3.0 * TANH_KAPPA * x2);
            let slope = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner;
            (0.5 * x * (1.0 + t), slope)
        } else {
            let e = libm::erff(x * SQRT_HALF);
            let pdf = NORMAL_PDF_0 * (-0.5 * x * x).exp();
            (0.5 * x * (1.0 + e), 0.5 * (1.0 + e) + x * pdf)
        }
    }
    #[inline(always)]
    fn grad(&self, g: f32, slope: f32) -> f32 {
        g * slope
    }
}

/// The Gaussian error linear unit `x * Φ(x)` (PyTorch's `nn.GELU()`, `approximate='none'`), or
/// its tanh approximation ([`Gelu::tanh`], PyTorch's `nn.GELU(approximate='tanh')`).
pub type Gelu = Elementwise<GeluFn>;

impl Gelu {
    /// The exact GELU, with the error function.
    pub fn new() -> Self {
        Self::from_fn(GeluFn { tanh: false })
    }

    /// The tanh approximation `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
    pub fn tanh() -> Self {
        Self::from_fn(GeluFn { tanh: true })
    }

    /// PyTorch's `approximate` argument: `"none"` or `"tanh"`.
    pub fn approximate(&self) -> &'static str {
        if self.function().tanh {
            "tanh"
        } else {
            "none"
        }
    }
}

/// [`Silu`]'s function, `x * sigmoid(x)`. Keeps the derivative, computed with the value.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SiluFn;

impl ElementwiseFn for SiluFn {
    type Kept = f32;
    // Calls exp (see ElementwiseFn::VECTORIZE).
    const VECTORIZE: bool = false;
    fn name(&self) -> String {
        "Silu".to_string()
    }
    #[inline(always)]
    fn value(&self, x: f32) -> f32 {
        x * sigmoid(x)
    }
    #[inline(always)]
    fn value_and_kept(&self, x: f32) -> (f32, f32) {
        let s = sigmoid(x);
        (x * s, s * (1.0 + x * (1.0 - s)))
    }
    #[inline(always)]
    fn grad(&self, g: f32, slope: f32) -> f32 {
        g * slope
    }
}

/// The sigmoid linear unit `x * sigmoid(x)`, also called swish (PyTorch's `nn.SiLU`).
pub type Silu = Elementwise<SiluFn>;

impl Silu {
    /// A SiLU layer.
    pub fn new() -> Self {
        Self::from_fn(SiluFn)
    }
}

/// [`Softplus`]'s function: `ln(1 + e^(beta x)) / beta`, or `x` where `beta x > threshold`.
/// Keeps the derivative, computed with the value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftplusFn {
    beta: f32,
    threshold: f32,
}

impl Default for SoftplusFn {
    /// PyTorch's defaults: beta 1, threshold 20.
    fn default() -> Self {
        SoftplusFn {
            beta: 1.0,
            threshold: 20.0,
        }
    }
}

impl ElementwiseFn for SoftplusFn {
    type Kept = f32;
    // Calls exp and ln_1p (see ElementwiseFn::VECTORIZE).
    const VECTORIZE: bool = false;
    fn name(&self) -> String {
        format!("Softplus(beta={}, threshold={})", self.beta, self.threshold)
    }
    #[inline(always)]
    fn value(&self, x: f32) -> f32 {
        let bx = x * self.beta;
        if bx > self.threshold {
            x
        } else {
            bx.exp().ln_1p() / self.beta
        }
    }
    #[inline(always)]
    fn value_and_kept(&self, x: f32) -> (f32, f32) {
        let bx = x * self.beta;
        if bx > self.threshold {
            return (x, 1.0);
        }
        let e = bx.exp();
        // The slope is sigmoid(beta x) = e / (1 + e); where e overflows (beta x > 88 under a
        // threshold above it), its limit 1, not PyTorch's inf / inf.
        let slope = if e.is_finite() { e / (1.0 + e) } else { 1.0 };
        (e.ln_1p() / self.beta, slope)
    }
    #[inline(always)]
    fn grad(&self, g: f32, slope: f32) -> f32 {
        g * slope
    }
}

/// `ln(1 + e^(beta x)) / beta`, a smooth ReLU, linear where `beta x > threshold` for numerical
/// stability (PyTorch's `nn.Softplus(beta, threshold)`; [`Softplus::default`] has its defaults,
/// beta 1 and threshold 20).
pub type Softplus = Elementwise<SoftplusFn>;

impl Softplus {
    /// A softplus with the given sharpness `beta` and `threshold`. Panics unless `beta` is
    /// positive and finite and `threshold` is not NaN.
    pub fn new(beta: f32, threshold: f32) -> Self {
        assert!(
            beta > 0.0 && beta.is_finite(),
            "Softplus: beta must be positive and finite, got {beta}"
        );
        assert!(
            !threshold.is_nan(),
            "Softplus: threshold must be a number, got {threshold}"
        );
        Self::from_fn(SoftplusFn { beta, threshold })
    }

    /// The sharpness.
    pub fn beta(&self) -> f32 {
        self.function().beta
    }

    /// Above `beta * x > threshold` the function is the identity.
    pub fn threshold(&self) -> f32 {
        self.function().threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::gradcheck;
    use crate::layer::{backward_child, panic_message, Layer, Mode};
    use crate::layers::contract::{check_layer, check_threads, input};
    use crate::tensor::Tensor;
    use ndarray::IxDyn;

    /// A layer, its former forward and its former backward `(g, x) -> dx`.
    type Former = (Box<dyn Layer>, fn(f32) -> f32, fn(f32, f32) -> f32);
    /// A function in f64.
    type Reference = Box<dyn Fn(f64) -> f64>;

    fn t(v: &[f32]) -> Tensor {
        Tensor::from_shape_vec(vec![1, v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn relu_forward_backward_in_place() {
        let mut r = Relu::new();
        let x = t(&[-2.0, 0.0, 3.0, f32::NAN]);
        let ptr = x.as_ptr();
        let y = r.forward(x, Mode::Train);
        assert_eq!(y.as_ptr(), ptr, "works in place");
        assert_eq!(&y.as_slice().unwrap()[..3], &[0.0, 0.0, 3.0]);
        assert!(y[[0, 3]].is_nan(), "NaN propagates");
        let g = r.backward(t(&[1.0, 1.0, 1.0, 1.0]));
        assert_eq!(g.as_slice().unwrap(), &[0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn sigmoid_and_tanh_values_and_saturation() {
        let mut s = Sigmoid::new();
        let y = s.forward(t(&[0.0, -1000.0, 1000.0]), Mode::Eval);
        assert_eq!(y.as_slice().unwrap(), &[0.5, 0.0, 1.0]);
        let mut th = Tanh::new();
        let y = th.forward(t(&[0.5, -1000.0]), Mode::Eval);
        assert!((y[[0, 0]] - 0.5f32.tanh()).abs() < 1e-7);
        assert_eq!(y[[0, 1]], -1.0);
    }

    /// The three activations the main job trains with give the bits their former hand-written
    /// layers gave, forward in both modes and backward: checkpoints and histories stay.
    #[test]
    fn relu_sigmoid_and_tanh_keep_their_former_bits() {
        let x = input(&[3, 50]);
        let g = input(&[3, 50]).mapv(|v| v * 0.7 + 0.1);
        let former: [Former; 3] = [
            (
                Box::new(Relu::new()),
                |v| if v < 0.0 { 0.0 } else { v },
                |g, x| if x > 0.0 { g } else { 0.0 },
            ),
            (
                Box::new(Sigmoid::new()),
                |v| 1.0 / (1.0 + (-v).exp()),
                |g, x| {
                    let y = 1.0 / (1.0 + (-x).exp());
                    g * (y * (1.0 - y))
                },
            ),
            (Box::new(Tanh::new()), f32::tanh, |g, x| {
                let y = x.tanh();
                g * (1.0 - y * y)
            }),
        ];
        for (mut layer, f, df) in former {
            let expected = x.mapv(f);
            for mode in [Mode::Eval, Mode::Train] {
                let y = layer.forward(x.clone(), mode);
                assert!(y.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
            let dx = layer.backward(g.clone());
            for ((a, &g), &x) in dx.iter().zip(&g).zip(&x) {
                assert_eq!(a.to_bits(), df(g, x).to_bits(), "{}", layer.type_name());
            }
        }
    }

    /// Each function against its definition in f64, and each derivative against the
    /// definition's derivative, at points on both sides of 0 and in the tails.
    #[test]
    fn values_and_derivatives_match_the_definitions() {
        fn phi(x: f64) -> f64 {
            // The standard normal distribution function by its series (|x| <= 6 here).
            let mut term = x;
            let mut sum = x;
            for k in 1..200 {
                term *= x * x / (2 * k + 1) as f64;
                sum += term;
            }
            0.5 + sum * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
        }
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let tanh_gelu = |x: f64| {
            let b = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (b * (x + 0.044715 * x.powi(3))).tanh())
        };
        let softplus = |x: f64| (2.0 * x).exp().ln_1p() / 2.0;
        let cases: Vec<(Box<dyn Layer>, Reference)> = vec![
            (
                Box::new(LeakyRelu::new(0.2)),
                Box::new(|x| if x > 0.0 { x } else { 0.2 * x }),
            ),
            (
                Box::new(Elu::new(1.5)),
                Box::new(|x| if x > 0.0 { x } else { 1.5 * x.exp_m1() }),
            ),
            (Box::new(Gelu::new()), Box::new(move |x| x * phi(x))),
            (Box::new(Gelu::tanh()), Box::new(tanh_gelu)),
            (Box::new(Silu::new()), Box::new(move |x| x * sig(x))),
            (Box::new(Softplus::new(2.0, 20.0)), Box::new(softplus)),
        ];
        let points = [-5.5f32, -2.0, -0.7, -0.01, 0.01, 0.3, 1.0, 2.5, 5.5];
        for (mut layer, f) in cases {
            let y = layer.forward(t(&points), Mode::Train);
            let dx = layer.backward(t(&[1.0; 9]));
            for (i, &x) in points.iter().enumerate() {
                let x64 = f64::from(x);
                let (want, h) = (f(x64), 1e-6);
                let slope = (f(x64 + h) - f(x64 - h)) / (2.0 * h);
                let name = layer.type_name();
                let close = |a: f32, b: f64| (f64::from(a) - b).abs() <= 2e-6 * (1.0 + b.abs());
                assert!(close(y[[0, i]], want), "{name}({x}) = {} vs {want}", y[[0, i]]);
                assert!(
                    close(dx[[0, i]], slope),
                    "{name}'({x}) = {} vs {slope}",
                    dx[[0, i]]
                );
            }
        }
    }

    #[test]
    fn softplus_is_the_identity_above_the_threshold_and_never_nan() {
        let mut sp = Softplus::new(1.0, 5.0);
        let y = sp.forward(t(&[6.0, 200.0, -200.0]), Mode::Train);
        assert_eq!(y.as_slice().unwrap()[..2], [6.0, 200.0]);
        assert!(y[[0, 2]] >= 0.0 && y[[0, 2]] < 1e-30);
        let dx = sp.backward(t(&[2.0, 2.0, 2.0]));
        assert_eq!(dx.as_slice().unwrap(), &[2.0, 2.0, 0.0]);
        // Above 88 PyTorch's e^z / (e^z + 1) is inf / inf; sigmoid is not.
        let mut sp = Softplus::new(1.0, 1000.0);
        sp.forward(t(&[100.0]), Mode::Train);
        assert_eq!(sp.backward(t(&[1.0]))[[0, 0]], 1.0);
    }

    #[test]
    fn every_activation_keeps_the_layer_contract() {
        let layers: Vec<Box<dyn Layer>> = vec![
            Box::new(Relu::new()),
            Box::new(Sigmoid::new()),
            Box::new(Tanh::new()),
            Box::new(LeakyRelu::default()),
            Box::new(LeakyRelu::new(-0.5)),
            Box::new(Elu::default()),
            Box::new(Elu::new(0.3)),
            Box::new(Gelu::new()),
            Box::new(Gelu::tanh()),
            Box::new(Silu::new()),
            Box::new(Softplus::default()),
            Box::new(Softplus::new(3.0, 2.0)),
        ];
        for mut layer in layers {
            for shape in [&[4, 6][..], &[2, 3, 2, 2], &[2, 5, 3]] {
                assert_eq!(check_layer(&mut layer, shape), shape);
            }
        }
    }

    #[test]
    fn names_show_the_options() {
        let names: Vec<String> = [
            Box::new(LeakyRelu::default()) as Box<dyn Layer>,
            Box::new(Elu::new(0.5)),
            Box::new(Gelu::tanh()),
            Box::new(Softplus::default()),
            Box::new(Silu::new()),
        ]
        .iter()
        .map(|l| l.type_name())
        .collect();
        assert_eq!(
            names,
            [
                "LeakyRelu(0.01)",
                "Elu(alpha=0.5)",
                "Gelu(approximate=tanh)",
                "Softplus(beta=1, threshold=20)",
                "Silu"
            ]
        );
        assert_eq!(
            (Gelu::new().approximate(), Gelu::tanh().approximate()),
            ("none", "tanh")
        );
        assert_eq!(LeakyRelu::new(0.2).negative_slope(), 0.2);
        let msg = panic_message(|| {
            Softplus::new(0.0, 20.0);
        });
        assert_eq!(msg, "Softplus: beta must be positive and finite, got 0");
        let msg = panic_message(|| {
            LeakyRelu::new(f32::NAN);
        });
        assert_eq!(msg, "LeakyRelu: negative_slope must be finite, got NaN");
    }

    #[test]
    fn a_large_batch_split_over_threads_gives_the_bits_of_one_thread() {
        // 40,000 values: above the size at which element-wise passes are split.
        check_threads(&mut Gelu::new(), &[100, 400]);
        check_threads(&mut Relu::new(), &[100, 400]);
    }

    #[test]
    fn activations_pass_gradcheck_on_2d_and_4d_input() {
        for shape in [&[4, 6][..], &[2, 3, 2, 2]] {
            gradcheck(&mut Relu::new(), shape).assert_passed();
            gradcheck(&mut Sigmoid::new(), shape).assert_passed();
            gradcheck(&mut Tanh::new(), shape).assert_passed();
        }
    }

    #[test]
    fn backward_without_train_forward_or_with_wrong_shape_panics() {
        let mut s = Sigmoid::new();
        s.forward(Tensor::zeros(IxDyn(&[2, 3])), Mode::Eval);
        let msg = panic_message(|| {
            backward_child("act1", &mut s, Tensor::zeros(IxDyn(&[2, 3])));
        });
        assert!(
            msg.starts_with("act1: backward called on Sigmoid without"),
            "{msg}"
        );

        let mut r = Relu::new();
        r.forward(Tensor::zeros(IxDyn(&[2, 3])), Mode::Train);
        let msg = panic_message(|| {
            r.backward(Tensor::zeros(IxDyn(&[3, 2])));
        });
        assert!(msg.contains("expected a gradient of shape [2, 3]"), "{msg}");
        assert!(msg.contains("got [3, 2]"), "{msg}");
    }

    #[test]
    fn a_second_backward_needs_a_second_forward() {
        let mut th = Tanh::new();
        th.forward(Tensor::zeros(IxDyn(&[1, 2])), Mode::Train);
        th.backward(Tensor::zeros(IxDyn(&[1, 2])));
        let msg = panic_message(|| {
            backward_child("act2", &mut th, Tensor::zeros(IxDyn(&[1, 2])));
        });
        assert!(
            msg.starts_with("act2: backward called on Tanh without a preceding Train forward"),
            "{msg}"
        );
    }
}
