//! The input gradient of a convolution with stride `s`, phase by phase, for
//! [`conv_direct`](super::conv_direct).
//!
//! Input pixel `(y, x)` lies in phase `(a, b)` of the padded image (`y + padding = t * s + a`,
//! likewise `x`). It gathers the output gradient through the taps `(i, j)` whose `i * dilation %
//! s` is `a` (and `j`'s is `b`), at output `(t - i * dilation / s, ...)`. So each phase is a
//! stride-1 correlation of the output gradient, staged with zeros around it, with those taps'
//! weights (transposed: input channels out), its results written to every `s`-th input pixel;
//! with stride 1 it is the usual one, through the flipped kernel. Every phase computes only its
//! own pixels, so the phases together do the arithmetic of one stride-`s` transposed convolution.

use super::conv_kernels::pack;
use super::conv_tiles::Weights;
use super::im2col::Patches;
use super::nchw::Size2;

/// One axis of an input-gradient phase: its `len` input pixels are `origin`, `origin +
/// stride`, ..., which are rows (or columns) `first, first + 1, ...` of the padded image's phase.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Axis {
    pub first: usize,
    pub origin: usize,
    pub len: usize,
}

impl Axis {
    /// Phase `a` of an axis of `size` input pixels, padded by `padding`, with `stride`.
    pub fn new(a: usize, size: usize, padding: usize, stride: usize) -> Self {
        let first = padding.saturating_sub(a).div_ceil(stride);
        let origin = first * stride + a - padding;
        let len = size.saturating_sub(origin).div_ceil(stride);
        Axis { first, origin, len }
    }
}

/// Where the input gradient's phases read the output gradient: staged `before` zeros above and
/// left of it, in planes of `plane`, so that tap `(i, j)` of phase `(a, b)`'s pixel `(t, u)`
/// reads the staged gradient at `(before.h + first.h + t - i * dilation.h / stride.h, ...)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct InputGrad {
    pub before: Size2,
    pub plane: Size2,
}

impl InputGrad {
    pub fn new(p: &Patches) -> Self {
        let w = &p.window;
        let axis = |a: usize, horizontal: bool| {
            if horizontal {
                Axis::new(a, p.input.w, w.padding.w, w.stride.w)
            } else {
                Axis::new(a, p.input.h, w.padding.h, w.stride.h)
            }
        };
        // Far enough above that every tap's row is within the plane, and far enough below
        // that every phase's pixels and the whole gradient are.
        let side = |kernel: usize, dilation: usize, stride: usize, output: usize, horizontal: bool| {
            let before = (0..kernel)
                .map(|i| {
                    (i * dilation / stride).saturating_sub(axis(i * dilation % stride, horizontal).first)
                })
                .max()
                .unwrap_or(0);
            let reach = (0..stride)
                .map(|a| axis(a, horizontal))
                .map(|ax| ax.first + ax.len)
                .max()
                .unwrap_or(0);
            (before, before + reach.max(output))
        };
        let (bh, ph) = side(w.kernel.h, w.dilation.h, w.stride.h, p.output.h, false);
        let (bw, pw) = side(w.kernel.w, w.dilation.w, w.stride.w, p.output.w, true);
        InputGrad {
            before: Size2 { h: bh, w: bw },
            plane: Size2 { h: ph, w: pw },
        }
    }
}

/// Calls `f(o, i, j)` for the taps of phase `(a, b)` of the input gradient, in the order of the
/// columns of its kernel.
pub(super) fn phase_taps(
    p: &Patches,
    out_channels: usize,
    (a, b): (usize, usize),
    mut f: impl FnMut(usize, usize, usize),
) {
    let w = &p.window;
    for o in 0..out_channels {
        for i in (0..w.kernel.h).filter(|i| i * w.dilation.h % w.stride.h == a) {
            for j in (0..w.kernel.w).filter(|j| j * w.dilation.w % w.stride.w == b) {
                f(o, i, j);
            }
        }
    }
}

/// The phases of the input gradient, `(a, b)` for every stride phase.
pub(super) fn grad_phases(p: &Patches) -> impl Iterator<Item = (usize, usize)> {
    let stride = p.window.stride;
    (0..stride.h).flat_map(move |a| (0..stride.w).map(move |b| (a, b)))
}

/// Packs each phase's kernel of the input gradient: `[in, taps of the phase]`, the weight
/// `w[o][c][i][j]` of tap `(o, i, j)` for input channel `c`, into `kernels` (one per phase).
pub(super) fn pack_phase_kernels(
    p: &Patches,
    w: &Weights<'_>,
    kernels: &mut Vec<Vec<f32>>,
    gathered: &mut Vec<f32>,
) {
    let (k, channels) = (p.window.kernel, p.channels);
    let phases = p.window.stride.h * p.window.stride.w;
    if kernels.len() != phases {
        kernels.resize(phases, Vec::new());
    }
    for (phase, packed) in grad_phases(p).zip(kernels.iter_mut()) {
        let mut count = 0;
        phase_taps(p, w.out_channels, phase, |_, _, _| count += 1);
        debug_assert!(count > 0, "computes_backward: every phase is read");
        gathered.clear();
        gathered.resize(channels * count, 0.0);
        let mut t = 0;
        phase_taps(p, w.out_channels, phase, |o, i, j| {
            for c in 0..channels {
                gathered[c * count + t] = w.weight[((o * channels + c) * k.h + i) * k.w + j];
            }
            t += 1;
        });
        pack(gathered, channels, packed);
    }
}
