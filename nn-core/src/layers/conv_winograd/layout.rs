//! Images in and out of Winograd's layout: NCHW batches staged padded to whole tiles with their
//! channels interleaved by eights, and the outputs (or output gradients) likewise.
//!
//! Rows move in blocks of 8 pixels of 8 channels, transposed in registers; a float at a time,
//! these four passes took a fifth of a 16-channel layer's time.

use super::{lanes, Lanes, Shapes, LANES};
use crate::linalg::vectorized;

/// 8x8 transposes, in AVX's shuffles where the CPU has them: the compiler made a transpose
/// written over arrays 64 scalar moves through the stack.
#[derive(Clone, Copy)]
struct Transposer {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    avx: Option<pulp::x86::V3>,
}

impl Transposer {
    fn new() -> Self {
        Transposer {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            avx: pulp::x86::V3::try_new(),
        }
    }

    /// `out[i][l] = block[l][i]`.
    #[inline(always)]
    fn transpose(self, block: &[Lanes; LANES]) -> [Lanes; LANES] {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        if let Some(simd) = self.avx {
            return transpose_avx(simd, block);
        }
        let mut out = [[0.0; LANES]; LANES];
        for (i, out) in out.iter_mut().enumerate() {
            for (l, out) in out.iter_mut().enumerate() {
                *out = block[l][i];
            }
        }
        out
    }
}

/// The transpose in 24 shuffles: pairs of rows interleaved, then pairs of those pairs, then the
/// 128-bit halves exchanged.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[inline(always)]
fn transpose_avx(simd: pulp::x86::V3, block: &[Lanes; LANES]) -> [Lanes; LANES] {
    #[cfg(target_arch = "x86")]
    use std::arch::x86::__m256;
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::__m256;
    let avx = simd.avx;
    let r: [__m256; LANES] = pulp::cast(*block);
    let lo = |a: usize| avx._mm256_unpacklo_ps(r[a], r[a + 1]);
    let hi = |a: usize| avx._mm256_unpackhi_ps(r[a], r[a + 1]);
    let t = [lo(0), hi(0), lo(2), hi(2), lo(4), hi(4), lo(6), hi(6)];
    let low_pairs = |a: usize| avx._mm256_shuffle_ps::<0x44>(t[a], t[a + 2]);
    let high_pairs = |a: usize| avx._mm256_shuffle_ps::<0xee>(t[a], t[a + 2]);
    let s = [
        low_pairs(0),
        high_pairs(0),
        low_pairs(1),
        high_pairs(1),
        low_pairs(4),
        high_pairs(4),
        low_pairs(5),
        high_pairs(5),
    ];
    let first = |a: usize| avx._mm256_permute2f128_ps::<0x20>(s[a], s[a + 4]);
    let second = |a: usize| avx._mm256_permute2f128_ps::<0x31>(s[a], s[a + 4]);
    pulp::cast([
        first(0),
        first(1),
        first(2),
        first(3),
        second(0),
        second(1),
        second(2),
        second(3),
    ])
}

/// One row of `n` pixels of 8 channels, `rows[l]` (`n` floats each), into `dst` (`[n, 8]`).
#[inline(always)]
fn interleave(t: Transposer, rows: &[&[f32]; LANES], dst: &mut [f32]) {
    let n = rows[0].len();
    let (blocks, tail) = dst[..n * LANES].as_chunks_mut::<{ LANES * LANES }>();
    let full = blocks.len() * LANES;
    let mut chunks: [&[Lanes]; LANES] = [&[]; LANES];
    for (chunks, row) in chunks.iter_mut().zip(rows) {
        *chunks = &row[..full].as_chunks::<LANES>().0[..blocks.len()];
    }
    for (b, dst) in blocks.iter_mut().enumerate() {
        let mut block = [[0.0; LANES]; LANES];
        for (row, chunks) in block.iter_mut().zip(&chunks) {
            *row = chunks[b];
        }
        let block = t.transpose(&block);
        dst.as_chunks_mut::<LANES>().0.copy_from_slice(&block);
    }
    for (i, pixel) in tail.as_chunks_mut::<LANES>().0.iter_mut().enumerate() {
        for (v, row) in pixel.iter_mut().zip(rows) {
            *v = row[full + i];
        }
    }
}

/// The transpose of [`interleave`]: `n` pixels of `src` (`[n, 8]`) into a row of each channel in
/// `rows` (`n` floats each, up to 8), plus `add[l]` if given (else copied as they are, negative
/// zeros included).
#[inline(always)]
fn deinterleave(t: Transposer, src: &[f32], add: Option<&Lanes>, rows: &mut [&mut [f32]]) {
    let add = |l: usize, v: f32| add.map_or(v, |add| v + add[l]);
    let n = rows.first().map_or(0, |r| r.len());
    let (blocks, tail) = src[..n * LANES].as_chunks::<{ LANES * LANES }>();
    let full = blocks.len() * LANES;
    for (b, src) in blocks.iter().enumerate() {
        let block: &[Lanes; LANES] = src.as_chunks::<LANES>().0.try_into().expect("8 pixels");
        let block = t.transpose(block);
        for (l, (row, values)) in rows.iter_mut().zip(&block).enumerate() {
            let dst: &mut Lanes = (&mut row[b * LANES..][..LANES]).try_into().expect("8 pixels");
            for (d, &v) in dst.iter_mut().zip(values) {
                *d = add(l, v);
            }
        }
    }
    for (i, pixel) in tail.as_chunks::<LANES>().0.iter().enumerate() {
        for (l, (row, &v)) in rows.iter_mut().zip(pixel).enumerate() {
            row[full + i] = add(l, v);
        }
    }
}

/// Rows `first..first + n` of the planes of channels `8 cb..8 cb + 8` of image `m` of `x`
/// (`[images, channels, plane]`); past the channels, the last channel's again (lanes that no
/// product reads).
#[inline(always)]
fn group_rows(
    x: &[f32],
    (channels, plane): (usize, usize),
    (m, cb): (usize, usize),
    first: usize,
    n: usize,
) -> [&[f32]; LANES] {
    let mut rows: [&[f32]; LANES] = [&[]; LANES];
    for (l, row) in rows.iter_mut().enumerate() {
        let c = (cb * LANES + l).min(channels - 1);
        *row = &x[(m * channels + c) * plane + first..][..n];
    }
    rows
}

/// The planes of channels `8 cb..8 cb + 8` of image `m` of `x` that exist.
fn group_planes_mut(
    x: &mut [f32],
    (channels, plane): (usize, usize),
    (m, cb): (usize, usize),
) -> ([&mut [f32]; LANES], usize) {
    let mut planes: [&mut [f32]; LANES] = Default::default();
    let image = x[m * channels * plane..][..channels * plane].chunks_exact_mut(plane);
    let mut count = 0;
    for (slot, p) in planes.iter_mut().zip(image.skip(cb * LANES)) {
        *slot = p;
        count += 1;
    }
    (planes, count)
}

/// Rows `first..first + n` of `planes` (the first `planes.len()` of the result).
#[inline(always)]
fn rows_mut<'a>(planes: &'a mut [&mut [f32]], first: usize, n: usize) -> [&'a mut [f32]; LANES] {
    let mut rows: [&mut [f32]; LANES] = Default::default();
    for (row, plane) in rows.iter_mut().zip(planes.iter_mut()) {
        *row = &mut plane[first..][..n];
    }
    rows
}

/// `x` (`[images, in, H, W]`) into `staged`, zero-padded (`padding` before, and after up to
/// whole tiles), channels interleaved.
pub(super) fn stage(s: &Shapes, x: &[f32], staged: &mut [f32]) {
    let size = s.staged();
    let (h, w) = (s.input.h, s.input.w);
    staged.fill(0.0);
    // Rows and columns past the staged image are outside every tile (padding wider than the
    // kernel reaches).
    let height = h.min(size.h.saturating_sub(s.padding.h));
    let n = w.min(size.w.saturating_sub(s.padding.w));
    let (groups, t) = (lanes(s.channels) / LANES, Transposer::new());
    vectorized(
        #[inline(always)]
        || {
            for (i, dst) in staged.chunks_exact_mut(LANES * size.h * size.w).enumerate() {
                for r in 0..height {
                    let at = (i / groups, i % groups);
                    let src = group_rows(x, (s.channels, h * w), at, r * w, n);
                    let first = ((r + s.padding.h) * size.w + s.padding.w) * LANES;
                    interleave(t, &src, &mut dst[first..]);
                }
            }
        },
    );
}

/// `dx` (the input gradient, `[images, in, H, W]`) from its staged form.
pub(super) fn crop_inputs(s: &Shapes, staged: &[f32], dx: &mut [f32]) {
    let size = s.staged();
    let (h, w) = (s.input.h, s.input.w);
    let height = h.min(size.h.saturating_sub(s.padding.h));
    let n = w.min(size.w.saturating_sub(s.padding.w));
    if height < h || n < w {
        // Pixels outside the staged image fall in no tile: their gradient is zero.
        dx.fill(0.0);
    }
    let (groups, t) = (lanes(s.channels) / LANES, Transposer::new());
    vectorized(
        #[inline(always)]
        || {
            for (i, src) in staged.chunks_exact(LANES * size.h * size.w).enumerate() {
                let at = (i / groups, i % groups);
                let (mut planes, count) = group_planes_mut(dx, (s.channels, h * w), at);
                for r in 0..height {
                    let mut rows = rows_mut(&mut planes[..count], r * w, n);
                    let first = ((r + s.padding.h) * size.w + s.padding.w) * LANES;
                    deinterleave(t, &src[first..], None, &mut rows[..count]);
                }
            }
        },
    );
}

/// `y` (`[images, out, OH, OW]`) from the outputs in whole tiles, plus the bias.
pub(super) fn crop_outputs(s: &Shapes, blocks: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let b = s.blocks();
    let (oh, ow) = (s.output.h, s.output.w);
    let (groups, t) = (lanes(s.out) / LANES, Transposer::new());
    vectorized(
        #[inline(always)]
        || {
            for (i, src) in blocks.chunks_exact(LANES * b.h * b.w).enumerate() {
                let at = (i / groups, i % groups);
                let mut add = [0.0; LANES];
                if let Some(bias) = bias {
                    for (add, &v) in add.iter_mut().zip(&bias[at.1 * LANES..]) {
                        *add = v;
                    }
                }
                let (mut planes, count) = group_planes_mut(y, (s.out, oh * ow), at);
                for r in 0..oh {
                    let mut rows = rows_mut(&mut planes[..count], r * ow, ow);
                    deinterleave(t, &src[r * b.w * LANES..], Some(&add), &mut rows[..count]);
                }
            }
        },
    );
}

/// The output gradient `g` (`[images, out, OH, OW]`) into whole tiles (zeros past the
/// outputs), channels interleaved; adds each channel's sum onto `bias_grad`.
pub(super) fn pad_grads(s: &Shapes, g: &[f32], blocks: &mut [f32], bias_grad: &mut [f32]) {
    let b = s.blocks();
    let (oh, ow) = (s.output.h, s.output.w);
    blocks.fill(0.0);
    let (groups, t) = (lanes(s.out) / LANES, Transposer::new());
    vectorized(
        #[inline(always)]
        || {
            for (i, dst) in blocks.chunks_exact_mut(LANES * b.h * b.w).enumerate() {
                for r in 0..oh {
                    let src = group_rows(g, (s.out, oh * ow), (i / groups, i % groups), r * ow, ow);
                    interleave(t, &src, &mut dst[r * b.w * LANES..]);
                }
            }
        },
    );
    for (plane, src) in g.chunks_exact(oh * ow).enumerate() {
        let sum: f32 = src.chunks_exact(ow).map(|row| row.iter().sum::<f32>()).sum();
        bias_grad[plane % s.out] += sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_transposes_swap_pixels_and_channels() {
        let block: [Lanes; LANES] = std::array::from_fn(|l| std::array::from_fn(|i| (l * 10 + i) as f32));
        let portable = Transposer {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            avx: None,
        };
        for t in [portable, Transposer::new()] {
            let out = vectorized(|| t.transpose(&block));
            for (i, pixel) in out.iter().enumerate() {
                for (l, &v) in pixel.iter().enumerate() {
                    assert_eq!(v, (l * 10 + i) as f32, "pixel {i}, channel {l}");
                }
            }
        }
    }
}
