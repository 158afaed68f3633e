//! ONNX export checked by a real runtime: each network is exported with `nn::onnx`, loaded by
//! tract, run on fixed inputs, and must give nn's Eval outputs to 1e-5 (relative to the output's
//! largest magnitude). Covers the main job's trained MLP, cnn_mnist's CNN, every built-in layer
//! on its own, the containers, and the custom_layer example's layers.
//!
//! With `NN_ONNX_DIR=<dir>`, each model is also written there with its input and nn's output
//! (`<name>.onnx`, `<name>.json`), for `tools/check_onnx.py` to check them with onnxruntime.

use nn::layer::onnx::OnnxError;
use nn::layers::DropoutKind;
use nn::prelude::*;
use std::path::Path;

#[allow(dead_code)]
#[path = "../../examples/common/nets.rs"]
mod nets;

#[allow(dead_code)]
#[path = "../../examples/custom_layer/layers.rs"]
mod custom;

/// How far tract's outputs may be from nn's, relative to the largest output magnitude.
const TOLERANCE: f32 = 1e-5;

/// `[shape]` numbers from a standard normal, seeded.
fn normal(shape: &[usize], seed: u64) -> Tensor {
    Init::Std(1.0).sample(shape, 1, &mut seeded(seed))
}

/// Moves every BatchNorm's running statistics away from 0 and 1 (a few Train forwards on
/// shifted, scaled inputs), so that the exported statistics matter.
fn warm_up(net: &mut dyn Layer, input_shape: &[usize]) {
    for seed in 0..3 {
        let x = normal(input_shape, 100 + seed).mapv(|v| 2.0 * v + 0.5);
        net.forward(x, Mode::Train);
    }
}

/// `bytes` run by tract on `input`.
fn tract_run(bytes: &[u8], input: &Tensor) -> Tensor {
    use tract_onnx::prelude::*;
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .expect("tract reads the model")
        .with_input_fact(0, f32::fact(input.shape()).into())
        .expect("input fact")
        .into_optimized()
        .expect("tract optimizes the model")
        .into_runnable()
        .expect("tract plans the model");
    let x =
        tract_onnx::prelude::Tensor::from_shape(input.shape(), input.as_slice().expect("standard layout"))
            .expect("input tensor");
    let out = model.run(tvec!(x.into())).expect("tract runs the model");
    let y = out[0].to_array_view::<f32>().expect("f32 output");
    nn::Tensor::from_shape_vec(y.shape().to_vec(), y.iter().copied().collect()).expect("shape")
}

/// The largest difference between `a` and `b`, relative to `b`'s largest magnitude.
fn relative_error(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape(), "output shapes");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    if diff == 0.0 {
        0.0
    } else {
        diff / scale
    }
}

/// Exports `net` for inputs shaped like `input` but with batch 1 (the file's batch is free),
/// runs it in tract on `input`, and checks the result against nn's Eval forward. Returns the
/// model's bytes.
fn check(name: &str, net: &mut dyn Layer, input: &Tensor) -> Vec<u8> {
    let mut shape = input.shape().to_vec();
    shape[0] = 1;
    let bytes = nn::onnx::to_bytes(net, &shape).unwrap_or_else(|e| panic!("{name}: {e}"));
    let expected = net.forward(input.clone(), Mode::Eval);
    let got = tract_run(&bytes, input);
    let err = relative_error(&got, &expected);
    println!("{name}: {} bytes, relative error {err:.1e}", bytes.len());
    assert!(
        err <= TOLERANCE,
        "{name}: tract differs from nn by {err:e} (relative)\nnn:    {expected}\ntract: {got}"
    );
    if let Some(dir) = std::env::var_os("NN_ONNX_DIR") {
        save_case(Path::new(&dir), name, &bytes, input, &expected);
    }
    bytes
}

/// Writes `<name>.onnx` and `<name>.json` (input and nn's output) into `dir`.
fn save_case(dir: &Path, name: &str, bytes: &[u8], input: &Tensor, output: &Tensor) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{name}.onnx")), bytes).unwrap();
    let json = serde_json::json!({
        "input_shape": input.shape(),
        "input": input.iter().collect::<Vec<_>>(),
        "output_shape": output.shape(),
        "output": output.iter().collect::<Vec<_>>(),
    });
    std::fs::write(dir.join(format!("{name}.json")), json.to_string()).unwrap();
}

/// The names of the tensors stored in the model (tract turns each into a constant node of that
/// name).
fn stored_names(bytes: &[u8]) -> Vec<String> {
    use tract_onnx::prelude::*;
    let model = tract_onnx::onnx().model_for_read(&mut &bytes[..]).unwrap();
    model.nodes().iter().map(|n| n.name.clone()).collect()
}

#[test]
fn the_main_jobs_trained_mlp_runs_in_tract() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/models/mlp_mnist10k.safetensors");
    let mut net = nets::load("mlp", &path).unwrap();
    let pixels = Tensor::from_shape_fn(vec![8, 784], |i| ((i[0] * 31 + i[1] * 7) % 256) as f32 / 255.0);
    let bytes = check("mlp", &mut *net, &pixels);
    let names = stored_names(&bytes);
    for name in ["fc1.weight", "bn1.running_mean", "bn2.running_var", "fc3.bias"] {
        assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
    }
}

#[test]
fn cnn_mnists_network_runs_in_tract() {
    let mut net = nets::Cnn::new(&mut seeded(1));
    warm_up(&mut net, &[16, 1, 28, 28]);
    check("cnn", &mut net, &normal(&[3, 1, 28, 28], 2));

    // As `evaluate --arch cnn` loads it: flat [N, 784] digits reshaped inside the network.
    let dir = std::env::temp_dir().join(format!("nn-test-onnx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    nn::save(&mut net, dir.join("cnn.safetensors")).unwrap();
    let mut loaded = nets::load("cnn", &dir.join("cnn.safetensors")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    check("cnn_flat_input", &mut *loaded, &normal(&[2, 784], 3));
}

/// One case per built-in layer kind: a name, the layer, and its input's shape.
fn layer_cases() -> Vec<(&'static str, Box<dyn Layer>, Vec<usize>)> {
    let mut rng = seeded(7);
    let conv = |b: nn::layers::Conv2dBuilder, rng: &mut StdRng| -> Box<dyn Layer> {
        Box::new(b.build(Init::He, rng))
    };
    let mut cases: Vec<(&'static str, Box<dyn Layer>, Vec<usize>)> = vec![
        (
            "linear",
            Box::new(Linear::new(5, 3, Init::He, &mut rng)),
            vec![4, 5],
        ),
        (
            "linear_4d_input",
            Box::new(Linear::new(12, 3, Init::He, &mut rng)),
            vec![2, 3, 2, 2],
        ),
        ("relu", Box::new(Relu::new()), vec![3, 7]),
        ("sigmoid", Box::new(Sigmoid::new()), vec![3, 7]),
        ("tanh", Box::new(Tanh::new()), vec![2, 3, 4]),
        ("dropout", Box::new(Dropout::new(0.3, 1)), vec![3, 7]),
        (
            "dropout_classic",
            Box::new(Dropout::with_kind(0.3, DropoutKind::Classic, 1)),
            vec![3, 7],
        ),
        ("batch_norm", Box::new(BatchNorm::new(6)), vec![5, 6]),
        (
            "batch_norm_4d_input",
            Box::new(BatchNorm::new(12).with_eps(1e-3)),
            vec![5, 3, 2, 2],
        ),
        (
            "batch_norm2d",
            Box::new(BatchNorm2d::new(3).with_eps(1e-4)),
            vec![4, 3, 5, 5],
        ),
        (
            "batch_norm2d_relu",
            Box::new(BatchNorm2d::new(3).with_relu()),
            vec![4, 3, 5, 5],
        ),
        (
            "conv2d",
            conv(Conv2d::builder(2, 4, 3), &mut rng),
            vec![2, 2, 7, 7],
        ),
        (
            "conv2d_options",
            conv(
                Conv2d::builder(4, 6, (3, 2))
                    .stride((2, 1))
                    .padding((1, 2))
                    .dilation((2, 1))
                    .groups(2)
                    .bias(false),
                &mut rng,
            ),
            vec![2, 4, 9, 8],
        ),
        (
            "conv2d_same",
            conv(Conv2d::builder(3, 2, 5).padding_same(), &mut rng),
            vec![1, 3, 6, 6],
        ),
        ("max_pool2d", Box::new(MaxPool2d::new(2)), vec![2, 3, 6, 6]),
        (
            "max_pool2d_options",
            Box::new(MaxPool2d::new((3, 2)).with_stride((2, 1)).with_padding(1)),
            vec![2, 2, 7, 6],
        ),
        ("avg_pool2d", Box::new(AvgPool2d::new(2)), vec![2, 3, 6, 6]),
        (
            "avg_pool2d_padding_counted",
            Box::new(AvgPool2d::new(3).with_stride(2).with_padding(1)),
            vec![2, 2, 7, 6],
        ),
        (
            "global_avg_pool2d",
            Box::new(GlobalAvgPool2d::new()),
            vec![2, 4, 3, 5],
        ),
        ("flatten", Box::new(Flatten::new()), vec![2, 3, 4, 2]),
    ];
    let tconv = |b: nn::layers::ConvTranspose2dBuilder, rng: &mut StdRng| -> Box<dyn Layer> {
        Box::new(b.build(Init::He, rng))
    };
    use nn::layers::{AdaptiveAvgPool2d, ConvTranspose2d, Elu, Gelu, GroupNorm, LayerNorm, LeakyRelu};
    use nn::layers::{Silu, Softmax, Softplus, Upsample, UpsampleMode};
    let bilinear = |align_corners| UpsampleMode::Bilinear { align_corners };
    cases.extend([
        (
            "leaky_relu",
            Box::new(LeakyRelu::new(0.2)) as Box<dyn Layer>,
            vec![3, 7],
        ),
        ("elu", Box::new(Elu::new(0.7)), vec![3, 7]),
        ("gelu", Box::new(Gelu::new()), vec![3, 7]),
        ("gelu_tanh", Box::new(Gelu::tanh()), vec![3, 7]),
        ("silu", Box::new(Silu::new()), vec![3, 7]),
        ("softplus", Box::new(Softplus::new(1.0, 20.0)), vec![3, 7]),
        (
            "softplus_beta_threshold",
            Box::new(Softplus::new(2.0, 1.0)),
            vec![3, 7],
        ),
        ("softmax", Box::new(Softmax::new(1)), vec![3, 7]),
        (
            "softmax_last_axis_4d",
            Box::new(Softmax::new(-1)),
            vec![2, 3, 4, 5],
        ),
        (
            "layer_norm",
            Box::new(LayerNorm::new(&[3, 4]).with_eps(1e-3)),
            vec![2, 5, 3, 4],
        ),
        (
            "layer_norm_no_affine",
            Box::new(LayerNorm::new(&[7]).with_elementwise_affine(false)),
            vec![3, 7],
        ),
        ("group_norm", Box::new(GroupNorm::new(2, 6)), vec![2, 6, 3, 4]),
        (
            "group_norm_no_affine",
            Box::new(GroupNorm::new(3, 6).with_affine(false)),
            vec![2, 6, 5],
        ),
        (
            "adaptive_avg_pool2d",
            Box::new(AdaptiveAvgPool2d::new((3, 2))),
            vec![2, 3, 7, 5],
        ),
        (
            "adaptive_avg_pool2d_1x1",
            Box::new(AdaptiveAvgPool2d::new(1)),
            vec![2, 3, 4, 4],
        ),
        (
            "upsample_nearest",
            Box::new(Upsample::nearest(2.0)),
            vec![2, 3, 4, 5],
        ),
        (
            "upsample_nearest_fraction",
            Box::new(Upsample::new(1.5, 2.5, UpsampleMode::Nearest)),
            vec![1, 2, 4, 3],
        ),
        (
            "upsample_bilinear",
            Box::new(Upsample::bilinear(2.0, false)),
            vec![2, 3, 4, 5],
        ),
        (
            "upsample_bilinear_align",
            Box::new(Upsample::bilinear(3.0, true)),
            vec![1, 2, 3, 4],
        ),
        (
            "upsample_size",
            Box::new(Upsample::with_size((7, 5), bilinear(false))),
            vec![1, 2, 3, 4],
        ),
        (
            "conv_transpose2d",
            tconv(ConvTranspose2d::builder(3, 4, 3), &mut rng),
            vec![2, 3, 5, 5],
        ),
        (
            "conv_transpose2d_options",
            tconv(
                ConvTranspose2d::builder(4, 6, (3, 2))
                    .stride((2, 3))
                    .padding((1, 0))
                    .output_padding((1, 2))
                    .dilation((1, 2))
                    .groups(2)
                    .bias(false),
                &mut rng,
            ),
            vec![2, 4, 4, 3],
        ),
    ]);
    cases.push((
        "mlp_builder",
        Box::new(
            Mlp::builder(10, &[8, 6], 4)
                .activation(Activation::Tanh)
                .batch_norm(true)
                .dropout(0.2)
                .build(&mut rng),
        ),
        vec![3, 10],
    ));
    cases
}

/// Cases tract 0.22 computes differently from nn, PyTorch and onnxruntime: its linear `Resize`
/// (onnxruntime matches nn on them: tools/check_onnx.py, with NN_ONNX_DIR).
const TRACT_DIFFERS: &[&str] = &["upsample_bilinear", "upsample_bilinear_align", "upsample_size"];

#[test]
fn every_built_in_layer_runs_in_tract() {
    for (name, mut layer, shape) in layer_cases() {
        if TRACT_DIFFERS.contains(&name) {
            // Still exported, and written for onnxruntime when NN_ONNX_DIR is set.
            let mut batch = shape.clone();
            batch[0] = 1;
            let bytes = nn::onnx::to_bytes(&mut *layer, &batch).unwrap();
            if let Some(dir) = std::env::var_os("NN_ONNX_DIR") {
                let input = normal(&shape, 11);
                let expected = layer.forward(input.clone(), Mode::Eval);
                save_case(Path::new(&dir), name, &bytes, &input, &expected);
            }
            continue;
        }
        warm_up(&mut *layer, &shape);
        let mut batch = shape.clone();
        batch[0] += 1; // a batch other than the exported one
        check(name, &mut *layer, &normal(&batch, 11));
    }
}

/// A derived network nested in another, with `Vec`, `Option` and `Box<dyn Layer>` fields.
#[derive(Sequential)]
struct Block {
    conv: Conv2d,
    bn: BatchNorm2d,
    act: Option<Relu>,
    skipped: Option<Tanh>,
}

#[derive(Sequential)]
struct Nested {
    blocks: Vec<Block>,
    pool: Box<dyn Layer>,
    head: Vec<Box<dyn Layer>>,
    #[sequential(skip)]
    _label: &'static str,
}

fn nested(rng: &mut StdRng) -> Nested {
    let block = |cin, cout, rng: &mut StdRng| Block {
        conv: Conv2d::builder(cin, cout, 3).padding(1).build(Init::He, rng),
        bn: BatchNorm2d::new(cout),
        act: Some(Relu::new()),
        skipped: None,
    };
    Nested {
        blocks: vec![block(1, 4, rng), block(4, 4, rng)],
        pool: Box::new(MaxPool2d::new(2)),
        head: vec![
            Box::new(Flatten::new()),
            Box::new(Linear::new(4 * 4 * 4, 5, Init::He, rng)),
            Box::new(Sigmoid::new()),
        ],
        _label: "nested",
    }
}

#[test]
fn nested_networks_export_with_nns_parameter_names() {
    let mut net = nested(&mut seeded(3));
    warm_up(&mut net, &[8, 1, 8, 8]);
    let bytes = check("nested", &mut net, &normal(&[2, 1, 8, 8], 4));
    let names = stored_names(&bytes);
    for name in [
        "blocks.0.conv.weight",
        "blocks.1.bn.running_var",
        "head.1.weight",
        "head.1.bias",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
    }
}

#[test]
fn the_custom_layer_examples_layers_export_through_their_to_onnx() {
    #[derive(Sequential)]
    struct Inner {
        fc1: Linear,
        act: custom::LeakyRelu,
        fc2: Linear,
    }
    #[derive(Sequential)]
    struct Net {
        fc_in: Linear,
        act: custom::LeakyRelu,
        block: Residual<Inner>,
    }
    let mut rng = seeded(5);
    let mut net = Net {
        fc_in: Linear::new(6, 8, Init::He, &mut rng),
        act: custom::LeakyRelu::new(0.1),
        block: Residual(Inner {
            fc1: Linear::new(8, 8, Init::He, &mut rng),
            act: custom::LeakyRelu::new(0.2),
            fc2: Linear::new(8, 8, Init::He, &mut rng),
        }),
    };
    let bytes = check("custom_layers", &mut net, &normal(&[3, 6], 6));
    // `Residual` adds no level of names.
    assert!(stored_names(&bytes).iter().any(|n| n == "block.fc2.weight"));
}

#[test]
fn resnet_mnists_network_runs_in_tract_with_torchvisions_names() {
    let mut net = nets::ResNet::new(&mut seeded(7));
    warm_up(&mut net, &[8, 1, 28, 28]);
    let bytes = check("resnet", &mut net, &normal(&[2, 1, 28, 28], 8));
    let names = stored_names(&bytes);
    for name in [
        "conv1.weight",
        "layer1.0.bn2.running_var",
        "layer2.0.downsample.0.weight",
        "layer3.0.downsample.1.running_mean",
        "fc.bias",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
    }

    // As `evaluate --arch resnet` and `draw --arch resnet` load it.
    let dir = std::env::temp_dir().join(format!("nn-test-onnx-resnet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    nn::save(&mut net, dir.join("resnet.safetensors")).unwrap();
    let mut loaded = nets::load("resnet", &dir.join("resnet.safetensors")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    check("resnet_flat_input", &mut *loaded, &normal(&[2, 784], 9));
}

#[test]
fn concatenated_branches_and_nested_residuals_run_in_tract() {
    #[derive(Sequential)]
    struct Branches {
        a: (Conv2d, Relu),
        b: (Conv2d, BatchNorm2d),
        c: Residual<(Conv2d, Tanh)>,
    }
    #[derive(Sequential)]
    struct Net {
        stem: Conv2d,
        mixed: Concat<Branches>,
        inner: Residual<Residual<(Conv2d, BatchNorm2d)>>,
        pool: GlobalAvgPool2d,
        fc: Linear,
    }
    let mut rng = seeded(11);
    let conv = |cin, cout, k: usize, rng: &mut StdRng| {
        Conv2d::builder(cin, cout, k).padding(k / 2).build(Init::He, rng)
    };
    let mut net = Net {
        stem: conv(2, 4, 3, &mut rng),
        mixed: Concat::new(Branches {
            a: (conv(4, 3, 1, &mut rng), Relu::new()),
            b: (conv(4, 2, 3, &mut rng), BatchNorm2d::new(2)),
            c: Residual((conv(4, 4, 3, &mut rng), Tanh::new())),
        }),
        inner: Residual(Residual((conv(9, 9, 3, &mut rng), BatchNorm2d::new(9)))),
        pool: GlobalAvgPool2d::new(),
        fc: Linear::new(9, 5, Init::He, &mut rng),
    };
    warm_up(&mut net, &[4, 2, 7, 6]);
    let bytes = check("branches", &mut net, &normal(&[3, 2, 7, 6], 12));
    let names = stored_names(&bytes);
    for name in [
        "mixed.a.0.weight",
        "mixed.b.1.running_var",
        "mixed.c.0.bias",
        "inner.0.weight",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
    }
}

/// A layer that knows nothing of ONNX.
struct Opaque;

impl Layer for Opaque {
    fn forward(&mut self, x: Tensor, _mode: Mode) -> Tensor {
        x
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        grad
    }
}

#[test]
fn a_layer_without_an_onnx_description_is_an_error_naming_its_path_and_type() {
    #[derive(Sequential)]
    struct Inner {
        fc: Linear,
        mystery: Opaque,
    }
    #[derive(Sequential)]
    struct Net {
        act: Relu,
        inner: Vec<Inner>,
    }
    let mut net = Net {
        act: Relu::new(),
        inner: vec![Inner {
            fc: Linear::new(3, 3, Init::He, &mut seeded(1)),
            mystery: Opaque,
        }],
    };
    let err = nn::onnx::to_bytes(&mut net, &[1, 3]).unwrap_err();
    assert_eq!(
        err,
        OnnxError::NotExportable {
            path: "inner.0.mystery".into(),
            type_name: "Opaque".into()
        }
    );
    let message = err.to_string();
    assert!(
        message.starts_with("inner.0.mystery (Opaque) cannot be exported to ONNX"),
        "{message}"
    );
    assert!(message.contains("fix: implement `Layer::to_onnx`"), "{message}");

    // Through nn::Error, and no file is left behind.
    let dir = std::env::temp_dir().join(format!("nn-test-onnx-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.onnx");
    let err = nn::onnx::export(&mut net, &[1, 3], &path).unwrap_err();
    assert!(matches!(err, nn::Error::Onnx(_)), "{err}");
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_identity_network_still_has_an_output() {
    let mut net: Vec<Box<dyn Layer>> = vec![Box::new(Dropout::new(0.5, 1)), Box::new(None::<Relu>)];
    check("identity", &mut net, &normal(&[2, 3], 1));
}
