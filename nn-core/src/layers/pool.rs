//! Pooling over image planes: [`MaxPool2d`] (keeps the argmax), [`AvgPool2d`] and
//! [`GlobalAvgPool2d`], with PyTorch's output sizes, tie and padding rules.

use super::nchw::{check_images, recycle, sum_map, Size2, Window};
use super::{no_train_forward, standard, wrong_grad_shape, Stash};
use crate::layer::{layer_panic, Layer, Mode};
use crate::linalg::vectorized;
use crate::tensor::Tensor;

/// The input rows (or columns) under output position `o`'s window, clipped to the image. Never
/// empty: padding is at most half the kernel.
#[inline(always)]
fn span(o: usize, kernel: usize, stride: usize, padding: usize, size: usize) -> (usize, usize) {
    let start = o * stride;
    (
        start.max(padding) - padding,
        (start + kernel).min(size + padding) - padding,
    )
}

/// Checks a pooling window's options, as PyTorch does: everything at least 1 (padding 0) and
/// padding at most half the kernel, so that every window covers part of the image.
fn pool_window(what: &str, kernel: Size2, stride: Size2, padding: Size2) -> Window {
    assert!(
        kernel.h > 0 && kernel.w > 0 && stride.h > 0 && stride.w > 0,
        "{what}: kernel and stride must be at least 1, got kernel {kernel}, stride {stride}"
    );
    assert!(
        2 * padding.h <= kernel.h && 2 * padding.w <= kernel.w,
        "{what}: padding must be at most half the kernel, got padding {padding} for kernel {kernel}"
    );
    let mut window = Window::new(kernel, stride);
    window.padding = padding;
    window
}

/// Walks the windows of one `[h, w]` plane: `f(o, y0..y1, x0..x1)` for output index `o`.
#[inline(always)]
fn for_each_window(
    win: &Window,
    h: usize,
    w: usize,
    out: Size2,
    mut f: impl FnMut(usize, (usize, usize), (usize, usize)),
) {
    for oy in 0..out.h {
        let rows = span(oy, win.kernel.h, win.stride.h, win.padding.h, h);
        for ox in 0..out.w {
            let cols = span(ox, win.kernel.w, win.stride.w, win.padding.w, w);
            f(oy * out.w + ox, rows, cols);
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
    /// Per output value, the index of the winning input within its plane.
    argmax: Stash<u32>,
    input_shape: [usize; 4],
    /// The last Train forward's input buffer, reused for the input gradient.
    spare_input: Option<Tensor>,
    /// The gradient buffer backward received, recycled as the next output.
    spare: Option<Tensor>,
}

impl MaxPool2d {
    /// Max pooling with a `kernel` (`2` or `(2, 3)`) moving by the kernel, no padding.
    pub fn new(kernel: impl Into<Size2>) -> Self {
        let kernel = kernel.into();
        MaxPool2d {
            window: pool_window("MaxPool2d", kernel, kernel, 0.into()),
            argmax: Stash::default(),
            input_shape: [0; 4],
            spare_input: None,
            spare: None,
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
}

impl Layer for MaxPool2d {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let ([n, c, h, w], out) = check_images(&x, None, Some(&self.window));
        let x = standard(x);
        let mut y = recycle(self.spare.take(), &[n, c, out.h, out.w]);
        let (xs, ys) = (
            x.as_slice().expect("standard"),
            y.as_slice_mut().expect("standard"),
        );
        let (plane, out_plane) = (h * w, out.h * out.w);
        let win = self.window;
        let mut argmax = (mode == Mode::Train).then(|| {
            let a = self.argmax.prepare(&[n, c, out.h, out.w]);
            a.as_slice_mut().expect("a stash is standard layout")
        });
        vectorized(
            #[inline(always)]
            || {
                for (i, (xp, yp)) in xs
                    .chunks_exact(plane)
                    .zip(ys.chunks_exact_mut(out_plane))
                    .enumerate()
                {
                    let mut ap = argmax
                        .as_deref_mut()
                        .map(|a| &mut a[i * out_plane..][..out_plane]);
                    for_each_window(&win, h, w, out, |o, (y0, y1), (x0, x1)| {
                        let (mut best, mut at) = (f32::NEG_INFINITY, y0 * w + x0);
                        for r in y0..y1 {
                            for (k, &v) in xp[r * w + x0..r * w + x1].iter().enumerate() {
                                if v > best || v.is_nan() {
                                    (best, at) = (v, r * w + x0 + k);
                                }
                            }
                        }
                        yp[o] = best;
                        if let Some(a) = ap.as_deref_mut() {
                            a[o] = at as u32;
                        }
                    });
                }
            },
        );
        if mode == Mode::Train {
            self.input_shape = [n, c, h, w];
            self.spare_input = Some(x);
        }
        y
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let win = self.window;
        let argmax = self.argmax.take(grad.shape(), || max_name(&win));
        let grad = standard(grad);
        let [_, _, h, w] = self.input_shape;
        let mut dx = recycle(self.spare_input.take(), &self.input_shape);
        let out_plane = argmax.shape()[2] * argmax.shape()[3];
        let (gs, ds) = (
            grad.as_slice().expect("standard"),
            dx.as_slice_mut().expect("standard"),
        );
        let a = argmax.as_slice().expect("a stash is standard layout");
        vectorized(
            #[inline(always)]
            || {
                ds.fill(0.0);
                for ((dp, gp), ap) in ds
                    .chunks_exact_mut(h * w)
                    .zip(gs.chunks_exact(out_plane))
                    .zip(a.chunks_exact(out_plane))
                {
                    for (&g, &at) in gp.iter().zip(ap) {
                        dp[at as usize] += g;
                    }
                }
            },
        );
        self.spare = Some(grad);
        dx
    }

    fn type_name(&self) -> String {
        max_name(&self.window)
    }
}

fn max_name(win: &Window) -> String {
    format!("MaxPool2d({}{})", win.kernel, win.describe(win.kernel))
}

/// Average pooling over `kernel` windows (stride defaults to the kernel), with optional zero
/// padding that counts in the average (PyTorch's default, `count_include_pad=True`): every
/// window divides by `kh * kw`.
///
/// ```
/// use nn_core::{layers::AvgPool2d, Layer, Mode, Tensor};
/// let mut pool = AvgPool2d::new(2);
/// let y = pool.forward(Tensor::ones(vec![1, 3, 4, 4]), Mode::Eval);
/// assert!(y.iter().all(|&v| v == 1.0) && y.shape() == [1, 3, 2, 2]);
/// ```
#[derive(Clone, Debug)]
pub struct AvgPool2d {
    window: Window,
    /// The input shape of the last Train forward, until backward takes it.
    input_shape: Option<[usize; 4]>,
    spare_input: Option<Tensor>,
    spare: Option<Tensor>,
}

impl AvgPool2d {
    /// Average pooling with a `kernel` moving by the kernel, no padding.
    pub fn new(kernel: impl Into<Size2>) -> Self {
        let kernel = kernel.into();
        AvgPool2d {
            window: pool_window("AvgPool2d", kernel, kernel, 0.into()),
            input_shape: None,
            spare_input: None,
            spare: None,
        }
    }

    /// Sets the step between windows.
    pub fn with_stride(mut self, stride: impl Into<Size2>) -> Self {
        self.window = pool_window(
            "AvgPool2d",
            self.window.kernel,
            stride.into(),
            self.window.padding,
        );
        self
    }

    /// Sets the zero padding per side (at most half the kernel); padded zeros count in averages.
    pub fn with_padding(mut self, padding: impl Into<Size2>) -> Self {
        self.window = pool_window(
            "AvgPool2d",
            self.window.kernel,
            self.window.stride,
            padding.into(),
        );
        self
    }

    fn divisor(&self) -> f32 {
        (self.window.kernel.h * self.window.kernel.w) as f32
    }
}

impl Layer for AvgPool2d {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let ([n, c, h, w], out) = check_images(&x, None, Some(&self.window));
        let x = standard(x);
        let mut y = recycle(self.spare.take(), &[n, c, out.h, out.w]);
        let (xs, ys) = (
            x.as_slice().expect("standard"),
            y.as_slice_mut().expect("standard"),
        );
        let (win, div) = (self.window, self.divisor());
        vectorized(
            #[inline(always)]
            || {
                for (xp, yp) in xs.chunks_exact(h * w).zip(ys.chunks_exact_mut(out.h * out.w)) {
                    for_each_window(&win, h, w, out, |o, (y0, y1), (x0, x1)| {
                        let mut sum = 0.0;
                        for r in y0..y1 {
                            for &v in &xp[r * w + x0..r * w + x1] {
                                sum += v;
                            }
                        }
                        yp[o] = sum / div;
                    });
                }
            },
        );
        if mode == Mode::Train {
            self.input_shape = Some([n, c, h, w]);
            self.spare_input = Some(x);
        }
        y
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let Some(shape @ [n, c, h, w]) = self.input_shape.take() else {
            no_train_forward(&self.type_name())
        };
        let out = self.window.output(h, w).expect("checked in forward");
        if grad.shape() != [n, c, out.h, out.w] {
            wrong_grad_shape(&[n, c, out.h, out.w], grad.shape());
        }
        let grad = standard(grad);
        let mut dx = recycle(self.spare_input.take(), &shape);
        let (gs, ds) = (
            grad.as_slice().expect("standard"),
            dx.as_slice_mut().expect("standard"),
        );
        let (win, div) = (self.window, self.divisor());
        vectorized(
            #[inline(always)]
            || {
                ds.fill(0.0);
                for (dp, gp) in ds.chunks_exact_mut(h * w).zip(gs.chunks_exact(out.h * out.w)) {
                    for_each_window(&win, h, w, out, |o, (y0, y1), (x0, x1)| {
                        let g = gp[o] / div;
                        for r in y0..y1 {
                            for d in &mut dp[r * w + x0..r * w + x1] {
                                *d += g;
                            }
                        }
                    });
                }
            },
        );
        self.spare = Some(grad);
        dx
    }

    fn type_name(&self) -> String {
        format!(
            "AvgPool2d({}{})",
            self.window.kernel,
            self.window.describe(self.window.kernel)
        )
    }
}

/// The mean of each channel over its whole plane: `[N, C, H, W]` to `[N, C]` (Keras's
/// `GlobalAveragePooling2D`; PyTorch's `AdaptiveAvgPool2d(1)` followed by a flatten).
///
/// ```
/// use nn_core::{layers::GlobalAvgPool2d, Layer, Mode, Tensor};
/// let y = GlobalAvgPool2d::new().forward(Tensor::ones(vec![2, 64, 7, 7]), Mode::Eval);
/// assert_eq!(y.shape(), &[2, 64]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct GlobalAvgPool2d {
    input_shape: Option<[usize; 4]>,
    spare_input: Option<Tensor>,
    spare: Option<Tensor>,
}

impl GlobalAvgPool2d {
    /// A global average pooling layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for GlobalAvgPool2d {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let ([n, c, h, w], _) = check_images(&x, None, None);
        if h * w == 0 {
            layer_panic(format_args!(
                "expected images of at least 1x1, got shape {:?}",
                x.shape()
            ));
        }
        let x = standard(x);
        let mut y = recycle(self.spare.take(), &[n, c]);
        let (xs, ys) = (
            x.as_slice().expect("standard"),
            y.as_slice_mut().expect("standard"),
        );
        let count = (h * w) as f32;
        vectorized(
            #[inline(always)]
            || {
                for (v, plane) in ys.iter_mut().zip(xs.chunks_exact(h * w)) {
                    *v = sum_map(plane, |v| v) / count;
                }
            },
        );
        if mode == Mode::Train {
            self.input_shape = Some([n, c, h, w]);
            self.spare_input = Some(x);
        }
        y
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let Some(shape @ [n, c, h, w]) = self.input_shape.take() else {
            no_train_forward(&self.type_name())
        };
        if grad.shape() != [n, c] {
            wrong_grad_shape(&[n, c], grad.shape());
        }
        let grad = standard(grad);
        let mut dx = recycle(self.spare_input.take(), &shape);
        let (gs, ds) = (
            grad.as_slice().expect("standard"),
            dx.as_slice_mut().expect("standard"),
        );
        let count = (h * w) as f32;
        vectorized(
            #[inline(always)]
            || {
                for (&g, plane) in gs.iter().zip(ds.chunks_exact_mut(h * w)) {
                    plane.fill(g / count);
                }
            },
        );
        self.spare = Some(grad);
        dx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, GradCheck};
    use crate::layer::{backward_child, forward_child};
    use crate::rng::seeded;
    use ndarray::IxDyn;
    use rand::seq::SliceRandom;

    fn panic_message(f: impl FnOnce()) -> String {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("must panic");
        err.downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap()
    }

    /// Distinct values 0.05 apart in a shuffled order: no window has two maxima within the
    /// finite-difference step, so max pooling is smooth around it.
    fn distinct(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let mut v: Vec<f32> = (0..n).map(|i| 0.05 * i as f32 - 0.025 * n as f32).collect();
        v.shuffle(&mut seeded(3));
        t(shape, &v)
    }

    #[test]
    fn max_pool_picks_each_window_maximum_and_routes_the_gradient_there() {
        let x = t(&[1, 1, 2, 4], &[1., 5., 2., 0., 3., 4., 8., 7.]);
        let mut pool = MaxPool2d::new(2);
        assert_eq!(pool.forward(x.clone(), Mode::Eval), t(&[1, 1, 1, 2], &[5., 8.]));
        assert_eq!(pool.forward(x, Mode::Train), t(&[1, 1, 1, 2], &[5., 8.]));
        let dx = pool.backward(t(&[1, 1, 1, 2], &[10., 20.]));
        assert_eq!(dx, t(&[1, 1, 2, 4], &[0., 10., 0., 0., 0., 0., 20., 0.]));
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
        ] {
            let mut pool = pool;
            let report = GradCheck::default().check_input(&mut pool, distinct(&shape));
            assert!(report.passed(), "{}: {report}", pool.type_name());
        }
    }

    #[test]
    fn avg_pool_averages_and_counts_padding() {
        let x = t(&[1, 1, 2, 2], &[1., 2., 3., 4.]);
        assert_eq!(
            AvgPool2d::new(2).forward(x.clone(), Mode::Eval),
            t(&[1, 1, 1, 1], &[2.5])
        );
        // Padding 1: each 2x2 window holds one real value and three padded zeros.
        let mut pool = AvgPool2d::new(2).with_padding(1);
        let y = pool.forward(x, Mode::Train);
        assert_eq!(y, t(&[1, 1, 2, 2], &[0.25, 0.5, 0.75, 1.0]));
        let dx = pool.backward(t(&[1, 1, 2, 2], &[4., 8., 12., 16.]));
        assert_eq!(dx, t(&[1, 1, 2, 2], &[1., 2., 3., 4.]));
    }

    #[test]
    fn avg_and_global_pools_pass_gradcheck() {
        for (pool, shape) in [
            (AvgPool2d::new(2), [2, 2, 4, 5]),
            (AvgPool2d::new(3).with_stride(2).with_padding(1), [1, 2, 7, 6]),
            (AvgPool2d::new((3, 2)).with_stride(1), [2, 1, 4, 3]),
        ] {
            let mut pool = pool;
            let report = gradcheck(&mut pool, &shape);
            assert!(report.passed(), "{}: {report}", pool.type_name());
        }
        gradcheck(&mut GlobalAvgPool2d::new(), &[2, 3, 3, 5]).assert_passed();
        gradcheck(&mut GlobalAvgPool2d::new(), &[1, 1, 1, 1]).assert_passed();
    }

    #[test]
    fn global_pool_averages_each_plane() {
        let x = t(&[1, 2, 1, 3], &[1., 2., 3., 10., 20., 30.]);
        let mut pool = GlobalAvgPool2d::new();
        assert_eq!(pool.forward(x, Mode::Train), t(&[1, 2], &[2., 20.]));
        assert_eq!(
            pool.backward(t(&[1, 2], &[3., 6.])),
            t(&[1, 2, 1, 3], &[1., 1., 1., 2., 2., 2.])
        );
    }

    #[test]
    fn modes_agree_and_eval_keeps_nothing() {
        let x = distinct(&[2, 2, 5, 5]);
        let layers: Vec<Box<dyn Layer>> = vec![
            Box::new(MaxPool2d::new(2)),
            Box::new(AvgPool2d::new(2)),
            Box::new(GlobalAvgPool2d::new()),
        ];
        for mut layer in layers {
            let train = layer.forward(x.clone(), Mode::Train);
            let eval = layer.forward(x.clone(), Mode::Eval);
            assert_eq!(train, eval, "{}", layer.type_name());
            layer.backward(train.clone());
            layer.forward(x.clone(), Mode::Eval);
            let msg = panic_message(|| {
                backward_child("pool", &mut layer, train);
            });
            assert!(msg.starts_with("pool: backward called on"), "{msg}");
        }
    }

    #[test]
    fn wrong_inputs_panic_naming_the_layer_and_the_shape() {
        let msg = panic_message(|| {
            forward_child(
                "pool1",
                &mut MaxPool2d::new(2),
                Tensor::zeros(IxDyn(&[4, 26, 26])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "pool1: expected a batch of images of shape [N, C, H, W], got shape [4, 26, 26]"
        );
        let msg = panic_message(|| {
            forward_child(
                "pool1",
                &mut AvgPool2d::new(3),
                Tensor::zeros(IxDyn(&[1, 2, 2, 9])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "pool1: expected images of at least 3x3 (the 3x3 window) once padded by 0x0, got shape [1, 2, 2, 9]"
        );
        let mut pool = MaxPool2d::new(2);
        pool.forward(Tensor::zeros(IxDyn(&[1, 1, 4, 4])), Mode::Train);
        let msg = panic_message(|| {
            backward_child("pool1", &mut pool, Tensor::zeros(IxDyn(&[1, 1, 4, 4])));
        });
        assert_eq!(
            msg,
            "pool1: expected a gradient of shape [1, 1, 2, 2] (the output of the last Train forward), got [1, 1, 4, 4]"
        );
        let msg = panic_message(|| {
            MaxPool2d::new(2).with_padding(2);
        });
        assert_eq!(
            msg,
            "MaxPool2d: padding must be at most half the kernel, got padding 2x2 for kernel 2x2"
        );
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
