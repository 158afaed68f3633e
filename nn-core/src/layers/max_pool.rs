//! Max pooling ([`MaxPool2d`]): keeps each window's winning tap for backward, ties to the first
//! maximum and NaN winning, as in PyTorch.

use super::max_pool_2x2;
use super::nchw::{check_images, recycle, Size2, Window};
use super::pool::{for_each_window, for_planes, pool_window, Idx, Planes};
use crate::layer::{contiguous, InputGrad, Saved, TrainingPlan};
use crate::layer::{Layer, Mode};
use crate::linalg::vectorized;
use crate::pages;
use crate::tensor::Tensor;

/// Whether the window is 2x2 moving by 2 without padding, the common case with loops of its own.
fn two_by_two(win: &Window) -> bool {
    let two = Size2::from(2);
    win.kernel == two && win.stride == two && win.padding == Size2::from(0)
}

/// Max pooling of the planes of `p.a` (`input` sized) into `p.b`, recording the winning tap of
/// each window (`ky * kw + kx`) into `p.idx` if it is `Write`.
#[inline(always)]
fn max_forward(win: &Window, input: Size2, out: Size2, p: Planes<'_>) {
    let (w, plane, out_plane) = (input.w, input.h * input.w, out.h * out.w);
    let mut idx = match p.idx {
        Idx::Write(i) => Some(i),
        _ => None,
    };
    let kw = win.kernel.w;
    for (i, (xp, yp)) in
        p.a.chunks_exact(plane)
            .zip(p.b.chunks_exact_mut(out_plane))
            .enumerate()
    {
        let mut ap = idx.as_deref_mut().map(|a| &mut a[i * out_plane..][..out_plane]);
        if two_by_two(win) {
            for (oy, yr) in yp.chunks_exact_mut(out.w).enumerate() {
                let (top, bottom) = (&xp[2 * oy * w..][..w], &xp[(2 * oy + 1) * w..][..w]);
                let taps = ap.as_deref_mut().map(|a| &mut a[oy * out.w..][..out.w]);
                max_pool_2x2::forward_row(top, bottom, yr, taps);
            }
            continue;
        }
        for_each_window(win, input.h, w, out, |o, (y0, y1), (x0, x1)| {
            // Taps count from the unclipped window's corner, so backward can place them.
            let (oy, ox) = (o / out.w, o % out.w);
            let (ty, tx) = (oy * win.stride.h, ox * win.stride.w);
            let (mut best, mut at) = (
                f32::NEG_INFINITY,
                (y0 + win.padding.h - ty) * kw + x0 + win.padding.w - tx,
            );
            for r in y0..y1 {
                for (c, &v) in (x0..x1).zip(&xp[r * w + x0..r * w + x1]) {
                    if v > best || v.is_nan() {
                        (best, at) = (v, (r + win.padding.h - ty) * kw + c + win.padding.w - tx);
                    }
                }
            }
            yp[o] = best;
            if let Some(a) = ap.as_deref_mut() {
                a[o] = at as u16;
            }
        });
    }
}

/// The input gradient of max pooling: each output gradient to its window's winning tap.
/// Windows that tile the image (stride = kernel) write every position once, winner or zero,
/// with no separate zeroing pass; overlapping or spaced windows zero `dx` and add.
#[inline(always)]
fn max_backward(win: &Window, input: Size2, out: Size2, p: Planes<'_>) {
    let Idx::Read(idx) = p.idx else {
        unreachable!("backward reads the argmax")
    };
    let (h, w, out_plane) = (input.h, input.w, out.h * out.w);
    let (kh, kw) = (win.kernel.h, win.kernel.w);
    let (ph, pw) = (win.padding.h, win.padding.w);
    let tiled = win.stride == win.kernel;
    let planes = p.a.chunks_exact_mut(h * w).zip(p.b.chunks_exact(out_plane));
    for ((dp, gp), ap) in planes.zip(idx.chunks_exact(out_plane)) {
        if two_by_two(win) {
            for (oy, (gr, ar)) in gp.chunks_exact(out.w).zip(ap.chunks_exact(out.w)).enumerate() {
                let (d0, d1) = dp[2 * oy * w..][..2 * w].split_at_mut(w);
                max_pool_2x2::backward_row(gr, ar, d0, d1);
                // An odd width leaves a last column no window covers.
                d0[2 * out.w..].fill(0.0);
                d1[2 * out.w..].fill(0.0);
            }
            dp[2 * out.h * w..].fill(0.0);
            continue;
        }
        if tiled {
            // Positions past the last window (floor rule) are in none.
            let (covered_h, covered_w) = (
                (out.h * kh).saturating_sub(ph).min(h),
                (out.w * kw).saturating_sub(pw).min(w),
            );
            for row in dp.chunks_exact_mut(w) {
                row[covered_w..].fill(0.0);
            }
            dp[covered_h * w..].fill(0.0);
            for_each_window(win, h, w, out, |o, (y0, y1), (x0, x1)| {
                let (ty, tx) = ((o / out.w) * kh, (o % out.w) * kw);
                let (g, k) = (gp[o], usize::from(ap[o]));
                for r in y0..y1 {
                    for (c, d) in (x0..x1).zip(&mut dp[r * w + x0..r * w + x1]) {
                        *d = if (r + ph - ty) * kw + c + pw - tx == k {
                            g
                        } else {
                            0.0
                        };
                    }
                }
            });
            continue;
        }
        dp.fill(0.0);
        for (o, (&g, &k)) in gp.iter().zip(ap).enumerate() {
            let (k, oy, ox) = (usize::from(k), o / out.w, o % out.w);
            let r = oy * win.stride.h + k / kw - ph;
            let c = ox * win.stride.w + k % kw - pw;
            dp[r * w + c] += g;
        }
    }
}

/// Max pooling over `kernel` windows (stride defaults to the kernel), with optional
/// implicit `-inf` padding. In training it keeps the position of each window's maximum, so a
/// stride smaller than the kernel (overlapping windows) trains correctly: backward adds each
/// gradient to the position that won. Ties go to the first maximum in row-major order and a NaN
/// wins, as in PyTorch.
///
/// ```
/// use nn_core::{layers::MaxPool2d, Layer, Mode, Tensor};
/// let mut pool = MaxPool2d::new(2);
/// let y = pool.forward(Tensor::zeros(vec![8, 32, 26, 26]), Mode::Eval);
/// assert_eq!(y.shape(), &[8, 32, 13, 13]);
/// ```
#[derive(Clone, Debug)]
pub struct MaxPool2d {
    window: Window,
    /// Per output value, the winning tap of its window (`ky * kw + kx`).
    argmax: Saved<u16>,
    input_shape: [usize; 4],
    /// The last Train forward's input buffer, reused for the input gradient.
    spare_input: Option<Tensor>,
    /// The gradient buffer backward received, recycled as the next output.
    spare: Option<Tensor>,
    input_grad: InputGrad,
}

impl MaxPool2d {
    /// Max pooling with a `kernel` (`2` or `(2, 3)`) moving by the kernel, no padding.
    pub fn new(kernel: impl Into<Size2>) -> Self {
        let kernel = kernel.into();
        MaxPool2d {
            window: pool_window("MaxPool2d", kernel, kernel, 0.into()),
            argmax: Saved::default(),
            input_shape: [0; 4],
            spare_input: None,
            spare: None,
            input_grad: InputGrad::default(),
        }
    }

    /// Sets the step between windows.
    pub fn with_stride(mut self, stride: impl Into<Size2>) -> Self {
        self.window = pool_window(
            "MaxPool2d",
            self.window.kernel,
            stride.into(),
            self.window.padding,
        );
        self
    }

    /// Sets the implicit `-inf` padding per side (at most half the kernel).
    pub fn with_padding(mut self, padding: impl Into<Size2>) -> Self {
        self.window = pool_window(
            "MaxPool2d",
            self.window.kernel,
            self.window.stride,
            padding.into(),
        );
        self
    }

    /// The window's height and width.
    pub fn kernel_size(&self) -> Size2 {
        self.window.kernel
    }

    /// The step between windows.
    pub fn stride(&self) -> Size2 {
        self.window.stride
    }

    /// The padding per side.
    pub fn padding(&self) -> Size2 {
        self.window.padding
    }
}

impl Layer for MaxPool2d {
    #[track_caller]
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let ([n, c, h, w], out) = check_images(&x, None, Some(&self.window), MaxName(&self.window));
        let mut x = contiguous(x);
        let mut y = recycle(self.spare.take(), &[n, c, out.h, out.w], MaxName(&self.window));
        let argmax = (mode == Mode::Train).then(|| {
            let a = self.argmax.prepare(&[n, c, out.h, out.w]);
            a.as_slice_mut().expect("a stash is standard layout")
        });
        let win = self.window;
        let (xs, ys) = (
            x.as_slice_mut().expect("standard"),
            y.as_slice_mut().expect("standard"),
        );
        let idx = argmax.map_or(Idx::None, Idx::Write);
        for_planes(xs, h * w, ys, out.h * out.w, idx, |planes| {
            vectorized(
                #[inline(always)]
                || max_forward(&win, Size2 { h, w }, out, planes),
            )
        });
        if mode == Mode::Train {
            self.input_shape = [n, c, h, w];
            self.spare_input = Some(x);
        } else {
            pages::give_back(x);
        }
        y
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let win = self.window;
        let argmax = self.argmax.take(grad.shape(), MaxName(&win));
        let argmax = argmax.as_slice().expect("a stash is standard layout");
        let mut grad = contiguous(grad);
        let [_, _, h, w] = self.input_shape;
        let mut dx = recycle(self.spare_input.take(), &self.input_shape, MaxName(&win));
        if !self.input_grad.0 {
            // Nothing before needs a gradient: the buffer goes back unread.
            self.spare = Some(grad);
            return dx;
        }
        let out = Size2 {
            h: grad.shape()[2],
            w: grad.shape()[3],
        };
        let (gs, ds) = (
            grad.as_slice_mut().expect("standard"),
            dx.as_slice_mut().expect("standard"),
        );
        for_planes(ds, h * w, gs, out.h * out.w, Idx::Read(argmax), |p| {
            vectorized(
                #[inline(always)]
                || max_backward(&win, Size2 { h, w }, out, p),
            )
        });
        self.spare = Some(grad);
        dx
    }

    fn prepare(&mut self, plan: &mut TrainingPlan<'_>) {
        self.input_grad = InputGrad(plan.input_grad());
    }

    fn type_name(&self) -> String {
        MaxName(&self.window).to_string()
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// The layer's type name for a panic, formatted only if one happens.
struct MaxName<'a>(&'a Window);

impl std::fmt::Display for MaxName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MaxPool2d({}{})",
            self.0.kernel,
            self.0.describe(self.0.kernel)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::GradCheck;
    use crate::layers::pool::tests::{distinct, t};

    #[test]
    fn max_pool_picks_each_window_maximum_and_routes_the_gradient_there() {
        let x = t(&[1, 1, 2, 4], &[1., 5., 2., 0., 3., 4., 8., 7.]);
        let mut pool = MaxPool2d::new(2);
        assert_eq!(pool.forward(x.clone(), Mode::Eval), t(&[1, 1, 1, 2], &[5., 8.]));
        assert_eq!(pool.forward(x, Mode::Train), t(&[1, 1, 1, 2], &[5., 8.]));
        let dx = pool.backward(t(&[1, 1, 1, 2], &[10., 20.]));
        assert_eq!(dx, t(&[1, 1, 2, 4], &[0., 10., 0., 0., 0., 0., 20., 0.]));
    }

    /// The 2x2 window's own loops (blocks of eight windows, the last overlapping, and rows too
    /// short for a block) against the rule scanned tap by tap, on values full of ties and NaNs.
    #[test]
    fn two_by_two_rows_of_every_width_match_the_rule() {
        for (h, w) in [(4, 2), (3, 15), (5, 16), (4, 17), (6, 26), (3, 27), (2, 50)] {
            let x = Tensor::from_shape_fn(vec![2, 3, h, w], |i| {
                match (i[0] * 7 + i[1] * 5 + i[2] * 11 + i[3] * 3) % 7 {
                    6 => f32::NAN,
                    k => (k % 3) as f32,
                }
            });
            let (oh, ow) = (h / 2, w / 2);
            let g = Tensor::from_shape_fn(vec![2, 3, oh, ow], |i| {
                (1 + i[1] * 1000 + i[2] * 50 + i[3]) as f32
            });
            let mut pool = MaxPool2d::new(2);
            let y = pool.forward(x.clone(), Mode::Train);
            let dx = pool.backward(g.clone());
            let mut want_dx = Tensor::zeros(x.shape());
            for (i, &got) in y.indexed_iter() {
                let (n, c, oy, ox) = (i[0], i[1], i[2], i[3]);
                let (mut best, mut at) = (f32::NEG_INFINITY, (2 * oy, 2 * ox));
                for (r, col) in [
                    (2 * oy, 2 * ox),
                    (2 * oy, 2 * ox + 1),
                    (2 * oy + 1, 2 * ox),
                    (2 * oy + 1, 2 * ox + 1),
                ] {
                    let v = x[[n, c, r, col]];
                    if v > best || v.is_nan() {
                        (best, at) = (v, (r, col));
                    }
                }
                assert_eq!(got.to_bits(), best.to_bits(), "{h}x{w} at {i:?}");
                want_dx[[n, c, at.0, at.1]] = g[[n, c, oy, ox]];
            }
            assert_eq!(dx, want_dx, "{h}x{w}");
        }
    }

    #[test]
    fn max_pool_ties_go_to_the_first_maximum_and_nan_wins() {
        let mut pool = MaxPool2d::new(2);
        pool.forward(t(&[1, 1, 2, 2], &[3., 3., 3., 3.]), Mode::Train);
        assert_eq!(
            pool.backward(t(&[1, 1, 1, 1], &[1.])),
            t(&[1, 1, 2, 2], &[1., 0., 0., 0.])
        );
        let y = pool.forward(t(&[1, 1, 2, 2], &[1., f32::NAN, 9., 2.]), Mode::Train);
        assert!(y[[0, 0, 0, 0]].is_nan());
        assert_eq!(
            pool.backward(t(&[1, 1, 1, 1], &[1.])),
            t(&[1, 1, 2, 2], &[0., 1., 0., 0.])
        );
    }

    #[test]
    fn overlapping_windows_add_their_gradients() {
        // Kernel 3, stride 1: the centre 9 wins all four windows of a 4x4 plane.
        let mut x = vec![0.0; 16];
        x[5] = 9.0;
        let mut pool = MaxPool2d::new(3).with_stride(1);
        let y = pool.forward(t(&[1, 1, 4, 4], &x), Mode::Train);
        assert_eq!(y, t(&[1, 1, 2, 2], &[9.; 4]));
        let dx = pool.backward(t(&[1, 1, 2, 2], &[1., 2., 3., 4.]));
        assert_eq!(dx[[0, 0, 1, 1]], 10.0);
        assert_eq!(dx.sum(), 10.0);
    }

    #[test]
    fn max_pool_padding_is_minus_infinity() {
        let x = t(&[1, 1, 2, 2], &[-1., -2., -3., -4.]);
        let mut pool = MaxPool2d::new(2).with_padding(1);
        let y = pool.forward(x, Mode::Eval);
        assert_eq!(y, t(&[1, 1, 2, 2], &[-1., -2., -3., -4.]));
        assert_eq!(pool.type_name(), "MaxPool2d(2x2, padding 1)");
    }

    #[test]
    fn max_pool_passes_gradcheck_in_several_configurations() {
        for (pool, shape) in [
            (MaxPool2d::new(2), [2, 3, 4, 6]),
            (MaxPool2d::new(3).with_stride(2).with_padding(1), [1, 2, 7, 5]),
            (MaxPool2d::new((2, 3)).with_stride(1), [2, 1, 5, 5]),
            (MaxPool2d::new(2), [1, 1, 5, 7]),
            (MaxPool2d::new(2).with_padding(1), [2, 1, 5, 6]),
            (MaxPool2d::new((3, 2)), [1, 2, 7, 5]),
            (MaxPool2d::new(2).with_stride(3), [1, 2, 7, 8]),
        ] {
            let mut pool = pool;
            let report = GradCheck::default().check_input(&mut pool, distinct(&shape));
            assert!(report.passed(), "{}: {report}", pool.type_name());
        }
    }

    #[test]
    fn buffers_are_recycled_between_steps() {
        let mut pool = MaxPool2d::new(2);
        let x = distinct(&[2, 2, 4, 4]);
        let x_ptr = x.as_ptr();
        let y = pool.forward(x, Mode::Train);
        let g_ptr = y.as_ptr();
        let dx = pool.backward(y);
        assert_eq!(dx.as_ptr(), x_ptr);
        assert_eq!(pool.forward(dx, Mode::Train).as_ptr(), g_ptr);
    }
}
