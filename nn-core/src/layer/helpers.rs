//! The toolkit the built-in layers are written with, public so that a layer written outside nn is
//! as short and as safe: [`Saved`] keeps what backward needs, [`flatten`] checks a batch-first
//! input, and both panic with the layer path on misuse.

use crate::layer::path::{in_container, layer_panic, layer_panic_in};
use crate::tensor::Tensor;
use ndarray::{Array2, ArrayD, IxDyn};
use std::fmt::Display;

/// What a Train forward keeps for backward (PyTorch's `ctx.save_for_backward`), in a buffer
/// reused from step to step.
///
/// In a Train forward, fill the buffer [`Saved::prepare`] returns, or hand a tensor over with
/// [`Saved::save`]. In backward, [`Saved::take`] lends it back (checking the gradient's shape)
/// and [`Saved::take_owned`] gives it back. Both panic, naming the layer path, when no Train
/// forward has saved anything since the last backward: a backward after an Eval forward, or a
/// second backward after one forward.
///
/// ```
/// use nn_core::layer::{Layer, Mode, Saved};
/// use nn_core::Tensor;
///
/// /// `y = x²`, whose backward needs the input: `dy/dx = 2x`.
/// #[derive(Default)]
/// struct Square {
///     input: Saved,
/// }
///
/// impl Layer for Square {
///     fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
///         if mode == Mode::Train {
///             self.input.prepare(x.shape()).assign(&x);
///         }
///         x.mapv_into(|v| v * v)
///     }
///     fn backward(&mut self, mut grad: Tensor) -> Tensor {
///         let x = self.input.take(grad.shape(), "Square");
///         grad.zip_mut_with(x, |g, &x| *g *= 2.0 * x);
///         grad
///     }
/// }
///
/// let mut sq = Square::default();
/// sq.forward(Tensor::from_elem(vec![2, 3], 3.0), Mode::Train);
/// assert!(sq.backward(Tensor::ones(vec![2, 3])).iter().all(|&g| g == 6.0));
/// // Nothing is saved for a second backward:
/// // "Square: backward called without a preceding Train forward (...)".
/// let again = std::panic::catch_unwind(move || sq.backward(Tensor::ones(vec![2, 3])));
/// assert!(again.is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Saved<T = f32> {
    buf: Option<ArrayD<T>>,
    /// Whether a Train forward has saved since the last backward.
    ready: bool,
}

impl<T> Default for Saved<T> {
    fn default() -> Self {
        Saved {
            buf: None,
            ready: false,
        }
    }
}

impl<T: Clone + Default> Saved<T> {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// For a Train forward: the buffer, shaped `shape` in standard (row-major) layout, marked
    /// saved. Its contents are stale, for the caller to overwrite. A new shape reuses the old
    /// allocation when it is large enough, so an epoch's smaller last batch and the full batch
    /// after it allocate nothing.
    pub fn prepare(&mut self, shape: &[usize]) -> &mut ArrayD<T> {
        self.ready = true;
        let buf = match self.buf.take() {
            Some(b) if b.shape() == shape && b.is_standard_layout() => b,
            Some(b) => {
                // The contents are stale anyway, so the old elements' order does not matter.
                let (mut data, _) = b.into_raw_vec_and_offset();
                data.resize(shape.iter().product(), T::default());
                ArrayD::from_shape_vec(IxDyn(shape), data).expect("resized to the shape's length")
            }
            None => ArrayD::from_elem(IxDyn(shape), T::default()),
        };
        self.buf.insert(buf)
    }

    /// For a Train forward: keeps `value` itself (moved, not copied), marked saved.
    pub fn save(&mut self, value: ArrayD<T>) {
        self.ready = true;
        self.buf = Some(value);
    }

    /// The buffer as a previous Train forward left it, marked saved again, if it has this shape
    /// (Dropout's frozen masks).
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

    /// For backward: the saved buffer, for a layer whose gradient has the saved tensor's shape
    /// (an element-wise layer). Consumes the "saved" mark, so the next backward needs another
    /// Train forward.
    ///
    /// Panics, naming the layer path and `layer` (its type, such as `"LeakyRelu"`), if nothing
    /// was saved since the last backward or if `grad_shape` is not the saved shape.
    #[track_caller]
    pub fn take(&mut self, grad_shape: &[usize], layer: impl Display) -> &ArrayD<T> {
        let buf = match &self.buf {
            Some(b) if self.ready => b,
            _ => no_train_forward(layer),
        };
        check_grad_shape_in(layer, grad_shape, buf.shape());
        self.ready = false;
        buf
    }

    /// For backward: the saved tensor itself, to reuse its allocation (say, for the input
    /// gradient); the next Train forward saves into a new one. Check the gradient's shape with
    /// [`check_grad_shape`].
    ///
    /// Panics, naming the layer path and `layer`, if nothing was saved since the last backward.
    #[track_caller]
    pub fn take_owned(&mut self, layer: impl Display) -> ArrayD<T> {
        match self.buf.take() {
            Some(b) if self.ready => {
                self.ready = false;
                b
            }
            _ => no_train_forward(layer),
        }
    }
}

/// Panics because backward ran without a Train forward to take its activations from. Inside a
/// container the message names the path and `layer`; called directly, `layer` leads it.
#[track_caller]
pub(crate) fn no_train_forward(layer: impl Display) -> ! {
    const WHY: &str = "(each backward needs its own forward with Mode::Train)";
    if in_container() {
        layer_panic(format_args!(
            "backward called on {layer} without a preceding Train forward {WHY}"
        ))
    }
    layer_panic_in(
        layer,
        format_args!("backward called without a preceding Train forward {WHY}"),
    )
}

/// Panics, naming the layer path and both shapes, unless the gradient backward received has the
/// `expected` shape (that of the last Train forward's output). A gradient of another shape is a
/// bug in the caller, and computing with it would give wrong numbers or an obscure panic.
#[track_caller]
pub fn check_grad_shape(grad_shape: &[usize], expected: &[usize]) {
    check_grad_shape_in("layer", grad_shape, expected)
}

/// [`check_grad_shape`] naming `layer` when it runs outside any container.
#[track_caller]
pub(crate) fn check_grad_shape_in(layer: impl Display, grad_shape: &[usize], expected: &[usize]) {
    if grad_shape != expected {
        layer_panic_in(
            layer,
            format_args!(
                "expected a gradient of shape {expected:?} (the output of the last Train forward), \
                 got {grad_shape:?}"
            ),
        );
    }
}

/// Reshapes a batch-first input of any rank >= 2 to `(N, features)`, without copying when it
/// is in standard layout: PyTorch's `x.flatten(1)` (the seed's `x.reshape(x.shape[0], -1)`),
/// checked. An image batch `[N, 1, 28, 28]` becomes `[N, 784]`.
///
/// Panics, naming the layer path and both shapes, if `x` is not batch-first or does not hold
/// `features` values per sample: `fc2: expected 128 input features, got 64: input shape
/// [8, 64], expected [8, 128]`.
#[track_caller]
pub fn flatten(x: Tensor, features: usize) -> Array2<f32> {
    flatten_in("layer", x, features)
}

/// [`flatten`] naming `layer` when it runs outside any container.
#[track_caller]
pub(crate) fn flatten_in(layer: impl Display, x: Tensor, features: usize) -> Array2<f32> {
    if x.ndim() < 2 {
        layer_panic_in(
            layer,
            format_args!(
                "expected a batch-first input with {features} features per sample, such as shape \
                 [N, {features}], got shape {:?}",
                x.shape()
            ),
        );
    }
    let n = x.shape()[0];
    let width: usize = x.shape()[1..].iter().product();
    if width != features {
        layer_panic_in(
            layer,
            format_args!(
                "expected {features} input features, got {width}: input shape {:?}, expected [{n}, {features}]",
                x.shape()
            ),
        );
    }
    contiguous(x)
        .into_shape_with_order((n, width))
        .expect("a standard-layout array reshapes without copying")
}

/// `t` itself if it is in standard (row-major) layout, else a row-major copy: PyTorch's
/// `contiguous()`. A transposed array cannot be reshaped or walked as one slice in place.
/// (`as_standard_layout().into_owned()` would copy even an array that is already row-major.)
pub fn contiguous(t: Tensor) -> Tensor {
    if t.is_standard_layout() {
        t
    } else {
        t.as_standard_layout().into_owned()
    }
}

/// The message of the panic `f` raises (empty if its payload is not text), for tests of the
/// panics that name a layer and shapes.
///
/// # Panics
/// If `f` returns without panicking.
#[cfg(test)]
pub(crate) fn panic_message(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("must panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{backward_child, forward_child, Layer, Mode};

    /// Doubles its input and keeps a copy of it, for checking `Saved` through a real layer.
    #[derive(Default)]
    struct Double {
        input: Saved,
    }

    impl Layer for Double {
        fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
            if mode == Mode::Train {
                self.input.prepare(x.shape()).assign(&x);
            }
            x * 2.0
        }
        fn backward(&mut self, grad: Tensor) -> Tensor {
            self.input.take(grad.shape(), "Double");
            grad * 2.0
        }
    }

    fn zeros(shape: &[usize]) -> Tensor {
        Tensor::zeros(IxDyn(shape))
    }

    #[test]
    fn backward_without_a_train_forward_names_the_path_and_the_type() {
        let mut layer = Double::default();
        layer.forward(zeros(&[2, 3]), Mode::Eval);
        let msg = panic_message(|| {
            backward_child("act1", &mut layer, zeros(&[2, 3]));
        });
        assert_eq!(
            msg,
            "act1: backward called on Double without a preceding Train forward \
             (each backward needs its own forward with Mode::Train)"
        );
        // One Train forward pays for one backward only.
        layer.forward(zeros(&[2, 3]), Mode::Train);
        layer.backward(zeros(&[2, 3]));
        let msg = panic_message(|| {
            layer.backward(zeros(&[2, 3]));
        });
        // Called directly, outside any container: the type leads the message.
        assert!(
            msg.starts_with("Double: backward called without a preceding Train forward"),
            "{msg}"
        );
    }

    #[test]
    fn a_gradient_of_the_wrong_shape_names_both_shapes() {
        let mut layer = Double::default();
        layer.forward(zeros(&[2, 3]), Mode::Train);
        let msg = panic_message(|| {
            backward_child("block", &mut layer, zeros(&[3, 2]));
        });
        assert_eq!(
            msg,
            "block: expected a gradient of shape [2, 3] (the output of the last Train forward), got [3, 2]"
        );
    }

    #[test]
    fn take_owned_hands_back_the_saved_tensor_once() {
        let mut saved = Saved::<f32>::new();
        let x = Tensor::from_elem(IxDyn(&[2, 2]), 1.5);
        let ptr = x.as_ptr();
        saved.save(x);
        let back = saved.take_owned("Linear(2 -> 2)");
        assert_eq!((back.as_ptr(), back[[1, 1]]), (ptr, 1.5));
        let msg = panic_message(|| {
            saved.take_owned("Linear(2 -> 2)");
        });
        assert!(
            msg.starts_with("Linear(2 -> 2): backward called without"),
            "{msg}"
        );
    }

    #[test]
    fn a_saved_buffer_keeps_its_allocation_across_a_smaller_batch() {
        let mut saved = Saved::<f32>::default();
        let ptr = saved.prepare(&[4, 3]).as_ptr();
        let small = saved.prepare(&[2, 3]);
        assert_eq!((small.shape(), small.as_ptr()), (&[2, 3][..], ptr));
        let full = saved.prepare(&[4, 3]);
        assert_eq!((full.shape(), full.as_ptr()), (&[4, 3][..], ptr));
    }

    #[test]
    fn prepare_after_saving_a_transposed_tensor_gives_standard_layout() {
        let mut saved = Saved::<f32>::new();
        saved.save(Tensor::zeros(IxDyn(&[3, 2])).reversed_axes());
        assert!(saved.prepare(&[2, 3]).is_standard_layout());
    }

    #[test]
    fn flatten_keeps_the_data_and_names_the_path_and_both_shapes_on_wrong_width() {
        let x = Tensor::from_shape_fn(IxDyn(&[2, 3, 2]), |i| (i[0] * 6 + i[1] * 2 + i[2]) as f32);
        let m = flatten(x, 6);
        assert_eq!(m.shape(), &[2, 6]);
        assert_eq!(m[[1, 5]], 11.0);

        struct Wide;
        impl Layer for Wide {
            fn forward(&mut self, x: Tensor, _: Mode) -> Tensor {
                flatten(x, 128).into_dyn()
            }
            fn backward(&mut self, g: Tensor) -> Tensor {
                g
            }
        }
        let msg = panic_message(|| {
            forward_child("fc2", &mut Wide, zeros(&[4, 64]), Mode::Eval);
        });
        assert_eq!(
            msg,
            "fc2: expected 128 input features, got 64: input shape [4, 64], expected [4, 128]"
        );
        let msg = panic_message(|| {
            forward_child("fc2", &mut Wide, zeros(&[128]), Mode::Eval);
        });
        assert_eq!(
            msg,
            "fc2: expected a batch-first input with 128 features per sample, such as shape \
             [N, 128], got shape [128]"
        );
    }

    #[test]
    fn flatten_copies_a_transposed_input_into_row_major_order() {
        let x = Tensor::from_shape_fn(IxDyn(&[3, 2]), |i| (i[0] * 2 + i[1]) as f32);
        let t = x.reversed_axes(); // shape [2, 3], column-major memory
        assert!(!t.is_standard_layout());
        let m = flatten(t.clone(), 3);
        assert_eq!(m.into_dyn(), t);
        assert!(contiguous(t).is_standard_layout());
    }
}
