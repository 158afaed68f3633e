//! How [`conv_direct`](super::conv_direct) lays a tile of images out for its kernels: padded,
//! split into stride phases, channel by channel, so that every tap of every output reads the
//! staged value at the output's position plus one fixed offset.
//!
//! With stride `s`, output `(oy, ox)` of tap `(i, j)` reads padded pixel `(oy * s + di, ox * s +
//! dj)` (`di = i * dilation`), which is pixel `(oy + di / s, ox + dj / s)` of *phase*
//! `(di % s, dj % s)`: the plane of the padded image's rows `a, a + s, ...` and columns `b, b +
//! s, ...`. A tile is staged as `[channels, phases, images, plane]`, holding only the phases some
//! tap reads (one for stride 1; one, too, for a strided 1x1 kernel), so output `(m, oy, ox)` sits
//! at position `q = m * plane + oy * pitch + ox` of a *wide* row and each tap reads `q` plus
//! its offset: a stride-`s` convolution is a stride-1 one over the phases.

use super::conv_kernels::ROUND;
use super::nchw::Size2;

/// The largest stride staged in phases (at most 16 phases, one bit each in [`Staging::phases`]).
pub(super) const MAX_STRIDE: usize = 4;

/// Images staged as `[channels, phases, images, plane]` (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub(super) struct Staging {
    pub channels: usize,
    pub images: usize,
    /// Each image's height and width before padding.
    pub size: Size2,
    /// Zero rows above and columns left of each image.
    pub before: Size2,
    /// Each phase plane's height and width: the padded image is `plane * stride`, zeros
    /// wherever the image is not.
    pub plane: Size2,
    pub stride: Size2,
    /// The phases staged: bit `a * stride.w + b` for phase `(a, b)`.
    pub phases: u32,
}

impl Staging {
    /// Positions of one phase plane.
    pub fn plane_len(&self) -> usize {
        self.plane.h * self.plane.w
    }

    /// The distance between rows of a plane.
    pub fn pitch(&self) -> usize {
        self.plane.w
    }

    /// Positions of a wide row: every image's plane, rounded up to [`ROUND`].
    pub fn row(&self) -> usize {
        (self.images * self.plane_len()).next_multiple_of(ROUND)
    }

    fn phase_count(&self) -> usize {
        self.phases.count_ones() as usize
    }

    /// The staged length: the planes plus the slack that taps read past the last one from the
    /// rounded-up row (an offset within a plane is less than a plane).
    pub fn len(&self) -> usize {
        (self.channels * self.phase_count() * self.images + 1) * self.plane_len() + ROUND
    }

    /// The offset of the tap of channel `c` reading padded pixel `(oy * s + di, ox * s + dj)`
    /// for output `(oy, ox)`; its phase must be staged.
    pub fn offset(&self, c: usize, di: usize, dj: usize) -> usize {
        let (sh, sw) = (self.stride.h, self.stride.w);
        let bit = (di % sh) * sw + dj % sw;
        debug_assert!(self.phases >> bit & 1 == 1, "phase {bit} is not staged");
        let slot = (self.phases & ((1 << bit) - 1)).count_ones() as usize;
        let plane = (c * self.phase_count() + slot) * self.images * self.plane_len();
        plane + di / sh * self.pitch() + dj / sw
    }

    /// Overwrites `dst`, resized to [`Staging::len`], with `x` (`[images, channels, h, w]`)
    /// staged: one pass in the order of `dst`, each value written once.
    pub fn stage(&self, x: &[f32], dst: &mut Vec<f32>) {
        let (size, before, (sh, sw)) = (self.size, self.before, (self.stride.h, self.stride.w));
        // Grows only: the loops below write every value.
        dst.resize(self.len(), 0.0);
        let mut rows = dst.chunks_exact_mut(self.plane.w);
        for c in 0..self.channels {
            for bit in (0..sh * sw).filter(|bit| self.phases >> bit & 1 == 1) {
                let (a, b) = (bit / sw, bit % sw);
                // The plane's columns `first..last` hold pixels `first * sw + b - before.w`, ...
                let last = (before.w + size.w)
                    .saturating_sub(b)
                    .div_ceil(sw)
                    .min(self.plane.w);
                let first = before.w.saturating_sub(b).div_ceil(sw).min(last);
                let from = (first * sw + b).saturating_sub(before.w);
                for k in 0..self.images {
                    let image = &x[(k * self.channels + c) * size.h * size.w..][..size.h * size.w];
                    for r in 0..self.plane.h {
                        let row = rows.next().expect("len() holds every plane");
                        let y = (r * sh + a).wrapping_sub(before.h);
                        if y >= size.h || first == last {
                            row.fill(0.0);
                            continue;
                        }
                        let src = &image[y * size.w + from..(y + 1) * size.w];
                        row[..first].fill(0.0);
                        gather(&mut row[first..last], src, sw);
                        row[last..].fill(0.0);
                    }
                }
            }
        }
        let done = self.channels * self.phase_count() * self.images * self.plane_len();
        dst[done..].fill(0.0);
    }
}

/// `dst[u] = src[u * step]`, with the common steps spelled out so that they vectorize.
#[inline(always)]
fn gather(dst: &mut [f32], src: &[f32], step: usize) {
    match step {
        1 => dst.copy_from_slice(&src[..dst.len()]),
        2 => {
            // Pairs while the source has them, then the last value alone.
            let pairs = dst.len().min(src.len() / 2);
            let (head, tail) = dst.split_at_mut(pairs);
            for (d, pair) in head.iter_mut().zip(src.as_chunks::<2>().0) {
                *d = pair[0];
            }
            if let Some(d) = tail.first_mut() {
                *d = src[2 * pairs];
            }
        }
        _ => {
            for (d, &v) in dst.iter_mut().zip(src.iter().step_by(step)) {
                *d = v;
            }
        }
    }
}

/// The phases that the taps of a `kernel` with `dilation` and `stride` read (see [`Staging`]).
pub(super) fn phases_read(kernel: Size2, dilation: Size2, stride: Size2) -> u32 {
    debug_assert!(stride.h.max(stride.w) <= MAX_STRIDE);
    let mut phases = 0;
    // `i * dilation % stride` repeats after `stride` taps.
    for i in 0..kernel.h.min(stride.h) {
        for j in 0..kernel.w.min(stride.w) {
            phases |= 1 << ((i * dilation.h % stride.h) * stride.w + j * dilation.w % stride.w);
        }
    }
    phases
}

/// Where [`place`] puts plane `(k, c)` (image, channel): from `c * channel_stride + k * plane +
/// first` on, its rows `pitch` apart.
#[derive(Clone, Copy)]
pub(super) struct Placement {
    pub channel_stride: usize,
    pub plane: usize,
    pub pitch: usize,
    pub first: usize,
}

/// Overwrites `dst`, resized to `len`, with the planes of `x` (`[images, channels, size.h,
/// size.w]`) placed by `at`, and zeros everywhere else: one pass, each value written once.
pub(super) fn place(x: &[f32], channels: usize, size: Size2, at: Placement, len: usize, dst: &mut Vec<f32>) {
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
