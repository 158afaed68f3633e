//! Batch normalisation over the batch dimension, per feature.

use super::batch_stats::{values, BatchStats};
use super::par;
use crate::layer::{contiguous, flatten_in, Layer, Mode, Saved, TypeName, Visitor};
use crate::linalg::vectorized;
use crate::tensor::Tensor;
use ndarray::{Array1, Dimension, IxDyn};

/// Batch normalisation (Ioffe & Szegedy, 2015), as the seed notebook implements it.
///
/// Normalises each feature over the batch, then scales by `weight` and shifts by `bias`. An input
/// of rank > 2 is flattened to `(N, features)` as the seed does, so `(N, C, H, W)` input is
/// normalised per activation (`features = C*H*W`), not per channel like PyTorch's `BatchNorm2d`.
/// The output has the input's shape.
///
/// - Train: batch mean and biased batch variance (divided by N, as the seed does; PyTorch stores
///   the unbiased N/(N-1) variance in `running_var`). Running statistics are updated as
///   `running = (1 - momentum) * running + momentum * batch`, `momentum = 0.1` by default:
///   PyTorch's meaning and default. (The seed's `momentum = 0.9` is the weight of the old
///   statistics, so its 0.9 is this 0.1, and gives the same bits: see [`BatchNorm::with_momentum`].)
///   A Train batch of fewer than two samples is normalised the same way (one sample comes out as
///   `bias`, with a zero input gradient) but leaves the running statistics unchanged: its
///   variance says nothing about the data's (PyTorch refuses such a batch).
/// - Eval: the running statistics.
/// - `eps = 1e-5` inside the square root, PyTorch's default (the seed uses 1e-7), so that
///   statistics carried over from a PyTorch checkpoint normalise the same way.
///   [`BatchNorm::with_eps`] changes it.
///
/// Parameters `weight` (ones) and `bias` (zeros), both [`ParamKind::Norm`](crate::layer::ParamKind::Norm) (the seed's `gamma`
/// and `beta`, named as in PyTorch); buffers `running_mean` (zeros) and `running_var` (ones), all
/// of shape `[features]`, and `num_batches_tracked`, the number of Train forwards that updated
/// the running statistics, as an f32 of shape `[]` (exact up to 2^24). These are the names, shapes
/// and order of PyTorch's `BatchNorm1d` state dict, so `load_state_dict(strict=True)` accepts a
/// file nn saved (PyTorch copies the count into its int64 buffer).
#[derive(Clone, Debug)]
pub struct BatchNorm {
    features: usize,
    stats: BatchStats,
    /// The normalised input of the last Train forward, in the input's shape (and so the
    /// gradient's).
    x_hat: Saved<f32>,
    /// `1 / sqrt(var + eps)` of the last Train batch.
    inv_std: Array1<f32>,
    /// Per-feature scratch: the batch mean in forward, the gradient coefficient in backward.
    scratch: Array1<f32>,
    /// Per-feature scratch for Eval's folded scale and shift, kept apart from `inv_std` so an
    /// Eval forward between a Train forward and its backward changes nothing.
    eval_scale: Array1<f32>,
    eval_shift: Array1<f32>,
}

impl BatchNorm {
    /// Batch normalisation of `features` features with momentum 0.1 and eps 1e-5 (PyTorch's
    /// defaults).
    pub fn new(features: usize) -> Self {
        assert!(features > 0, "BatchNorm::new: features must be at least 1");
        BatchNorm {
            features,
            stats: BatchStats::new(features),
            x_hat: Saved::new(),
            inv_std: Array1::zeros(features),
            scratch: Array1::zeros(features),
            eval_scale: Array1::zeros(features),
            eval_shift: Array1::zeros(features),
        }
    }

    /// Sets the weight of the new batch in each update of the running statistics,
    /// `running = (1 - momentum) * running + momentum * batch` (`0 <= momentum <= 1`, default
    /// 0.1), as PyTorch's `momentum`. The seed's momentum `m` weighs the old statistics instead:
    /// it is `with_momentum(1 - m)`, so the seed's 0.9 is the default 0.1.
    ///
    /// The update weighs the old statistics by `1 - momentum` rounded to f32 and the batch by
    /// exactly the rest of 1, so the two weights sum to one; for 0.1 they are 0.9 and
    /// 0.100000024, bit for bit the seed's `0.9 * running + (1 - 0.9) * batch`.
    pub fn with_momentum(mut self, momentum: f32) -> Self {
        self.stats.set_momentum("BatchNorm", momentum);
        self
    }

    /// Sets the constant added to the variance before the square root (`eps > 0`); 1e-7 gives
    /// the seed notebook's numbers.
    pub fn with_eps(mut self, eps: f32) -> Self {
        self.stats.set_eps("BatchNorm", eps);
        self
    }

    /// Features normalised.
    pub fn features(&self) -> usize {
        self.features
    }

    /// The weight of the new batch in the running statistics (PyTorch's `momentum`).
    pub fn momentum(&self) -> f32 {
        self.stats.momentum
    }

    /// The variance epsilon.
    pub fn eps(&self) -> f32 {
        self.stats.eps
    }

    /// The running mean used in Eval.
    pub fn running_mean(&self) -> &Tensor {
        &self.stats.running_mean
    }

    /// The running (biased) variance used in Eval.
    pub fn running_var(&self) -> &Tensor {
        &self.stats.running_var
    }

    /// How many Train forwards have updated the running statistics (PyTorch's
    /// `num_batches_tracked`).
    pub fn num_batches_tracked(&self) -> u64 {
        self.stats.num_batches_tracked.sum() as u64
    }
}

impl Layer for BatchNorm {
    #[track_caller]
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let shape = IxDyn(x.shape());
        let mut x = flatten_in(TypeName(&*self), x, self.features);
        let f = self.features;
        let n = x.nrows();
        let xs = x.as_slice_mut().expect("flatten gives standard layout");
        if mode == Mode::Eval {
            let (weight, bias) = (values(&self.stats.weight), values(&self.stats.bias));
            let mean = values(&self.stats.running_mean);
            let var = values(&self.stats.running_var);
            let (scale, shift) = (
                self.eval_scale.as_slice_mut().expect("own buffer"),
                self.eval_shift.as_slice_mut().expect("own buffer"),
            );
            let eps = self.stats.eps;
            // Fold everything into y = x * scale + shift: one multiply-add per element.
            let params = weight.iter().zip(bias).zip(mean).zip(var);
            for ((s, t), (((&g, &b), &m), &v)) in scale.iter_mut().zip(shift.iter_mut()).zip(params) {
                *s = g / (v + eps).sqrt();
                *t = b - m * *s;
            }
            let (scale, shift) = (&*scale, &*shift);
            // A large Eval batch (inference) is split over nn's threads.
            par::rows(xs, f, &|xs: &mut [f32]| {
                vectorized(
                    #[inline(always)]
                    || {
                        for row in xs.chunks_exact_mut(f) {
                            for ((v, &s), &t) in row.iter_mut().zip(scale).zip(shift) {
                                *v = *v * s + t;
                            }
                        }
                    },
                )
            });
            return x.into_shape_with_order(shape).expect("same size");
        }

        let inv_n = 1.0 / n as f32;
        // Complementary weights (see `with_momentum`): 1 - keep is exact for keep in [0.5, 1],
        // and for keep below 0.5 both subtractions are.
        let keep = 1.0 - self.stats.momentum;
        let (batch_weight, eps) = (1.0 - keep, self.stats.eps);
        let mean = self.scratch.as_slice_mut().expect("own buffer");
        let inv_std = self.inv_std.as_slice_mut().expect("own buffer");
        let stats = &mut self.stats;
        let x_hat = self
            .x_hat
            .prepare(shape.slice())
            .as_slice_mut()
            .expect("prepare gives standard layout");
        vectorized(
            #[inline(always)]
            || {
                mean.fill(0.0);
                for row in xs.chunks_exact(f) {
                    for (m, &v) in mean.iter_mut().zip(row) {
                        *m += v;
                    }
                }
                for m in mean.iter_mut() {
                    *m *= inv_n;
                }
                // Two passes (mean, then squared deviations) rather than E[x^2] - E[x]^2, which
                // loses every digit in f32 when the mean is large compared with the spread.
                let var = &mut *inv_std;
                var.fill(0.0);
                for row in xs.chunks_exact(f) {
                    for ((s, &v), &m) in var.iter_mut().zip(row).zip(&*mean) {
                        *s += (v - m) * (v - m);
                    }
                }
                for s in var.iter_mut() {
                    *s *= inv_n;
                }
                // One sample has variance 0 whatever the data, and an empty batch has no
                // statistics at all (0/0): neither may pull the running statistics that Eval
                // uses (towards 0 or to NaN).
                if n >= 2 {
                    let batch = mean.iter().copied().zip(var.iter().copied());
                    stats.track(keep, batch_weight, batch);
                }
                for s in var.iter_mut() {
                    *s = 1.0 / (*s + eps).sqrt();
                }
                let inv_std = &*var;
                let (weight, bias) = (values(&stats.weight), values(&stats.bias));
                for (row, h_row) in xs.chunks_exact_mut(f).zip(x_hat.chunks_exact_mut(f)) {
                    let per_feature = mean.iter().zip(inv_std).zip(weight).zip(bias);
                    for ((v, h), (((&m, &s), &g), &b)) in
                        row.iter_mut().zip(h_row.iter_mut()).zip(per_feature)
                    {
                        *h = (*v - m) * s;
                        *v = g * *h + b;
                    }
                }
            },
        );
        x.into_shape_with_order(shape).expect("same size")
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let shape = IxDyn(grad.shape());
        let features = self.features;
        let x_hat = self
            .x_hat
            .take(grad.shape(), format_args!("BatchNorm({features})"));
        // Rank >= 2: forward flattened it.
        let n = x_hat.shape()[0];
        let x_hat = x_hat.as_slice().expect("prepare gives standard layout");
        let mut g = contiguous(grad)
            .into_shape_with_order((n, features))
            .expect("standard layout reshapes");
        let gs = g.as_slice_mut().expect("standard layout");
        let weight = values(&self.stats.weight);
        let weight_grad = self
            .stats
            .weight_grad
            .as_slice_mut()
            .expect("checked standard layout");
        let bias_grad = self
            .stats
            .bias_grad
            .as_slice_mut()
            .expect("checked standard layout");
        let coef = self.scratch.as_slice_mut().expect("own buffer");
        let inv_std = self.inv_std.as_slice().expect("own buffer");
        let n_f = n as f32;
        vectorized(
            #[inline(always)]
            || {
                weight_grad.fill(0.0);
                bias_grad.fill(0.0);
                for (row, h_row) in gs.chunks_exact(features).zip(x_hat.chunks_exact(features)) {
                    let sums = weight_grad.iter_mut().zip(bias_grad.iter_mut());
                    for (((dg, db), &v), &h) in sums.zip(row).zip(h_row) {
                        *dg += v * h;
                        *db += v;
                    }
                }
                // dx = weight * inv_std / N * (N * g - sum(g) - x_hat * sum(g * x_hat)), the closed
                // form of the seed's step-by-step chain rule, written into the gradient buffer.
                for ((c, &gm), &s) in coef.iter_mut().zip(weight).zip(inv_std) {
                    *c = gm * s / n_f;
                }
                let (weight_grad, bias_grad) = (&*weight_grad, &*bias_grad);
                for (row, h_row) in gs.chunks_exact_mut(features).zip(x_hat.chunks_exact(features)) {
                    let per_feature = coef.iter().zip(bias_grad).zip(weight_grad);
                    for ((v, &h), ((&c, &db), &dg)) in row.iter_mut().zip(h_row).zip(per_feature) {
                        *v = c * (n_f * *v - db - h * dg);
                    }
                }
            },
        );
        g.into_shape_with_order(shape).expect("same size")
    }

    fn visit(&mut self, v: &mut Visitor<'_>) {
        self.stats.visit(v);
    }

    fn type_name(&self) -> String {
        format!("BatchNorm({})", self.features)
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::gradcheck;
    use crate::layer::{backward_child, for_each_buffer, param_names};

    fn batch() -> Tensor {
        Tensor::from_shape_vec(vec![4, 2], vec![1., 10., 2., 20., 3., 30., 4., 40.]).unwrap()
    }

    #[test]
    fn a_large_eval_batch_split_over_threads_is_normalised_row_by_row_with_the_same_bits() {
        // 1,000 x 64 values: enough to be split over threads, with BatchNorm then ReLU.
        let x = Tensor::from_shape_fn(IxDyn(&[1000, 64]), |i| ((i[0] * 7 + i[1] * 13) % 17) as f32 - 8.0);
        let run = |threads: usize| {
            crate::linalg::set_num_threads(threads);
            let mut bn = BatchNorm::new(64);
            bn.forward(x.clone() * 0.5, Mode::Train); // non-trivial running statistics
            let y = bn.forward(x.clone(), Mode::Eval);
            let (mean, var) = (bn.running_mean().clone(), bn.running_var().clone());
            (crate::Relu::new().forward(y, Mode::Eval), mean, var)
        };
        let one = run(1);
        let (y, mean, var) = &one;
        for (i, &v) in y.indexed_iter() {
            let f = i[1];
            let expect = ((x[&i] - mean[f]) / (var[f] + 1e-5).sqrt()).max(0.0);
            assert!(
                (v - expect).abs() <= 1e-5 * (1.0 + expect.abs()),
                "{i:?}: {v} vs {expect}"
            );
        }
        assert!(y.iter().any(|&v| v == 0.0) && y.iter().any(|&v| v > 0.0));
        for threads in [2, 3, 4] {
            assert!(run(threads) == one, "{threads} threads");
        }
        crate::linalg::set_num_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }

    #[test]
    fn train_normalises_each_feature_and_updates_running_stats() {
        let mut bn = BatchNorm::new(2);
        let y = bn.forward(batch(), Mode::Train);
        for col in y.columns() {
            let mean = col.sum() / 4.0;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
            assert!(
                mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-4,
                "mean {mean} var {var}"
            );
        }
        // Batch means 2.5 and 25, biased variances 1.25 and 125.
        let rm = bn.running_mean().as_slice().unwrap();
        let rv = bn.running_var().as_slice().unwrap();
        assert!((rm[0] - 0.25).abs() < 1e-6 && (rm[1] - 2.5).abs() < 1e-5);
        assert!((rv[0] - (0.9 + 0.125)).abs() < 1e-6 && (rv[1] - (0.9 + 12.5)).abs() < 1e-4);
    }

    /// The running statistics after each of three Train batches, as the seed's arithmetic
    /// (`0.9 * running + (1 - 0.9) * batch` in f32, 1 - 0.9f32 being 0.100000024) gave them before
    /// momentum took PyTorch's meaning: the default must not change a trained model's numbers.
    #[test]
    fn the_default_momentum_gives_the_seeds_running_statistics_bit_for_bit() {
        let batch = |step: usize| {
            Tensor::from_shape_fn(IxDyn(&[5, 3]), |i| {
                ((i[0] * 7 + i[1] * 3 + step * 5) % 11) as f32 * 0.37 - 1.3 + i[1] as f32
            })
        };
        #[rustfmt::skip]
        let pinned: [[[u32; 3]; 2]; 3] = [
            [[0x3d7f972a, 0x3e449ba9, 0x3e75f701], [0x3f87ceaa, 0x3f84b924, 0x3f81a39d]],
            [[0x3d73237f, 0x3e9c779d, 0x3ef50874], [0x3f88aa69, 0x3f85e3d7, 0x3f894851]],
            [[0x3e2411c6, 0x3edc2e38, 0x3f2248b9], [0x3f89702f, 0x3f8a0632, 0x3f89fe4d]],
        ];
        let bits = |t: &Tensor| -> Vec<u32> { t.iter().map(|v| v.to_bits()).collect() };
        for mut bn in [BatchNorm::new(3), BatchNorm::new(3).with_momentum(0.1)] {
            // Momentum 1 keeps exactly the last batch's statistics: the seed's formula on them.
            let mut batch_only = BatchNorm::new(3).with_momentum(1.0);
            for (step, [mean, var]) in pinned.iter().enumerate() {
                let (old_mean, old_var) = (bn.running_mean().clone(), bn.running_var().clone());
                bn.forward(batch(step), Mode::Train);
                batch_only.forward(batch(step), Mode::Train);
                assert_eq!(
                    (bits(bn.running_mean()), bits(bn.running_var())),
                    (mean.to_vec(), var.to_vec())
                );
                let seed = |old: &Tensor, new: &Tensor| {
                    ndarray::Zip::from(old)
                        .and(new)
                        .map_collect(|&r, &b| 0.9f32 * r + (1.0 - 0.9f32) * b)
                };
                assert_eq!(bn.running_mean(), &seed(&old_mean, batch_only.running_mean()));
                assert_eq!(bn.running_var(), &seed(&old_var, batch_only.running_var()));
            }
        }
    }

    #[test]
    fn batches_of_one_or_no_sample_leave_the_running_statistics_alone() {
        let mut bn = BatchNorm::new(2);
        bn.forward(batch(), Mode::Train);
        let (mean, var) = (bn.running_mean().clone(), bn.running_var().clone());
        let one = Tensor::from_shape_vec(vec![1, 2], vec![3.0, -7.0]).unwrap();
        let y = bn.forward(one, Mode::Train);
        assert_eq!(y.as_slice().unwrap(), &[0.0, 0.0]); // x_hat = 0, so y = bias
        assert_eq!(
            bn.backward(Tensor::ones(IxDyn(&[1, 2]))).as_slice().unwrap(),
            &[0.0, 0.0]
        );
        let y = bn.forward(Tensor::zeros(IxDyn(&[0, 2])), Mode::Train);
        assert_eq!(y.shape(), &[0, 2]);
        assert_eq!(bn.backward(Tensor::zeros(IxDyn(&[0, 2]))).shape(), &[0, 2]);
        assert_eq!((bn.running_mean(), bn.running_var()), (&mean, &var));
        assert_eq!(bn.num_batches_tracked(), 1, "only the batch of four counts");
    }

    #[test]
    fn eval_uses_the_running_statistics() {
        let mut bn = BatchNorm::new(2).with_momentum(1.0);
        bn.forward(batch(), Mode::Train); // momentum 1: running stats = this batch's
        let y = bn.forward(
            Tensor::from_shape_vec(vec![1, 2], vec![2.5, 25.0 + 125f32.sqrt()]).unwrap(),
            Mode::Eval,
        );
        assert!(y[[0, 0]].abs() < 1e-6);
        assert!((y[[0, 1]] - 1.0).abs() < 1e-4, "{}", y[[0, 1]]);
    }

    #[test]
    fn four_d_input_is_normalised_per_activation_and_keeps_its_shape() {
        let mut bn = BatchNorm::new(3 * 2 * 2);
        let x = Tensor::from_shape_fn(IxDyn(&[5, 3, 2, 2]), |i| (i[0] * i[1] + i[3]) as f32);
        let y = bn.forward(x, Mode::Train);
        assert_eq!(y.shape(), &[5, 3, 2, 2]);
        let g = bn.backward(Tensor::ones(IxDyn(&[5, 3, 2, 2])));
        assert_eq!(g.shape(), &[5, 3, 2, 2]);
    }

    #[test]
    fn names_params_and_buffers_as_pytorch_does() {
        let mut bn = BatchNorm::new(128);
        assert_eq!(param_names(&mut bn), ["weight", "bias"]);
        let mut buffers = Vec::new();
        for_each_buffer(&mut bn, |name, t| {
            buffers.push((name.to_string(), t.shape().to_vec(), t.sum()))
        });
        assert_eq!(
            buffers,
            [
                ("running_mean".to_string(), vec![128], 0.0),
                ("running_var".to_string(), vec![128], 128.0),
                ("num_batches_tracked".to_string(), vec![], 0.0)
            ]
        );
        assert_eq!(bn.type_name(), "BatchNorm(128)");
        assert_eq!(bn.eps(), 1e-5);
        assert_eq!(bn.momentum(), 0.1);
    }

    #[test]
    fn num_batches_tracked_counts_train_forwards_and_is_saved_with_the_model() {
        let mut bn = BatchNorm::new(2);
        for _ in 0..3 {
            bn.forward(batch(), Mode::Train);
        }
        bn.forward(batch(), Mode::Eval);
        assert_eq!(bn.num_batches_tracked(), 3);

        let path = std::env::temp_dir().join(format!("nn-bn-count-{}.safetensors", std::process::id()));
        crate::checkpoint::save(&mut bn, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let count = file.tensor("num_batches_tracked").unwrap();
        assert_eq!((count.shape(), count.data()), (&[][..], &3f32.to_le_bytes()[..]));
        let mut fresh = BatchNorm::new(2);
        crate::checkpoint::load(&mut fresh, &path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(fresh.num_batches_tracked(), 3);
        assert_eq!(fresh.running_mean(), bn.running_mean());
    }

    #[test]
    fn eval_between_train_forward_and_backward_changes_nothing() {
        let mut a = BatchNorm::new(2);
        let mut b = BatchNorm::new(2);
        a.forward(batch(), Mode::Train);
        b.forward(batch(), Mode::Train);
        a.forward(batch(), Mode::Eval);
        let g = Tensor::from_shape_vec(vec![4, 2], vec![1., 0., -1., 2., 0.5, 0.5, 3., -3.]).unwrap();
        assert_eq!(a.backward(g.clone()), b.backward(g));
    }

    #[test]
    fn passes_gradcheck_in_train_mode_on_2d_and_4d_input() {
        let mut bn = BatchNorm::new(5);
        // A non-trivial weight and bias, so their gradients and the weight factor in dx matter.
        crate::layer::for_each_param(&mut bn, |name, mut p| {
            let base = if name == "weight" { 1.5 } else { -0.3 };
            p.value
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = base + 0.1 * i as f32);
        });
        gradcheck(&mut bn, &[6, 5]).assert_passed();
        let mut bn4 = BatchNorm::new(2 * 2 * 2);
        gradcheck(&mut bn4, &[4, 2, 2, 2]).assert_passed();
    }

    #[test]
    fn wrong_width_and_missing_forward_name_the_layer() {
        let mut bn = BatchNorm::new(128);
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::layer::forward_child("bn1", &mut bn, Tensor::zeros(IxDyn(&[2, 64])), Mode::Train);
        }))
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.starts_with("bn1: expected 128 input features, got 64"),
            "{msg}"
        );
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            backward_child("bn1", &mut bn, Tensor::zeros(IxDyn(&[2, 128])));
        }))
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.starts_with("bn1: backward called on BatchNorm(128) without"),
            "{msg}"
        );
    }
}
