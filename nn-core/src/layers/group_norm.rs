//! Group normalisation (PyTorch's `nn.GroupNorm`).

use super::norm_groups::{fmt_options, GroupStats, Layout};
use super::sizes::checked_len;
use crate::layer::{contiguous, layer_panic, Layer, Mode, Visitor};
use crate::tensor::Tensor;
use std::fmt;

/// Normalises each sample of `[N, C, *]` over groups of channels (PyTorch's
/// `nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)`): the `C` channels are split
/// into `num_groups` runs of `C / num_groups`, each normalised over its channels and all their
/// positions with its own mean and biased variance, then each channel is scaled by `weight[c]`
/// (ones) and shifted by `bias[c]` (zeros).
///
/// No batch statistics: Train and Eval compute the same thing, so it works for batches of one
/// (where [`BatchNorm2d`](super::BatchNorm2d) cannot). One group is LayerNorm over `[C, H, W]`;
/// `C` groups is instance normalisation.
///
/// ```
/// use nn_core::{layers::GroupNorm, Layer, Mode, Tensor};
/// let mut norm = GroupNorm::new(4, 32);
/// let y = norm.forward(Tensor::ones(vec![1, 32, 7, 7]), Mode::Train);
/// assert_eq!(y.shape(), &[1, 32, 7, 7]);
/// ```
#[derive(Clone, Debug)]
pub struct GroupNorm {
    num_groups: usize,
    num_channels: usize,
    stats: GroupStats,
}

impl GroupNorm {
    /// `num_channels` channels normalised in `num_groups` groups, eps 1e-5, with a weight and a
    /// bias per channel.
    ///
    /// # Panics
    /// Unless both are at least 1 and `num_groups` divides `num_channels`.
    pub fn new(num_groups: usize, num_channels: usize) -> Self {
        assert!(
            num_groups > 0 && num_channels > 0 && num_channels.is_multiple_of(num_groups),
            "GroupNorm: num_channels must be a positive multiple of num_groups, got {num_channels} \
             channels in {num_groups} groups"
        );
        checked_len("GroupNorm", "weight", &[num_channels]);
        GroupNorm {
            num_groups,
            num_channels,
            stats: GroupStats::new(true, &[num_channels]),
        }
    }

    /// Sets the constant added to the variance before the square root (`eps > 0`; default
    /// 1e-5).
    pub fn with_eps(mut self, eps: f32) -> Self {
        self.stats.set_eps("GroupNorm", eps);
        self
    }

    /// Whether the layer has a learned `weight` and `bias` per channel (PyTorch's `affine`,
    /// default true). Without, it has no parameters.
    pub fn with_affine(mut self, affine: bool) -> Self {
        self.stats.set_affine(affine, &[self.num_channels]);
        self
    }

    /// The number of groups.
    pub fn num_groups(&self) -> usize {
        self.num_groups
    }

    /// The number of channels.
    pub fn num_channels(&self) -> usize {
        self.num_channels
    }

    /// The variance epsilon.
    pub fn eps(&self) -> f32 {
        self.stats.eps()
    }

    /// The weight, `[C]`, if the layer has one.
    pub fn weight(&self) -> Option<&Tensor> {
        self.stats.weight()
    }

    /// The bias, `[C]`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.stats.bias()
    }

    fn name(&self) -> Name {
        Name {
            groups: self.num_groups,
            channels: self.num_channels,
            eps: self.eps(),
            affine: self.stats.has_affine(),
        }
    }
}

impl Layer for GroupNorm {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        if x.ndim() < 2 || x.shape()[1] != self.num_channels {
            layer_panic(format_args!(
                "expected an input of shape [N, {}, ...], got shape {:?}",
                self.num_channels,
                x.shape()
            ));
        }
        let positions: usize = x.shape()[2..].iter().product();
        let mut x = contiguous(x);
        let layout = Layout {
            row: self.num_channels * positions,
            groups: self.num_groups,
            run: positions,
        };
        self.stats.forward(&mut x, layout, mode == Mode::Train);
        x
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let mut grad = contiguous(grad);
        let name = self.name();
        self.stats.backward(&mut grad, name);
        grad
    }

    fn visit(&mut self, v: &mut Visitor<'_>) {
        self.stats.visit(v);
    }

    fn type_name(&self) -> String {
        self.name().to_string()
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// The type name, `GroupNorm(2, 6, eps=0.001, no affine)`, formatted only when shown (backward
/// hands it to a panic that a steady step never raises).
struct Name {
    groups: usize,
    channels: usize,
    eps: f32,
    affine: bool,
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupNorm({}, {}", self.groups, self.channels)?;
        fmt_options(f, self.eps, self.affine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{for_each_param, forward_child, panic_message, param_names};
    use crate::layers::contract::{check_layer, check_threads, input};
    use ndarray::IxDyn;

    /// GroupNorm by its definition in f64.
    fn reference(x: &Tensor, groups: usize, w: &Tensor, b: &Tensor, eps: f64) -> Tensor {
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let s = x.len() / (n * c);
        let v: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let per = c / groups * s;
        let mut out = vec![0f32; v.len()];
        for (k, group) in v.chunks(per).enumerate() {
            let mean = group.iter().sum::<f64>() / per as f64;
            let var = group.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / per as f64;
            for (j, &val) in group.iter().enumerate() {
                let ch = (k % groups) * (c / groups) + j / s;
                let h = (val - mean) / (var + eps).sqrt();
                out[k * per + j] = (h * f64::from(w[ch]) + f64::from(b[ch])) as f32;
            }
        }
        Tensor::from_shape_vec(x.shape(), out).unwrap()
    }

    fn scaled(groups: usize, channels: usize) -> GroupNorm {
        let mut norm = GroupNorm::new(groups, channels);
        for_each_param(&mut norm, |name, mut p| {
            for (i, v) in p.value.iter_mut().enumerate() {
                *v = if name == "weight" {
                    0.6 + 0.2 * i as f32
                } else {
                    0.1 - 0.15 * i as f32
                };
            }
        });
        norm
    }

    #[test]
    fn forward_matches_the_definition() {
        for (groups, shape) in [
            (2, &[2, 4, 3, 3][..]),
            (1, &[2, 3, 5]),
            (3, &[3, 3, 2, 2]),
            (2, &[4, 6]),
        ] {
            let x = input(shape).mapv(|v| v * 2.0 - 3.0);
            let mut norm = scaled(groups, shape[1]);
            let expected = reference(&x, groups, norm.weight().unwrap(), norm.bias().unwrap(), 1e-5);
            crate::layers::assert_close(&norm.forward(x, Mode::Train), &expected, 2e-5);
        }
    }

    #[test]
    fn keeps_the_layer_contract_in_several_configurations() {
        for (groups, shape) in [
            (2, &[2, 4, 3, 3][..]),
            (1, &[2, 3, 2, 2]),
            (3, &[2, 3, 4]),
            (2, &[3, 8]),
        ] {
            assert_eq!(check_layer(&mut scaled(groups, shape[1]), shape), shape);
            let mut plain = GroupNorm::new(groups, shape[1]).with_affine(false);
            assert_eq!(check_layer(&mut plain, shape), shape);
        }
    }

    #[test]
    fn options_names_and_parameters() {
        let mut norm = GroupNorm::new(2, 6);
        assert_eq!(param_names(&mut norm), ["weight", "bias"]);
        assert_eq!(norm.weight().unwrap().shape(), &[6]);
        assert_eq!(norm.type_name(), "GroupNorm(2, 6)");
        let mut plain = GroupNorm::new(3, 3).with_affine(false).with_eps(1e-3);
        assert!(param_names(&mut plain).is_empty());
        assert_eq!(plain.type_name(), "GroupNorm(3, 3, eps=0.001, no affine)");
    }

    #[test]
    fn bad_configurations_and_shapes_are_refused_naming_the_layer() {
        let msg = panic_message(|| {
            GroupNorm::new(4, 6);
        });
        assert_eq!(
            msg,
            "GroupNorm: num_channels must be a positive multiple of num_groups, got 6 channels in 4 groups"
        );
        let msg = panic_message(|| {
            GroupNorm::new(1, 1 << 62);
        });
        assert!(
            msg.starts_with("GroupNorm: weight [4611686018427387904] would hold more than"),
            "{msg}"
        );
        let msg = panic_message(|| {
            forward_child(
                "layer1.gn",
                &mut GroupNorm::new(2, 4),
                Tensor::zeros(IxDyn(&[2, 3, 5, 5])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "layer1.gn: expected an input of shape [N, 4, ...], got shape [2, 3, 5, 5]"
        );
        let msg = panic_message(|| {
            forward_child(
                "layer1.gn",
                &mut GroupNorm::new(2, 4),
                Tensor::zeros(IxDyn(&[4])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "layer1.gn: expected an input of shape [N, 4, ...], got shape [4]"
        );
    }

    #[test]
    fn empty_planes_and_batches_pass_through() {
        let mut norm = GroupNorm::new(2, 4);
        for shape in [&[2, 4, 0, 3][..], &[0, 4, 3, 3]] {
            let y = norm.forward(Tensor::zeros(IxDyn(shape)), Mode::Train);
            assert_eq!(y.shape(), shape);
            assert_eq!(norm.backward(y).shape(), shape);
        }
    }

    #[test]
    fn a_large_batch_split_over_threads_gives_the_bits_of_one_thread() {
        check_threads(&mut scaled(3, 6), &[16, 6, 20, 20]);
    }
}
