//! Flatten: `[N, d1, d2, ...]` to `[N, d1 * d2 * ...]` without copying (PyTorch's `nn.Flatten`).

use crate::layer::{check_grad_shape_in, contiguous, no_train_forward};
use crate::layer::{layer_panic_in, Layer, Mode};
use crate::tensor::Tensor;
use ndarray::IxDyn;

/// Reshapes each sample to one row: `[N, C, H, W]` to `[N, C * H * W]`; backward gives the
/// gradient back in the input's shape. A free reshape of a row-major tensor. (`Linear` flattens
/// its input itself; this layer makes the step visible in a network and its summary.)
///
/// ```
/// use nn_core::{layers::Flatten, Layer, Mode, Tensor};
/// let y = Flatten::new().forward(Tensor::zeros(vec![8, 64, 5, 5]), Mode::Eval);
/// assert_eq!(y.shape(), &[8, 1600]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Flatten {
    /// The input shape of the last Train forward, until backward takes it.
    input_shape: Vec<usize>,
    ready: bool,
}

impl Flatten {
    /// A flatten layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for Flatten {
    #[track_caller]
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        if x.ndim() < 2 {
            layer_panic_in(
                "Flatten",
                format_args!(
                    "expected a batch-first input [N, ...] of rank at least 2, got shape {:?}",
                    x.shape()
                ),
            );
        }
        if mode == Mode::Train {
            self.input_shape.clear();
            self.input_shape.extend_from_slice(x.shape());
            self.ready = true;
        }
        let n = x.shape()[0];
        let width = x.shape()[1..].iter().product();
        contiguous(x)
            .into_shape_with_order(IxDyn(&[n, width]))
            .expect("a row-major tensor reshapes without copying")
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        if !self.ready {
            no_train_forward("Flatten");
        }
        let expected = [self.input_shape[0], self.input_shape[1..].iter().product()];
        if grad.shape() != expected {
            check_grad_shape_in("Flatten", grad.shape(), &expected);
        }
        self.ready = false;
        contiguous(grad)
            .into_shape_with_order(IxDyn(&self.input_shape))
            .expect("same number of elements as the input")
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::gradcheck;
    use crate::layer::{backward_child, forward_child};

    #[test]
    fn flattens_without_copying_and_restores_the_shape() {
        let x = Tensor::from_shape_fn(IxDyn(&[2, 3, 2, 2]), |i| {
            (i[0] * 12 + i[1] * 4 + i[2] * 2 + i[3]) as f32
        });
        let ptr = x.as_ptr();
        let mut flat = Flatten::new();
        let y = flat.forward(x.clone(), Mode::Train);
        assert_eq!(y.shape(), &[2, 12]);
        let same = x.clone();
        let same_ptr = same.as_ptr();
        assert_ne!(same_ptr, ptr);
        assert_eq!(flat.forward(same, Mode::Eval).as_ptr(), same_ptr);
        assert_eq!(y[[1, 5]], 17.0);
        assert_eq!(flat.backward(y), x);
        gradcheck(&mut flat, &[3, 2, 1, 3]).assert_passed();
    }

    #[test]
    fn misuse_panics_naming_the_layer_and_the_shapes() {
        let mut flat = Flatten::new();
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            forward_child("flat", &mut flat, Tensor::zeros(IxDyn(&[5])), Mode::Train);
        }))
        .unwrap_err();
        assert_eq!(
            err.downcast_ref::<String>().unwrap(),
            "flat: expected a batch-first input [N, ...] of rank at least 2, got shape [5]"
        );
        flat.forward(Tensor::zeros(IxDyn(&[2, 3, 4])), Mode::Train);
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            backward_child("flat", &mut flat, Tensor::zeros(IxDyn(&[2, 3, 4])));
        }))
        .unwrap_err();
        assert_eq!(
            err.downcast_ref::<String>().unwrap(),
            "flat: expected a gradient of shape [2, 12] (the output of the last Train forward), got [2, 3, 4]"
        );
    }
}
