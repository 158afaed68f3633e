//! nn: a small deep-learning framework written from scratch.
//!
//! A network is a struct of layers; `#[derive(Sequential)]` makes it a [`Layer`]:
//!
//! ```no_run
//! use nn::prelude::*;
//!
//! #[derive(Sequential)]
//! struct SeedNet {
//!     fc1: Linear, bn1: BatchNorm, act1: Relu,
//!     fc2: Linear, bn2: BatchNorm, act2: Relu,
//!     fc3: Linear,
//! }
//!
//! fn main() -> nn::Result<()> {
//!     let mut rng = seeded(4321);
//!     let mut net = SeedNet {
//!         fc1: Linear::new(784, 128, Init::He, &mut rng), bn1: BatchNorm::new(128), act1: Relu::new(),
//!         fc2: Linear::new(128, 64, Init::He, &mut rng), bn2: BatchNorm::new(64), act2: Relu::new(),
//!         fc3: Linear::new(64, 10, Init::He, &mut rng),
//!     };
//!     println!("{}", nn::summary(&mut net, &[1, 784]));
//!     let mnist = Mnist::load()?; // MNIST_DIR, the verified cache, or a download
//!     let (train, valid) = mnist.train.split_valid(10_000, &mut rng)?;
//!     let mut trainer = Trainer::new(Adam::new(1e-3)).epochs(10).batch_size(100);
//!     let history = trainer.fit(&mut net, &train, Some(&valid))?;
//!     println!("test accuracy {:.4}", trainer.evaluate(&mut net, &mnist.test)?.accuracy);
//!     history.save_csv("out/history.csv")?;
//!     history.plot("out/curves.png")?;
//!     nn::save(&mut net, "out/model.safetensors")
//! }
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
    pub use nn_core::{AvgPool2d, BatchNorm2d, Conv2d, Flatten, GlobalAvgPool2d, MaxPool2d};
    pub use nn_core::{BatchNorm, Dropout, Linear, Relu, Sigmoid, Tanh};
    pub use nn_core::{Layer, Mode, Tensor};
    pub use nn_derive::Sequential;
}
