//! The `Layer` trait and the explicit train/eval [`Mode`]; the rest of the layer API (named
//! parameters, the layer path, helpers for writing layers) lives in the submodules and is
//! re-exported here, so everything is `nn::layer::...`.
//!
//! A layer owns its parameters and the activations it needs for backward. Tensors move through
//! `forward` and `backward` by value, so a layer may reuse the buffer it is handed (an activation
//! can work in place) instead of allocating a new one every step.

pub mod branch;
mod helpers;
pub mod onnx;
mod path;
mod plan;
mod trace;
mod tuple;
mod visitor;

pub use crate::pages::EvalScope;
#[cfg(test)]
pub(crate) use helpers::panic_message;
pub use helpers::{check_grad_shape, contiguous, flatten, Saved};
pub(crate) use helpers::{check_grad_shape_in, flatten_in, no_train_forward};
pub use path::{
    as_layer, backward_child, current_path, forward_child, layer_panic, layer_panic_in, visit_child,
};
pub(crate) use path::{PathGuard, TypeName};
pub use plan::TrainingPlan;
pub(crate) use plan::{InputGrad, Needs};
pub use trace::Role;
pub(crate) use trace::{record, Record};
pub use visitor::{for_each_buffer, for_each_param, param_count, param_names, Param, ParamKind, Visitor};

use crate::tensor::Tensor;
use onnx::{Graph, OnnxError, Value};
use std::any::Any;

/// Whether a forward pass is part of training (batch statistics, dropout active, activations kept
/// for backward) or of evaluation (running statistics, dropout off). Passed to every forward call,
/// so there is no hidden flag to forget to flip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Training: batch statistics, dropout active, activations kept for backward.
    Train,
    /// Evaluation: running statistics, dropout off.
    Eval,
}

/// A network building block: forward, backward, and named access to its parameters.
///
/// Implement `forward` and `backward` for a custom layer; implement `visit` if it has parameters
/// or buffers, and `visit_children` if it is made of other layers (a derived network is).
/// [`Saved`] keeps what backward needs and [`flatten`] checks a batch-first input, with the
/// panics the built-in layers give; call sub-layers through [`forward_child`] and
/// [`backward_child`] so that those panics name them. Implement `to_onnx` for the layer to be
/// exported to ONNX (see [`onnx`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a layer: it does not implement `nn::Layer`",
    label = "not a layer",
    note = "in a `#[derive(Sequential)]` struct, mark a field that is not a layer `#[sequential(skip)]`"
)]
pub trait Layer {
    /// Computes the output for input `x`. In [`Mode::Train`] the layer keeps what backward needs.
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor;

    /// Given the gradient of the loss with respect to the last Train forward's output, stores the
    /// gradients of this layer's parameters (overwriting earlier ones) and returns the gradient
    /// with respect to that forward's input, in the input's shape.
    fn backward(&mut self, grad: Tensor) -> Tensor;

    /// Reports this layer's parameters and buffers to `v`. The default visits the children.
    fn visit(&mut self, v: &mut Visitor<'_>) {
        self.visit_children(&mut |name, child| v.child(name, child));
    }

    /// Calls `f` with each sub-layer and its name, in forward order. Leaves have none (the default).
    fn visit_children(&mut self, f: &mut dyn FnMut(&str, &mut dyn Layer)) {
        let _ = f;
    }

    /// Takes this layer's part of a [`TrainingPlan`]: which gradients backward must compute
    /// (freezing), and what the coming epoch is. The trainer calls it on the whole network before
    /// each epoch. The default hands the plan to each child in forward order
    /// ([`TrainingPlan::child`]); a leaf that can skip work for a frozen parameter or an input
    /// that needs no gradient overrides it, and one that does not computes every gradient, which
    /// is always correct.
    fn prepare(&mut self, plan: &mut TrainingPlan<'_>) {
        self.visit_children(&mut |name, child| plan.child(name, child));
    }

    /// A short type name for summaries, such as `Linear(784 -> 128)`.
    fn type_name(&self) -> String {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base).to_string()
    }

    /// Adds the ONNX nodes that compute this layer's Eval output from `x` to `g`, and returns
    /// that output (see [`onnx`]). Containers translate each child with [`Graph::child`].
    ///
    /// The default translates nn's built-in layers (found through [`Layer::as_any_mut`]) and
    /// reports any other layer as not exportable, naming its path and type: a custom layer
    /// overrides this to be exported.
    fn to_onnx(&mut self, g: &mut Graph, x: Value) -> Result<Value, OnnxError> {
        let type_name = self.type_name();
        g.builtin(self.as_any_mut(), type_name, x)
    }

    /// This layer as [`Any`], for code that treats some layer types specially (the ONNX export
    /// finds nn's built-in layers this way). Built-in layers return `Some(self)`; the default is
    /// `None`.
    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        None
    }
}

impl<L: Layer + ?Sized> Layer for Box<L> {
    #[track_caller]
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        (**self).forward(x, mode)
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        (**self).backward(grad)
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        (**self).visit(v)
    }
    fn visit_children(&mut self, f: &mut dyn FnMut(&str, &mut dyn Layer)) {
        (**self).visit_children(f)
    }
    fn prepare(&mut self, plan: &mut TrainingPlan<'_>) {
        (**self).prepare(plan)
    }
    fn type_name(&self) -> String {
        (**self).type_name()
    }
    fn to_onnx(&mut self, g: &mut Graph, x: Value) -> Result<Value, OnnxError> {
        (**self).to_onnx(g, x)
    }
    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        (**self).as_any_mut()
    }
}

/// An optional layer: `None` is the identity (a layer switched off by configuration), `Some`
/// behaves exactly as the layer it holds, under the same name.
impl<L: Layer> Layer for Option<L> {
    #[track_caller]
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        match self {
            Some(layer) => layer.forward(x, mode),
            None => x,
        }
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        match self {
            Some(layer) => layer.backward(grad),
            None => grad,
        }
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        if let Some(layer) = self {
            layer.visit(v)
        }
    }
    fn visit_children(&mut self, f: &mut dyn FnMut(&str, &mut dyn Layer)) {
        if let Some(layer) = self {
            layer.visit_children(f)
        }
    }
    fn prepare(&mut self, plan: &mut TrainingPlan<'_>) {
        if let Some(layer) = self {
            layer.prepare(plan)
        }
    }
    fn type_name(&self) -> String {
        match self {
            Some(layer) => layer.type_name(),
            None => "None".to_string(),
        }
    }
    fn to_onnx(&mut self, g: &mut Graph, x: Value) -> Result<Value, OnnxError> {
        match self {
            Some(layer) => layer.to_onnx(g, x),
            None => Ok(x),
        }
    }
}

/// A chain of layers named `0`, `1`, …: a network built at run time is a `Vec<Box<dyn Layer>>`.
impl<L: Layer> Layer for Vec<L> {
    #[track_caller]
    fn forward(&mut self, mut x: Tensor, mode: Mode) -> Tensor {
        let _scope = EvalScope::enter(mode == Mode::Eval);
        for (i, layer) in self.iter_mut().enumerate() {
            x = forward_child(IndexName::new(i).as_str(), layer, x, mode);
        }
        x
    }
    fn backward(&mut self, mut grad: Tensor) -> Tensor {
        for (i, layer) in self.iter_mut().enumerate().rev() {
            grad = backward_child(IndexName::new(i).as_str(), layer, grad);
        }
        grad
    }
    fn visit_children(&mut self, f: &mut dyn FnMut(&str, &mut dyn Layer)) {
        for (i, layer) in self.iter_mut().enumerate() {
            f(IndexName::new(i).as_str(), layer);
        }
    }
    fn type_name(&self) -> String {
        "Vec".to_string()
    }
    fn to_onnx(&mut self, g: &mut Graph, mut x: Value) -> Result<Value, OnnxError> {
        for (i, layer) in self.iter_mut().enumerate() {
            x = g.child(IndexName::new(i).as_str(), layer, x)?;
        }
        Ok(x)
    }
}

/// A decimal index formatted on the stack, so that naming `Vec` children allocates nothing.
struct IndexName {
    buf: [u8; 20],
    start: usize,
}

impl IndexName {
    fn new(mut i: usize) -> Self {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = b'0' + (i % 10) as u8;
            i /= 10;
            if i == 0 {
                break;
            }
        }
        IndexName { buf, start }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).expect("ASCII digits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    /// A layer with one weight and one buffer that scales its input, for testing the plumbing.
    struct Scale {
        w: Tensor,
        gw: Tensor,
        count: Tensor,
        x: Option<Tensor>,
    }

    impl Scale {
        fn new(w: f32) -> Self {
            Scale {
                w: ArrayD::from_elem(IxDyn(&[1]), w),
                gw: ArrayD::zeros(IxDyn(&[1])),
                count: ArrayD::zeros(IxDyn(&[1])),
                x: None,
            }
        }
    }

    impl Layer for Scale {
        fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
            if x.ndim() != 2 {
                layer_panic(format_args!("expected a 2-D input, got shape {:?}", x.shape()));
            }
            self.count[0] += 1.0;
            let y = &x * self.w[0];
            if mode == Mode::Train {
                self.x = Some(x);
            }
            y
        }
        fn backward(&mut self, grad: Tensor) -> Tensor {
            let Some(x) = self.x.take() else {
                layer_panic(format_args!("backward called without a preceding Train forward"))
            };
            self.gw[0] = (&x * &grad).sum();
            grad * self.w[0]
        }
        fn visit(&mut self, v: &mut Visitor<'_>) {
            v.param("weight", &mut self.w, &mut self.gw, ParamKind::Weight);
            v.buffer("count", &mut self.count);
        }
    }

    fn input() -> Tensor {
        ArrayD::from_elem(IxDyn(&[2, 3]), 1.0)
    }

    #[test]
    fn vec_chains_forward_and_backward_in_order() {
        let mut net = vec![Scale::new(2.0), Scale::new(3.0)];
        let y = net.forward(input(), Mode::Train);
        assert!(y.iter().all(|&v| v == 6.0));
        let g = net.backward(ArrayD::from_elem(IxDyn(&[2, 3]), 1.0));
        assert!(g.iter().all(|&v| v == 6.0));
        // d/dw0 of sum(w1 * w0 * x) = w1 * sum(x) = 3 * 6.
        assert_eq!(net[0].gw[0], 18.0);
        assert_eq!(net[1].gw[0], 12.0);
    }

    #[test]
    fn names_are_hierarchical_and_option_is_transparent() {
        let mut net: Vec<Box<dyn Layer>> = vec![
            Box::new(Scale::new(1.0)),
            Box::new(Some(vec![Scale::new(1.0), Scale::new(1.0)])),
            Box::new(None::<Scale>),
        ];
        assert_eq!(param_names(&mut net), ["0.weight", "1.0.weight", "1.1.weight"]);
        let mut buffers = Vec::new();
        for_each_buffer(&mut net, |name, _| buffers.push(name.to_string()));
        assert_eq!(buffers, ["0.count", "1.0.count", "1.1.count"]);
        assert_eq!(param_count(&mut net), 3);
    }

    #[test]
    fn none_is_identity() {
        let mut layer: Option<Scale> = None;
        let y = layer.forward(input(), Mode::Train);
        assert_eq!(y, input());
        assert_eq!(layer.backward(input()), input());
    }

    #[test]
    fn panics_name_the_nested_layer_path() {
        let mut outer = vec![vec![Scale::new(1.0), Scale::new(1.0)]];
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            outer.forward(ArrayD::zeros(IxDyn(&[2])), Mode::Train)
        }))
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert_eq!(msg, "0.0: expected a 2-D input, got shape [2]");
        // The path is unwound with the panic.
        assert_eq!(current_path(), "layer");
    }

    #[test]
    fn backward_without_forward_names_the_layer() {
        let mut net = vec![Scale::new(1.0), Scale::new(1.0)];
        let _ = net.forward(input(), Mode::Eval);
        let err =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| net.backward(input()))).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert_eq!(msg, "1: backward called without a preceding Train forward");
    }

    #[test]
    fn index_names_format_like_display() {
        for i in [0, 7, 10, 99, 12345, usize::MAX] {
            assert_eq!(IndexName::new(i).as_str(), i.to_string());
        }
    }
}
