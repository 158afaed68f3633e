//! A convolution's arithmetic over a batch: tiles of images unfolded by im2col and multiplied
//! by the weight, one product per group, in a fixed number of parts spread over nn's threads.
//!
//! A tile's patch matrices sit side by side, `[in * kh * kw, images * OH * OW]`, so one product
//! `weight [out, in * kh * kw]` times them gives the tile's outputs, and its backward is two more
//! products (weight gradient, patch gradient) and col2im. Tiles are sized to stay in the core's
//! cache; the patch matrices are recomputed in backward rather than kept for the whole batch.

use super::conv_direct::{self, Direct};
use super::im2col::{col2im, im2col, Patches};
use super::nchw::{elements, sum_map};
use super::par::{self, PARTS};
use crate::linalg::{matmul_into_serial, vectorized};
use ndarray::{s, ArrayView2, ArrayViewMut2};

/// The parameters a convolution's arithmetic reads.
pub(super) struct Weights<'a> {
    /// `[out, in / groups * kh * kw]`, row-major.
    pub weight: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub out_channels: usize,
    pub groups: usize,
}

/// What a backward pass writes: the weight gradient, the bias gradient if given, and the input
/// gradient (over the input) if `input`.
pub(super) struct Grads<'a> {
    pub input: bool,
    pub weight: &'a mut [f32],
    pub bias: Option<&'a mut [f32]>,
}

/// The per-part buffers of one layer, kept from step to step so that a steady training step
/// allocates nothing.
#[derive(Clone, Debug, Default)]
pub(super) struct Tiles {
    scratch: Vec<Scratch>,
    /// Images per tile if fixed (tests use small tiles to cover the tiling on small images);
    /// `None`: [`tile_images`] chooses.
    pub fixed: Option<usize>,
    /// The buffers of the convolutions [`conv_direct`] computes without patches.
    direct: Direct,
    /// Whether forward and backward use im2col even where [`conv_direct`] applies (tests
    /// compare the two).
    pub im2col_only: bool,
}

/// The buffers of one part of a batch.
#[derive(Clone, Debug, Default)]
struct Scratch {
    /// The patch matrices of one tile of images, side by side; in backward, then their gradient.
    col: Vec<f32>,
    /// The output (or output gradient) of one tile, `[out, images * OH * OW]`.
    out: Vec<f32>,
    /// One image (or its gradient) padded and split into phases, unless read in place.
    staged: Vec<f32>,
    /// This part's share of the weight and bias gradients.
    weight_grad: Vec<f32>,
    bias_grad: Vec<f32>,
}

/// Images per tile: enough output columns for an efficient matrix product, few enough that the
/// tile's patch matrices stay in the core's L2 cache (2 MiB on the machines measured). On
/// workload C's second layer, products of about 500 columns ran 10% faster than of 850.
fn tile_images(p: &Patches) -> usize {
    const COLUMNS: usize = 512;
    const COL_FLOATS: usize = 1 << 18;
    let per_image = p.cols().max(1);
    COLUMNS
        .div_ceil(per_image)
        .min(COL_FLOATS / (p.rows() * per_image).max(1))
        .max(1)
}

impl Tiles {
    /// Makes room in every part's buffers for a pass over `n` images, so that the passes
    /// themselves (on nn's threads) never grow them; `Err` gives the shape of a buffer the
    /// allocator refused (or whose size overflows), for the layer to report.
    pub fn reserve(
        &mut self,
        p: &Patches,
        out_channels: usize,
        groups: usize,
        n: usize,
    ) -> Result<(), Vec<usize>> {
        if self.direct_forward(p, groups) {
            self.direct.reserve(p, out_channels, n, self.fixed)?;
            if self.direct_backward(p, groups) {
                return Ok(());
            }
        }
        let images = self.fixed.unwrap_or_else(|| tile_images(p)).min(n).max(1);
        let columns = p
            .output
            .h
            .checked_mul(p.pitch())
            .and_then(|c| c.checked_mul(images));
        let columns = columns.ok_or_else(|| vec![p.rows(), images, p.output.h, p.pitch()])?;
        // Shapes on the stack: a steady step allocates nothing here.
        let (col, out, staged) = ([p.rows(), columns], [out_channels, columns], p.staged_shape());
        let shapes: [&[usize]; 3] = [&col, &out, &staged];
        let mut lens = [0; 3];
        for (len, shape) in lens.iter_mut().zip(shapes) {
            *len = elements(shape).ok_or_else(|| shape.to_vec())?;
        }
        if self.scratch.len() < PARTS {
            self.scratch.resize(PARTS, Scratch::default());
        }
        for s in self.scratch.iter_mut().take(n.div_ceil(images).min(PARTS)) {
            for ((buf, &len), shape) in [&mut s.col, &mut s.out, &mut s.staged]
                .into_iter()
                .zip(&lens)
                .zip(shapes)
            {
                if let Some(more) = len.checked_sub(buf.len()) {
                    buf.try_reserve_exact(more).map_err(|_| shape.to_vec())?;
                }
            }
        }
        Ok(())
    }

    /// `y = conv(x)` for `n` images: `x` is `[n, in, H, W]`, `y` `[n, out, OH, OW]`.
    pub fn forward(&mut self, p: &Patches, w: &Weights<'_>, n: usize, x: &mut [f32], y: &mut [f32]) {
        if self.direct_forward(p, w.groups) {
            return self.direct.forward(p, w, n, x, y, self.fixed);
        }
        self.run(p, w, n, x, y, Pass::Forward);
    }

    fn direct_forward(&self, p: &Patches, groups: usize) -> bool {
        !self.im2col_only && conv_direct::computes_forward(p, groups)
    }

    fn direct_backward(&self, p: &Patches, groups: usize) -> bool {
        !self.im2col_only && conv_direct::computes_backward(p, groups)
    }

    /// The transposed convolution of `y` (`[n, out, OH, OW]`) into `x` (`[n, in, H, W]`,
    /// overwritten), plus `w.bias` per input channel: the input gradient backward computes,
    /// as a layer of its own ([`ConvTranspose2d`](super::ConvTranspose2d)'s forward).
    pub fn transposed(&mut self, p: &Patches, w: &Weights<'_>, n: usize, y: &mut [f32], x: &mut [f32]) {
        self.run(p, w, n, x, y, Pass::Transposed);
    }

    /// Given `grad` (`[n, out, OH, OW]`) for the forward of `x`, writes the gradients `out`
    /// asks for (overwriting `x` with the input gradient if `out.input`, else leaving it).
    pub fn backward(
        &mut self,
        p: &Patches,
        w: &Weights<'_>,
        n: usize,
        x: &mut [f32],
        grad: &mut [f32],
        out: Grads<'_>,
    ) {
        if self.direct_backward(p, w.groups) {
            let fixed = self.fixed;
            return self.direct.backward(p, w, n, x, grad, out, fixed);
        }
        let count = self.run(
            p,
            w,
            n,
            x,
            grad,
            Pass::Backward {
                input_grad: out.input,
            },
        );
        // The parts' gradient shares, summed in part order: the same bits for any thread count.
        let shares = &self.scratch[..count];
        sum_shares(out.weight, shares.iter().map(|s| &s.weight_grad[..]));
        if let Some(bias_grad) = out.bias {
            sum_shares(bias_grad, shares.iter().map(|s| &s.bias_grad[..]));
        }
    }

    /// Runs `pass` over the batch, part by part; returns the number of parts.
    fn run(
        &mut self,
        p: &Patches,
        w: &Weights<'_>,
        n: usize,
        x: &mut [f32],
        y: &mut [f32],
        pass: Pass,
    ) -> usize {
        let tile = self.fixed.unwrap_or_else(|| tile_images(p));
        let mut bounds = [(0, 0); PARTS];
        let mut count = 0;
        for (slot, range) in bounds.iter_mut().zip(par::parts(n.div_ceil(tile))) {
            *slot = (range.start * tile, (range.end * tile).min(n));
            count += 1;
        }
        if self.scratch.len() < PARTS {
            self.scratch.resize(PARTS, Scratch::default());
        }
        let (x_len, y_len) = (x.len() / n.max(1), y.len() / n.max(1));
        let xs = split_parts(x, x_len, &bounds[..count]);
        let ys = split_parts(y, y_len, &bounds[..count]);
        let mut parts: [Option<Part<'_>>; PARTS] = Default::default();
        let slots = parts.iter_mut().zip(&mut self.scratch).zip(xs).zip(ys);
        for (((slot, scratch), x), y) in slots.take(count) {
            *slot = Some(Part { scratch, x, y });
        }
        let kg = w.weight.len() / w.out_channels;
        let shared = Shared {
            patches: *p,
            weight: ArrayView2::from_shape((w.out_channels, kg), w.weight).expect("[out, K]"),
            bias: w.bias,
            groups: w.groups,
            tile,
        };
        let macs = n * p.cols() * w.weight.len();
        par::for_each(
            &mut parts[..count],
            par::worth_macs(macs),
            &|part: &mut Option<Part<'_>>| {
                let part = part.as_mut().expect("filled above");
                match pass {
                    Pass::Forward => shared.forward(part),
                    Pass::Backward { input_grad } => shared.backward(part, input_grad),
                    Pass::Transposed => shared.transposed(part),
                }
            },
        );
        count
    }
}

/// What [`Tiles::run`] computes.
#[derive(Clone, Copy)]
enum Pass {
    Forward,
    Backward { input_grad: bool },
    Transposed,
}

/// One part's share of a forward or backward: its images and buffers.
struct Part<'a> {
    scratch: &'a mut Scratch,
    /// The part's input images (backward overwrites them with their gradient).
    x: &'a mut [f32],
    /// The part's outputs (forward) or output gradients (backward).
    y: &'a mut [f32],
}

/// What every part reads.
struct Shared<'a> {
    patches: Patches,
    weight: ArrayView2<'a, f32>,
    bias: Option<&'a [f32]>,
    groups: usize,
    tile: usize,
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

    fn forward(&self, part: &mut Part<'_>) {
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
    fn transposed(&self, part: &mut Part<'_>) {
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

    fn backward(&self, part: &mut Part<'_>, input_grad: bool) {
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

/// `total = sum of shares`, added in order (zeros when there are none).
pub(super) fn sum_shares<'a>(total: &mut [f32], shares: impl Iterator<Item = &'a [f32]>) {
    total.fill(0.0);
    for share in shares {
        for (acc, &v) in total.iter_mut().zip(share) {
            *acc += v;
        }
    }
}

/// Splits `data` (`per_image` values per image) into the parts' image ranges `bounds`.
fn split_parts<'a>(
    mut data: &'a mut [f32],
    per_image: usize,
    bounds: &[(usize, usize)],
) -> [&'a mut [f32]; PARTS] {
    let mut out: [&mut [f32]; PARTS] = Default::default();
    for (slot, &(first, end)) in out.iter_mut().zip(bounds) {
        let (head, tail) = std::mem::take(&mut data).split_at_mut((end - first) * per_image);
        *slot = head;
        data = tail;
    }
    out
}
