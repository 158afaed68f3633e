//! Element-wise activations. Each works in place on the tensor it receives and keeps only what
//! its derivative needs, in a buffer reused across steps.

use super::par;
use crate::layer::{contiguous, Saved};
use crate::layer::{Layer, Mode};
use crate::linalg::vectorized;
use crate::tensor::Tensor;
use ndarray::Zip;

/// `max(0, x)`. Keeps a boolean mask of the positive inputs for backward (a quarter of the
/// memory of a copy). NaN inputs stay NaN, so a diverging network is noticed.
///
/// The seed's `ReLULayer.backward` zeroed the caller's gradient array in place behind its back;
/// here backward owns the gradient it is given, so working in place hides nothing.
#[derive(Clone, Debug, Default)]
pub struct Relu {
    positive: Saved<bool>,
}

impl Relu {
    /// A ReLU layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for Relu {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let mut x = contiguous(x);
        if mode == Mode::Train {
            let mask = self.positive.prepare(x.shape());
            let xs = x.as_slice_mut().expect("standard layout");
            let ms = mask.as_slice_mut().expect("a stash is standard layout");
            vectorized(
                #[inline(always)]
                || {
                    for (v, m) in xs.iter_mut().zip(ms) {
                        *m = *v > 0.0;
                        if *v < 0.0 {
                            *v = 0.0;
                        }
                    }
                },
            );
        } else {
            // A large Eval batch (inference) is split over nn's threads.
            let xs = x.as_slice_mut().expect("standard layout");
            par::rows(xs, 1, &|xs: &mut [f32]| {
                vectorized(
                    #[inline(always)]
                    || {
                        for v in xs {
                            if *v < 0.0 {
                                *v = 0.0;
                            }
                        }
                    },
                )
            });
        }
        x
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let mut grad = contiguous(grad);
        let mask = self.positive.take(grad.shape(), "Relu");
        let gs = grad.as_slice_mut().expect("standard layout");
        let ms = mask.as_slice().expect("a stash is standard layout");
        vectorized(
            #[inline(always)]
            || {
                for (g, &m) in gs.iter_mut().zip(ms) {
                    if !m {
                        *g = 0.0;
                    }
                }
            },
        );
        grad
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// The logistic function `1 / (1 + e^-x)`. Keeps its output for backward: `dy/dx = y (1 - y)`.
#[derive(Clone, Debug, Default)]
pub struct Sigmoid {
    output: Saved<f32>,
}

impl Sigmoid {
    /// A sigmoid layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for Sigmoid {
    fn forward(&mut self, mut x: Tensor, mode: Mode) -> Tensor {
        // exp(-x) overflows to +inf for x < -88, which gives the correct limit 0, never NaN.
        x.mapv_inplace(|v| 1.0 / (1.0 + (-v).exp()));
        if mode == Mode::Train {
            self.output.prepare(x.shape()).assign(&x);
        }
        x
    }

    fn backward(&mut self, mut grad: Tensor) -> Tensor {
        let y = self.output.take(grad.shape(), "Sigmoid");
        Zip::from(&mut grad).and(y).for_each(|g, &y| *g *= y * (1.0 - y));
        grad
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// The hyperbolic tangent. Keeps its output for backward: `dy/dx = 1 - y^2`.
#[derive(Clone, Debug, Default)]
pub struct Tanh {
    output: Saved<f32>,
}

impl Tanh {
    /// A tanh layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for Tanh {
    fn forward(&mut self, mut x: Tensor, mode: Mode) -> Tensor {
        x.mapv_inplace(f32::tanh);
        if mode == Mode::Train {
            self.output.prepare(x.shape()).assign(&x);
        }
        x
    }

    fn backward(&mut self, mut grad: Tensor) -> Tensor {
        let y = self.output.take(grad.shape(), "Tanh");
        Zip::from(&mut grad).and(y).for_each(|g, &y| *g *= 1.0 - y * y);
        grad
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::gradcheck;
    use crate::layer::backward_child;
    use ndarray::IxDyn;

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
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            backward_child("act1", &mut s, Tensor::zeros(IxDyn(&[2, 3])));
        }))
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.starts_with("act1: backward called on Sigmoid without"),
            "{msg}"
        );

        let mut r = Relu::new();
        r.forward(Tensor::zeros(IxDyn(&[2, 3])), Mode::Train);
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            r.backward(Tensor::zeros(IxDyn(&[3, 2])));
        }))
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("expected a gradient of shape [2, 3]"), "{msg}");
        assert!(msg.contains("got [3, 2]"), "{msg}");
    }

    #[test]
    fn a_second_backward_needs_a_second_forward() {
        let mut th = Tanh::new();
        th.forward(Tensor::zeros(IxDyn(&[1, 2])), Mode::Train);
        th.backward(Tensor::zeros(IxDyn(&[1, 2])));
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            backward_child("act2", &mut th, Tensor::zeros(IxDyn(&[1, 2])));
        }))
        .expect_err("a second backward must panic");
        let msg = err.downcast_ref::<String>().expect("formatted panic message");
        assert!(
            msg.starts_with("act2: backward called on Tanh without a preceding Train forward"),
            "{msg}"
        );
    }
}
