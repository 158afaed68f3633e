//! The fully connected layer (the seed's `FCLayer`): `y = x W^T + b`.

use crate::init::Init;
use crate::layer::{
    check_grad_shape_in, contiguous, flatten_in, Layer, Mode, ParamKind, Saved, TypeName, Visitor,
};
use crate::linalg::{matmul_into, vectorized};
use crate::rng::StdRng;
use crate::tensor::Tensor;
use ndarray::{Array2, ArrayView1, ArrayView2, Ix1, Ix2, IxDyn};

/// A fully connected layer: `y = x W^T + b` with `weight` of shape `[out, in]` (PyTorch's layout,
/// so checkpoints map one to one) and `bias` of shape `[out]`.
///
/// An input of any rank is flattened to `(N, in)` (an image batch `[N, 1, 28, 28]` feeds
/// `Linear::new(784, ..)` directly) and the input gradient comes back in the input's shape.
///
/// ```
/// use nn_core::{layers::Linear, init::Init, seeded, Layer, Mode, Tensor};
/// let mut fc = Linear::new(784, 128, Init::He, &mut seeded(4321));
/// let y = fc.forward(Tensor::zeros(vec![32, 1, 28, 28]), Mode::Eval);
/// assert_eq!(y.shape(), &[32, 128]);
/// ```
#[derive(Clone, Debug)]
pub struct Linear {
    in_features: usize,
    out_features: usize,
    weight: Tensor,
    bias: Tensor,
    weight_grad: Tensor,
    bias_grad: Tensor,
    /// The flattened input `(N, in)` of the last Train forward: needed for the weight gradient,
    /// then overwritten with the input gradient (same size), so backward allocates nothing.
    input: Saved<f32>,
    /// The shape of that input, to give the gradient back in it.
    input_shape: Vec<usize>,
    /// The gradient buffer backward received, recycled as the next forward's output.
    spare: Option<Tensor>,
    /// Whether backward computes the input gradient (see [`Linear::with_input_grad`]).
    input_grad: bool,
}

impl Linear {
    /// A layer from `in_features` to `out_features` with weights drawn by `init` from `rng` and
    /// zero biases.
    pub fn new(in_features: usize, out_features: usize, init: Init, rng: &mut StdRng) -> Self {
        assert!(
            in_features > 0 && out_features > 0,
            "Linear::new: features must be at least 1, got {in_features} -> {out_features}"
        );
        let weight = init.sample(&[out_features, in_features], in_features, rng);
        let bias = Tensor::zeros(IxDyn(&[out_features]));
        Self::from_parts(weight, bias)
    }

    /// A layer with the given `weight` `[out, in]` and `bias` `[out]`.
    ///
    /// Panics if the shapes do not fit together.
    pub fn from_parts(weight: Tensor, bias: Tensor) -> Self {
        assert!(
            weight.ndim() == 2 && bias.ndim() == 1 && bias.len() == weight.shape()[0],
            "Linear::from_parts: expected weight [out, in] and bias [out], got {:?} and {:?}",
            weight.shape(),
            bias.shape()
        );
        let (out_features, in_features) = (weight.shape()[0], weight.shape()[1]);
        Linear {
            in_features,
            out_features,
            weight_grad: Tensor::zeros(weight.raw_dim()),
            bias_grad: Tensor::zeros(bias.raw_dim()),
            weight: contiguous(weight),
            bias: contiguous(bias),
            input: Saved::new(),
            input_shape: Vec::with_capacity(4),
            spare: None,
            input_grad: true,
        }
    }

    /// With `false`, backward treats the input as a constant: it skips the input-gradient matrix
    /// product (a third of this layer's backward work) and returns zeros in the input's shape.
    /// For the first layer of a network, whose input is data: nothing upstream needs that
    /// gradient (PyTorch skips it the same way, because data does not require grad). Do not use
    /// it on a layer fed by layers with parameters: they would stop learning.
    pub fn with_input_grad(mut self, input_grad: bool) -> Self {
        self.input_grad = input_grad;
        self
    }

    /// Input features per sample.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output features per sample.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// The weight matrix, `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias vector, `[out]`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// The weight and bias as matrix and vector views. Their shapes are the ones built in
    /// `from_parts`: visitors hand out views, which cannot reshape them.
    fn params(&self) -> (ArrayView2<'_, f32>, ArrayView1<'_, f32>) {
        let w = self
            .weight
            .view()
            .into_dimensionality::<Ix2>()
            .expect("[out, in]");
        let b = self.bias.view().into_dimensionality::<Ix1>().expect("[out]");
        (w, b)
    }
}

impl Layer for Linear {
    #[track_caller]
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        if mode == Mode::Train {
            self.input_shape.clear();
            self.input_shape.extend_from_slice(x.shape());
        }
        let x = flatten_in(TypeName(&*self), x, self.in_features);
        let n = x.nrows();
        let spare = self.spare.take();
        let (w, b) = self.params();
        // Bias first, then accumulate x W^T onto it: one pass over y instead of two. The output
        // is built from bias rows directly rather than zeroed first, in the allocation of the
        // recycled gradient when there is one (whatever its shape: a smaller last batch and the
        // full batch after it reuse it too; a larger batch grows it once).
        let out = self.out_features;
        let mut values = match spare {
            Some(t) => {
                let (mut v, _) = t.into_raw_vec_and_offset();
                v.clear();
                v
            }
            None => Vec::new(),
        };
        values.reserve(n * out);
        match b.as_slice() {
            Some(bs) => (0..n).for_each(|_| values.extend_from_slice(bs)),
            None => (0..n).for_each(|_| values.extend(b.iter())),
        }
        let mut y = Array2::from_shape_vec((n, out), values).expect("n rows of the bias");
        matmul_into(x.view(), w.t(), y.view_mut(), true);
        if mode == Mode::Train {
            self.input.save(x.into_dyn());
        }
        y.into_dyn()
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let (inputs, outputs) = (self.in_features, self.out_features);
        let mut x = self
            .input
            .take_owned(format_args!("Linear({inputs} -> {outputs})"))
            .into_dimensionality::<Ix2>()
            .expect("saved as (N, in)");
        check_grad_shape_in(TypeName(&*self), grad.shape(), &[x.nrows(), self.out_features]);
        let g = contiguous(grad)
            .into_dimensionality::<Ix2>()
            .expect("checked 2-D");
        let mut wg = self
            .weight_grad
            .view_mut()
            .into_dimensionality::<Ix2>()
            .expect("2-D");
        matmul_into(g.t(), x.view(), wg.view_mut(), false);
        let bg = self.bias_grad.as_slice_mut().expect("built in standard layout");
        let rows = g.as_slice().expect("standard layout");
        // Column sums, row after row: the same order of additions as a plain loop over rows.
        vectorized(
            #[inline(always)]
            || {
                bg.fill(0.0);
                for row in rows.chunks_exact(bg.len()) {
                    for (acc, &v) in bg.iter_mut().zip(row) {
                        *acc += v;
                    }
                }
            },
        );
        // The input is no longer needed: its buffer (same size as the input gradient) takes dx.
        if self.input_grad {
            let (w, _) = self.params();
            matmul_into(g.view(), w, x.view_mut(), false);
        } else {
            x.fill(0.0);
        }
        self.spare = Some(g.into_dyn());
        x.into_shape_with_order(self.input_shape.as_slice())
            .expect("same number of elements as the input")
    }

    fn visit(&mut self, v: &mut Visitor<'_>) {
        v.param(
            "weight",
            &mut self.weight,
            &mut self.weight_grad,
            ParamKind::Weight,
        );
        v.param("bias", &mut self.bias, &mut self.bias_grad, ParamKind::Bias);
    }

    fn type_name(&self) -> String {
        format!("Linear({} -> {})", self.in_features, self.out_features)
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::gradcheck;
    use crate::layer::{forward_child, panic_message, param_names};
    use crate::layers::assert_close;
    use crate::rng::seeded;

    #[test]
    fn forward_is_x_times_w_transposed_plus_b() {
        let w = Tensor::from_shape_vec(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
        let b = Tensor::from_shape_vec(vec![2], vec![0.5, -1.0]).unwrap();
        let mut fc = Linear::from_parts(w, b);
        let x = Tensor::from_shape_vec(vec![1, 3], vec![1., 0., -1.]).unwrap();
        let y = fc.forward(x, Mode::Eval);
        assert_eq!(y.shape(), &[1, 2]);
        assert_eq!(y.as_slice().unwrap(), &[1. - 3. + 0.5, 4. - 6. - 1.0]);
    }

    #[test]
    fn backward_matches_the_formulas_and_returns_the_input_shape() {
        let mut fc = Linear::new(6, 2, Init::Std(1.0), &mut seeded(3));
        let x = Tensor::from_shape_fn(IxDyn(&[2, 3, 2]), |i| (i[0] + i[1] + i[2]) as f32 * 0.5);
        let xm = x.clone().into_shape_with_order((2, 6)).unwrap();
        fc.forward(x, Mode::Train);
        let g = Tensor::from_shape_vec(vec![2, 2], vec![1., -2., 0.5, 3.]).unwrap();
        let gm = g.clone().into_dimensionality::<Ix2>().unwrap();
        let w = fc.weight().clone().into_dimensionality::<Ix2>().unwrap();
        let dx = fc.backward(g);
        assert_eq!(dx.shape(), &[2, 3, 2]);
        let expect_dx = gm.dot(&w).into_shape_with_order(vec![2, 3, 2]).unwrap();
        assert_close(&dx, &expect_dx, 1e-5);
        let mut grads = Vec::new();
        for_each_grad(&mut fc, &mut grads);
        assert_close(&grads[0], &gm.t().dot(&xm).into_dyn(), 1e-5);
        assert_close(&grads[1], &gm.sum_axis(ndarray::Axis(0)).into_dyn(), 1e-6);
    }

    fn for_each_grad(l: &mut Linear, out: &mut Vec<Tensor>) {
        crate::layer::for_each_param(l, |_, p| out.push(p.grad.to_owned()));
    }

    #[test]
    fn params_are_named_weight_and_bias_in_pytorch_layout_with_zero_bias() {
        let mut fc = Linear::new(784, 128, Init::He, &mut seeded(4321));
        assert_eq!(param_names(&mut fc), ["weight", "bias"]);
        assert_eq!(fc.weight().shape(), &[128, 784]);
        assert!(fc.bias().iter().all(|&b| b == 0.0));
        assert_eq!(fc.type_name(), "Linear(784 -> 128)");
    }

    #[test]
    fn same_seed_same_weights() {
        let a = Linear::new(20, 10, Init::Xavier, &mut seeded(4321));
        let b = Linear::new(20, 10, Init::Xavier, &mut seeded(4321));
        assert_eq!(a.weight(), b.weight());
        let c = Linear::new(20, 10, Init::Xavier, &mut seeded(1));
        assert_ne!(a.weight(), c.weight());
    }

    #[test]
    fn wrong_width_names_layer_and_both_widths() {
        let mut fc = Linear::new(128, 64, Init::He, &mut seeded(1));
        let msg = panic_message(|| {
            forward_child("fc2", &mut fc, Tensor::zeros(IxDyn(&[8, 64])), Mode::Train);
        });
        assert!(
            msg.starts_with("fc2: expected 128 input features, got 64"),
            "{msg}"
        );
        assert!(msg.contains("[8, 64]"), "{msg}");
    }

    #[test]
    fn backward_without_train_forward_panics_with_the_layer_name() {
        let mut fc = Linear::new(4, 3, Init::He, &mut seeded(1));
        fc.forward(Tensor::zeros(IxDyn(&[2, 4])), Mode::Eval);
        let msg = panic_message(|| {
            crate::layer::backward_child("fc1", &mut fc, Tensor::zeros(IxDyn(&[2, 3])));
        });
        assert!(
            msg.starts_with("fc1: backward called on Linear(4 -> 3) without"),
            "{msg}"
        );
    }

    #[test]
    fn buffers_are_recycled_between_steps() {
        let mut fc = Linear::new(5, 3, Init::He, &mut seeded(1));
        let x = Tensor::ones(IxDyn(&[4, 5]));
        let x_ptr = x.as_ptr();
        let y = fc.forward(x, Mode::Train);
        let dx = fc.backward(y);
        // The input gradient lives in the input's buffer ...
        assert_eq!(dx.as_ptr(), x_ptr);
        // ... and the gradient buffer handed to backward becomes the next output.
        let g_ptr = fc.spare.as_ref().unwrap().as_ptr();
        let y2 = fc.forward(dx, Mode::Train);
        assert_eq!(y2.as_ptr(), g_ptr);
    }

    #[test]
    fn a_smaller_batch_and_the_full_one_after_it_reuse_the_output_buffer() {
        let mut fc = Linear::new(5, 3, Init::He, &mut seeded(1));
        let mut step = |n: usize| {
            let y = fc.forward(Tensor::ones(IxDyn(&[n, 5])), Mode::Train);
            let ptr = y.as_ptr();
            fc.backward(y);
            ptr
        };
        let full = step(4);
        assert_eq!(step(2), full);
        assert_eq!(step(4), full);
    }

    #[test]
    fn without_input_grad_gives_the_same_parameter_gradients_and_zero_dx() {
        let x = Tensor::from_shape_fn(IxDyn(&[3, 4]), |i| (i[0] as f32 - i[1] as f32) * 0.3);
        let g = Tensor::from_shape_fn(IxDyn(&[3, 2]), |i| (i[0] * 2 + i[1]) as f32 - 2.5);
        let mut full = Linear::new(4, 2, Init::He, &mut seeded(5));
        let mut first = full.clone().with_input_grad(false);
        full.forward(x.clone(), Mode::Train);
        first.forward(x, Mode::Train);
        assert!(full.backward(g.clone()).iter().any(|&v| v != 0.0));
        assert!(first.backward(g).iter().all(|&v| v == 0.0));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for_each_grad(&mut full, &mut a);
        for_each_grad(&mut first, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn passes_gradcheck_on_2d_and_4d_input() {
        let mut fc = Linear::new(12, 5, Init::He, &mut seeded(7));
        gradcheck(&mut fc, &[4, 12]).assert_passed();
        gradcheck(&mut fc, &[3, 3, 2, 2]).assert_passed();
    }
}
