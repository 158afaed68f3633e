//! Average pooling: [`AvgPool2d`] (padding counted, as PyTorch's default) and
//! [`GlobalAvgPool2d`] (the mean of each plane).

use super::nchw::{check_images, recycle, sum_map, Size2, Window};
use super::pool::{for_each_window, pool_window};
use crate::layer::{check_grad_shape_in, contiguous, no_train_forward};
use crate::layer::{InputGrad, Layer, Mode, TrainingPlan};
use crate::linalg::vectorized;
use crate::pages;
use crate::tensor::Tensor;
use std::fmt::Display;

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
    kept: Kept,
}

impl AvgPool2d {
    /// Average pooling with a `kernel` moving by the kernel, no padding.
    pub fn new(kernel: impl Into<Size2>) -> Self {
        let kernel = kernel.into();
        AvgPool2d {
            window: pool_window("AvgPool2d", kernel, kernel, 0.into()),
            kept: Kept::default(),
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

    fn divisor(&self) -> f32 {
        (self.window.kernel.h * self.window.kernel.w) as f32
    }
}

/// What an average pool keeps between passes: the input shape of the last Train forward (until
/// backward takes it), and the buffers it recycles: that forward's input, as backward's input
/// gradient, and the gradient backward was handed, as the next forward's output.
#[derive(Clone, Debug, Default)]
struct Kept {
    input_shape: Option<[usize; 4]>,
    spare_input: Option<Tensor>,
    spare: Option<Tensor>,
    /// Whether backward computes the input gradient (see [`Layer::prepare`]).
    input_grad: InputGrad,
}

impl Kept {
    /// A forward's output buffer, of `shape`.
    fn output(&mut self, shape: &[usize], layer: impl Display) -> Tensor {
        recycle(self.spare.take(), shape, layer)
    }

    /// Ends a forward of `x`, of `shape`: a Train forward keeps it for backward.
    fn keep(&mut self, mode: Mode, x: Tensor, shape: [usize; 4]) {
        if mode == Mode::Train {
            self.input_shape = Some(shape);
            self.spare_input = Some(x);
        } else {
            pages::give_back(x);
        }
    }

    /// Backward of the Train forward of an `input`-shaped batch (the shape `input_shape`
    /// held): checks `grad` against `grad_shape`, that forward's output shape, then
    /// `spread(grad, dx)` writes the input gradient over the buffer of that forward's input.
    fn backward(
        &mut self,
        layer: impl Display,
        input: [usize; 4],
        grad: Tensor,
        grad_shape: &[usize],
        spread: impl FnOnce(&[f32], &mut [f32]),
    ) -> Tensor {
        if grad.shape() != grad_shape {
            check_grad_shape_in(&layer, grad.shape(), grad_shape);
        }
        let grad = contiguous(grad);
        let mut dx = recycle(self.spare_input.take(), &input, &layer);
        // When nothing before needs a gradient, the buffer goes back unread.
        if self.input_grad.0 {
            spread(
                grad.as_slice().expect("standard"),
                dx.as_slice_mut().expect("standard"),
            );
        }
        self.spare = Some(grad);
        dx
    }
}

impl Layer for AvgPool2d {
    #[track_caller]
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let name = AvgName(self.window);
        let ([n, c, h, w], out) = check_images(&x, None, Some(&self.window), name);
        let x = contiguous(x);
        let mut y = self.kept.output(&[n, c, out.h, out.w], name);
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
        self.kept.keep(mode, x, [n, c, h, w]);
        y
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let Some(shape @ [n, c, h, w]) = self.kept.input_shape.take() else {
            no_train_forward(self.type_name())
        };
        let out = self.window.output(h, w).expect("checked in forward");
        let (win, div) = (self.window, self.divisor());
        self.kept
            .backward(AvgName(win), shape, grad, &[n, c, out.h, out.w], |gs, ds| {
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
                )
            })
    }

    fn prepare(&mut self, plan: &mut TrainingPlan<'_>) {
        self.kept.input_grad = InputGrad(plan.input_grad());
    }

    fn type_name(&self) -> String {
        AvgName(self.window).to_string()
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// The layer's type name for a panic, formatted only if one happens.
#[derive(Clone, Copy)]
struct AvgName(Window);

impl Display for AvgName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AvgPool2d({}{})",
            self.0.kernel,
            self.0.describe(self.0.kernel)
        )
    }
}

/// [`GlobalAvgPool2d`]'s type name.
const GLOBAL: &str = "GlobalAvgPool2d";

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
    kept: Kept,
}

impl GlobalAvgPool2d {
    /// A global average pooling layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for GlobalAvgPool2d {
    #[track_caller]
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let ([n, c, h, w], _) = check_images(&x, None, None, GLOBAL);
        let x = contiguous(x);
        let mut y = self.kept.output(&[n, c], GLOBAL);
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
        self.kept.keep(mode, x, [n, c, h, w]);
        y
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let Some(shape @ [n, c, h, w]) = self.kept.input_shape.take() else {
            no_train_forward(self.type_name())
        };
        let count = (h * w) as f32;
        self.kept.backward(GLOBAL, shape, grad, &[n, c], |gs, ds| {
            vectorized(
                #[inline(always)]
                || {
                    for (&g, plane) in gs.iter().zip(ds.chunks_exact_mut(h * w)) {
                        plane.fill(g / count);
                    }
                },
            )
        })
    }

    fn prepare(&mut self, plan: &mut TrainingPlan<'_>) {
        self.kept.input_grad = InputGrad(plan.input_grad());
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::gradcheck;
    use crate::layers::pool::tests::t;

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
}
