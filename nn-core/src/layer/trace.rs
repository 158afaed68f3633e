//! A record of the layers one forward runs, for [`crate::summary()`]: each child a container runs
//! (through [`forward_child`](super::forward_child) or a branch helper) with its path, nesting
//! depth, role, output shape and parameter count. Off (one thread-local check) unless a summary
//! is being made.

use crate::layer::{current_path, param_count, Layer, Mode};
use crate::tensor::Tensor;
use std::cell::RefCell;

/// How a layer's input relates to its block: what a summary row marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Runs on the output of the layer before it (or its container's input, if first).
    Layer,
    /// A path from its block's input whose output is added to the output of the fields before it
    /// (`#[sequential(shortcut)]`).
    Shortcut,
    /// One of several paths from its block's input whose outputs the block combines
    /// ([`Concat`](crate::layers::Concat)'s branches).
    Branch,
}

/// One layer run during a recorded forward.
pub(crate) struct Record {
    pub path: String,
    pub depth: usize,
    pub role: Role,
    pub type_name: String,
    pub output_shape: Vec<usize>,
    pub params: usize,
}

struct Trace {
    records: Vec<Record>,
    depth: usize,
}

thread_local! {
    static TRACE: RefCell<Option<Trace>> = const { RefCell::new(None) };
}

/// Stops recording when dropped, also while a panic unwinds.
struct Recording;

impl Drop for Recording {
    fn drop(&mut self) {
        TRACE.with(|t| t.borrow_mut().take());
    }
}

/// Runs `f` (a forward) with recording on; returns its result and the layers it ran, in the
/// order they started (a container before its children).
pub(crate) fn record<R>(f: impl FnOnce() -> R) -> (R, Vec<Record>) {
    TRACE.with(|t| {
        *t.borrow_mut() = Some(Trace {
            records: Vec::new(),
            depth: 0,
        })
    });
    let recording = Recording;
    let result = f();
    let records = TRACE.with(|t| t.borrow_mut().take().map(|t| t.records).unwrap_or_default());
    drop(recording);
    (result, records)
}

/// `layer.forward(x, mode)`, recorded under the current path if a summary is being made. Passes
/// its caller's location on, as [`forward_child`](super::forward_child) does.
#[track_caller]
pub(crate) fn forward<L: Layer + ?Sized>(layer: &mut L, x: Tensor, mode: Mode, role: Role) -> Tensor {
    let started = TRACE.with(|t| {
        let mut t = t.borrow_mut();
        let t = t.as_mut()?;
        let index = t.records.len();
        t.records.push(Record {
            path: current_path(),
            depth: t.depth,
            role,
            type_name: layer.type_name(),
            output_shape: Vec::new(),
            params: 0,
        });
        t.depth += 1;
        Some(index)
    });
    let Some(index) = started else {
        return layer.forward(x, mode);
    };
    // Unwound by `Recording` if the forward panics.
    let y = layer.forward(x, mode);
    let params = param_count(layer);
    TRACE.with(|t| {
        if let Some(t) = t.borrow_mut().as_mut() {
            t.depth -= 1;
            let record = &mut t.records[index];
            record.output_shape = y.shape().to_vec();
            record.params = params;
        }
    });
    y
}
