//! The trainer adds no allocation to a training step: it draws from one `Batches` per `fit`
//! (whose buffer the first layer's input gradient goes back into), and its metrics count in
//! place. What a step still allocates comes from its parts whatever the trainer does (the
//! matrix-multiply library's packing buffers), so the test compares `fit` with the same loop
//! written by hand, for a classifier (accuracy) and a regression (MSE, MAE and RMSE).

use super::allocations;
use nn_core::data::{DataSource, Dataset};
use nn_core::layer::TrainingPlan;
use nn_core::train::Trainer;
use nn_core::{seeded, Adam, Layer, Loss, Mlp, Mode, MseLoss, Optimizer, SoftmaxCrossEntropy, Tensor};

/// `n` samples of 20 features, with 4 classes or (`regression`) one value each.
fn data(n: usize, regression: bool) -> Dataset {
    let x: Vec<f32> = (0..n * 20).map(|i| ((i * 7919) % 101) as f32 / 101.0).collect();
    if regression {
        let y = Tensor::from_shape_fn(vec![n, 1], |i| (i[0] % 7) as f32 / 7.0);
        Dataset::from_tensors(Tensor::from_shape_vec(vec![n, 20], x).unwrap(), y).unwrap()
    } else {
        Dataset::from_f32(x, &[20], (0..n).map(|i| i % 4).collect(), 4).unwrap()
    }
}

fn net(hidden: &[usize], outputs: usize) -> Mlp {
    Mlp::builder(20, hidden, outputs)
        .batch_norm(true)
        .dropout(0.1)
        .build(&mut seeded(1))
}

/// Allocations of one `fit` epoch over `n` samples in batches of 10, without validation.
fn fit_allocations(n: usize, hidden: &[usize], regression: bool) -> usize {
    let data = data(n, regression);
    let trainer = Trainer::new(Adam::new(1e-3)).epochs(1).batch_size(10).silent();
    if regression {
        let mut net = net(hidden, 1);
        let mut trainer = trainer.loss(MseLoss::new()).metrics(["mae", "rmse"]);
        let before = allocations();
        trainer.fit(&mut net, &data, None).unwrap();
        allocations() - before
    } else {
        let mut net = net(hidden, 4);
        let mut trainer = trainer;
        let before = allocations();
        trainer.fit(&mut net, &data, None).unwrap();
        allocations() - before
    }
}

/// Allocations of the same epoch written out by hand with the parts the trainer uses (the loss
/// and the optimizer; no metric).
fn manual_allocations(n: usize, hidden: &[usize], regression: bool) -> usize {
    let data = data(n, regression);
    let mut net = net(hidden, if regression { 1 } else { 4 });
    // As the trainer does before each epoch: the input is data, so the first layer skips its
    // input gradient (and the matrix product's own allocations with it).
    TrainingPlan::new(&|_| false).apply(&mut net);
    let mut opt = Adam::new(1e-3);
    let mut loss: Box<dyn Loss> = if regression {
        Box::new(MseLoss::new())
    } else {
        Box::new(SoftmaxCrossEntropy::new())
    };
    let mut batches = data.batches(10, 4321);
    let before = allocations();
    while let Some(batch) = batches.next_batch().unwrap() {
        let output = net.forward(std::mem::take(&mut batch.inputs), Mode::Train);
        loss.forward(output, batch.targets());
        batch.inputs = net.backward(loss.backward());
        opt.step(&mut net).unwrap();
    }
    allocations() - before
}

#[test]
fn the_trainer_adds_no_allocation_to_a_training_step() {
    let _serial = crate::serial();
    for regression in [false, true] {
        for hidden in [&[16][..], &[32, 32, 32]] {
            // Warm up: the first training on a thread creates its layer-path string.
            manual_allocations(100, hidden, regression);
            let overhead: Vec<usize> = [100, 500, 1000]
                .iter()
                .map(|&n| fit_allocations(n, hidden, regression) - manual_allocations(n, hidden, regression))
                .collect();
            let per_step = (manual_allocations(500, hidden, regression)
                - manual_allocations(100, hidden, regression)) as f64
                / 40.0;
            println!(
                "regression {regression}, hidden {hidden:?}: {per_step} allocations per step by the parts, \
                 trainer overhead per fit {overhead:?}"
            );
            // Shuffling, metrics and batch recycling cost nothing per step: what the trainer adds
            // to the parts' own allocations is the same for 10, 50 and 100 steps.
            assert!(
                overhead.iter().all(|&o| o == overhead[0]),
                "regression {regression}, hidden {hidden:?}: {overhead:?}"
            );
            // Per fit: the history, the check's one-sample forward before training (whose
            // buffers the first batch then outgrows), the progress state, the training plan
            // walks (before the epoch and after `fit`).
            assert!(overhead[0] <= 32, "{overhead:?}");
        }
    }
}
