//! Batch normalisation over the batch dimension, per feature.

use super::{flatten, standard, Stash};
use crate::layer::{layer_panic, Layer, Mode, ParamKind, Visitor};
use crate::Tensor;
use ndarray::{Array1, ArrayView1, Dimension, Ix1, Ix2, IxDyn, Zip};

/// Batch normalisation (Ioffe & Szegedy, 2015), as the seed notebook implements it.
///
/// Normalises each feature over the batch, then scales by `gamma` and shifts by `beta`. An input
/// of rank > 2 is flattened to `(N, features)` as the seed does, so `(N, C, H, W)` input is
/// normalised per activation (`features = C*H*W`), not per channel like PyTorch's `BatchNorm2d`.
/// The output has the input's shape.
///
/// - Train: batch mean and biased batch variance (divided by N, as the seed does; PyTorch stores
///   the unbiased N/(N-1) variance in `running_var`). Running statistics are updated as
///   `running = momentum * running + (1 - momentum) * batch` with `momentum = 0.9` (the seed's
///   convention; PyTorch's `momentum = 0.1` weighs the batch instead, so it is our 0.9).
/// - Eval: the running statistics.
/// - `eps = 1e-5` inside the square root, PyTorch's default (the seed uses 1e-7), so that
///   statistics carried over from a PyTorch checkpoint normalise the same way.
///   [`BatchNorm::with_eps`] changes it.
///
/// Parameters `gamma` (ones) and `beta` (zeros), both [`ParamKind::Norm`]; buffers
/// `running_mean` (zeros) and `running_var` (ones). All have shape `[features]`.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    features: usize,
    momentum: f32,
    eps: f32,
    gamma: Tensor,
    beta: Tensor,
    gamma_grad: Tensor,
    beta_grad: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    /// The normalised input of the last Train forward, `(N, features)`.
    x_hat: Stash<f32>,
    /// The shape of the last Train input (and so of the gradient backward expects).
    input_shape: Vec<usize>,
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
    /// Batch normalisation of `features` features with momentum 0.9 and eps 1e-5.
    pub fn new(features: usize) -> Self {
        assert!(features > 0, "BatchNorm::new: features must be at least 1");
        let d = IxDyn(&[features]);
        BatchNorm {
            features,
            momentum: 0.9,
            eps: 1e-5,
            gamma: Tensor::ones(d.clone()),
            beta: Tensor::zeros(d.clone()),
            gamma_grad: Tensor::zeros(d.clone()),
            beta_grad: Tensor::zeros(d.clone()),
            running_mean: Tensor::zeros(d.clone()),
            running_var: Tensor::ones(d),
            x_hat: Stash::default(),
            input_shape: Vec::with_capacity(4),
            inv_std: Array1::zeros(features),
            scratch: Array1::zeros(features),
            eval_scale: Array1::zeros(features),
            eval_shift: Array1::zeros(features),
        }
    }

    /// Sets the weight of the old running statistics in each update (`0 <= momentum <= 1`).
    pub fn with_momentum(mut self, momentum: f32) -> Self {
        assert!(
            (0.0..=1.0).contains(&momentum),
            "BatchNorm: momentum must be in [0, 1], got {momentum}"
        );
        self.momentum = momentum;
        self
    }

    /// Sets the constant added to the variance before the square root (`eps > 0`); 1e-7 gives
    /// the seed notebook's numbers.
    pub fn with_eps(mut self, eps: f32) -> Self {
        assert!(
            eps > 0.0 && eps.is_finite(),
            "BatchNorm: eps must be positive, got {eps}"
        );
        self.eps = eps;
        self
    }

    /// Features normalised.
    pub fn features(&self) -> usize {
        self.features
    }

    /// The running-statistics momentum.
    pub fn momentum(&self) -> f32 {
        self.momentum
    }

    /// The variance epsilon.
    pub fn eps(&self) -> f32 {
        self.eps
    }

    /// The running mean used in Eval.
    pub fn running_mean(&self) -> &Tensor {
        &self.running_mean
    }

    /// The running (biased) variance used in Eval.
    pub fn running_var(&self) -> &Tensor {
        &self.running_var
    }

    /// A `[features]` tensor as a vector, checking nothing replaced it with another shape.
    fn vector<'a>(&self, t: &'a Tensor, name: &str) -> ArrayView1<'a, f32> {
        if t.shape() != [self.features] {
            layer_panic(format_args!(
                "BatchNorm({}) has {name} of shape {:?}; expected [{}]",
                self.features,
                t.shape(),
                self.features
            ));
        }
        t.view().into_dimensionality::<Ix1>().expect("checked 1-D")
    }
}

impl Layer for BatchNorm {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let shape = IxDyn(x.shape());
        let mut x = flatten(x, self.features);
        let gamma = self.vector(&self.gamma, "gamma");
        let beta = self.vector(&self.beta, "beta");
        if mode == Mode::Eval {
            let mean = self.vector(&self.running_mean, "running_mean");
            let var = self.vector(&self.running_var, "running_var");
            let eps = self.eps;
            // Fold everything into y = x * scale + shift: one multiply-add per element.
            Zip::from(&mut self.eval_scale)
                .and(&mut self.eval_shift)
                .and(&gamma)
                .and(&beta)
                .and(&mean)
                .and(&var)
                .for_each(|s, t, &g, &b, &m, &v| {
                    *s = g / (v + eps).sqrt();
                    *t = b - m * *s;
                });
            for mut row in x.rows_mut() {
                Zip::from(&mut row)
                    .and(&self.eval_scale)
                    .and(&self.eval_shift)
                    .for_each(|v, &s, &t| *v = *v * s + t);
            }
            return x.into_shape_with_order(shape).expect("same size");
        }

        self.input_shape.clear();
        self.input_shape.extend_from_slice(shape.slice());
        let n = x.nrows();
        let inv_n = 1.0 / n as f32;
        let mean = &mut self.scratch;
        mean.fill(0.0);
        for row in x.rows() {
            Zip::from(&mut *mean).and(&row).for_each(|m, &v| *m += v);
        }
        *mean *= inv_n;
        // Two passes (mean, then squared deviations) rather than E[x^2] - E[x]^2, which loses
        // every digit in f32 when the mean is large compared with the spread.
        let var = &mut self.inv_std;
        var.fill(0.0);
        for row in x.rows() {
            Zip::from(&mut *var)
                .and(&row)
                .and(&*mean)
                .for_each(|s, &v, &m| *s += (v - m) * (v - m));
        }
        let (momentum, eps) = (self.momentum, self.eps);
        let mut running_mean = self
            .running_mean
            .view_mut()
            .into_dimensionality::<Ix1>()
            .expect("1-D");
        let mut running_var = self
            .running_var
            .view_mut()
            .into_dimensionality::<Ix1>()
            .expect("1-D");
        Zip::from(&mut *var)
            .and(&*mean)
            .and(&mut running_mean)
            .and(&mut running_var)
            .for_each(|s, &m, rm, rv| {
                let batch_var = *s * inv_n;
                *rm = momentum * *rm + (1.0 - momentum) * m;
                *rv = momentum * *rv + (1.0 - momentum) * batch_var;
                *s = 1.0 / (batch_var + eps).sqrt();
            });
        let inv_std = &self.inv_std;
        let mut x_hat = self
            .x_hat
            .prepare(&[n, self.features])
            .view_mut()
            .into_dimensionality::<Ix2>()
            .expect("2-D");
        for (mut row, mut h_row) in x.rows_mut().into_iter().zip(x_hat.rows_mut()) {
            Zip::from(&mut row)
                .and(&mut h_row)
                .and(&*mean)
                .and(inv_std)
                .and(&gamma)
                .and(&beta)
                .for_each(|v, h, &m, &s, &g, &b| {
                    *h = (*v - m) * s;
                    *v = g * *h + b;
                });
        }
        x.into_shape_with_order(shape).expect("same size")
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let shape = IxDyn(grad.shape());
        let features = self.features;
        let n = self.input_shape.first().copied().unwrap_or(0);
        let x_hat = self
            .x_hat
            .take(&[n, features], || format!("BatchNorm({features})"));
        if grad.shape() != self.input_shape {
            super::wrong_grad_shape(&self.input_shape, grad.shape());
        }
        let x_hat = x_hat.view().into_dimensionality::<Ix2>().expect("2-D");
        let mut g = standard(grad)
            .into_shape_with_order((n, features))
            .expect("standard layout reshapes");
        let mut gamma_grad = self
            .gamma_grad
            .view_mut()
            .into_dimensionality::<Ix1>()
            .expect("1-D");
        let mut beta_grad = self
            .beta_grad
            .view_mut()
            .into_dimensionality::<Ix1>()
            .expect("1-D");
        gamma_grad.fill(0.0);
        beta_grad.fill(0.0);
        for (row, h_row) in g.rows().into_iter().zip(x_hat.rows()) {
            Zip::from(&mut gamma_grad)
                .and(&mut beta_grad)
                .and(&row)
                .and(&h_row)
                .for_each(|dg, db, &v, &h| {
                    *dg += v * h;
                    *db += v;
                });
        }
        // dx = gamma * inv_std / N * (N * g - sum(g) - x_hat * sum(g * x_hat)), the closed form
        // of the seed's step-by-step chain rule, written into the gradient buffer.
        let gamma = self.gamma.view().into_dimensionality::<Ix1>().expect("1-D");
        let n_f = n as f32;
        Zip::from(&mut self.scratch)
            .and(&gamma)
            .and(&self.inv_std)
            .for_each(|c, &gm, &s| *c = gm * s / n_f);
        for (mut row, h_row) in g.rows_mut().into_iter().zip(x_hat.rows()) {
            Zip::from(&mut row)
                .and(&h_row)
                .and(&self.scratch)
                .and(&gamma_grad)
                .and(&beta_grad)
                .for_each(|v, &h, &c, &dg, &db| *v = c * (n_f * *v - db - h * dg));
        }
        g.into_shape_with_order(shape).expect("same size")
    }

    fn visit(&mut self, v: &mut Visitor<'_>) {
        v.param("gamma", &mut self.gamma, &mut self.gamma_grad, ParamKind::Norm);
        v.param("beta", &mut self.beta, &mut self.beta_grad, ParamKind::Norm);
        v.buffer("running_mean", &mut self.running_mean);
        v.buffer("running_var", &mut self.running_var);
    }

    fn type_name(&self) -> String {
        format!("BatchNorm({})", self.features)
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

    #[test]
    fn eval_uses_the_running_statistics() {
        let mut bn = BatchNorm::new(2).with_momentum(0.0);
        bn.forward(batch(), Mode::Train); // momentum 0: running stats = this batch's
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
    fn names_params_and_buffers() {
        let mut bn = BatchNorm::new(128);
        assert_eq!(param_names(&mut bn), ["gamma", "beta"]);
        let mut buffers = Vec::new();
        for_each_buffer(&mut bn, |name, t| buffers.push((name.to_string(), t.sum())));
        assert_eq!(
            buffers,
            [
                ("running_mean".to_string(), 0.0),
                ("running_var".to_string(), 128.0)
            ]
        );
        assert_eq!(bn.type_name(), "BatchNorm(128)");
        assert_eq!(bn.eps(), 1e-5);
        assert_eq!(bn.momentum(), 0.9);
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
        // A non-trivial gamma and beta, so their gradients and the gamma factor in dx matter.
        crate::layer::for_each_param(&mut bn, |name, p| {
            let base = if name == "gamma" { 1.5 } else { -0.3 };
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
