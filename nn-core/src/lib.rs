//! nn-core: the library behind `nn`. Most users import `nn::prelude::*` instead of this crate.

pub mod checkpoint;
pub mod data;
pub mod error;
pub mod fsutil;
pub mod gradcheck;
pub mod init;
pub mod layer;
pub mod layers;
pub mod linalg;
pub mod loss;
pub mod metrics;
pub mod mlp;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod optim;
mod pages;
#[cfg(feature = "plot")]
pub mod plot;
pub mod rng;
pub mod summary;
pub mod tensor;
mod threads;
pub mod train;
pub mod vision;

/// The ndarray crate nn's [`Tensor`] comes from, so that code using nn needs no ndarray
/// dependency of its own (and cannot pick a version whose arrays are a different type).
pub use ndarray;

/// The rand crate nn's RNGs come from: `nn::rand::Rng` for `random_range` and the other draws on
/// an [`StdRng`], without a dependency (and a version to keep in step) of your own.
pub use rand;

pub use checkpoint::{load, load_with, save, CheckpointError, LoadOptions, Snapshot};
pub use data::{one_hot, Batch, Batches, DataSource, Dataset, FashionMnist, Mnist, TargetKind, Targets};
pub use error::{Error, Result};
pub use gradcheck::{gradcheck, GradCheck, GradReport};
pub use init::Init;
pub use layer::{
    for_each_buffer, for_each_param, param_count, param_names, Layer, Mode, Param, ParamKind, Saved, Visitor,
};
pub use layers::{AdaptiveAvgPool2d, ConvTranspose2d, GroupNorm, LayerNorm, Softmax, Upsample, UpsampleMode};
pub use layers::{AvgPool2d, BatchNorm2d, Conv2d, Flatten, GlobalAvgPool2d, MaxPool2d};
pub use layers::{BatchNorm, Dropout, DropoutKind, Linear, Relu, Sigmoid, Tanh};
pub use layers::{Concat, Residual};
pub use layers::{Elementwise, ElementwiseFn, Elu, Gelu, LeakyRelu, Silu, Softplus};
pub use linalg::{num_threads, set_num_threads};
pub use loss::{BceWithLogitsLoss, HuberLoss, L1Loss, Loss, MseLoss, Reduction, SoftmaxCrossEntropy};
pub use metrics::{accuracy, count_correct, Metric};
pub use mlp::{Activation, Mlp, MlpBuilder};
pub use optim::ParamGroup;
pub use optim::{
    l2_penalty, AdaGrad, Adam, AdamW, Momentum, Nesterov, OptimError, Optimizer, OptimizerState, RmsProp, Sgd,
};
pub use pages::empty_cache;
pub use rng::{seeded, StdRng, DEFAULT_SEED};
pub use summary::{summary, Summary};
pub use tensor::{Tensor, TensorView, TensorViewMut};
