//! The arithmetic kernels under the layers: matrix products, vectorised element-wise loops, and
//! the thread count.
//!
//! Matrix products go to the `gemm` crate, which picks AVX-512 or AVX2+FMA kernels at run time.
//! On the shapes of an MNIST MLP it runs 1.5-3x faster than ndarray's own product
//! (matrixmultiply, AVX2 only) and needs no system BLAS. nn splits large products into blocks
//! itself: the calling thread computes one and helper threads the others (`threads.rs`).
//!
//! Element-wise loops written as plain slice loops inside [`vectorized`] are compiled a second
//! time for AVX2 / AVX-512 and the best version is chosen at run time (the default target,
//! x86-64 baseline, only has SSE2). The arithmetic is unchanged, so results are bit for bit the
//! same whichever version runs: the compiler never fuses a multiply and an add on its own.

use crate::threads::both;
use ndarray::{s, ArrayView2, ArrayViewMut2, Axis};

pub use crate::threads::{num_threads, set_num_threads};

/// Products with fewer multiply-adds than this run on one thread: below it, handing half to a
/// second thread costs more than it saves (measured on W's shapes: 100x64x128 is faster alone,
/// 100x128x784 faster on two threads).
const PARALLEL_MIN_MACS: usize = 1 << 21;

/// `c = a · b`, or `c += a · b` with `accumulate`, for matrices of any strides (a transposed
/// view costs nothing).
///
/// Large products are split into [`num_threads`] blocks of output columns or rows (the longer
/// side), the calling thread computing one and helper threads the others. Each output element is the same sum in the same
/// order however the work is split, so the thread count never changes a result.
///
/// # Panics
/// If the shapes do not fit: `a` is `[m, k]`, `b` is `[k, n]` and `c` is `[m, n]`.
pub fn matmul_into(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: ArrayViewMut2<'_, f32>,
    accumulate: bool,
) {
    let (m, k) = a.dim();
    let parts = if m * b.ncols() * k >= PARALLEL_MIN_MACS {
        num_threads()
    } else {
        1
    };
    checked_product(a, b, c, accumulate, parts);
}

/// [`matmul_into`] on the calling thread only, however large: for callers that already split
/// their work over nn's threads (a convolution runs one product per tile of images).
pub fn matmul_into_serial(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: ArrayViewMut2<'_, f32>,
    accumulate: bool,
) {
    checked_product(a, b, c, accumulate, 1);
}

/// Checks the shapes, handles empty products, and computes the rest in `parts` blocks.
fn checked_product(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    mut c: ArrayViewMut2<'_, f32>,
    accumulate: bool,
    parts: usize,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    assert!(
        b.nrows() == k && c.dim() == (m, n),
        "matmul_into: cannot multiply [{m}, {k}] by {:?} into {:?}",
        b.shape(),
        c.shape()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    split_product(a, b, c, accumulate, parts);
}

/// gemm computes outputs of at most this many elements with dot-product kernels.
const SMALL_BLOCK: usize = 16 * 16;

/// Computes the product in `parts` blocks, two halves at a time on nn's threads.
fn split_product(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: ArrayViewMut2<'_, f32>,
    accumulate: bool,
    parts: usize,
) {
    let (m, n) = c.dim();
    // Blocks of whole 16-float vectors (the kernels' width), at least two per part.
    const ALIGN: usize = 16;
    let left = parts / 2;
    let at = |len: usize| (len * left / parts).div_ceil(ALIGN) * ALIGN;
    // Split the longer side of the output: each part then reads a slice of the other operand
    // only once (a 10,000-row batch is split by rows, a 128 x 784 weight gradient by columns).
    // No part may be as small as 16 x 16 outputs, which gemm computes with other kernels
    // (dot products across vector lanes) that sum in another order.
    let smallest = |len: usize| at(len).min(len - at(len));
    let by_columns =
        n >= 2 * ALIGN * parts && (n >= m || m < 2 * ALIGN * parts) && m * smallest(n) > SMALL_BLOCK;
    let by_rows = !by_columns && m >= 2 * ALIGN * parts && smallest(m) * n > SMALL_BLOCK;
    if parts < 2 || !(by_columns || by_rows) {
        product(a, b, c, accumulate);
    } else if by_columns {
        let (b0, b1) = b.split_at(Axis(1), at(n));
        let (c0, c1) = c.split_at(Axis(1), at(n));
        both(
            || split_product(a, b0, c0, accumulate, left),
            || split_product(a, b1, c1, accumulate, parts - left),
        );
    } else {
        let (a0, a1) = a.split_at(Axis(0), at(m));
        let (c0, c1) = c.split_at(Axis(0), at(m));
        both(
            || split_product(a0, b, c0, accumulate, left),
            || split_product(a1, b, c1, accumulate, parts - left),
        );
    }
}

/// Element-wise loops over at least this many values are split over two threads (when
/// [`num_threads`] allows): on W, Adam's update of the 100,352 weights of the first layer takes
/// 100 us on one core and 60 us on two.
pub(crate) const PARALLEL_MIN_LEN: usize = 1 << 15;

/// The longest run of the inner dimension handed to `gemm` at once. gemm splits a longer inner
/// dimension into blocks itself, but their length depends on the block of output it is given
/// (its kernel for a narrow block is shorter), so the same output element would be summed in a
/// different order when a product is split over threads. Here the blocks depend on `k` alone:
/// `k` in equal runs of at most this length, each added onto the output in order; gemm does
/// not split runs this short. (784 is two runs of 392, as gemm itself would cut it.)
const MAX_DEPTH: usize = 512;

/// One product on the calling thread; the shapes are checked and not empty.
fn product(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, mut c: ArrayViewMut2<'_, f32>, accumulate: bool) {
    let k = a.ncols();
    let run = k.div_ceil(k.div_ceil(MAX_DEPTH));
    for (i, start) in (0..k).step_by(run).enumerate() {
        let depth = start..(start + run).min(k);
        let (a, b) = (a.slice(s![.., depth.clone()]), b.slice(s![depth, ..]));
        gemm_call(a, b, c.view_mut(), accumulate || i > 0);
    }
}

/// `c = a · b` or `c += a · b` by one call to `gemm`; the shapes are checked and not empty.
fn gemm_call(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    mut c: ArrayViewMut2<'_, f32>,
    accumulate: bool,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    debug_assert!(b.nrows() == k && c.dim() == (m, n) && m * n * k > 0);
    let [a_rs, a_cs] = [a.strides()[0], a.strides()[1]];
    let [b_rs, b_cs] = [b.strides()[0], b.strides()[1]];
    let [c_rs, c_cs] = [c.strides()[0], c.strides()[1]];
    // SAFETY: `gemm` reads `a[i, p]` at `a_ptr + i * a_rs + p * a_cs` for i < m, p < k, likewise
    // `b[p, j]`, and reads and writes `c[i, j]` for i < m, j < n: exactly the elements of the
    // three views, which ndarray guarantees are in bounds of live allocations for their
    // lifetimes. `c` is a mutable view, so its elements are distinct and no other reference
    // (in particular neither `a` nor `b`) can see them while it lives. The shapes were checked
    // by the caller and none is empty. `Parallelism::None`: no thread outlives the call.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Runs `f` compiled for the best vector instructions this CPU has (AVX-512, AVX2, or the
/// baseline): wrap plain loops over slices in it and the compiler vectorises them for that
/// instruction set. Results are identical to running `f` directly.
///
/// Mark the closure `#[inline(always)]` (`vectorized(#[inline(always)] || { .. })`): only code
/// inlined into the dispatching function is compiled for the wider instructions, and the
/// compiler does not inline a large closure on its own.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};

    fn naive(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f32> {
        let (m, k) = a.dim();
        Array2::from_shape_fn((m, b.ncols()), |(i, j)| {
            (0..k)
                .map(|p| f64::from(a[[i, p]]) * f64::from(b[[p, j]]))
                .sum::<f64>() as f32
        })
    }

    fn filled(shape: (usize, usize), seed: usize) -> Array2<f32> {
        Array2::from_shape_fn(shape, |(i, j)| {
            (((i * 31 + j * 17 + seed) % 23) as f32 - 11.0) / 8.0
        })
    }

    #[test]
    #[ignore = "slow in a debug build (about 10 s); .ci/run runs it with --ignored"]
    fn products_of_every_layout_match_the_naive_product() {
        // Small, odd and large enough to be split across threads.
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 5, 2),
            (17, 33, 9),
            (100, 784, 128),
            (128, 100, 784),
        ] {
            let a = filled((m, k), 1);
            let b = filled((k, n), 2);
            let expect = naive(&a, &b);
            // Row-major, and the transposed views layers use (`x W^T`, `G^T x`).
            let a_t = Array2::from_shape_vec((m, k).f(), a.t().iter().copied().collect()).unwrap();
            let b_t = Array2::from_shape_vec((k, n).f(), b.t().iter().copied().collect()).unwrap();
            for (aa, bb) in [(&a, &b), (&a_t, &b), (&a, &b_t), (&a_t, &b_t)] {
                let mut c = Array2::from_elem((m, n), f32::NAN);
                matmul_into(aa.view(), bb.view(), c.view_mut(), false);
                for (x, y) in c.iter().zip(&expect) {
                    assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{m}x{k}x{n}: {x} vs {y}");
                }
                // Accumulating adds onto what is there.
                let mut acc = Array2::from_elem((m, n), 1.0f32);
                matmul_into(aa.view(), bb.view(), acc.view_mut(), true);
                for (x, y) in acc.iter().zip(&c) {
                    assert!((x - (y + 1.0)).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y} + 1");
                }
            }
        }
    }

    #[test]
    #[ignore = "slow in a debug build (about 10 s); .ci/run runs it with --ignored"]
    fn any_thread_count_gives_the_same_bits() {
        // W's products (fc1 forward and weight gradient, an Eval forward), in the layouts the
        // layers use, on values whose sums round differently in another order; and a deep one
        // whose inner dimension is cut into runs.
        let shapes = [
            (100, 784, 128),
            (128, 100, 784),
            (1000, 784, 128),
            (3000, 70, 10),
            (40, 1500, 70),
        ];
        for &(m, k, n) in &shapes {
            let a = filled((m, k), 3).mapv(f32::sin);
            let b = filled((k, n), 4).mapv(f32::cos);
            let a_t = Array2::from_shape_vec((m, k).f(), a.t().iter().copied().collect()).unwrap();
            let b_t = Array2::from_shape_vec((k, n).f(), b.t().iter().copied().collect()).unwrap();
            for (aa, bb) in [(&a, &b), (&a_t, &b), (&a, &b_t)] {
                let mut one = Array2::zeros((m, n));
                split_product(aa.view(), bb.view(), one.view_mut(), false, 1);
                for parts in 2..=5 {
                    let mut many = Array2::zeros((m, n));
                    split_product(aa.view(), bb.view(), many.view_mut(), false, parts);
                    assert!(
                        one == many,
                        "{m}x{k}x{n} {:?} {:?} in {parts} parts",
                        aa.strides(),
                        bb.strides()
                    );
                }
            }
        }
    }

    #[test]
    fn empty_inner_dimension_gives_zeros_or_keeps_c() {
        let a = Array2::<f32>::zeros((2, 0));
        let b = Array2::<f32>::zeros((0, 3));
        let mut c = Array2::from_elem((2, 3), 5.0);
        matmul_into(a.view(), b.view(), c.view_mut(), true);
        assert!(c.iter().all(|&v| v == 5.0));
        matmul_into(a.view(), b.view(), c.view_mut(), false);
        assert!(c.iter().all(|&v| v == 0.0));
    }

    #[test]
    #[should_panic(expected = "cannot multiply [2, 3] by [4, 5]")]
    fn mismatched_shapes_panic() {
        let mut c = Array2::zeros((2, 5));
        matmul_into(
            Array2::zeros((2, 3)).view(),
            Array2::zeros((4, 5)).view(),
            c.view_mut(),
            false,
        );
    }

    #[test]
    fn vectorized_runs_the_closure() {
        let v: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let s = vectorized(|| v.iter().map(|x| x / 3.0).collect::<Vec<_>>());
        assert_eq!(s, v.iter().map(|x| x / 3.0).collect::<Vec<_>>());
    }
}
