//! A training step in steady state allocates nothing of its own: batch, activations, gradients,
//! loss and optimizer state are buffers reused from step to step. The only allocations left are
//! the matrix-multiply library's scratch (its packing buffers), which this test counts
//! separately by running the same products alone.

use super::steady_step::{product_allocations, steady_step_allocations};
use nn_core::data::Dataset;
use nn_core::linalg::set_num_threads;
use nn_core::{seeded, BatchNorm, Init, Layer, Linear, Relu, SoftmaxCrossEntropy};

const BATCH: usize = 10;
const FEATURES: usize = 20;
const HIDDEN: usize = 16;
const CLASSES: usize = 4;

#[test]
fn a_steady_training_step_allocates_only_inside_the_matrix_products() {
    let _serial = crate::serial();
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
    let per_step = steady_step_allocations(&mut net, &data, BATCH, &mut SoftmaxCrossEntropy::new());

    // The products of one step: fc1 forward and weight gradient (no input gradient), fc2
    // forward, weight and input gradients.
    let gemm = product_allocations(BATCH, FEATURES, HIDDEN, false, true)
        + product_allocations(HIDDEN, BATCH, FEATURES, true, false)
        + product_allocations(BATCH, HIDDEN, CLASSES, false, true)
        + product_allocations(CLASSES, BATCH, HIDDEN, true, false)
        + product_allocations(BATCH, CLASSES, HIDDEN, false, false);
    assert!(
        per_step.iter().all(|&n| n == gemm),
        "allocations per step {per_step:?}; the matrix products alone make {gemm}"
    );
}
