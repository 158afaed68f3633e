//! A network trained by real PyTorch loads into nn and computes PyTorch's logits.
//!
//! The fixture was written by tools/make_torch_mlp_fixture.py: an `nn.Module` with the main
//! job's field names (784 -> 32 -> 16 -> 10, BatchNorm1d and ReLU), trained 30 Adam steps on
//! MNIST digits, its `state_dict` saved with `safetensors.torch.save_file` (F32 weights and
//! statistics, I64 `num_batches_tracked`), and its eval-mode logits on eight test digits.

use nn::prelude::*;

const STATE_DICT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/torch_mlp.safetensors"
);
const LOGITS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/torch_mlp_logits.safetensors"
);

/// The PyTorch module, field for field.
#[derive(Sequential)]
struct TorchMlp {
    fc1: Linear,
    bn1: BatchNorm,
    act1: Relu,
    fc2: Linear,
    bn2: BatchNorm,
    act2: Relu,
    fc3: Linear,
}

impl TorchMlp {
    fn new() -> Self {
        let rng = &mut seeded(1);
        TorchMlp {
            fc1: Linear::new(784, 32, Init::He, rng),
            bn1: BatchNorm::new(32),
            act1: Relu::new(),
            fc2: Linear::new(32, 16, Init::He, rng),
            bn2: BatchNorm::new(16),
            act2: Relu::new(),
            fc3: Linear::new(16, 10, Init::He, rng),
        }
    }
}

/// The second fixture file's tensors, read with `nn::load` as the buffers of a layer that is
/// never run: `input` (u8 pixels, converted to f32 on load) and PyTorch's `logits`.
struct Expected {
    input: Tensor,
    logits: Tensor,
}

impl Layer for Expected {
    fn forward(&mut self, _: Tensor, _: Mode) -> Tensor {
        unreachable!("a holder of fixture tensors")
    }
    fn backward(&mut self, _: Tensor) -> Tensor {
        unreachable!("a holder of fixture tensors")
    }
    fn visit(&mut self, v: &mut nn::Visitor<'_>) {
        v.buffer("input", &mut self.input);
        v.buffer("logits", &mut self.logits);
    }
}

fn buffer(net: &mut TorchMlp, name: &str) -> Tensor {
    let mut found = None;
    nn::for_each_buffer(net, |n, t| {
        if n == name {
            found = Some(t.to_owned());
        }
    });
    found.unwrap_or_else(|| panic!("no buffer {name}"))
}

#[test]
fn a_pytorch_state_dict_loads_and_gives_pytorchs_eval_logits() {
    let mut net = TorchMlp::new();
    nn::load(&mut net, STATE_DICT).unwrap();
    // PyTorch's I64 batch counter arrives in nn's f32 buffer: 30 training steps.
    assert_eq!(
        buffer(&mut net, "bn1.num_batches_tracked")
            .into_raw_vec_and_offset()
            .0,
        [30.0]
    );

    let mut expected = Expected {
        input: Tensor::zeros(vec![8, 784]),
        logits: Tensor::zeros(vec![8, 10]),
    };
    nn::load(&mut expected, LOGITS).unwrap();
    // nn's batches see pixels / 255, as the script gave PyTorch.
    let x = expected.input.mapv(|v| v / 255.0);
    let logits = net.forward(x, Mode::Eval);
    let worst = logits
        .iter()
        .zip(&expected.logits)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0f32, f32::max);
    assert!(
        worst <= 1e-5,
        "worst difference from PyTorch's logits {worst:e}\nnn {logits}\ntorch {}",
        expected.logits
    );
}
