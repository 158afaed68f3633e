//! What the layers that map each image plane to a plane of another size
//! ([`AdaptiveAvgPool2d`](super::AdaptiveAvgPool2d), [`Upsample`](super::Upsample)) share: the
//! passes over a batch's planes on nn's threads, and the buffers they recycle.

use super::nchw::{check_images, recycle, Size2};
use super::pool::{for_planes, Idx};
use crate::layer::{check_grad_shape, contiguous, no_train_forward, Mode};
use crate::linalg::vectorized;
use crate::pages;
use crate::tensor::Tensor;
use std::fmt::Display;

/// Panics, naming the layer path (or `layer` outside a container) and the shape, unless `x` is
/// a batch of images `[N, C, H, W]` of at least one pixel; returns its shape.
#[track_caller]
pub(super) fn check_planes(x: &Tensor, layer: &str) -> [usize; 4] {
    check_images(x, None, None, layer).0
}

/// The input shape of the last Train forward (until backward takes it) and the buffers
/// recycled between passes: that forward's input, as backward's input gradient, and the
/// gradient backward was handed, as the next forward's output.
#[derive(Clone, Debug, Default)]
pub(super) struct Resample {
    input_shape: Option<[usize; 4]>,
    spare_input: Option<Tensor>,
    spare: Option<Tensor>,
}

impl Resample {
    /// Maps each `[h, w]` plane of `x` (of `shape`) to an `out` plane with `plane(x, y)`;
    /// a Train forward keeps `x`.
    pub fn forward(
        &mut self,
        x: Tensor,
        shape: [usize; 4],
        out: Size2,
        mode: Mode,
        layer: &str,
        plane: impl Fn(&[f32], &mut [f32]) + Sync,
    ) -> Tensor {
        let [n, c, h, w] = shape;
        let mut x = contiguous(x);
        let mut y = recycle(self.spare.take(), &[n, c, out.h, out.w], layer);
        let (xs, ys) = (
            x.as_slice_mut().expect("standard"),
            y.as_slice_mut().expect("standard"),
        );
        let (size, out_size) = (h * w, out.h * out.w);
        for_planes(xs, size, ys, out_size, Idx::None, |p| {
            vectorized(
                #[inline(always)]
                || {
                    for (x, y) in p.a.chunks_exact(size).zip(p.b.chunks_exact_mut(out_size)) {
                        plane(x, y);
                    }
                },
            )
        });
        if mode == Mode::Train {
            self.input_shape = Some(shape);
            self.spare_input = Some(x);
        } else {
            pages::give_back(x);
        }
        y
    }

    /// The input shape of the last Train forward, for its backward. Panics, naming the layer
    /// path and `layer`, if there was none since the last backward.
    #[track_caller]
    pub fn take_input_shape(&mut self, layer: impl Display) -> [usize; 4] {
        self.input_shape.take().unwrap_or_else(|| no_train_forward(layer))
    }

    /// The input gradient for `grad` (checked to be `[N, C, out]`) of the forward of an input of
    /// `shape`: zeros, to which `plane(g, dx)` adds each plane's share.
    pub fn backward(
        &mut self,
        grad: Tensor,
        shape: [usize; 4],
        out: Size2,
        layer: &str,
        plane: impl Fn(&[f32], &mut [f32]) + Sync,
    ) -> Tensor {
        let [n, c, h, w] = shape;
        if grad.shape() != [n, c, out.h, out.w] {
            check_grad_shape(grad.shape(), &[n, c, out.h, out.w]);
        }
        let mut grad = contiguous(grad);
        let mut dx = recycle(self.spare_input.take(), &shape, layer);
        let (gs, ds) = (
            grad.as_slice_mut().expect("standard"),
            dx.as_slice_mut().expect("standard"),
        );
        let (size, out_size) = (h * w, out.h * out.w);
        for_planes(ds, size, gs, out_size, Idx::None, |p| {
            vectorized(
                #[inline(always)]
                || {
                    p.a.fill(0.0);
                    for (dx, g) in p.a.chunks_exact_mut(size).zip(p.b.chunks_exact(out_size)) {
                        plane(g, dx);
                    }
                },
            )
        });
        self.spare = Some(grad);
        dx
    }
}
