//! The `Layer` trait, the explicit train/eval [`Mode`], and named access to parameters and buffers.
//!
//! A layer owns its parameters and the activations it needs for backward. Tensors move through
//! `forward` and `backward` by value, so a layer may reuse the buffer it is handed (an activation
//! can work in place) instead of allocating a new one every step.

use crate::tensor::{Tensor, TensorViewMut};
use std::cell::RefCell;
use std::fmt::Write as _;

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

/// What kind of trainable tensor a parameter is; L2 weight decay applies to weights only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A weight matrix (or kernel): subject to weight decay.
    Weight,
    /// A bias vector.
    Bias,
    /// A normalisation scale or shift (BatchNorm gamma and beta).
    Norm,
}

impl ParamKind {
    /// Whether L2 weight decay applies to this kind of parameter (weights only, as in the seed).
    pub fn decays(self) -> bool {
        self == ParamKind::Weight
    }
}

/// One trainable parameter as a visitor sees it: its value, the gradient the last backward left,
/// and its kind. Both are views: a visitor may change the numbers but not the shape, so a layer
/// can rely on the shapes it built its parameters with.
pub struct Param<'a> {
    /// The parameter's current value.
    pub value: TensorViewMut<'a>,
    /// The gradient of the loss with respect to `value`, written by the last backward; always the
    /// shape of `value`.
    pub grad: TensorViewMut<'a>,
    /// Whether it is a weight, a bias or a normalisation parameter.
    pub kind: ParamKind,
}

type ParamFn<'a> = &'a mut dyn FnMut(&str, Param<'_>);
type BufferFn<'a> = &'a mut dyn FnMut(&str, TensorViewMut<'_>);

/// Walks a layer tree and hands every parameter and buffer to callbacks under its full
/// hierarchical name (`fc1.weight`, `block.bn.running_mean`, `layers.3.bias`).
///
/// A leaf layer reports its own tensors with [`Visitor::param`] and [`Visitor::buffer`] using
/// local names; containers call [`Visitor::child`], which prefixes the child's name.
pub struct Visitor<'a> {
    path: String,
    on_param: Option<ParamFn<'a>>,
    on_buffer: Option<BufferFn<'a>>,
}

thread_local! {
    /// Path buffers of finished visitors, for the next ones: an optimizer walks the model twice
    /// per step, and a walk should not cost an allocation.
    static PATH_BUFFERS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// An empty path buffer, reused if a finished visitor left one.
fn take_path_buffer() -> String {
    PATH_BUFFERS
        .try_with(|b| b.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| String::with_capacity(64))
}

impl Drop for Visitor<'_> {
    fn drop(&mut self) {
        let mut path = std::mem::take(&mut self.path);
        path.clear();
        // A few buffers cover visitors nested in visitors; more would only hold memory.
        let _ = PATH_BUFFERS.try_with(|b| {
            let mut b = b.borrow_mut();
            if b.len() < 4 {
                b.push(path);
            }
        });
    }
}

impl<'a> Visitor<'a> {
    /// A visitor that sees parameters only.
    pub fn params(f: ParamFn<'a>) -> Self {
        Visitor {
            path: take_path_buffer(),
            on_param: Some(f),
            on_buffer: None,
        }
    }

    /// A visitor that sees buffers (non-trainable state such as running statistics) only.
    pub fn buffers(f: BufferFn<'a>) -> Self {
        Visitor {
            path: take_path_buffer(),
            on_param: None,
            on_buffer: Some(f),
        }
    }

    /// A visitor that sees both parameters and buffers.
    pub fn new(on_param: ParamFn<'a>, on_buffer: BufferFn<'a>) -> Self {
        Visitor {
            path: take_path_buffer(),
            on_param: Some(on_param),
            on_buffer: Some(on_buffer),
        }
    }

    /// Reports a trainable parameter named `name` within the current layer. The visitor sees
    /// views of `value` and `grad`, so it cannot change their shapes.
    ///
    /// Panics, naming the parameter, if `grad` is not the shape of `value`: a bug in the layer.
    pub fn param(&mut self, name: &str, value: &mut Tensor, grad: &mut Tensor, kind: ParamKind) {
        if let Some(f) = self.on_param.as_mut() {
            let len = self.path.len();
            self.path.push_str(name);
            if grad.shape() != value.shape() {
                panic!(
                    "{}: gradient of shape {:?} for a parameter of shape {:?}",
                    self.path,
                    grad.shape(),
                    value.shape()
                );
            }
            let param = Param {
                value: value.view_mut(),
                grad: grad.view_mut(),
                kind,
            };
            f(&self.path, param);
            self.path.truncate(len);
        }
    }

    /// Reports a non-trainable buffer named `name` within the current layer, as a view (its
    /// shape cannot change).
    pub fn buffer(&mut self, name: &str, value: &mut Tensor) {
        if let Some(f) = self.on_buffer.as_mut() {
            let len = self.path.len();
            self.path.push_str(name);
            f(&self.path, value.view_mut());
            self.path.truncate(len);
        }
    }

    /// Visits `layer` with `name` added to the path.
    pub fn child(&mut self, name: &str, layer: &mut dyn Layer) {
        let len = self.path.len();
        self.path.push_str(name);
        self.path.push('.');
        layer.visit(self);
        self.path.truncate(len);
    }
}

/// A network building block: forward, backward, and named access to its parameters.
///
/// Implement `forward` and `backward` for a custom layer; implement `visit` if it has parameters
/// or buffers, and `visit_children` if it is made of other layers (a derived network is).
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

    /// A short type name for summaries, such as `Linear(784 -> 128)`.
    fn type_name(&self) -> String {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base).to_string()
    }
}

impl<L: Layer + ?Sized> Layer for Box<L> {
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
    fn type_name(&self) -> String {
        (**self).type_name()
    }
}

/// An optional layer: `None` is the identity (a layer switched off by configuration), `Some`
/// behaves exactly as the layer it holds, under the same name.
impl<L: Layer> Layer for Option<L> {
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
    fn type_name(&self) -> String {
        match self {
            Some(layer) => layer.type_name(),
            None => "None".to_string(),
        }
    }
}

/// A chain of layers named `0`, `1`, …: a network built at run time is a `Vec<Box<dyn Layer>>`.
impl<L: Layer> Layer for Vec<L> {
    fn forward(&mut self, mut x: Tensor, mode: Mode) -> Tensor {
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

thread_local! {
    /// The path of the layer currently running forward or backward on this thread, so that a
    /// layer deep in a tree can name itself (`block.fc2`) in an error message.
    static CURRENT_PATH: RefCell<String> = RefCell::new(String::with_capacity(64));
}

/// Pops one path segment when dropped, also while a panic unwinds.
struct PathGuard(usize);

impl PathGuard {
    fn push(name: &str) -> Self {
        CURRENT_PATH.with(|p| {
            let mut p = p.borrow_mut();
            let len = p.len();
            if len > 0 {
                p.push('.');
            }
            p.push_str(name);
            PathGuard(len)
        })
    }
}

impl Drop for PathGuard {
    fn drop(&mut self) {
        CURRENT_PATH.with(|p| p.borrow_mut().truncate(self.0));
    }
}

/// Runs `layer.forward` with `name` appended to the current layer path. Containers (and the code
/// `#[derive(Sequential)]` generates) call this so that errors name the failing layer.
pub fn forward_child<L: Layer + ?Sized>(name: &str, layer: &mut L, x: Tensor, mode: Mode) -> Tensor {
    let _guard = PathGuard::push(name);
    layer.forward(x, mode)
}

/// Runs `layer.backward` with `name` appended to the current layer path.
pub fn backward_child<L: Layer + ?Sized>(name: &str, layer: &mut L, grad: Tensor) -> Tensor {
    let _guard = PathGuard::push(name);
    layer.backward(grad)
}

/// The path of the layer now running (`fc2`, `block.bn`), or `layer` outside any container.
pub fn current_path() -> String {
    CURRENT_PATH.with(|p| {
        let p = p.borrow();
        if p.is_empty() {
            "layer".to_string()
        } else {
            p.clone()
        }
    })
}

/// Panics with a message prefixed by the current layer path: `fc2: expected 128 input
/// features, got 64`. For programmer errors such as a wrong input width or a backward without a
/// Train forward, which no caller can handle.
#[track_caller]
pub fn layer_panic(message: std::fmt::Arguments<'_>) -> ! {
    let mut text = current_path();
    let _ = write!(text, ": {message}");
    panic!("{text}")
}

/// Calls `f` with every trainable parameter of `layer` and its full name, in a stable order.
pub fn for_each_param(layer: &mut (impl Layer + ?Sized), mut f: impl FnMut(&str, Param<'_>)) {
    layer.visit(&mut Visitor::params(&mut f));
}

/// Calls `f` with every buffer (non-trainable state) of `layer` and its full name.
pub fn for_each_buffer(layer: &mut (impl Layer + ?Sized), mut f: impl FnMut(&str, TensorViewMut<'_>)) {
    layer.visit(&mut Visitor::buffers(&mut f));
}

/// The total number of trainable scalars in `layer`.
pub fn param_count(layer: &mut (impl Layer + ?Sized)) -> usize {
    let mut n = 0;
    for_each_param(layer, |_, p| n += p.value.len());
    n
}

/// The full names of `layer`'s parameters, in visiting order.
pub fn param_names(layer: &mut (impl Layer + ?Sized)) -> Vec<String> {
    let mut names = Vec::new();
    for_each_param(layer, |name, _| names.push(name.to_string()));
    names
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
