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
use crate::linalg::{matmul_into_serial, vectorized};
use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};

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

/// `x` (`[images, in, H, W]`) into `staged`, zero-padded (`padding` before, and after up to
/// whole tiles), channels interleaved.
fn stage(s: &Shapes, x: &[f32], staged: &mut [f32]) {
    let size = s.staged();
    let (h, w) = (s.input.h, s.input.w);
    staged.fill(0.0);
    for (plane, src) in x.chunks_exact(h * w).enumerate() {
        let (m, c) = (plane / s.channels, plane % s.channels);
        let first = (m * lanes(s.channels) + c / LANES * LANES) * size.h * size.w;
        let dst = &mut staged[first..][..LANES * size.h * size.w];
        // Rows and columns past the staged image are outside every tile (padding wider than the
        // kernel reaches).
        for (r, row) in src
            .chunks_exact(w)
            .enumerate()
            .take(size.h.saturating_sub(s.padding.h))
        {
            let at = (r + s.padding.h) * size.w + s.padding.w;
            let n = w.min(size.w.saturating_sub(s.padding.w));
            for (i, &v) in row[..n].iter().enumerate() {
                dst[(at + i) * LANES + c % LANES] = v;
            }
        }
    }
}

/// `dx` (the input gradient, `[images, in, H, W]`) from its staged form.
fn crop_inputs(s: &Shapes, staged: &[f32], dx: &mut [f32]) {
    let size = s.staged();
    let (h, w) = (s.input.h, s.input.w);
    for (plane, dst) in dx.chunks_exact_mut(h * w).enumerate() {
        let (m, c) = (plane / s.channels, plane % s.channels);
        let first = (m * lanes(s.channels) + c / LANES * LANES) * size.h * size.w;
        let src = &staged[first..][..LANES * size.h * size.w];
        for (r, row) in dst.chunks_exact_mut(w).enumerate() {
            let y = r + s.padding.h;
            for (i, d) in row.iter_mut().enumerate() {
                // Pixels outside the staged image fall in no tile: their gradient is zero.
                let x = s.padding.w + i;
                *d = if y < size.h && x < size.w {
                    src[(y * size.w + x) * LANES + c % LANES]
                } else {
                    0.0
                };
            }
        }
    }
}

/// `y` (`[images, out, OH, OW]`) from the outputs in whole tiles, plus the bias.
fn crop_outputs(s: &Shapes, blocks: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let b = s.blocks();
    let (oh, ow) = (s.output.h, s.output.w);
    for (plane, dst) in y.chunks_exact_mut(oh * ow).enumerate() {
        let (m, k) = (plane / s.out, plane % s.out);
        let first = (m * lanes(s.out) + k / LANES * LANES) * b.h * b.w;
        let src = &blocks[first..][..LANES * b.h * b.w];
        let add = bias.map_or(0.0, |bias| bias[k]);
        for (r, row) in dst.chunks_exact_mut(ow).enumerate() {
            for (i, d) in row.iter_mut().enumerate() {
                *d = src[(r * b.w + i) * LANES + k % LANES] + add;
            }
        }
    }
}

/// The output gradient `g` (`[images, out, OH, OW]`) into whole tiles (zeros past the
/// outputs), channels interleaved; adds each channel's sum onto `bias_grad`.
fn pad_grads(s: &Shapes, g: &[f32], blocks: &mut [f32], bias_grad: &mut [f32]) {
    let b = s.blocks();
    let (oh, ow) = (s.output.h, s.output.w);
    blocks.fill(0.0);
    for (plane, src) in g.chunks_exact(oh * ow).enumerate() {
        let (m, k) = (plane / s.out, plane % s.out);
        let first = (m * lanes(s.out) + k / LANES * LANES) * b.h * b.w;
        let dst = &mut blocks[first..][..LANES * b.h * b.w];
        let mut sum = 0.0;
        for (r, row) in src.chunks_exact(ow).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                dst[(r * b.w + i) * LANES + k % LANES] = v;
            }
            sum += row.iter().sum::<f32>();
        }
        bias_grad[k] += sum;
    }
}

// The helpers below are loops over fixed-size arrays rather than `array::from_fn`, which the
// compiler left as out-of-line calls (a tenth of a training step).

#[inline(always)]
fn add(mut a: Lanes, b: Lanes) -> Lanes {
    for l in 0..LANES {
        a[l] += b[l];
    }
    a
}

#[inline(always)]
fn sub(mut a: Lanes, b: Lanes) -> Lanes {
    for l in 0..LANES {
        a[l] -= b[l];
    }
    a
}

#[inline(always)]
fn neg(mut a: Lanes) -> Lanes {
    for v in &mut a {
        *v = -*v;
    }
    a
}

/// The vector at the start of `s`.
#[inline(always)]
fn load(s: &[f32]) -> Lanes {
    let mut a = [0.0; LANES];
    a.copy_from_slice(&s[..LANES]);
    a
}

/// `Bᵀ d B` of one 4x4 tile, rows then columns: `Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]`.
#[inline(always)]
fn input_transform(d: [Lanes; 4]) -> [Lanes; 4] {
    [sub(d[0], d[2]), add(d[1], d[2]), sub(d[2], d[1]), sub(d[1], d[3])]
}

/// `B e Bᵀ`'s one-dimensional step (the transpose of [`input_transform`]).
#[inline(always)]
fn input_transform_back(e: [Lanes; 4]) -> [Lanes; 4] {
    [
        e[0],
        add(sub(e[1], e[2]), e[3]),
        add(sub(e[1], e[0]), e[2]),
        neg(e[3]),
    ]
}

/// `Aᵀ m` of one 4-vector: `Aᵀ = [1 1 1 0; 0 1 -1 -1]`.
#[inline(always)]
fn output_transform(m: [Lanes; 4]) -> [Lanes; 2] {
    [add(add(m[0], m[1]), m[2]), sub(sub(m[1], m[2]), m[3])]
}

/// `A g` of one 2-vector (the transpose of [`output_transform`]).
#[inline(always)]
fn output_transform_back(g: [Lanes; 2]) -> [Lanes; 4] {
    [g[0], add(g[0], g[1]), sub(g[0], g[1]), neg(g[1])]
}

/// Applies the one-dimensional `step` to the rows, then the columns, of a 4x4 or 2x2 tile of
/// vectors, `[rows][columns]`.
#[inline(always)]
fn both_axes<const I: usize, const O: usize>(
    tile: [[Lanes; I]; I],
    step: &impl Fn([Lanes; I]) -> [Lanes; O],
) -> [[Lanes; O]; O] {
    // Along the rows (each column's I values) first, then along the columns.
    let mut cols = [[[0.0; LANES]; O]; I];
    for j in 0..I {
        let mut column = [[0.0; LANES]; I];
        for i in 0..I {
            column[i] = tile[i][j];
        }
        cols[j] = step(column);
    }
    let mut out = [[[0.0; LANES]; O]; O];
    for p in 0..O {
        let mut row = [[0.0; LANES]; I];
        for j in 0..I {
            row[j] = cols[j][p];
        }
        out[p] = step(row);
    }
    out
}

/// An image-like buffer of a chunk: `[images, channels / 8, size.h, size.w, 8]`.
#[derive(Clone, Copy)]
struct Planes {
    channels: usize,
    size: Size2,
}

impl Planes {
    /// Index of the top-left pixel of tile `(ty, tx)` of `image`, channel block `cb`.
    #[inline(always)]
    fn tile(&self, image: usize, cb: usize, ty: usize, tx: usize) -> usize {
        let plane = self.size.h * self.size.w * LANES;
        (image * lanes(self.channels) / LANES + cb) * plane + (2 * ty * self.size.w + 2 * tx) * LANES
    }

    /// Offset of pixel `(i, j)` of a tile from its top-left pixel.
    #[inline(always)]
    fn pixel(&self, i: usize, j: usize) -> usize {
        (i * self.size.w + j) * LANES
    }
}

/// Calls `f(t, at)` for every tile `t` of `images` images and block of 8 of `planes`' channels,
/// with `at` the tile's top-left pixel in `planes` and in the `[16, tiles, channels]` matrix
/// (position 0).
#[inline(always)]
fn for_each_tile(s: &Shapes, images: usize, planes: Planes, mut f: impl FnMut(usize, usize)) {
    let row = lanes(planes.channels);
    let mut t = 0;
    for m in 0..images {
        for ty in 0..s.tiles.h {
            for tx in 0..s.tiles.w {
                for cb in 0..row / LANES {
                    f(planes.tile(m, cb, ty, tx), t * row + cb * LANES);
                }
                t += 1;
            }
        }
    }
}

/// For every tile and 8 channels: `step` along both axes of its `I x I` pixels of `planes`, into
/// the 16 positions of `matrix` (`[16, tiles, channels]`).
#[inline(always)]
fn planes_to_matrix<const I: usize>(
    s: &Shapes,
    images: usize,
    (planes, src): (Planes, &[f32]),
    matrix: &mut [f32],
    step: impl Fn([Lanes; I]) -> [Lanes; 4],
) {
    let position = s.tiles_of(images) * lanes(planes.channels);
    vectorized(
        #[inline(always)]
        || {
            for_each_tile(
                s,
                images,
                planes,
                #[inline(always)]
                |at, to| {
                    let mut tile = [[[0.0; LANES]; I]; I];
                    for (i, tile) in tile.iter_mut().enumerate() {
                        for (j, tile) in tile.iter_mut().enumerate() {
                            *tile = load(&src[at + planes.pixel(i, j)..]);
                        }
                    }
                    for (xi, lanes) in both_axes(tile, &step).iter().flatten().enumerate() {
                        matrix[xi * position + to..][..LANES].copy_from_slice(lanes);
                    }
                },
            );
        },
    );
}

/// For every tile and 8 channels: `step` along both axes of its 16 positions of `matrix`, into
/// its `O x O` pixels of `planes` (added onto them if `add`, else written).
#[inline(always)]
fn matrix_to_planes<const O: usize>(
    s: &Shapes,
    images: usize,
    matrix: &[f32],
    (planes, dst): (Planes, &mut [f32]),
    add: bool,
    step: impl Fn([Lanes; 4]) -> [Lanes; O],
) {
    let position = s.tiles_of(images) * lanes(planes.channels);
    vectorized(
        #[inline(always)]
        || {
            for_each_tile(
                s,
                images,
                planes,
                #[inline(always)]
                |at, from| {
                    let mut tile = [[[0.0; LANES]; 4]; 4];
                    for (xi, tile) in tile.iter_mut().flatten().enumerate() {
                        *tile = load(&matrix[xi * position + from..]);
                    }
                    for (i, row) in both_axes(tile, &step).iter().enumerate() {
                        for (j, values) in row.iter().enumerate() {
                            let dst = &mut dst[at + planes.pixel(i, j)..][..LANES];
                            for (d, &v) in dst.iter_mut().zip(values) {
                                *d = if add { *d + v } else { v };
                            }
                        }
                    }
                },
            );
        },
    );
}

impl Shapes {
    /// The staged images' layout.
    fn staged_planes(&self) -> Planes {
        Planes {
            channels: self.channels,
            size: self.staged(),
        }
    }

    /// The outputs' layout in whole tiles.
    fn block_planes(&self) -> Planes {
        Planes {
            channels: self.out,
            size: self.blocks(),
        }
    }
}

/// `V = Bᵀ d B` of every tile and input channel, `[16, tiles, in]`.
fn transform_inputs(s: &Shapes, images: usize, staged: &[f32], v: &mut [f32]) {
    planes_to_matrix(s, images, (s.staged_planes(), staged), v, input_transform);
}

/// `B dV Bᵀ` of every tile, added up over `staged` (zeroed first): the input gradient.
fn untransform_inputs(s: &Shapes, images: usize, dv: &[f32], staged: &mut [f32]) {
    staged.fill(0.0);
    matrix_to_planes(
        s,
        images,
        dv,
        (s.staged_planes(), staged),
        true,
        input_transform_back,
    );
}

/// `Y = Aᵀ M A` of every tile and output channel, into whole tiles.
fn transform_outputs(s: &Shapes, images: usize, m: &[f32], blocks: &mut [f32]) {
    matrix_to_planes(s, images, m, (s.block_planes(), blocks), false, output_transform);
}

/// `dM = A dY Aᵀ` of every tile and output channel, `[16, tiles, out]`.
fn transform_grads(s: &Shapes, images: usize, blocks: &[f32], dm: &mut [f32]) {
    planes_to_matrix(s, images, (s.block_planes(), blocks), dm, output_transform_back);
}

/// `U = G g Gᵀ` of every kernel (`weight` is `[out, in, 3, 3]`), `[16, in, out]`:
/// `G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]`.
fn transform_kernels(weight: &[f32], out: usize, channels: usize, u: &mut Vec<f32>) {
    u.resize(XI * out * channels, 0.0);
    let step = |g: [f32; 3]| [g[0], (g[0] + g[1] + g[2]) * 0.5, (g[0] - g[1] + g[2]) * 0.5, g[2]];
    for (kc, g) in weight.chunks_exact(9).enumerate() {
        let cols: [[f32; 4]; 3] = std::array::from_fn(|j| step([g[j], g[3 + j], g[6 + j]]));
        for p in 0..4 {
            let row = step([cols[0][p], cols[1][p], cols[2][p]]);
            for (q, &value) in row.iter().enumerate() {
                u[(4 * p + q) * out * channels + kc % channels * out + kc / channels] = value;
            }
        }
    }
}

/// The weight gradient `Gᵀ dU G` of every kernel, from `du` (`[16, in, out]`), into
/// `weight_grad` (`[out, in, 3, 3]`).
fn untransform_kernels(du: &[f32], out: usize, channels: usize, weight_grad: &mut [f32]) {
    let step = |e: [f32; 4]| {
        [
            e[0] + (e[1] + e[2]) * 0.5,
            (e[1] - e[2]) * 0.5,
            (e[1] + e[2]) * 0.5 + e[3],
        ]
    };
    for (kc, dw) in weight_grad.chunks_exact_mut(9).enumerate() {
        let at = |p: usize, q: usize| du[(4 * p + q) * out * channels + kc % channels * out + kc / channels];
        let cols: [[f32; 3]; 4] = std::array::from_fn(|q| step(std::array::from_fn(|p| at(p, q))));
        for a in 0..3 {
            let row = step(std::array::from_fn(|q| cols[q][a]));
            dw[3 * a..3 * a + 3].copy_from_slice(&row);
        }
    }
}
