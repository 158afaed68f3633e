//! Images in and out of Winograd's layout: NCHW batches staged padded to whole tiles with their
//! channels interleaved by eights, and the outputs (or output gradients) likewise.

use super::{lanes, Shapes, LANES};

/// `x` (`[images, in, H, W]`) into `staged`, zero-padded (`padding` before, and after up to
/// whole tiles), channels interleaved.
pub(super) fn stage(s: &Shapes, x: &[f32], staged: &mut [f32]) {
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
pub(super) fn crop_inputs(s: &Shapes, staged: &[f32], dx: &mut [f32]) {
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
pub(super) fn crop_outputs(s: &Shapes, blocks: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
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
pub(super) fn pad_grads(s: &Shapes, g: &[f32], blocks: &mut [f32], bias_grad: &mut [f32]) {
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
