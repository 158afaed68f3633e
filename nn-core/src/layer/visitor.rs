//! Named access to a layer tree's parameters and buffers: [`Visitor`] and the walks built on it.

use crate::layer::Layer;
use crate::tensor::{Tensor, TensorViewMut};
use std::cell::RefCell;

/// What kind of trainable tensor a parameter is; L2 weight decay applies to weights only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A weight matrix (or kernel): subject to weight decay.
    Weight,
    /// A bias vector.
    Bias,
    /// A normalisation scale or shift (BatchNorm's `weight` and `bias`, the seed's gamma and beta).
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
