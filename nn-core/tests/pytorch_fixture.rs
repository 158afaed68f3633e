//! nn's image layers against PyTorch: forward outputs, input gradients and parameter gradients
//! of Conv2d (several configurations), MaxPool2d, AvgPool2d and BatchNorm2d on the fixed inputs
//! of `tests/fixtures/conv_pytorch.safetensors`, written by `tools/make_conv_fixture.py`; and of
//! the activations, Softmax, LayerNorm, GroupNorm, AdaptiveAvgPool2d, Upsample and
//! ConvTranspose2d (several configurations each, Train and Eval forwards) in
//! `tests/fixtures/layers_pytorch.safetensors`, written by `tools/make_layers_fixture.py`.
//!
//! Each value must match to 1e-4 relative: `|nn - torch| <= 1e-4 * max(|torch|, rms)`, with `rms`
//! the root mean square of the PyTorch tensor (a value near zero is compared at its tensor's
//! scale, where f32 rounding of a sum of such terms lives).

use nn_core::layers::{
    AdaptiveAvgPool2d, ConvTranspose2d, GroupNorm, LayerNorm, Softmax, Upsample, UpsampleMode,
};
use nn_core::layers::{AvgPool2d, BatchNorm2d, Conv2d, MaxPool2d};
use nn_core::layers::{Elu, Gelu, LeakyRelu, Relu, Sigmoid, Silu, Softplus, Tanh};
use nn_core::{for_each_buffer, for_each_param, Layer, Mode, Tensor};
use safetensors::SafeTensors;
use serde_json::Value;

const FIXTURE: &[u8] = include_bytes!("fixtures/conv_pytorch.safetensors");
const LAYERS: &[u8] = include_bytes!("fixtures/layers_pytorch.safetensors");

struct Fixture<'a> {
    file: SafeTensors<'a>,
}

impl Fixture<'_> {
    fn get(&self, name: &str) -> Tensor {
        let view = self
            .file
            .tensor(name)
            .unwrap_or_else(|e| panic!("fixture tensor {name}: {e}"));
        assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Tensor::from_shape_vec(view.shape().to_vec(), values).expect("shape matches data")
    }
}

/// Panics, naming the case and tensor, unless `got` matches `expected` to 1e-4 relative.
#[track_caller]
fn assert_matches(what: &str, got: &Tensor, expected: &Tensor) {
    assert_eq!(got.shape(), expected.shape(), "{what}: shape");
    let rms =
        (expected.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / expected.len().max(1) as f64).sqrt();
    let mut worst = (0.0f64, 0);
    for (i, (&a, &b)) in got.iter().zip(expected).enumerate() {
        let err = (f64::from(a) - f64::from(b)).abs() / f64::from(b).abs().max(rms).max(f64::MIN_POSITIVE);
        if err > worst.0 || err.is_nan() {
            worst = (err, i);
        }
    }
    assert!(
        worst.0 <= 1e-4,
        "{what}: relative error {:.2e} at flat index {} (nn {}, torch {})",
        worst.0,
        worst.1,
        got.iter().nth(worst.1).unwrap(),
        expected.iter().nth(worst.1).unwrap()
    );
}

fn pair(v: &Value) -> (usize, usize) {
    let a = v.as_array().expect("[h, w]");
    (a[0].as_u64().unwrap() as usize, a[1].as_u64().unwrap() as usize)
}

fn gradients(layer: &mut dyn Layer) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for_each_param(layer, |name, p| out.push((name.to_string(), p.grad.to_owned())));
    out
}

/// Forward (Train) and backward on the case's input; checks y, dx and each `d<param>`.
fn check(fx: &Fixture<'_>, name: &str, layer: &mut dyn Layer) {
    let y = layer.forward(fx.get(&format!("{name}.x")), Mode::Train);
    assert_matches(&format!("{name}: y"), &y, &fx.get(&format!("{name}.y")));
    let dx = layer.backward(fx.get(&format!("{name}.gy")));
    assert_matches(&format!("{name}: dx"), &dx, &fx.get(&format!("{name}.dx")));
    for (param, grad) in gradients(layer) {
        assert_matches(
            &format!("{name}: d{param}"),
            &grad,
            &fx.get(&format!("{name}.d{param}")),
        );
    }
}

#[test]
fn image_layers_match_pytorch() {
    let fx = Fixture {
        file: SafeTensors::deserialize(FIXTURE).expect("a valid safetensors file"),
    };
    let cases = cases(FIXTURE);
    let mut checked = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let kind = case["kind"].as_str().unwrap();
        match kind {
            "conv" => {
                let n = |k: &str| case[k].as_u64().unwrap() as usize;
                let mut b = Conv2d::builder(n("in"), n("out"), pair(&case["kernel"]))
                    .stride(pair(&case["stride"]))
                    .dilation(pair(&case["dilation"]))
                    .groups(n("groups"))
                    .bias(case["bias"].as_bool().unwrap());
                b = if case["same"].as_bool().unwrap() {
                    b.padding_same()
                } else {
                    b.padding(pair(&case["padding"]))
                };
                let bias = case["bias"]
                    .as_bool()
                    .unwrap()
                    .then(|| fx.get(&format!("{name}.bias")));
                let mut conv = b.from_parts(fx.get(&format!("{name}.weight")), bias);
                assert_eq!(conv.padding(), pair(&case["padding"]).into(), "{name}: padding");
                check(&fx, name, &mut conv);
            }
            "max" | "avg" => {
                let (k, s, p) = (
                    pair(&case["kernel"]),
                    pair(&case["stride"]),
                    pair(&case["padding"]),
                );
                let mut pool: Box<dyn Layer> = if kind == "max" {
                    Box::new(MaxPool2d::new(k).with_stride(s).with_padding(p))
                } else {
                    Box::new(AvgPool2d::new(k).with_stride(s).with_padding(p))
                };
                check(&fx, name, &mut pool);
            }
            "batch_norm2d" => {
                let mut bn = BatchNorm2d::new(case["channels"].as_u64().unwrap() as usize);
                for_each_param(&mut bn, |param, mut p| {
                    p.value.assign(&fx.get(&format!("{name}.{param}")))
                });
                check(&fx, name, &mut bn);
                let mut buffers = Vec::new();
                for_each_buffer(&mut bn, |buffer, t| {
                    buffers.push((buffer.to_string(), t.to_owned()))
                });
                for (buffer, t) in &buffers[..2] {
                    assert_matches(
                        &format!("{name}: {buffer}"),
                        t,
                        &fx.get(&format!("{name}.{buffer}")),
                    );
                }
                assert_eq!(bn.num_batches_tracked(), 1.0);
                let y = bn.forward(fx.get(&format!("{name}.x_eval")), Mode::Eval);
                assert_matches(&format!("{name}: eval y"), &y, &fx.get(&format!("{name}.y_eval")));
            }
            other => panic!("unknown fixture case kind {other}"),
        }
        checked.push(name);
    }
    // The fixture covers what the test claims: a new script that drops cases fails here.
    assert_eq!(checked.len(), 16, "{checked:?}");
}

/// The cases listed in a fixture's metadata.
fn cases(file: &[u8]) -> Vec<Value> {
    let (_, meta) = SafeTensors::read_metadata(file).expect("a safetensors header");
    serde_json::from_str(&meta.metadata().as_ref().expect("metadata")["cases"]).unwrap()
}

#[test]
fn new_layers_match_pytorch() {
    let fx = Fixture {
        file: SafeTensors::deserialize(LAYERS).expect("a valid safetensors file"),
    };
    let cases = cases(LAYERS);
    let mut checked = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let f = |k: &str| case[k].as_f64().unwrap();
        let n = |k: &str| case[k].as_u64().unwrap() as usize;
        let mut layer: Box<dyn Layer> = match case["kind"].as_str().unwrap() {
            "relu" => Box::new(Relu::new()),
            "leaky_relu" => Box::new(LeakyRelu::new(f("negative_slope") as f32)),
            "elu" => Box::new(Elu::new(f("alpha") as f32)),
            "sigmoid" => Box::new(Sigmoid::new()),
            "tanh" => Box::new(Tanh::new()),
            "gelu" if case["approximate"] == "tanh" => Box::new(Gelu::tanh()),
            "gelu" => Box::new(Gelu::new()),
            "silu" => Box::new(Silu::new()),
            "softplus" => Box::new(Softplus::new(f("beta") as f32, f("threshold") as f32)),
            "softmax" => Box::new(Softmax::new(case["dim"].as_i64().unwrap() as isize)),
            "layer_norm" => {
                let shape: Vec<usize> = serde_json::from_value(case["normalized_shape"].clone()).unwrap();
                Box::new(
                    LayerNorm::new(&shape)
                        .with_eps(f("eps") as f32)
                        .with_elementwise_affine(case["affine"].as_bool().unwrap()),
                )
            }
            "group_norm" => Box::new(
                GroupNorm::new(n("groups"), n("channels"))
                    .with_eps(f("eps") as f32)
                    .with_affine(case["affine"].as_bool().unwrap()),
            ),
            "adaptive_avg_pool" => Box::new(AdaptiveAvgPool2d::new(pair(&case["output"]))),
            "upsample" => {
                let mode = match case["mode"].as_str().unwrap() {
                    "nearest" => UpsampleMode::Nearest,
                    _ => UpsampleMode::Bilinear {
                        align_corners: case["align_corners"].as_bool().unwrap(),
                    },
                };
                Box::new(match case["scale"].as_array() {
                    Some(s) => Upsample::new(s[0].as_f64().unwrap(), s[1].as_f64().unwrap(), mode),
                    None => Upsample::with_size(pair(&case["size"]), mode),
                })
            }
            "conv_transpose" => {
                let bias = case["bias"].as_bool().unwrap();
                Box::new(
                    ConvTranspose2d::builder(n("in"), n("out"), pair(&case["kernel"]))
                        .stride(pair(&case["stride"]))
                        .padding(pair(&case["padding"]))
                        .output_padding(pair(&case["output_padding"]))
                        .dilation(pair(&case["dilation"]))
                        .groups(n("groups"))
                        .bias(bias)
                        .from_parts(
                            fx.get(&format!("{name}.weight")),
                            bias.then(|| fx.get(&format!("{name}.bias"))),
                        ),
                )
            }
            other => panic!("unknown fixture case kind {other}"),
        };
        // Parameters from PyTorch (LayerNorm's and GroupNorm's are not ones and zeros there).
        for_each_param(&mut layer, |param, mut p| {
            p.value.assign(&fx.get(&format!("{name}.{param}")))
        });
        check(&fx, name, &mut layer);
        let y = layer.forward(fx.get(&format!("{name}.x")), Mode::Eval);
        assert_matches(&format!("{name}: eval y"), &y, &fx.get(&format!("{name}.y_eval")));
        checked.push(name);
    }
    // The fixture covers what the test claims: a new script that drops cases fails here.
    assert_eq!(checked.len(), 43, "{checked:?}");
}
