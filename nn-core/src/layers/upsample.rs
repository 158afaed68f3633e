//! Upsampling of image batches, nearest or bilinear (PyTorch's `nn.Upsample`).

use super::nchw::Size2;
use super::resample::{check_planes, Resample};
use super::sizes::{checked_forward_len, checked_len, MAX_VALUES};
use crate::layer::{layer_panic, Layer, Mode};
use crate::tensor::Tensor;
use std::fmt;

/// How [`Upsample`] computes a new pixel (PyTorch's `mode` and `align_corners`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpsampleMode {
    /// The nearest input pixel: `floor(dst * in / out)` (PyTorch's `'nearest'`).
    Nearest,
    /// Bilinear interpolation of the four nearest input pixels (PyTorch's `'bilinear'`).
    Bilinear {
        /// `true`: the corner pixels of input and output are aligned, `src = dst * (in - 1) /
        /// (out - 1)`. `false` (PyTorch's default): pixels are areas, `src = (dst + 0.5) *
        /// in / out - 0.5`, clamped at 0.
        align_corners: bool,
    },
}

/// What the output size is given by.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    /// `floor(in * scale)` per side; the scale itself maps output to input pixels.
    Scale(f64, f64),
    /// A fixed size; `in / out` maps output to input pixels.
    Size(Size2),
}

/// Upsampling of `[N, C, H, W]` to a larger (or any) `[N, C, OH, OW]` (PyTorch's
/// `nn.Upsample(size=None, scale_factor=None, mode='nearest', align_corners=None)`): by a scale
/// factor, the output is `floor(H * scale)` high, and an output pixel reads input pixel
/// coordinates scaled by `1 / scale`, as PyTorch does; or to a fixed size.
///
/// ```
/// use nn_core::{layers::Upsample, Layer, Mode, Tensor};
/// let mut up = Upsample::nearest(2.0);
/// let y = up.forward(Tensor::ones(vec![1, 3, 4, 5]), Mode::Eval);
/// assert_eq!(y.shape(), &[1, 3, 8, 10]);
/// let mut up = Upsample::bilinear(2.0, false);
/// assert_eq!(up.forward(Tensor::ones(vec![1, 3, 4, 5]), Mode::Eval).shape(), &[1, 3, 8, 10]);
/// ```
#[derive(Clone, Debug)]
pub struct Upsample {
    target: Target,
    mode: UpsampleMode,
    /// The source taps of each output row and column, for the last input size.
    taps: Taps,
    buffers: Resample,
}

/// Where one output row (or column) reads: input rows `i0` and `i1` weighted `l0` and `l1`
/// (nearest: `i0` alone).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Tap {
    i0: usize,
    i1: usize,
    l0: f32,
    l1: f32,
}

/// The taps of one input and output size.
#[derive(Clone, Debug, Default)]
struct Taps {
    key: Option<(Size2, Size2)>,
    rows: Vec<Tap>,
    cols: Vec<Tap>,
}

impl Upsample {
    /// Nearest-neighbour upsampling by `scale_factor` on both sides (`2.0` doubles them).
    pub fn nearest(scale_factor: f64) -> Self {
        Self::new(scale_factor, scale_factor, UpsampleMode::Nearest)
    }

    /// Bilinear upsampling by `scale_factor` on both sides.
    pub fn bilinear(scale_factor: f64, align_corners: bool) -> Self {
        Self::new(
            scale_factor,
            scale_factor,
            UpsampleMode::Bilinear { align_corners },
        )
    }

    /// Upsampling by `scale_h` rows and `scale_w` columns (PyTorch's `scale_factor=(h, w)`).
    ///
    /// # Panics
    /// Unless both scales are positive and finite.
    pub fn new(scale_h: f64, scale_w: f64, mode: UpsampleMode) -> Self {
        assert!(
            scale_h > 0.0 && scale_w > 0.0 && scale_h.is_finite() && scale_w.is_finite(),
            "Upsample: scale_factor must be positive and finite, got ({scale_h}, {scale_w})"
        );
        Self::with_target(Target::Scale(scale_h, scale_w), mode)
    }

    /// Resampling to a fixed `size` (PyTorch's `size=`), whatever the input's.
    ///
    /// # Panics
    /// If a side is 0 or the plane holds more values than a tensor can.
    pub fn with_size(size: impl Into<Size2>, mode: UpsampleMode) -> Self {
        let size = size.into();
        assert!(
            size.h > 0 && size.w > 0,
            "Upsample: size must be at least 1x1, got {size}"
        );
        checked_len("Upsample", "size", &[size.h, size.w]);
        Self::with_target(Target::Size(size), mode)
    }

    fn with_target(target: Target, mode: UpsampleMode) -> Self {
        Upsample {
            target,
            mode,
            taps: Taps::default(),
            buffers: Resample::default(),
        }
    }

    /// The interpolation.
    pub fn mode(&self) -> UpsampleMode {
        self.mode
    }

    /// The scale factors (rows, columns), or `None` for a layer made with a fixed size.
    pub fn scale_factor(&self) -> Option<(f64, f64)> {
        match self.target {
            Target::Scale(h, w) => Some((h, w)),
            Target::Size(_) => None,
        }
    }

    /// The fixed output size, or `None` for a layer made with scale factors.
    pub fn size(&self) -> Option<Size2> {
        match self.target {
            Target::Scale(..) => None,
            Target::Size(size) => Some(size),
        }
    }

    /// The output size for an `h` x `w` input. Panics, naming the layer path, if a side would
    /// be 0 or the plane too large.
    fn output(&self, h: usize, w: usize) -> Size2 {
        let (sh, sw) = match self.target {
            Target::Scale(sh, sw) => (sh, sw),
            Target::Size(size) => return size,
        };
        // PyTorch's rule, in double precision: floor(in * scale).
        let side = |n: usize, s: f64| (n as f64 * s).floor();
        let (oh, ow) = (side(h, sh), side(w, sw));
        if oh < 1.0 || ow < 1.0 || oh * ow > MAX_VALUES as f64 {
            // Sides as integers, or in scientific notation when too large for one.
            let side = |v: f64| {
                if v < 1e18 {
                    (v as u64).to_string()
                } else {
                    format!("{v:e}")
                }
            };
            layer_panic(format_args!(
                "an input of {h}x{w} scaled by ({sh:?}, {sw:?}) gives an output of {}x{}, \
                 expected at least 1x1 and at most {MAX_VALUES} values",
                side(oh),
                side(ow)
            ));
        }
        Size2 {
            h: oh as usize,
            w: ow as usize,
        }
    }

    /// The taps for an `input`-sized plane upsampled to `output`, recomputed when the sizes
    /// change.
    fn fit(&mut self, input: Size2, output: Size2) {
        if self.taps.key == Some((input, output)) {
            return;
        }
        let (sh, sw) = match self.target {
            Target::Scale(h, w) => (Some(h), Some(w)),
            Target::Size(_) => (None, None),
        };
        fill_taps(&mut self.taps.rows, input.h, output.h, sh, self.mode);
        fill_taps(&mut self.taps.cols, input.w, output.w, sw, self.mode);
        self.taps.key = Some((input, output));
    }
}

/// PyTorch's `compute_scales_value`: output to input coordinates, `1 / scale` when a scale
/// factor was given, else `in / out`, in f32.
fn scale_value(scale: Option<f64>, input: usize, output: usize) -> f32 {
    match scale {
        Some(s) => (1.0 / s) as f32,
        None => input as f32 / output as f32,
    }
}

/// The taps of `out` output positions reading `size` input positions, as PyTorch's CPU kernels
/// compute them (`nearest_idx`, `area_pixel_compute_source_index` and the linear weights).
fn fill_taps(taps: &mut Vec<Tap>, size: usize, out: usize, scale: Option<f64>, mode: UpsampleMode) {
    taps.clear();
    match mode {
        UpsampleMode::Nearest => {
            let s = scale_value(scale, size, out);
            taps.extend((0..out).map(|i| {
                let i0 = if out == size {
                    i
                } else if out == 2 * size {
                    i >> 1
                } else {
                    ((i as f32 * s).floor() as usize).min(size - 1)
                };
                Tap {
                    i0,
                    i1: i0,
                    l0: 1.0,
                    l1: 0.0,
                }
            }));
        }
        UpsampleMode::Bilinear { align_corners } => {
            let s = if align_corners {
                if out > 1 {
                    (size - 1) as f32 / (out - 1) as f32
                } else {
                    0.0
                }
            } else {
                scale_value(scale, size, out)
            };
            taps.extend((0..out).map(|i| {
                let src = if align_corners {
                    s * i as f32
                } else {
                    (s * (i as f32 + 0.5) - 0.5).max(0.0)
                };
                let i0 = (src as usize).min(size - 1);
                let lambda = (src - i0 as f32).clamp(0.0, 1.0);
                Tap {
                    i0,
                    i1: if i0 < size - 1 { i0 + 1 } else { i0 },
                    l0: 1.0 - lambda,
                    l1: lambda,
                }
            }));
        }
    }
}

impl Layer for Upsample {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let shape @ [n, c, h, w] = check_planes(&x, "Upsample");
        let out = self.output(h, w);
        checked_forward_len("output", &[n, c, out.h, out.w]);
        self.fit(Size2 { h, w }, out);
        let taps = &self.taps;
        let nearest = self.mode == UpsampleMode::Nearest;
        self.buffers.forward(x, shape, out, mode, "Upsample", |x, y| {
            for (r, y) in taps.rows.iter().zip(y.chunks_exact_mut(out.w)) {
                let (x0, x1) = (&x[r.i0 * w..][..w], &x[r.i1 * w..][..w]);
                if nearest {
                    for (v, t) in y.iter_mut().zip(&taps.cols) {
                        *v = x0[t.i0];
                    }
                } else {
                    for (v, t) in y.iter_mut().zip(&taps.cols) {
                        let top = t.l0 * x0[t.i0] + t.l1 * x0[t.i1];
                        let bottom = t.l0 * x1[t.i0] + t.l1 * x1[t.i1];
                        *v = r.l0 * top + r.l1 * bottom;
                    }
                }
            }
        })
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let shape @ [_, _, h, w] = self.buffers.take_input_shape(Name(self.target, self.mode));
        let out = self.output(h, w);
        self.fit(Size2 { h, w }, out);
        let taps = &self.taps;
        let nearest = self.mode == UpsampleMode::Nearest;
        self.buffers.backward(grad, shape, out, "Upsample", |g, dx| {
            for (r, g) in taps.rows.iter().zip(g.chunks_exact(out.w)) {
                for (&g, t) in g.iter().zip(&taps.cols) {
                    if nearest {
                        dx[r.i0 * w + t.i0] += g;
                    } else {
                        let (top, bottom) = (r.l0 * g, r.l1 * g);
                        dx[r.i0 * w + t.i0] += t.l0 * top;
                        dx[r.i0 * w + t.i1] += t.l1 * top;
                        dx[r.i1 * w + t.i0] += t.l0 * bottom;
                        dx[r.i1 * w + t.i1] += t.l1 * bottom;
                    }
                }
            }
        })
    }

    fn type_name(&self) -> String {
        Name(self.target, self.mode).to_string()
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// `Upsample(scale 2, bilinear, align_corners)`, formatted only when shown.
struct Name(Target, UpsampleMode);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Target::Scale(h, w) if h == w => write!(f, "Upsample(scale {h}")?,
            Target::Scale(h, w) => write!(f, "Upsample(scale {h}x{w}")?,
            Target::Size(size) => write!(f, "Upsample(size {size}")?,
        }
        match self.1 {
            UpsampleMode::Nearest => f.write_str(", nearest)"),
            UpsampleMode::Bilinear { align_corners: false } => f.write_str(", bilinear)"),
            UpsampleMode::Bilinear { align_corners: true } => f.write_str(", bilinear, align_corners)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{forward_child, panic_message};
    use crate::layers::contract::{check_layer, check_threads};
    use crate::layers::pool::tests::t;
    use ndarray::IxDyn;

    #[test]
    fn nearest_repeats_pixels() {
        let x = t(&[1, 1, 2, 2], &[1., 2., 3., 4.]);
        let mut up = Upsample::nearest(2.0);
        let y = up.forward(x, Mode::Train);
        assert_eq!(
            y,
            t(
                &[1, 1, 4, 4],
                &[1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]
            )
        );
        assert_eq!(up.backward(Tensor::ones(y.raw_dim())), t(&[1, 1, 2, 2], &[4.; 4]));
        // Scale 1.5 on 2 pixels: 3 outputs reading floor(i / 1.5) = 0, 0, 1.
        let y =
            Upsample::new(1.0, 1.5, UpsampleMode::Nearest).forward(t(&[1, 1, 1, 2], &[5., 7.]), Mode::Eval);
        assert_eq!(y, t(&[1, 1, 1, 3], &[5., 5., 7.]));
    }

    #[test]
    fn bilinear_interpolates_between_pixels() {
        let x = t(&[1, 1, 1, 2], &[0., 4.]);
        // align_corners: the ends stay, the middle is interpolated.
        let up = |align| Upsample::new(1.0, 2.0, UpsampleMode::Bilinear { align_corners: align });
        assert_eq!(
            up(true).forward(x.clone(), Mode::Eval),
            t(&[1, 1, 1, 4], &[0., 4. / 3., 8. / 3., 4.])
        );
        // Pixel areas: src = (dst + 0.5) / 2 - 0.5 = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped
        // to the last pixel).
        assert_eq!(
            up(false).forward(x, Mode::Eval),
            t(&[1, 1, 1, 4], &[0., 1., 3., 4.])
        );
    }

    #[test]
    fn keeps_the_layer_contract_in_several_configurations() {
        let layers = [
            (Upsample::nearest(2.0), [2, 2, 6, 8]),
            (Upsample::new(1.5, 2.5, UpsampleMode::Nearest), [2, 2, 4, 10]),
            (Upsample::bilinear(2.0, false), [2, 2, 6, 8]),
            (Upsample::bilinear(2.0, true), [2, 2, 6, 8]),
            (
                Upsample::new(1.7, 1.3, UpsampleMode::Bilinear { align_corners: false }),
                [2, 2, 5, 5],
            ),
            (
                Upsample::with_size((5, 7), UpsampleMode::Bilinear { align_corners: true }),
                [2, 2, 5, 7],
            ),
            (Upsample::with_size(2, UpsampleMode::Nearest), [2, 2, 2, 2]),
        ];
        for (mut up, expected) in layers {
            assert_eq!(
                check_layer(&mut up, &[2, 2, 3, 4]),
                expected,
                "{}",
                up.type_name()
            );
        }
    }

    #[test]
    fn names_and_bad_options() {
        assert_eq!(Upsample::nearest(2.0).type_name(), "Upsample(scale 2, nearest)");
        assert_eq!(
            Upsample::new(2.0, 1.5, UpsampleMode::Bilinear { align_corners: true }).type_name(),
            "Upsample(scale 2x1.5, bilinear, align_corners)"
        );
        assert_eq!(
            Upsample::with_size((4, 6), UpsampleMode::Bilinear { align_corners: false }).type_name(),
            "Upsample(size 4x6, bilinear)"
        );
        let msg = panic_message(|| {
            Upsample::nearest(0.0);
        });
        assert_eq!(
            msg,
            "Upsample: scale_factor must be positive and finite, got (0, 0)"
        );
        let msg = panic_message(|| {
            Upsample::with_size((3, 0), UpsampleMode::Nearest);
        });
        assert_eq!(msg, "Upsample: size must be at least 1x1, got 3x0");
        let msg = panic_message(|| {
            forward_child(
                "dec.up",
                &mut Upsample::nearest(0.4),
                Tensor::zeros(IxDyn(&[1, 1, 2, 2])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            format!(
                "dec.up: an input of 2x2 scaled by (0.4, 0.4) gives an output of 0x0, expected at \
                 least 1x1 and at most {MAX_VALUES} values"
            )
        );
        let msg = panic_message(|| {
            forward_child(
                "dec.up",
                &mut Upsample::nearest(1e300),
                Tensor::zeros(IxDyn(&[1, 1, 2, 2])),
                Mode::Eval,
            );
        });
        assert!(
            msg.starts_with(
                "dec.up: an input of 2x2 scaled by (1e300, 1e300) gives an output of 2e300x2e300"
            ),
            "{msg}"
        );
        let msg = panic_message(|| {
            forward_child(
                "dec.up",
                &mut Upsample::nearest(2.0),
                Tensor::zeros(IxDyn(&[4, 9])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "dec.up: expected a batch of images of shape [N, C, H, W], got shape [4, 9]"
        );
    }

    #[test]
    fn a_large_batch_split_over_threads_gives_the_bits_of_one_thread() {
        check_threads(&mut Upsample::nearest(2.0), &[32, 4, 12, 12]);
        check_threads(&mut Upsample::bilinear(1.5, false), &[32, 4, 12, 12]);
    }
}
