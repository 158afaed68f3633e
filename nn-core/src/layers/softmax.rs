//! Softmax over one axis as a layer (PyTorch's `nn.Softmax(dim)`).

use super::par::{self, PARTS};
use crate::layer::{contiguous, layer_panic, Layer, Mode, Saved};
use crate::linalg::vectorized;
use crate::tensor::Tensor;

/// `y = e^x / sum(e^x)` along axis `dim` of an input of any rank (PyTorch's `nn.Softmax(dim)`;
/// a negative `dim` counts from the end, so `-1` is the last axis). Each lane is shifted by its
/// maximum first, so large inputs give no overflow.
///
/// For training a classifier, feed the logits to
/// [`SoftmaxCrossEntropy`](crate::loss::SoftmaxCrossEntropy) instead, which is cheaper and
/// stabler; this layer is for probabilities inside a network (attention weights, gates).
///
/// ```
/// use nn_core::{layers::Softmax, Layer, Mode, Tensor};
/// let mut softmax = Softmax::new(1);
/// let y = softmax.forward(Tensor::zeros(vec![2, 4, 3, 3]), Mode::Eval);
/// assert!(y.iter().all(|&p| p == 0.25)); // four channels, equal scores
/// ```
#[derive(Clone, Debug)]
pub struct Softmax {
    dim: isize,
    /// The output of the last Train forward: `dx = y * (g - sum(g * y))` along the axis.
    output: Saved<f32>,
    /// Per-part scratch, one value per lane of a block (the maxima and sums in forward, the dot
    /// products in backward), kept from step to step.
    scratch: Vec<Vec<f32>>,
}

impl Softmax {
    /// A softmax over axis `dim` (negative: counted from the end).
    pub fn new(dim: isize) -> Self {
        Softmax {
            dim,
            output: Saved::new(),
            scratch: vec![Vec::new(); PARTS],
        }
    }

    /// The axis, as given.
    pub fn dim(&self) -> isize {
        self.dim
    }
}

/// `(len, inner)`: an input of `shape` seen as blocks of `len` rows of `inner` lanes, the
/// softmax over axis `dim` running down each lane. Panics, naming the layer path, if `shape`
/// has no such axis.
fn blocks(dim: isize, shape: &[usize]) -> (usize, usize) {
    let rank = shape.len() as isize;
    let axis = if dim < 0 { dim + rank } else { dim };
    if !(0..rank).contains(&axis) {
        let needed = if dim < 0 { -dim } else { dim + 1 };
        layer_panic(format_args!(
            "expected an input of rank at least {needed} (softmax over dim {}), got shape {shape:?}",
            dim
        ));
    }
    let axis = axis as usize;
    (shape[axis], shape[axis + 1..].iter().product())
}

impl Layer for Softmax {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let (len, inner) = blocks(self.dim, x.shape());
        let mut x = contiguous(x);
        let xs = x.as_slice_mut().expect("standard layout");
        for_blocks(xs, &[], len * inner, &mut self.scratch, &|block, _, scratch| {
            softmax_block(block, len, inner, scratch)
        });
        if mode == Mode::Train {
            self.output.prepare(x.shape()).assign(&x);
        }
        x
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let mut grad = contiguous(grad);
        let y = self
            .output
            .take(grad.shape(), format_args!("Softmax(dim={})", self.dim));
        let (len, inner) = blocks(self.dim, y.shape());
        let ys = y.as_slice().expect("a stash is standard layout");
        let gs = grad.as_slice_mut().expect("standard layout");
        for_blocks(gs, ys, len * inner, &mut self.scratch, &|g, y, dot| {
            vectorized(
                #[inline(always)]
                || {
                    if inner == 1 {
                        let mut d = 0.0;
                        for (&g, &y) in g.iter().zip(y) {
                            d += g * y;
                        }
                        for (g, &y) in g.iter_mut().zip(y) {
                            *g = y * (*g - d);
                        }
                        return;
                    }
                    dot.clear();
                    dot.resize(inner, 0.0);
                    for (g, y) in g.chunks_exact(inner).zip(y.chunks_exact(inner)) {
                        for ((d, &g), &y) in dot.iter_mut().zip(g).zip(y) {
                            *d += g * y;
                        }
                    }
                    for (g, y) in g.chunks_exact_mut(inner).zip(y.chunks_exact(inner)) {
                        for ((g, &y), &d) in g.iter_mut().zip(y).zip(&*dot) {
                            *g = y * (*g - d);
                        }
                    }
                },
            )
        });
        grad
    }

    fn type_name(&self) -> String {
        format!("Softmax(dim={})", self.dim)
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// Softmax down each of the `inner` lanes of one `[len, inner]` block, in place, with
/// `scratch` for the lanes' maxima and sums.
fn softmax_block(block: &mut [f32], len: usize, inner: usize, scratch: &mut Vec<f32>) {
    debug_assert_eq!(block.len(), len * inner);
    if inner == 1 {
        // One contiguous lane (a softmax over the last axis): the same sums in the same order,
        // without the per-lane bookkeeping.
        let max = block.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0;
        for v in block.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        let r = 1.0 / sum;
        vectorized(
            #[inline(always)]
            || {
                for v in block.iter_mut() {
                    *v *= r;
                }
            },
        );
        return;
    }
    scratch.clear();
    scratch.resize(2 * inner, 0.0);
    let (max, sum) = scratch.split_at_mut(inner);
    vectorized(
        #[inline(always)]
        || {
            max.fill(f32::NEG_INFINITY);
            for row in block.chunks_exact(inner) {
                for (m, &v) in max.iter_mut().zip(row) {
                    *m = m.max(v);
                }
            }
        },
    );
    // Outside `vectorized`: a loop around calls of `exp` is slower vectorised (see
    // `ElementwiseFn::VECTORIZE`).
    for row in block.chunks_exact_mut(inner) {
        for ((v, &m), s) in row.iter_mut().zip(&*max).zip(sum.iter_mut()) {
            *v = (*v - m).exp();
            *s += *v;
        }
    }
    vectorized(
        #[inline(always)]
        || {
            for s in sum.iter_mut() {
                *s = 1.0 / *s;
            }
            for row in block.chunks_exact_mut(inner) {
                for (v, &r) in row.iter_mut().zip(&*sum) {
                    *v *= r;
                }
            }
        },
    );
}

/// One part of [`for_blocks`]: its runs of `a` and `b` and its scratch.
type Part<'a> = Option<(&'a mut [f32], &'a [f32], &'a mut Vec<f32>)>;

/// Calls `f(a_part, b_part, scratch)` on runs of whole blocks (`block` values each) of `a` and
/// of `b` (the same length as `a`, or empty), on nn's threads when they are long enough. Blocks
/// are independent, so the split changes no result.
fn for_blocks(
    a: &mut [f32],
    b: &[f32],
    block: usize,
    scratch: &mut [Vec<f32>],
    f: &(impl Fn(&mut [f32], &[f32], &mut Vec<f32>) + Sync),
) {
    let run = |a: &mut [f32], b: &[f32], scratch: &mut Vec<f32>| {
        let blocks = a.chunks_exact_mut(block.max(1));
        for (i, a) in blocks.enumerate() {
            let b = if b.is_empty() { b } else { &b[i * block..][..block] };
            f(a, b, scratch);
        }
    };
    if !par::worth_len(a.len()) {
        return run(a, b, &mut scratch[0]);
    }
    let mut parts: [Part<'_>; PARTS] = Default::default();
    let mut b_rest = b;
    for ((slot, a), scratch) in parts.iter_mut().zip(par::split(a, block)).zip(scratch) {
        let b_part;
        (b_part, b_rest) = b_rest.split_at(if b.is_empty() { 0 } else { a.len() });
        *slot = Some((a, b_part, scratch));
    }
    par::for_each(&mut parts, true, &|part: &mut Option<(
        &mut [f32],
        &[f32],
        &mut Vec<f32>,
    )>| {
        if let Some((a, b, scratch)) = part.take() {
            run(a, b, scratch)
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{forward_child, panic_message};
    use crate::layers::contract::{check_layer, check_threads, input};
    use ndarray::{Axis, IxDyn};

    /// Softmax along `axis` by its definition, in f64.
    fn reference(x: &Tensor, axis: usize) -> Tensor {
        let mut y = x.mapv(f64::from);
        for mut lane in y.lanes_mut(Axis(axis)) {
            let max = lane.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            lane.mapv_inplace(|v| (v - max).exp());
            let sum = lane.sum();
            lane.mapv_inplace(|v| v / sum);
        }
        y.mapv(|v| v as f32)
    }

    #[test]
    fn each_axis_matches_the_definition() {
        let x = input(&[2, 3, 4, 5]).mapv(|v| v * 3.0);
        for (dim, axis) in [(0, 0), (1, 1), (2, 2), (3, 3), (-1, 3), (-3, 1), (-4, 0)] {
            let y = Softmax::new(dim).forward(x.clone(), Mode::Eval);
            crate::layers::assert_close(&y, &reference(&x, axis), 1e-6);
        }
    }

    /// A softmax over the last axis (one contiguous lane per block) gives the bits of the same
    /// softmax over a middle axis of the transposed data, forward and backward.
    #[test]
    fn contiguous_lanes_give_the_bits_of_strided_ones() {
        let x = input(&[3, 7]).mapv(|v| v * 3.0);
        let g = input(&[3, 7]).mapv(|v| 0.5 - v);
        let mut last = Softmax::new(1);
        let (y, dx) = (last.forward(x.clone(), Mode::Train), last.backward(g.clone()));
        let mut middle = Softmax::new(0);
        let t = |a: &Tensor| a.t().as_standard_layout().into_owned();
        let (yt, dxt) = (middle.forward(t(&x), Mode::Train), middle.backward(t(&g)));
        assert_eq!(t(&yt), y);
        assert_eq!(t(&dxt), dx);
    }

    #[test]
    fn large_scores_do_not_overflow() {
        let x = Tensor::from_shape_vec(vec![1, 3], vec![1000.0, 1000.0, -1000.0]).unwrap();
        let y = Softmax::new(-1).forward(x, Mode::Eval);
        assert_eq!(y.as_slice().unwrap(), &[0.5, 0.5, 0.0]);
    }

    #[test]
    fn keeps_the_layer_contract_on_every_axis() {
        for (dim, shape) in [
            (1, &[3, 5][..]),
            (-1, &[2, 3, 4]),
            (0, &[3, 2, 2]),
            (1, &[2, 3, 2, 2]),
            (-2, &[2, 2, 3, 2]),
        ] {
            assert_eq!(check_layer(&mut Softmax::new(dim), shape), shape);
        }
    }

    #[test]
    fn a_missing_axis_names_the_layer_and_the_shape() {
        let msg = panic_message(|| {
            forward_child(
                "head.softmax",
                &mut Softmax::new(2),
                Tensor::zeros(IxDyn(&[4, 10])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "head.softmax: expected an input of rank at least 3 (softmax over dim 2), got shape [4, 10]"
        );
        let msg = panic_message(|| {
            forward_child(
                "head.softmax",
                &mut Softmax::new(-3),
                Tensor::zeros(IxDyn(&[4, 10])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "head.softmax: expected an input of rank at least 3 (softmax over dim -3), got shape [4, 10]"
        );
    }

    #[test]
    fn a_large_batch_split_over_threads_gives_the_bits_of_one_thread() {
        check_threads(&mut Softmax::new(1), &[64, 8, 10, 10]);
    }
}
