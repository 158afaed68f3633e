//! Layer normalisation over the trailing dimensions (PyTorch's `nn.LayerNorm`).

use super::norm_groups::{fmt_options, GroupStats, Layout};
use super::sizes::checked_len;
use crate::layer::{contiguous, layer_panic, Layer, Mode, Visitor};
use crate::tensor::Tensor;
use std::fmt;

/// Normalises each sample over its last dimensions, `normalized_shape` (PyTorch's
/// `nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True)`): `y = (x - mean) /
/// sqrt(var + eps) * weight + bias`, the mean and biased variance taken over those dimensions of
/// one sample, `weight` (ones) and `bias` (zeros) of shape `normalized_shape`, applied per
/// element.
///
/// No batch statistics: Train and Eval compute the same thing, and a batch of one is normalised
/// as well as any other. An input `[N, T, D]` with `LayerNorm::new(&[D])` is normalised per
/// position, as in a transformer.
///
/// ```
/// use nn_core::{layers::LayerNorm, param_names, Layer, Mode, Tensor};
/// let mut norm = LayerNorm::new(&[4, 5]);
/// let y = norm.forward(Tensor::ones(vec![2, 3, 4, 5]), Mode::Train);
/// assert!(y.iter().all(|&v| v == 0.0)); // each sample's 4 x 5 values are all alike
/// assert_eq!(param_names(&mut norm), ["weight", "bias"]);
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm {
    normalized_shape: Vec<usize>,
    /// Values normalised together: the product of `normalized_shape`.
    size: usize,
    stats: GroupStats,
}

impl LayerNorm {
    /// Normalisation over trailing dimensions of `normalized_shape`, eps 1e-5, with a weight
    /// and a bias.
    ///
    /// # Panics
    /// If `normalized_shape` is empty or has a 0, or holds more values than a tensor can.
    pub fn new(normalized_shape: &[usize]) -> Self {
        assert!(
            !normalized_shape.is_empty() && !normalized_shape.contains(&0),
            "LayerNorm: normalized_shape must have at least one dimension, each at least 1, got \
             {normalized_shape:?}"
        );
        let size = checked_len("LayerNorm", "normalized_shape", normalized_shape);
        LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            size,
            stats: GroupStats::new(true, normalized_shape),
        }
    }

    /// Sets the constant added to the variance before the square root (`eps > 0`; default
    /// 1e-5).
    pub fn with_eps(mut self, eps: f32) -> Self {
        self.stats.set_eps("LayerNorm", eps);
        self
    }

    /// Whether the layer has a learned per-element `weight` and `bias` (PyTorch's
    /// `elementwise_affine`, default true). Without, it has no parameters.
    pub fn with_elementwise_affine(mut self, affine: bool) -> Self {
        self.stats.set_affine(affine, &self.normalized_shape);
        self
    }

    /// The trailing dimensions normalised over.
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }

    /// The variance epsilon.
    pub fn eps(&self) -> f32 {
        self.stats.eps()
    }

    /// The weight, of shape `normalized_shape`, if the layer has one.
    pub fn weight(&self) -> Option<&Tensor> {
        self.stats.weight()
    }

    /// The bias, of shape `normalized_shape`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.stats.bias()
    }
}

impl Layer for LayerNorm {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let k = self.normalized_shape.len();
        if x.ndim() < k || x.shape()[x.ndim() - k..] != self.normalized_shape[..] {
            let dims: Vec<String> = self.normalized_shape.iter().map(usize::to_string).collect();
            layer_panic(format_args!(
                "expected an input of shape [..., {}] (normalized_shape {:?}), got shape {:?}",
                dims.join(", "),
                self.normalized_shape,
                x.shape()
            ));
        }
        let mut x = contiguous(x);
        let layout = Layout {
            row: self.size,
            groups: 1,
            run: 1,
        };
        self.stats.forward(&mut x, layout, mode == Mode::Train);
        x
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let mut grad = contiguous(grad);
        let name = Name {
            shape: &self.normalized_shape,
            eps: self.stats.eps(),
            affine: self.stats.has_affine(),
        };
        self.stats.backward(&mut grad, name);
        grad
    }

    fn visit(&mut self, v: &mut Visitor<'_>) {
        self.stats.visit(v);
    }

    fn type_name(&self) -> String {
        Name {
            shape: &self.normalized_shape,
            eps: self.eps(),
            affine: self.stats.has_affine(),
        }
        .to_string()
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// The type name, `LayerNorm([4, 5], eps=0.001, no affine)`, formatted only when shown (backward
/// hands it to a panic that a steady step never raises).
struct Name<'a> {
    shape: &'a [usize],
    eps: f32,
    affine: bool,
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LayerNorm({:?}", self.shape)?;
        fmt_options(f, self.eps, self.affine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{for_each_param, forward_child, panic_message, param_names};
    use crate::layers::contract::{check_layer, check_threads, input};
    use ndarray::{Axis, IxDyn};

    /// LayerNorm by its definition in f64, with parameters `w` and `b` (flattened).
    fn reference(x: &Tensor, size: usize, w: &[f32], b: &[f32], eps: f64) -> Tensor {
        let rows = x.len() / size;
        let flat = x.to_shape((rows, size)).unwrap().mapv(f64::from);
        let mut out = Vec::new();
        for row in flat.axis_iter(Axis(0)) {
            let mean = row.mean().unwrap();
            let var = row.mapv(|v| (v - mean).powi(2)).mean().unwrap();
            for (j, &v) in row.iter().enumerate() {
                let h = (v - mean) / (var + eps).sqrt();
                out.push((h * f64::from(w[j]) + f64::from(b[j])) as f32);
            }
        }
        Tensor::from_shape_vec(x.shape(), out).unwrap()
    }

    /// A layer whose weight and bias are not ones and zeros.
    fn scaled(shape: &[usize]) -> LayerNorm {
        let mut norm = LayerNorm::new(shape);
        for_each_param(&mut norm, |name, mut p| {
            let n = p.value.len() as f32;
            for (i, v) in p.value.iter_mut().enumerate() {
                *v = if name == "weight" {
                    0.5 + i as f32 / n
                } else {
                    0.3 - i as f32 / n
                };
            }
        });
        norm
    }

    #[test]
    fn forward_matches_the_definition() {
        for (shape, normalized) in [
            (&[3, 8][..], &[8][..]),
            (&[2, 3, 4, 5], &[4, 5]),
            (&[2, 3, 4], &[2, 3, 4]),
        ] {
            let x = input(shape).mapv(|v| v * 3.0 + 5.0);
            let mut norm = scaled(normalized);
            let (w, b) = (norm.weight().unwrap().clone(), norm.bias().unwrap().clone());
            let expected = reference(&x, w.len(), w.as_slice().unwrap(), b.as_slice().unwrap(), 1e-5);
            crate::layers::assert_close(&norm.forward(x, Mode::Train), &expected, 2e-5);
        }
    }

    #[test]
    fn keeps_the_layer_contract_with_and_without_affine() {
        for (shape, normalized) in [
            (&[3, 6][..], &[6][..]),
            (&[2, 3, 2, 3], &[2, 3]),
            (&[2, 2, 3], &[2, 2, 3]),
        ] {
            assert_eq!(check_layer(&mut scaled(normalized), shape), shape);
            let mut plain = LayerNorm::new(normalized)
                .with_elementwise_affine(false)
                .with_eps(1e-3);
            assert_eq!(check_layer(&mut plain, shape), shape);
        }
    }

    #[test]
    fn options_names_and_parameters() {
        let mut norm = LayerNorm::new(&[4, 5]);
        assert_eq!(norm.weight().unwrap().shape(), &[4, 5]);
        assert_eq!(norm.type_name(), "LayerNorm([4, 5])");
        let mut plain = LayerNorm::new(&[8]).with_elementwise_affine(false).with_eps(1e-6);
        assert!(param_names(&mut plain).is_empty());
        assert_eq!(plain.type_name(), "LayerNorm([8], eps=0.000001, no affine)");
        assert_eq!(param_names(&mut norm), ["weight", "bias"]);
        let back = plain.with_elementwise_affine(true);
        assert_eq!(back.eps(), 1e-6);
        assert!(back.weight().unwrap().iter().all(|&v| v == 1.0));
    }

    #[test]
    fn bad_shapes_are_refused_naming_the_layer_and_both_shapes() {
        let msg = panic_message(|| {
            forward_child(
                "enc.norm1",
                &mut LayerNorm::new(&[4, 5]),
                Tensor::zeros(IxDyn(&[2, 5, 4])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "enc.norm1: expected an input of shape [..., 4, 5] (normalized_shape [4, 5]), got shape [2, 5, 4]"
        );
        let msg = panic_message(|| {
            forward_child(
                "norm",
                &mut LayerNorm::new(&[2, 4, 5]),
                Tensor::zeros(IxDyn(&[4, 5])),
                Mode::Eval,
            );
        });
        assert!(msg.ends_with("got shape [4, 5]"), "{msg}");
        let msg = panic_message(|| {
            LayerNorm::new(&[3, 0]);
        });
        assert_eq!(
            msg,
            "LayerNorm: normalized_shape must have at least one dimension, each at least 1, got [3, 0]"
        );
        let msg = panic_message(|| {
            LayerNorm::new(&[1 << 62, 8]);
        });
        assert!(
            msg.starts_with("LayerNorm: normalized_shape [4611686018427387904, 8] would hold more than"),
            "{msg}"
        );
        let msg = panic_message(|| {
            LayerNorm::new(&[3]).with_eps(0.0);
        });
        assert_eq!(msg, "LayerNorm: eps must be positive and finite, got 0");
    }

    #[test]
    fn a_large_batch_split_over_threads_gives_the_bits_of_one_thread() {
        check_threads(&mut scaled(&[16]), &[300, 8, 16]);
    }
}
