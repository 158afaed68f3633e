//! The two kernels of [`conv_direct`](super::conv_direct), in pulp's portable vectors (AVX-512
//! or AVX2 as the CPU has): both read a staged tile of images at fixed offsets from each wide-row
//! position and keep a block of sums in vector registers.
//!
//! - [`Correlate`]: `out[o][q] = sum over taps t of w[o][t] * src[offsets[t] + q]`, 8 output
//!   channels times 2 vectors of positions at a time (the forward, and the input gradient);
//! - [`WeightGrad`]: `dw[o][t] += sum over q of grad[o][q] * src[offsets[t] + q]`, 4 output
//!   channels times 4 taps at a time.

use super::nchw::Size2;
use pulp::{Simd, WithSimd};

/// Output channels one forward block keeps in registers (each as two vectors of positions).
pub(super) const OUT_BLOCK: usize = 8;
/// Output channels and taps of one weight-gradient block (4 x 4 running sums).
pub(super) const GRAD_BLOCK: usize = 4;
/// Wide rows are rounded up to this many positions: a whole number of forward blocks (two
/// vectors) for every vector width pulp dispatches to, up to AVX-512's 16 lanes.
pub(super) const ROUND: usize = 32;
/// Positions the weight gradient sums before folding its vector sums into the gradient: the
/// rows it reads for one block (4 of the output gradient, about 4 of the image) stay in L1.
const GRAD_SPAN: usize = 1024;

/// `weight` (`[out, taps]`) in forward blocks, `[out / OUT_BLOCK, taps, OUT_BLOCK]` (zero rows
/// past `out`).
pub(super) fn pack(weight: &[f32], out: usize, packed: &mut Vec<f32>) {
    let taps = weight.len() / out;
    packed.clear();
    packed.resize(out.next_multiple_of(OUT_BLOCK) * taps, 0.0);
    for (o, row) in weight.chunks_exact(taps).enumerate() {
        let block = &mut packed[o / OUT_BLOCK * taps * OUT_BLOCK..];
        for (t, &v) in row.iter().enumerate() {
            block[t * OUT_BLOCK + o % OUT_BLOCK] = v;
        }
    }
}

/// Where the outputs of a wide row go: `y`, `[images, channels, output.h, output.w]`, plus
/// `bias`. Position `(t, u)` of a plane (`t < region.h`, `u < region.w`) is pixel
/// `(origin.h + t * step.h, origin.w + u * step.w)` of `y`; the rest of the plane is dropped.
pub(super) struct Outputs<'a> {
    /// The staging's plane and row pitch, which place `(m, t, u)` at `m * plane + t * pitch +
    /// u` of the wide row.
    pub plane: usize,
    pub pitch: usize,
    pub channels: usize,
    pub region: Size2,
    pub output: Size2,
    pub origin: Size2,
    pub step: Size2,
    pub bias: Option<&'a [f32]>,
    pub y: &'a mut [f32],
}

impl<'a> Outputs<'a> {
    /// All of `y` (`[images, channels, output]`), from the first `output` positions of each
    /// plane: a forward's outputs.
    pub fn whole(
        plane: usize,
        pitch: usize,
        channels: usize,
        output: Size2,
        bias: Option<&'a [f32]>,
        y: &'a mut [f32],
    ) -> Self {
        Outputs {
            plane,
            pitch,
            channels,
            region: output,
            output,
            origin: Size2::from(0),
            step: Size2::from(1),
            bias,
            y,
        }
    }

    /// Writes the outputs among positions `start..start + len` of the wide row, held in
    /// `chunk` (`[channels, stride]`, position `start` first), and skips the rest (padding).
    #[inline(always)]
    fn write(&mut self, chunk: &[f32], stride: usize, start: usize, len: usize) {
        let (oh, ow) = (self.output.h, self.output.w);
        let per_image = self.channels * oh * ow;
        let images = self.y.len() / per_image.max(1);
        let (mut q, end) = (start, start + len);
        while q < end {
            let (m, r) = (q / self.plane, q % self.plane);
            let (t, u) = (r / self.pitch, r % self.pitch);
            let next = (q + self.pitch - u).min(end);
            if m < images && t < self.region.h && u < self.region.w {
                let n = (self.region.w - u).min(next - q);
                let row = self.origin.h + t * self.step.h;
                let first = m * per_image + row * ow + self.origin.w + u * self.step.w;
                for o in 0..self.channels {
                    let src = &chunk[o * stride + q - start..][..n];
                    let dst = &mut self.y[first + o * oh * ow..];
                    let b = self.bias.map_or(0.0, |b| b[o]);
                    if self.step.w == 1 {
                        for (d, &v) in dst[..n].iter_mut().zip(src) {
                            *d = v + b;
                        }
                    } else {
                        for (d, &v) in dst.iter_mut().step_by(self.step.w).zip(src) {
                            *d = v + b;
                        }
                    }
                }
            }
            q = next;
        }
    }
}

/// One vector from the start of `s`.
#[inline(always)]
fn load<S: Simd>(s: &[f32]) -> S::f32s {
    S::as_simd_f32s(&s[..S::F32_LANES]).0[0]
}

/// `out[o][q] = sum over taps t of weight[o][t] * src[offsets[t] + q]` for `q < row`, a chunk
/// of positions at a time, each chunk written to its outputs while it is in L1.
pub(super) struct Correlate<'a> {
    /// `[out / OUT_BLOCK, taps, OUT_BLOCK]`, see [`pack`].
    pub weight: &'a [f32],
    pub offsets: &'a [usize],
    pub src: &'a [f32],
    /// `[out, chunk_len(out)]`: one chunk's sums.
    pub chunk: &'a mut [f32],
    pub row: usize,
    pub out: Outputs<'a>,
}

/// Positions per chunk of the forward for `out` channels: 32 KiB of sums, within 64..=1024.
pub(super) fn chunk_len(out: usize) -> usize {
    (8192 / out.max(1)).clamp(64, 1024) / ROUND * ROUND
}

impl WithSimd for Correlate<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(mut self, simd: S) {
        let (lanes, taps, out_c) = (S::F32_LANES, self.offsets.len(), self.out.channels);
        let stride = chunk_len(out_c);
        for start in (0..self.row).step_by(stride) {
            let len = stride.min(self.row - start);
            for (b, block) in self.weight.chunks_exact(taps * OUT_BLOCK).enumerate() {
                let (block, _) = block.as_chunks::<OUT_BLOCK>();
                let rows = (out_c - b * OUT_BLOCK).min(OUT_BLOCK);
                for q in (start..start + len).step_by(2 * lanes) {
                    let at = b * OUT_BLOCK * stride + q - start;
                    let sums = Sums {
                        simd,
                        offsets: self.offsets,
                        block,
                        src: &self.src[q..],
                    };
                    // 16 sums fill AVX2's 16 registers, which spilled four of them to the stack
                    // on every tap; half a block at a time keeps them all in registers. Each
                    // sum adds the same products in the same order either way.
                    if lanes >= 16 {
                        sums.store::<OUT_BLOCK>(0, rows, &mut self.chunk[at..], stride);
                    } else {
                        const HALF: usize = OUT_BLOCK / 2;
                        sums.store::<HALF>(0, rows, &mut self.chunk[at..], stride);
                        sums.store::<HALF>(HALF, rows, &mut self.chunk[at..], stride);
                    }
                }
            }
            self.out.write(self.chunk, stride, start, len);
        }
    }
}

/// One block of [`Correlate`]'s sums: 2 vectors of positions from `src`'s start, for the
/// output channels of one packed weight block.
struct Sums<'a, S> {
    simd: S,
    offsets: &'a [usize],
    /// `[taps][OUT_BLOCK]` weights.
    block: &'a [[f32; OUT_BLOCK]],
    src: &'a [f32],
}

impl<S: Simd> Sums<'_, S> {
    /// Sums channels `first..first + R` of the block and stores those below `rows` into `dst`
    /// (`[channel, stride]`, the block's first channel first).
    #[inline(always)]
    fn store<const R: usize>(&self, first: usize, rows: usize, dst: &mut [f32], stride: usize) {
        let (simd, lanes) = (self.simd, S::F32_LANES);
        let mut acc = [[simd.splat_f32s(0.0); 2]; R];
        for (&off, w) in self.offsets.iter().zip(self.block) {
            let x = &self.src[off..off + 2 * lanes];
            let (x0, x1) = (load::<S>(x), load::<S>(&x[lanes..]));
            for (acc, &w) in acc.iter_mut().zip(&w[first..first + R]) {
                let w = simd.splat_f32s(w);
                acc[0] = simd.mul_add_f32s(w, x0, acc[0]);
                acc[1] = simd.mul_add_f32s(w, x1, acc[1]);
            }
        }
        for (o, acc) in acc.iter().enumerate().take(rows.saturating_sub(first)) {
            let (dst, _) = S::as_mut_simd_f32s(&mut dst[(first + o) * stride..][..2 * lanes]);
            dst[0] = acc[0];
            dst[1] = acc[1];
        }
    }
}

/// `dw[o][t] += sum over q < row of grad[o][q] * src[offsets[t] + q]`.
pub(super) struct WeightGrad<'a> {
    /// `[out rounded up to GRAD_BLOCK, row]`, zero wherever no output is.
    pub grad: &'a [f32],
    pub src: &'a [f32],
    /// One per tap, then zeros up to a whole block.
    pub offsets: &'a [usize],
    pub row: usize,
    /// `[out, taps]`.
    pub dw: &'a mut [f32],
    pub taps: usize,
}

impl WithSimd for WeightGrad<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let (lanes, row, taps) = (S::F32_LANES, self.row, self.taps);
        let out_c = self.dw.len() / taps;
        for start in (0..row).step_by(GRAD_SPAN) {
            let end = (start + GRAD_SPAN).min(row);
            for (ob, g) in self.grad.chunks_exact(GRAD_BLOCK * row).enumerate() {
                // Each block's rows as vectors over the span, sliced before the loop so that it
                // runs without bounds checks.
                let steps = (end - start) / lanes;
                let gs: [&[S::f32s]; GRAD_BLOCK] = std::array::from_fn(|o| {
                    &S::as_simd_f32s(&g[o * row + start..][..end - start]).0[..steps]
                });
                for (tb, offs) in self.offsets.chunks_exact(GRAD_BLOCK).enumerate() {
                    if taps - tb * GRAD_BLOCK == 1 {
                        // A last block of one tap (a one-channel kernel of odd size: 9, 25, 49
                        // taps): its four sums alone, not sixteen of which twelve are dropped,
                        // each in the order of a whole block's (the same bits). A 9-tap weight
                        // gradient took 0.84-0.86x the time (one process, alternating).
                        let x = &S::as_simd_f32s(&self.src[offs[0] + start..][..end - start]).0;
                        let mut acc = [simd.splat_f32s(0.0); GRAD_BLOCK];
                        let rows = x[..steps]
                            .iter()
                            .zip(gs[0].iter().zip(gs[1]).zip(gs[2]).zip(gs[3]));
                        for (&x, (((&g0, &g1), &g2), &g3)) in rows {
                            for (acc, g) in acc.iter_mut().zip([g0, g1, g2, g3]) {
                                *acc = simd.mul_add_f32s(g, x, *acc);
                            }
                        }
                        for (o, &acc) in acc.iter().enumerate() {
                            let o = ob * GRAD_BLOCK + o;
                            if o < out_c {
                                self.dw[o * taps + tb * GRAD_BLOCK] += simd.reduce_sum_f32s(acc);
                            }
                        }
                        continue;
                    }
                    let xs: [&[S::f32s]; GRAD_BLOCK] = std::array::from_fn(|t| {
                        &S::as_simd_f32s(&self.src[offs[t] + start..][..end - start]).0[..steps]
                    });
                    let mut add = |o: usize, acc: &[S::f32s; GRAD_BLOCK]| {
                        let o = ob * GRAD_BLOCK + o;
                        for (t, &acc) in acc.iter().enumerate() {
                            let t = tb * GRAD_BLOCK + t;
                            if o < out_c && t < taps {
                                self.dw[o * taps + t] += simd.reduce_sum_f32s(acc);
                            }
                        }
                    };
                    if lanes < 16 {
                        // AVX2's 16 registers hold 16 sums but not also the rows they read, so
                        // 12 of them went through the stack on every step: two rows of the
                        // gradient at a time instead, each sum's products in the same order.
                        for o in [0, 2] {
                            let acc = pair_sums(simd, xs, [gs[o], gs[o + 1]]);
                            add(o, &acc[0]);
                            add(o + 1, &acc[1]);
                        }
                        continue;
                    }
                    let mut acc = [[simd.splat_f32s(0.0); GRAD_BLOCK]; GRAD_BLOCK];
                    // Zipped, the eight rows run under one bound, without a check per row and
                    // step (which also spilled their pointers to the stack): 5 % off a backward.
                    const { assert!(GRAD_BLOCK == 4, "the zip below takes four rows of each") };
                    let rows = (xs[0].iter().zip(xs[1]).zip(xs[2]).zip(xs[3]))
                        .zip(gs[0].iter().zip(gs[1]).zip(gs[2]).zip(gs[3]));
                    for ((((&x0, &x1), &x2), &x3), (((&g0, &g1), &g2), &g3)) in rows {
                        let x = [x0, x1, x2, x3];
                        for (acc, g) in acc.iter_mut().zip([g0, g1, g2, g3]) {
                            for (acc, &x) in acc.iter_mut().zip(&x) {
                                *acc = simd.mul_add_f32s(g, x, *acc);
                            }
                        }
                    }
                    for (o, acc) in acc.iter().enumerate() {
                        add(o, acc);
                    }
                }
            }
        }
    }
}

/// `sums[o][t] = sum over steps of g[o] * xs[t]`: two rows of the output gradient against four
/// taps' rows, for [`WeightGrad`] on 8-lane vectors.
#[inline(always)]
fn pair_sums<S: Simd>(
    simd: S,
    xs: [&[S::f32s]; GRAD_BLOCK],
    g: [&[S::f32s]; 2],
) -> [[S::f32s; GRAD_BLOCK]; 2] {
    let mut acc = [[simd.splat_f32s(0.0); GRAD_BLOCK]; 2];
    let rows = (xs[0].iter().zip(xs[1]).zip(xs[2]).zip(xs[3])).zip(g[0].iter().zip(g[1]));
    for ((((&x0, &x1), &x2), &x3), (&g0, &g1)) in rows {
        let x = [x0, x1, x2, x3];
        for (acc, g) in acc.iter_mut().zip([g0, g1]) {
            for (acc, &x) in acc.iter_mut().zip(&x) {
                *acc = simd.mul_add_f32s(g, x, *acc);
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulp::Arch;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 37 + seed * 11) % 23) as f32 / 8.0 - 1.4)
            .collect()
    }

    // Five taps at irregular offsets, channel counts off the blocks of 8 and 4, two images of
    // 4 x 10 outputs on rows 16 apart (plane 64): every output is its definition, in f64.
    const OFFSETS: [usize; 5] = [0, 3, 17, 40, 41];
    const ROW: usize = 128;

    /// Runs [`Correlate`] on two images of a 4 x 10 region on rows 16 apart (plane 64), written
    /// into `y` of `output` per channel from `origin` in steps of `step`: every output is its
    /// definition, in f64, and every other value of `y` is left as it was.
    fn check_correlate(output: Size2, origin: Size2, step: Size2) {
        let (out_c, taps) = (11, OFFSETS.len());
        let (src, weight) = (values(ROW + 64, 1), values(out_c * taps, 2));
        let bias = values(out_c, 3);
        let mut packed = Vec::new();
        pack(&weight, out_c, &mut packed);
        let region = Size2 { h: 4, w: 10 };
        let per_channel = output.h * output.w;
        let mut y = vec![f32::NAN; 2 * out_c * per_channel];
        let mut chunk = vec![0.0; out_c * chunk_len(out_c)];
        let out = Outputs {
            plane: 64,
            pitch: 16,
            channels: out_c,
            region,
            output,
            origin,
            step,
            bias: Some(&bias),
            y: &mut y,
        };
        let (weight_ref, offsets, src_ref) = (&packed, &OFFSETS[..], &src);
        Arch::new().dispatch(Correlate {
            weight: weight_ref,
            offsets,
            src: src_ref,
            chunk: &mut chunk,
            row: ROW,
            out,
        });
        let mut written = 0;
        for m in 0..2 {
            for o in 0..out_c {
                for (t, u) in (0..4).flat_map(|t| (0..10).map(move |u| (t, u))) {
                    let q = m * 64 + t * 16 + u;
                    let sum: f64 = (0..taps)
                        .map(|k| f64::from(weight[o * taps + k]) * f64::from(src[OFFSETS[k] + q]))
                        .sum();
                    let (oy, ox) = (origin.h + t * step.h, origin.w + u * step.w);
                    let got = y[(m * out_c + o) * per_channel + oy * output.w + ox];
                    let want = sum + f64::from(bias[o]);
                    assert!(
                        (f64::from(got) - want).abs() < 1e-4,
                        "image {m} channel {o} ({t}, {u}): {got} vs {want}"
                    );
                    written += 1;
                }
            }
        }
        assert_eq!(y.iter().filter(|v| !v.is_nan()).count(), written);
    }

    #[test]
    fn correlate_is_its_definition() {
        check_correlate(Size2 { h: 4, w: 10 }, Size2::from(0), Size2::from(1));
    }

    #[test]
    fn correlate_writes_a_region_in_steps() {
        // Rows 1, 3, 5, 7 and columns 2, 5, ..., 29 of 9 x 31 outputs (an input gradient's phase).
        check_correlate(Size2 { h: 9, w: 31 }, Size2 { h: 1, w: 2 }, Size2 { h: 2, w: 3 });
    }

    #[test]
    fn weight_grad_is_its_definition() {
        let (out_c, taps) = (5, OFFSETS.len());
        // Rows rounded up to 8 (two blocks) and offsets to 8 taps; zeros past the real ones.
        let grad: Vec<f32> = values(8 * ROW, 4)
            .iter()
            .enumerate()
            .map(|(i, &v)| if i < out_c * ROW { v } else { 0.0 })
            .collect();
        let src = values(ROW + 64, 5);
        let mut offsets = OFFSETS.to_vec();
        offsets.resize(8, 0);
        let mut dw = vec![0.5; out_c * taps];
        Arch::new().dispatch(WeightGrad {
            grad: &grad,
            src: &src,
            offsets: &offsets,
            row: ROW,
            dw: &mut dw,
            taps,
        });
        for o in 0..out_c {
            for t in 0..taps {
                let sum: f64 = (0..ROW)
                    .map(|q| f64::from(grad[o * ROW + q]) * f64::from(src[OFFSETS[t] + q]))
                    .sum();
                let got = dw[o * taps + t];
                assert!(
                    (f64::from(got) - 0.5 - sum).abs() < 1e-3,
                    "({o}, {t}): {got} vs 0.5 + {sum}"
                );
            }
        }
    }
}
