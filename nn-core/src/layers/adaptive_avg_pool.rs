//! Adaptive average pooling: any input size to a fixed output size (PyTorch's
//! `nn.AdaptiveAvgPool2d`).

use super::nchw::Size2;
use super::resample::{check_planes, Resample};
use super::sizes::{checked_forward_len, checked_len};
use crate::layer::{Layer, Mode};
use crate::tensor::Tensor;
use std::fmt;

/// Average pooling of `[N, C, H, W]` to `[N, C, OH, OW]` whatever `H` and `W` (PyTorch's
/// `nn.AdaptiveAvgPool2d(output_size)`): output row `i` averages the input rows
/// `floor(i * H / OH) .. ceil((i + 1) * H / OH)`, and columns likewise, PyTorch's bins exactly
/// (they overlap when the size does not divide, and repeat rows when the output is larger).
///
/// `AdaptiveAvgPool2d::new(1)` is the global average pooling of a ResNet's head, keeping the
/// `1 x 1` plane (follow it by [`Flatten`](super::Flatten); [`GlobalAvgPool2d`](super::GlobalAvgPool2d)
/// does both at once).
///
/// ```
/// use nn_core::{layers::AdaptiveAvgPool2d, Layer, Mode, Tensor};
/// let mut pool = AdaptiveAvgPool2d::new((2, 3));
/// let y = pool.forward(Tensor::ones(vec![4, 8, 7, 7]), Mode::Eval);
/// assert!(y.shape() == [4, 8, 2, 3] && y.iter().all(|&v| v == 1.0));
/// ```
#[derive(Clone, Debug)]
pub struct AdaptiveAvgPool2d {
    output: Size2,
    /// The input rows and columns of each output row and column, for the last input size.
    bins: Bins,
    buffers: Resample,
}

/// The bins of one input size: `rows[i]` and `cols[j]` are the input ranges averaged into
/// output position `(i, j)`.
#[derive(Clone, Debug, Default)]
struct Bins {
    input: Option<Size2>,
    rows: Vec<(usize, usize)>,
    cols: Vec<(usize, usize)>,
}

impl Bins {
    /// Recomputes the bins for an `input`-sized plane if it differs from the last one.
    fn fit(&mut self, input: Size2, output: Size2) {
        if self.input == Some(input) {
            return;
        }
        self.input = Some(input);
        fill_bins(&mut self.rows, input.h, output.h);
        fill_bins(&mut self.cols, input.w, output.w);
    }
}

/// PyTorch's adaptive bins of `size` values into `out`: `floor(i * size / out)` to
/// `ceil((i + 1) * size / out)`, computed in u128 so that no product overflows.
fn fill_bins(bins: &mut Vec<(usize, usize)>, size: usize, out: usize) {
    let (size, out_u) = (size as u128, out as u128);
    bins.clear();
    bins.extend((0..out as u128).map(|i| {
        let start = i * size / out_u;
        let end = ((i + 1) * size).div_ceil(out_u);
        (start as usize, end as usize)
    }));
}

impl AdaptiveAvgPool2d {
    /// Pooling to `output_size` (`7` or `(2, 3)`).
    ///
    /// # Panics
    /// If a side is 0, or the output plane holds more values than a tensor can.
    pub fn new(output_size: impl Into<Size2>) -> Self {
        let output = output_size.into();
        assert!(
            output.h > 0 && output.w > 0,
            "AdaptiveAvgPool2d: output_size must be at least 1x1, got {output}"
        );
        checked_len("AdaptiveAvgPool2d", "output_size", &[output.h, output.w]);
        AdaptiveAvgPool2d {
            output,
            bins: Bins::default(),
            buffers: Resample::default(),
        }
    }

    /// The output's height and width.
    pub fn output_size(&self) -> Size2 {
        self.output
    }
}

impl Layer for AdaptiveAvgPool2d {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let shape @ [n, c, h, w] = check_planes(&x, "AdaptiveAvgPool2d");
        let out = self.output;
        checked_forward_len("output", &[n, c, out.h, out.w]);
        self.bins.fit(Size2 { h, w }, out);
        let bins = &self.bins;
        self.buffers
            .forward(x, shape, out, mode, "AdaptiveAvgPool2d", |x, y| {
                for (&(y0, y1), y) in bins.rows.iter().zip(y.chunks_exact_mut(out.w)) {
                    for (&(x0, x1), v) in bins.cols.iter().zip(y) {
                        let mut sum = 0.0;
                        for r in y0..y1 {
                            for &u in &x[r * w + x0..r * w + x1] {
                                sum += u;
                            }
                        }
                        *v = sum / ((y1 - y0) * (x1 - x0)) as f32;
                    }
                }
            })
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let shape @ [_, _, h, w] = self.buffers.take_input_shape(Name(self.output));
        let out = self.output;
        self.bins.fit(Size2 { h, w }, out);
        let bins = &self.bins;
        self.buffers
            .backward(grad, shape, out, "AdaptiveAvgPool2d", |g, dx| {
                for (&(y0, y1), g) in bins.rows.iter().zip(g.chunks_exact(out.w)) {
                    for (&(x0, x1), &g) in bins.cols.iter().zip(g) {
                        let share = g / ((y1 - y0) * (x1 - x0)) as f32;
                        for r in y0..y1 {
                            for d in &mut dx[r * w + x0..r * w + x1] {
                                *d += share;
                            }
                        }
                    }
                }
            })
    }

    fn type_name(&self) -> String {
        Name(self.output).to_string()
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// `AdaptiveAvgPool2d(2x3)`, formatted only when shown.
struct Name(Size2);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdaptiveAvgPool2d({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{forward_child, panic_message};
    use crate::layers::contract::{check_layer, check_threads, input};
    use ndarray::IxDyn;

    /// Adaptive average pooling by its definition in f64, bins from PyTorch's formula in floats.
    fn reference(x: &Tensor, out: Size2) -> Tensor {
        let &[n, c, h, w] = x.shape() else { panic!() };
        let bin = |i: usize, size: usize, out: usize| {
            let start = (i as f64 * size as f64 / out as f64).floor() as usize;
            let end = ((i + 1) as f64 * size as f64 / out as f64).ceil() as usize;
            start..end
        };
        Tensor::from_shape_fn(IxDyn(&[n, c, out.h, out.w]), |i| {
            let (rows, cols) = (bin(i[2], h, out.h), bin(i[3], w, out.w));
            let count = (rows.len() * cols.len()) as f64;
            let mut sum = 0.0;
            for r in rows {
                for k in cols.clone() {
                    sum += f64::from(x[[i[0], i[1], r, k]]);
                }
            }
            (sum / count) as f32
        })
    }

    #[test]
    fn bins_follow_pytorch_for_every_size() {
        for (size, out) in [(7, 3), (5, 5), (10, 4), (3, 7), (1, 4), (28, 1), (6, 4)] {
            let mut bins = Vec::new();
            fill_bins(&mut bins, size, out);
            for (i, &(start, end)) in bins.iter().enumerate() {
                assert_eq!(start, i * size / out, "{size} -> {out}");
                assert_eq!(end, ((i + 1) * size).div_ceil(out), "{size} -> {out}");
                assert!(start < end && end <= size);
            }
        }
        // No overflow where i * size exceeds u64.
        let mut bins = Vec::new();
        fill_bins(&mut bins, 1 << 40, 1 << 3);
        assert_eq!(bins[7], (7 << 37, 1 << 40));
    }

    #[test]
    fn forward_matches_the_definition() {
        for (shape, out) in [
            ([2, 3, 7, 7], Size2::from(3)),
            ([1, 2, 5, 9], Size2::from((2, 4))),
            ([2, 1, 3, 2], Size2::from((5, 4))),
            ([1, 2, 6, 6], Size2::from(1)),
        ] {
            let x = input(&shape);
            let y = AdaptiveAvgPool2d::new(out).forward(x.clone(), Mode::Train);
            crate::layers::assert_close(&y, &reference(&x, out), 1e-6);
        }
    }

    #[test]
    fn keeps_the_layer_contract_in_several_configurations() {
        for (shape, out, expected) in [
            (&[2, 3, 7, 6][..], Size2::from(3), [2, 3, 3, 3]),
            (&[1, 2, 5, 9], Size2::from((2, 4)), [1, 2, 2, 4]),
            (&[2, 1, 3, 2], Size2::from((5, 4)), [2, 1, 5, 4]),
            (&[2, 2, 4, 4], Size2::from(1), [2, 2, 1, 1]),
        ] {
            let mut pool = AdaptiveAvgPool2d::new(out);
            assert_eq!(check_layer(&mut pool, shape), expected);
        }
    }

    #[test]
    fn bad_shapes_and_options_name_the_layer() {
        let msg = panic_message(|| {
            AdaptiveAvgPool2d::new((0, 2));
        });
        assert_eq!(
            msg,
            "AdaptiveAvgPool2d: output_size must be at least 1x1, got 0x2"
        );
        let msg = panic_message(|| {
            AdaptiveAvgPool2d::new((1 << 40, 1 << 40));
        });
        assert!(
            msg.starts_with(
                "AdaptiveAvgPool2d: output_size [1099511627776, 1099511627776] would hold more than"
            ),
            "{msg}"
        );
        let mut pool = AdaptiveAvgPool2d::new(2);
        let msg = panic_message(|| {
            forward_child("head.pool", &mut pool, Tensor::zeros(IxDyn(&[2, 8])), Mode::Eval);
        });
        assert_eq!(
            msg,
            "head.pool: expected a batch of images of shape [N, C, H, W], got shape [2, 8]"
        );
        let msg = panic_message(|| {
            forward_child(
                "head.pool",
                &mut pool,
                Tensor::zeros(IxDyn(&[2, 8, 0, 3])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "head.pool: expected images of at least 1x1 pixels, got shape [2, 8, 0, 3]"
        );
        assert_eq!(pool.type_name(), "AdaptiveAvgPool2d(2x2)");
    }

    #[test]
    fn a_large_batch_split_over_threads_gives_the_bits_of_one_thread() {
        check_threads(&mut AdaptiveAvgPool2d::new(3), &[32, 8, 14, 14]);
    }
}
