//! What every layer promises, checked the same way for each (test builds only): gradients that
//! match finite differences, Train and Eval forwards that agree where the layer has no batch
//! statistics, panics that name the layer path and both shapes, and summary shapes.

use crate::gradcheck::gradcheck;
use crate::layer::{backward_child, forward_child, panic_message, Layer, Mode};
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
