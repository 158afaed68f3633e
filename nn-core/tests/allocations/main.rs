//! Counts heap allocations of steady-state training: an optimizer step allocates nothing, a
//! training step (of an MLP or a CNN classifier, a regression, an autoencoder, or a network of the
//! newer layers) allocates only inside the matrix-multiply library, and the trainer adds nothing.
//!
//! One test binary for all three, because it installs a counting global allocator.

mod cnn_step;
mod new_layers_step;
mod optimizer_step;
mod resnet_step;
mod steady_step;
mod trainer;
mod training_control;
mod training_step;
mod value_steps;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // Per thread, so that tests running in parallel do not count each other's allocations.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a
// thread-local integer (and is skipped while that thread-local is being torn down).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Holds the other tests of this binary off until the caller's guard drops. The thread count is
/// global: a test setting 2 threads while another counts could let one of the counted passes run
/// in parallel and spawn a helper thread, an allocation on the counting thread (seen once in CI).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Allocations made so far on this thread.
fn allocations() -> usize {
    ALLOCATIONS.with(|n| n.get())
}
