//! The toolkit of blocks whose input takes several paths: a residual sum, a body plus a shortcut,
//! concatenated branches. The code `#[derive(Sequential)]` generates for a field marked
//! `#[sequential(shortcut)]` calls these functions, and so do [`Residual`] and [`Concat`].
//!
//! Every path consumes its input (a convolution keeps it for backward), so a block hands each
//! path but one a copy: [`fork`] writes it into a spare buffer, and the tensor a block no longer
//! needs after combining its paths (the identity path's input, a shortcut's output, a path's
//! input gradient) goes back with [`recycle`]. A block takes as many spares as it gives back, so
//! a steady training step of a residual network allocates nothing. The spares are kept per
//! thread, as the layer path is: the derive cannot add a buffer field to the user's struct.
//!
//! An Eval forward neither takes nor gives spares, so that inference on a whole test set at once
//! leaves no buffer of that size behind, and training after a validation pass finds its spares
//! where it left them: its large copies come from, and go back to, the buffers the running
//! container's forward is done with (`crate::pages`), which are freed when it ends.
//!
//! [`Residual`]: crate::layers::Residual
//! [`Concat`]: crate::layers::Concat

use crate::layer::trace::{self, Role};
use crate::layer::{layer_panic, Layer, Mode, PathGuard};
use crate::linalg::{vectorized, PARALLEL_MIN_LEN};
use crate::pages;
use crate::tensor::Tensor;
use crate::threads::{both, num_threads};
use ndarray::IxDyn;
use std::cell::RefCell;

/// Spare buffers kept at most per thread: a few cover blocks nested in blocks and concatenations
/// of several branches; more would only hold memory.
const MAX_SPARES: usize = 8;

thread_local! {
    /// Storage of tensors that blocks gave back, for the next copies.
    static SPARES: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A copy of `x` for a second path: in [`Mode::Train`] (and in backward) in standard layout, in a
/// spare buffer when one is free; in [`Mode::Eval`] newly allocated.
pub fn fork(x: &Tensor, mode: Mode) -> Tensor {
    let mut copy = match (mode, x.as_slice()) {
        // A buffer the forward is done with, or zeroed by the allocator without a pass (calloc,
        // on huge pages when large); then written on both threads.
        (Mode::Eval, Some(_)) => pages::buffer(x.shape()),
        (Mode::Eval, None) => return x.clone(),
        (Mode::Train, _) => spare(x.shape()),
    };
    match (copy.as_slice_mut(), x.as_slice()) {
        (Some(to), Some(from)) => halves(to, from, &|to, from| to.copy_from_slice(from)),
        _ => copy.assign(x),
    }
    copy
}

/// `sum += other` element by element (the shapes are equal): the paths of a block joined.
pub(crate) fn add_paths(sum: &mut Tensor, other: &Tensor) {
    debug_assert_eq!(sum.shape(), other.shape());
    match (sum.as_slice_mut(), other.as_slice()) {
        (Some(to), Some(from)) => halves(to, from, &|to, from| {
            vectorized(
                #[inline(always)]
                || {
                    for (t, &f) in to.iter_mut().zip(from) {
                        *t += f;
                    }
                },
            )
        }),
        _ => *sum += other,
    }
}

/// `f(to, from)` on the two slices (of equal length), or on their halves on nn's two threads
/// when they are long: each value is computed alone, so the split changes no bit.
fn halves(to: &mut [f32], from: &[f32], f: &(impl Fn(&mut [f32], &[f32]) + Sync)) {
    if to.len() < PARALLEL_MIN_LEN || num_threads() < 2 {
        return f(to, from);
    }
    let half = to.len() / 2;
    let ((t0, t1), (f0, f1)) = (to.split_at_mut(half), from.split_at(half));
    both(|| f(t0, f0), || f(t1, f1));
}

/// Gives `t`'s storage back for a later [`fork`], once a block has combined its paths in a forward
/// of `mode` (or in backward, as [`Mode::Train`]); in [`Mode::Eval`], to the running container's
/// forward if large (see [`EvalScope`](crate::layer::EvalScope)), or frees it.
pub fn recycle(t: Tensor, mode: Mode) {
    if mode == Mode::Eval {
        return pages::give_back(t);
    }
    let (data, _) = t.into_raw_vec_and_offset();
    if data.capacity() == 0 {
        return;
    }
    let _ = SPARES.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() == MAX_SPARES {
            // Keep the larger buffers: they serve any smaller copy too.
            let (i, smallest) = s
                .iter()
                .enumerate()
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, v)| (i, v.capacity()))
                .expect("full");
            if smallest >= data.capacity() {
                return;
            }
            s.swap_remove(i);
        }
        s.push(data);
    });
}

/// A tensor of `shape` with unspecified contents, in the smallest spare buffer that holds it (or
/// the largest one, grown, or a new one).
fn spare(shape: &[usize]) -> Tensor {
    let len: usize = shape.iter().product();
    let mut data = SPARES
        .try_with(|s| {
            let mut s = s.borrow_mut();
            let fits = (0..s.len())
                .filter(|&i| s[i].capacity() >= len)
                .min_by_key(|&i| s[i].capacity());
            let largest = (0..s.len()).max_by_key(|&i| s[i].capacity());
            fits.or(largest).map(|i| s.swap_remove(i))
        })
        .ok()
        .flatten()
        .unwrap_or_default();
    // Only the part beyond the old length is written: the caller overwrites it all anyway.
    if data.len() >= len {
        data.truncate(len);
    } else {
        data.resize(len, 0.0);
    }
    Tensor::from_shape_vec(IxDyn(shape), data).expect("sized to the shape")
}

/// Runs `layer.forward` as a branch named `name` of the running block: a path that starts from the
/// block's input (the layer path and [`crate::summary()`] show it so).
#[track_caller]
pub fn forward_branch<L: Layer + ?Sized>(name: &str, layer: &mut L, x: Tensor, mode: Mode) -> Tensor {
    let _guard = PathGuard::push(name);
    trace::forward(layer, x, mode, Role::Branch)
}

/// The forward of a field marked `#[sequential(shortcut)]`: runs the shortcut `name` on `input`
/// (a [`fork`] of the block's input) and adds its output to `body`, the output of the fields
/// before it.
///
/// Panics, naming the block path and the three shapes, if the two outputs differ in shape: this
/// is the first forward of a block whose shortcut does not match its body.
#[track_caller]
pub fn shortcut_forward<L: Layer + ?Sized>(
    name: &str,
    shortcut: &mut L,
    mut body: Tensor,
    input: Tensor,
    mode: Mode,
) -> Tensor {
    let input_shape = ShapeText::of(&input);
    let path = {
        let _guard = PathGuard::push(name);
        trace::forward(shortcut, input, mode, Role::Shortcut)
    };
    if path.shape() != body.shape() {
        layer_panic(format_args!(
            "cannot add the shortcut `{name}` to the fields before it: for the block's input of \
             shape {input_shape}, they give {:?} and the shortcut gives {:?}. Give the shortcut \
             the body's stride and output channels (such as a 1x1 Conv2d with that stride, then \
             BatchNorm2d) where the shape changes",
            body.shape(),
            path.shape()
        ));
    }
    add_paths(&mut body, &path);
    recycle(path, mode);
    body
}

/// The backward of a field marked `#[sequential(shortcut)]`: the shortcut's input gradient for
/// `grad`, the gradient of the block's sum (copied: the fields before it get `grad` itself).
/// [`add_input_grads`] adds it to theirs.
pub fn shortcut_backward<L: Layer + ?Sized>(name: &str, shortcut: &mut L, grad: &Tensor) -> Tensor {
    let _guard = PathGuard::push(name);
    shortcut.backward(fork(grad, Mode::Train))
}

/// In backward: adds the input gradient of a second path (`other`) to `grad`, then recycles
/// `other`.
///
/// Panics, naming the block path and both shapes, if they differ: a path whose backward does not
/// return a gradient of its forward's input shape.
pub fn add_input_grads(mut grad: Tensor, other: Tensor) -> Tensor {
    if grad.shape() != other.shape() {
        layer_panic(format_args!(
            "the paths of this block returned input gradients of different shapes, {:?} and {:?}: \
             a path's backward must return a gradient of its input's shape",
            grad.shape(),
            other.shape()
        ));
    }
    add_paths(&mut grad, &other);
    recycle(other, Mode::Train);
    grad
}

/// A tensor's shape as text, kept only in case a panic needs it without holding the tensor.
/// Fixed-size, so that a steady forward allocates nothing.
struct ShapeText {
    dims: [usize; 8],
    ndim: usize,
}

impl ShapeText {
    fn of(t: &Tensor) -> Self {
        let mut dims = [0; 8];
        let ndim = t.ndim().min(8);
        dims[..ndim].copy_from_slice(&t.shape()[..ndim]);
        ShapeText { dims, ndim }
    }
}

impl std::fmt::Display for ShapeText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", &self.dims[..self.ndim])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fork_reuses_the_storage_given_back() {
        let t = Tensor::from_elem(IxDyn(&[3, 4]), 2.0);
        let ptr = t.as_ptr();
        recycle(t, Mode::Train);
        let x = Tensor::from_shape_fn(IxDyn(&[2, 5]), |i| (i[0] * 5 + i[1]) as f32);
        let copy = fork(&x, Mode::Train);
        assert_eq!((copy.as_ptr(), &copy), (ptr, &x));
        // A transposed input is copied in logical order.
        let copy = fork(&x.t().to_owned().reversed_axes(), Mode::Train);
        assert_eq!(copy, x);
    }

    #[test]
    fn paths_add_and_fork_alike_on_any_thread_count_and_layout() {
        // 40,000 values: long enough to be split over two threads.
        let a = Tensor::from_shape_fn(IxDyn(&[4, 100, 100]), |i| {
            (i[0] * 7 + i[1] * 3 + i[2]) as f32 * 0.25
        });
        let b = Tensor::from_shape_fn(IxDyn(&[4, 100, 100]), |i| (i[2] * 5 + i[1]) as f32 - 0.5);
        let expected = Tensor::from_shape_fn(IxDyn(&[4, 100, 100]), |i| a[&i] + b[&i]);
        for threads in [1, 2] {
            crate::linalg::set_num_threads(threads);
            assert_eq!(fork(&a, Mode::Eval), a, "{threads} threads");
            let mut sum = fork(&a, Mode::Train);
            assert_eq!(sum, a, "{threads} threads");
            add_paths(&mut sum, &b);
            assert_eq!(sum, expected, "{threads} threads");
        }
        crate::linalg::set_num_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
        // A tensor in another memory order takes ndarray's element-wise path.
        let mut sum = a.clone();
        let other_order = Tensor::from_shape_fn(IxDyn(&[100, 100, 4]), |i| b[[i[2], i[1], i[0]]])
            .permuted_axes(IxDyn(&[2, 1, 0]));
        assert!(other_order.as_slice().is_none());
        add_paths(&mut sum, &other_order);
        assert_eq!(sum, expected);
    }

    #[test]
    fn a_fork_takes_the_smallest_spare_that_fits() {
        let (big, small) = (Tensor::zeros(IxDyn(&[100])), Tensor::zeros(IxDyn(&[10])));
        let (pb, ps) = (big.as_ptr(), small.as_ptr());
        recycle(big, Mode::Train);
        recycle(small, Mode::Train);
        assert_eq!(fork(&Tensor::ones(IxDyn(&[8])), Mode::Train).as_ptr(), ps);
        assert_eq!(fork(&Tensor::ones(IxDyn(&[50])), Mode::Train).as_ptr(), pb);
    }

    #[test]
    fn an_eval_forward_leaves_the_spares_alone() {
        let t = Tensor::zeros(IxDyn(&[6]));
        let ptr = t.as_ptr();
        recycle(t, Mode::Train);
        // An inference-sized tensor is not kept, and an Eval copy does not take the spare.
        recycle(Tensor::zeros(IxDyn(&[1000])), Mode::Eval);
        let x = Tensor::ones(IxDyn(&[5]));
        let eval = fork(&x, Mode::Eval);
        assert_ne!(eval.as_ptr(), ptr);
        assert_eq!(eval, x);
        assert_eq!(fork(&x, Mode::Train).as_ptr(), ptr);
        assert_eq!(SPARES.with(|s| s.borrow().len()), 0);
    }
}
