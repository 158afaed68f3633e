//! The path of the layer now running (`block.fc2`), tracked as containers call their children,
//! so that a panic deep in a network names the layer it came from.

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
