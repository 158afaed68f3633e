//! The transposed 2-D convolution (PyTorch's `ConvTranspose2d`): a convolution's input
//! gradient as a layer, computed by the convolution's own tiles, products and col2im.

use super::conv_tiles::{Grads, Tiles, Weights};
use super::im2col::Patches;
use super::nchw::{check_images, recycle, sum_map, Size2, Window};
use super::sizes::checked_forward_len;
use crate::init::Init;
use crate::layer::{check_grad_shape, contiguous, layer_panic, no_train_forward, TypeName};
use crate::layer::{Layer, Mode, ParamKind, Visitor};
use crate::linalg::vectorized;
use crate::pages;
use crate::rng::StdRng;
use crate::tensor::Tensor;
use std::fmt;

mod builder;
pub use builder::ConvTranspose2dBuilder;

/// A transposed convolution of `[N, in, H, W]` to `[N, out, OH, OW]` with
/// `OH = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1` (and `OW`
/// likewise): each input pixel spreads a weighted copy of the kernel over the output, the
/// adjoint of [`Conv2d`](super::Conv2d) with the same options. It upsamples by the stride, as a
/// decoder or U-Net does.
///
/// PyTorch's `nn.ConvTranspose2d(in, out, kernel, stride=1, padding=0, output_padding=0,
/// groups=1, bias=True, dilation=1)`, with its layout and names: `weight` is
/// `[in, out / groups, kh, kw]` and `bias` `[out]`, so checkpoints map one to one.
/// `output_padding` adds rows and columns at the bottom and right (to pick one of the input
/// sizes a strided convolution maps to the same output size); it must be smaller than the
/// stride or the dilation.
///
/// ```
/// use nn_core::{layers::ConvTranspose2d, init::Init, seeded, Layer, Mode, Tensor};
/// let mut up = ConvTranspose2d::builder(16, 8, 3)
///     .stride(2)
///     .padding(1)
///     .output_padding(1)
///     .build(Init::He, &mut seeded(4321));
/// let y = up.forward(Tensor::zeros(vec![2, 16, 7, 7]), Mode::Eval);
/// assert_eq!(y.shape(), &[2, 8, 14, 14]);
/// ```
#[derive(Clone, Debug)]
pub struct ConvTranspose2d {
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    /// The window of the convolution this layer is the transpose of.
    window: Window,
    output_padding: Size2,
    weight: Tensor,
    weight_grad: Tensor,
    /// The bias and its gradient; `None` for a layer built with `.bias(false)`.
    bias: Option<(Tensor, Tensor)>,
    /// The input of the last Train forward, for the weight gradient; backward overwrites it
    /// with the input gradient (same size), so backward allocates nothing.
    input: Option<Tensor>,
    /// The geometry of that forward, seen as the convolution from output to input.
    patches: Option<Patches>,
    /// The gradient buffer backward received, recycled as the next forward's output.
    spare: Option<Tensor>,
    /// The arithmetic's buffers, kept from step to step.
    tiles: Tiles,
}

impl ConvTranspose2d {
    /// A transposed convolution from `in_channels` to `out_channels` with a `kernel` (`3` or
    /// `(3, 5)`), stride 1, no padding, weights drawn by `init` from `rng` and zero biases.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: impl Into<Size2>,
        init: Init,
        rng: &mut StdRng,
    ) -> Self {
        Self::builder(in_channels, out_channels, kernel).build(init, rng)
    }

    /// A builder for the other options: `.stride(2)`, `.padding(1)`, `.output_padding(1)`,
    /// `.dilation(2)`, `.groups(g)`, `.bias(false)`, then `.build(init, rng)`.
    pub fn builder(
        in_channels: usize,
        out_channels: usize,
        kernel: impl Into<Size2>,
    ) -> ConvTranspose2dBuilder {
        ConvTranspose2dBuilder {
            in_channels,
            out_channels,
            kernel: kernel.into(),
            stride: 1.into(),
            padding: 0.into(),
            output_padding: 0.into(),
            dilation: 1.into(),
            groups: 1,
            bias: true,
        }
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// The kernel's height and width.
    pub fn kernel_size(&self) -> Size2 {
        self.window.kernel
    }

    /// The stride.
    pub fn stride(&self) -> Size2 {
        self.window.stride
    }

    /// The padding.
    pub fn padding(&self) -> Size2 {
        self.window.padding
    }

    /// The output padding.
    pub fn output_padding(&self) -> Size2 {
        self.output_padding
    }

    /// The dilation.
    pub fn dilation(&self) -> Size2 {
        self.window.dilation
    }

    /// The number of groups.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// The weight, `[in, out / groups, kh, kw]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref().map(|(b, _)| b)
    }

    /// The output size for an `h` x `w` input, or `None` if it is not positive (or too large to
    /// count).
    pub fn output_size(&self, h: usize, w: usize) -> Option<Size2> {
        let side = |n: usize, s: usize, p: usize, d: usize, k: usize, op: usize| -> Option<usize> {
            let wide = |v: usize| v as u128;
            let full = wide(n.checked_sub(1)?)
                .checked_mul(wide(s))?
                .checked_add(wide(d).checked_mul(wide(k - 1))?)?
                .checked_add(wide(op) + 1)?;
            let out = full.checked_sub(2 * wide(p))?;
            usize::try_from(out).ok().filter(|&o| o > 0)
        };
        let (win, op) = (&self.window, self.output_padding);
        Some(Size2 {
            h: side(h, win.stride.h, win.padding.h, win.dilation.h, win.kernel.h, op.h)?,
            w: side(w, win.stride.w, win.padding.w, win.dilation.w, win.kernel.w, op.w)?,
        })
    }
}

/// The weights as the arithmetic of the convolution from output to input reads them: `weight`
/// `[in, out / groups * kh * kw]` is that convolution's, from `out` to `in` channels.
fn weights<'a>(
    weight: &'a Tensor,
    bias: Option<&'a Tensor>,
    in_channels: usize,
    groups: usize,
) -> Weights<'a> {
    Weights {
        weight: weight.as_slice().expect("built in standard layout"),
        bias: bias.map(|b| b.as_slice().expect("built in standard layout")),
        out_channels: in_channels,
        groups,
    }
}

impl Layer for ConvTranspose2d {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let ([n, _, h, w], _) = check_images(&x, Some(self.in_channels), None, TypeName(&*self));
        let Some(out) = self.output_size(h, w) else {
            layer_panic(format_args!(
                "an input of shape {:?} gives no output: (H - 1) * stride - 2 * padding + \
                 dilation * (kernel - 1) + output_padding + 1 is not positive for {}",
                x.shape(),
                Name(self)
            ))
        };
        let shape = [n, self.out_channels, out.h, out.w];
        checked_forward_len("output", &shape);
        // The scratch of the convolution seen from the output: its patch matrix per image and,
        // with stride 1, one padded output image.
        let (k, pad) = (self.window.kernel, self.window.padding);
        checked_forward_len(
            "patch matrix",
            &[
                self.out_channels,
                k.h,
                k.w,
                h,
                out.w.saturating_add(pad.w.saturating_mul(2)),
            ],
        );
        checked_forward_len(
            "padded output",
            &[
                self.out_channels,
                out.h.saturating_add(pad.h.saturating_mul(2)),
                out.w.saturating_add(pad.w.saturating_mul(2)),
            ],
        );
        let mut x = contiguous(x);
        let patches = Patches {
            channels: self.out_channels,
            input: out,
            output: Size2 { h, w },
            window: self.window,
        };
        let mut y = recycle(self.spare.take(), &shape, TypeName(&*self));
        let (xs, ys) = (
            x.as_slice_mut().expect("standard"),
            y.as_slice_mut().expect("standard"),
        );
        let bias = self.bias.as_ref().map(|(b, _)| b);
        let weights = weights(&self.weight, bias, self.in_channels, self.groups);
        self.tiles.transposed(&patches, &weights, n, xs, ys);
        if mode == Mode::Train {
            self.input = Some(x);
            self.patches = Some(patches);
        } else {
            pages::give_back(x);
        }
        y
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let (Some(mut x), Some(patches)) = (self.input.take(), self.patches.take()) else {
            no_train_forward(Name(self))
        };
        let n = x.shape()[0];
        let expected = [n, self.out_channels, patches.input.h, patches.input.w];
        if grad.shape() != expected {
            check_grad_shape(grad.shape(), &expected);
        }
        let mut grad = contiguous(grad);
        let (xs, gs) = (
            x.as_slice_mut().expect("standard"),
            grad.as_slice_mut().expect("standard"),
        );
        let weights = weights(&self.weight, None, self.in_channels, self.groups);
        // The weight gradient is the convolution's (from output to input) with this layer's
        // input as that convolution's output gradient; no input gradient there.
        let out = Grads {
            input: false,
            weight: self.weight_grad.as_slice_mut().expect("built in standard layout"),
            bias: None,
        };
        self.tiles.backward(&patches, &weights, n, gs, xs, out);
        if let Some((_, bias_grad)) = &mut self.bias {
            let plane = patches.input.h * patches.input.w;
            let db = bias_grad.as_slice_mut().expect("built in standard layout");
            vectorized(
                #[inline(always)]
                || {
                    db.fill(0.0);
                    for image in gs.chunks_exact(self.out_channels * plane) {
                        for (b, plane) in db.iter_mut().zip(image.chunks_exact(plane.max(1))) {
                            *b += sum_map(plane, |v| v);
                        }
                    }
                },
            );
        }
        // The input gradient is that convolution's forward of the gradient, written over the
        // input this layer kept (the same shape).
        self.tiles.forward(&patches, &weights, n, gs, xs);
        self.spare = Some(grad);
        x
    }

    fn visit(&mut self, v: &mut Visitor<'_>) {
        v.param(
            "weight",
            &mut self.weight,
            &mut self.weight_grad,
            ParamKind::Weight,
        );
        if let Some((b, g)) = &mut self.bias {
            v.param("bias", b, g, ParamKind::Bias);
        }
    }

    fn type_name(&self) -> String {
        Name(self).to_string()
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// `ConvTranspose2d(16 -> 8, 3x3, stride 2, padding 1, output_padding 1)`, formatted only when
/// shown.
struct Name<'a>(&'a ConvTranspose2d);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        write!(
            f,
            "ConvTranspose2d({} -> {}, {}{}",
            c.in_channels,
            c.out_channels,
            c.window.kernel,
            c.window.describe(1.into())
        )?;
        let op = c.output_padding;
        if op != Size2::from(0) {
            if op.h == op.w {
                write!(f, ", output_padding {}", op.h)?;
            } else {
                write!(f, ", output_padding {op}")?;
            }
        }
        if c.groups > 1 {
            write!(f, ", groups {}", c.groups)?;
        }
        if c.bias.is_none() {
            f.write_str(", no bias")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{backward_child, for_each_param, forward_child, panic_message, param_names};
    use crate::layers::contract::{check_layer, check_threads, input};
    use crate::layers::Conv2d;
    use crate::rng::seeded;
    use ndarray::IxDyn;

    /// The transposed convolution by its definition (each input pixel scatters the kernel), in
    /// f64.
    fn naive(layer: &ConvTranspose2d, x: &Tensor) -> Tensor {
        let &[n, c_in, h, w] = x.shape() else { panic!() };
        let out = layer.output_size(h, w).unwrap();
        let (win, c_out, g) = (layer.window, layer.out_channels, layer.groups);
        let (ig, og) = (c_in / g, c_out / g);
        let mut y = vec![0f64; n * c_out * out.h * out.w];
        let at = |b: usize, o: usize, r: usize, c: usize| ((b * c_out + o) * out.h + r) * out.w + c;
        for b in 0..n {
            for o in 0..c_out {
                let bias = layer.bias().map_or(0.0, |t| f64::from(t[o]));
                for r in 0..out.h {
                    for c in 0..out.w {
                        y[at(b, o, r, c)] = bias;
                    }
                }
            }
            for ci in 0..c_in {
                for (r, c) in (0..h).flat_map(|r| (0..w).map(move |c| (r, c))) {
                    let v = f64::from(x[[b, ci, r, c]]);
                    for ol in 0..og {
                        let o = (ci / ig) * og + ol;
                        for i in 0..win.kernel.h {
                            for j in 0..win.kernel.w {
                                let oy =
                                    (r * win.stride.h + i * win.dilation.h) as isize - win.padding.h as isize;
                                let ox =
                                    (c * win.stride.w + j * win.dilation.w) as isize - win.padding.w as isize;
                                if (0..out.h as isize).contains(&oy) && (0..out.w as isize).contains(&ox) {
                                    let k = f64::from(layer.weight[[ci, ol, i, j]]);
                                    y[at(b, o, oy as usize, ox as usize)] += v * k;
                                }
                            }
                        }
                    }
                }
            }
        }
        Tensor::from_shape_vec(
            vec![n, c_out, out.h, out.w],
            y.into_iter().map(|v| v as f32).collect(),
        )
        .unwrap()
    }

    /// A layer of every option with a non-zero bias, an input shape and the output shape.
    fn configs() -> Vec<(&'static str, ConvTranspose2d, [usize; 4], [usize; 4])> {
        let mut rng = seeded(7);
        let b = ConvTranspose2d::builder;
        let mut list = vec![
            (
                "plain 3x3",
                b(2, 3, 3).build(Init::He, &mut rng),
                [2, 2, 4, 3],
                [2, 3, 6, 5],
            ),
            (
                "stride 2, padding 1, output_padding 1",
                b(3, 2, 3)
                    .stride(2)
                    .padding(1)
                    .output_padding(1)
                    .build(Init::He, &mut rng),
                [2, 3, 3, 4],
                [2, 2, 6, 8],
            ),
            (
                "stride (2, 3), kernel 2x3, padding (0, 1)",
                ConvTranspose2d::builder(2, 2, (2, 3))
                    .stride((2, 3))
                    .padding((0, 1))
                    .build(Init::He, &mut rng),
                [1, 2, 3, 3],
                [1, 2, 6, 7],
            ),
            (
                "dilation 2, output_padding 1 (smaller than the dilation, not the stride)",
                b(2, 2, 3).dilation(2).output_padding(1).build(Init::He, &mut rng),
                [2, 2, 3, 3],
                [2, 2, 8, 8],
            ),
            (
                "groups 2",
                b(4, 6, 3).groups(2).padding(1).build(Init::He, &mut rng),
                [2, 4, 3, 4],
                [2, 6, 3, 4],
            ),
            (
                "depthwise, stride 2, no bias",
                b(3, 3, 2)
                    .groups(3)
                    .stride(2)
                    .bias(false)
                    .build(Init::He, &mut rng),
                [2, 3, 3, 2],
                [2, 3, 6, 4],
            ),
            (
                "1x1 kernel, stride 2",
                b(3, 4, 1).stride(2).build(Init::He, &mut rng),
                [1, 3, 3, 3],
                [1, 4, 5, 5],
            ),
            (
                "padding larger than the kernel reach",
                b(1, 2, 3).stride(3).padding(2).build(Init::He, &mut rng),
                [2, 1, 3, 4],
                [2, 2, 5, 8],
            ),
        ];
        for (_, layer, _, _) in &mut list {
            for_each_param(layer, |name, mut p| {
                if name == "bias" {
                    p.value
                        .iter_mut()
                        .enumerate()
                        .for_each(|(i, v)| *v = 0.1 * i as f32 - 0.2);
                }
            });
        }
        list
    }

    #[test]
    fn forward_matches_the_definition_in_every_configuration() {
        for (name, mut layer, shape, out) in configs() {
            let x = input(&shape);
            let expected = naive(&layer, &x);
            assert_eq!(expected.shape(), out, "{name}");
            for mode in [Mode::Train, Mode::Eval] {
                let y = layer.forward(x.clone(), mode);
                assert_eq!(y.shape(), out, "{name}");
                for (a, b) in y.iter().zip(&expected) {
                    assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{name}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn keeps_the_layer_contract_in_every_configuration() {
        for (name, mut layer, shape, out) in configs() {
            assert_eq!(check_layer(&mut layer, &shape), out, "{name}");
        }
    }

    /// `<conv(u), v> = <u, conv_transpose(v)>` for a Conv2d and a ConvTranspose2d of one weight:
    /// each is the other's adjoint.
    #[test]
    fn is_the_adjoint_of_conv2d_with_the_same_weight() {
        let weight = input(&[4, 3, 3, 2]);
        let mut conv = Conv2d::builder(6, 4, (3, 2))
            .stride(2)
            .padding(1)
            .dilation((1, 2))
            .groups(2)
            .bias(false)
            .from_parts(weight.clone(), None);
        let mut transposed = ConvTranspose2d::builder(4, 6, (3, 2))
            .stride(2)
            .padding(1)
            .dilation((1, 2))
            .groups(2)
            .bias(false)
            .from_parts(weight, None);
        let u = input(&[2, 6, 7, 7]);
        let cu = conv.forward(u.clone(), Mode::Eval);
        let v = input(cu.shape()).mapv(|v| v * 0.7 - 0.1);
        let tv = transposed.forward(v.clone(), Mode::Eval);
        assert_eq!(tv.shape(), u.shape());
        let dot = |a: &Tensor, b: &Tensor| {
            a.iter()
                .zip(b)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum::<f64>()
        };
        let (left, right) = (dot(&cu, &v), dot(&u, &tv));
        assert!(
            (left - right).abs() <= 1e-5 * left.abs().max(1.0),
            "{left} vs {right}"
        );
    }

    #[test]
    fn any_thread_count_gives_the_same_bits() {
        let mut layer = ConvTranspose2d::builder(16, 8, 3)
            .stride(2)
            .padding(1)
            .output_padding(1)
            .build(Init::He, &mut seeded(5));
        check_threads(&mut layer, &[16, 16, 12, 12]);
    }

    #[test]
    fn weights_are_pytorch_shaped_and_drawn_with_pytorch_s_fan_in() {
        let mut layer = ConvTranspose2d::builder(4, 6, (3, 5))
            .groups(2)
            .build(Init::He, &mut seeded(1));
        assert_eq!(layer.weight().shape(), &[4, 3, 3, 5]);
        assert_eq!(
            layer.weight(),
            &Init::He.sample(&[4, 3, 3, 5], 3 * 3 * 5, &mut seeded(1))
        );
        assert!(layer.bias().unwrap().iter().all(|&b| b == 0.0));
        assert_eq!(param_names(&mut layer), ["weight", "bias"]);
        assert_eq!(layer.type_name(), "ConvTranspose2d(4 -> 6, 3x5, groups 2)");
        let plain = ConvTranspose2d::builder(2, 1, 3)
            .stride((2, 1))
            .padding(1)
            .output_padding((1, 0))
            .dilation(2)
            .bias(false)
            .build(Init::He, &mut seeded(1));
        assert_eq!(
            plain.type_name(),
            "ConvTranspose2d(2 -> 1, 3x3, stride 2x1, padding 1, dilation 2, output_padding 1x0, no bias)"
        );
        assert_eq!(plain.output_size(4, 5), Some(Size2 { h: 10, w: 7 }));
    }

    #[test]
    fn impossible_options_are_refused_naming_the_layer_and_the_limit() {
        let refused = |b: ConvTranspose2dBuilder| {
            panic_message(|| {
                b.build(Init::He, &mut seeded(1));
            })
        };
        let b = ConvTranspose2d::builder;
        assert_eq!(
            refused(b(2, 2, 3).stride(2).output_padding(2)),
            "ConvTranspose2d: output_padding must be smaller than the stride or the dilation, got \
             output_padding 2x2 with stride 2x2 and dilation 1x1"
        );
        assert_eq!(
            refused(b(2, 2, 3).output_padding((0, 1))),
            "ConvTranspose2d: output_padding must be smaller than the stride or the dilation, got \
             output_padding 0x1 with stride 1x1 and dilation 1x1"
        );
        assert_eq!(
            refused(b(3, 4, 3).groups(2)),
            "ConvTranspose2d: groups must divide both channel counts, got 2 groups for 3 -> 4 channels"
        );
        assert_eq!(
            refused(ConvTranspose2d::builder(1, 1, (3, 0))),
            "ConvTranspose2d: kernel, stride and dilation must be at least 1, got kernel 3x0, stride 1x1, \
             dilation 1x1"
        );
        assert!(refused(b(1 << 31, 1 << 31, 1 << 20)).starts_with(
            "ConvTranspose2d: weight [2147483648, 2147483648, 1048576, 1048576] would hold more than"
        ));
        assert!(refused(b(1, 1, 3).dilation(usize::MAX))
            .starts_with("ConvTranspose2d: the dilated kernel (kernel 3x3, dilation"));
        let msg = panic_message(|| {
            b(1, 2, 3).from_parts(Tensor::zeros(IxDyn(&[2, 1, 3, 3])), None);
        });
        assert_eq!(
            msg,
            "ConvTranspose2d: expected a weight of shape [1, 2, 3, 3], got [2, 1, 3, 3]"
        );
    }

    #[test]
    fn inputs_that_give_no_output_or_the_wrong_channels_panic_naming_the_layer() {
        let mut layer = ConvTranspose2d::builder(2, 3, 1)
            .padding(1)
            .build(Init::He, &mut seeded(1));
        let msg = panic_message(|| {
            forward_child(
                "dec.up1",
                &mut layer,
                Tensor::zeros(IxDyn(&[1, 2, 1, 5])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "dec.up1: an input of shape [1, 2, 1, 5] gives no output: (H - 1) * stride - 2 * padding + \
             dilation * (kernel - 1) + output_padding + 1 is not positive for ConvTranspose2d(2 -> 3, \
             1x1, padding 1)"
        );
        let msg = panic_message(|| {
            forward_child(
                "dec.up1",
                &mut layer,
                Tensor::zeros(IxDyn(&[1, 3, 4, 4])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "dec.up1: expected a batch of images of shape [N, 2, H, W], got shape [1, 3, 4, 4] (3 channels)"
        );
        // An output of the input's size, but computed from a padded image 2^41 pixels wide.
        let mut far = ConvTranspose2d::builder(1, 1, 3)
            .dilation(1 << 40)
            .padding(1 << 40)
            .build(Init::He, &mut seeded(1));
        assert_eq!(far.output_size(2, 2), Some(Size2::from(2)));
        let msg = panic_message(|| {
            forward_child(
                "dec.up1",
                &mut far,
                Tensor::zeros(IxDyn(&[1, 1, 2, 2])),
                Mode::Eval,
            );
        });
        assert!(
            msg.starts_with("dec.up1: padded output [1, 2199023255554, 2199023255554] would hold more than"),
            "{msg}"
        );
        let mut layer = ConvTranspose2d::new(2, 3, 3, Init::He, &mut seeded(1));
        layer.forward(Tensor::zeros(IxDyn(&[1, 2, 4, 4])), Mode::Train);
        let msg = panic_message(|| {
            backward_child("dec.up1", &mut layer, Tensor::zeros(IxDyn(&[1, 3, 4, 4])));
        });
        assert_eq!(
            msg,
            "dec.up1: expected a gradient of shape [1, 3, 6, 6] (the output of the last Train forward), got [1, 3, 4, 4]"
        );
    }

    #[test]
    fn buffers_are_recycled_between_steps() {
        let mut layer = ConvTranspose2d::builder(3, 3, 3)
            .padding(1)
            .build(Init::He, &mut seeded(1));
        let x = input(&[2, 3, 5, 5]);
        let x_ptr = x.as_ptr();
        let y = layer.forward(x, Mode::Train);
        let g_ptr = y.as_ptr();
        let dx = layer.backward(y);
        assert_eq!(
            dx.as_ptr(),
            x_ptr,
            "the input gradient lives in the input's buffer"
        );
        let y2 = layer.forward(dx, Mode::Train);
        assert_eq!(y2.as_ptr(), g_ptr, "the gradient buffer becomes the next output");
    }

    #[test]
    fn an_empty_batch_gives_an_empty_output_and_zero_gradients() {
        let mut layer = ConvTranspose2d::new(2, 3, 3, Init::He, &mut seeded(1));
        let y = layer.forward(Tensor::zeros(IxDyn(&[0, 2, 4, 4])), Mode::Train);
        assert_eq!(y.shape(), &[0, 3, 6, 6]);
        assert_eq!(layer.backward(y).shape(), &[0, 2, 4, 4]);
        assert!(layer.weight_grad.iter().all(|&v| v == 0.0));
    }
}
