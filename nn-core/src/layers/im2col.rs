//! im2col and col2im: unfold an image's sliding windows into the rows of a matrix, so that a
//! convolution becomes a matrix product, and fold such a matrix back onto the image.
//!
//! The matrix has one row per tap `(c, i, j)` (channel, kernel row, kernel column: the order of
//! a PyTorch weight's `[in, kh, kw]` axes) and one column per output position, so a weight
//! `[out, in * kh * kw]` times it is one image's output `[out, positions]` in NCHW order.
//!
//! With stride 1 the matrix is *wide*: its rows of output positions are as wide as the (padded)
//! input, `OH * Wp` columns of which only `ox < OW` in each row are real outputs. Then each
//! tap's row is one contiguous run of the padded image, so unfolding is one copy per tap (not one
//! per tap and output row, which for 11-pixel rows costs more than the matrix product); the
//! product spends `Wp / OW - 1` more work on the columns the caller drops. Other strides use
//! the compact matrix, `OH * OW` columns, copied row by row.

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

    /// Whether the matrix is wide (stride 1; see the module documentation).
    pub fn wide(&self) -> bool {
        self.window.stride == Size2::from(1)
    }

    /// The padded input's height and width.
    pub fn padded(&self) -> Size2 {
        let pad = self.window.padding;
        Size2 {
            h: self.input.h + 2 * pad.h,
            w: self.input.w + 2 * pad.w,
        }
    }

    /// Columns between the starts of two rows of output positions: the padded input width for
    /// a wide matrix, the output width otherwise.
    pub fn pitch(&self) -> usize {
        if self.wide() {
            self.padded().w
        } else {
            self.output.w
        }
    }

    /// Columns of one image's matrix: `OH` rows of output positions, [`Patches::pitch`] apart.
    pub fn cols(&self) -> usize {
        self.output.h * self.pitch()
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

    /// For each tap `(c, i, j)` of a wide matrix, in row order: `f(row, start)`, the tap's row
    /// reading the padded image's values `start..start + len` (channel planes one after the
    /// other), with `len` = [`Patches::wide_len`].
    #[inline(always)]
    fn for_each_wide_tap(&self, mut f: impl FnMut(usize, usize)) {
        let (win, padded) = (&self.window, self.padded());
        let mut row = 0;
        for c in 0..self.channels {
            for i in 0..win.kernel.h {
                for j in 0..win.kernel.w {
                    f(
                        row,
                        (c * padded.h + i * win.dilation.h) * padded.w + j * win.dilation.w,
                    );
                    row += 1;
                }
            }
        }
    }

    /// The columns of a wide row that read the image (the rest of the last output row would run
    /// past the plane).
    fn wide_len(&self) -> usize {
        (self.output.h - 1) * self.pitch() + self.output.w
    }
}

/// Writes the patch matrix of image `x` (`[channels, h, w]`, row-major) into `col`, row `r`
/// starting at `col[r * ld]` (only its first [`Patches::cols`] values are written: the caller
/// may put several images side by side). Taps that fall into the padding read 0. `padded` is
/// scratch space for a wide matrix with padding.
pub(crate) fn im2col(p: &Patches, x: &[f32], col: &mut [f32], ld: usize, padded: &mut Vec<f32>) {
    debug_assert!(
        x.len() == p.channels * p.input.h * p.input.w && col.len() >= (p.rows() - 1) * ld + p.cols()
    );
    if !p.wide() {
        return im2col_strided(p, x, col, ld);
    }
    let src = if p.window.padding == Size2::from(0) {
        x
    } else {
        pad(p, x, padded);
        &padded[..]
    };
    let (len, cols) = (p.wide_len(), p.cols());
    vectorized(
        #[inline(always)]
        || {
            p.for_each_wide_tap(|r, start| {
                let dst = &mut col[r * ld..][..cols];
                dst[..len].copy_from_slice(&src[start..start + len]);
                dst[len..].fill(0.0);
            })
        },
    );
}

/// The adjoint of [`im2col`]: overwrites `dx` (`[channels, h, w]`) with the sum, for each input
/// value, of the matrix entries that were copied from it. Entries that read padding are dropped,
/// and so are the columns of a wide matrix past each row's output width, which the caller
/// must have zeroed (they alias the next row's values).
pub(crate) fn col2im(p: &Patches, col: &[f32], ld: usize, dx: &mut [f32], padded: &mut Vec<f32>) {
    debug_assert!(
        dx.len() == p.channels * p.input.h * p.input.w && col.len() >= (p.rows() - 1) * ld + p.cols()
    );
    if !p.wide() {
        return col2im_strided(p, col, ld, dx);
    }
    let no_padding = p.window.padding == Size2::from(0);
    let len = p.wide_len();
    vectorized(
        #[inline(always)]
        || {
            let acc: &mut [f32] = if no_padding {
                dx.fill(0.0);
                &mut *dx
            } else {
                padded.clear();
                padded.resize(p.channels * p.padded().h * p.padded().w, 0.0);
                &mut padded[..]
            };
            p.for_each_wide_tap(|r, start| {
                for (d, &v) in acc[start..start + len].iter_mut().zip(&col[r * ld..][..len]) {
                    *d += v;
                }
            });
            if !no_padding {
                unpad(p, padded, dx);
            }
        },
    );
}

/// Copies `x` into the middle of `padded` (`[channels, h + 2 ph, w + 2 pw]`), zeros around.
fn pad(p: &Patches, x: &[f32], padded: &mut Vec<f32>) {
    let (pp, pad, w) = (p.padded(), p.window.padding, p.input.w);
    padded.clear();
    padded.resize(p.channels * pp.h * pp.w, 0.0);
    for (dst, src) in padded
        .chunks_exact_mut(pp.h * pp.w)
        .zip(x.chunks_exact(p.input.h * w))
    {
        for (y, row) in src.chunks_exact(w).enumerate() {
            dst[(y + pad.h) * pp.w + pad.w..][..w].copy_from_slice(row);
        }
    }
}

/// The inverse of [`pad`]: the middle of `padded` into `dx`.
fn unpad(p: &Patches, padded: &[f32], dx: &mut [f32]) {
    let (pp, pad, w) = (p.padded(), p.window.padding, p.input.w);
    for (src, dst) in padded
        .chunks_exact(pp.h * pp.w)
        .zip(dx.chunks_exact_mut(p.input.h * w))
    {
        for (y, row) in dst.chunks_exact_mut(w).enumerate() {
            row.copy_from_slice(&src[(y + pad.h) * pp.w + pad.w..][..w]);
        }
    }
}

/// [`im2col`] for a compact matrix (stride above 1): one copy per tap and output row.
fn im2col_strided(p: &Patches, x: &[f32], col: &mut [f32], ld: usize) {
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
                // No position of this row reads the image: `lo + tap - pw` may be negative.
                if lo == hi {
                    return;
                }
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

/// [`col2im`] for a compact matrix.
fn col2im_strided(p: &Patches, col: &[f32], ld: usize, dx: &mut [f32]) {
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
                if lo == hi {
                    return;
                }
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
    fn stride_1_gives_a_wide_matrix_and_other_strides_a_compact_one() {
        let wide: Vec<bool> = cases().iter().map(|p| p.wide()).collect();
        assert_eq!(wide, [true, false, true, false, true]);
        let p = cases()[2]; // 5x5 padded by 2: rows of 9 columns, 5 of them outputs
        assert_eq!((p.pitch(), p.cols()), (9, 45));
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
