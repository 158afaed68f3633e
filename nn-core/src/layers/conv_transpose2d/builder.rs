//! The options of a [`ConvTranspose2d`] and their checks, and building the layer from them
//! (drawn weights, or given ones).

use super::super::conv_tiles::Tiles;
use super::super::nchw::{Size2, Window};
use super::super::sizes::checked_len;
use super::ConvTranspose2d;
use crate::init::Init;
use crate::layer::contiguous;
use crate::rng::StdRng;
use crate::tensor::Tensor;
use ndarray::IxDyn;

/// The options of a [`ConvTranspose2d`], PyTorch's defaults until set: stride 1, no padding, no
/// output padding, no dilation, one group, with bias.
#[derive(Clone, Debug)]
pub struct ConvTranspose2dBuilder {
    pub(super) in_channels: usize,
    pub(super) out_channels: usize,
    pub(super) kernel: Size2,
    pub(super) stride: Size2,
    pub(super) padding: Size2,
    pub(super) output_padding: Size2,
    pub(super) dilation: Size2,
    pub(super) groups: usize,
    pub(super) bias: bool,
}

impl ConvTranspose2dBuilder {
    /// The step between the input pixels' copies of the kernel in the output (`2` doubles the
    /// size).
    pub fn stride(mut self, stride: impl Into<Size2>) -> Self {
        self.stride = stride.into();
        self
    }

    /// Rows and columns cut from each side of the full output: `1` or `(rows, columns)`.
    pub fn padding(mut self, padding: impl Into<Size2>) -> Self {
        self.padding = padding.into();
        self
    }

    /// Rows and columns added at the bottom and right of the output (smaller than the stride
    /// or the dilation).
    pub fn output_padding(mut self, output_padding: impl Into<Size2>) -> Self {
        self.output_padding = output_padding.into();
        self
    }

    /// The spacing between the kernel's taps (1: adjacent).
    pub fn dilation(mut self, dilation: impl Into<Size2>) -> Self {
        self.dilation = dilation.into();
        self
    }

    /// Splits the channels into `groups` independent transposed convolutions; both channel
    /// counts must be multiples of it.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Whether the layer adds a learned bias per output channel (default true).
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// The layer with weights drawn by `init` and zero biases. The fan-in is PyTorch's for
    /// this layer, `out / groups * kh * kw` (its weight's second axis times the kernel).
    pub fn build(self, init: Init, rng: &mut StdRng) -> ConvTranspose2d {
        let shape = self.check();
        let fan_in = shape[1] * shape[2] * shape[3];
        let weight = init.sample(&shape, fan_in, rng);
        let bias = self.bias.then(|| Tensor::zeros(IxDyn(&[self.out_channels])));
        self.from_parts(weight, bias)
    }

    /// The layer with the given `weight` `[in, out / groups, kh, kw]` and `bias` `[out]`.
    ///
    /// Panics if their shapes do not match the options, or if `bias` is given to a builder set
    /// to `.bias(false)` (or missing from one with a bias).
    pub fn from_parts(self, weight: Tensor, bias: Option<Tensor>) -> ConvTranspose2d {
        let expected = self.check();
        assert!(
            weight.shape() == expected,
            "ConvTranspose2d: expected a weight of shape {expected:?}, got {:?}",
            weight.shape()
        );
        assert!(
            bias.is_some() == self.bias && bias.as_ref().is_none_or(|b| b.shape() == [self.out_channels]),
            "ConvTranspose2d: expected {}, got {:?}",
            if self.bias {
                format!("a bias of shape [{}]", self.out_channels)
            } else {
                "no bias (the builder has .bias(false))".to_string()
            },
            bias.as_ref().map(|b| b.shape())
        );
        ConvTranspose2d {
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            groups: self.groups,
            window: Window {
                kernel: self.kernel,
                stride: self.stride,
                padding: self.padding,
                dilation: self.dilation,
            },
            output_padding: self.output_padding,
            weight_grad: Tensor::zeros(weight.raw_dim()),
            weight: contiguous(weight),
            bias: bias.map(|b| (contiguous(b), Tensor::zeros(IxDyn(&[self.out_channels])))),
            input: None,
            patches: None,
            spare: None,
            tiles: Tiles::default(),
        }
    }

    /// Checks the options, sizes included, before anything is allocated; returns the weight's
    /// shape.
    fn check(&self) -> [usize; 4] {
        let (k, s, d, op) = (self.kernel, self.stride, self.dilation, self.output_padding);
        assert!(
            self.in_channels > 0 && self.out_channels > 0,
            "ConvTranspose2d: channels must be at least 1, got {} -> {}",
            self.in_channels,
            self.out_channels
        );
        assert!(
            k.h > 0 && k.w > 0 && s.h > 0 && s.w > 0 && d.h > 0 && d.w > 0,
            "ConvTranspose2d: kernel, stride and dilation must be at least 1, got kernel {k}, stride {s}, \
             dilation {d}"
        );
        assert!(
            self.groups > 0
                && self.in_channels.is_multiple_of(self.groups)
                && self.out_channels.is_multiple_of(self.groups),
            "ConvTranspose2d: groups must divide both channel counts, got {} groups for {} -> {} channels",
            self.groups,
            self.in_channels,
            self.out_channels
        );
        assert!(
            op.h < s.h.max(d.h) && op.w < s.w.max(d.w),
            "ConvTranspose2d: output_padding must be smaller than the stride or the dilation, got \
             output_padding {op} with stride {s} and dilation {d}"
        );
        // The window's span, d * (k - 1) + 1, is what the output size adds; it must not wrap.
        let span = |d: usize, k: usize| d.checked_mul(k - 1).and_then(|v| v.checked_add(1));
        assert!(
            span(d.h, k.h).is_some() && span(d.w, k.w).is_some(),
            "ConvTranspose2d: the dilated kernel (kernel {k}, dilation {d}) spans more than {} pixels",
            usize::MAX
        );
        let shape = [self.in_channels, self.out_channels / self.groups, k.h, k.w];
        checked_len("ConvTranspose2d", "weight", &shape);
        shape
    }
}
