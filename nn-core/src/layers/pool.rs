//! What the pooling layers share: their window options' checks, windows clipped to the image,
//! and running a pass over a batch's planes on nn's threads.

use super::nchw::{Size2, Window};
use super::par::{self, PARTS};

/// The input rows (or columns) under output position `o`'s window, clipped to the image. Never
/// empty: padding is at most half the kernel.
#[inline(always)]
pub(super) fn span(o: usize, kernel: usize, stride: usize, padding: usize, size: usize) -> (usize, usize) {
    let start = o * stride;
    (
        start.max(padding) - padding,
        (start + kernel).min(size + padding) - padding,
    )
}

/// Checks a pooling window's options, as PyTorch does: everything at least 1 (padding 0) and
/// padding at most half the kernel, so that every window covers part of the image.
pub(super) fn pool_window(what: &str, kernel: Size2, stride: Size2, padding: Size2) -> Window {
    assert!(
        kernel.h > 0 && kernel.w > 0 && stride.h > 0 && stride.w > 0,
        "{what}: kernel and stride must be at least 1, got kernel {kernel}, stride {stride}"
    );
    assert!(
        padding.h <= kernel.h / 2 && padding.w <= kernel.w / 2,
        "{what}: padding must be at most half the kernel, got padding {padding} for kernel {kernel}"
    );
    let mut window = Window::new(kernel, stride);
    window.padding = padding;
    window.check(what);
    window
}

/// Walks the windows of one `[h, w]` plane: `f(o, y0..y1, x0..x1)` for output index `o`.
#[inline(always)]
pub(super) fn for_each_window(
    win: &Window,
    h: usize,
    w: usize,
    out: Size2,
    mut f: impl FnMut(usize, (usize, usize), (usize, usize)),
) {
    for oy in 0..out.h {
        let rows = span(oy, win.kernel.h, win.stride.h, win.padding.h, h);
        for ox in 0..out.w {
            let cols = span(ox, win.kernel.w, win.stride.w, win.padding.w, w);
            f(oy * out.w + ox, rows, cols);
        }
    }
}

/// The argmax of a max pooling pass over some planes: written by a Train forward, read by
/// backward, absent otherwise.
#[derive(Default)]
pub(super) enum Idx<'a> {
    #[default]
    None,
    Write(&'a mut [u16]),
    Read(&'a [u16]),
}

/// One run of whole planes of a pooling pass: `a` (input or input gradient), `b` (output or
/// output gradient) and the argmax, if any, plane for plane.
pub(super) struct Planes<'a> {
    pub a: &'a mut [f32],
    pub b: &'a mut [f32],
    pub idx: Idx<'a>,
}

/// Calls `f` on runs of whole planes (`a_plane` values of `a` and `b_plane` of `b` and `idx`
/// each), spread over nn's threads for a large batch. Planes are independent, so the split
/// changes no result.
pub(super) fn for_planes(
    a: &mut [f32],
    a_plane: usize,
    b: &mut [f32],
    b_plane: usize,
    idx: Idx<'_>,
    f: impl Fn(Planes<'_>) + Sync,
) {
    let parallel = par::worth_len(a.len() + b.len());
    let (a_parts, b_parts) = (par::split(a, a_plane), par::split(b, b_plane));
    let mut idx_parts: [Idx<'_>; PARTS] = Default::default();
    match idx {
        Idx::None => {}
        Idx::Write(i) => {
            for (slot, part) in idx_parts.iter_mut().zip(par::split(i, b_plane)) {
                *slot = Idx::Write(part);
            }
        }
        Idx::Read(mut i) => {
            for (slot, b) in idx_parts.iter_mut().zip(&b_parts) {
                let (head, tail) = i.split_at(b.len());
                (*slot, i) = (Idx::Read(head), tail);
            }
        }
    }
    let mut items: [Option<Planes<'_>>; PARTS] = Default::default();
    for ((slot, (a, b)), idx) in items
        .iter_mut()
        .zip(a_parts.into_iter().zip(b_parts))
        .zip(idx_parts)
    {
        *slot = Some(Planes { a, b, idx });
    }
    par::for_each(&mut items, parallel, &|item: &mut Option<Planes<'_>>| {
        if let Some(p) = item.take() {
            f(p)
        }
    });
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{AvgPool2d, GlobalAvgPool2d, MaxPool2d};
    use crate::layer::Layer;
    use crate::layer::{backward_child, forward_child};
    use crate::layer::{panic_message, Mode};
    use crate::rng::seeded;
    use crate::tensor::Tensor;
    use ndarray::IxDyn;
    use rand::seq::SliceRandom;

    pub(in crate::layers) fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap()
    }

    /// Distinct values 0.05 apart in a shuffled order: no window has two maxima within the
    /// finite-difference step, so max pooling is smooth around it.
    pub(in crate::layers) fn distinct(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let mut v: Vec<f32> = (0..n).map(|i| 0.05 * i as f32 - 0.025 * n as f32).collect();
        v.shuffle(&mut seeded(3));
        t(shape, &v)
    }

    #[test]
    fn modes_agree_and_eval_keeps_nothing() {
        let x = distinct(&[2, 2, 5, 5]);
        let layers: Vec<Box<dyn Layer>> = vec![
            Box::new(MaxPool2d::new(2)),
            Box::new(AvgPool2d::new(2)),
            Box::new(GlobalAvgPool2d::new()),
        ];
        for mut layer in layers {
            let train = layer.forward(x.clone(), Mode::Train);
            let eval = layer.forward(x.clone(), Mode::Eval);
            assert_eq!(train, eval, "{}", layer.type_name());
            layer.backward(train.clone());
            layer.forward(x.clone(), Mode::Eval);
            let msg = panic_message(|| {
                backward_child("pool", &mut layer, train);
            });
            assert!(msg.starts_with("pool: backward called on"), "{msg}");
        }
    }

    #[test]
    fn wrong_inputs_panic_naming_the_layer_and_the_shape() {
        let msg = panic_message(|| {
            forward_child(
                "pool1",
                &mut MaxPool2d::new(2),
                Tensor::zeros(IxDyn(&[4, 26, 26])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "pool1: expected a batch of images of shape [N, C, H, W], got shape [4, 26, 26]"
        );
        let msg = panic_message(|| {
            forward_child(
                "pool1",
                &mut AvgPool2d::new(3),
                Tensor::zeros(IxDyn(&[1, 2, 2, 9])),
                Mode::Eval,
            );
        });
        assert_eq!(
            msg,
            "pool1: expected images of at least 3x3 (the 3x3 window) once padded by 0x0, got shape [1, 2, 2, 9]"
        );
        let mut pool = MaxPool2d::new(2);
        pool.forward(Tensor::zeros(IxDyn(&[1, 1, 4, 4])), Mode::Train);
        let msg = panic_message(|| {
            backward_child("pool1", &mut pool, Tensor::zeros(IxDyn(&[1, 1, 4, 4])));
        });
        assert_eq!(
            msg,
            "pool1: expected a gradient of shape [1, 1, 2, 2] (the output of the last Train forward), got [1, 1, 4, 4]"
        );
        let msg = panic_message(|| {
            MaxPool2d::new(2).with_padding(2);
        });
        assert_eq!(
            msg,
            "MaxPool2d: padding must be at most half the kernel, got padding 2x2 for kernel 2x2"
        );
    }

    /// Issue 23.6/7: a 2^32 x 2^32 kernel has 2^64 taps, which wrapped to 0 and passed the tap
    /// limit (MaxPool2d then routed gradients to the wrong taps; AvgPool2d divided by 0); a
    /// plane of no pixels gave `chunk size must be non-zero`.
    #[test]
    fn absurd_windows_and_empty_images_are_clear_panics_naming_the_layer() {
        let huge = (1usize << 32, 1usize << 32);
        let msg = panic_message(|| {
            MaxPool2d::new(huge);
        });
        assert_eq!(
            msg,
            "MaxPool2d: kernel, stride, padding and dilation are limited to 65536 per axis, got \
             kernel 4294967296x4294967296"
        );
        let msg = panic_message(|| {
            AvgPool2d::new(huge);
        });
        assert!(msg.starts_with("AvgPool2d: kernel, stride, padding"), "{msg}");
        // 2^32 taps within the per-axis limit: past the 16-bit argmax.
        let msg = panic_message(|| {
            MaxPool2d::new(1 << 16);
        });
        assert!(
            msg.starts_with("MaxPool2d: at most 65536 taps per window"),
            "{msg}"
        );
        let msg = panic_message(|| {
            AvgPool2d::new(2).with_padding(1usize << 63);
        });
        assert!(
            msg.starts_with("AvgPool2d: padding must be at most half"),
            "{msg}"
        );
        let layers: Vec<Box<dyn Layer>> = vec![
            Box::new(MaxPool2d::new(2)),
            Box::new(AvgPool2d::new(1).with_stride(2)),
            Box::new(GlobalAvgPool2d::new()),
        ];
        for mut layer in layers {
            let name = layer.type_name();
            let msg = panic_message(|| {
                layer.forward(Tensor::zeros(IxDyn(&[2, 3, 4, 0])), Mode::Train);
            });
            assert_eq!(
                msg,
                format!("{name}: expected images of at least 1x1 pixels, got shape [2, 3, 4, 0]")
            );
        }
    }

    #[test]
    fn a_batch_split_over_threads_matches_one_image_at_a_time() {
        // 16 x 4 planes of 24 x 24: large enough to be split over threads.
        let x = distinct(&[16, 4, 24, 24]);
        let layers: Vec<Box<dyn Layer>> = vec![
            Box::new(MaxPool2d::new(2)),
            Box::new(MaxPool2d::new(3).with_stride(2).with_padding(1)),
            Box::new(AvgPool2d::new(2)),
            Box::new(GlobalAvgPool2d::new()),
        ];
        for mut layer in layers {
            let y = layer.forward(x.clone(), Mode::Train);
            let g = y.mapv(|v| v * 0.5 + 1.0);
            let dx = layer.backward(g.clone());
            let image = |t: &Tensor, i: usize| t.slice_axis(ndarray::Axis(0), (i..i + 1).into()).to_owned();
            for i in [0, 7, 15] {
                assert_eq!(layer.forward(image(&x, i), Mode::Train), image(&y, i));
                assert_eq!(
                    layer.backward(image(&g, i)),
                    image(&dx, i),
                    "{}",
                    layer.type_name()
                );
            }
        }
    }
}
