//! 3x3 convolutions of stride 1 by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of outputs comes
//! from a 4x4 tile of the padded input with 16 multiplications per pair of channels instead of
//! 36.
//!
//! With `B`, `G` and `A` the small fixed matrices below, a tile `d` of one input channel becomes
//! `V = Bᵀ d B`, a kernel `g` becomes `U = G g Gᵀ` (both 4x4), and the outputs of the tile are
//! `Y = Aᵀ M A` with `M = sum over input channels of U ⊙ V`. Each of the 16 positions `ξ` of
//! `M` is one matrix product over channels, `M[ξ] (out x tiles) = U[ξ] (out x in) · V[ξ] (in x
//! tiles)`, which gemm computes. The transforms only add, subtract and halve, so they are exact
//! up to the rounding of those sums; F(2x2, 3x3) is the largest tile for which that holds well
//! in f32.
//!
//! The backward is the gradient of that computation, which (the transforms being linear) is the
//! convolution's gradient: `dM = A dY Aᵀ`, the weight gradient `G^T (sum over tiles of dM ·
//! Vᵀ) G` and the input gradient `B (U · dM) Bᵀ`, added tile by tile onto the padded input (the
//! tiles overlap by two pixels).
//!
//! The transforms work on 8 channels at a time, one per vector lane: the images are staged
//! with their channels interleaved in blocks of 8 (`[in / 8, h, w, 8]`), so that a tile's pixel
//! for 8 channels is one vector, and `V` and `M` hold their channels along rows (`[16, tiles,
//! channels]`).

use super::conv_direct::{for_parts, for_tiles};
use super::conv_tiles::{sum_shares, Grads, Weights};
use super::im2col::Patches;
use super::nchw::Size2;
use super::par;
use crate::linalg::matmul_into_serial;
use layout::{crop_inputs, crop_outputs, pad_grads, stage};
use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};
use transforms::{transform_grads, transform_inputs, transform_kernels, transform_outputs};
use transforms::{untransform_inputs, untransform_kernels};

mod layout;
mod transforms;

/// Channels transformed together, one per vector lane.
const LANES: usize = 8;
/// The 16 positions of a transformed tile.
const XI: usize = 16;
/// Floats of `V` and `M` one chunk of images may hold (512 KiB, the L2 cache of a core of the
/// AMD EPYC measured): the products read them from L2. On workload C's second layer, chunks of 2
/// images ran faster than of 4 in 4 of 5 alternating training runs and all 5 inferences.
const CHUNK_FLOATS: usize = 1 << 17;

type Lanes = [f32; LANES];

/// Whether Winograd's F(2x2, 3x3) can compute this convolution: one group, a 3x3 kernel,
/// stride 1, no dilation.
pub(super) fn computes(p: &Patches, groups: usize) -> bool {
    let w = &p.window;
    groups == 1 && w.kernel == Size2::from(3) && w.stride == Size2::from(1) && w.dilation == Size2::from(1)
}

/// Whether it pays over the other paths on this CPU: with at least 16 input channels (the
/// products over channels are then deep enough for gemm), and not on AVX-512 CPUs, where it has
/// not been measured against the direct kernels tuned there.
pub(super) fn pays(p: &Patches) -> bool {
    p.channels >= 16 && !super::conv_direct::wide_vectors()
}

/// One pass's shapes.
#[derive(Clone, Copy)]
struct Shapes {
    channels: usize,
    out: usize,
    input: Size2,
    padding: Size2,
    output: Size2,
    /// Tiles per image: rows and columns of 2x2 output blocks.
    tiles: Size2,
    /// Images per chunk.
    chunk: usize,
}

impl Shapes {
    fn new(p: &Patches, out: usize, n: usize, fixed: Option<usize>) -> Self {
        let tiles = Size2 {
            h: p.output.h.div_ceil(2),
            w: p.output.w.div_ceil(2),
        };
        let per_image = XI * (lanes(p.channels) + lanes(out)) * tiles.h * tiles.w;
        Shapes {
            channels: p.channels,
            out,
            input: p.input,
            padding: p.window.padding,
            output: p.output,
            tiles,
            chunk: fixed.unwrap_or(CHUNK_FLOATS / per_image.max(1)).min(n).max(1),
        }
    }

    /// The staged (padded) image: every tile's 4x4 pixels inside it.
    fn staged(&self) -> Size2 {
        Size2 {
            h: 2 * self.tiles.h + 2,
            w: 2 * self.tiles.w + 2,
        }
    }

    /// The outputs rounded up to whole tiles.
    fn blocks(&self) -> Size2 {
        Size2 {
            h: 2 * self.tiles.h,
            w: 2 * self.tiles.w,
        }
    }

    fn tiles_of(&self, images: usize) -> usize {
        images * self.tiles.h * self.tiles.w
    }

    /// Every buffer's length for `images`: staged, v, m, blocks.
    fn lens(&self, images: usize) -> [usize; 4] {
        let (s, b, t) = (self.staged(), self.blocks(), self.tiles_of(images));
        let (c, k) = (lanes(self.channels), lanes(self.out));
        [
            images * c * s.h * s.w,
            XI * t * c,
            XI * t * k,
            images * k * b.h * b.w,
        ]
    }
}

/// `channels` rounded up to whole vectors.
fn lanes(channels: usize) -> usize {
    channels.next_multiple_of(LANES)
}

/// The per-part buffers, kept from step to step so that a steady step allocates nothing.
#[derive(Clone, Debug, Default)]
struct Buffers {
    /// The chunk's images, padded to whole tiles, channels interleaved, `[images, in / 8,
    /// staged h, staged w, 8]`; in the backward, then the input gradient over them.
    staged: Vec<f32>,
    /// `V` (or the input gradient's `dM · Uᵀ`), `[16, tiles, in]`.
    v: Vec<f32>,
    /// `M` (or `dM`), `[16, tiles, out]`.
    m: Vec<f32>,
    /// The outputs (or output gradient) in whole tiles, `[images, out / 8, blocks h, blocks w,
    /// 8]`.
    blocks: Vec<f32>,
    /// This part's share of `sum over tiles of Vᵀ · dM`, `[16, in, out]`, and of the bias
    /// gradient.
    weight_grad: Vec<f32>,
    bias_grad: Vec<f32>,
}

impl Buffers {
    /// Sizes the buffers for a chunk of `images`, within what `reserve` made room for.
    fn prepare(&mut self, s: &Shapes, images: usize) {
        let [staged, v, m, blocks] = s.lens(images);
        self.staged.resize(staged, 0.0);
        self.v.resize(v, 0.0);
        self.m.resize(m, 0.0);
        self.blocks.resize(blocks, 0.0);
    }
}

/// The Winograd buffers of one layer.
#[derive(Clone, Debug, Default)]
pub(super) struct Winograd {
    parts: Vec<Buffers>,
    /// The transformed kernels `U`, `[16, in, out]`.
    u: Vec<f32>,
    /// The parts' weight gradients summed, `[16, in, out]`, before the transform back.
    du: Vec<f32>,
}

impl Winograd {
    /// Makes room in every part's buffers for a pass over `n` images (see `Tiles::reserve`).
    pub fn reserve(
        &mut self,
        p: &Patches,
        out: usize,
        n: usize,
        fixed: Option<usize>,
    ) -> Result<(), Vec<usize>> {
        let shapes = Shapes::new(p, out, n.div_ceil(par::PARTS), fixed);
        let lens = shapes.lens(shapes.chunk);
        if self.parts.len() < par::PARTS {
            self.parts.resize(par::PARTS, Buffers::default());
        }
        let weights = XI * out * p.channels;
        for b in self.parts.iter_mut().take(n.min(par::PARTS)) {
            let floats = [&mut b.staged, &mut b.v, &mut b.m, &mut b.blocks];
            let lens = lens.into_iter().chain([weights, out]);
            for (buf, len) in floats
                .into_iter()
                .chain([&mut b.weight_grad, &mut b.bias_grad])
                .zip(lens)
            {
                buf.try_reserve_exact(len.saturating_sub(buf.len()))
                    .map_err(|_| vec![len])?;
            }
        }
        for buf in [&mut self.u, &mut self.du] {
            buf.try_reserve_exact(weights.saturating_sub(buf.len()))
                .map_err(|_| vec![weights])?;
        }
        Ok(())
    }

    /// `y = conv(x)` for `n` images, as `Tiles::forward`.
    pub fn forward(
        &mut self,
        p: &Patches,
        w: &Weights<'_>,
        n: usize,
        x: &[f32],
        y: &mut [f32],
        fixed: Option<usize>,
    ) {
        let shapes = Shapes::new(p, w.out_channels, n.div_ceil(par::PARTS), fixed);
        let (c, k) = (shapes.channels, shapes.out);
        transform_kernels(w.weight, k, c, &mut self.u);
        let u = &self.u[..];
        let x_len = c * shapes.input.h * shapes.input.w;
        let parallel = par::worth_macs(n * p.cols() * w.weight.len());
        for_parts(&mut self.parts, parallel, x, x_len, y, |b, x, y| {
            for_tiles(x, x_len, y, shapes.chunk, |x, y| {
                let images = x.len() / x_len;
                let t = shapes.tiles_of(images);
                b.prepare(&shapes, images);
                stage(&shapes, x, &mut b.staged);
                transform_inputs(&shapes, images, &b.staged, &mut b.v);
                for xi in 0..XI {
                    let vi = rows(&b.v, xi, t, c);
                    let mi = rows_mut(&mut b.m, xi, t, k);
                    matmul_into_serial(vi, kernel(u, xi, c, k), mi, false);
                }
                transform_outputs(&shapes, images, &b.m, &mut b.blocks);
                crop_outputs(&shapes, &b.blocks, w.bias, y);
            });
        });
    }

    /// The gradients `out` asks for, as `Tiles::backward`.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &mut self,
        p: &Patches,
        w: &Weights<'_>,
        n: usize,
        x: &mut [f32],
        grad: &[f32],
        out: Grads<'_>,
        fixed: Option<usize>,
    ) {
        let shapes = Shapes::new(p, w.out_channels, n.div_ceil(par::PARTS), fixed);
        let (c, k) = (shapes.channels, shapes.out);
        if out.input {
            transform_kernels(w.weight, k, c, &mut self.u);
        }
        let (u, input_grad) = (&self.u[..], out.input);
        let x_len = c * shapes.input.h * shapes.input.w;
        let g_len = k * shapes.output.h * shapes.output.w;
        let parallel = par::worth_macs(n * p.cols() * w.weight.len());
        let count = for_parts(&mut self.parts, parallel, grad, g_len, x, |b, g, x| {
            b.weight_grad.clear();
            b.weight_grad.resize(XI * c * k, 0.0);
            b.bias_grad.clear();
            b.bias_grad.resize(k, 0.0);
            for_tiles(g, g_len, x, shapes.chunk, |g, x| {
                let images = x.len() / x_len;
                let t = shapes.tiles_of(images);
                b.prepare(&shapes, images);
                stage(&shapes, x, &mut b.staged);
                transform_inputs(&shapes, images, &b.staged, &mut b.v);
                pad_grads(&shapes, g, &mut b.blocks, &mut b.bias_grad);
                transform_grads(&shapes, images, &b.blocks, &mut b.m);
                for xi in 0..XI {
                    let vt = rows(&b.v, xi, t, c).reversed_axes();
                    let du = ArrayViewMut2::from_shape((c, k), &mut b.weight_grad[xi * c * k..][..c * k])
                        .expect("[in, out]");
                    matmul_into_serial(vt, rows(&b.m, xi, t, k), du, true);
                }
                if input_grad {
                    for xi in 0..XI {
                        let ut = kernel(u, xi, c, k).reversed_axes();
                        let dv = rows_mut(&mut b.v, xi, t, c);
                        matmul_into_serial(rows(&b.m, xi, t, k), ut, dv, false);
                    }
                    untransform_inputs(&shapes, images, &b.v, &mut b.staged);
                    crop_inputs(&shapes, &b.staged, x);
                }
            });
        });
        // The parts' shares, summed in part order: the same bits for any thread count.
        let shares = &self.parts[..count];
        self.du.resize(XI * c * k, 0.0);
        sum_shares(&mut self.du, shares.iter().map(|b| &b.weight_grad[..]));
        untransform_kernels(&self.du, k, c, out.weight);
        if let Some(bias_grad) = out.bias {
            sum_shares(bias_grad, shares.iter().map(|b| &b.bias_grad[..]));
        }
    }
}

/// `U[xi]`, `[in, out]`.
fn kernel(u: &[f32], xi: usize, c: usize, k: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((c, k), &u[xi * c * k..][..c * k]).expect("[in, out]")
}

/// Position `xi` of `[16, tiles, lanes(channels)]`, as a `[tiles, channels]` matrix.
fn rows(data: &[f32], xi: usize, t: usize, channels: usize) -> ArrayView2<'_, f32> {
    let row = lanes(channels);
    let shape = (t, channels).strides((row, 1));
    ArrayView2::from_shape(shape, &data[xi * t * row..][..t * row]).expect("[tiles, channels]")
}

fn rows_mut(data: &mut [f32], xi: usize, t: usize, channels: usize) -> ArrayViewMut2<'_, f32> {
    let row = lanes(channels);
    let shape = (t, channels).strides((row, 1));
    ArrayViewMut2::from_shape(shape, &mut data[xi * t * row..][..t * row]).expect("[tiles, channels]")
}
