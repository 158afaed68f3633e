//! Optimizers as a user meets them: a hand-written layer with forward, backward and visit,
//! trained through `Box<dyn Optimizer>` with every algorithm from the prelude.

use ndarray::{ArrayD, IxDyn};
use nn::prelude::*;
use nn::{ParamKind, Visitor};

/// y = w * x + b for scalar features, batch first ([n, 1] in, [n, 1] out).
struct Affine {
    w: Tensor,
    b: Tensor,
    grad_w: Tensor,
    grad_b: Tensor,
    input: Option<Tensor>,
}

impl Affine {
    fn new() -> Self {
        let zero = || ArrayD::zeros(IxDyn(&[1]));
        Affine {
            w: zero(),
            b: zero(),
            grad_w: zero(),
            grad_b: zero(),
            input: None,
        }
    }
}

impl Layer for Affine {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let y = &x * self.w[0] + self.b[0];
        if mode == Mode::Train {
            self.input = Some(x);
        }
        y
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        let x = self.input.take().expect("backward after a Train forward");
        self.grad_w[0] = (&x * &grad).sum();
        self.grad_b[0] = grad.sum();
        grad * self.w[0]
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        v.param("weight", &mut self.w, &mut self.grad_w, ParamKind::Weight);
        v.param("bias", &mut self.b, &mut self.grad_b, ParamKind::Bias);
    }
}

/// Mean squared error of `model` on y = 3x - 1 over x in [-1, 1], after `steps` full-batch steps.
fn fit(opt: &mut dyn Optimizer, steps: usize) -> f32 {
    let xs: Vec<f32> = (0..21).map(|i| i as f32 / 10.0 - 1.0).collect();
    let x = ArrayD::from_shape_vec(IxDyn(&[21, 1]), xs).unwrap();
    let target = &x * 3.0 - 1.0;
    let mut model = Affine::new();
    let mut loss = f32::INFINITY;
    for _ in 0..steps {
        let y = model.forward(x.clone(), Mode::Train);
        let diff = y - &target;
        loss = diff.mapv(|d| d * d).mean().unwrap();
        model.backward(diff * (2.0 / 21.0));
        opt.step(&mut model).unwrap();
    }
    loss
}

#[test]
fn every_optimizer_fits_a_line_through_a_hand_written_layer() {
    let optimizers: Vec<Box<dyn Optimizer>> = vec![
        Box::new(Sgd::new(0.3)),
        Box::new(Momentum::new(0.05)),
        Box::new(Nesterov::new(0.05)),
        Box::new(AdaGrad::new(0.5)),
        Box::new(RmsProp::new(0.02)),
        Box::new(Adam::new(0.05)),
        Box::new(AdamW::new(0.05).with_decoupled_weight_decay(0.0)),
    ];
    for mut opt in optimizers {
        let loss = fit(&mut opt, 500);
        assert!(loss < 1e-4, "{} left a mean squared error of {loss}", opt.name());
    }
}
