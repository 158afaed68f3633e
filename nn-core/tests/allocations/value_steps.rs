//! Steps on value targets allocate nothing of their own either: a regression (MSE on one value
//! per sample) and an autoencoder (BCE with logits against its own `u8` inputs, which the batch
//! fill copies into the reused target buffer). As in `training_step`, the matrix products'
//! scratch is counted by running the same products alone.

use super::steady_step::{product_allocations, steady_step_allocations};
use nn_core::data::Dataset;
use nn_core::linalg::set_num_threads;
use nn_core::{seeded, BceWithLogitsLoss, Init, Layer, Linear, MseLoss, Relu, Tensor};

const BATCH: usize = 10;
const FEATURES: usize = 20;
const HIDDEN: usize = 8;

/// Linear(FEATURES -> HIDDEN, no input gradient) -> ReLU -> Linear(HIDDEN -> outputs).
fn net(outputs: usize) -> Vec<Box<dyn Layer>> {
    let mut rng = seeded(4321);
    vec![
        Box::new(Linear::new(FEATURES, HIDDEN, Init::He, &mut rng).with_input_grad(false)),
        Box::new(Relu::new()),
        Box::new(Linear::new(HIDDEN, outputs, Init::He, &mut rng)),
    ]
}

/// The products of one step of [`net`]: both layers' forward and weight gradient, and the
/// second's input gradient.
fn gemm(outputs: usize) -> usize {
    product_allocations(BATCH, FEATURES, HIDDEN, false, true)
        + product_allocations(HIDDEN, BATCH, FEATURES, true, false)
        + product_allocations(BATCH, HIDDEN, outputs, false, true)
        + product_allocations(outputs, BATCH, HIDDEN, true, false)
        + product_allocations(BATCH, outputs, HIDDEN, false, false)
}

#[test]
fn a_steady_regression_step_allocates_only_inside_the_matrix_products() {
    let _serial = crate::serial();
    set_num_threads(1);
    let x = Tensor::from_shape_fn(vec![50, FEATURES], |i| {
        ((i[0] * 31 + i[1] * 7) % 13) as f32 / 13.0
    });
    let y = Tensor::from_shape_fn(vec![50, 1], |i| (i[0] % 5) as f32);
    let data = Dataset::from_tensors(x, y).unwrap();
    let mut net = net(1);
    let per_step = steady_step_allocations(&mut net, &data, BATCH, &mut MseLoss::new());
    let gemm = gemm(1);
    assert!(
        per_step.iter().all(|&n| n == gemm),
        "allocations per step {per_step:?}; the matrix products alone make {gemm}"
    );
}

#[test]
fn a_steady_autoencoder_step_allocates_only_inside_the_matrix_products() {
    let _serial = crate::serial();
    set_num_threads(1);
    let pixels: Vec<u8> = (0..50 * FEATURES).map(|i| (i * 37 % 256) as u8).collect();
    let data = Dataset::from_u8(pixels, &[FEATURES], vec![0; 50], 1)
        .unwrap()
        .inputs_as_targets();
    let mut net = net(FEATURES);
    let per_step = steady_step_allocations(&mut net, &data, BATCH, &mut BceWithLogitsLoss::new());
    let gemm = gemm(FEATURES);
    assert!(
        per_step.iter().all(|&n| n == gemm),
        "allocations per step {per_step:?}; the matrix products alone make {gemm}"
    );
}
