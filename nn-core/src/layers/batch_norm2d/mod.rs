//! Batch normalisation per channel of image batches (PyTorch's `BatchNorm2d`): the layer and
//! its training with batch statistics; `frozen.rs` normalises with the running statistics.

mod frozen;

use super::batch_stats::{values, values_mut, BatchStats};
use super::nchw::{check_images, recycle, sum_map, sum_zip, sum_zip2};
use super::par::{self, PARTS};
use crate::layer::{check_grad_shape_in, contiguous, no_train_forward, TypeName};
use crate::layer::{Layer, Mode, Needs, TrainingPlan, Visitor};
use crate::linalg::vectorized;
use crate::tensor::Tensor;
use ndarray::{ArrayViewMut2, ArrayViewMut3, Axis};

/// Batch normalisation of `[N, C, H, W]` batches per channel: each channel is normalised over
/// its `N * H * W` values, then scaled by `weight` and shifted by `bias` (one each per channel).
///
/// It follows PyTorch's `BatchNorm2d` exactly, names included (`weight`, `bias`,
/// `running_mean`, `running_var`, `num_batches_tracked`), so state_dicts map one to one:
///
/// - Train: batch mean and biased batch variance normalise; the running statistics move by
///   `running = (1 - momentum) * running + momentum * batch` with `momentum = 0.1` (the weight of
///   the new batch) and the unbiased variance (`* M / (M - 1)`, `M = N * H * W`);
///   `num_batches_tracked` counts the updates. A batch of a single value per channel leaves
///   them alone (its variance says nothing).
/// - Eval: `y = (x - running_mean) / sqrt(running_var + eps) * weight + bias`, `eps = 1e-5`.
///
/// [`BatchNorm`](super::BatchNorm), the seed's layer, instead normalises a 4-D input per
/// activation (`C * H * W` features, each over `N` values): use it after `Linear`, and this
/// after `Conv2d`.
///
/// ```
/// use nn_core::{layers::BatchNorm2d, Layer, Mode, Tensor};
/// let mut bn = BatchNorm2d::new(32);
/// let y = bn.forward(Tensor::ones(vec![4, 32, 26, 26]), Mode::Train);
/// assert_eq!(y.shape(), &[4, 32, 26, 26]);
/// ```
#[derive(Clone, Debug)]
pub struct BatchNorm2d {
    channels: usize,
    stats: BatchStats,
    /// The input of the last Train forward: backward recomputes the normalised input from it
    /// (cheaper than writing it out in forward and reading it back).
    input: Option<Tensor>,
    /// The batch mean and `1 / sqrt(var + eps)` per channel, of the same forward (the second
    /// holds the batch variance until forward has updated the running statistics).
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// The buffer backward is done with, recycled as the next Train forward's output.
    spare: Option<Tensor>,
    /// Which gradients the trainer's plan needs, and whether it keeps the running statistics in
    /// training (see [`Layer::prepare`]).
    needs: Needs,
    frozen_stats: bool,
    /// The input shape of the last Train forward made with the running statistics, until its
    /// backward (which scales by `inv_std`, then `weight / sqrt(running_var + eps)`).
    frozen_shape: Option<[usize; 4]>,
    /// Whether a ReLU is applied to the output in the same passes ([`BatchNorm2d::with_relu`]).
    relu: bool,
}

impl BatchNorm2d {
    /// Normalisation of `channels` channels: weight 1, bias 0, running mean 0 and variance 1.
    pub fn new(channels: usize) -> Self {
        assert!(channels > 0, "BatchNorm2d: channels must be at least 1");
        BatchNorm2d {
            channels,
            stats: BatchStats::new(channels),
            input: None,
            mean: vec![0.0; channels],
            inv_std: vec![0.0; channels],
            spare: None,
            needs: Needs::default(),
            frozen_stats: false,
            frozen_shape: None,
            relu: false,
        }
    }

    /// Applies ReLU to the output in the same passes over the activations: `BatchNorm2d`
    /// followed by [`Relu`](super::Relu), to the bit (tested), with one pass less each way.
    /// ReLU has no parameters, so the state_dict is unchanged: a PyTorch `BatchNorm2d` then
    /// `ReLU` loads into it. Backward recomputes the output's sign from the kept input.
    pub fn with_relu(mut self) -> Self {
        self.relu = true;
        self
    }

    /// Whether a ReLU is fused into the layer ([`BatchNorm2d::with_relu`]).
    pub fn relu(&self) -> bool {
        self.relu
    }

    /// Sets the weight of each new batch in the running statistics (`0 <= momentum <= 1`;
    /// PyTorch's meaning and default, 0.1).
    pub fn with_momentum(mut self, momentum: f32) -> Self {
        self.stats.set_momentum("BatchNorm2d", momentum);
        self
    }

    /// Sets the constant added to the variance before the square root (`eps > 0`).
    pub fn with_eps(mut self, eps: f32) -> Self {
        self.stats.set_eps("BatchNorm2d", eps);
        self
    }

    /// Channels normalised.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The running-statistics momentum.
    pub fn momentum(&self) -> f32 {
        self.stats.momentum
    }

    /// The variance epsilon.
    pub fn eps(&self) -> f32 {
        self.stats.eps
    }

    /// The running mean used in Eval, `[C]`.
    pub fn running_mean(&self) -> &Tensor {
        &self.stats.running_mean
    }

    /// The running (unbiased) variance used in Eval, `[C]`.
    pub fn running_var(&self) -> &Tensor {
        &self.stats.running_var
    }

    /// How many Train batches have updated the running statistics.
    pub fn num_batches_tracked(&self) -> f32 {
        self.stats.num_batches_tracked.sum()
    }
}

/// The output of an element whose normalised and scaled value is `y`: ReLU's (`y` unless
/// negative, so NaN stays NaN) if `relu`.
#[inline(always)]
fn activate(relu: bool, y: f32) -> f32 {
    if relu && y < 0.0 {
        0.0
    } else {
        y
    }
}

/// The gradient reaching an element whose scaled value was `y`, for the output gradient `g`:
/// zero where a fused ReLU was not positive, as [`Relu`](super::Relu)'s backward.
#[inline(always)]
fn through(relu: bool, y: f32, g: f32) -> f32 {
    if !relu || y > 0.0 {
        g
    } else {
        0.0
    }
}

/// `1 / sqrt(var + eps)`, the same bits wherever it is computed.
#[inline(always)]
fn inv_std(var: f32, eps: f32) -> f32 {
    1.0 / (var + eps).sqrt()
}

/// Calls `f(channel, rows)` for every channel of `data` (`[n, c, hw]`), `rows` being that
/// channel's `[n, hw]` view, and stores the two numbers it returns in `out.0[channel]` and
/// `out.1[channel]`. Channels are independent, so they are spread over nn's threads for a large
/// batch without changing a result.
fn for_channels(
    data: &mut [f32],
    (n, c, hw): (usize, usize, usize),
    out: (&mut [f32], &mut [f32]),
    f: impl Fn(usize, ArrayViewMut2<'_, f32>) -> [f32; 2] + Sync,
) {
    let mut rest = ArrayViewMut3::from_shape((n, c, hw), data).expect("[N, C, H * W]");
    let (mut out0, mut out1) = out;
    let mut parts: [Option<Channels<'_>>; PARTS] = Default::default();
    for (slot, range) in parts.iter_mut().zip(par::parts(c)) {
        let (view, tail) = rest.split_at(Axis(1), range.len());
        let (o0, t0) = std::mem::take(&mut out0).split_at_mut(range.len());
        let (o1, t1) = std::mem::take(&mut out1).split_at_mut(range.len());
        (rest, out0, out1) = (tail, t0, t1);
        *slot = Some(Channels {
            first: range.start,
            view,
            out: (o0, o1),
        });
    }
    par::for_each(&mut parts, par::worth_len(n * c * hw), &|part: &mut Option<
        Channels<'_>,
    >| {
        if let Some(p) = part {
            for (j, rows) in p.view.axis_iter_mut(Axis(1)).enumerate() {
                [p.out.0[j], p.out.1[j]] = f(p.first + j, rows);
            }
        }
    });
}

/// A run of channels of [`for_channels`]: their rows and their slots in the outputs.
struct Channels<'a> {
    first: usize,
    view: ArrayViewMut3<'a, f32>,
    out: (&'a mut [f32], &'a mut [f32]),
}

impl Layer for BatchNorm2d {
    #[track_caller]
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let ([n, c, h, w], _) = check_images(&x, Some(self.channels), None, TypeName(&*self));
        let x = contiguous(x);
        if mode == Mode::Eval || self.frozen_stats {
            return self.forward_with_running_stats(x, mode, [n, c, h, w]);
        }
        self.frozen_shape = None;
        let (hw, m) = (h * w, n * h * w);
        let (weight, bias) = (values(&self.stats.weight), values(&self.stats.bias));

        let xs = x.as_slice().expect("standard layout");
        let (momentum, eps, relu) = (self.stats.momentum, self.stats.eps, self.relu);
        let mut y = recycle(self.spare.take(), x.shape(), TypeName(&*self));
        let ys = y.as_slice_mut().expect("standard layout");
        let (mean, var) = (&mut self.mean, &mut self.inv_std);
        for_channels(ys, (n, c, hw), (&mut mean[..], &mut var[..]), |ch, mut y| {
            vectorized(
                #[inline(always)]
                || {
                    let rows = |i: usize| &xs[(i * c + ch) * hw..][..hw];
                    // Two passes (mean, then squared deviations) rather than E[x^2] - E[x]^2,
                    // which loses every digit in f32 when the mean is large against the
                    // spread; one channel's rows stay in cache between them.
                    // Plain loops: iterator adaptors may not be inlined into the vectorised code.
                    let mut sum = 0.0f64;
                    for i in 0..n {
                        sum += f64::from(sum_map(rows(i), |v| v));
                    }
                    let mean = (sum / m as f64) as f32;
                    let mut sq = 0.0f64;
                    for i in 0..n {
                        sq += f64::from(sum_map(rows(i), |v| (v - mean) * (v - mean)));
                    }
                    let var = (sq / m as f64) as f32;
                    let (s, g, b) = (inv_std(var, eps), weight[ch], bias[ch]);
                    for (i, mut out) in y.outer_iter_mut().enumerate() {
                        let out = out.as_slice_mut().expect("a row of a standard-layout tensor");
                        for (o, &v) in out.iter_mut().zip(rows(i)) {
                            *o = activate(relu, g * ((v - mean) * s) + b);
                        }
                    }
                    [mean, var]
                },
            )
        });
        if m >= 2 {
            let unbiased = |v: f32| (f64::from(v) * m as f64 / (m - 1) as f64) as f32;
            let batch = self.mean.iter().zip(&self.inv_std);
            let batch = batch.map(|(&mean, &var)| (mean, unbiased(var)));
            self.stats.track(1.0 - momentum, momentum, batch);
        }
        for v in &mut self.inv_std {
            *v = inv_std(*v, eps);
        }
        self.input = Some(x);
        y
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        if let Some(shape) = self.frozen_shape.take() {
            return self.frozen_backward(shape, grad);
        }
        let Some(x) = self.input.take() else {
            no_train_forward(self.type_name())
        };
        if grad.shape() != x.shape() {
            check_grad_shape_in(TypeName(&*self), grad.shape(), x.shape());
        }
        if !self.needs.any() {
            // Frozen, and nothing before needs a gradient: nothing to compute.
            self.spare = Some(x);
            return grad;
        }
        let &[n, c, h, w] = x.shape() else {
            unreachable!("checked in forward")
        };
        let (hw, m) = (h * w, (n * h * w) as f32);
        let xs = x.as_slice().expect("kept in standard layout");
        let mut grad = contiguous(grad);
        let gs = grad.as_slice_mut().expect("standard layout");
        let (weight, bias) = (values(&self.stats.weight), values(&self.stats.bias));
        let (mean, inv_std, relu) = (&self.mean, &self.inv_std, self.relu);
        let weight_grad = values_mut(&mut self.stats.weight_grad);
        let bias_grad = values_mut(&mut self.stats.bias_grad);
        for_channels(gs, (n, c, hw), (bias_grad, weight_grad), |ch, mut g| {
            vectorized(
                #[inline(always)]
                || {
                    let (mu, s, (w, b)) = (mean[ch], inv_std[ch], (weight[ch], bias[ch]));
                    let rows = |i: usize| &xs[(i * c + ch) * hw..][..hw];
                    // The output gradient past a fused ReLU, from the forward's output
                    // recomputed to the bit.
                    let g_in = |g: f32, v: f32| through(relu, w * ((v - mu) * s) + b, g);
                    let (mut db, mut dg) = (0.0f64, 0.0f64);
                    for (i, g) in g.outer_iter().enumerate() {
                        let g = g.to_slice().expect("a row of a standard-layout tensor");
                        // Past a fused ReLU, both sums in one pass that recomputes the mask once
                        // (R's bn1 backward: 0.6-0.7x the time of two passes). Without it, two
                        // passes measured faster than one (R's bn2: 1.2-1.5x slower fused).
                        let [b, d] = if relu {
                            sum_zip2(g, rows(i), |g, v| {
                                let g = g_in(g, v);
                                [g, g * ((v - mu) * s)]
                            })
                        } else {
                            let b = sum_map(g, |g| g);
                            [b, sum_zip(g, rows(i), |g, v| g * ((v - mu) * s))]
                        };
                        (db, dg) = (db + f64::from(b), dg + f64::from(d));
                    }
                    let (db, dg) = (db as f32, dg as f32);
                    // dx = weight * inv_std / M * (M * g - sum(g) - x_hat * sum(g * x_hat)).
                    let coef = w * s / m;
                    for (i, mut g) in g.outer_iter_mut().enumerate() {
                        let g = g.as_slice_mut().expect("a row of a standard-layout tensor");
                        if relu {
                            for (g, &v) in g.iter_mut().zip(rows(i)) {
                                *g = coef * (m * g_in(*g, v) - db - (v - mu) * s * dg);
                            }
                        } else {
                            for (g, &v) in g.iter_mut().zip(rows(i)) {
                                *g = coef * (m * *g - db - (v - mu) * s * dg);
                            }
                        }
                    }
                    [db, dg]
                },
            )
        });
        self.spare = Some(x);
        grad
    }

    fn visit(&mut self, v: &mut Visitor<'_>) {
        self.stats.visit(v);
    }

    /// Frozen weight and bias with [`TrainingPlan::norm_stats_frozen`] normalise with the running
    /// statistics in training too; a frozen layer whose input needs no gradient skips backward.
    fn prepare(&mut self, plan: &mut TrainingPlan<'_>) {
        self.needs = Needs::from_plan(plan);
        self.frozen_stats = plan.norm_stats_frozen() && !self.needs.weight && !self.needs.bias;
    }

    fn type_name(&self) -> String {
        if self.relu {
            format!("BatchNorm2d({}) + ReLU", self.channels)
        } else {
            format!("BatchNorm2d({})", self.channels)
        }
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::gradcheck;
    use crate::layer::{backward_child, for_each_buffer, for_each_param, forward_child, param_names};
    use ndarray::IxDyn;

    fn input(shape: &[usize]) -> Tensor {
        Tensor::from_shape_fn(IxDyn(shape), |i| {
            let k = i[0] * 13 + i[1] * 7 + i[2] * 5 + i[3] * 3;
            (k % 11) as f32 * (1.0 + i[1] as f32) + 10.0 * i[1] as f32
        })
    }

    /// Mean and biased variance of channel `c` over batch and plane, in f64.
    fn stats(x: &Tensor, c: usize) -> (f64, f64) {
        let v: Vec<f64> = x
            .index_axis(ndarray::Axis(1), c)
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        (mean, var)
    }

    #[test]
    fn train_normalises_each_channel_and_updates_the_running_statistics_as_pytorch() {
        let x = input(&[3, 2, 4, 5]);
        let mut bn = BatchNorm2d::new(2);
        let y = bn.forward(x.clone(), Mode::Train);
        for c in 0..2 {
            let (mean, var) = stats(&y, c);
            assert!(
                mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-4,
                "channel {c}: {mean} {var}"
            );
            let (m, v) = stats(&x, c);
            let unbiased = v * 60.0 / 59.0;
            assert!((f64::from(bn.running_mean()[c]) - 0.1 * m).abs() < 1e-5);
            assert!((f64::from(bn.running_var()[c]) - (0.9 + 0.1 * unbiased)).abs() < 1e-4);
        }
        assert_eq!(bn.num_batches_tracked(), 1.0);
        bn.forward(x, Mode::Train);
        assert_eq!(bn.num_batches_tracked(), 2.0);
    }

    #[test]
    fn eval_uses_the_running_statistics() {
        // The second batch (41,472 values) is split over threads by whole images.
        for shape in [[2, 2, 3, 3], [9, 2, 48, 48]] {
            let x = input(&shape);
            let mut bn = BatchNorm2d::new(2).with_momentum(1.0);
            bn.forward(x.clone(), Mode::Train); // momentum 1: running stats = this batch's
            let y = bn.forward(x.clone(), Mode::Eval);
            let m = (shape[0] * shape[2] * shape[3]) as f64;
            for c in 0..2 {
                let (mean, v) = stats(&x, c);
                let unbiased = v * m / (m - 1.0);
                for (&out, &inp) in y
                    .index_axis(ndarray::Axis(1), c)
                    .iter()
                    .zip(x.index_axis(ndarray::Axis(1), c))
                {
                    let expect = (f64::from(inp) - mean) / (unbiased + 1e-5).sqrt();
                    assert!(
                        (f64::from(out) - expect).abs() < 1e-4,
                        "{shape:?}: {out} vs {expect}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_single_value_per_channel_leaves_the_running_statistics_alone() {
        let mut bn = BatchNorm2d::new(2);
        let y = bn.forward(input(&[1, 2, 1, 1]), Mode::Train);
        assert!(y.iter().all(|&v| v == 0.0));
        assert_eq!(
            bn.backward(Tensor::ones(IxDyn(&[1, 2, 1, 1]))),
            Tensor::zeros(IxDyn(&[1, 2, 1, 1]))
        );
        assert_eq!(bn.running_mean(), &Tensor::zeros(IxDyn(&[2])));
        assert_eq!(bn.num_batches_tracked(), 0.0);
    }

    #[test]
    fn passes_gradcheck_in_several_configurations() {
        for shape in [[4, 3, 3, 3], [1, 2, 3, 4], [5, 2, 1, 1], [2, 1, 5, 3]] {
            let mut bn = BatchNorm2d::new(shape[1]);
            // A non-trivial weight and bias, so their gradients and the weight factor in dx matter.
            for_each_param(&mut bn, |name, mut p| {
                let base = if name == "weight" { 1.5 } else { -0.3 };
                p.value
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, v)| *v = base + 0.2 * i as f32);
            });
            let report = gradcheck(&mut bn, &shape);
            assert!(report.passed(), "{shape:?}: {report}");
        }
    }

    #[test]
    fn eval_between_train_forward_and_backward_changes_nothing_and_buffers_are_recycled() {
        let (x, g) = (input(&[3, 2, 4, 4]), input(&[3, 2, 4, 4]) * 0.1);
        let (mut a, mut b) = (BatchNorm2d::new(2), BatchNorm2d::new(2));
        a.forward(x.clone(), Mode::Train);
        let y = b.forward(x.clone(), Mode::Train);
        a.forward(x.clone(), Mode::Eval);
        assert_eq!(a.backward(g.clone()), b.backward(g.clone()));
        // The input kept for backward becomes the next output; the gradient becomes dx.
        let x_ptr = x.as_ptr();
        b.forward(x, Mode::Train);
        let g_ptr = g.as_ptr();
        assert_eq!(b.backward(g).as_ptr(), g_ptr);
        assert_eq!(b.forward(y, Mode::Train).as_ptr(), x_ptr);
    }

    #[test]
    fn any_thread_count_gives_the_same_bits() {
        // 32,768 values: enough to spread the channels over threads.
        let (x, g) = (input(&[16, 8, 16, 16]), input(&[16, 8, 16, 16]) * 0.01);
        let run = |threads: usize| {
            crate::linalg::set_num_threads(threads);
            let mut bn = BatchNorm2d::new(8);
            let y = bn.forward(x.clone(), Mode::Train);
            let dx = bn.backward(g.clone());
            let eval = bn.forward(x.clone(), Mode::Eval);
            (
                y,
                dx,
                eval,
                bn.stats.weight_grad.clone(),
                bn.stats.bias_grad.clone(),
                bn.stats.running_var.clone(),
            )
        };
        let one = run(1);
        for threads in [2, 3, 4] {
            assert!(run(threads) == one, "{threads} threads");
        }
        crate::linalg::set_num_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }

    /// `with_relu` is `BatchNorm2d` then `Relu` to the bit: outputs, input and parameter
    /// gradients and running statistics, in Train and Eval, on a batch split over threads
    /// (values around zero, so that many outputs are negative) and a small one.
    #[test]
    fn a_fused_relu_gives_the_bits_of_the_two_layers() {
        for shape in [[16, 8, 16, 16], [3, 2, 4, 5]] {
            let x = input(&shape) * 0.1 - 1.5;
            let g = input(&shape) * 0.01 - 0.05;
            let mut fused = BatchNorm2d::new(shape[1]).with_relu();
            let mut pair = (BatchNorm2d::new(shape[1]), crate::layers::Relu::new());
            for bn in [&mut fused, &mut pair.0] {
                for_each_param(bn, |name, mut p| {
                    let base = if name == "weight" { 1.5 } else { -0.3 };
                    p.value
                        .iter_mut()
                        .enumerate()
                        .for_each(|(i, v)| *v = base + 0.2 * i as f32);
                });
            }
            for _ in 0..2 {
                let y = fused.forward(x.clone(), Mode::Train);
                assert_eq!(y, pair.forward(x.clone(), Mode::Train), "{shape:?}");
                assert!(y.iter().any(|&v| v == 0.0) && y.iter().any(|&v| v > 0.0));
                assert_eq!(fused.backward(g.clone()), pair.backward(g.clone()), "{shape:?}");
                assert_eq!(fused.stats.weight_grad, pair.0.stats.weight_grad);
                assert_eq!(fused.stats.bias_grad, pair.0.stats.bias_grad);
                assert_eq!(fused.stats.running_var, pair.0.stats.running_var);
            }
            assert_eq!(fused.forward(x.clone(), Mode::Eval), pair.forward(x, Mode::Eval));
        }
        let mut fused = BatchNorm2d::new(2).with_relu();
        assert_eq!(fused.type_name(), "BatchNorm2d(2) + ReLU");
        assert_eq!(param_names(&mut fused), param_names(&mut BatchNorm2d::new(2)));
        gradcheck(&mut fused, &[3, 2, 3, 3]).assert_passed();
    }

    #[test]
    fn names_follow_pytorch() {
        let mut bn = BatchNorm2d::new(3);
        assert_eq!(param_names(&mut bn), ["weight", "bias"]);
        let mut buffers = Vec::new();
        for_each_buffer(&mut bn, |name, t| {
            buffers.push((name.to_string(), t.shape().to_vec()))
        });
        assert_eq!(
            buffers,
            [
                ("running_mean".to_string(), vec![3]),
                ("running_var".to_string(), vec![3]),
                ("num_batches_tracked".to_string(), vec![]),
            ]
        );
        assert_eq!((bn.eps(), bn.momentum()), (1e-5, 0.1));
        assert_eq!(bn.type_name(), "BatchNorm2d(3)");
    }

    #[test]
    fn wrong_inputs_and_missing_forward_name_the_layer() {
        let mut bn = BatchNorm2d::new(32);
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            forward_child("bn1", &mut bn, Tensor::zeros(IxDyn(&[2, 16, 4, 4])), Mode::Train);
        }))
        .unwrap_err();
        assert_eq!(
            err.downcast_ref::<String>().unwrap(),
            "bn1: expected a batch of images of shape [N, 32, H, W], got shape [2, 16, 4, 4] (16 channels)"
        );
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            backward_child("bn1", &mut bn, Tensor::zeros(IxDyn(&[2, 32, 4, 4])));
        }))
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.starts_with("bn1: backward called on BatchNorm2d(32) without"),
            "{msg}"
        );
    }
}
