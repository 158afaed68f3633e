//! im2col and col2im: unfold an image's sliding windows into the rows of a matrix, so that a
//! convolution becomes a matrix product, and fold such a matrix back onto the image.
//!
//! The matrix has one row per tap `(c, i, j)` (channel, kernel row, kernel column: the order of
//! a PyTorch weight's `[in, kh, kw]` axes) and one column per output position `(oy, ox)`, so a
//! weight `[out, in * kh * kw]` times it is the output `[out, oh * ow]` of one image in NCHW
//! order. For a stride of 1 every row is a run of contiguous copies out of the image.

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

    /// Columns of the matrix: one per output position.
    pub fn cols(&self) -> usize {
        self.output.h * self.output.w
    }

    /// Calls `f(c, i, j, oy, row)` for every tap `(c, i, j)` and output row `oy`, with `row` the
    /// input row the tap reads there, or `None` where it reads padding.
    #[inline(always)]
    fn for_each_row(&self, mut f: impl FnMut(usize, usize, usize, usize, Option<usize>)) {
        let win = &self.window;
        for c in 0..self.channels {
            for i in 0..win.kernel.h {
                let tap = i * win.dilation.h;
                let (lo, hi) = Window::valid(self.output.h, self.input.h, win.stride.h, tap, win.padding.h);
                for j in 0..win.kernel.w {
                    for oy in 0..self.output.h {
                        let row = (lo..hi)
                            .contains(&oy)
                            .then(|| oy * win.stride.h + tap - win.padding.h);
                        f(c, i, j, oy, row);
                    }
                }
            }
        }
    }
}

/// Writes the patch matrix of image `x` (`[channels, h, w]`, row-major) into `col`, row `r`
/// starting at `col[r * ld]` (only its first [`Patches::cols`] values are written: the caller
/// may put several images side by side). Taps that fall into the padding read 0.
pub(crate) fn im2col(p: &Patches, x: &[f32], col: &mut [f32], ld: usize) {
    let (h, w) = (p.input.h, p.input.w);
    let (oh, ow) = (p.output.h, p.output.w);
    let (kh, kw) = (p.window.kernel.h, p.window.kernel.w);
    let (sw, dw, pw) = (p.window.stride.w, p.window.dilation.w, p.window.padding.w);
    debug_assert!(x.len() == p.channels * h * w && col.len() >= (p.rows() - 1) * ld + oh * ow);
    let start = |c: usize, i: usize, j: usize, oy: usize| ((c * kh + i) * kw + j) * ld + oy * ow;
    vectorized(
        #[inline(always)]
        || {
            p.for_each_row(|c, i, j, oy, row| {
                let dst = &mut col[start(c, i, j, oy)..][..ow];
                let Some(row) = row else {
                    dst.fill(0.0);
                    return;
                };
                let src = &x[(c * h + row) * w..][..w];
                let tap = j * dw;
                let (lo, hi) = Window::valid(ow, w, sw, tap, pw);
                dst[..lo].fill(0.0);
                dst[hi..].fill(0.0);
                if sw == 1 {
                    dst[lo..hi].copy_from_slice(&src[lo + tap - pw..hi + tap - pw]);
                } else {
                    for (ox, d) in (lo..hi).zip(&mut dst[lo..hi]) {
                        *d = src[ox * sw + tap - pw];
                    }
                }
            })
        },
    );
}

/// The adjoint of [`im2col`]: overwrites `dx` (`[channels, h, w]`) with the sum, for each input
/// value, of the matrix entries that were copied from it. Entries that read padding are dropped.
pub(crate) fn col2im(p: &Patches, col: &[f32], ld: usize, dx: &mut [f32]) {
    let (h, w) = (p.input.h, p.input.w);
    let (oh, ow) = (p.output.h, p.output.w);
    let (kh, kw) = (p.window.kernel.h, p.window.kernel.w);
    let (sw, dw, pw) = (p.window.stride.w, p.window.dilation.w, p.window.padding.w);
    debug_assert!(dx.len() == p.channels * h * w && col.len() >= (p.rows() - 1) * ld + oh * ow);
    let start = |c: usize, i: usize, j: usize, oy: usize| ((c * kh + i) * kw + j) * ld + oy * ow;
    vectorized(
        #[inline(always)]
        || {
            dx.fill(0.0);
            p.for_each_row(|c, i, j, oy, row| {
                let Some(row) = row else { return };
                let src = &col[start(c, i, j, oy)..][..ow];
                let dst = &mut dx[(c * h + row) * w..][..w];
                let tap = j * dw;
                let (lo, hi) = Window::valid(ow, w, sw, tap, pw);
                if sw == 1 {
                    for (d, &s) in dst[lo + tap - pw..hi + tap - pw].iter_mut().zip(&src[lo..hi]) {
                        *d += s;
                    }
                } else {
                    for (ox, &s) in (lo..hi).zip(&src[lo..hi]) {
                        dst[ox * sw + tap - pw] += s;
                    }
                }
            })
        },
    );
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

    #[test]
    fn im2col_matches_the_definition() {
        for p in cases() {
            let x: Vec<f32> = (0..p.channels * p.input.h * p.input.w)
                .map(|v| v as f32 + 1.0)
                .collect();
            let mut col = vec![f32::NAN; p.rows() * p.cols()];
            im2col(&p, &x, &mut col, p.cols());
            assert_eq!(col, naive(&p, &x), "{p:?}");
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for all x and c: col2im is im2col's transpose.
        for p in cases() {
            let x: Vec<f32> = (0..p.channels * p.input.h * p.input.w)
                .map(|v| (v % 7) as f32 - 3.0)
                .collect();
            let c: Vec<f32> = (0..p.rows() * p.cols()).map(|v| (v % 5) as f32 - 2.0).collect();
            let mut col = vec![0.0; c.len()];
            im2col(&p, &x, &mut col, p.cols());
            let mut dx = vec![f32::NAN; x.len()];
            col2im(&p, &c, p.cols(), &mut dx);
            let left: f32 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
            let right: f32 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
            assert_eq!(left, right, "{p:?}");
        }
    }

    #[test]
    fn images_side_by_side_use_the_leading_dimension() {
        let p = cases()[1];
        let x: Vec<f32> = (0..p.channels * p.input.h * p.input.w)
            .map(|v| v as f32)
            .collect();
        let ld = 3 * p.cols();
        let mut col = vec![-1.0; p.rows() * ld];
        im2col(&p, &x, &mut col[p.cols()..], ld);
        let alone = naive(&p, &x);
        for r in 0..p.rows() {
            assert_eq!(
                &col[r * ld + p.cols()..][..p.cols()],
                &alone[r * p.cols()..][..p.cols()]
            );
            assert!(col[r * ld..][..p.cols()].iter().all(|&v| v == -1.0));
        }
    }
}
