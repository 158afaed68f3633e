//! The networks the examples train and load, defined once: `mlp_batchnorm` trains them, and
//! `evaluate` and `predict` load checkpoints into them (`--arch`).

use nn::prelude::*;

/// The architectures `--arch` accepts; the first is the default.
pub const ARCHS: &[&str] = &["mlp"];

/// The seed notebook's network, defined by its fields: `#[derive(Sequential)]` runs them in
/// order, and names their parameters after them (`fc1.weight`, `bn1.running_mean`, …), as
/// [`nn::Mlp`] does, so the two share checkpoints.
#[derive(Sequential)]
pub struct SeedNet {
    pub fc1: Linear,
    pub bn1: BatchNorm,
    pub act1: Relu,
    pub fc2: Linear,
    pub bn2: BatchNorm,
    pub act2: Relu,
    pub fc3: Linear,
}

impl SeedNet {
    /// 784 -> 128 -> 64 -> 10 with He-initialised weights drawn from `rng`.
    pub fn new(rng: &mut Rng) -> Self {
        SeedNet {
            // The input is data, which needs no gradient: skip that matrix product.
            fc1: Linear::new(784, 128, Init::He, rng).with_input_grad(false),
            bn1: BatchNorm::new(128),
            act1: Relu::new(),
            fc2: Linear::new(128, 64, Init::He, rng),
            bn2: BatchNorm::new(64),
            act2: Relu::new(),
            fc3: Linear::new(64, 10, Init::He, rng),
        }
    }
}

/// The network `arch` names (one of [`ARCHS`]), with weights from `path`, a checkpoint written by
/// `nn::save` or a PyTorch `state_dict` of the same network saved as safetensors.
///
/// # Panics
/// On a name outside [`ARCHS`] (`--arch` accepts only these).
pub fn load(arch: &str, path: &std::path::Path) -> nn::Result<Box<dyn Layer>> {
    let mut net: Box<dyn Layer> = match arch {
        "mlp" => Box::new(SeedNet::new(&mut seeded(nn::DEFAULT_SEED))),
        other => panic!(
            "unknown architecture '{other}': expected one of {}",
            ARCHS.join("|")
        ),
    };
    nn::load(&mut *net, path)?;
    Ok(net)
}
