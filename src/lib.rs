//! nn, a small deep-learning framework written from scratch: this facade re-exports nn-core and the
//! derive, and gathers what programs and custom layers need in [`prelude`].
//!
//! What follows is the project's README (so docs.rs and the repository's front page say the
//! same); every Rust example in it is compiled by `cargo test`, and those not marked `no_run` run.
#![doc = include_str!("../README.md")]

pub use nn_core::*;
pub use nn_derive::Sequential;

/// nn's [`Tensor`] is an `ndarray::ArrayD<f32>` of this ndarray: use `nn::ndarray::{Array2, Zip, ...}`
/// rather than a dependency of your own, whose version might not match.
pub use nn_core::ndarray;

/// The rand crate behind nn's [`StdRng`]: `use nn::rand::Rng as _;` for `rng.random_range(..)`.
pub use nn_core::rand;

/// Everything a typical training program needs, and everything a custom layer needs:
/// `use nn::prelude::*;`.
pub mod prelude {
    pub use nn_core::data::{Batch, DataSource, Dataset, FashionMnist, Mnist};
    pub use nn_core::data::{ImageFolder, Transformed};
    pub use nn_core::train::{Callback, Context, CsvLogger, ModelCheckpoint, ReduceLROnPlateau};
    pub use nn_core::train::{EarlyStopping, Evaluation, History, LrSchedule, Trainer, Verbosity};
    pub use nn_core::vision::{Compose, Normalize, RandomAffine};
    pub use nn_core::Metric;
    pub use nn_core::ParamGroup;
    pub use nn_core::{accuracy, gradcheck, seeded, Init, StdRng, Targets};
    pub use nn_core::{Activation, Mlp};
    pub use nn_core::{AdaGrad, Adam, AdamW, Momentum, Nesterov, Optimizer, RmsProp, Sgd};
    pub use nn_core::{
        AdaptiveAvgPool2d, ConvTranspose2d, GroupNorm, LayerNorm, Softmax, Upsample, UpsampleMode,
    };
    pub use nn_core::{AvgPool2d, BatchNorm2d, Conv2d, Flatten, GlobalAvgPool2d, MaxPool2d};
    pub use nn_core::{BatchNorm, Dropout, Linear, Relu, Sigmoid, Tanh};
    pub use nn_core::{BceWithLogitsLoss, HuberLoss, L1Loss, Loss, MseLoss, SoftmaxCrossEntropy};
    pub use nn_core::{Concat, Residual};
    pub use nn_core::{Elementwise, ElementwiseFn, Elu, Gelu, LeakyRelu, Silu, Softplus};
    pub use nn_core::{Layer, Mode, Tensor};
    pub use nn_derive::Sequential;
    // Writing a layer: named parameters, the layer path in panics, what backward needs.
    pub use nn_core::gradcheck::GradReport;
    pub use nn_core::layer::{backward_child, forward_child, layer_panic};
    pub use nn_core::layer::{check_grad_shape, contiguous, flatten, Saved};
    pub use nn_core::{ParamKind, Visitor};
}
