//! `BatchNorm2d` with its running statistics: the Eval forward, and training with frozen
//! statistics (`TrainingPlan::norm_stats_frozen`), whose backward is a per-channel scaling.

use super::{activate, through, BatchNorm2d};
use crate::layer::{check_grad_shape_in, contiguous, Mode, TypeName};
use crate::layers::batch_stats::values;
use crate::layers::par;
use crate::linalg::vectorized;
use crate::tensor::Tensor;

impl BatchNorm2d {
    /// `y = x * scale + shift` per channel with `scale = weight / sqrt(running_var + eps)` (and
    /// the fused ReLU), in place. In Train mode (frozen statistics) it also keeps what backward
    /// needs: the scales, the shape, and the input if a fused ReLU masks the gradient.
    pub(super) fn forward_with_running_stats(
        &mut self,
        mut x: Tensor,
        mode: Mode,
        [n, c, h, w]: [usize; 4],
    ) -> Tensor {
        let hw = h * w;
        let (weight, bias) = (values(&self.stats.weight), values(&self.stats.bias));
        let (mean, var) = (values(&self.stats.running_mean), values(&self.stats.running_var));
        let (eps, relu) = (self.stats.eps, self.relu);
        if mode == Mode::Train && relu {
            // Frozen statistics with a fused ReLU: backward needs the output's sign, so keep
            // the input (in the recycled buffer) to recompute it.
            let mut kept = match self.spare.take() {
                Some(spare) if spare.shape() == x.shape() => spare,
                _ => Tensor::zeros(x.shape()),
            };
            kept.assign(&x);
            self.input = Some(kept);
        }
        let xs = x.as_slice_mut().expect("standard layout");
        // Images are independent: a large batch is spread over nn's threads by whole
        // images, each value computed as on one thread.
        par::rows(xs, c * hw, &|images: &mut [f32]| {
            vectorized(
                #[inline(always)]
                || {
                    for image in images.chunks_exact_mut(c * hw) {
                        for (ch, plane) in image.chunks_exact_mut(hw).enumerate() {
                            let scale = weight[ch] / (var[ch] + eps).sqrt();
                            let shift = bias[ch] - mean[ch] * scale;
                            for v in plane {
                                *v = activate(relu, *v * scale + shift);
                            }
                        }
                    }
                },
            )
        });
        if mode == Mode::Train {
            // Frozen statistics: backward is the scaling alone (and the ReLU's mask).
            for (ch, scale) in self.inv_std.iter_mut().enumerate().take(c) {
                *scale = weight[ch] / (var[ch] + eps).sqrt();
            }
            self.frozen_shape = Some([n, c, h, w]);
        }
        x
    }

    /// Backward of a Train forward of `shape` with frozen statistics, `y = x * scale + shift`
    /// per channel: `dx = g * scale` (no parameter gradient: both are frozen).
    pub(super) fn frozen_backward(&mut self, shape: [usize; 4], grad: Tensor) -> Tensor {
        if grad.shape() != shape {
            check_grad_shape_in(TypeName(&*self), grad.shape(), &shape);
        }
        // The input a fused ReLU's mask is recomputed from (kept by forward only then).
        let kept = if self.relu { self.input.take() } else { None };
        if !self.needs.input {
            self.spare = kept.or(self.spare.take());
            return grad;
        }
        let [n, c, h, w] = shape;
        let hw = h * w;
        let mut grad = contiguous(grad);
        let gs = grad.as_slice_mut().expect("standard layout");
        let scales = &self.inv_std;
        let (mean, bias) = (values(&self.stats.running_mean), values(&self.stats.bias));
        let xs = kept
            .as_ref()
            .map(|x| x.as_slice().expect("kept in standard layout"));
        vectorized(
            #[inline(always)]
            || {
                for i in 0..n {
                    for (ch, &s) in scales.iter().enumerate().take(c) {
                        let plane = (i * c + ch) * hw..(i * c + ch + 1) * hw;
                        match xs {
                            // The forward's output, recomputed to the bit, masks the gradient.
                            Some(xs) => {
                                let shift = bias[ch] - mean[ch] * s;
                                for (g, &v) in gs[plane.clone()].iter_mut().zip(&xs[plane]) {
                                    *g = through(true, v * s + shift, *g) * s;
                                }
                            }
                            None => {
                                for g in &mut gs[plane] {
                                    *g *= s;
                                }
                            }
                        }
                    }
                }
            },
        );
        self.spare = kept.or(self.spare.take());
        grad
    }
}
