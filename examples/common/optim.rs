//! Choosing an optimizer by name (`--optimizer adam`), with a default learning rate per algorithm.

use nn::{AdaGrad, Adam, AdamW, Momentum, Nesterov, Optimizer, RmsProp, Sgd};

/// The names `optimizer` accepts, for `--optimizer`; the first (`adam`, the seed network's
/// optimizer) is the default.
pub const OPTIMIZERS: &[&str] = &[
    "adam", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adamw",
];

/// A learning rate that trains an MNIST MLP well with the named algorithm: the usual defaults
/// (1e-3 for the adaptive-moment methods, larger for plain and momentum SGD and AdaGrad).
pub fn default_lr(name: &str) -> f32 {
    match name {
        "sgd" => 0.1,
        "momentum" | "nesterov" => 0.01,
        "adagrad" => 0.01,
        _ => 1e-3,
    }
}

/// The optimizer called `name` (one of [`OPTIMIZERS`]) with learning rate `lr` and the
/// algorithm's default hyper-parameters (momentum 0.9, RMSProp decay 0.99, Adam betas 0.9/0.999,
/// AdamW decoupled decay 0.01).
///
/// # Panics
/// On a name outside [`OPTIMIZERS`] (`--optimizer` accepts only these).
pub fn optimizer(name: &str, lr: f32) -> Box<dyn Optimizer> {
    match name {
        "sgd" => Box::new(Sgd::new(lr)),
        "momentum" => Box::new(Momentum::new(lr)),
        "nesterov" => Box::new(Nesterov::new(lr)),
        "adagrad" => Box::new(AdaGrad::new(lr)),
        "rmsprop" => Box::new(RmsProp::new(lr)),
        "adam" => Box::new(Adam::new(lr)),
        "adamw" => Box::new(AdamW::new(lr)),
        other => panic!(
            "unknown optimizer '{other}': expected one of {}",
            OPTIMIZERS.join("|")
        ),
    }
}
