//! The built-in layers: [`Linear`], the activations [`Relu`], [`Sigmoid`] and [`Tanh`],
//! [`Dropout`] and [`BatchNorm`], the image layers, and the blocks whose input takes several
//! paths, [`Residual`] and [`Concat`] (with `#[sequential(shortcut)]`, see
//! [`crate::layer::branch`]).
//!
//! Every layer works on the tensor it is handed: activations, dropout and batch normalisation
//! transform their input in place and return it, and [`Linear`] writes its input gradient into the
//! input buffer it kept from forward and recycles the gradient it receives as its next output. A
//! training step therefore allocates nothing once the first batch has passed.
//!
//! They are written with the public toolkit in [`crate::layer`] ([`crate::layer::Saved`],
//! [`crate::layer::flatten`], ...), the same one a layer written outside nn uses.

mod activation;
mod adaptive_avg_pool;
mod avg_pool;
mod batch_norm;
mod batch_norm2d;
mod batch_stats;
mod concat;
#[cfg(test)]
mod contract;
mod conv2d;
mod conv_direct;
mod conv_gemm;
mod conv_kernels;
mod conv_phases;
mod conv_staging;
mod conv_tiles;
mod conv_transpose2d;
mod conv_winograd;
mod dropout;
mod elementwise;
mod flatten;
mod group_norm;
mod im2col;
mod layer_norm;
mod linear;
mod max_pool;
mod max_pool_2x2;
mod nchw;
mod norm_groups;
mod par;
#[cfg(test)]
mod plan_tests;
mod pool;
mod resample;
mod residual;
mod sizes;
mod softmax;
mod upsample;

pub use activation::{Elu, Gelu, LeakyRelu, Relu, Sigmoid, Silu, Softplus, Tanh};
pub use activation::{EluFn, GeluFn, LeakyReluFn, ReluFn, SigmoidFn, SiluFn, SoftplusFn, TanhFn};
pub use adaptive_avg_pool::AdaptiveAvgPool2d;
pub use avg_pool::{AvgPool2d, GlobalAvgPool2d};
pub use batch_norm::BatchNorm;
pub use batch_norm2d::BatchNorm2d;
pub use concat::Concat;
pub use conv2d::{Conv2d, Conv2dBuilder};
pub use conv_transpose2d::{ConvTranspose2d, ConvTranspose2dBuilder};
pub use dropout::{Dropout, DropoutKind};
pub use elementwise::{Elementwise, ElementwiseFn};
pub use flatten::Flatten;
pub use group_norm::GroupNorm;
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use max_pool::MaxPool2d;
pub use nchw::{Size2, MAX_TAPS, MAX_WINDOW};
pub use residual::Residual;
pub use softmax::Softmax;
pub use upsample::{Upsample, UpsampleMode};

/// Asserts that two tensors have one shape and values within `tol` of each other.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_close(a: &crate::tensor::Tensor, b: &crate::tensor::Tensor, tol: f32) {
    assert_eq!(a.shape(), b.shape());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "value {i}: {x} vs {y}\n{a}\n{b}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Layer, Mode};
    use crate::tensor::Tensor;

    /// Layers and loss together learn XOR with plain gradient descent: the pieces fit.
    #[test]
    fn a_small_network_learns_xor() {
        use crate::data::Targets;
        use crate::init::Init;
        use crate::layer::for_each_param;
        use crate::loss::{Loss, SoftmaxCrossEntropy};
        use crate::metrics::accuracy;
        use crate::rng::seeded;
        let mut rng = seeded(crate::rng::DEFAULT_SEED);
        let mut net: Vec<Box<dyn Layer>> = vec![
            Box::new(Linear::new(2, 8, Init::Xavier, &mut rng)),
            Box::new(Tanh::new()),
            Box::new(Linear::new(8, 2, Init::Xavier, &mut rng)),
        ];
        let x = Tensor::from_shape_vec(vec![4, 2], vec![0., 0., 0., 1., 1., 0., 1., 1.]).unwrap();
        let y = [0, 1, 1, 0];
        let mut loss = SoftmaxCrossEntropy::new();
        let mut first = None;
        let mut last = 0.0;
        for _ in 0..500 {
            last = loss.forward(net.forward(x.clone(), Mode::Train), Targets::Classes(&y));
            first.get_or_insert(last);
            net.backward(loss.backward());
            for_each_param(&mut net, |_, mut p| p.value.scaled_add(-0.5, &p.grad));
        }
        assert!(
            last < 0.05 && last < first.unwrap() / 10.0,
            "loss {first:?} -> {last}"
        );
        let scores = net.forward(x, Mode::Eval);
        assert_eq!(accuracy(&scores, Targets::Classes(&y)), 1.0);
    }

    /// An Eval forward of a chain writes its outputs into buffers its layers gave back (at unit
    /// tests' threshold of 4 KiB, see crate::pages), which hold old values: every layer must
    /// overwrite its whole output. The same layers called one at a time reuse nothing.
    #[test]
    fn an_eval_forward_that_reuses_buffers_gives_the_bits_of_one_that_does_not() {
        use crate::init::Init;
        use crate::layers::{Residual, Upsample, UpsampleMode};
        let mut rng = crate::rng::seeded(7);
        let mut net: Vec<Box<dyn Layer>> = vec![
            Box::new(Conv2d::builder(3, 8, 3).padding(1).build(Init::He, &mut rng)),
            Box::new(BatchNorm2d::new(8).with_relu()),
            Box::new(Residual(
                Conv2d::builder(8, 8, 3).padding(1).build(Init::He, &mut rng),
            )),
            Box::new(MaxPool2d::new(2)),
            Box::new(Conv2d::builder(8, 4, 3).stride(2).build(Init::He, &mut rng)),
            Box::new(Upsample::new(2.0, 2.0, UpsampleMode::Nearest)),
            Box::new(AvgPool2d::new(2)),
            Box::new(GlobalAvgPool2d::new()),
        ];
        let x = Tensor::from_shape_fn(vec![6, 3, 20, 20], |i| {
            ((i[0] * 31 + i[1] * 17 + i[2] * 7 + i[3] * 3) % 23) as f32 / 11.0 - 1.0
        });
        let reused = net.forward(x.clone(), Mode::Eval);
        let again = net.forward(x.clone(), Mode::Eval);
        let mut alone = x;
        for layer in &mut net {
            alone = layer.forward(alone, Mode::Eval);
        }
        assert_eq!(reused, alone);
        assert_eq!(again, alone);
    }
}
