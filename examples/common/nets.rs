//! The networks the examples train and load, defined once: `mlp_batchnorm` and `cnn_mnist` train
//! them, and `evaluate` and `predict` load checkpoints into them (`--arch`).

use nn::prelude::*;

/// The architectures `--arch` accepts; the first is the default.
pub const ARCHS: &[&str] = &["mlp", "cnn"];

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
    pub fn new(rng: &mut StdRng) -> Self {
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

/// The network, defined by its fields: `#[derive(Sequential)]` runs them in order and names
/// their parameters after them (`conv1.weight`, `bn1.running_mean`, ...), PyTorch's names.
#[derive(Sequential)]
pub struct Cnn {
    pub conv1: Conv2d,
    pub bn1: BatchNorm2d,
    pub act1: Relu,
    pub pool1: MaxPool2d,
    pub conv2: Conv2d,
    pub bn2: BatchNorm2d,
    pub act2: Relu,
    pub pool2: MaxPool2d,
    pub conv3: Conv2d,
    pub bn3: BatchNorm2d,
    pub act3: Relu,
    pub pool3: MaxPool2d,
    pub flat: Flatten,
    pub drop: Dropout,
    pub fc: Linear,
}

impl Cnn {
    /// `[N, 1, 28, 28]` -> 32 x 14 x 14 -> 64 x 7 x 7 -> 128 x 3 x 3 -> 10, He-initialised
    /// weights drawn from `rng`. The convolutions pad by 1 ("same"); each pooling halves the
    /// size (7 to 3 drops the last row and column, as PyTorch's floor rule does).
    pub fn new(rng: &mut StdRng) -> Self {
        let conv =
            |cin, cout, rng: &mut StdRng| Conv2d::builder(cin, cout, 3).padding_same().build(Init::He, rng);
        Cnn {
            // The input is data, which needs no gradient: skip that product and col2im.
            conv1: conv(1, 32, rng).with_input_grad(false),
            bn1: BatchNorm2d::new(32),
            act1: Relu::new(),
            pool1: MaxPool2d::new(2),
            conv2: conv(32, 64, rng),
            bn2: BatchNorm2d::new(64),
            act2: Relu::new(),
            pool2: MaxPool2d::new(2),
            conv3: conv(64, 128, rng),
            bn3: BatchNorm2d::new(128),
            act3: Relu::new(),
            pool3: MaxPool2d::new(2),
            flat: Flatten::new(),
            drop: Dropout::from_rng(DROPOUT, rng),
            fc: Linear::new(128 * 3 * 3, 10, Init::He, rng),
        }
    }
}

/// Dropout before the classifier.
const DROPOUT: f32 = 0.25;

/// The network of the `image_folder` example, for pictures of any size and channel count: three
/// blocks of 3x3 convolution (padded), BatchNorm2d and ReLU, the first two followed by 2x2 max
/// pooling, then the mean of each channel over the picture (global average pooling), dropout and
/// Linear. Pooling globally keeps the classifier the same for any picture size.
#[derive(Sequential)]
pub struct FolderCnn {
    pub conv1: Conv2d,
    pub bn1: BatchNorm2d,
    pub act1: Relu,
    pub pool1: MaxPool2d,
    pub conv2: Conv2d,
    pub bn2: BatchNorm2d,
    pub act2: Relu,
    pub pool2: MaxPool2d,
    pub conv3: Conv2d,
    pub bn3: BatchNorm2d,
    pub act3: Relu,
    pub gap: GlobalAvgPool2d,
    pub drop: Dropout,
    pub fc: Linear,
}

impl FolderCnn {
    /// `[N, channels, H, W]` (H and W at least 4) -> 32 -> 64 -> 128 channels -> `classes`
    /// scores, He-initialised weights drawn from `rng`.
    pub fn new(channels: usize, classes: usize, rng: &mut StdRng) -> Self {
        let conv =
            |cin, cout, rng: &mut StdRng| Conv2d::builder(cin, cout, 3).padding_same().build(Init::He, rng);
        FolderCnn {
            conv1: conv(channels, 32, rng).with_input_grad(false),
            bn1: BatchNorm2d::new(32),
            act1: Relu::new(),
            pool1: MaxPool2d::new(2),
            conv2: conv(32, 64, rng),
            bn2: BatchNorm2d::new(64),
            act2: Relu::new(),
            pool2: MaxPool2d::new(2),
            conv3: conv(64, 128, rng),
            bn3: BatchNorm2d::new(128),
            act3: Relu::new(),
            gap: GlobalAvgPool2d::new(),
            drop: Dropout::from_rng(DROPOUT, rng),
            fc: Linear::new(128, classes, Init::He, rng),
        }
    }
}

/// Hands a convolutional network flat `[N, 784]` digits as `[N, 1, 28, 28]` images (PyTorch's
/// `nn.Unflatten`), a shape change only, under the inner network's parameter names.
struct Images<L>(L);

impl<L: Layer> Layer for Images<L> {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let n = x.shape()[0];
        let x = contiguous(x)
            .into_shape_with_order(nn::ndarray::IxDyn(&[n, 1, 28, 28]))
            .unwrap_or_else(|e| panic!("Images: expected [N, 784] digits: {e}"));
        self.0.forward(x, mode)
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        self.0.backward(grad)
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        self.0.visit(v)
    }
    fn visit_children(&mut self, f: &mut dyn FnMut(&str, &mut dyn Layer)) {
        self.0.visit_children(f)
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
        "cnn" => Box::new(Images(Cnn::new(&mut seeded(nn::DEFAULT_SEED)))),
        other => panic!(
            "unknown architecture '{other}': expected one of {}",
            ARCHS.join("|")
        ),
    };
    nn::load(&mut *net, path)?;
    Ok(net)
}
