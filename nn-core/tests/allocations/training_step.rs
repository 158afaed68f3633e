//! A training step in steady state allocates nothing of its own: batch, activations, gradients,
//! loss and optimizer state are buffers reused from step to step. The only allocations left are
//! the matrix-multiply library's scratch (its packing buffers), which this test counts
//! separately by running the same products alone.

use super::allocations;
use ndarray::Array2;
use nn_core::data::Dataset;
use nn_core::linalg::{matmul_into, set_num_threads};
use nn_core::optim::{Adam, Optimizer};
use nn_core::{seeded, BatchNorm, Init, Layer, Linear, Mode, Relu, SoftmaxCrossEntropy, Targets};

const BATCH: usize = 10;
const FEATURES: usize = 20;
const HIDDEN: usize = 16;
const CLASSES: usize = 4;

/// Allocations of one product of `[m, k]` by `[k, n]`, laid out as `Linear` lays it out.
fn product_allocations(m: usize, k: usize, n: usize, b_transposed: bool, a_transposed: bool) -> usize {
    let a = if a_transposed {
        Array2::<f32>::ones((k, m)).reversed_axes()
    } else {
        Array2::ones((m, k))
    };
    let b = if b_transposed {
        Array2::<f32>::ones((n, k)).reversed_axes()
    } else {
        Array2::ones((k, n))
    };
    let mut c = Array2::<f32>::zeros((m, n));
    matmul_into(a.view(), b.view(), c.view_mut(), true);
    let before = allocations();
    matmul_into(a.view(), b.view(), c.view_mut(), true);
    allocations() - before
}

#[test]
fn a_steady_training_step_allocates_only_inside_the_matrix_products() {
    // One thread: the products are too small to be split anyway; this keeps the count exact.
    set_num_threads(1);
    let mut rng = seeded(4321);
    let mut net: Vec<Box<dyn Layer>> = vec![
        Box::new(Linear::new(FEATURES, HIDDEN, Init::He, &mut rng).with_input_grad(false)),
        Box::new(BatchNorm::new(HIDDEN)),
        Box::new(Relu::new()),
        Box::new(Linear::new(HIDDEN, CLASSES, Init::He, &mut rng)),
    ];
    let pixels: Vec<u8> = (0..50 * FEATURES).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<usize> = (0..50).map(|i| i % CLASSES).collect();
    let data = Dataset::from_u8(pixels, &[FEATURES], labels, CLASSES).unwrap();
    let mut batches = data.batches(BATCH, 1).drop_last(true);
    let mut loss = SoftmaxCrossEntropy::new();
    let mut adam = Adam::new(1e-3);

    let mut step = |count: bool| -> Option<usize> {
        let before = allocations();
        let batch = match batches.next_batch() {
            Some(b) => b,
            None => batches.next_batch().expect("a new epoch"),
        };
        let logits = net.forward(std::mem::take(&mut batch.images), Mode::Train);
        loss.forward(logits, Targets::Classes(&batch.labels));
        batch.images = net.backward(loss.backward());
        adam.step(&mut net).unwrap();
        count.then(|| allocations() - before)
    };
    // Two epochs of warm-up: buffers and optimizer state are created, the epoch wraps around.
    for _ in 0..10 {
        step(false);
    }
    let per_step: Vec<usize> = (0..12).map(|_| step(true).unwrap()).collect();

    // The products of one step: fc1 forward and weight gradient (no input gradient), fc2
    // forward, weight and input gradients.
    let gemm = product_allocations(BATCH, FEATURES, HIDDEN, true, false)
        + product_allocations(HIDDEN, BATCH, FEATURES, false, true)
        + product_allocations(BATCH, HIDDEN, CLASSES, true, false)
        + product_allocations(CLASSES, BATCH, HIDDEN, false, true)
        + product_allocations(BATCH, CLASSES, HIDDEN, false, false);
    assert!(
        per_step.iter().all(|&n| n == gemm),
        "allocations per step {per_step:?}; the matrix products alone make {gemm}"
    );
}
