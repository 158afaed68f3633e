//! im2col and col2im: unfold an image's sliding windows into the rows of a matrix, so that a
//! convolution becomes a matrix product, and fold such a matrix back onto the image.
//!
//! The matrix has one row per tap `(c, i, j)` (channel, kernel row, kernel column: the order of
//! a PyTorch weight's `[in, kh, kw]` axes) and one column per output position, so a weight
//! `[out, in * kh * kw]` times it is one image's output `[out, positions]` in NCHW order.
//!
//! The matrix is *wide*: each tap's row is one contiguous run of a staged copy of the image, so
//! unfolding is one copy per tap (not one per tap and output row, which for 7- to 14-pixel rows
//! costs as much as the matrix product). The staged copy is the padded image split into its
//! `sh * sw` *phases* (rows `a, a + sh, ...`, columns `b, b + sw, ...`): output `(oy, ox)` of tap
//! `(i, j)` reads padded pixel `(oy * sh + i, ox * sw + j)`, which is pixel `(oy + i / sh,
//! ox + j / sw)` of phase `(i % sh, j % sw)`, so along a row of outputs a tap reads consecutive
//! values of one phase. The rows of output positions are therefore as wide as a phase (the
//! padded width over the stride, rounded up), of which only `ox < OW` are real outputs; the
//! product spends `pitch / OW - 1` more work on the columns the caller drops. With stride 1 and
//! no padding the image is its own (single) phase and is read in place.

use super::nchw::{Size2, Window};
use crate::linalg::vectorized;

/// The patch matrix of one layer on images of one size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Patches {
    /// Channels unfolded (the rows come `kh * kw` per channel).
    pub channels: usize,
    /// The input image's height and width.
    pub input: Size2,
    /// The output's height and width.
    pub output: Size2,
    pub window: Window,
}

impl Patches {
    /// Rows of the matrix: one per tap.
    pub fn rows(&self) -> usize {
        self.channels * self.window.kernel.h * self.window.kernel.w
    }

    /// The padded input's height and width.
    pub fn padded(&self) -> Size2 {
        let pad = self.window.padding;
        Size2 {
            h: self.input.h + 2 * pad.h,
            w: self.input.w + 2 * pad.w,
        }
    }

    /// The height and width of one phase of the padded input (see the module documentation).
    pub fn phase(&self) -> Size2 {
        let (padded, stride) = (self.padded(), self.window.stride);
        Size2 {
            h: padded.h.div_ceil(stride.h),
            w: padded.w.div_ceil(stride.w),
        }
    }

    /// Whether im2col reads the image itself (stride 1, no padding) rather than a staged copy.
    pub fn in_place(&self) -> bool {
        self.window.stride == Size2::from(1) && self.window.padding == Size2::from(0)
    }

    /// The shape of the staged copy, `[channels, sh, sw, phase height, phase width]`, or
    /// zeros if the image is read in place.
    pub fn staged_shape(&self) -> [usize; 5] {
        if self.in_place() {
            return [0; 5];
        }
        let (s, phase) = (self.window.stride, self.phase());
        [self.channels, s.h, s.w, phase.h, phase.w]
    }

    /// Columns between the starts of two rows of output positions: a phase's width.
    pub fn pitch(&self) -> usize {
        self.phase().w
    }

    /// Columns of one image's matrix: `OH` rows of output positions, [`Patches::pitch`] apart.
    pub fn cols(&self) -> usize {
        self.output.h * self.pitch()
    }

    /// For each tap `(c, i, j)`, in row order: `f(row, start)`, the tap's row reading the
    /// staged image's values `start..start + len` (phase planes one after the other), with
    /// `len` = [`Patches::wide_len`].
    #[inline(always)]
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize)) {
        let (win, phase) = (&self.window, self.phase());
        let (s, d) = (win.stride, win.dilation);
        // A tap at offset `t` (dilated) reads phase `t % s` from `t / s` on, kept as a running
        // quotient and remainder: a division per tap would cost as much as its copy.
        let step = |(q, r): (usize, usize), d: usize, s: usize| {
            let (mut q, mut r) = (q, r + d);
            while r >= s {
                r -= s;
                q += 1;
            }
            (q, r)
        };
        let mut row = 0;
        for c in 0..self.channels {
            let mut ti = (0, 0);
            for _ in 0..win.kernel.h {
                let mut tj = (0, 0);
                for _ in 0..win.kernel.w {
                    let plane = (c * s.h + ti.1) * s.w + tj.1;
                    f(row, (plane * phase.h + ti.0) * phase.w + tj.0);
                    row += 1;
                    tj = step(tj, d.w, s.w);
                }
                ti = step(ti, d.h, s.h);
            }
        }
    }

    /// The columns of a row that read the image (the rest of the last output row would run
    /// past the phase).
    fn wide_len(&self) -> usize {
        (self.output.h - 1) * self.pitch() + self.output.w
    }

    /// Calls `f(row, first, step, dst)` for each row of each channel of the image and each
    /// column phase: the image row that starts at offset `row` has its columns `first, first +
    /// step, ...` at the staged copy's offsets `dst, dst + 1, ...`. Skips the phases no tap
    /// reads (a stride above the kernel's span, as in a 1x1 stride-2 projection).
    #[inline(always)]
    fn for_each_image_row(&self, mut f: impl FnMut(usize, usize, usize, usize)) {
        let (win, phase, (h, w)) = (&self.window, self.phase(), (self.input.h, self.input.w));
        let (pad, s, d) = (win.padding, win.stride, win.dilation);
        // Whether a tap reads phase `a`; `i * dilation % stride` repeats within `stride` taps.
        let read = |a: usize, taps: usize, dilation: usize, stride: usize| {
            (0..taps.min(stride)).any(|i| i * dilation % stride == a)
        };
        // The first image row (column) in phase `a`, and where it lands in the phase.
        let first = |a: usize, s: usize, pad: usize| {
            let first = (a + s - pad % s) % s;
            (first, (first + pad) / s)
        };
        for a in (0..s.h).filter(|&a| read(a, win.kernel.h, d.h, s.h)) {
            let (y0, py0) = first(a, s.h, pad.h);
            for b in (0..s.w).filter(|&b| read(b, win.kernel.w, d.w, s.w)) {
                let (x0, px0) = first(b, s.w, pad.w);
                if x0 >= w {
                    continue;
                }
                for c in 0..self.channels {
                    let plane = ((c * s.h + a) * s.w + b) * phase.h;
                    for (k, y) in (y0..h).step_by(s.h).enumerate() {
                        f((c * h + y) * w, x0, s.w, (plane + py0 + k) * phase.w + px0);
                    }
                }
            }
        }
    }
}

/// Writes the patch matrix of image `x` (`[channels, h, w]`, row-major) into `col`, row `r`
/// starting at `col[r * ld]` (only its first [`Patches::cols`] values are written: the caller
/// may put several images side by side). Taps that fall into the padding read 0. `staged` is
/// scratch space for the padded phases.
pub(crate) fn im2col(p: &Patches, x: &[f32], col: &mut [f32], ld: usize, staged: &mut Vec<f32>) {
    debug_assert!(
        x.len() == p.channels * p.input.h * p.input.w && col.len() >= (p.rows() - 1) * ld + p.cols()
    );
    let (len, cols) = (p.wide_len(), p.cols());
    vectorized(
        #[inline(always)]
        || {
            let src = if p.in_place() {
                x
            } else {
                stage(p, x, staged);
                &staged[..]
            };
            p.for_each_tap(|r, start| {
                let dst = &mut col[r * ld..][..cols];
                dst[..len].copy_from_slice(&src[start..start + len]);
                dst[len..].fill(0.0);
            })
        },
    );
}

/// The adjoint of [`im2col`]: overwrites `dx` (`[channels, h, w]`) with the sum, for each input
/// value, of the matrix entries that were copied from it. Entries that read padding are dropped,
/// and so are the columns past each row's output width, which the caller must have zeroed
/// (they alias the next row's values).
pub(crate) fn col2im(p: &Patches, col: &[f32], ld: usize, dx: &mut [f32], staged: &mut Vec<f32>) {
    debug_assert!(
        dx.len() == p.channels * p.input.h * p.input.w && col.len() >= (p.rows() - 1) * ld + p.cols()
    );
    let len = p.wide_len();
    vectorized(
        #[inline(always)]
        || {
            let acc: &mut [f32] = if p.in_place() {
                dx.fill(0.0);
                &mut *dx
            } else {
                staged.clear();
                staged.resize(p.staged_shape().iter().product(), 0.0);
                &mut staged[..]
            };
            p.for_each_tap(|r, start| {
                for (d, &v) in acc[start..start + len].iter_mut().zip(&col[r * ld..][..len]) {
                    *d += v;
                }
            });
            if !p.in_place() {
                // The pixels of phases no tap reads get no gradient.
                if p.window.stride != Size2::from(1) {
                    dx.fill(0.0);
                }
                p.for_each_image_row(|src, first, step, dst| {
                    let (row, from) = (&mut dx[src..][..p.input.w], &staged[dst..]);
                    if step == 1 {
                        row.copy_from_slice(&from[..row.len()]);
                    } else {
                        for (d, &v) in row.iter_mut().skip(first).step_by(step).zip(from) {
                            *d = v;
                        }
                    }
                });
            }
        },
    );
}

/// Copies `x` into `staged`, padded and split into its phases (zeros where no pixel lands).
#[inline(always)]
fn stage(p: &Patches, x: &[f32], staged: &mut Vec<f32>) {
    staged.clear();
    staged.resize(p.staged_shape().iter().product(), 0.0);
    let w = p.input.w;
    p.for_each_image_row(|src, first, step, dst| {
        let row = &x[src..][..w];
        if step == 1 {
            staged[dst..][..w].copy_from_slice(row);
        } else {
            for (d, &v) in staged[dst..].iter_mut().zip(row.iter().skip(first).step_by(step)) {
                *d = v;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The patch matrix by its definition, one entry at a time.
    fn naive(p: &Patches, x: &[f32]) -> Vec<f32> {
        let win = &p.window;
        let mut out = Vec::new();
        for c in 0..p.channels {
            for i in 0..win.kernel.h {
                for j in 0..win.kernel.w {
                    for oy in 0..p.output.h {
                        for ox in 0..p.output.w {
                            let y =
                                (oy * win.stride.h + i * win.dilation.h) as isize - win.padding.h as isize;
                            let xx =
                                (ox * win.stride.w + j * win.dilation.w) as isize - win.padding.w as isize;
                            let inside =
                                (0..p.input.h as isize).contains(&y) && (0..p.input.w as isize).contains(&xx);
                            out.push(if inside {
                                x[(c * p.input.h + y as usize) * p.input.w + xx as usize]
                            } else {
                                0.0
                            });
                        }
                    }
                }
            }
        }
        out
    }

    fn cases() -> Vec<Patches> {
        let mut cases = Vec::new();
        for (k, s, pad, d, h, w) in [
            ((3, 3), (1, 1), (0, 0), (1, 1), 5, 6),
            ((3, 2), (2, 2), (1, 1), (1, 1), 7, 6),
            ((3, 3), (1, 1), (2, 2), (2, 2), 5, 5),
            ((2, 3), (3, 2), (0, 2), (1, 2), 8, 5),
            ((1, 1), (1, 1), (0, 0), (1, 1), 3, 4),
            // Workload R's strided convolutions: 3x3 stride 2 padded by 1, 1x1 stride 2.
            ((3, 3), (2, 2), (1, 1), (1, 1), 8, 8),
            ((1, 1), (2, 2), (0, 0), (1, 1), 8, 8),
            // Phases no tap reads (stride 3 over a 1x1 kernel), dilation beside a stride, and
            // padding wider than the image on one side.
            ((1, 1), (3, 3), (1, 0), (1, 1), 7, 8),
            ((3, 2), (2, 3), (2, 1), (2, 3), 9, 10),
            ((1, 5), (2, 1), (0, 2), (1, 1), 4, 1),
        ] {
            let window = Window {
                kernel: k.into(),
                stride: s.into(),
                padding: pad.into(),
                dilation: d.into(),
            };
            let input = Size2::from((h, w));
            let output = window.output(h, w).unwrap();
            cases.push(Patches {
                channels: 2,
                input,
                output,
                window,
            });
        }
        cases
    }

    /// The real output columns of `col` (one image, leading dimension `cols`), in the compact
    /// layout of [`naive`].
    fn compact(p: &Patches, col: &[f32]) -> Vec<f32> {
        let mut out = Vec::new();
        for r in 0..p.rows() {
            for oy in 0..p.output.h {
                out.extend_from_slice(&col[r * p.cols() + oy * p.pitch()..][..p.output.w]);
            }
        }
        out
    }

    /// A matrix with `value(i)` in the real columns and 0 in the columns a wide matrix drops.
    fn matrix(p: &Patches, value: impl Fn(usize) -> f32) -> Vec<f32> {
        (0..p.rows() * p.cols())
            .map(|i| if i % p.pitch() < p.output.w { value(i) } else { 0.0 })
            .collect()
    }

    #[test]
    fn im2col_matches_the_definition() {
        for p in cases() {
            let x: Vec<f32> = (0..p.channels * p.input.h * p.input.w)
                .map(|v| v as f32 + 1.0)
                .collect();
            let mut col = vec![f32::NAN; p.rows() * p.cols()];
            im2col(&p, &x, &mut col, p.cols(), &mut Vec::new());
            assert_eq!(compact(&p, &col), naive(&p, &x), "{p:?}");
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for all x and c: col2im is im2col's transpose.
        for p in cases() {
            let x: Vec<f32> = (0..p.channels * p.input.h * p.input.w)
                .map(|v| (v % 7) as f32 - 3.0)
                .collect();
            let c = matrix(&p, |v| (v % 5) as f32 - 2.0);
            let mut col = vec![0.0; c.len()];
            im2col(&p, &x, &mut col, p.cols(), &mut Vec::new());
            let mut dx = vec![f32::NAN; x.len()];
            col2im(&p, &c, p.cols(), &mut dx, &mut vec![f32::NAN; 3]);
            let left: f32 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
            let right: f32 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
            assert_eq!(left, right, "{p:?}");
        }
    }

    #[test]
    fn rows_of_outputs_are_as_wide_as_a_phase() {
        let in_place: Vec<bool> = cases().iter().map(|p| p.in_place()).collect();
        assert_eq!(
            in_place,
            [true, false, false, false, true, false, false, false, false, false]
        );
        let p = cases()[2]; // 5x5 padded by 2, stride 1: rows of 9 columns, 5 of them outputs
        assert_eq!((p.pitch(), p.cols(), p.output.w), (9, 45, 5));
        let p = cases()[5]; // 8x8 padded by 1, stride 2: phases of 5x5, rows of 4 outputs
        assert_eq!((p.phase(), p.cols(), p.output.w), (Size2::from(5), 20, 4));
        assert_eq!(p.staged_shape(), [2, 2, 2, 5, 5]);
    }

    #[test]
    fn images_side_by_side_use_the_leading_dimension() {
        for p in [cases()[1], cases()[2]] {
            let x: Vec<f32> = (0..p.channels * p.input.h * p.input.w)
                .map(|v| v as f32)
                .collect();
            let ld = 3 * p.cols();
            let mut col = vec![-1.0; p.rows() * ld];
            im2col(&p, &x, &mut col[p.cols()..], ld, &mut Vec::new());
            let mut alone = vec![0.0; p.rows() * p.cols()];
            im2col(&p, &x, &mut alone, p.cols(), &mut Vec::new());
            for r in 0..p.rows() {
                assert_eq!(
                    &col[r * ld + p.cols()..][..p.cols()],
                    &alone[r * p.cols()..][..p.cols()]
                );
                assert!(col[r * ld..][..p.cols()].iter().all(|&v| v == -1.0));
            }
        }
    }
}
