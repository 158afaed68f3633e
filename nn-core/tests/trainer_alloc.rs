//! The trainer adds no allocation to a training step: it reuses one batch (the first layer's
//! input gradient goes back into it) and one index vector, and counts metrics in place. What a
//! step still allocates comes from its parts, whatever the trainer does: one packing buffer per
//! matrix product inside ndarray's GEMM (three per `Linear`, two for the first), the batch shape
//! in `Dataset::fill_batch` and the optimizer's parameter-walk path strings.
//!
//! A separate test binary, because it installs a counting global allocator.

use nn_core::data::Batch;
use nn_core::data::Dataset;
use nn_core::train::Trainer;
use nn_core::{count_correct, seeded, Adam, Layer, Mlp, Mode, Optimizer, SoftmaxCrossEntropy, Targets};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // Per thread, so that tests running in parallel do not count each other's allocations.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

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

fn allocations() -> usize {
    ALLOCATIONS.with(|n| n.get())
}

fn data(n: usize) -> Dataset {
    let x: Vec<f32> = (0..n * 20).map(|i| ((i * 7919) % 101) as f32 / 101.0).collect();
    let labels = (0..n).map(|i| i % 4).collect();
    Dataset::from_f32(x, &[20], labels, 4).unwrap()
}

fn net(hidden: &[usize]) -> Mlp {
    Mlp::builder(20, hidden, 4)
        .batch_norm(true)
        .dropout(0.1)
        .build(&mut seeded(1))
}

/// Allocations of one `fit` epoch over `n` samples in batches of 10, without validation.
fn fit_allocations(n: usize, hidden: &[usize]) -> usize {
    let data = data(n);
    let mut net = net(hidden);
    let mut trainer = Trainer::new(Adam::new(1e-3)).epochs(1).batch_size(10).silent();
    let before = allocations();
    trainer.fit(&mut net, &data, None).unwrap();
    allocations() - before
}

/// Allocations of the same epoch written out by hand with the parts the trainer uses.
fn manual_allocations(n: usize, hidden: &[usize]) -> usize {
    let data = data(n);
    let mut net = net(hidden);
    let mut opt = Adam::new(1e-3);
    let mut loss = SoftmaxCrossEntropy::new();
    let mut batch = Batch::new();
    let order: Vec<usize> = (0..n).collect();
    let mut correct = 0;
    let before = allocations();
    for indices in order.chunks(10) {
        data.fill_batch(indices, &mut batch);
        let logits = net.forward(std::mem::take(&mut batch.images), Mode::Train);
        correct += count_correct(&logits, Targets::Classes(&batch.labels));
        loss.forward(logits, Targets::Classes(&batch.labels));
        batch.images = net.backward(loss.backward());
        opt.step(&mut net).unwrap();
    }
    assert!(correct <= n);
    allocations() - before
}

#[test]
fn the_trainer_adds_no_allocation_to_a_training_step() {
    for hidden in [&[16][..], &[32, 32, 32]] {
        // Warm up: the first training on a thread creates its layer-path string.
        manual_allocations(100, hidden);
        let overhead: Vec<usize> = [100, 500, 1000]
            .iter()
            .map(|&n| fit_allocations(n, hidden) - manual_allocations(n, hidden))
            .collect();
        let per_step = (manual_allocations(500, hidden) - manual_allocations(100, hidden)) as f64 / 40.0;
        println!("hidden {hidden:?}: {per_step} allocations per step by the parts, trainer overhead per fit {overhead:?}");
        // Shuffling, metrics and batch recycling cost nothing per step: what the trainer adds
        // to the parts' own allocations is the same for 10, 50 and 100 steps.
        assert!(
            overhead.iter().all(|&o| o == overhead[0]),
            "hidden {hidden:?}: {overhead:?}"
        );
        assert!(overhead[0] <= 8, "{overhead:?}");
    }
}
