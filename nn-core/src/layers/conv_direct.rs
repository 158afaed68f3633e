//! Stride-1 convolutions computed straight from the padded images, without a patch matrix.
//!
//! A tile of images is staged channel by channel, `[channels, images, Hp * Wp]` (each image
//! padded to `Hp x Wp`). Output `(oy, ox)` of image `m` sits at position
//! `q = m * Hp * Wp + oy * Wp + ox` of a *wide* row, and tap `(c, i, j)` of every output reads the staged value at `q`
//! plus one fixed offset, `c * images * Hp * Wp + i * Wp + j` (dilation scales `i` and `j`). So
//! the whole tile's convolution is `out[o][q] = sum over taps t of w[o][t] * staged[off[t] + q]`:
//! a matrix product whose right-hand matrix is never written out. im2col copies every input
//! value once per tap (nine times for a 3x3 kernel), and with 16 to 64 output channels that
//! copy costs as much as the arithmetic; here the kernels read the staged image in place,
//! keeping a block of outputs in vector registers.
//!
//! Positions of the wide row that are no output (the padding columns and rows) are computed and
//! dropped on the way out. The backward is two more such sums: the weight gradient correlates
//! the output gradient (zero wherever no output is) with the staged input, and the input
//! gradient is the forward of the output gradient, padded by `dilation * (k - 1) - padding`,
//! through the kernel flipped and transposed.

use super::conv_kernels::{chunk_len, pack, Correlate, Outputs, WeightGrad, GRAD_BLOCK, ROUND};
use super::conv_tiles::{sum_shares, Weights};
use super::im2col::Patches;
use super::nchw::{sum_map, Size2, Window};
use super::par::{self, PARTS};
use crate::linalg::vectorized;
use pulp::Arch;

/// Floats of staged input and output gradient one tile may hold (1 MiB): the tile stays in the
/// core's L2 cache while every block of channels reads it.
const TILE_FLOATS: usize = 1 << 18;

/// Whether the direct kernels compute this convolution's forward: stride 1, one group, and a
/// padding the input gradient can undo (at most `dilation * (k - 1)`; see [`computes_backward`]).
pub(super) fn computes_forward(p: &Patches, groups: usize) -> bool {
    let w = &p.window;
    w.stride == Size2::from(1)
        && groups == 1
        && w.padding.h <= w.dilation.h * (w.kernel.h - 1)
        && w.padding.w <= w.dilation.w * (w.kernel.w - 1)
}

/// Whether they compute its backward too: only where the padded image has at most 4/3 as many
/// positions as the output. The backward's sums run over every position of the padded image
/// (twice, for the weight and the input gradient); on 7x7 images padded to 9x9 (R's last block)
/// and 13x13 images to 11x11 outputs (C's second layer) that waste made them slower than
/// im2col's products, which waste only the padding columns.
pub(super) fn computes_backward(p: &Patches, groups: usize) -> bool {
    let padded = p.padded().h * p.padded().w;
    computes_forward(p, groups) && 3 * padded <= 4 * p.output.h * p.output.w
}

/// Images staged as `[channels, images, padded.h * padded.w]`.
#[derive(Clone, Copy, Debug)]
struct Staging {
    channels: usize,
    images: usize,
    /// Each image's height and width before padding.
    input: Size2,
    padding: Size2,
}

impl Staging {
    fn padded(&self) -> Size2 {
        Size2 {
            h: self.input.h + 2 * self.padding.h,
            w: self.input.w + 2 * self.padding.w,
        }
    }

    fn plane(&self) -> usize {
        self.padded().h * self.padded().w
    }

    /// Positions of a wide row: every image's plane, rounded up to [`ROUND`].
    fn row(&self) -> usize {
        (self.images * self.plane()).next_multiple_of(ROUND)
    }

    /// The staged length: the images plus the slack that the last taps of the rounded-up
    /// row read past them (zeros).
    fn len(&self, kernel: Size2, dilation: Size2) -> usize {
        let span = (kernel.h - 1) * dilation.h * self.padded().w + (kernel.w - 1) * dilation.w;
        self.channels * self.images * self.plane() + span + ROUND
    }

    /// The offset of tap `(c, i, j)`, in the order of a PyTorch weight's `[in, kh, kw]` axes.
    fn offsets(&self, kernel: Size2, dilation: Size2, out: &mut Vec<usize>) {
        out.clear();
        let (plane, pitch) = (self.images * self.plane(), self.padded().w);
        for c in 0..self.channels {
            for i in 0..kernel.h {
                for j in 0..kernel.w {
                    out.push(c * plane + i * dilation.h * pitch + j * dilation.w);
                }
            }
        }
    }

    /// Copies `x` (`[images, channels, h, w]`) into `dst`, padded (zeros elsewhere).
    fn stage(&self, x: &[f32], len: usize, dst: &mut Vec<f32>) {
        let (pitch, plane) = (self.padded().w, self.plane());
        let first = self.padding.h * pitch + self.padding.w;
        let at = Placement {
            channel_stride: self.images * plane,
            plane,
            pitch,
            first,
        };
        place(x, self.channels, self.input, at, len, dst);
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
    /// The flipped, transposed weight in forward blocks (the input gradient's kernel).
    flipped: Vec<f32>,
}

/// One forward's shapes: the patches of the layer, and how many images a tile holds.
#[derive(Clone, Copy)]
struct Shapes {
    p: Patches,
    out_channels: usize,
    tile: usize,
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
        }
    }

    fn input(&self, images: usize) -> Staging {
        Staging {
            channels: self.p.channels,
            images,
            input: self.p.input,
            padding: self.p.window.padding,
        }
    }

    /// The output gradient staged for the input gradient: padded so that the forward of it
    /// through the flipped kernel has the input's size.
    fn grad(&self, images: usize) -> Staging {
        let w = &self.p.window;
        Staging {
            channels: self.out_channels,
            images,
            input: self.p.output,
            padding: Size2 {
                h: w.dilation.h * (w.kernel.h - 1) - w.padding.h,
                w: w.dilation.w * (w.kernel.w - 1) - w.padding.w,
            },
        }
    }

    /// Every buffer's largest length in a pass over tiles of at most `self.tile` images.
    fn lens(&self) -> [usize; 4] {
        let (win, out) = (&self.p.window, self.out_channels);
        let (input, grad) = (self.input(self.tile), self.grad(self.tile));
        [
            input
                .len(win.kernel, win.dilation)
                .max(grad.len(win.kernel, win.dilation)),
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
                let out = (w.out_channels, p.output);
                convolve(b, &input, p.window, packed, out, w.bias, x, y);
            });
        });
    }

    /// The weight and bias gradients and (if `input_grad`) the input gradient, overwriting `x`,
    /// as `Tiles::backward`.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &mut self,
        p: &Patches,
        w: &Weights<'_>,
        n: usize,
        x: &mut [f32],
        grad: &mut [f32],
        input_grad: bool,
        weight_grad: &mut [f32],
        bias_grad: Option<&mut [f32]>,
        fixed: Option<usize>,
    ) {
        let shapes = Shapes::new(p, w.out_channels, n, fixed);
        let (out_c, taps) = (w.out_channels, p.rows());
        if input_grad {
            flip(w.weight, w.out_channels, p, &mut self.flipped);
            pack(&self.flipped, p.channels, &mut self.packed);
        }
        let flipped = &self.packed[..];
        let x_len = p.channels * p.input.h * p.input.w;
        let (kernel, dilation) = (p.window.kernel, p.window.dilation);
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
                input.stage(x, input.len(kernel, dilation), &mut b.staged);
                input.offsets(kernel, dilation, &mut b.offsets);
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
                    let staged = shapes.grad(input.images);
                    convolve(b, &staged, p.window, flipped, (p.channels, p.input), None, g, x);
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

/// One part's buffers and its images of the two arrays a pass reads and writes.
type Part<'a> = (&'a mut Buffers, &'a [f32], &'a mut [f32]);

/// Calls `f(buffers, a, b)` on the parts of the batch, each with its images of `a` (`a_len`
/// values per image) and of `b`, on nn's threads if `parallel`; returns the number of parts.
fn for_parts(
    parts: &mut Vec<Buffers>,
    parallel: bool,
    a: &[f32],
    a_len: usize,
    b: &mut [f32],
    f: impl Fn(&mut Buffers, &[f32], &mut [f32]) + Sync,
) -> usize {
    if parts.len() < PARTS {
        parts.resize(PARTS, Buffers::default());
    }
    let b_len = b.len() / (a.len() / a_len).max(1);
    let mut items: [Option<Part<'_>>; PARTS] = Default::default();
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

/// `y = conv(x) + bias` for one tile: `x` (`[images, channels, h, w]`) staged as `staging`,
/// correlated with `weight` (packed, see [`pack`]) over `window`'s taps (stride 1), its
/// `out = (channels, size)` per image written to `y`.
#[allow(clippy::too_many_arguments)]
fn convolve(
    b: &mut Buffers,
    staging: &Staging,
    window: Window,
    weight: &[f32],
    out: (usize, Size2),
    bias: Option<&[f32]>,
    x: &[f32],
    y: &mut [f32],
) {
    let (kernel, dilation) = (window.kernel, window.dilation);
    staging.stage(x, staging.len(kernel, dilation), &mut b.staged);
    staging.offsets(kernel, dilation, &mut b.offsets);
    b.chunk.resize(out.0 * chunk_len(out.0), 0.0);
    let padded = staging.padded();
    Arch::new().dispatch(Correlate {
        weight,
        offsets: &b.offsets,
        src: &b.staged,
        chunk: &mut b.chunk,
        row: staging.row(),
        out: Outputs {
            plane: padded.h * padded.w,
            pitch: padded.w,
            channels: out.0,
            output: out.1,
            bias,
            y,
        },
    });
}

/// Calls `f` on tiles of at most `tile` images of `a` (`a_len` values per image) and the same
/// images of `b`.
fn for_tiles(a: &[f32], a_len: usize, b: &mut [f32], tile: usize, mut f: impl FnMut(&[f32], &mut [f32])) {
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
    let (row, plane, pitch) = (input.row(), input.plane(), input.padded().w);
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
        plane,
        pitch,
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

/// Where [`place`] puts plane `(k, c)` (image, channel): from `c * channel_stride + k * plane +
/// first` on, its rows `pitch` apart.
#[derive(Clone, Copy)]
struct Placement {
    channel_stride: usize,
    plane: usize,
    pitch: usize,
    first: usize,
}

/// Overwrites `dst`, resized to `len`, with the planes of `x` (`[images, channels, size.h,
/// size.w]`) placed by `at`, and zeros everywhere else: one pass, each value written once.
fn place(x: &[f32], channels: usize, size: Size2, at: Placement, len: usize, dst: &mut Vec<f32>) {
    let images = x.len() / (channels * size.h * size.w).max(1);
    // Grows only: the loop below writes every value.
    dst.resize(len, 0.0);
    let mut done = 0;
    for c in 0..channels {
        for k in 0..images {
            let src = &x[(k * channels + c) * size.h * size.w..][..size.h * size.w];
            let start = c * at.channel_stride + k * at.plane + at.first;
            for (y, row) in src.chunks_exact(size.w).enumerate() {
                let s = start + y * at.pitch;
                dst[done..s].fill(0.0);
                dst[s..s + size.w].copy_from_slice(row);
                done = s + size.w;
            }
        }
    }
    dst[done..].fill(0.0);
}

/// The kernel of the input gradient: `flipped[c][o, i, j] = weight[o][c, kh-1-i, kw-1-j]`.
fn flip(weight: &[f32], out: usize, p: &Patches, flipped: &mut Vec<f32>) {
    let (kh, kw) = (p.window.kernel.h, p.window.kernel.w);
    flipped.clear();
    flipped.resize(weight.len(), 0.0);
    for o in 0..out {
        for c in 0..p.channels {
            for i in 0..kh {
                for j in 0..kw {
                    let from = ((o * p.channels + c) * kh + kh - 1 - i) * kw + kw - 1 - j;
                    flipped[((c * out + o) * kh + i) * kw + j] = weight[from];
                }
            }
        }
    }
}
