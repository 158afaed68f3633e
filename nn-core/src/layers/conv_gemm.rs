//! One part of a batch's convolution through patch matrices: tiles of images unfolded by im2col
//! and multiplied by the weight, one product per group, for [`conv_tiles`](super::conv_tiles).
//!
//! A tile's patch matrices sit side by side, `[in * kh * kw, images * OH * OW]`, so one product
//! `weight [out, in * kh * kw]` times them gives the tile's outputs, and its backward is two more
//! products (weight gradient, patch gradient) and col2im. The patch matrices are recomputed in
//! backward rather than kept for the whole batch.

use super::im2col::{col2im, im2col, Patches};
use super::nchw::sum_map;
use crate::linalg::{matmul_into_serial, vectorized};
use ndarray::{s, ArrayView2, ArrayViewMut2};

/// The buffers of one part of a batch.
#[derive(Clone, Debug, Default)]
pub(super) struct Scratch {
    /// The patch matrices of one tile of images, side by side; in backward, then their gradient.
    pub col: Vec<f32>,
    /// The output (or output gradient) of one tile, `[out, images * OH * OW]`.
    pub out: Vec<f32>,
    /// One image (or its gradient) padded and split into phases, unless read in place.
    pub staged: Vec<f32>,
    /// This part's share of the weight and bias gradients.
    pub weight_grad: Vec<f32>,
    pub bias_grad: Vec<f32>,
}

/// What `Tiles::run` computes.
#[derive(Clone, Copy)]
pub(super) enum Pass {
    Forward,
    Backward { input_grad: bool },
    Transposed,
}

/// One part's share of a forward or backward: its images and buffers.
pub(super) struct Part<'a> {
    pub scratch: &'a mut Scratch,
    /// The part's input images (backward overwrites them with their gradient).
    pub x: &'a mut [f32],
    /// The part's outputs (forward) or output gradients (backward).
    pub y: &'a mut [f32],
}

/// What every part reads.
pub(super) struct Shared<'a> {
    pub patches: Patches,
    pub weight: ArrayView2<'a, f32>,
    pub bias: Option<&'a [f32]>,
    pub groups: usize,
    pub tile: usize,
}

impl Shared<'_> {
    /// Calls `f(first, n, part)` for each tile of `n` images from the part's image `first` on,
    /// once the tile's patch matrices are in `part.scratch.col`, side by side.
    fn tiles(&self, part: &mut Part<'_>, mut f: impl FnMut(usize, usize, &mut Part<'_>)) {
        let p = &self.patches;
        let x_len = p.channels * p.input.h * p.input.w;
        let images = part.x.len() / x_len;
        let mut first = 0;
        while first < images {
            let n = self.tile.min(images - first);
            let ld = n * p.cols();
            let s = &mut *part.scratch;
            s.col.resize(p.rows() * ld, 0.0);
            for k in 0..n {
                let x = &part.x[(first + k) * x_len..][..x_len];
                im2col(p, x, &mut s.col[k * p.cols()..], ld, &mut s.staged);
            }
            f(first, n, part);
            first += n;
        }
    }

    /// The group-`g` block of a `[rows, ld]` matrix stored in `data`.
    fn block<'b>(&self, data: &'b [f32], rows: usize, g: usize, ld: usize) -> ArrayView2<'b, f32> {
        ArrayView2::from_shape((rows, ld), &data[g * rows * ld..][..rows * ld]).expect("sized")
    }

    fn block_mut<'b>(&self, data: &'b mut [f32], rows: usize, g: usize, ld: usize) -> ArrayViewMut2<'b, f32> {
        ArrayViewMut2::from_shape((rows, ld), &mut data[g * rows * ld..][..rows * ld]).expect("sized")
    }

    pub fn forward(&self, part: &mut Part<'_>) {
        let p = self.patches;
        let (out_c, cols, pitch) = (self.weight.nrows(), p.cols(), p.pitch());
        let (ow, positions) = (p.output.w, p.output.h * p.output.w);
        let (og, kg) = (out_c / self.groups, p.rows() / self.groups);
        self.tiles(part, |first, n, part| {
            let ld = n * cols;
            let s = &mut *part.scratch;
            s.out.resize(out_c * ld, 0.0);
            for g in 0..self.groups {
                let w = self.weight.slice(s![g * og..(g + 1) * og, ..]);
                let col = self.block(&s.col, kg, g, ld);
                matmul_into_serial(w, col, self.block_mut(&mut s.out, og, g, ld), false);
            }
            // The tile's [out, images * cols] into NCHW, dropping the extra columns of each row
            // and adding the bias on the way.
            vectorized(
                #[inline(always)]
                || {
                    for k in 0..n {
                        let y = &mut part.y[(first + k) * out_c * positions..][..out_c * positions];
                        for (o, plane) in y.chunks_exact_mut(positions).enumerate() {
                            let src = &s.out[o * ld + k * cols..][..cols];
                            let b = self.bias.map_or(0.0, |b| b[o]);
                            for (row, src) in plane.chunks_exact_mut(ow).zip(src.chunks(pitch)) {
                                for (d, &v) in row.iter_mut().zip(src) {
                                    *d = v + b;
                                }
                            }
                        }
                    }
                },
            );
        });
    }

    /// Copies `n` images of output gradients (`[n, out, OH, OW]`, from the start of `y`) into
    /// `out` as `[out, n * cols]`, zero in the extra columns of each row, so that they add
    /// nothing to the products. Call it inside [`vectorized`].
    #[inline(always)]
    fn gather(&self, y: &[f32], n: usize, out: &mut [f32]) {
        let p = self.patches;
        let (out_c, cols, pitch) = (self.weight.nrows(), p.cols(), p.pitch());
        let (ow, positions) = (p.output.w, p.output.h * p.output.w);
        let ld = n * cols;
        for k in 0..n {
            let g = &y[k * out_c * positions..][..out_c * positions];
            for (o, plane) in g.chunks_exact(positions).enumerate() {
                let dst = &mut out[o * ld + k * cols..][..cols];
                for (d, row) in dst.chunks_mut(pitch).zip(plane.chunks_exact(ow)) {
                    d[..ow].copy_from_slice(row);
                    d[ow..].fill(0.0);
                }
            }
        }
    }

    /// `x = W^T y` per group, folded back onto the images by col2im, plus the bias per input
    /// channel, tile by tile: the transposed convolution. No patch matrix of `x` is needed.
    pub fn transposed(&self, part: &mut Part<'_>) {
        let p = self.patches;
        let (out_c, cols) = (self.weight.nrows(), p.cols());
        let positions = p.output.h * p.output.w;
        let (og, kg) = (out_c / self.groups, p.rows() / self.groups);
        let (plane, x_len) = (p.input.h * p.input.w, p.channels * p.input.h * p.input.w);
        let images = part.x.len() / x_len.max(1);
        let mut first = 0;
        while first < images {
            let n = self.tile.min(images - first);
            let ld = n * cols;
            let s = &mut *part.scratch;
            s.out.resize(out_c * ld, 0.0);
            s.col.resize(p.rows() * ld, 0.0);
            vectorized(
                #[inline(always)]
                || self.gather(&part.y[first * out_c * positions..], n, &mut s.out),
            );
            for g in 0..self.groups {
                let w = self.weight.slice(s![g * og..(g + 1) * og, ..]);
                let y = self.block(&s.out, og, g, ld);
                matmul_into_serial(w.t(), y, self.block_mut(&mut s.col, kg, g, ld), false);
            }
            for k in 0..n {
                let x = &mut part.x[(first + k) * x_len..][..x_len];
                col2im(&p, &s.col[k * cols..], ld, x, &mut s.staged);
                if let Some(bias) = self.bias {
                    vectorized(
                        #[inline(always)]
                        || {
                            for (plane, &b) in x.chunks_exact_mut(plane).zip(bias) {
                                for v in plane {
                                    *v += b;
                                }
                            }
                        },
                    );
                }
            }
            first += n;
        }
    }

    pub fn backward(&self, part: &mut Part<'_>, input_grad: bool) {
        let p = self.patches;
        let (out_c, cols) = (self.weight.nrows(), p.cols());
        let positions = p.output.h * p.output.w;
        let (og, kg) = (out_c / self.groups, p.rows() / self.groups);
        let x_len = p.channels * p.input.h * p.input.w;
        let mut started = false;
        self.tiles(part, |first, n, part| {
            let ld = n * cols;
            let s = &mut *part.scratch;
            s.out.resize(out_c * ld, 0.0);
            s.weight_grad.resize(out_c * kg, 0.0);
            s.bias_grad.resize(out_c, 0.0);
            if !started {
                s.bias_grad.fill(0.0);
            }
            let bias_grad = &mut s.bias_grad;
            let out = &mut s.out;
            vectorized(
                #[inline(always)]
                || {
                    self.gather(&part.y[first * out_c * positions..], n, out);
                    for (o, db) in bias_grad.iter_mut().enumerate() {
                        *db += sum_map(&out[o * ld..][..ld], |v| v);
                    }
                },
            );
            for g in 0..self.groups {
                let grad = self.block(&s.out, og, g, ld);
                let col = self.block(&s.col, kg, g, ld);
                let dw = self.block_mut(&mut s.weight_grad, og, g, kg);
                matmul_into_serial(grad, col.t(), dw, started);
            }
            started = true;
            if input_grad {
                for g in 0..self.groups {
                    let w = self.weight.slice(s![g * og..(g + 1) * og, ..]);
                    let grad = self.block(&s.out, og, g, ld);
                    matmul_into_serial(w.t(), grad, self.block_mut(&mut s.col, kg, g, ld), false);
                }
                for k in 0..n {
                    let dx = &mut part.x[(first + k) * x_len..][..x_len];
                    col2im(&p, &s.col[k * cols..], ld, dx, &mut s.staged);
                }
            }
        });
    }
}
