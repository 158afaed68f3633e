//! A steady training step of a network that branches (residual blocks with identity and
//! projection shortcuts, concatenated branches, a `Residual`) allocates no more than its layers
//! do alone: the copies of the input and of the gradient that the paths need live in spare
//! buffers the blocks give back, so branching adds nothing. What the layers allocate alone (the
//! matrix products' scratch) is counted by running each one by itself in the same steady loop.

use super::allocations;
use super::steady_step::steady_step_allocations;
use nn_core::data::Dataset;
use nn_core::layer::branch::{add_input_grads, fork, shortcut_backward, shortcut_forward};
use nn_core::layer::{backward_child, forward_child};
use nn_core::linalg::set_num_threads;
use nn_core::{seeded, BatchNorm2d, Concat, Conv2d, GlobalAvgPool2d, Init, Layer, Linear, Mode, Relu};
use nn_core::{Residual, SoftmaxCrossEntropy, StdRng, Tensor};

const BATCH: usize = 6;

fn conv(cin: usize, cout: usize, k: usize, stride: usize, rng: &mut StdRng) -> Conv2d {
    Conv2d::builder(cin, cout, k)
        .stride(stride)
        .padding(k / 2)
        .bias(false)
        .build(Init::He, rng)
}

/// torchvision's `BasicBlock` with the code `#[derive(Sequential)]` generates for it, the field
/// `downsample` marked `#[sequential(shortcut)]` (the derive lives in the facade crate, which
/// nn-core's tests cannot use).
#[derive(Clone)]
struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    relu1: Relu,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    downsample: Option<(Conv2d, BatchNorm2d)>,
    relu: Relu,
}

impl BasicBlock {
    fn new(cin: usize, cout: usize, stride: usize, rng: &mut StdRng) -> Self {
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

impl Layer for BasicBlock {
    fn forward(&mut self, mut x: Tensor, mode: Mode) -> Tensor {
        let shortcut_input = fork(&x, mode);
        x = forward_child("conv1", &mut self.conv1, x, mode);
        x = forward_child("bn1", &mut self.bn1, x, mode);
        x = forward_child("relu1", &mut self.relu1, x, mode);
        x = forward_child("conv2", &mut self.conv2, x, mode);
        x = forward_child("bn2", &mut self.bn2, x, mode);
        x = shortcut_forward("downsample", &mut self.downsample, x, shortcut_input, mode);
        x = forward_child("relu", &mut self.relu, x, mode);
        x
    }

    fn backward(&mut self, mut grad: Tensor) -> Tensor {
        grad = backward_child("relu", &mut self.relu, grad);
        let shortcut_grad = shortcut_backward("downsample", &mut self.downsample, &grad);
        grad = backward_child("bn2", &mut self.bn2, grad);
        grad = backward_child("conv2", &mut self.conv2, grad);
        grad = backward_child("relu1", &mut self.relu1, grad);
        grad = backward_child("bn1", &mut self.bn1, grad);
        grad = backward_child("conv1", &mut self.conv1, grad);
        grad = add_input_grads(grad, shortcut_grad);
        grad
    }

    fn visit_children(&mut self, f: &mut dyn FnMut(&str, &mut dyn Layer)) {
        f("conv1", &mut self.conv1);
        f("bn1", &mut self.bn1);
        f("relu1", &mut self.relu1);
        f("conv2", &mut self.conv2);
        f("bn2", &mut self.bn2);
        f("downsample", &mut self.downsample);
        f("relu", &mut self.relu);
    }
}

/// Layers, each with the input shape it gets in the network.
type Shaped = Vec<(Box<dyn Layer>, Vec<usize>)>;

/// The network, and each of its layers with the input shape it gets (for running them alone).
fn network(rng: &mut StdRng) -> (Vec<Box<dyn Layer>>, Shaped) {
    // [6, 1, 8, 8] -> stem [6, 4, 8, 8] -> identity block -> projection block [6, 6, 4, 4] ->
    // two branches of 2 channels [6, 4, 4, 4] -> a Residual -> pool [6, 4] -> fc [6, 3].
    let stem = conv(1, 4, 3, 1, rng).with_input_grad(false);
    let block1 = BasicBlock::new(4, 4, 1, rng);
    let block2 = BasicBlock::new(4, 6, 2, rng);
    let (branch1, branch2) = (conv(6, 2, 1, 1, rng), conv(6, 2, 3, 1, rng));
    let (res_conv, res_bn) = (conv(4, 4, 3, 1, rng), BatchNorm2d::new(4));
    let fc = Linear::new(4, 3, Init::He, rng);
    let net: Vec<Box<dyn Layer>> = vec![
        Box::new(stem.clone()),
        Box::new(BatchNorm2d::new(4)),
        Box::new(Relu::new()),
        Box::new(block1.clone()),
        Box::new(block2.clone()),
        Box::new(Concat::new((branch1.clone(), (branch2.clone(), Relu::new())))),
        Box::new(Residual((res_conv.clone(), res_bn.clone()))),
        Box::new(GlobalAvgPool2d::new()),
        Box::new(fc.clone()),
    ];
    let images = |c: usize, s: usize| vec![BATCH, c, s, s];
    let mut alone: Shaped = vec![
        (Box::new(stem), images(1, 8)),
        (Box::new(BatchNorm2d::new(4)), images(4, 8)),
        (Box::new(Relu::new()), images(4, 8)),
    ];
    for (block, cin, size) in [(block1, 4, 8), (block2, 4, 8)] {
        let mid = (block.conv1.out_channels(), size / block.conv1.stride().h);
        alone.push((Box::new(block.conv1), images(cin, size)));
        for layer in [
            Box::new(block.bn1) as Box<dyn Layer>,
            Box::new(block.relu1),
            Box::new(block.conv2),
        ] {
            alone.push((layer, images(mid.0, mid.1)));
        }
        alone.push((Box::new(block.bn2), images(mid.0, mid.1)));
        if let Some((conv, bn)) = block.downsample {
            alone.push((Box::new(conv), images(cin, size)));
            alone.push((Box::new(bn), images(mid.0, mid.1)));
        }
        alone.push((Box::new(block.relu), images(mid.0, mid.1)));
    }
    alone.extend([
        (Box::new(branch1) as Box<dyn Layer>, images(6, 4)),
        (Box::new(branch2), images(6, 4)),
        (Box::new(Relu::new()), images(2, 4)),
        (Box::new(res_conv), images(4, 4)),
        (Box::new(res_bn), images(4, 4)),
        (Box::new(GlobalAvgPool2d::new()), images(4, 4)),
        (Box::new(fc), vec![BATCH, 4]),
    ]);
    (net, alone)
}

/// Allocations of a steady forward (Train) and backward of `layer` alone on inputs of `shape`,
/// each output handed back as the gradient and each input gradient as the next input, as the
/// layers around it do in a network.
fn alone_allocations(layer: &mut dyn Layer, shape: &[usize]) -> usize {
    let mut x = Tensor::from_shape_fn(shape.to_vec(), |i| (i[0] + i[1]) as f32 * 0.1 - 0.3);
    let mut step = || {
        let y = layer.forward(std::mem::take(&mut x), Mode::Train);
        x = layer.backward(y);
    };
    for _ in 0..5 {
        step();
    }
    let before = allocations();
    step();
    allocations() - before
}

#[test]
fn a_steady_resnet_training_step_allocates_no_more_than_its_layers_alone() {
    let _serial = crate::serial();
    set_num_threads(1);
    let (mut net, mut alone) = network(&mut seeded(4321));
    let pixels: Vec<u8> = (0..50 * 64).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<usize> = (0..50).map(|i| i % 3).collect();
    let data = Dataset::from_u8(pixels, &[1, 8, 8], labels, 3).unwrap();
    let per_step = steady_step_allocations(&mut net, &data, BATCH, &mut SoftmaxCrossEntropy::new());
    let layers: usize = alone
        .iter_mut()
        .map(|(layer, shape)| alone_allocations(&mut **layer, shape))
        .sum();
    assert!(
        per_step.iter().all(|&n| n == layers),
        "allocations per step {per_step:?}; its layers alone make {layers}"
    );
}
