//! The path of the layer now running (`block.fc2`), tracked as containers call their children,
//! so that a panic deep in a network names the layer it came from.

use crate::layer::trace::{self, Role};
use crate::layer::{Layer, Mode};
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::fmt::{Display, Write as _};

thread_local! {
    /// The path of the layer currently running forward or backward on this thread, so that a
    /// layer deep in a tree can name itself (`block.fc2`) in an error message.
    static CURRENT_PATH: RefCell<String> = RefCell::new(String::with_capacity(64));
}

/// Pops one path segment when dropped, also while a panic unwinds.
pub(crate) struct PathGuard(usize);

impl PathGuard {
    pub(crate) fn push(name: &str) -> Self {
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
/// `#[derive(Sequential)]` generates) call this so that errors name the failing layer. It passes
/// its caller's location on (`#[track_caller]`), so a shape panic points at the line that called
/// the container's `forward`, not into nn.
#[track_caller]
pub fn forward_child<L: Layer + ?Sized>(name: &str, layer: &mut L, x: Tensor, mode: Mode) -> Tensor {
    let _guard = PathGuard::push(name);
    trace::forward(layer, x, mode, Role::Layer)
}

/// `layer` itself, if it is a layer. The code `#[derive(Sequential)]` writes passes each field
/// through this one function, so that a field that is not a layer is one error (rustc reports an
/// identical error once), however many generated methods use the field.
#[doc(hidden)]
#[inline(always)]
pub fn as_layer<L: Layer + ?Sized>(layer: &mut L) -> &mut L {
    layer
}

/// Calls `f` with `layer` as a `&mut dyn Layer`: `visit_children` of the code
/// `#[derive(Sequential)]` writes. The cast happens here, so that a field that is not a layer is
/// reported once, by [`as_layer`], rather than again as a failed cast.
#[doc(hidden)]
pub fn visit_child<L: Layer>(f: &mut dyn FnMut(&str, &mut dyn Layer), name: &str, layer: &mut L) {
    f(name, layer)
}

/// Runs `layer.backward` with `name` appended to the current layer path.
pub fn backward_child<L: Layer + ?Sized>(name: &str, layer: &mut L, grad: Tensor) -> Tensor {
    let _guard = PathGuard::push(name);
    layer.backward(grad)
}

/// The path of the layer now running (`fc2`, `block.bn`), or `layer` outside any container.
pub fn current_path() -> String {
    let mut text = String::new();
    write_path(&mut text, &"layer");
    text
}

/// Appends the current path to `text`, or `layer` when no container has set one.
fn write_path(text: &mut String, layer: &dyn Display) {
    CURRENT_PATH.with(|p| {
        let p = p.borrow();
        if p.is_empty() {
            let _ = write!(text, "{layer}");
        } else {
            text.push_str(&p);
        }
    })
}

/// Whether a container has set a layer path: false for a layer called directly.
pub(crate) fn in_container() -> bool {
    CURRENT_PATH.with(|p| !p.borrow().is_empty())
}

/// Panics with a message prefixed by the current layer path: `fc2: expected 128 input
/// features, got 64`. For programmer errors such as a wrong input width or a backward without a
/// Train forward, which no caller can handle. Outside any container the prefix is `layer`;
/// [`layer_panic_in`] names the layer's type there instead.
#[track_caller]
pub fn layer_panic(message: std::fmt::Arguments<'_>) -> ! {
    layer_panic_in("layer", message)
}

/// [`layer_panic`] for a layer that can name itself: outside any container (a layer called
/// directly, where there is no path) the prefix is `layer`, the layer's type as the caller
/// names it (`Conv2d(1 -> 8, 3x3): expected ...`), rather than the word `layer`.
#[track_caller]
pub fn layer_panic_in(layer: impl Display, message: std::fmt::Arguments<'_>) -> ! {
    let mut text = String::new();
    write_path(&mut text, &layer);
    let _ = write!(text, ": {message}");
    panic!("{text}")
}

/// A layer's [`Layer::type_name`] as `Display`, computed only when formatted: on the way to a
/// panic, so that a steady step allocates nothing.
pub(crate) struct TypeName<'a, L: ?Sized>(pub &'a L);

impl<L: Layer + ?Sized> Display for TypeName<'_, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.type_name())
    }
}
