//! nn: a small deep-learning framework written from scratch.
//!
//! ```
//! use nn::prelude::*;
//! let mode = Mode::Eval;
//! assert_ne!(mode, Mode::Train);
//! ```

pub use nn_core::*;
pub use nn_derive::Sequential;

/// Everything a typical training program needs: `use nn::prelude::*;`.
pub mod prelude {
    pub use nn_core::data::{Batch, Dataset, FashionMnist, Mnist};
    pub use nn_core::train::{EarlyStopping, Evaluation, History, LrSchedule, Trainer, Verbosity};
    pub use nn_core::{accuracy, gradcheck, seeded, Init, Rng, SoftmaxCrossEntropy, Targets};
    pub use nn_core::{Activation, Mlp};
    pub use nn_core::{AdaGrad, Adam, AdamW, Momentum, Nesterov, Optimizer, RmsProp, Sgd};
    pub use nn_core::{BatchNorm, Dropout, Linear, Relu, Sigmoid, Tanh};
    pub use nn_core::{Layer, Mode, Tensor};
    pub use nn_derive::Sequential;
}
