//! Fixtures for the checkpoint tests: a small layer with all three kinds of state, and
//! bit-for-bit views of a model's tensors.

use super::CheckpointError;
use crate::error::Error;
use crate::layer::{for_each_buffer, for_each_param, Layer, Mode, ParamKind, Visitor};
use crate::tensor::{Tensor, TensorView};
use ndarray::{Array2, Axis, Ix1, Ix2};
use rand::Rng as _;
use safetensors::tensor::{Dtype, View};
use std::borrow::Cow;

/// An affine layer with a running mean of its outputs that shifts its Eval output: one weight,
/// one bias, one buffer, so Eval outputs depend on all three kinds of state.
pub(crate) struct Probe {
    pub(crate) w: Tensor,
    pub(crate) gw: Tensor,
    pub(crate) b: Tensor,
    pub(crate) gb: Tensor,
    pub(crate) running: Tensor,
}

impl Probe {
    pub(crate) fn new(inputs: usize, outputs: usize, seed: u64) -> Self {
        let mut rng = crate::rng::seeded(seed);
        let mut draw = |shape: &[usize]| Tensor::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0));
        Probe {
            w: draw(&[inputs, outputs]),
            gw: Tensor::zeros(vec![inputs, outputs]),
            b: draw(&[outputs]),
            gb: Tensor::zeros(vec![outputs]),
            running: Tensor::zeros(vec![outputs]),
        }
    }
}

impl Layer for Probe {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let x2 = x.into_dimensionality::<Ix2>().unwrap();
        let w = self.w.view().into_dimensionality::<Ix2>().unwrap();
        let b = self.b.view().into_dimensionality::<Ix1>().unwrap();
        let mut y: Array2<f32> = x2.dot(&w) + b;
        match mode {
            Mode::Train => {
                let mean = y.mean_axis(Axis(0)).unwrap().into_dyn();
                self.running = &self.running * 0.9 + mean * 0.1;
            }
            Mode::Eval => y -= &self.running.view().into_dimensionality::<Ix1>().unwrap(),
        }
        y.into_dyn()
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        grad
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        v.param("weight", &mut self.w, &mut self.gw, ParamKind::Weight);
        v.param("bias", &mut self.b, &mut self.gb, ParamKind::Bias);
        v.buffer("running_mean", &mut self.running);
    }
}

/// Two probes `[3 -> 4 -> 2]` after three Train forwards, so the buffers are not at zero.
pub(crate) fn trained_net(seed: u64) -> Vec<Probe> {
    let mut net = vec![Probe::new(3, 4, seed), Probe::new(4, 2, seed + 1)];
    for _ in 0..3 {
        net.forward(input(), Mode::Train);
    }
    net
}

pub(crate) fn input() -> Tensor {
    Tensor::from_shape_fn(vec![5, 3], |ix| (ix[0] as f32 - 2.0) * 0.37 + ix[1] as f32 * 0.11)
}

pub(crate) fn bits(t: TensorView<'_>) -> Vec<u32> {
    t.iter().map(|v| v.to_bits()).collect()
}

/// Every tensor of `model` by name, as bits: equal only if bit-identical.
pub(crate) fn all_bits(model: &mut impl Layer) -> Vec<(String, Vec<u32>)> {
    let mut out = Vec::new();
    for_each_param(model, |n, p| out.push((n.to_string(), bits(p.value.view()))));
    for_each_buffer(model, |n, t| out.push((n.to_string(), bits(t.view()))));
    out
}

pub(crate) fn checkpoint_err(e: Error) -> CheckpointError {
    match e {
        Error::Checkpoint(c) => c,
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
}

/// A tensor as another writer (PyTorch, numpy) may store it: any dtype, raw little-endian bytes.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// The bytes of a safetensors file (no metadata) holding `(name, dtype, shape, bytes)` tensors.
pub(crate) fn raw_file(tensors: &[(&str, Dtype, &[usize], Vec<u8>)]) -> Vec<u8> {
    let raws: Vec<(&str, Raw)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            let raw = Raw {
                dtype: *dtype,
                shape: shape.to_vec(),
                data: data.clone(),
            };
            (*name, raw)
        })
        .collect();
    safetensors::serialize(raws.iter().map(|(n, r)| (*n, r)), None).unwrap()
}

/// The little-endian F32 bytes of `t`, as a file holds them.
pub(crate) fn f32_bytes(t: &Tensor) -> Vec<u8> {
    t.iter().flat_map(|v| v.to_le_bytes()).collect()
}
