//! The networks the examples train and load, defined once: `mlp_batchnorm`, `cnn_mnist` and
//! `resnet_mnist` train them, and `evaluate` and `predict` load checkpoints into them (`--arch`).

use nn::layer::onnx::{Graph, OnnxError, Value};
use nn::prelude::*;
use std::fmt;
use std::path::{Path, PathBuf};

/// The architectures `--arch` accepts; the first is the default.
pub const ARCHS: &[&str] = &["mlp", "cnn", "resnet"];

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
        let conv3x3 =
            |cin, cout, rng: &mut StdRng| Conv2d::builder(cin, cout, 3).padding_same().build(Init::He, rng);
        FolderCnn {
            conv1: conv3x3(channels, 32, rng).with_input_grad(false),
            bn1: BatchNorm2d::new(32),
            act1: Relu::new(),
            pool1: MaxPool2d::new(2),
            conv2: conv3x3(32, 64, rng),
            bn2: BatchNorm2d::new(64),
            act2: Relu::new(),
            pool2: MaxPool2d::new(2),
            conv3: conv3x3(64, 128, rng),
            bn3: BatchNorm2d::new(128),
            act3: Relu::new(),
            gap: GlobalAvgPool2d::new(),
            drop: Dropout::from_rng(DROPOUT, rng),
            fc: Linear::new(128, classes, Init::He, rng),
        }
    }
}

/// torchvision's `BasicBlock`, field for field and so with its parameter names (`conv1.weight`,
/// `bn1.running_mean`, `downsample.0.weight`, `downsample.1.bias`): conv 3x3 (with the block's
/// stride) -> BatchNorm2d -> ReLU -> conv 3x3 -> BatchNorm2d, plus the input or its projection,
/// then ReLU. `#[sequential(shortcut)]` makes `downsample` run on the block's input and be added
/// to the output of the fields before it; `None` is the identity.
#[derive(Sequential)]
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub bn1: BatchNorm2d,
    pub relu1: Relu,
    pub conv2: Conv2d,
    pub bn2: BatchNorm2d,
    #[sequential(shortcut)]
    pub downsample: Option<(Conv2d, BatchNorm2d)>,
    pub relu: Relu,
}

impl BasicBlock {
    /// A block from `cin` to `cout` channels whose first convolution has `stride`, with a 1x1
    /// projection (strided, then BatchNorm2d) where the shape changes, as torchvision's ResNet
    /// builds it; He-initialised convolutions without bias.
    pub fn new(cin: usize, cout: usize, stride: usize, rng: &mut StdRng) -> Self {
        BasicBlock {
            conv1: conv(cin, cout, 3, stride, rng),
            bn1: BatchNorm2d::new(cout),
            relu1: Relu::new(),
            conv2: conv(cout, cout, 3, 1, rng),
            bn2: BatchNorm2d::new(cout),
            downsample: (stride != 1 || cin != cout)
                .then(|| (conv(cin, cout, 1, stride, rng), BatchNorm2d::new(cout))),
            relu: Relu::new(),
        }
    }
}

/// A `k` x `k` convolution without bias, padded by `k / 2` (torchvision's `conv3x3` and `conv1x1`).
pub fn conv(cin: usize, cout: usize, k: usize, stride: usize, rng: &mut StdRng) -> Conv2d {
    Conv2d::builder(cin, cout, k)
        .stride(stride)
        .padding(k / 2)
        .bias(false)
        .build(Init::He, rng)
}

/// A small ResNet for `[N, 1, 28, 28]` digits with torchvision's names: a 3x3 stem, three stages
/// of [`BasicBlock`]s (each may halve the size with the stride of its first block), global
/// average pooling and a Linear classifier. Stage `i` is `layer{i}`, its blocks `layer1.0`,
/// `layer1.1`, ...
#[derive(Sequential)]
pub struct ResNet {
    pub conv1: Conv2d,
    pub bn1: BatchNorm2d,
    pub relu: Relu,
    pub layer1: Vec<BasicBlock>,
    pub layer2: Vec<BasicBlock>,
    pub layer3: Vec<BasicBlock>,
    pub avgpool: GlobalAvgPool2d,
    pub fc: Linear,
}

/// The shape of a [`ResNet`].
#[derive(Clone, Copy, Debug)]
pub struct ResNetConfig {
    /// Channels of the stem's convolution.
    pub stem: usize,
    /// Channels of each stage.
    pub widths: [usize; 3],
    /// The stride of each stage's first block (2 halves the size).
    pub strides: [usize; 3],
    /// Blocks per stage.
    pub blocks: usize,
}

/// resnet_mnist's network.
pub const RESNET: ResNetConfig = ResNetConfig {
    stem: 16,
    widths: [16, 32, 64],
    strides: [1, 2, 2],
    blocks: 1,
};

impl ResNet {
    /// resnet_mnist's network ([`RESNET`]), weights drawn from `rng`.
    pub fn new(rng: &mut StdRng) -> Self {
        Self::with_config(RESNET, rng)
    }

    /// The network `config` describes, weights drawn from `rng`.
    pub fn with_config(config: ResNetConfig, rng: &mut StdRng) -> Self {
        let mut cin = config.stem;
        let mut stage = |i: usize, rng: &mut StdRng| -> Vec<BasicBlock> {
            let (cout, stride) = (config.widths[i], config.strides[i]);
            let blocks = (0..config.blocks)
                .map(|b| {
                    let (from, stride) = if b == 0 { (cin, stride) } else { (cout, 1) };
                    BasicBlock::new(from, cout, stride, rng)
                })
                .collect();
            cin = cout;
            blocks
        };
        ResNet {
            // The input is data, which needs no gradient: skip that product and col2im.
            conv1: conv(1, config.stem, 3, 1, rng).with_input_grad(false),
            bn1: BatchNorm2d::new(config.stem),
            relu: Relu::new(),
            layer1: stage(0, rng),
            layer2: stage(1, rng),
            layer3: stage(2, rng),
            avgpool: GlobalAvgPool2d::new(),
            fc: Linear::new(config.widths[2], 10, Init::He, rng),
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
    /// ONNX `Reshape` to `[N, 1, 28, 28]`, then the inner network's nodes under its own names.
    fn to_onnx(&mut self, g: &mut Graph, x: Value) -> Result<Value, OnnxError> {
        let n = g.shape_of(&x)?[0];
        let shape = g.constant_i64("shape", &[-1, 1, 28, 28]);
        let images = g
            .node("Reshape", &[&x, &shape], &[])
            .with_shape(vec![n, 1, 28, 28]);
        self.0.to_onnx(g, images)
    }
}

/// The network `arch` names (one of [`ARCHS`]), with weights from `path`, a checkpoint written by
/// `nn::save` or a PyTorch `state_dict` of the same network saved as safetensors.
///
/// When the checkpoint's tensors do not fit `arch` but do fit another of [`ARCHS`], the error is
/// [`WrongArch`], which names the `--arch` to use, instead of the list of mismatched tensors.
///
/// # Panics
/// On a name outside [`ARCHS`] (`--arch` accepts only these).
pub fn load(arch: &str, path: &Path) -> Result<Box<dyn Layer + Send>, Box<dyn std::error::Error>> {
    let mut net = build(arch);
    match nn::load(&mut *net, path) {
        Ok(()) => Ok(net),
        Err(e @ nn::Error::Checkpoint(nn::CheckpointError::Mismatch { .. })) => {
            let fits = ARCHS
                .iter()
                .copied()
                .find(|&other| other != arch && nn::load(&mut *build(other), path).is_ok());
            match fits {
                Some(fits) => Err(Box::new(WrongArch {
                    path: path.to_path_buf(),
                    given: arch.to_string(),
                    fits,
                })),
                None => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The untrained network `arch` names; `Send`, so that a server can hand a loaded network from
/// thread to thread (examples/draw).
fn build(arch: &str) -> Box<dyn Layer + Send> {
    match arch {
        "mlp" => Box::new(SeedNet::new(&mut seeded(nn::DEFAULT_SEED))),
        "cnn" => Box::new(Images(Cnn::new(&mut seeded(nn::DEFAULT_SEED)))),
        "resnet" => Box::new(Images(ResNet::new(&mut seeded(nn::DEFAULT_SEED)))),
        other => panic!(
            "unknown architecture '{other}': expected one of {}",
            ARCHS.join("|")
        ),
    }
}

/// A checkpoint of another of the known networks than the one `--arch` named.
#[derive(Debug)]
pub struct WrongArch {
    /// The checkpoint.
    pub path: PathBuf,
    /// The `--arch` given.
    pub given: String,
    /// The architecture whose tensors the checkpoint holds, name for name and shape for shape.
    pub fits: &'static str,
}

impl fmt::Display for WrongArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} holds the weights of --arch {}, not of --arch {}; fix: add --arch {} to the command",
            self.path.display(),
            self.fits,
            self.given,
            self.fits
        )
    }
}

impl std::error::Error for WrongArch {}
