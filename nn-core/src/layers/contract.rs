//! What every layer promises, checked the same way for each (test builds only): gradients that
//! match finite differences, Train and Eval forwards that agree where the layer has no batch
//! statistics, panics that name the layer path and both shapes, and summary shapes.

use crate::gradcheck::gradcheck;
use crate::layer::{backward_child, for_each_param, forward_child, panic_message, Layer, Mode};
use crate::linalg::set_num_threads;
use crate::summary::summary;
use crate::tensor::Tensor;
use ndarray::IxDyn;

/// An input of `shape` with distinct values spread over about [-2, 2] in a scrambled order.
pub(crate) fn input(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let values = (0..n)
        .map(|i| ((i * 37 + 11) % n.max(1)) as f32 / n as f32 * 4.0 - 1.99)
        .collect();
    Tensor::from_shape_vec(IxDyn(shape), values).expect("one value per element")
}

/// Checks `layer` on inputs of `shape`: gradcheck, Train and Eval agreeing bit for bit, the
/// summary's output shape, a second backward after one Train forward and a gradient of a wrong shape
/// panicking with the layer path, the type name and both shapes. Returns the output shape.
#[track_caller]
pub(crate) fn check_layer(layer: &mut dyn Layer, shape: &[usize]) -> Vec<usize> {
    let name = layer.type_name();
    let report = gradcheck(layer, shape);
    assert!(report.passed(), "{name} on {shape:?}: {report}");

    let x = input(shape);
    let train = layer.forward(x.clone(), Mode::Train);
    let eval = layer.forward(x.clone(), Mode::Eval);
    assert_eq!(train.shape(), eval.shape(), "{name}");
    for (a, b) in train.iter().zip(&eval) {
        assert_eq!(a.to_bits(), b.to_bits(), "{name}: Train {a} vs Eval {b}");
    }
    let out = train.shape().to_vec();
    assert_eq!(summary(layer, shape).rows[0].output_shape, out, "{name}: summary");

    // One Train forward pays for one backward; Eval forwards (summary's too) add nothing.
    layer.forward(x.clone(), Mode::Train);
    layer.backward(Tensor::zeros(IxDyn(&out)));
    layer.forward(x.clone(), Mode::Eval);
    let msg = panic_message(|| {
        backward_child("block.act", layer, Tensor::zeros(IxDyn(&out)));
    });
    assert!(
        msg.starts_with(&format!("block.act: backward called on {name} without")),
        "{msg}"
    );

    let mut wrong = out.clone();
    wrong[0] += 1;
    forward_child("block.act", layer, x, Mode::Train);
    let msg = panic_message(|| {
        backward_child("block.act", layer, Tensor::zeros(IxDyn(&wrong)));
    });
    assert_eq!(
        msg,
        format!(
            "block.act: expected a gradient of shape {out:?} (the output of the last Train forward), got {wrong:?}"
        )
    );
    out
}

/// Checks that a Train forward, its backward and an Eval forward of `layer` on an input of
/// `shape` (large enough to be split over threads) give the same bits on 1 and 3 threads:
/// outputs, input gradient and parameter gradients.
#[track_caller]
pub(crate) fn check_threads(layer: &mut dyn Layer, shape: &[usize]) {
    let x = input(shape);
    let mut run = |threads| {
        set_num_threads(threads);
        let y = layer.forward(x.clone(), Mode::Train);
        let dx = layer.backward(y.mapv(|v| v * 0.5 - 0.25));
        let mut grads = Vec::new();
        for_each_param(layer, |_, p| grads.push(p.grad.to_owned()));
        (y, dx, grads, layer.forward(x.clone(), Mode::Eval))
    };
    let one = run(1);
    let three = run(3);
    set_num_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
    assert!(one == three, "{}: 1 and 3 threads differ", layer.type_name());
}
