//! The counting harness the training-step tests share: allocations of steady training steps,
//! and of the matrix products those steps run, each product alone.

use super::allocations;
use ndarray::Array2;
use nn_core::data::DataSource;
use nn_core::linalg::matmul_into_serial;
use nn_core::optim::{Adam, Optimizer};
use nn_core::{Layer, Loss, Mode};

/// Allocations of one product of `[m, k]` by `[k, n]` (each stored transposed if asked), after
/// a first one of the same shape.
pub fn product_allocations(m: usize, k: usize, n: usize, a_transposed: bool, b_transposed: bool) -> usize {
    let matrix = |rows: usize, cols: usize, transposed: bool| {
        if transposed {
            Array2::<f32>::ones((cols, rows)).reversed_axes()
        } else {
            Array2::ones((rows, cols))
        }
    };
    let (a, b) = (matrix(m, k, a_transposed), matrix(k, n, b_transposed));
    let mut c = Array2::<f32>::zeros((m, n));
    matmul_into_serial(a.view(), b.view(), c.view_mut(), true);
    let before = allocations();
    matmul_into_serial(a.view(), b.view(), c.view_mut(), true);
    allocations() - before
}

/// Allocations of each of 12 training steps of `net` (with `loss`, Adam) on full batches of
/// `batch` samples of `data`, after 10 steps of warm-up in which buffers and optimizer state are
/// created and (for the tests' 50 samples) the epoch wraps around.
pub fn steady_step_allocations(
    net: &mut dyn Layer,
    data: &impl DataSource,
    batch: usize,
    loss: &mut dyn Loss,
) -> Vec<usize> {
    let mut batches = data.batches(batch, 1).drop_last(true);
    let mut adam = Adam::new(1e-3);

    let mut step = |count: bool| -> Option<usize> {
        let before = allocations();
        let batch = match batches.next_batch().unwrap() {
            Some(b) => b,
            None => batches.next_batch().unwrap().expect("a new epoch"),
        };
        let output = net.forward(std::mem::take(&mut batch.inputs), Mode::Train);
        loss.forward(output, batch.targets());
        batch.inputs = net.backward(loss.backward());
        adam.step(net).unwrap();
        count.then(|| allocations() - before)
    };
    for _ in 0..10 {
        step(false);
    }
    (0..12).map(|_| step(true).unwrap()).collect()
}
