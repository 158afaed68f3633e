//! Random valid configurations of the image layers ([`Conv2d`], [`MaxPool2d`], [`AvgPool2d`]:
//! kernel, stride, padding, dilation, groups, bias, odd sizes, 1-wide and 1-high inputs), each
//! checked against the layer's definition computed directly in f64, forward and backward.
//! `tests/image_layers.rs` runs a fixed-seed sample as part of `cargo test`; the fuzzer
//! (`examples/fuzz.rs`) runs as many as its time allows.

use nn::layer::for_each_param;
use nn::prelude::*;
use nn::rand::Rng as _;

/// Which layer, with the options only it has.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A convolution from the input's channels to `out_channels`.
    Conv {
        out_channels: usize,
        groups: usize,
        dilation: (usize, usize),
        bias: bool,
    },
    /// Max pooling (padding is `-inf`).
    MaxPool,
    /// Average pooling (padded zeros count in the average).
    AvgPool,
}

/// One layer and the input shape it is run on.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub kind: Kind,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    /// `[N, C, H, W]`.
    pub input: [usize; 4],
}

impl Config {
    /// A configuration the layer must accept: the window fits into the padded input at least
    /// once, pools pad by at most half the kernel. Small sizes (a few hundred multiply-adds)
    /// with a bias towards the edges: windows that just fit, 1-wide and 1-high inputs, strides
    /// that differ between the axes.
    pub fn random(rng: &mut StdRng) -> Config {
        let kernel = (rng.random_range(1..=5), rng.random_range(1..=5));
        let stride = (rng.random_range(1..=4), rng.random_range(1..=4));
        let (kind, channels, dilation) = match rng.random_range(0..4) {
            0 | 1 => {
                let groups = rng.random_range(1..=3);
                let dilation = (rng.random_range(1..=3), rng.random_range(1..=3));
                let kind = Kind::Conv {
                    out_channels: groups * rng.random_range(1..=3),
                    groups,
                    dilation,
                    bias: rng.random_bool(0.7),
                };
                (kind, groups * rng.random_range(1..=2), dilation)
            }
            2 => (Kind::MaxPool, rng.random_range(1..=3), (1, 1)),
            _ => (Kind::AvgPool, rng.random_range(1..=3), (1, 1)),
        };
        let span = |k: usize, d: usize| d * (k - 1) + 1;
        let (span_h, span_w) = (span(kernel.0, dilation.0), span(kernel.1, dilation.1));
        let pad = |rng: &mut StdRng, k: usize, span: usize| match kind {
            // Up to a window less than the span: every useful padding, "full" included.
            Kind::Conv { .. } => rng.random_range(0..span),
            _ => rng.random_range(0..=k / 2),
        };
        let padding = (pad(rng, kernel.0, span_h), pad(rng, kernel.1, span_w));
        let side = |rng: &mut StdRng, span: usize, pad: usize| {
            let least = span.saturating_sub(2 * pad).max(1);
            if rng.random_bool(0.3) {
                least
            } else {
                least + rng.random_range(0..=7)
            }
        };
        let input = [
            rng.random_range(1..=3),
            channels,
            side(rng, span_h, padding.0),
            side(rng, span_w, padding.1),
        ];
        Config {
            kind,
            kernel,
            stride,
            padding,
            input,
        }
    }

    /// A configuration with an absurd size somewhere (a kernel, stride, padding or dilation of
    /// 2^32, 2^62 or 2^63 - 1, a channel count of the last two) on a small input: the layer
    /// must refuse it with a panic naming it, without wrapping arithmetic or an abort on
    /// allocation. (Merely large sizes are legal: 2^20 rows of padding on one axis is a
    /// 2-million-row output, and 2^32 output channels a 16 GB weight, which a machine with
    /// enough memory grants.)
    pub fn absurd(rng: &mut StdRng) -> Config {
        const HUGE: [usize; 3] = [1 << 32, 1 << 62, usize::MAX / 2];
        let mut c = Config::random(rng);
        let huge = |rng: &mut StdRng| HUGE[rng.random_range(0..HUGE.len())];
        let pick = |rng: &mut StdRng, v: usize| if rng.random_bool(0.5) { huge(rng) } else { v };
        let channels = |rng: &mut StdRng, v: usize| {
            if rng.random_bool(0.5) {
                HUGE[rng.random_range(1..3)]
            } else {
                v
            }
        };
        match rng.random_range(0..5) {
            0 => c.kernel = (pick(rng, c.kernel.0), pick(rng, c.kernel.1)),
            1 => c.stride = (pick(rng, c.stride.0), pick(rng, c.stride.1)),
            2 => c.padding = (pick(rng, c.padding.0), pick(rng, c.padding.1)),
            3 => {
                if let Kind::Conv { dilation, .. } = &mut c.kind {
                    *dilation = (pick(rng, dilation.0), pick(rng, dilation.1));
                }
            }
            _ => {
                if let Kind::Conv { out_channels, .. } = &mut c.kind {
                    *out_channels = channels(rng, *out_channels);
                }
            }
        }
        c
    }

    /// The layer's type name as its panics begin with it (`Conv2d`, `MaxPool2d`, `AvgPool2d`).
    pub fn layer_name(&self) -> &'static str {
        match self.kind {
            Kind::Conv { .. } => "Conv2d",
            Kind::MaxPool => "MaxPool2d",
            Kind::AvgPool => "AvgPool2d",
        }
    }

    /// Builds the layer and runs a Train forward and a backward on random values, comparing
    /// nothing: for configurations whose reference would not fit in memory.
    pub fn run(&self, rng: &mut StdRng) {
        let mut layer = self.build(rng);
        let y = layer.forward(random(rng, &self.input), Mode::Train);
        layer.backward(y);
    }

    /// The output's height and width by PyTorch's rule.
    pub fn output(&self) -> (usize, usize) {
        let (d, [_, _, h, w]) = (self.dilation(), self.input);
        let out =
            |size: usize, k: usize, s: usize, p: usize, d: usize| (size + 2 * p - (d * (k - 1) + 1)) / s + 1;
        (
            out(h, self.kernel.0, self.stride.0, self.padding.0, d.0),
            out(w, self.kernel.1, self.stride.1, self.padding.1, d.1),
        )
    }

    fn dilation(&self) -> (usize, usize) {
        match self.kind {
            Kind::Conv { dilation, .. } => dilation,
            _ => (1, 1),
        }
    }

    /// Builds the layer, runs an Eval and a Train forward and a backward on random values from
    /// `rng`, and compares the output, the input gradient and the parameter gradients with the
    /// f64 reference; `Err` describes the first difference.
    pub fn check(&self, rng: &mut StdRng) -> Result<(), String> {
        let mut layer = self.build(rng);
        let x = random(rng, &self.input);
        let (oh, ow) = self.output();
        let out_c = match self.kind {
            Kind::Conv { out_channels, .. } => out_channels,
            _ => self.input[1],
        };
        let g = random(rng, &[self.input[0], out_c, oh, ow]);
        let mut params = Vec::new();
        for_each_param(&mut layer, |_, p| params.push(p.value.to_owned()));
        let reference = self.reference(&x, &params, &g);

        let eval = layer.forward(x.clone(), Mode::Eval);
        let y = layer.forward(x, Mode::Train);
        if eval != y {
            return Err(format!("{self:?}: the Eval and Train forwards differ"));
        }
        compare(self, "output", &y, &reference.y)?;
        let dx = layer.backward(g);
        compare(self, "input gradient", &dx, &reference.dx)?;
        let mut grads = Vec::new();
        for_each_param(&mut layer, |name, p| {
            grads.push((name.to_string(), p.grad.to_owned()))
        });
        for ((name, grad), want) in grads.iter().zip(&reference.params) {
            compare(self, &format!("gradient of {name}"), grad, want)?;
        }
        Ok(())
    }

    fn build(&self, rng: &mut StdRng) -> Box<dyn Layer> {
        match self.kind {
            Kind::Conv {
                out_channels,
                groups,
                dilation,
                bias,
            } => {
                let mut conv = Conv2d::builder(self.input[1], out_channels, self.kernel)
                    .stride(self.stride)
                    .padding(self.padding)
                    .dilation(dilation)
                    .groups(groups)
                    .bias(bias)
                    .build(Init::He, rng);
                // A zero bias would hide a bias added to the wrong channel.
                for_each_param(&mut conv, |name, mut p| {
                    if name == "bias" {
                        p.value.mapv_inplace(|_| rng.random_range(-1.0..1.0));
                    }
                });
                Box::new(conv)
            }
            Kind::MaxPool => Box::new(
                MaxPool2d::new(self.kernel)
                    .with_stride(self.stride)
                    .with_padding(self.padding),
            ),
            Kind::AvgPool => Box::new(
                AvgPool2d::new(self.kernel)
                    .with_stride(self.stride)
                    .with_padding(self.padding),
            ),
        }
    }

    /// The layer by its definition, in f64: every output position's window walked tap by tap.
    fn reference(&self, x: &Tensor, params: &[Tensor], g: &Tensor) -> Reference {
        let [n, c, h, w] = self.input;
        let (oh, ow) = self.output();
        let (kh, kw) = self.kernel;
        let (dh, dw) = self.dilation();
        let out_c = g.shape()[1];
        let (groups, bias) = match self.kind {
            Kind::Conv { groups, bias, .. } => (groups, bias),
            _ => (c, false),
        };
        let (cg, og) = (c / groups, out_c / groups);
        let mut r = Reference {
            y: Approx::zeros(&[n, out_c, oh, ow]),
            dx: Approx::zeros(&[n, c, h, w]),
            params: params.iter().map(|p| Approx::zeros(p.shape())).collect(),
        };
        // The input position a tap reads, if it is inside the image (not padding).
        let at = |o: usize, k: usize, s: usize, d: usize, p: usize, size: usize| {
            (o * s + k * d).checked_sub(p).filter(|&v| v < size)
        };
        for b in 0..n {
            for o in 0..out_c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let out = [b, o, oy, ox];
                        let grad = f64::from(g[out]);
                        // (input index, weight index) of every tap inside the image.
                        let mut taps = Vec::new();
                        let channels = match self.kind {
                            Kind::Conv { .. } => (o / og) * cg..(o / og + 1) * cg,
                            _ => o..o + 1,
                        };
                        for ci in channels {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let (Some(y), Some(xx)) = (
                                        at(oy, ky, self.stride.0, dh, self.padding.0, h),
                                        at(ox, kx, self.stride.1, dw, self.padding.1, w),
                                    ) else {
                                        continue;
                                    };
                                    taps.push(([b, ci, y, xx], [o, ci % cg, ky, kx]));
                                }
                            }
                        }
                        match self.kind {
                            Kind::Conv { .. } => {
                                if bias {
                                    let b0 = f64::from(params[1][[o]]);
                                    r.y.add(&out, b0);
                                    r.params[1].add(&[o], grad);
                                }
                                for (xi, wi) in taps {
                                    let (xv, wv) = (f64::from(x[xi]), f64::from(params[0][wi]));
                                    r.y.add(&out, xv * wv);
                                    r.dx.add(&xi, grad * wv);
                                    r.params[0].add(&wi, grad * xv);
                                }
                            }
                            Kind::MaxPool => {
                                // The first maximum in row-major order wins; NaN is not drawn.
                                let best = taps
                                    .iter()
                                    .map(|&(xi, _)| xi)
                                    .reduce(|best, xi| if x[xi] > x[best] { xi } else { best })
                                    .expect("padding is at most half the kernel");
                                r.y.add(&out, f64::from(x[best]));
                                r.dx.add(&best, grad);
                            }
                            Kind::AvgPool => {
                                let taps_total = (kh * kw) as f64;
                                for (xi, _) in taps {
                                    r.y.add(&out, f64::from(x[xi]) / taps_total);
                                    r.dx.add(&xi, grad / taps_total);
                                }
                            }
                        }
                    }
                }
            }
        }
        r
    }
}

/// The reference's results.
struct Reference {
    y: Approx,
    dx: Approx,
    /// The parameter gradients, in visiting order (weight, then bias).
    params: Vec<Approx>,
}

/// An f64 tensor, with the sum of the magnitudes of the terms added into each value: f32
/// arithmetic can be off by a few units in the last place of that sum, not of the value.
struct Approx {
    shape: Vec<usize>,
    value: Vec<f64>,
    magnitude: Vec<f64>,
}

impl Approx {
    fn zeros(shape: &[usize]) -> Approx {
        let len = shape.iter().product();
        Approx {
            shape: shape.to_vec(),
            value: vec![0.0; len],
            magnitude: vec![0.0; len],
        }
    }

    fn add(&mut self, index: &[usize], v: f64) {
        let i = index.iter().zip(&self.shape).fold(0, |acc, (&i, &n)| acc * n + i);
        self.value[i] += v;
        self.magnitude[i] += v.abs();
    }
}

/// `Err` naming `what` and the first element of `got` off `want` by more than f32 rounding.
fn compare(config: &Config, what: &str, got: &Tensor, want: &Approx) -> Result<(), String> {
    if got.shape() != want.shape.as_slice() {
        return Err(format!(
            "{config:?}: {what} has shape {:?}, expected {:?}",
            got.shape(),
            want.shape
        ));
    }
    let worst = got
        .iter()
        .zip(want.value.iter().zip(&want.magnitude))
        .enumerate()
        // A NaN is never close.
        .find(|(_, (&a, (&b, &m)))| {
            (f64::from(a) - b).abs().is_nan() || (f64::from(a) - b).abs() > 1e-5 * (m + 1e-3)
        });
    match worst {
        None => Ok(()),
        Some((i, (a, (b, _)))) => Err(format!(
            "{config:?}: {what} element {i} is {a}, the f64 reference gives {b}"
        )),
    }
}

/// Values uniform in [-1, 1).
fn random(rng: &mut StdRng, shape: &[usize]) -> Tensor {
    Tensor::from_shape_simple_fn(shape.to_vec(), || rng.random_range(-1.0..1.0))
}
