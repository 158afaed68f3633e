//! nn's built-in layers as ONNX nodes: one function per layer, found by type in [`builtin`].
//! Each computes what the layer's Eval forward computes, in opset [`OPSET`](super::OPSET).

use crate::layer::onnx::{Attr, Graph, OnnxError, Value};
use crate::layers::{AdaptiveAvgPool2d, ConvTranspose2d, Elu, Gelu, GroupNorm, LayerNorm, LeakyRelu};
use crate::layers::{AvgPool2d, BatchNorm, BatchNorm2d, Conv2d, Dropout, DropoutKind, Flatten};
use crate::layers::{GlobalAvgPool2d, Linear, MaxPool2d, Relu, Sigmoid, Size2, Tanh};
use crate::layers::{Silu, Softmax, Softplus, Upsample, UpsampleMode};
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
        LeakyRelu => |l: &mut LeakyRelu, g: &mut Graph, x| {
            let alpha = Attr::Float(l.negative_slope());
            Ok(g.node("LeakyRelu", &[&x], &[("alpha", alpha)]))
        },
        Elu => |l: &mut Elu, g: &mut Graph, x| {
            Ok(g.node("Elu", &[&x], &[("alpha", Attr::Float(l.alpha()))]))
        },
        Gelu => gelu,
        Silu => |_: &mut Silu, g: &mut Graph, x: Value| {
            let s = unary(g, "Sigmoid", x.clone());
            Ok(g.node("Mul", &[&x, &s], &[]))
        },
        Softplus => softplus,
        Softmax => |l: &mut Softmax, g: &mut Graph, x| {
            Ok(g.node("Softmax", &[&x], &[("axis", Attr::Int(l.dim() as i64))]))
        },
        LayerNorm => layer_norm,
        GroupNorm => group_norm,
        AdaptiveAvgPool2d => adaptive_avg_pool2d,
        Upsample => upsample,
        ConvTranspose2d => conv_transpose2d,
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
/// A fused ReLU ([`BatchNorm2d::with_relu`]) is a `Relu` node after it.
fn batch_norm2d(l: &mut BatchNorm2d, g: &mut Graph, x: Value) -> Result<Value> {
    let (eps, relu) = (l.eps(), l.relu());
    let y = normalize(l, eps, g, x)?;
    Ok(if relu { g.node("Relu", &[&y], &[]) } else { y })
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

/// Opset 17 has no `Gelu` (opset 20 does): `0.5 x (1 + erf(x / sqrt 2))`, or PyTorch's tanh form
/// `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`.
fn gelu(l: &mut Gelu, g: &mut Graph, x: Value) -> Result<Value> {
    let inner = if l.approximate() == "tanh" {
        let kappa = g.constant("kappa", &[], &[0.044_715]);
        let beta = g.constant("beta", &[], &[0.797_884_6]);
        let x2 = g.node("Mul", &[&x, &x], &[]);
        let x3 = g.node("Mul", &[&x2, &x], &[]);
        let k = g.node("Mul", &[&x3, &kappa], &[]);
        let sum = g.node("Add", &[&x, &k], &[]);
        let scaled = g.node("Mul", &[&sum, &beta], &[]);
        unary(g, "Tanh", scaled)
    } else {
        let root_half = g.constant("sqrt_half", &[], &[std::f32::consts::FRAC_1_SQRT_2]);
        let scaled = g.node("Mul", &[&x, &root_half], &[]);
        unary(g, "Erf", scaled)
    };
    let (one, half) = (g.constant("one", &[], &[1.0]), g.constant("half", &[], &[0.5]));
    let cdf = g.node("Add", &[&inner, &one], &[]);
    let y = g.node("Mul", &[&x, &cdf], &[]);
    Ok(g.node("Mul", &[&y, &half], &[]))
}

/// PyTorch's softplus: `log(1 + exp(beta x)) / beta`, and `x` where `beta x > threshold`
/// (ONNX's `Softplus` has neither parameter).
fn softplus(l: &mut Softplus, g: &mut Graph, x: Value) -> Result<Value> {
    let (beta, threshold) = (l.beta(), l.threshold());
    let b = g.constant("beta", &[], &[beta]);
    let t = g.constant("threshold", &[], &[threshold]);
    let bx = g.node("Mul", &[&x, &b], &[]);
    let soft = unary(g, "Softplus", bx.clone());
    let soft = g.node("Div", &[&soft, &b], &[]);
    let linear = g.node("Greater", &[&bx, &t], &[]);
    Ok(g.node("Where", &[&linear, &x, &soft], &[]))
}

/// `LayerNormalization` over the trailing `normalized_shape` dimensions; without an affine
/// transform, a scale of ones and a shift of zeros.
fn layer_norm(l: &mut LayerNorm, g: &mut Graph, x: Value) -> Result<Value> {
    let shape = l.normalized_shape().to_vec();
    let has_affine = l.weight().is_some();
    let (scale, bias) = affine(l, has_affine, &shape, g)?;
    let attributes = [
        ("axis", Attr::Int(-(shape.len() as i64))),
        ("epsilon", Attr::Float(l.eps())),
    ];
    Ok(g.node("LayerNormalization", &[&x, &scale, &bias], &attributes))
}

/// Opset 17 has no `GroupNormalization` with PyTorch's per-channel affine (opset 21 does):
/// `[N, C, ...]` reshaped to `[N, groups, rest]`, each group normalised by
/// `LayerNormalization` over `rest`, the shape given back, then the per-channel scale and
/// shift. (`InstanceNormalization` of the groups would do too, but tract 0.22 computes it wrong
/// on such a reshaped input; onnxruntime agrees with both.)
fn group_norm(l: &mut GroupNorm, g: &mut Graph, x: Value) -> Result<Value> {
    let (groups, channels, eps) = (l.num_groups(), l.num_channels(), l.eps());
    let shape = g.shape_of(&x)?.to_vec();
    let rank = shape.len();
    let rest = shape[1..].iter().product::<usize>() / groups;
    let grouped_shape = g.constant_i64("grouped", &[0, groups as i64, rest as i64]);
    let grouped = g.node("Reshape", &[&x, &grouped_shape], &[]);
    let ones = g.constant("ones", &[rest], &vec![1.0; rest]);
    let zeros = g.constant("zeros", &[rest], &vec![0.0; rest]);
    let attributes = [("axis", Attr::Int(-1)), ("epsilon", Attr::Float(eps))];
    let normed = g.node("LayerNormalization", &[&grouped, &ones, &zeros], &attributes);
    let shape = g.node("Shape", &[&x], &[]);
    let y = g.node("Reshape", &[&normed, &shape], &[]);
    if l.weight().is_none() {
        return Ok(y);
    }
    // The [C] parameters as [C, 1, ..., 1], to broadcast over the positions.
    let per_channel: Vec<i64> = std::iter::once(channels as i64)
        .chain(std::iter::repeat_n(1, rank - 2))
        .collect();
    let per_channel = g.constant_i64("per_channel", &per_channel);
    let (weight, bias) = (g.param(l, "weight")?, g.param(l, "bias")?);
    let weight = g.node("Reshape", &[&weight, &per_channel], &[]);
    let bias = g.node("Reshape", &[&bias, &per_channel], &[]);
    let y = g.node("Mul", &[&y, &weight], &[]);
    Ok(g.node("Add", &[&y, &bias], &[]))
}

/// A layer's `weight` and `bias` when it has them, else constants of ones and zeros of `shape`.
fn affine(l: &mut dyn Layer, has: bool, shape: &[usize], g: &mut Graph) -> Result<(Value, Value)> {
    if has {
        return Ok((g.param(l, "weight")?, g.param(l, "bias")?));
    }
    let n = shape.iter().product();
    Ok((
        g.constant("ones", shape, &vec![1.0; n]),
        g.constant("zeros", shape, &vec![0.0; n]),
    ))
}

/// Adaptive average pooling is linear in each axis: `A_h x A_w^T`, `A` the `[out, in]` matrix
/// of PyTorch's bins (`floor(i in / out)` to `ceil((i + 1) in / out)`), each row averaging its
/// bin. Two `MatMul`s with stored matrices, for any input and output size.
fn adaptive_avg_pool2d(l: &mut AdaptiveAvgPool2d, g: &mut Graph, x: Value) -> Result<Value> {
    let shape = g.shape_of(&x)?;
    let (h, w, out) = (shape[2], shape[3], l.output_size());
    let rows = g.constant("rows", &[out.h, h], &bins(h, out.h));
    let cols: Vec<f32> = transpose(&bins(w, out.w), out.w, w);
    let cols = g.constant("cols", &[w, out.w], &cols);
    let y = g.node("MatMul", &[&rows, &x], &[]);
    Ok(g.node("MatMul", &[&y, &cols], &[]))
}

/// The `[out, size]` averaging matrix of PyTorch's adaptive pooling bins.
fn bins(size: usize, out: usize) -> Vec<f32> {
    let mut m = vec![0.0; out * size];
    for i in 0..out {
        let (start, end) = (i * size / out, ((i + 1) * size).div_ceil(out));
        for j in start..end {
            m[i * size + j] = 1.0 / (end - start) as f32;
        }
    }
    m
}

/// The transpose of a row-major `[rows, cols]` matrix.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols * rows)
        .map(|k| m[(k % rows) * cols + k / rows])
        .collect()
}

/// `Resize`, with PyTorch's coordinate rules: nearest reads `floor(out / scale)`
/// (`asymmetric`, `floor`), bilinear `half_pixel` or `align_corners`. A scale factor
/// is given as `scales`; a fixed size as `sizes`, its batch and channels taken from the input.
fn upsample(l: &mut Upsample, g: &mut Graph, x: Value) -> Result<Value> {
    let mut attributes = vec![];
    match l.mode() {
        UpsampleMode::Bilinear { align_corners } => {
            attributes.push(("mode", Attr::Str("linear".into())));
            // `half_pixel` is PyTorch's rule except for an output side of 1, where PyTorch reads
            // the first pixel (`pytorch_half_pixel`, which tract 0.22 does not read).
            let shape = g.shape_of(&x)?;
            let (h, w) = (shape[2] as f64, shape[3] as f64);
            let out = match (l.scale_factor(), l.size()) {
                (Some((sh, sw)), _) => ((h * sh).floor(), (w * sw).floor()),
                (None, Some(size)) => (size.h as f64, size.w as f64),
                (None, None) => unreachable!("an Upsample has a scale factor or a size"),
            };
            let rule = match (align_corners, out.0 == 1.0 || out.1 == 1.0) {
                (true, _) => "align_corners",
                (false, false) => "half_pixel",
                (false, true) => "pytorch_half_pixel",
            };
            attributes.push(("coordinate_transformation_mode", Attr::Str(rule.into())));
        }
        _ => {
            attributes.push(("mode", Attr::Str("nearest".into())));
            attributes.push(("coordinate_transformation_mode", Attr::Str("asymmetric".into())));
            attributes.push(("nearest_mode", Attr::Str("floor".into())));
        }
    }
    let none = Value::absent();
    if let Some((sh, sw)) = l.scale_factor() {
        let scales = g.constant("scales", &[4], &[1.0, 1.0, sh as f32, sw as f32]);
        return Ok(g.node("Resize", &[&x, &none, &scales], &attributes));
    }
    let Some(size) = l.size() else {
        unreachable!("an Upsample has a scale factor or a size")
    };
    let shape = g.node("Shape", &[&x], &[]);
    let (from, to) = (g.constant_i64("from", &[0]), g.constant_i64("to", &[2]));
    let batch_channels = g.node("Slice", &[&shape, &from, &to], &[]);
    let plane = g.constant_i64("size", &[size.h as i64, size.w as i64]);
    let sizes = g.node("Concat", &[&batch_channels, &plane], &[("axis", Attr::Int(0))]);
    Ok(g.node("Resize", &[&x, &none, &none, &sizes], &attributes))
}

/// `ConvTranspose` with nn's `[in, out / groups, kh, kw]` weight, which is ONNX's layout.
fn conv_transpose2d(l: &mut ConvTranspose2d, g: &mut Graph, x: Value) -> Result<Value> {
    let w = g.param(l, "weight")?;
    let b = if l.bias().is_some() {
        Some(g.param(l, "bias")?)
    } else {
        None
    };
    let inputs: Vec<&Value> = [&x, &w].into_iter().chain(b.as_ref()).collect();
    let mut attributes = window(l.kernel_size(), l.stride(), l.padding());
    attributes.push(("output_padding", pair(l.output_padding())));
    attributes.push(("dilations", pair(l.dilation())));
    attributes.push(("group", Attr::Int(l.groups() as i64)));
    Ok(g.node("ConvTranspose", &inputs, &attributes))
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
