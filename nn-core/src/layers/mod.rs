//! The built-in layers: [`Linear`], the activations [`Relu`], [`Sigmoid`] and [`Tanh`],
//! [`Dropout`] and [`BatchNorm`].
//!
//! Every layer works on the tensor it is handed: activations, dropout and batch normalisation
//! transform their input in place and return it, and [`Linear`] writes its input gradient into the
//! input buffer it kept from forward and recycles the gradient it receives as its next output. A
//! training step therefore allocates nothing once the first batch has passed.

mod activation;
mod avg_pool;
mod batch_norm;
mod batch_norm2d;
mod conv2d;
mod conv_tiles;
mod dropout;
mod flatten;
mod im2col;
mod linear;
mod max_pool;
mod nchw;
mod par;
mod pool;

pub use activation::{Relu, Sigmoid, Tanh};
pub use avg_pool::{AvgPool2d, GlobalAvgPool2d};
pub use batch_norm::BatchNorm;
pub use batch_norm2d::BatchNorm2d;
pub use conv2d::{Conv2d, Conv2dBuilder};
pub use dropout::{Dropout, DropoutKind};
pub use flatten::Flatten;
pub use linear::Linear;
pub use max_pool::MaxPool2d;
pub use nchw::Size2;

use crate::layer::layer_panic;
use crate::tensor::Tensor;
use ndarray::{Array2, ArrayD, IxDyn};

/// Reshapes a batch-first input of any rank >= 2 to `(N, features)` without copying (the seed's
/// `x.reshape(x.shape[0], -1)`), panicking with the layer path if the width is wrong.
pub(crate) fn flatten(x: Tensor, features: usize) -> Array2<f32> {
    if x.ndim() < 2 {
        layer_panic(format_args!(
            "expected a batch-first input with {features} features per sample, such as shape \
             [N, {features}], got shape {:?}",
            x.shape()
        ));
    }
    let n = x.shape()[0];
    let width: usize = x.shape()[1..].iter().product();
    if width != features {
        layer_panic(format_args!(
            "expected {features} input features, got {width} (input shape {:?})",
            x.shape()
        ));
    }
    standard(x)
        .into_shape_with_order((n, width))
        .expect("a standard-layout array reshapes without copying")
}

/// `t` itself if it is in row-major order, else a row-major copy: a transposed array cannot be
/// reshaped or walked row by row in place. (`as_standard_layout().into_owned()` would copy
/// even an array that is already row-major.)
pub(crate) fn standard(t: Tensor) -> Tensor {
    if t.is_standard_layout() {
        t
    } else {
        t.as_standard_layout().into_owned()
    }
}

/// Panics because backward ran without a Train forward to take its activations from.
pub(crate) fn no_train_forward(type_name: &str) -> ! {
    layer_panic(format_args!(
        "backward called on {type_name} without a preceding Train forward \
         (each backward needs its own forward with Mode::Train)"
    ))
}

/// Panics because the gradient's shape differs from the last Train forward's output.
pub(crate) fn wrong_grad_shape(expected: &[usize], got: &[usize]) -> ! {
    layer_panic(format_args!(
        "expected a gradient of shape {expected:?} (the output of the last Train forward), got {got:?}"
    ))
}

/// What a Train forward keeps for backward, in a buffer reused from step to step as long as the
/// batch shape stays the same. `ready` says a Train forward has filled it since the last backward.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stash<T> {
    buf: Option<ArrayD<T>>,
    ready: bool,
}

impl<T: Clone + Default> Stash<T> {
    /// The buffer, shaped `shape`, marked ready; its contents are stale, for the caller to
    /// overwrite. A new shape reuses the old allocation when it is large enough, so an epoch's
    /// smaller last batch and the full batch after it allocate nothing.
    pub(crate) fn prepare(&mut self, shape: &[usize]) -> &mut ArrayD<T> {
        self.ready = true;
        let buf = match self.buf.take() {
            Some(b) if b.shape() == shape => b,
            Some(b) => {
                // A stash is only ever built by this function, so its data starts at offset 0.
                let (mut data, _) = b.into_raw_vec_and_offset();
                data.resize(shape.iter().product(), T::default());
                ArrayD::from_shape_vec(IxDyn(shape), data).expect("resized to the shape's length")
            }
            None => ArrayD::from_elem(IxDyn(shape), T::default()),
        };
        self.buf.insert(buf)
    }

    /// The buffer as a previous Train forward left it, if it has this shape (for frozen masks).
    pub(crate) fn reuse(&mut self, shape: &[usize]) -> Option<&mut ArrayD<T>> {
        match &mut self.buf {
            Some(b) if b.shape() == shape => {
                self.ready = true;
                Some(b)
            }
            _ => None,
        }
    }

    /// The buffer the last `prepare` or `reuse` returned.
    pub(crate) fn current(&self) -> &ArrayD<T> {
        self.buf
            .as_ref()
            .expect("prepare or reuse fills the buffer first")
    }

    /// The buffer for backward, which consumes readiness; panics (naming the layer) if no Train
    /// forward filled it or if `grad_shape` differs from its shape.
    pub(crate) fn take(&mut self, grad_shape: &[usize], type_name: impl FnOnce() -> String) -> &ArrayD<T> {
        let buf = match &self.buf {
            Some(b) if self.ready => b,
            _ => no_train_forward(&type_name()),
        };
        if buf.shape() != grad_shape {
            wrong_grad_shape(buf.shape(), grad_shape);
        }
        self.ready = false;
        buf
    }
}

/// Asserts that two tensors have one shape and values within `tol` of each other.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_close(a: &Tensor, b: &Tensor, tol: f32) {
    assert_eq!(a.shape(), b.shape());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "value {i}: {x} vs {y}\n{a}\n{b}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{forward_child, Layer, Mode};

    #[test]
    fn flatten_keeps_the_data_and_names_the_path_on_wrong_width() {
        let x = Tensor::from_shape_fn(IxDyn(&[2, 3, 2]), |i| (i[0] * 6 + i[1] * 2 + i[2]) as f32);
        let m = flatten(x, 6);
        assert_eq!(m.shape(), &[2, 6]);
        assert_eq!(m[[1, 5]], 11.0);

        let err = std::panic::catch_unwind(|| {
            struct Wide;
            impl Layer for Wide {
                fn forward(&mut self, x: Tensor, _: Mode) -> Tensor {
                    flatten(x, 128).into_dyn()
                }
                fn backward(&mut self, g: Tensor) -> Tensor {
                    g
                }
            }
            forward_child("fc2", &mut Wide, Tensor::zeros(IxDyn(&[4, 64])), Mode::Eval);
        })
        .expect_err("wrong width must panic");
        let msg = err.downcast_ref::<String>().expect("formatted message");
        assert!(
            msg.starts_with("fc2: expected 128 input features, got 64"),
            "{msg}"
        );
    }

    /// Layers and loss together learn XOR with plain gradient descent: the pieces fit.
    #[test]
    fn a_small_network_learns_xor() {
        use crate::init::Init;
        use crate::layer::for_each_param;
        use crate::loss::{SoftmaxCrossEntropy, Targets};
        use crate::metrics::accuracy;
        use crate::rng::seeded;
        let mut rng = seeded(crate::rng::DEFAULT_SEED);
        let mut net: Vec<Box<dyn Layer>> = vec![
            Box::new(Linear::new(2, 8, Init::Xavier, &mut rng)),
            Box::new(Tanh::new()),
            Box::new(Linear::new(8, 2, Init::Xavier, &mut rng)),
        ];
        let x = Tensor::from_shape_vec(vec![4, 2], vec![0., 0., 0., 1., 1., 0., 1., 1.]).unwrap();
        let y = [0, 1, 1, 0];
        let mut loss = SoftmaxCrossEntropy::new();
        let mut first = None;
        let mut last = 0.0;
        for _ in 0..500 {
            last = loss.forward(net.forward(x.clone(), Mode::Train), Targets::Classes(&y));
            first.get_or_insert(last);
            net.backward(loss.backward());
            for_each_param(&mut net, |_, mut p| p.value.scaled_add(-0.5, &p.grad));
        }
        assert!(
            last < 0.05 && last < first.unwrap() / 10.0,
            "loss {first:?} -> {last}"
        );
        let scores = net.forward(x, Mode::Eval);
        assert_eq!(accuracy(&scores, Targets::Classes(&y)), 1.0);
    }

    #[test]
    fn a_stash_keeps_its_allocation_across_a_smaller_batch() {
        let mut stash = Stash::<f32>::default();
        let ptr = stash.prepare(&[4, 3]).as_ptr();
        let small = stash.prepare(&[2, 3]);
        assert_eq!((small.shape(), small.as_ptr()), (&[2, 3][..], ptr));
        let full = stash.prepare(&[4, 3]);
        assert_eq!((full.shape(), full.as_ptr()), (&[4, 3][..], ptr));
    }

    #[test]
    fn flatten_copies_a_transposed_input_into_row_major_order() {
        let x = Tensor::from_shape_fn(IxDyn(&[3, 2]), |i| (i[0] * 2 + i[1]) as f32);
        let t = x.reversed_axes(); // shape [2, 3], column-major memory
        assert!(!t.is_standard_layout());
        let m = flatten(t.clone(), 3);
        assert_eq!(m.into_dyn(), t);
    }
}
