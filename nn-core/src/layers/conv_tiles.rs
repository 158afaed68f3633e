//! A convolution's arithmetic over a batch, in a fixed number of parts spread over nn's threads:
//! straight from the staged images where [`conv_direct`] applies, else through tiles of patch
//! matrices ([`conv_gemm`](super::conv_gemm)), sized to stay in the core's cache.

use super::conv_direct::{self, Direct};
use super::conv_gemm::{Part, Pass, Scratch, Shared};
use super::conv_winograd::{self, Winograd};
use super::im2col::Patches;
use super::nchw::elements;
use super::par::{self, PARTS};
use ndarray::ArrayView2;

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
    /// The buffers of the 3x3 convolutions [`conv_winograd`] computes.
    winograd: Winograd,
    /// Whether forward and backward use im2col even where [`conv_direct`] applies (tests
    /// compare the two).
    pub im2col_only: bool,
    /// Whether forward is direct wherever [`conv_direct`] can compute it, even where it does not
    /// pay on this CPU (tests cover the direct kernels on every machine).
    pub direct_always: bool,
    /// Whether Winograd computes every convolution it can, even where it does not pay on this
    /// CPU (tests cover it on every machine).
    pub winograd_always: bool,
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
        if self.winograd(p, groups) {
            return self.winograd.reserve(p, out_channels, n, self.fixed);
        }
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
        if self.winograd(p, w.groups) {
            return self.winograd.forward(p, w, n, x, y, self.fixed);
        }
        if self.direct_forward(p, w.groups) {
            return self.direct.forward(p, w, n, x, y, self.fixed);
        }
        self.run(p, w, n, x, y, Pass::Forward);
    }

    fn winograd(&self, p: &Patches, groups: usize) -> bool {
        !self.im2col_only
            && !self.direct_always
            && conv_winograd::computes(p, groups)
            && (self.winograd_always || conv_winograd::pays(p))
    }

    fn direct_forward(&self, p: &Patches, groups: usize) -> bool {
        !self.im2col_only
            && conv_direct::computes_forward(p, groups)
            && (self.direct_always || conv_direct::forward_pays(p, groups))
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
        if self.winograd(p, w.groups) {
            return self.winograd.backward(p, w, n, x, grad, out, self.fixed);
        }
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
