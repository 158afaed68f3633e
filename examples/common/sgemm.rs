//! Timing nn's matrix product (`nn::linalg::matmul_into`): the rate `sgemm_rate` prints, and the
//! reference the benchmarks' profiles measure each convolution against in the same run.

use ndarray::{Array2, ShapeBuilder};
use nn::linalg::matmul_into;
use std::time::Instant;

/// The side of the square product whose rate is the reference: large enough that the product
/// runs at the kernel's best rate on every thread count.
pub const SQUARE: usize = 1024;

/// A matrix of `rows x cols` (column-major in memory when `transposed`) with varied values.
fn matrix(rows: usize, cols: usize, transposed: bool) -> Array2<f32> {
    let values: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    if transposed {
        Array2::from_shape_vec((rows, cols).f(), values).expect("sized")
    } else {
        Array2::from_shape_vec((rows, cols), values).expect("sized")
    }
}

/// Best and median seconds of one product `[m, k] x [k, n]` (`ta`, `tb`: the operand is stored
/// column-major) over `rounds` rounds of repeated products, on nn's current thread count.
pub fn time_product(m: usize, k: usize, n: usize, ta: bool, tb: bool, rounds: usize) -> (f64, f64) {
    let a = matrix(m, k, ta);
    let b = matrix(k, n, tb);
    let mut c = Array2::<f32>::zeros((m, n));
    let macs = (m * k * n) as f64;
    let reps = ((2e7 / macs) as usize).clamp(1, 10_000);
    for _ in 0..reps {
        matmul_into(a.view(), b.view(), c.view_mut(), false);
    }
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..reps {
                matmul_into(a.view(), b.view(), c.view_mut(), false);
            }
            start.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[0], times[times.len() / 2])
}

/// The best and median GFLOP/s of the [`SQUARE`]³ product over `rounds` rounds.
pub fn square_rate(rounds: usize) -> (f64, f64) {
    let (best, median) = time_product(SQUARE, SQUARE, SQUARE, false, false, rounds);
    let flop = 2.0 * (SQUARE as f64).powi(3);
    (flop / best / 1e9, flop / median / 1e9)
}
