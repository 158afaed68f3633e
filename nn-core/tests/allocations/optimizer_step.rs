//! After its first step, an optimizer allocates nothing: its state is created once and looked up
//! by name, and the two parameter walks of each step reuse the path buffers of earlier walks
//! (`Visitor` keeps them per thread).

use super::allocations;
use ndarray::{ArrayD, IxDyn};
use nn_core::optim::{AdaGrad, Adam, AdamW, Momentum, Nesterov, Optimizer, RmsProp, Sgd};
use nn_core::{Layer, Mode, ParamKind, Tensor, Visitor};

/// `n` parameters of 100 values each, alternately weights and biases, with constant gradients.
struct Many {
    params: Vec<(String, Tensor, Tensor, ParamKind)>,
}

impl Many {
    fn new(n: usize) -> Self {
        let params = (0..n)
            .map(|i| {
                let kind = if i % 2 == 0 {
                    ParamKind::Weight
                } else {
                    ParamKind::Bias
                };
                let value = ArrayD::from_elem(IxDyn(&[10, 10]), 1.0);
                let grad = ArrayD::from_elem(IxDyn(&[10, 10]), 0.1);
                (format!("layer{i}.p"), value, grad, kind)
            })
            .collect();
        Many { params }
    }
}

impl Layer for Many {
    fn forward(&mut self, x: Tensor, _mode: Mode) -> Tensor {
        x
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        grad
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        for (name, value, grad, kind) in &mut self.params {
            v.param(name, value, grad, *kind);
        }
    }
}

/// Allocations made by steps 2 to 5 of `opt` on a model of `n` parameters, per step.
fn allocations_per_later_step(mut opt: Box<dyn Optimizer>, n: usize) -> usize {
    let mut model = Many::new(n);
    opt.step(&mut model).unwrap();
    let before = allocations();
    for _ in 0..4 {
        opt.step(&mut model).unwrap();
    }
    (allocations() - before) / 4
}

#[test]
fn later_steps_allocate_nothing() {
    let _serial = crate::serial();
    let optimizers: Vec<fn() -> Box<dyn Optimizer>> = vec![
        || Box::new(Sgd::new(0.1).with_weight_decay(1e-4)),
        || Box::new(Momentum::new(0.1)),
        || Box::new(Nesterov::new(0.1)),
        || Box::new(AdaGrad::new(0.1)),
        || Box::new(RmsProp::new(0.1)),
        || Box::new(Adam::new(0.1).with_clip_grad_norm(1.0)),
        || Box::new(AdamW::new(0.1)),
    ];
    for make in optimizers {
        let name = make().name();
        let small = allocations_per_later_step(make(), 1);
        let large = allocations_per_later_step(make(), 16);
        assert_eq!(
            (small, large),
            (0, 0),
            "{name}: allocations per step with 1 and 16 parameters"
        );
    }
}

/// One weight of `len` values with a constant gradient.
struct Wide(Tensor, Tensor);

impl Layer for Wide {
    fn forward(&mut self, x: Tensor, _mode: Mode) -> Tensor {
        x
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        grad
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        v.param("fc.weight", &mut self.0, &mut self.1, ParamKind::Weight);
    }
}

#[test]
fn a_step_split_over_two_threads_allocates_nothing_for_the_hand_off() {
    let _serial = crate::serial();
    // Adam updates a parameter this large in two halves, one on a helper thread: handing the
    // half over must not allocate (a boxed job per hand-off would show here). Other tests of
    // this binary set one thread; if one runs meanwhile, this step is not split and still 0.
    nn_core::set_num_threads(2);
    let len = 1 << 16;
    let mut model = Wide(
        ArrayD::from_elem(IxDyn(&[len]), 1.0),
        ArrayD::from_elem(IxDyn(&[len]), 0.1),
    );
    let mut adam = Adam::new(1e-3);
    adam.step(&mut model).unwrap();
    let before = allocations();
    for _ in 0..20 {
        adam.step(&mut model).unwrap();
    }
    assert_eq!(allocations() - before, 0, "allocations in 20 split steps");
}
