//! Convolutions of one group and a stride up to [`MAX_STRIDE`], computed straight from the
//! padded images, without a patch matrix.
//!
//! A tile of images is staged padded, split into stride phases, channel by channel (see
//! [`conv_staging`](super::conv_staging)). Output `(oy, ox)` of image `m` sits at position `q`
//! of a *wide* row, and tap `(c, i, j)` of every output reads the staged value at `q` plus one
//! fixed offset, so the whole tile's convolution is `out[o][q] = sum over taps t of w[o][t] *
//! staged[off[t] + q]`: a matrix product whose right-hand matrix is never written out. im2col
//! copies every input value once per tap (nine times for a 3x3 kernel), and with 16 to 64 output
//! channels that copy costs as much as the arithmetic; here the kernels read the staged image in
//! place, keeping a block of outputs in vector registers.
//!
//! Positions of the wide row that are no output (the padding columns and rows) are computed and
//! dropped on the way out. The backward is two more such sums. The weight gradient correlates
//! the output gradient (zero wherever no output is) with the staged input. The input gradient
//! is the forward's kernel run once per stride phase on the output gradient (see
//! [`conv_phases`](super::conv_phases)).

use super::conv_kernels::{chunk_len, pack, Correlate, Outputs, WeightGrad, GRAD_BLOCK};
use super::conv_phases::{grad_phases, pack_phase_kernels, phase_taps, Axis, InputGrad};
use super::conv_staging::{phases_read, place, Placement, Staging, MAX_STRIDE};
use super::conv_tiles::{sum_shares, Grads, Weights};
use super::im2col::Patches;
use super::nchw::{sum_map, Size2};
use super::par::{self, PARTS};
use crate::linalg::vectorized;
use pulp::Arch;

/// Floats of staged input and output gradient one tile may hold (1 MiB): the tile stays in the
/// L2 cache of the Intel Xeon this was tuned on while every block of channels reads it. The AMD
/// EPYC's L2 is 512 KiB, yet there tiles of 512 KiB were no faster (R's strided 3x3 backward took
/// 0.96-1.06x the time) and of 256 KiB slower (1.16-1.21x), measured on 2026-12-06.
const TILE_FLOATS: usize = 1 << 18;

/// Whether the direct forward pays on this CPU where it can run. Without AVX-512 (the kernels
/// then work on 8 lanes, not 16) it lost to im2col + gemm on the small images whose backward
/// already goes through im2col, on an AMD EPYC with AVX2 (family 25 model 1): C's second layer
/// (13x13 images) took 0.61-0.66x the time with im2col, R's last block (7x7) 0.73x. A 1x1 kernel
/// keeps the direct forward, which won there (0.78-0.82x of im2col's time).
pub(super) fn forward_pays(p: &Patches, groups: usize) -> bool {
    let one_by_one = p.window.kernel.h * p.window.kernel.w == 1;
    wide_vectors() || computes_backward(p, groups) || one_by_one
}

/// Whether the CPU has 16-lane vectors (AVX-512), which the direct kernels were tuned on.
pub(super) fn wide_vectors() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        true
    }
}

/// Whether the direct kernels can compute this convolution's forward: one group and a stride up
/// to [`MAX_STRIDE`].
pub(super) fn computes_forward(p: &Patches, groups: usize) -> bool {
    let stride = p.window.stride;
    groups == 1 && stride.h.max(stride.w) <= MAX_STRIDE
}

/// Whether they compute its backward too: only where the taps read every stride phase, and a
/// phase of the padded image has at most 4/3 as many positions as the output.
/// - Where a phase is never read (a strided 1x1 kernel, or dilation 2 with stride 2), its
///   pixels' gradient is zero and the input gradient's strided writes cost more than
///   im2col's scatter: R's 1x1 projections ran 1.05 to 1.2 times slower.
/// - The backward's sums run over every position of the phase planes (twice, for the weight
///   and the input gradient); on 7x7 images padded to 9x9 (R's last block) and 13x13 images to
///   11x11 outputs (C's second layer) that waste made them slower than im2col's products,
///   which waste only the padding columns.
pub(super) fn computes_backward(p: &Patches, groups: usize) -> bool {
    let (phase, w) = (p.phase(), &p.window);
    let every_phase =
        phases_read(w.kernel, w.dilation, w.stride).count_ones() as usize == w.stride.h * w.stride.w;
    computes_forward(p, groups) && every_phase && 3 * phase.h * phase.w <= 4 * p.output.h * p.output.w
}

/// The offsets of the forward's taps `(c, i, j)`, in the order of a PyTorch weight's `[in, kh,
/// kw]` axes, into `staging`.
fn tap_offsets(staging: &Staging, p: &Patches, offsets: &mut Vec<usize>) {
    let w = &p.window;
    offsets.clear();
    for c in 0..p.channels {
        for i in 0..w.kernel.h {
            for j in 0..w.kernel.w {
                offsets.push(staging.offset(c, i * w.dilation.h, j * w.dilation.w));
            }
        }
    }
}

/// The per-part buffers, kept from step to step so that a steady step allocates nothing.
#[derive(Clone, Debug, Default)]
struct Buffers {
    /// The tile's input images (or output gradients, for the input gradient), staged.
    staged: Vec<f32>,
    /// The output gradient in the input's wide layout, for the weight gradient.
    grad: Vec<f32>,
    /// One chunk of a forward's (or the input gradient's) sums.
    chunk: Vec<f32>,
    offsets: Vec<usize>,
    weight_grad: Vec<f32>,
    bias_grad: Vec<f32>,
}

/// The direct kernels' buffers of one layer.
#[derive(Clone, Debug, Default)]
pub(super) struct Direct {
    parts: Vec<Buffers>,
    /// The weight in forward blocks, `[out / OUT_BLOCK, taps, OUT_BLOCK]`.
    packed: Vec<f32>,
    /// The input gradient's kernel of each phase (its taps' weights, transposed), packed.
    phase_kernels: Vec<Vec<f32>>,
    /// One phase's kernel before packing, `[in, taps]`.
    gathered: Vec<f32>,
}

/// One pass's shapes: the patches of the layer, and how many images a tile holds.
#[derive(Clone, Copy)]
struct Shapes {
    p: Patches,
    out_channels: usize,
    tile: usize,
    input_grad: InputGrad,
}

impl Shapes {
    /// Tiles of `fixed` images, or as many as fit [`TILE_FLOATS`], at most `n`.
    fn new(p: &Patches, out_channels: usize, n: usize, fixed: Option<usize>) -> Self {
        let per_image = (p.channels + out_channels) * p.padded().h * p.padded().w;
        let tile = fixed.unwrap_or(TILE_FLOATS / per_image.max(1)).min(n).max(1);
        Shapes {
            p: *p,
            out_channels,
            tile,
            input_grad: InputGrad::new(p),
        }
    }

    /// The input staged for the forward and the weight gradient.
    fn input(&self, images: usize) -> Staging {
        let w = &self.p.window;
        Staging {
            channels: self.p.channels,
            images,
            size: self.p.input,
            before: w.padding,
            plane: self.p.phase(),
            stride: w.stride,
            phases: phases_read(w.kernel, w.dilation, w.stride),
        }
    }

    /// The output gradient staged for the input gradient (see [`InputGrad`]).
    fn grad(&self, images: usize) -> Staging {
        Staging {
            channels: self.out_channels,
            images,
            size: self.p.output,
            before: self.input_grad.before,
            plane: self.input_grad.plane,
            stride: Size2::from(1),
            phases: 1,
        }
    }

    /// Every buffer's largest length in a pass over tiles of at most `self.tile` images.
    fn lens(&self) -> [usize; 4] {
        let (win, out) = (&self.p.window, self.out_channels);
        let (input, grad) = (self.input(self.tile), self.grad(self.tile));
        [
            input.len().max(grad.len()),
            out.next_multiple_of(GRAD_BLOCK) * input.row(),
            (out * chunk_len(out)).max(self.p.channels * chunk_len(self.p.channels)),
            self.p.rows().max(out * win.kernel.h * win.kernel.w) + GRAD_BLOCK,
        ]
    }
}

impl Direct {
    /// Makes room in every part's buffers for a pass over `n` images (see `Tiles::reserve`).
    pub fn reserve(
        &mut self,
        p: &Patches,
        out_channels: usize,
        n: usize,
        fixed: Option<usize>,
    ) -> Result<(), Vec<usize>> {
        let shapes = Shapes::new(p, out_channels, n.div_ceil(PARTS), fixed);
        let lens = shapes.lens();
        if self.parts.len() < PARTS {
            self.parts.resize(PARTS, Buffers::default());
        }
        for b in self.parts.iter_mut().take(n.min(PARTS)) {
            for (buf, &len) in [&mut b.staged, &mut b.grad, &mut b.chunk].into_iter().zip(&lens) {
                buf.try_reserve_exact(len.saturating_sub(buf.len()))
                    .map_err(|_| vec![len])?;
            }
            let taps = lens[3];
            b.offsets
                .try_reserve_exact(taps.saturating_sub(b.offsets.len()))
                .map_err(|_| vec![taps])?;
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
        let shapes = Shapes::new(p, w.out_channels, n, fixed);
        pack(w.weight, w.out_channels, &mut self.packed);
        let packed = &self.packed[..];
        let parallel = par::worth_macs(n * p.cols() * w.weight.len());
        let x_len = p.channels * p.input.h * p.input.w;
        for_parts(&mut self.parts, parallel, x, x_len, y, |b, x, y| {
            for_tiles(x, x_len, y, shapes.tile, |x, y| {
                let input = shapes.input(x.len() / x_len);
                input.stage(x, &mut b.staged);
                tap_offsets(&input, p, &mut b.offsets);
                let (plane, pitch) = (input.plane_len(), input.pitch());
                let out = Outputs::whole(plane, pitch, w.out_channels, p.output, w.bias, y);
                correlate(b, input.row(), packed, out);
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
        grad: &mut [f32],
        out: Grads<'_>,
        fixed: Option<usize>,
    ) {
        let Grads {
            input: input_grad,
            weight: weight_grad,
            bias: bias_grad,
        } = out;
        let shapes = Shapes::new(p, w.out_channels, n, fixed);
        let (out_c, taps) = (w.out_channels, p.rows());
        if input_grad {
            pack_phase_kernels(p, w, &mut self.phase_kernels, &mut self.gathered);
        }
        let kernels = &self.phase_kernels[..];
        let x_len = p.channels * p.input.h * p.input.w;
        let g_len = out_c * p.output.h * p.output.w;
        let sums_bias = bias_grad.is_some();
        let parallel = par::worth_macs(n * p.cols() * w.weight.len());
        let count = for_parts(&mut self.parts, parallel, grad, g_len, x, |b, g, x| {
            b.weight_grad.clear();
            b.weight_grad.resize(out_c * taps, 0.0);
            b.bias_grad.clear();
            b.bias_grad.resize(out_c, 0.0);
            for_tiles(g, g_len, x, shapes.tile, |g, x| {
                let input = shapes.input(x.len() / x_len);
                input.stage(x, &mut b.staged);
                tap_offsets(&input, p, &mut b.offsets);
                b.offsets.resize(taps.next_multiple_of(GRAD_BLOCK), 0);
                let bias_grad = sums_bias.then_some(&mut b.bias_grad[..]);
                spread(g, &input, out_c, p.output, &mut b.grad, bias_grad);
                Arch::new().dispatch(WeightGrad {
                    grad: &b.grad,
                    src: &b.staged,
                    offsets: &b.offsets,
                    row: input.row(),
                    dw: &mut b.weight_grad,
                    taps,
                });
                if input_grad {
                    input_gradient(b, &shapes, kernels, g, x);
                }
            });
        });
        // The parts' shares, summed in part order: the same bits for any thread count.
        let shares = &self.parts[..count];
        sum_shares(weight_grad, shares.iter().map(|b| &b.weight_grad[..]));
        if let Some(bias_grad) = bias_grad {
            sum_shares(bias_grad, shares.iter().map(|b| &b.bias_grad[..]));
        }
    }
}

/// Overwrites `x` (one tile's input images) with the input gradient of `g` (the same images'
/// output gradient), phase by phase, through `kernels` (see [`pack_phase_kernels`]).
fn input_gradient(b: &mut Buffers, shapes: &Shapes, kernels: &[Vec<f32>], g: &[f32], x: &mut [f32]) {
    let p = &shapes.p;
    let (w, at) = (&p.window, &shapes.input_grad);
    let staging = shapes.grad(g.len() / (shapes.out_channels * p.output.h * p.output.w));
    staging.stage(g, &mut b.staged);
    for ((a, c), weight) in grad_phases(p).zip(kernels) {
        let rows = Axis::new(a, p.input.h, w.padding.h, w.stride.h);
        let cols = Axis::new(c, p.input.w, w.padding.w, w.stride.w);
        b.offsets.clear();
        phase_taps(p, shapes.out_channels, (a, c), |o, i, j| {
            let di = at.before.h + rows.first - i * w.dilation.h / w.stride.h;
            let dj = at.before.w + cols.first - j * w.dilation.w / w.stride.w;
            b.offsets.push(staging.offset(o, di, dj));
        });
        if rows.len == 0 || cols.len == 0 {
            continue;
        }
        let mut out = Outputs::whole(staging.plane_len(), staging.pitch(), p.channels, p.input, None, x);
        out.region = Size2 {
            h: rows.len,
            w: cols.len,
        };
        out.origin = Size2 {
            h: rows.origin,
            w: cols.origin,
        };
        out.step = w.stride;
        correlate(b, staging.row(), weight, out);
    }
}

/// One part's buffers and its images of the two arrays a pass reads and writes.
type Part<'a, B> = (&'a mut B, &'a [f32], &'a mut [f32]);

/// Calls `f(buffers, a, b)` on the parts of the batch, each with its images of `a` (`a_len`
/// values per image) and of `b`, on nn's threads if `parallel`; returns the number of parts.
pub(super) fn for_parts<B: Clone + Default + Send>(
    parts: &mut Vec<B>,
    parallel: bool,
    a: &[f32],
    a_len: usize,
    b: &mut [f32],
    f: impl Fn(&mut B, &[f32], &mut [f32]) + Sync,
) -> usize {
    if parts.len() < PARTS {
        parts.resize(PARTS, B::default());
    }
    let b_len = b.len() / (a.len() / a_len).max(1);
    let mut items: [Option<Part<'_, B>>; PARTS] = Default::default();
    let mut count = 0;
    let mut rest = a;
    for ((slot, buffers), b) in items.iter_mut().zip(parts).zip(par::split(b, b_len)) {
        if b.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(b.len() / b_len * a_len);
        *slot = Some((buffers, head, b));
        rest = tail;
        count += 1;
    }
    par::for_each(&mut items[..count], parallel, &|item| {
        let (buffers, a, b) = item.as_mut().expect("filled above");
        f(buffers, a, b);
    });
    count
}

/// `out = weight * staged` over the wide row's first `row` positions: the tile staged in
/// `b.staged`, read at `b.offsets` (one per column of `weight`, packed, see [`pack`]).
fn correlate(b: &mut Buffers, row: usize, weight: &[f32], out: Outputs<'_>) {
    b.chunk.resize(out.channels * chunk_len(out.channels), 0.0);
    Arch::new().dispatch(Correlate {
        weight,
        offsets: &b.offsets,
        src: &b.staged,
        chunk: &mut b.chunk,
        row,
        out,
    });
}

/// Calls `f` on tiles of at most `tile` images of `a` (`a_len` values per image) and the same
/// images of `b`.
pub(super) fn for_tiles(
    a: &[f32],
    a_len: usize,
    b: &mut [f32],
    tile: usize,
    mut f: impl FnMut(&[f32], &mut [f32]),
) {
    let b_len = b.len() / (a.len() / a_len).max(1);
    for (a, b) in a.chunks(tile * a_len).zip(b.chunks_mut(tile * b_len)) {
        f(a, b);
    }
}

/// The output gradient `g` (`[images, out, OH, OW]`) at its outputs' positions of the input's
/// wide row, zeros elsewhere (rows rounded up to a whole weight-gradient block), into `dst`;
/// adds each channel's sum onto `bias_grad` if given.
fn spread(
    g: &[f32],
    input: &Staging,
    out_c: usize,
    output: Size2,
    dst: &mut Vec<f32>,
    bias_grad: Option<&mut [f32]>,
) {
    let row = input.row();
    let positions = output.h * output.w;
    if let Some(bias_grad) = bias_grad {
        vectorized(
            #[inline(always)]
            || {
                for image in g.chunks_exact(out_c * positions) {
                    for (db, src) in bias_grad.iter_mut().zip(image.chunks_exact(positions)) {
                        *db += sum_map(src, |v| v);
                    }
                }
            },
        );
    }
    let at = Placement {
        channel_stride: row,
        plane: input.plane_len(),
        pitch: input.pitch(),
        first: 0,
    };
    place(
        g,
        out_c,
        output,
        at,
        out_c.next_multiple_of(GRAD_BLOCK) * row,
        dst,
    );
}
