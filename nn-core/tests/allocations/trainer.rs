//! The trainer adds no allocation to a training step: it draws from one `Batches` per `fit`
//! (whose buffer the first layer's input gradient goes back into), and counts metrics in place.
//! What a step still allocates comes from its parts whatever the trainer does (the
//! matrix-multiply library's packing buffers), so the test compares `fit` with the same loop
//! written by hand.

use super::allocations;
use nn_core::data::Dataset;
use nn_core::train::Trainer;
use nn_core::{count_correct, seeded, Adam, Layer, Mlp, Mode, Optimizer, SoftmaxCrossEntropy, Targets};

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
    let mut batches = data.batches(10, 4321);
    let mut correct = 0;
    let before = allocations();
    while let Some(batch) = batches.next_batch() {
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
