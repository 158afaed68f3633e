//! The 2-D convolution layer (PyTorch's `Conv2d`: stride, padding, dilation, groups, optional
//! bias), computed tile by tile of images as im2col and one matrix product per group.

use super::conv_tiles::{Grads, Tiles, Weights};
use super::im2col::Patches;
use super::nchw::{check_images, probe, recycle, too_large, Size2, Window};
use crate::init::Init;
use crate::layer::{check_grad_shape_in, contiguous, no_train_forward, TypeName};
use crate::layer::{Layer, Mode, Needs, ParamKind, TrainingPlan, Visitor};
use crate::pages;
use crate::rng::StdRng;
use crate::tensor::Tensor;
use ndarray::IxDyn;

/// A 2-D convolution over a batch of images `[N, C, H, W]`, giving `[N, out, OH, OW]`.
///
/// `weight` is `[out, in / groups, kh, kw]` and `bias` `[out]`, PyTorch's layouts and names, so
/// checkpoints map one to one. Build one with [`Conv2d::new`] (stride 1, no padding) or
/// [`Conv2d::builder`] for the other options.
///
/// ```
/// use nn_core::{layers::Conv2d, init::Init, seeded, Layer, Mode, Tensor};
/// let mut rng = seeded(4321);
/// let mut conv = Conv2d::builder(1, 8, 3).padding_same().build(Init::He, &mut rng);
/// let y = conv.forward(Tensor::zeros(vec![2, 1, 28, 28]), Mode::Eval);
/// assert_eq!(y.shape(), &[2, 8, 28, 28]);
/// ```
#[derive(Clone, Debug)]
pub struct Conv2d {
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    window: Window,
    weight: Tensor,
    weight_grad: Tensor,
    /// The bias and its gradient; `None` for a layer built with `.bias(false)`.
    bias: Option<(Tensor, Tensor)>,
    input_grad: bool,
    /// Which gradients the trainer's plan needs (see [`Layer::prepare`]).
    needs: Needs,
    /// The input of the last Train forward, for the weight gradient; backward overwrites it
    /// with the input gradient (same size), so backward allocates nothing.
    input: Option<Tensor>,
    /// The geometry of that forward.
    patches: Option<Patches>,
    /// The gradient buffer backward received, recycled as the next forward's output.
    spare: Option<Tensor>,
    /// The arithmetic's buffers, kept from step to step.
    tiles: Tiles,
}

/// The options of a [`Conv2d`], PyTorch's defaults until set: stride 1, no padding, no
/// dilation, one group, with bias.
#[derive(Clone, Debug)]
pub struct Conv2dBuilder {
    in_channels: usize,
    out_channels: usize,
    kernel: Size2,
    stride: Size2,
    padding: Size2,
    same: bool,
    dilation: Size2,
    groups: usize,
    bias: bool,
}

impl Conv2dBuilder {
    /// The step between windows (`2` or `(2, 1)`).
    pub fn stride(mut self, stride: impl Into<Size2>) -> Self {
        self.stride = stride.into();
        self
    }

    /// Zeros added on each side: `1` or `(rows, columns)`.
    pub fn padding(mut self, padding: impl Into<Size2>) -> Self {
        self.padding = padding.into();
        self.same = false;
        self
    }

    /// The padding that keeps the input's size (PyTorch's `padding="same"`):
    /// `dilation * (kernel - 1) / 2` per side. Needs stride 1 and an odd kernel.
    pub fn padding_same(mut self) -> Self {
        self.same = true;
        self
    }

    /// The spacing between the kernel's taps (1: adjacent).
    pub fn dilation(mut self, dilation: impl Into<Size2>) -> Self {
        self.dilation = dilation.into();
        self
    }

    /// Splits the channels into `groups` independent convolutions; `groups == in_channels` is
    /// a depthwise convolution. Both channel counts must be multiples of it.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Whether the layer adds a learned bias per output channel (default true).
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// The layer with weights drawn by `init` (fan-in `in / groups * kh * kw`) and zero biases.
    pub fn build(self, init: Init, rng: &mut StdRng) -> Conv2d {
        let fan_in = self.check();
        let (k, cg) = (self.kernel, self.in_channels / self.groups);
        let shape = [self.out_channels, cg, k.h, k.w];
        // A 2^20 x 2^20 kernel is a panic here, not an abort in the allocator.
        probe::<f32>(&shape, "Conv2d");
        let weight = init.sample(&shape, fan_in, rng);
        let bias = self.bias.then(|| Tensor::zeros(IxDyn(&[self.out_channels])));
        self.from_parts(weight, bias)
    }

    /// The layer with the given `weight` `[out, in / groups, kh, kw]` and `bias` `[out]`.
    ///
    /// Panics if their shapes do not match the options, or if `bias` is given to a builder set
    /// to `.bias(false)` (or missing from one with a bias).
    pub fn from_parts(self, weight: Tensor, bias: Option<Tensor>) -> Conv2d {
        self.check();
        let (k, cg) = (self.kernel, self.in_channels / self.groups);
        let expected = [self.out_channels, cg, k.h, k.w];
        assert!(
            weight.shape() == expected,
            "Conv2d: expected a weight of shape {expected:?}, got {:?}",
            weight.shape()
        );
        assert!(
            bias.is_some() == self.bias && bias.as_ref().is_none_or(|b| b.shape() == [self.out_channels]),
            "Conv2d: expected {}, got {:?}",
            if self.bias {
                format!("a bias of shape [{}]", self.out_channels)
            } else {
                "no bias (the builder has .bias(false))".to_string()
            },
            bias.as_ref().map(|b| b.shape())
        );
        Conv2d {
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            groups: self.groups,
            window: self.window(),
            weight_grad: Tensor::zeros(weight.raw_dim()),
            weight: contiguous(weight),
            bias: bias.map(|b| (contiguous(b), Tensor::zeros(IxDyn(&[self.out_channels])))),
            input_grad: true,
            needs: Needs::default(),
            input: None,
            patches: None,
            spare: None,
            tiles: Tiles::default(),
        }
    }

    /// Panics unless the options make a layer, naming what is wrong; returns the fan-in
    /// `in / groups * kh * kw`. Every size is computed with checked arithmetic, so an absurd
    /// option (a 2^32 kernel) is this clear panic rather than an overflow further on.
    fn check(&self) -> usize {
        let (k, s, d) = (self.kernel, self.stride, self.dilation);
        assert!(
            self.in_channels > 0 && self.out_channels > 0,
            "Conv2d: channels must be at least 1, got {} -> {}",
            self.in_channels,
            self.out_channels
        );
        assert!(
            k.h > 0 && k.w > 0 && s.h > 0 && s.w > 0 && d.h > 0 && d.w > 0,
            "Conv2d: kernel, stride and dilation must be at least 1, got kernel {k}, stride {s}, dilation {d}"
        );
        assert!(
            self.groups > 0
                && self.in_channels.is_multiple_of(self.groups)
                && self.out_channels.is_multiple_of(self.groups),
            "Conv2d: groups must divide both channel counts, got {} groups for {} -> {} channels",
            self.groups,
            self.in_channels,
            self.out_channels
        );
        if self.same {
            assert!(
                s == Size2::from(1) && k.h % 2 == 1 && k.w % 2 == 1,
                "Conv2d: padding_same needs stride 1 and an odd kernel, got kernel {k}, stride {s}"
            );
        }
        // The options as given first, so that resolving padding_same cannot overflow.
        let given = Window {
            kernel: k,
            stride: s,
            padding: self.padding,
            dilation: d,
        };
        given.check("Conv2d");
        self.window().check("Conv2d");
        let cg = self.in_channels / self.groups;
        let fan_in = (k.h * k.w).checked_mul(cg);
        let weight = fan_in.and_then(|f| f.checked_mul(self.out_channels));
        // The most f32 values one allocation can hold (isize::MAX bytes).
        const MAX_VALUES: usize = isize::MAX as usize / 4;
        match (fan_in, weight) {
            (Some(fan_in), Some(values)) if values <= MAX_VALUES => fan_in,
            _ => panic!(
                "Conv2d: a weight of shape [{}, {cg}, {}, {}] holds more values than one \
                 allocation can ({MAX_VALUES}); check the kernel size and channel counts",
                self.out_channels, k.h, k.w
            ),
        }
    }

    /// The sliding window these options describe (padding resolved for `padding_same`).
    fn window(&self) -> Window {
        let (k, d) = (self.kernel, self.dilation);
        let padding = if self.same {
            Size2 {
                h: d.h * (k.h - 1) / 2,
                w: d.w * (k.w - 1) / 2,
            }
        } else {
            self.padding
        };
        Window {
            kernel: k,
            stride: self.stride,
            padding,
            dilation: d,
        }
    }
}

impl Conv2d {
    /// A convolution from `in_channels` to `out_channels` with a `kernel` (`3` or `(3, 5)`),
    /// stride 1, no padding, weights drawn by `init` from `rng` and zero biases.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: impl Into<Size2>,
        init: Init,
        rng: &mut StdRng,
    ) -> Self {
        Self::builder(in_channels, out_channels, kernel).build(init, rng)
    }

    /// A builder for the other options: `.stride(2)`, `.padding(1)`, `.padding_same()`,
    /// `.dilation(2)`, `.groups(g)`, `.bias(false)`, then `.build(init, rng)`.
    pub fn builder(in_channels: usize, out_channels: usize, kernel: impl Into<Size2>) -> Conv2dBuilder {
        Conv2dBuilder {
            in_channels,
            out_channels,
            kernel: kernel.into(),
            stride: 1.into(),
            padding: 0.into(),
            same: false,
            dilation: 1.into(),
            groups: 1,
            bias: true,
        }
    }

    /// With `false`, backward skips the input gradient (the patch-gradient product and col2im)
    /// and returns zeros: for a first layer, whose input is data. As
    /// [`Linear::with_input_grad`](super::Linear::with_input_grad), never on a layer fed by
    /// layers with parameters.
    pub fn with_input_grad(mut self, input_grad: bool) -> Self {
        self.input_grad = input_grad;
        self
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

    /// The zero padding per side (resolved, for a layer built with `padding_same`).
    pub fn padding(&self) -> Size2 {
        self.window.padding
    }

    /// The dilation.
    pub fn dilation(&self) -> Size2 {
        self.window.dilation
    }

    /// The number of groups.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// The weight, `[out, in / groups, kh, kw]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref().map(|(b, _)| b)
    }

    fn patches(&self, h: usize, w: usize, output: Size2) -> Patches {
        Patches {
            channels: self.in_channels,
            input: Size2 { h, w },
            output,
            window: self.window,
        }
    }
}

impl Layer for Conv2d {
    #[track_caller]
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let ([n, _, h, w], out) =
            check_images(&x, Some(self.in_channels), Some(&self.window), TypeName(&*self));
        let patches = self.patches(h, w, out);
        let mut y = recycle(
            self.spare.take(),
            &[n, self.out_channels, out.h, out.w],
            TypeName(&*self),
        );
        if let Err(shape) = self.tiles.reserve(&patches, self.out_channels, self.groups, n) {
            too_large::<f32>(&shape, TypeName(&*self));
        }
        let mut x = contiguous(x);
        let (xs, ys) = (
            x.as_slice_mut().expect("standard"),
            y.as_slice_mut().expect("standard"),
        );
        let weights = Weights {
            weight: self.weight.as_slice().expect("built in standard layout"),
            bias: self
                .bias
                .as_ref()
                .map(|(b, _)| b.as_slice().expect("built in standard layout")),
            out_channels: self.out_channels,
            groups: self.groups,
        };
        self.tiles.forward(&patches, &weights, n, xs, ys);
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
            no_train_forward(self.type_name())
        };
        let n = x.shape()[0];
        let expected = [n, self.out_channels, patches.output.h, patches.output.w];
        if grad.shape() != expected {
            check_grad_shape_in(TypeName(&*self), grad.shape(), &expected);
        }
        let mut grad = contiguous(grad);
        let input_grad = self.input_grad && self.needs.input;
        // A frozen layer whose input needs no gradient has nothing to compute: its input buffer
        // goes back as the input "gradient", which nothing reads.
        if input_grad || self.needs.weight || self.needs.bias {
            let (xs, gs) = (
                x.as_slice_mut().expect("standard"),
                grad.as_slice_mut().expect("standard"),
            );
            let weights = Weights {
                weight: self.weight.as_slice().expect("built in standard layout"),
                bias: None, // backward does not read it
                out_channels: self.out_channels,
                groups: self.groups,
            };
            let weight_grad = self.weight_grad.as_slice_mut().expect("built in standard layout");
            let bias_grad = match &mut self.bias {
                Some((_, g)) if self.needs.bias => Some(g.as_slice_mut().expect("built in standard layout")),
                _ => None,
            };
            let out = Grads {
                input: input_grad,
                weight: weight_grad,
                bias: bias_grad,
            };
            self.tiles.backward(&patches, &weights, n, xs, gs, out);
        }
        if !self.input_grad {
            x.fill(0.0);
        }
        self.spare = Some(grad);
        x
    }

    /// A frozen layer whose input needs no gradient skips its backward; a frozen bias skips its
    /// sum, an input that needs no gradient the patch-gradient product and col2im.
    fn prepare(&mut self, plan: &mut TrainingPlan<'_>) {
        self.needs = Needs::from_plan(plan);
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
        let mut s = format!(
            "Conv2d({} -> {}, {}{}",
            self.in_channels,
            self.out_channels,
            self.window.kernel,
            self.window.describe(1.into())
        );
        if self.groups > 1 {
            s.push_str(&format!(", groups {}", self.groups));
        }
        if self.bias.is_none() {
            s.push_str(", no bias");
        }
        s.push(')');
        s
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{conv_direct, conv_winograd};
    use super::*;
    use crate::gradcheck::gradcheck;
    use crate::layer::{backward_child, for_each_param, forward_child, panic_message, param_names};
    use crate::linalg::set_num_threads;
    use crate::rng::seeded;

    /// The convolution by its definition, in f64.
    fn naive(conv: &Conv2d, x: &Tensor) -> Tensor {
        let &[n, c, h, w] = x.shape() else { panic!() };
        let win = conv.window;
        let out = win.output(h, w).unwrap();
        let (o_c, g) = (conv.out_channels, conv.groups);
        let (cg, og) = (c / g, o_c / g);
        let wt = &conv.weight;
        Tensor::from_shape_fn(IxDyn(&[n, o_c, out.h, out.w]), |i| {
            let (b, o, oy, ox) = (i[0], i[1], i[2], i[3]);
            let mut sum = conv.bias().map_or(0.0, |b| f64::from(b[o]));
            for ci in 0..cg {
                for ky in 0..win.kernel.h {
                    for kx in 0..win.kernel.w {
                        let y = (oy * win.stride.h + ky * win.dilation.h) as isize - win.padding.h as isize;
                        let xx = (ox * win.stride.w + kx * win.dilation.w) as isize - win.padding.w as isize;
                        if (0..h as isize).contains(&y) && (0..w as isize).contains(&xx) {
                            let v = x[[b, (o / og) * cg + ci, y as usize, xx as usize]];
                            sum += f64::from(v) * f64::from(wt[[o, ci, ky, kx]]);
                        }
                    }
                }
            }
            sum as f32
        })
    }

    fn input(shape: &[usize]) -> Tensor {
        Tensor::from_shape_fn(IxDyn(shape), |i| {
            let k = i[0] * 131 + i[1] * 31 + i[2] * 7 + i[3] * 3;
            (k % 19) as f32 / 9.0 - 1.0
        })
    }

    /// A layer of every option with a non-zero bias, and an input shape it accepts.
    fn configs() -> Vec<(&'static str, Conv2d, [usize; 4])> {
        let mut rng = seeded(7);
        let mut list = vec![
            (
                "plain 3x3",
                Conv2d::new(2, 3, 3, Init::He, &mut rng),
                [2, 2, 5, 5],
            ),
            (
                "stride 2, padding 1, 3x2 kernel",
                Conv2d::builder(3, 2, (3, 2))
                    .stride(2)
                    .padding(1)
                    .build(Init::He, &mut rng),
                [2, 3, 7, 6],
            ),
            (
                "dilation 2, padding 2",
                Conv2d::builder(2, 2, 3)
                    .dilation(2)
                    .padding(2)
                    .build(Init::He, &mut rng),
                [1, 2, 6, 5],
            ),
            (
                "groups 2",
                Conv2d::builder(4, 4, 3)
                    .groups(2)
                    .padding(1)
                    .build(Init::He, &mut rng),
                [2, 4, 4, 5],
            ),
            (
                "depthwise, same padding, no bias",
                Conv2d::builder(3, 3, 3)
                    .groups(3)
                    .padding_same()
                    .bias(false)
                    .build(Init::He, &mut rng),
                [2, 3, 5, 4],
            ),
            (
                "one channel, same padding",
                Conv2d::builder(1, 5, 3).padding_same().build(Init::He, &mut rng),
                [2, 1, 5, 6],
            ),
            (
                "fewer taps than channels",
                Conv2d::builder(1, 12, 3).padding(1).build(Init::He, &mut rng),
                [2, 1, 4, 5],
            ),
            (
                "two channels, 2x3 kernel, padding (1, 0)",
                Conv2d::builder(2, 3, (2, 3))
                    .padding((1, 0))
                    .build(Init::He, &mut rng),
                [3, 2, 4, 5],
            ),
            (
                "batch of 1, odd sizes, stride (1, 2)",
                Conv2d::builder(1, 2, (2, 3))
                    .stride((1, 2))
                    .build(Init::He, &mut rng),
                [1, 1, 5, 7],
            ),
        ];
        for (_, conv, _) in &mut list {
            for_each_param(conv, |name, mut p| {
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
        for (name, mut conv, shape) in configs() {
            let x = input(&shape);
            let expected = naive(&conv, &x);
            for mode in [Mode::Train, Mode::Eval] {
                let y = conv.forward(x.clone(), mode);
                assert_eq!(y.shape(), expected.shape(), "{name}");
                for (a, b) in y.iter().zip(&expected) {
                    assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{name}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn passes_gradcheck_in_every_configuration() {
        for (name, mut conv, shape) in configs() {
            let report = gradcheck(&mut conv, &shape);
            assert!(report.passed(), "{name}: {report}");
        }
    }

    #[test]
    fn tiles_and_parts_give_the_results_of_one_image_at_a_time() {
        let mut rng = seeded(3);
        // A strided convolution (its image staged in phases) and stride-1 ones, one with more channels
        // than taps.
        let strided = Conv2d::builder(2, 3, 3)
            .padding(1)
            .stride((2, 1))
            .build(Init::He, &mut rng);
        let wide = Conv2d::builder(2, 3, 3).padding(1).build(Init::He, &mut rng);
        let small = Conv2d::builder(2, 3, (2, 2)).padding(1).build(Init::He, &mut rng);
        tiles_agree(strided, [7, 3, 3, 6]);
        tiles_agree(wide, [7, 3, 5, 6]);
        tiles_agree(small, [7, 3, 6, 7]);
        let compact = Conv2d::builder(2, 20, 3).padding(1).build(Init::He, &mut rng);
        tiles_agree(compact, [7, 20, 5, 6]);
    }

    fn tiles_agree(base: Conv2d, out_shape: [usize; 4]) {
        let x = input(&[7, 2, 5, 6]);
        let g = input(&out_shape);
        let run = |tile: usize| {
            let mut conv = base.clone();
            conv.tiles.fixed = Some(tile);
            let y = conv.forward(x.clone(), Mode::Train);
            let dx = conv.backward(g.clone());
            let mut grads = Vec::new();
            for_each_param(&mut conv, |_, p| grads.push(p.grad.to_owned()));
            (y, dx, grads)
        };
        // Tiles of 1 image (7 tiles in 4 parts), 2 (4 tiles), 3, and all 7 in one.
        let (y1, dx1, g1) = run(1);
        for tile in [2, 3, 7] {
            let (y, dx, grads) = run(tile);
            assert_eq!(y, y1, "tile {tile}");
            assert_eq!(dx, dx1, "tile {tile}");
            for (a, b) in grads.iter().zip(&g1) {
                for (u, v) in a.iter().zip(b) {
                    assert!((u - v).abs() <= 1e-5 * (1.0 + v.abs()), "tile {tile}: {u} vs {v}");
                }
            }
        }
        // Every part and tile contributes to the weight gradient.
        let mut whole = base.clone();
        whole.forward(x.clone(), Mode::Train);
        whole.backward(g.clone());
        let mut expect = base.clone();
        let mut sum = Tensor::zeros(base.weight.raw_dim());
        for i in 0..7 {
            let xi = x.slice(ndarray::s![i..i + 1, .., .., ..]).to_owned().into_dyn();
            let gi = g.slice(ndarray::s![i..i + 1, .., .., ..]).to_owned().into_dyn();
            expect.forward(xi, Mode::Train);
            expect.backward(gi);
            sum += &expect.weight_grad;
        }
        for (u, v) in whole.weight_grad.iter().zip(&sum) {
            assert!((u - v).abs() <= 1e-5 * (1.0 + v.abs()), "{u} vs {v}");
        }
    }

    #[test]
    fn any_thread_count_gives_the_same_bits() {
        // Large enough (3.6 M multiply-adds) to be split over threads.
        let mut rng = seeded(5);
        let base = Conv2d::new(8, 16, 3, Init::He, &mut rng);
        let x = input(&[16, 8, 16, 16]);
        let g = input(&[16, 16, 14, 14]);
        // Through the direct kernels or im2col, and through Winograd's transforms.
        for winograd in [false, true] {
            let run = |threads: usize| {
                set_num_threads(threads);
                let mut conv = base.clone();
                conv.tiles.winograd_always = winograd;
                let y = conv.forward(x.clone(), Mode::Train);
                let dx = conv.backward(g.clone());
                (y, dx, conv.weight_grad.clone(), conv.bias.clone())
            };
            let one = run(1);
            for threads in [2, 3, 4] {
                assert!(run(threads) == one, "{threads} threads, winograd {winograd}");
            }
        }
        set_num_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }

    /// The output, input gradient and parameter gradients of one training step of `base` on
    /// `x`, its tiles set up by `setup`.
    fn step_with(base: &Conv2d, x: &Tensor, setup: impl Fn(&mut Tiles)) -> (Tensor, Tensor, Vec<Tensor>) {
        let mut conv = base.clone();
        setup(&mut conv.tiles);
        let y = conv.forward(x.clone(), Mode::Train);
        let g = input(y.shape()).mapv(|v| v * 0.5 + 0.1);
        let dx = conv.backward(g);
        let mut grads = Vec::new();
        for_each_param(&mut conv, |_, p| grads.push(p.grad.to_owned()));
        (y, dx, grads)
    }

    /// Asserts that two steps of [`step_with`] agree to 1e-5, relative.
    fn assert_steps_agree(
        layer: usize,
        (y, dx, grads): &(Tensor, Tensor, Vec<Tensor>),
        (y0, dx0, grads0): &(Tensor, Tensor, Vec<Tensor>),
    ) {
        let close = |a: &Tensor, b: &Tensor, what: &str| {
            assert_eq!(a.shape(), b.shape());
            for (u, v) in a.iter().zip(b) {
                assert!(
                    (u - v).abs() <= 1e-5 * (1.0 + v.abs()),
                    "layer {layer} {what}: {u} vs {v}"
                );
            }
        };
        close(y, y0, "output");
        close(dx, dx0, "input gradient");
        for (g, g0) in grads.iter().zip(grads0) {
            close(g, g0, "parameter gradient");
        }
    }

    #[test]
    fn direct_kernels_agree_with_im2col() {
        // One-group layers with strides up to 4 go to conv_direct, forward and backward on
        // images large enough for the padding to waste little; each must give what im2col's
        // products give: channel counts off the kernels' blocks of 8 and 4, one input channel,
        // padding from none to beyond dilation * (k - 1), a non-square kernel, dilation, strides
        // 2 and 3 (odd sizes, so phases differ in size), a strided 1x1 kernel and dilation
        // sharing a factor with the stride (whose taps read one phase only), and tiles of 2
        // images (3 tiles over 4 parts' 5 images).
        let mut rng = seeded(8);
        let layers = [
            (
                Conv2d::builder(3, 5, 3).padding(1).build(Init::He, &mut rng),
                [5, 3, 20, 21],
            ),
            (Conv2d::builder(1, 9, 3).build(Init::He, &mut rng), [5, 1, 16, 17]),
            (
                Conv2d::builder(2, 17, (2, 3))
                    .padding((1, 2))
                    .bias(false)
                    .build(Init::He, &mut rng),
                [5, 2, 10, 9],
            ),
            (
                Conv2d::builder(4, 3, 3)
                    .padding(2)
                    .dilation(2)
                    .build(Init::He, &mut rng),
                [5, 4, 30, 31],
            ),
            (
                Conv2d::builder(6, 8, 5).padding(4).build(Init::He, &mut rng),
                [5, 6, 24, 25],
            ),
            (
                Conv2d::builder(5, 9, 3)
                    .stride(2)
                    .padding(1)
                    .build(Init::He, &mut rng),
                [5, 5, 21, 20],
            ),
            (
                Conv2d::builder(3, 10, 1).stride(2).build(Init::He, &mut rng),
                [5, 3, 15, 14],
            ),
            (
                Conv2d::builder(2, 4, (5, 3))
                    .stride((3, 2))
                    .padding((2, 1))
                    .build(Init::He, &mut rng),
                [5, 2, 23, 19],
            ),
            (
                Conv2d::builder(3, 5, 3)
                    .stride(2)
                    .padding(2)
                    .dilation(2)
                    .build(Init::He, &mut rng),
                [5, 3, 41, 42],
            ),
            (
                Conv2d::builder(2, 3, 3).padding(3).build(Init::He, &mut rng),
                [5, 2, 30, 29],
            ),
        ];
        for (i, (base, shape)) in layers.into_iter().enumerate() {
            let x = input(&shape);
            let run = |im2col_only: bool, tile: Option<usize>| {
                step_with(&base, &x, |tiles| {
                    tiles.im2col_only = im2col_only;
                    tiles.direct_always = !im2col_only;
                    tiles.fixed = tile;
                })
            };
            let reference = run(true, None);
            let output = Size2 {
                h: reference.0.shape()[2],
                w: reference.0.shape()[3],
            };
            let patches = base.patches(shape[2], shape[3], output);
            // All but the two whose taps skip pixels (the strided 1x1, dilation 2 with stride 2):
            // those keep im2col's backward.
            assert!(
                conv_direct::computes_forward(&patches, 1),
                "layer {i}: direct forward"
            );
            assert_eq!(
                conv_direct::computes_backward(&patches, 1),
                ![6, 8].contains(&i),
                "layer {i}: direct backward"
            );
            for tile in [None, Some(2)] {
                assert_steps_agree(i, &run(false, tile), &reference);
            }
        }
    }

    #[test]
    fn winograd_agrees_with_im2col() {
        // 3x3 stride-1 layers through Winograd's F(2x2, 3x3), against im2col's products: odd
        // and even output sizes (tiles cut at the edge), a single tile, channel counts off the
        // transforms' 8 lanes, padding from none to beyond the kernel's reach, no bias, and
        // chunks of 1 and 2 images.
        let mut rng = seeded(9);
        let layers = [
            (
                Conv2d::builder(3, 5, 3).padding(1).build(Init::He, &mut rng),
                [5, 3, 11, 11],
            ),
            (Conv2d::builder(17, 9, 3).build(Init::He, &mut rng), [5, 17, 8, 9]),
            (
                Conv2d::builder(2, 3, 3).padding(2).build(Init::He, &mut rng),
                [3, 2, 5, 6],
            ),
            (
                Conv2d::builder(4, 8, 3)
                    .padding(1)
                    .bias(false)
                    .build(Init::He, &mut rng),
                [5, 4, 4, 4],
            ),
            (Conv2d::builder(1, 2, 3).build(Init::He, &mut rng), [5, 1, 3, 3]),
            (
                Conv2d::builder(2, 3, 3).padding(3).build(Init::He, &mut rng),
                [5, 2, 4, 5],
            ),
        ];
        for (i, (base, shape)) in layers.into_iter().enumerate() {
            let x = input(&shape);
            let run = |winograd: bool, tile: Option<usize>| {
                step_with(&base, &x, |tiles| {
                    tiles.im2col_only = !winograd;
                    tiles.winograd_always = winograd;
                    tiles.fixed = tile;
                })
            };
            let reference = run(false, None);
            let output = Size2 {
                h: reference.0.shape()[2],
                w: reference.0.shape()[3],
            };
            assert!(conv_winograd::computes(
                &base.patches(shape[2], shape[3], output),
                1
            ));
            for tile in [None, Some(1), Some(2)] {
                assert_steps_agree(i, &run(true, tile), &reference);
            }
        }
    }

    #[test]
    fn without_input_grad_gives_the_same_parameter_gradients_and_zero_dx() {
        let (_, full, shape) = configs().swap_remove(1);
        let mut first = full.clone().with_input_grad(false);
        let mut full = full;
        let (x, g) = (input(&shape), input(&[2, 2, 4, 4]));
        full.forward(x.clone(), Mode::Train);
        first.forward(x, Mode::Train);
        assert!(full.backward(g.clone()).iter().any(|&v| v != 0.0));
        let dx = first.backward(g);
        assert!(dx.shape() == shape && dx.iter().all(|&v| v == 0.0));
        assert_eq!(full.weight_grad, first.weight_grad);
        assert_eq!(full.bias, first.bias);
    }

    #[test]
    fn weights_are_pytorch_shaped_and_drawn_with_the_grouped_fan_in() {
        let mut conv = Conv2d::builder(4, 6, (3, 5))
            .groups(2)
            .build(Init::He, &mut seeded(1));
        assert_eq!(conv.weight().shape(), &[6, 2, 3, 5]);
        assert_eq!(
            conv.weight(),
            &Init::He.sample(&[6, 2, 3, 5], 2 * 3 * 5, &mut seeded(1))
        );
        assert!(conv.bias().unwrap().iter().all(|&b| b == 0.0));
        assert_eq!(param_names(&mut conv), ["weight", "bias"]);
        let mut plain = Conv2d::builder(1, 2, 3)
            .bias(false)
            .build(Init::He, &mut seeded(1));
        assert_eq!(param_names(&mut plain), ["weight"]);
        assert_eq!(conv.type_name(), "Conv2d(4 -> 6, 3x5, groups 2)");
        let strided = Conv2d::builder(1, 2, 3).stride(2).padding_same().dilation(2);
        let strided = std::panic::catch_unwind(|| strided.build(Init::He, &mut seeded(1)));
        assert!(strided.is_err(), "padding_same needs stride 1");
        let conv = Conv2d::builder(1, 2, 5)
            .dilation(2)
            .padding_same()
            .bias(false)
            .build(Init::He, &mut seeded(1));
        assert_eq!(conv.padding(), Size2::from(4));
        assert_eq!(
            conv.type_name(),
            "Conv2d(1 -> 2, 5x5, padding 4, dilation 2, no bias)"
        );
    }

    #[test]
    fn bad_options_are_refused_with_the_reason() {
        let msg = panic_message(|| {
            Conv2d::builder(3, 4, 3).groups(2).build(Init::He, &mut seeded(1));
        });
        assert_eq!(
            msg,
            "Conv2d: groups must divide both channel counts, got 2 groups for 3 -> 4 channels"
        );
        let msg = panic_message(|| {
            Conv2d::builder(1, 1, (2, 3))
                .padding_same()
                .build(Init::He, &mut seeded(1));
        });
        assert!(msg.contains("odd kernel, got kernel 2x3"), "{msg}");
        let msg = panic_message(|| {
            Conv2d::builder(1, 2, 3).from_parts(Tensor::zeros(IxDyn(&[2, 1, 3, 2])), None);
        });
        assert_eq!(
            msg,
            "Conv2d: expected a weight of shape [2, 1, 3, 3], got [2, 1, 3, 2]"
        );
    }

    /// Issue 23.1: a 1x5 kernel padded by (0, 2) with stride (2, 1) on a 4x1 image. Every tap
    /// but the middle one reads only padding, and im2col's input offset for that empty range
    /// (`lo + tap - padding`) underflowed: a panic in debug, an out-of-range slice in release.
    #[test]
    fn a_narrow_output_with_a_stride_along_the_rows_only_is_computed() {
        let mut conv = Conv2d::builder(1, 2, (1, 5))
            .padding((0, 2))
            .stride((2, 1))
            .build(Init::He, &mut seeded(1));
        let x = input(&[1, 1, 4, 1]);
        let expected = naive(&conv, &x);
        let y = conv.forward(x, Mode::Train);
        assert_eq!(y.shape(), &[1, 2, 2, 1]);
        for (a, b) in y.iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
        }
        gradcheck(&mut conv, &[2, 1, 4, 1]).assert_passed();
        gradcheck(&mut conv, &[1, 1, 1, 1]).assert_passed();
    }

    /// Issue 23.6/7: sizes are checked, so absurd options are one clear panic naming the layer
    /// and the limit, before anything is allocated or any arithmetic wraps.
    #[test]
    fn absurd_sizes_are_clear_panics_naming_the_layer() {
        // A 2^32 kernel had 2^64 taps, which wrapped to a fan-in of 0.
        let msg = panic_message(|| {
            Conv2d::new(1, 1, 1usize << 32, Init::He, &mut seeded(1));
        });
        assert_eq!(
            msg,
            "Conv2d: kernel, stride, padding and dilation are limited to 65536 per axis, got \
             kernel 4294967296x4294967296"
        );
        // Padding 2^20 on a 28x28 image asked for a 2097178x2097178 output: 17.6 TB.
        let msg = panic_message(|| {
            Conv2d::builder(1, 1, 3)
                .padding(1 << 20)
                .build(Init::He, &mut seeded(1));
        });
        assert!(msg.ends_with("got padding 1048576x1048576"), "{msg}");
        let msg = panic_message(|| {
            Conv2d::builder(1, 1, (300, 300)).build(Init::He, &mut seeded(1));
        });
        assert_eq!(
            msg,
            "Conv2d: at most 65536 taps per window (kernel height x width), got a 300x300 kernel \
             (90000 taps)"
        );
        let msg = panic_message(|| {
            Conv2d::new(1 << 40, 1 << 40, 3, Init::He, &mut seeded(1));
        });
        assert!(
            msg.starts_with("Conv2d: a weight of shape [1099511627776, 1099511627776, 3, 3]"),
            "{msg}"
        );
        // Within the limits, a buffer the allocator refuses is a panic naming the layer, not an
        // abort: padding 65536 on both axes of 64 channels asks for 4.4 TB.
        let mut conv = Conv2d::builder(64, 64, 3)
            .padding(1 << 16)
            .build(Init::He, &mut seeded(1));
        let msg = panic_message(|| {
            conv.forward(Tensor::zeros(IxDyn(&[1, 64, 28, 28])), Mode::Eval);
        });
        assert_eq!(
            msg,
            "Conv2d(64 -> 64, 3x3, padding 65536): a buffer of shape [1, 64, 131098, 131098] \
             needs 4.4 TB, more than can be allocated; check the layer's options (padding, \
             dilation, channels) and the input's size"
        );
    }

    /// Issue 23.7: an image of zero rows with padding divided by zero in the tiling; outside a
    /// container the message named `layer` rather than the layer.
    #[test]
    fn images_without_pixels_are_refused_naming_the_layer_called_directly() {
        let mut conv = Conv2d::builder(1, 1, 1)
            .padding(1)
            .build(Init::He, &mut seeded(1));
        let msg = panic_message(|| {
            conv.forward(Tensor::zeros(IxDyn(&[1, 1, 0, 5])), Mode::Train);
        });
        assert_eq!(
            msg,
            "Conv2d(1 -> 1, 1x1, padding 1): expected images of at least 1x1 pixels, got shape \
             [1, 1, 0, 5]"
        );
        let msg = panic_message(|| {
            forward_child(
                "conv1",
                &mut conv,
                Tensor::zeros(IxDyn(&[1, 1, 5, 0])),
                Mode::Train,
            );
        });
        assert!(msg.starts_with("conv1: expected images of at least 1x1"), "{msg}");
    }

    #[test]
    fn wrong_inputs_panic_naming_the_layer_and_both_shapes() {
        let mut conv = Conv2d::new(1, 4, 5, Init::He, &mut seeded(1));
        let msg = panic_message(|| {
            forward_child(
                "conv1",
                &mut conv,
                Tensor::zeros(IxDyn(&[8, 3, 28, 28])),
                Mode::Train,
            );
        });
        assert_eq!(
            msg,
            "conv1: expected a batch of images of shape [N, 1, H, W], got shape [8, 3, 28, 28] (3 channels)"
        );
        let msg = panic_message(|| {
            forward_child("conv1", &mut conv, Tensor::zeros(IxDyn(&[8, 784])), Mode::Train);
        });
        assert_eq!(
            msg,
            "conv1: expected a batch of images of shape [N, 1, H, W], got shape [8, 784]"
        );
        let msg = panic_message(|| {
            forward_child(
                "conv1",
                &mut conv,
                Tensor::zeros(IxDyn(&[2, 1, 4, 9])),
                Mode::Train,
            );
        });
        assert_eq!(
            msg,
            "conv1: expected images of at least 5x5 (the 5x5 window) once padded by 0x0, got shape [2, 1, 4, 9]"
        );
        conv.forward(Tensor::zeros(IxDyn(&[2, 1, 6, 6])), Mode::Train);
        let msg = panic_message(|| {
            backward_child("conv1", &mut conv, Tensor::zeros(IxDyn(&[2, 4, 3, 2])));
        });
        assert_eq!(
            msg,
            "conv1: expected a gradient of shape [2, 4, 2, 2] (the output of the last Train forward), got [2, 4, 3, 2]"
        );
    }

    #[test]
    fn eval_keeps_nothing_for_backward() {
        let mut conv = Conv2d::new(1, 2, 3, Init::He, &mut seeded(1));
        conv.forward(Tensor::zeros(IxDyn(&[1, 1, 4, 4])), Mode::Eval);
        let msg = panic_message(|| {
            backward_child("conv1", &mut conv, Tensor::zeros(IxDyn(&[1, 2, 2, 2])));
        });
        assert!(
            msg.starts_with("conv1: backward called on Conv2d(1 -> 2, 3x3) without"),
            "{msg}"
        );
    }

    #[test]
    fn buffers_are_recycled_between_steps() {
        let mut conv = Conv2d::new(2, 3, 3, Init::He, &mut seeded(1));
        let x = input(&[2, 2, 6, 6]);
        let x_ptr = x.as_ptr();
        let y = conv.forward(x, Mode::Train);
        let g_ptr = y.as_ptr();
        let dx = conv.backward(y);
        assert_eq!(
            dx.as_ptr(),
            x_ptr,
            "the input gradient lives in the input's buffer"
        );
        let y2 = conv.forward(dx, Mode::Train);
        assert_eq!(y2.as_ptr(), g_ptr, "the gradient buffer becomes the next output");
    }

    #[test]
    fn an_empty_batch_gives_an_empty_output_and_zero_gradients() {
        let mut conv = Conv2d::new(2, 3, 3, Init::He, &mut seeded(1));
        let y = conv.forward(Tensor::zeros(IxDyn(&[0, 2, 5, 5])), Mode::Train);
        assert_eq!(y.shape(), &[0, 3, 3, 3]);
        assert_eq!(conv.backward(y).shape(), &[0, 2, 5, 5]);
        assert!(conv.weight_grad.iter().all(|&v| v == 0.0));
    }
}
