//! Every built-in layer honours a [`TrainingPlan`]: what it is told not to compute it leaves
//! alone, and what it still computes has the bits of a full backward.

use super::*;
use crate::gradcheck::GradCheck;
use crate::init::Init;
use crate::layer::{for_each_buffer, for_each_param, Layer, Mode, TrainingPlan};
use crate::rng::seeded;
use crate::tensor::Tensor;
use ndarray::{Dimension, IxDyn};

/// A value no backward writes: a gradient that still holds it was not computed.
const UNTOUCHED: f32 = 7.25;

/// Each built-in layer, built afresh, with an input shape it takes.
fn layers() -> Vec<(Box<dyn Layer>, Vec<usize>)> {
    let mut rng = seeded(5);
    let mut drop = Dropout::new(0.3, 9);
    drop.freeze_mask(true);
    vec![
        (Box::new(Linear::new(6, 4, Init::He, &mut rng)), vec![3, 6]),
        (
            Box::new(Conv2d::builder(2, 3, 3).padding(1).build(Init::He, &mut rng)),
            vec![2, 2, 5, 5],
        ),
        (Box::new(BatchNorm::new(6)), vec![4, 6]),
        (Box::new(BatchNorm2d::new(2)), vec![3, 2, 4, 4]),
        (Box::new(Relu::new()), vec![3, 6]),
        (Box::new(Sigmoid::new()), vec![3, 6]),
        (Box::new(Tanh::new()), vec![3, 6]),
        (Box::new(drop), vec![3, 6]),
        (Box::new(MaxPool2d::new(2)), vec![2, 2, 4, 4]),
        (Box::new(AvgPool2d::new(2)), vec![2, 2, 4, 4]),
        (Box::new(GlobalAvgPool2d::new()), vec![2, 2, 4, 4]),
    ]
}

fn input(shape: &[usize]) -> Tensor {
    Tensor::from_shape_fn(IxDyn(shape), |i| {
        let k: usize = i.slice().iter().enumerate().map(|(a, &v)| (a + 3) * v).sum();
        ((k * 7) % 13) as f32 / 6.0 - 1.0
    })
}

/// One Train forward and backward after `plan` (if any), with every parameter gradient set to
/// [`UNTOUCHED`] first: the input gradient and the parameter gradients.
fn step(layer: &mut dyn Layer, shape: &[usize], plan: Option<TrainingPlan<'_>>) -> (Tensor, Vec<Tensor>) {
    if let Some(mut plan) = plan {
        plan.apply(layer);
    }
    for_each_param(layer, |_, mut p| p.grad.fill(UNTOUCHED));
    let y = layer.forward(input(shape), Mode::Train);
    let g = Tensor::from_shape_fn(y.raw_dim(), |i| {
        (i.slice().iter().sum::<usize>() % 5) as f32 - 2.0
    });
    let dx = layer.backward(g);
    assert_eq!(dx.shape(), shape, "{}", layer.type_name());
    let mut grads = Vec::new();
    for_each_param(layer, |_, p| grads.push(p.grad.to_owned()));
    (dx, grads)
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn a_plan_that_needs_everything_changes_no_bit() {
    let everything = |_: &str| false;
    for ((mut a, shape), (mut b, _)) in layers().into_iter().zip(layers()) {
        let (dx, grads) = step(&mut *a, &shape, None);
        let plan = TrainingPlan::new(&everything).with_input_grad(true);
        let (dx2, grads2) = step(&mut *b, &shape, Some(plan));
        assert_eq!(bits(&dx), bits(&dx2), "{}", a.type_name());
        assert_eq!(grads, grads2, "{}", a.type_name());
    }
}

#[test]
fn a_frozen_layer_whose_input_needs_no_gradient_computes_nothing() {
    let all = |_: &str| true;
    for (mut layer, shape) in layers() {
        let (dx, grads) = step(&mut *layer, &shape, Some(TrainingPlan::new(&all)));
        assert_eq!(dx.shape(), shape);
        for g in &grads {
            assert!(g.iter().all(|&v| v == UNTOUCHED), "{}", layer.type_name());
        }
        // Back to a full plan, the layer computes every gradient again.
        let (_, grads) = step(&mut *layer, &shape, Some(TrainingPlan::full()));
        assert!(grads.iter().all(|g| g.iter().any(|&v| v != UNTOUCHED)));
    }
}

#[test]
fn frozen_parameters_before_a_trained_layer_still_pass_the_exact_input_gradient_on() {
    let all = |_: &str| true;
    for ((mut a, shape), (mut b, _)) in layers().into_iter().zip(layers()) {
        let (dx, _) = step(&mut *a, &shape, None);
        let plan = TrainingPlan::new(&all).with_input_grad(true);
        let (dx2, grads) = step(&mut *b, &shape, Some(plan));
        assert_eq!(bits(&dx), bits(&dx2), "{}", a.type_name());
        // A Linear skips its frozen gradients; the others may compute them on the way.
        if a.type_name().starts_with("Linear") {
            assert!(grads.iter().all(|g| g.iter().all(|&v| v == UNTOUCHED)));
        }
    }
}

#[test]
fn a_trained_first_layer_skips_only_its_input_gradient() {
    let nothing = |_: &str| false;
    for ((mut a, shape), (mut b, _)) in layers().into_iter().zip(layers()) {
        let (_, grads) = step(&mut *a, &shape, None);
        let (_, grads2) = step(&mut *b, &shape, Some(TrainingPlan::new(&nothing)));
        assert_eq!(grads, grads2, "{}", a.type_name());
    }
}

#[test]
fn a_frozen_bias_alone_keeps_its_old_gradient() {
    let bias = |name: &str| name == "bias";
    let mut fc = Linear::new(6, 4, Init::He, &mut seeded(1));
    let (_, grads) = step(&mut fc, &[3, 6], Some(TrainingPlan::new(&bias)));
    assert!(grads[0].iter().all(|&v| v != UNTOUCHED));
    assert!(grads[1].iter().all(|&v| v == UNTOUCHED));
}

/// `bn`'s Train forward with its statistics frozen: equal to its Eval forward, no running
/// statistic moves, and backward is the input gradient of that function.
fn check_frozen_statistics(bn: &mut dyn Layer, shape: &[usize]) {
    let all = |_: &str| true;
    // Non-trivial running statistics and parameters first.
    bn.forward(input(shape) * 3.0 + 1.0, Mode::Train);
    for_each_param(bn, |_, mut p| p.value.mapv_inplace(|v| v * 1.5 + 0.25));
    TrainingPlan::new(&all)
        .with_input_grad(true)
        .with_norm_stats_frozen(true)
        .apply(bn);
    let mut before = Vec::new();
    for_each_buffer(bn, |_, t| before.push(t.to_owned()));
    let eval = bn.forward(input(shape), Mode::Eval);
    let train = bn.forward(input(shape), Mode::Train);
    assert_eq!(bits(&eval), bits(&train), "{}", bn.type_name());
    let mut after = Vec::new();
    for_each_buffer(bn, |_, t| after.push(t.to_owned()));
    assert_eq!(before, after, "running statistics moved");
    let r = Tensor::from_shape_fn(IxDyn(shape), |i| {
        (i.slice().iter().sum::<usize>() % 3) as f32 - 1.0
    });
    let dx = bn.backward(r.clone());
    let report = GradCheck::default().check_fn("input", &input(shape), &dx, |x| {
        let y = bn.forward(x.clone(), Mode::Train);
        y.iter().zip(&r).map(|(&y, &r)| f64::from(y) * f64::from(r)).sum()
    });
    report.assert_passed();
}

#[test]
fn frozen_batch_norm_can_keep_its_running_statistics_in_training() {
    check_frozen_statistics(&mut BatchNorm::new(6), &[4, 6]);
    check_frozen_statistics(&mut BatchNorm2d::new(2), &[3, 2, 4, 4]);
}

/// With frozen statistics too, a fused ReLU is `BatchNorm2d` then `Relu` to the bit: its
/// backward masks the gradient by the output's sign, recomputed from the kept input.
#[test]
fn a_fused_relu_with_frozen_statistics_gives_the_bits_of_the_two_layers() {
    let shape = [3, 2, 4, 5];
    let frozen = |_: &str| true;
    let mut fused = BatchNorm2d::new(2).with_relu();
    let mut pair = (BatchNorm2d::new(2), crate::layers::Relu::new());
    let (x, g) = (input(&shape) * 2.0 + 0.3, input(&shape) * 0.5 - 0.1);
    fused.forward(input(&shape) * 3.0 + 1.0, Mode::Train);
    pair.forward(input(&shape) * 3.0 + 1.0, Mode::Train);
    for layer in [&mut fused as &mut dyn Layer, &mut pair] {
        TrainingPlan::new(&frozen)
            .with_input_grad(true)
            .with_norm_stats_frozen(true)
            .apply(layer);
    }
    for _ in 0..2 {
        let y = fused.forward(x.clone(), Mode::Train);
        assert_eq!(bits(&y), bits(&pair.forward(x.clone(), Mode::Train)));
        assert!(y.iter().any(|&v| v == 0.0) && y.iter().any(|&v| v > 0.0));
        assert_eq!(bits(&fused.backward(g.clone())), bits(&pair.backward(g.clone())));
    }
}

#[test]
fn dropout_masks_under_a_trainer_depend_on_the_seed_and_the_epoch_alone() {
    let ones = || Tensor::ones(IxDyn(&[8, 8]));
    let epoch = |e| TrainingPlan::full().with_epoch(e);
    let mut a = Dropout::new(0.5, 3);
    let mut b = Dropout::new(0.5, 3);
    // `a` draws masks through epochs 0 and 1; `b` starts at epoch 2, as a resumed run does.
    for e in 0..2 {
        epoch(e).apply(&mut a);
        a.forward(ones(), Mode::Train);
        a.forward(ones(), Mode::Train);
    }
    epoch(2).apply(&mut a);
    epoch(2).apply(&mut b);
    let (ya, yb) = (a.forward(ones(), Mode::Train), b.forward(ones(), Mode::Train));
    assert_eq!(ya, yb);
    epoch(3).apply(&mut b);
    assert_ne!(ya, b.forward(ones(), Mode::Train));
}
