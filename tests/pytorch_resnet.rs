//! A whole ResNet between PyTorch and nn, both ways, with torchvision's names and no mapping.
//!
//! tools/make_resnet_fixture.py trained torchvision's layout (stem conv1/bn1/relu, layer1..layer3
//! of BasicBlocks with a strided 1x1 `downsample` where the shape changes, AdaptiveAvgPool2d(1),
//! fc; 4, 8 and 16 channels) 200 Adam steps on MNIST digits in PyTorch, and saved its
//! `state_dict` and its eval logits on eight test digits. The network here is resnet_mnist's
//! (examples/common/nets.rs) at those widths.
//!
//! The other way: `NN_WRITE_FIXTURES=1 cargo test --test pytorch_resnet` trains the loaded
//! network further in nn and writes nn's checkpoint and nn's logits on the same digits
//! (tests/fixtures/nn_resnet*.safetensors); the script loads that checkpoint into the PyTorch
//! module with `strict=True` and compares the logits (`--check-only`). Without the variable, the
//! committed nn checkpoint must still load here and give the committed logits.

#[allow(dead_code)]
use crate::common::nets::{ResNet, ResNetConfig};
use nn::prelude::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const BUNDLED_MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/nn-core/data/mnist-10k");

/// The fixture's network: resnet_mnist's at 4, 8 and 16 channels, one block per stage.
fn resnet() -> ResNet {
    let config = ResNetConfig {
        stem: 4,
        widths: [4, 8, 16],
        strides: [1, 2, 2],
        blocks: 1,
    };
    ResNet::with_config(config, &mut seeded(1))
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// Tensors of a fixture file by name, read with `nn::load` as the buffers of a layer that is
/// never run.
struct Tensors(Vec<(&'static str, Tensor)>);

impl Tensors {
    fn load(path: &str, shapes: &[(&'static str, &[usize])]) -> Self {
        let mut t = Tensors(
            shapes
                .iter()
                .map(|&(n, s)| (n, Tensor::zeros(s.to_vec())))
                .collect(),
        );
        nn::load(&mut t, path).unwrap_or_else(|e| panic!("{path}: {e}"));
        t
    }

    fn get(&self, name: &str) -> &Tensor {
        &self
            .0
            .iter()
            .find(|(n, _)| *n == name)
            .expect("a loaded tensor")
            .1
    }
}

impl Layer for Tensors {
    fn forward(&mut self, _: Tensor, _: Mode) -> Tensor {
        unreachable!("a holder of fixture tensors")
    }
    fn backward(&mut self, _: Tensor) -> Tensor {
        unreachable!("a holder of fixture tensors")
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        for (name, t) in &mut self.0 {
            v.buffer(name, t);
        }
    }
}

/// The eight test digits as nn's batches see them (pixels / 255), and PyTorch's logits.
fn digits_and_torch_logits() -> (Tensor, Tensor) {
    let t = Tensors::load(
        &fixture("torch_resnet_logits.safetensors"),
        &[("input", &[8, 1, 28, 28]), ("logits", &[8, 10])],
    );
    (t.get("input").mapv(|v| v / 255.0), t.get("logits").clone())
}

/// The largest difference between two sets of logits, relative to each value (floor 1).
fn worst_difference(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0f32, f32::max)
}

#[test]
fn a_pytorch_resnet_loads_strictly_and_gives_pytorchs_eval_logits() {
    let mut net = resnet();
    // Strict: every name and shape of the state_dict, and nothing else, with no mapping.
    nn::load(&mut net, fixture("torch_resnet.safetensors")).unwrap();
    let mut tracked = None;
    nn::for_each_buffer(&mut net, |name, t| {
        if name == "layer2.0.downsample.1.num_batches_tracked" {
            tracked = Some(t.sum());
        }
    });
    assert_eq!(tracked, Some(200.0), "PyTorch's I64 step counter");

    let (x, expected) = digits_and_torch_logits();
    let logits = net.forward(x, Mode::Eval);
    let worst = worst_difference(&logits, &expected);
    assert!(
        worst <= 1e-5,
        "worst difference from PyTorch's logits {worst:e}\nnn {logits}\ntorch {expected}"
    );
}

#[test]
fn nns_checkpoint_of_the_resnet_is_the_one_pytorch_loaded() {
    let (x, _) = digits_and_torch_logits();
    if std::env::var_os("NN_WRITE_FIXTURES").is_some() {
        // PyTorch's weights, trained one more epoch of 400 digits in nn: values nn wrote itself.
        let mut net = resnet();
        nn::load(&mut net, fixture("torch_resnet.safetensors")).unwrap();
        let mnist = Mnist::loader()
            .env(false)
            .progress(false)
            .local_dir(BUNDLED_MNIST)
            .load()
            .unwrap();
        let first: Vec<usize> = (4000..4400).collect();
        let train = mnist
            .train
            .subset(&first)
            .unwrap()
            .with_feature_shape(&[1, 28, 28])
            .unwrap();
        Trainer::new(Adam::new(1e-3))
            .epochs(1)
            .batch_size(20)
            .silent()
            .fit(&mut net, &train, None)
            .unwrap();
        nn::save(&mut net, fixture("nn_resnet.safetensors")).unwrap();
        let logits = net.forward(x.clone(), Mode::Eval);
        nn::save(
            &mut Tensors(vec![("logits", logits)]),
            fixture("nn_resnet_logits.safetensors"),
        )
        .unwrap();
    }
    // The committed checkpoint (the one PyTorch loaded with strict=True) still loads strictly
    // and gives the logits PyTorch was compared with.
    let mut net = resnet();
    nn::load(&mut net, fixture("nn_resnet.safetensors")).unwrap();
    let expected = Tensors::load(&fixture("nn_resnet_logits.safetensors"), &[("logits", &[8, 10])]);
    let logits = net.forward(x, Mode::Eval);
    let worst = worst_difference(&logits, expected.get("logits"));
    assert!(worst <= 1e-6, "{worst:e}");
    // And they are nn's own weights, not PyTorch's.
    let (_, torch) = digits_and_torch_logits();
    assert!(worst_difference(&logits, &torch) > 1e-3);
}
