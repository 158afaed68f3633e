//! What the image layers share about NCHW batches: the input-shape check, the geometry of a
//! sliding window, output buffers reused from step to step, and sums over image planes.

use crate::layer::layer_panic_in;
use crate::pages;
use crate::tensor::Tensor;
use ndarray::IxDyn;
use std::fmt::{self, Display};

/// A height and a width. Kernel sizes, strides, paddings and dilations take `3` (square) or
/// `(3, 5)` (height, width), as in PyTorch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size2 {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
}

impl From<usize> for Size2 {
    fn from(n: usize) -> Self {
        Size2 { h: n, w: n }
    }
}

impl From<(usize, usize)> for Size2 {
    fn from((h, w): (usize, usize)) -> Self {
        Size2 { h, w }
    }
}

impl fmt::Display for Size2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.h, self.w)
    }
}

/// The largest kernel, stride, padding or dilation an image layer takes, per axis: 4 times the
/// side of the largest pictures nn decodes by default, far beyond any useful window, and small
/// enough that no size computed from a window overflows.
pub const MAX_WINDOW: usize = 1 << 16;

/// The most taps (kernel height x width) a window may have: a 256x256 kernel. Max pooling keeps
/// the winning tap in 16 bits; for convolutions it bounds the weight per channel pair.
pub const MAX_TAPS: usize = 1 << 16;

/// A window sliding over an image: its size, step, zero padding per side and dilation (the
/// spacing of the taps), as PyTorch's convolution and pooling layers define them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub kernel: Size2,
    pub stride: Size2,
    pub padding: Size2,
    pub dilation: Size2,
}

impl Window {
    /// A window of `kernel` taps moving by `stride`, no padding, no dilation.
    pub fn new(kernel: Size2, stride: Size2) -> Self {
        Window {
            kernel,
            stride,
            padding: Size2 { h: 0, w: 0 },
            dilation: Size2 { h: 1, w: 1 },
        }
    }

    /// The rows and columns one window covers, dilation included (at most 2^32 once
    /// [`Window::check`] has passed).
    pub fn span(&self) -> Size2 {
        Size2 {
            h: self.dilation.h * (self.kernel.h - 1) + 1,
            w: self.dilation.w * (self.kernel.w - 1) + 1,
        }
    }

    /// Panics, naming `layer` and the limit, unless every option is at most [`MAX_WINDOW`]
    /// per axis and the window has at most [`MAX_TAPS`] taps. Layers call it when built, so
    /// that absurd options (a 2^32 kernel, padding 2^20 on a 28x28 image, which asks for
    /// 17.6 TB) are a clear panic before any allocation, and no size computed from the window
    /// (its span, the padded input, the output) can overflow.
    pub fn check(&self, layer: &str) {
        for (name, v) in [
            ("kernel", self.kernel),
            ("stride", self.stride),
            ("padding", self.padding),
            ("dilation", self.dilation),
        ] {
            assert!(
                v.h <= MAX_WINDOW && v.w <= MAX_WINDOW,
                "{layer}: kernel, stride, padding and dilation are limited to {MAX_WINDOW} per \
                 axis, got {name} {v}"
            );
        }
        let taps = self.kernel.h * self.kernel.w;
        assert!(
            taps <= MAX_TAPS,
            "{layer}: at most {MAX_TAPS} taps per window (kernel height x width), got a {} kernel \
             ({taps} taps)",
            self.kernel
        );
    }

    /// The output size for an `h` x `w` input (PyTorch's floor rule), or `None` if the window
    /// does not fit into the padded input even once.
    pub fn output(&self, h: usize, w: usize) -> Option<Size2> {
        let span = self.span();
        let (ph, pw) = self.padded(h, w)?;
        (ph >= span.h && pw >= span.w).then(|| Size2 {
            h: (ph - span.h) / self.stride.h + 1,
            w: (pw - span.w) / self.stride.w + 1,
        })
    }

    /// The padded input's height and width, `None` beyond `usize`.
    fn padded(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        Some((
            h.checked_add(2 * self.padding.h)?,
            w.checked_add(2 * self.padding.w)?,
        ))
    }

    /// The options that differ from PyTorch's defaults (stride 1, or the kernel for pooling;
    /// no padding; no dilation), as `, stride 2, padding 1` for type names.
    pub fn describe(&self, default_stride: Size2) -> String {
        let mut s = String::new();
        let mut add = |name: &str, v: Size2, default: Size2| {
            if v != default {
                if v.h == v.w {
                    s.push_str(&format!(", {name} {}", v.h));
                } else {
                    s.push_str(&format!(", {name} {v}"));
                }
            }
        };
        add("stride", self.stride, default_stride);
        add("padding", self.padding, Size2::from(0));
        add("dilation", self.dilation, Size2::from(1));
        s
    }
}

/// Panics unless `x` is a batch of images `[N, C, H, W]` of at least one pixel with `channels`
/// channels (any, if `None`) that `window` fits into; returns `(N, C, H, W)` and the output
/// size. The message names the layer path (or `layer`, called outside any container) and both
/// shapes.
#[track_caller]
pub(crate) fn check_images(
    x: &Tensor,
    channels: Option<usize>,
    window: Option<&Window>,
    layer: impl Display,
) -> ([usize; 4], Size2) {
    // Formatted only on the way to a panic: a steady training step allocates nothing.
    let expected = || channels.map_or("C".to_string(), |c| c.to_string());
    let &[n, c, h, w] = x.shape() else {
        layer_panic_in(
            layer,
            format_args!(
                "expected a batch of images of shape [N, {}, H, W], got shape {:?}",
                expected(),
                x.shape()
            ),
        )
    };
    if channels.is_some_and(|expected| expected != c) {
        layer_panic_in(
            layer,
            format_args!(
                "expected a batch of images of shape [N, {}, H, W], got shape {:?} ({c} channels)",
                expected(),
                x.shape()
            ),
        );
    }
    // PyTorch refuses such images too; here a plane of no pixels would divide by zero.
    if h == 0 || w == 0 {
        layer_panic_in(
            layer,
            format_args!(
                "expected images of at least 1x1 pixels, got shape {:?}",
                x.shape()
            ),
        );
    }
    let out = match window {
        None => Size2 { h, w },
        Some(win) => win.output(h, w).unwrap_or_else(|| {
            if win.padded(h, w).is_none() {
                layer_panic_in(
                    layer,
                    format_args!(
                        "padding {} makes images of shape {:?} more than {} pixels high or wide",
                        win.padding,
                        x.shape(),
                        usize::MAX
                    ),
                );
            }
            let span = win.span();
            layer_panic_in(
                layer,
                format_args!(
                    "expected images of at least {} (the {} window{}) once padded by {}, got shape {:?}",
                    span,
                    win.kernel,
                    if win.dilation == Size2::from(1) {
                        String::new()
                    } else {
                        format!(" dilated by {}", win.dilation)
                    },
                    win.padding,
                    x.shape()
                ),
            )
        }),
    };
    ([n, c, h, w], out)
}

/// A tensor of `shape` in `buf`'s allocation when there is one large enough, else a new one; its
/// values are unspecified, for the caller to overwrite. Layers keep the buffer they
/// are handed in backward for their next output, so a steady training step allocates nothing.
///
/// Panics, naming `layer`, if the tensor cannot be allocated (see [`too_large`]).
pub(crate) fn recycle(buf: Option<Tensor>, shape: &[usize], layer: impl Display) -> Tensor {
    let Some(len) = elements(shape) else {
        too_large::<f32>(shape, layer)
    };
    // A new buffer is one the running Eval forward is done with, or comes zeroed from the
    // allocator (calloc: fresh pages are zero without being written here), on huge pages when
    // large (see crate::pages); either spares an Eval forward of a large batch a pass over its
    // output. There is no fallible calloc, so a probe first asks for the memory without
    // touching it. A buffer too small (a training batch's, before an Eval forward of a whole
    // test set) is dropped rather than grown, which would copy its values and write the rest.
    let buf = buf.map(|b| b.into_raw_vec_and_offset().0);
    let Some(mut data) = buf.filter(|data| data.capacity() >= len) else {
        probe::<f32>(shape, layer);
        return pages::buffer(shape);
    };
    data.resize(len, 0.0);
    Tensor::from_shape_vec(IxDyn(shape), data).expect("resized to the shape's length")
}

/// Panics, naming `layer`, unless the allocator grants a buffer of `shape` (elements of `T`);
/// the memory is released at once, untouched, for the caller's own (infallible) allocation.
pub(crate) fn probe<T>(shape: &[usize], layer: impl Display) {
    let granted = elements(shape).is_some_and(|len| Vec::<T>::new().try_reserve_exact(len).is_ok());
    if !granted {
        too_large::<T>(shape, layer)
    }
}

/// The number of elements of `shape`, `None` beyond `usize`.
pub(crate) fn elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Panics, naming `layer`, because a buffer of `shape` (elements of `T`) cannot be allocated:
/// its size overflows, or the allocator refused it. An absurd configuration (padding 2^20 on a
/// 28x28 image asks for 17.6 TB) is a programmer error to report, not an abort of the process.
#[track_caller]
pub(crate) fn too_large<T>(shape: &[usize], layer: impl Display) -> ! {
    let bytes = shape
        .iter()
        .fold(std::mem::size_of::<T>() as f64, |acc, &d| acc * d as f64);
    layer_panic_in(
        layer,
        format_args!(
            "a buffer of shape {shape:?} needs {}, more than can be allocated; check the layer's \
             options (padding, dilation, channels) and the input's size",
            human_bytes(bytes)
        ),
    )
}

/// `bytes` as `17.6 TB`, `340 MB`, `12 kB` (powers of 1000).
pub(crate) fn human_bytes(bytes: f64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} bytes")
    } else if value >= 1e3 {
        format!("{value:.2e} {}", units[unit])
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// `sum(f(v))` over `values` in a fixed order (16 interleaved running sums, then a fixed tree over
/// them): vectorisable, and the same bits on every CPU. Call it inside
/// [`vectorized`](crate::linalg::vectorized).
#[inline(always)]
pub(crate) fn sum_map(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += f(v);
        }
    }
    for (a, &v) in acc.iter_mut().zip(rest) {
        *a += f(v);
    }
    fold(acc)
}

/// `sum(f(a, b))` over pairs of `a` and `b` in the order of [`sum_map`].
#[inline(always)]
pub(crate) fn sum_zip(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += f(x, y);
        }
    }
    for ((s, &x), &y) in acc.iter_mut().zip(ra).zip(rb) {
        *s += f(x, y);
    }
    fold(acc)
}

/// The two sums of `f(a, b)`'s two values over pairs of `a` and `b`, in one pass, each in the
/// order of [`sum_map`] (so the bits of `sum_map` over that value alone).
#[inline(always)]
pub(crate) fn sum_zip2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> [f32; 2]) -> [f32; 2] {
    let (mut acc0, mut acc1) = ([0.0f32; 16], [0.0f32; 16]);
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    // Zipped like sum_map's loop, so that it vectorises the same way.
    for (x, y) in ca.zip(cb) {
        for (((s, t), &x), &y) in acc0.iter_mut().zip(&mut acc1).zip(x).zip(y) {
            let [u, v] = f(x, y);
            (*s, *t) = (*s + u, *t + v);
        }
    }
    for (((s, t), &x), &y) in acc0.iter_mut().zip(&mut acc1).zip(ra).zip(rb) {
        let [u, v] = f(x, y);
        (*s, *t) = (*s + u, *t + v);
    }
    [fold(acc0), fold(acc1)]
}

#[inline(always)]
fn fold(mut acc: [f32; 16]) -> f32 {
    let mut half = 16;
    while half > 1 {
        half /= 2;
        for i in 0..half {
            acc[i] += acc[i + half];
        }
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_pytorch() {
        let w = |k: usize, s: usize, p: usize, d: usize| Window {
            kernel: k.into(),
            stride: s.into(),
            padding: p.into(),
            dilation: d.into(),
        };
        assert_eq!(w(3, 1, 0, 1).output(28, 28), Some(Size2::from(26)));
        assert_eq!(w(2, 2, 0, 1).output(11, 11), Some(Size2::from(5)));
        assert_eq!(w(3, 2, 1, 1).output(7, 8), Some(Size2::from((4, 4))));
        assert_eq!(w(3, 1, 2, 2).output(5, 5), Some(Size2::from(5)));
        assert_eq!(w(5, 1, 0, 1).output(4, 9), None);
    }

    #[test]
    fn describe_lists_what_differs_from_the_defaults() {
        let mut win = Window::new(3.into(), 1.into());
        assert_eq!(win.describe(1.into()), "");
        win.stride = (2, 1).into();
        win.padding = 1.into();
        assert_eq!(win.describe(1.into()), ", stride 2x1, padding 1");
    }

    #[test]
    fn sums_match_a_plain_sum_on_exact_values() {
        for len in [0, 1, 15, 16, 17, 100, 677] {
            let v: Vec<f32> = (0..len).map(|i| (i % 9) as f32 - 4.0).collect();
            let plain: f32 = v.iter().sum();
            assert_eq!(sum_map(&v, |x| x), plain, "len {len}");
            assert_eq!(sum_map(&v, |x| x * x), v.iter().map(|x| x * x).sum::<f32>());
            assert_eq!(
                sum_zip(&v, &v, |a, b| a * b),
                v.iter().map(|x| x * x).sum::<f32>()
            );
            assert_eq!(
                sum_zip2(&v, &v, |a, b| [a * b, a + b]),
                [v.iter().map(|x| x * x).sum::<f32>(), 2.0 * plain]
            );
        }
    }

    #[test]
    fn two_sums_in_one_pass_are_the_bits_of_each_alone() {
        for len in [0, 1, 15, 16, 17, 100, 677] {
            // Inexact values, so that a different order of additions would show.
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 1.3).cos() * 3.1).collect();
            let [u, v] = sum_zip2(&a, &b, |x, y| [x + y, x * y]);
            let each = |f: fn(f32, f32) -> f32| {
                let values: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| f(x, y)).collect();
                sum_map(&values, |v| v).to_bits()
            };
            assert_eq!(u.to_bits(), each(|x, y| x + y), "len {len}");
            assert_eq!(v.to_bits(), each(|x, y| x * y), "len {len}");
        }
    }

    #[test]
    fn recycle_keeps_the_allocation() {
        let t = recycle(None, &[4, 3], "test");
        let ptr = t.as_ptr();
        let small = recycle(Some(t), &[2, 3], "test");
        assert_eq!((small.shape(), small.as_ptr()), (&[2, 3][..], ptr));
    }
}
