//! nn's built-in layers as ONNX nodes: one function per layer, found by type in [`builtin`].
//! Each computes what the layer's Eval forward computes, in opset [`OPSET`](super::OPSET).

use crate::layer::onnx::{Attr, Graph, OnnxError, Value};
use crate::layers::{AvgPool2d, BatchNorm, BatchNorm2d, Conv2d, Dropout, DropoutKind, Flatten};
use crate::layers::{GlobalAvgPool2d, Linear, MaxPool2d, Relu, Sigmoid, Size2, Tanh};
use crate::Layer;
use std::any::Any;

type Result<T> = std::result::Result<T, OnnxError>;

/// Translates `layer` if it is one of nn's built-in layers; `None` for any other type.
pub(super) fn builtin(layer: &mut dyn Any, g: &mut Graph, x: Value) -> Option<Result<Value>> {
    macro_rules! by_type {
        ($($ty:ty => $lower:expr,)*) => {
            $(if let Some(l) = layer.downcast_mut::<$ty>() {
                return Some($lower(l, g, x));
            })*
        };
    }
    by_type! {
        Linear => linear,
        Relu => |_: &mut Relu, g, x| Ok(unary(g, "Relu", x)),
        Sigmoid => |_: &mut Sigmoid, g, x| Ok(unary(g, "Sigmoid", x)),
        Tanh => |_: &mut Tanh, g, x| Ok(unary(g, "Tanh", x)),
        Dropout => dropout,
        BatchNorm => batch_norm,
        BatchNorm2d => batch_norm2d,
        Conv2d => conv2d,
        MaxPool2d => max_pool2d,
        AvgPool2d => avg_pool2d,
        GlobalAvgPool2d => global_avg_pool2d,
        Flatten => |_: &mut Flatten, g, x| Ok(flatten(g, x)),
    }
    None
}

/// `Gemm(x, weight, bias, transB=1)`: `x W^T + b` with nn's `[out, in]` weight as stored. nn's
/// Linear flattens an input of rank > 2 to `[N, in]` (not PyTorch's last-axis product, which
/// would be `MatMul` + `Add`), so such an input is flattened first.
fn linear(l: &mut Linear, g: &mut Graph, x: Value) -> Result<Value> {
    let x = rows(g, x);
    let w = g.param(l, "weight")?;
    let b = g.param(l, "bias")?;
    Ok(g.node("Gemm", &[&x, &w, &b], &[("transB", Attr::Int(1))]))
}

/// Inverted dropout is the identity in Eval (no node); the classic kind scales by `1 - p`.
fn dropout(l: &mut Dropout, g: &mut Graph, x: Value) -> Result<Value> {
    Ok(match l.kind() {
        DropoutKind::Inverted => x,
        DropoutKind::Classic => {
            let scale = g.constant("scale", &[], &[1.0 - l.p()]);
            g.node("Mul", &[&x, &scale], &[])
        }
    })
}

/// `BatchNormalization` in inference form (running statistics, nn's eps). nn's BatchNorm
/// normalises `[N, features]` and flattens a higher-rank input to that, as the seed does, so
/// such an input is flattened, normalised and given its shape back.
fn batch_norm(l: &mut BatchNorm, g: &mut Graph, x: Value) -> Result<Value> {
    let eps = l.eps();
    if x.shape().is_some_and(|s| s.len() == 2) {
        return normalize(l, eps, g, x);
    }
    let flat = rows(g, x.clone());
    let y = normalize(l, eps, g, flat)?;
    let shape = g.node("Shape", &[&x], &[]);
    Ok(g.node("Reshape", &[&y, &shape], &[]))
}

/// `BatchNormalization` per channel of `[N, C, H, W]`, as PyTorch's BatchNorm2d.
fn batch_norm2d(l: &mut BatchNorm2d, g: &mut Graph, x: Value) -> Result<Value> {
    let eps = l.eps();
    normalize(l, eps, g, x)
}

/// The inference-form `BatchNormalization` node of a layer with nn's batch-norm tensors.
fn normalize(l: &mut dyn Layer, eps: f32, g: &mut Graph, x: Value) -> Result<Value> {
    let scale = g.param(l, "weight")?;
    let bias = g.param(l, "bias")?;
    let mean = g.param(l, "running_mean")?;
    let var = g.param(l, "running_var")?;
    Ok(g.node(
        "BatchNormalization",
        &[&x, &scale, &bias, &mean, &var],
        &[("epsilon", Attr::Float(eps))],
    ))
}

/// `Conv` with nn's `[out, in / groups, kh, kw]` weight, which is ONNX's layout.
fn conv2d(l: &mut Conv2d, g: &mut Graph, x: Value) -> Result<Value> {
    let w = g.param(l, "weight")?;
    let b = if l.bias().is_some() {
        Some(g.param(l, "bias")?)
    } else {
        None
    };
    let inputs: Vec<&Value> = [&x, &w].into_iter().chain(b.as_ref()).collect();
    let mut attributes = window(l.kernel_size(), l.stride(), l.padding());
    attributes.push(("dilations", pair(l.dilation())));
    attributes.push(("group", Attr::Int(l.groups() as i64)));
    Ok(g.node("Conv", &inputs, &attributes))
}

/// `MaxPool`; ONNX pads max pooling with `-inf`, as nn does.
fn max_pool2d(l: &mut MaxPool2d, g: &mut Graph, x: Value) -> Result<Value> {
    let attributes = window(l.kernel_size(), l.stride(), l.padding());
    Ok(g.node("MaxPool", &[&x], &attributes))
}

/// `AveragePool` with `count_include_pad=1`: nn divides every window by `kh * kw`, padding
/// included (PyTorch's default; ONNX's default is to exclude it).
fn avg_pool2d(l: &mut AvgPool2d, g: &mut Graph, x: Value) -> Result<Value> {
    let mut attributes = window(l.kernel_size(), l.stride(), l.padding());
    attributes.push(("count_include_pad", Attr::Int(1)));
    Ok(g.node("AveragePool", &[&x], &attributes))
}

/// `GlobalAveragePool` gives `[N, C, 1, 1]`; nn's layer gives `[N, C]`.
fn global_avg_pool2d(_: &mut GlobalAvgPool2d, g: &mut Graph, x: Value) -> Result<Value> {
    let pooled = g.node("GlobalAveragePool", &[&x], &[]);
    Ok(flatten(g, pooled))
}

/// A one-input node without attributes.
fn unary(g: &mut Graph, op_type: &str, x: Value) -> Value {
    g.node(op_type, &[&x], &[])
}

/// `Flatten(axis=1)`: `[N, d1, d2, ...]` to `[N, d1 * d2 * ...]`.
fn flatten(g: &mut Graph, x: Value) -> Value {
    g.node("Flatten", &[&x], &[("axis", Attr::Int(1))])
}

/// `x` as `[N, features]`: flattened unless already of rank 2.
fn rows(g: &mut Graph, x: Value) -> Value {
    if x.shape().is_some_and(|s| s.len() == 2) {
        x
    } else {
        flatten(g, x)
    }
}

/// The attributes of a sliding window: `kernel_shape`, `strides` and `pads` (the same padding
/// at both ends of each axis, ONNX's order `[top, left, bottom, right]`).
fn window(kernel: Size2, stride: Size2, padding: Size2) -> Vec<(&'static str, Attr)> {
    let p = padding;
    vec![
        ("kernel_shape", pair(kernel)),
        ("strides", pair(stride)),
        (
            "pads",
            Attr::Ints(vec![p.h as i64, p.w as i64, p.h as i64, p.w as i64]),
        ),
    ]
}

/// A height and width as an `INTS` attribute.
fn pair(s: Size2) -> Attr {
    Attr::Ints(vec![s.h as i64, s.w as i64])
}
