//! The core every element-wise activation shares: a function, its derivative, and what backward
//! needs of each element, turned into a layer once by [`Elementwise`].
//!
//! An activation is then a few lines: a type implementing [`ElementwiseFn`] and an alias such as
//! `pub type Relu = Elementwise<ReluFn>`. The layer works in place on the tensor it is handed,
//! keeps one value per element in a buffer reused from step to step, and spreads a large batch
//! over nn's threads (each element is computed alone, so the split changes no bit).

use super::par::{self, PARTS};
use crate::layer::{contiguous, Layer, Mode, Saved};
use crate::linalg::vectorized;
use crate::tensor::Tensor;
use std::fmt;

/// A function applied to each element, and its derivative: what an [`Elementwise`] layer is
/// made of. A Train forward computes the value and what backward needs of each element in one
/// call, so that work they share (GELU's erf, SiLU's sigmoid) is done once per step. Mark the
/// per-element methods `#[inline(always)]`, so that the layer's loops are compiled with them
/// inside.
///
/// ```
/// use nn_core::layers::{Elementwise, ElementwiseFn};
/// use nn_core::{gradcheck, Layer, Mode, Tensor};
///
/// /// `x^3`; backward keeps its derivative `3x^2`.
/// #[derive(Clone, Debug, Default)]
/// struct CubeFn;
///
/// impl ElementwiseFn for CubeFn {
///     type Kept = f32;
///     fn name(&self) -> String {
///         "Cube".to_string()
///     }
///     #[inline(always)]
///     fn value(&self, x: f32) -> f32 {
///         x * x * x
///     }
///     #[inline(always)]
///     fn value_and_kept(&self, x: f32) -> (f32, f32) {
///         (x * x * x, 3.0 * x * x)
///     }
///     #[inline(always)]
///     fn grad(&self, g: f32, slope: f32) -> f32 {
///         g * slope
///     }
/// }
///
/// let mut cube = Elementwise::from_fn(CubeFn);
/// assert_eq!(cube.forward(Tensor::from_elem(vec![1, 2], 2.0), Mode::Eval)[[0, 1]], 8.0);
/// gradcheck(&mut cube, &[3, 4]).assert_passed();
/// ```
pub trait ElementwiseFn: Clone + fmt::Debug + Send + Sync {
    /// What backward needs of each element: the output (sigmoid), the derivative (GELU) or
    /// only whether the input was positive (ReLU, a quarter of the memory).
    type Kept: Copy + Default + fmt::Debug + Send + Sync;

    /// Whether the layer's loops are compiled for the CPU's vector instructions
    /// ([`vectorized`]). Leave it `true` for arithmetic (ReLU, a polynomial); set it `false`
    /// when [`value`] or [`grad`] calls a library function such as `exp`, `tanh` or `erf`:
    /// the compiler would then vectorise the loop around one scalar call per lane, moving every
    /// value out of its vector register and back, which measured 1.5 times slower for the
    /// sigmoid than the plain loop.
    ///
    /// [`value`]: ElementwiseFn::value
    /// [`grad`]: ElementwiseFn::grad
    const VECTORIZE: bool = true;

    /// The layer's name in summaries and panics, such as `LeakyRelu(0.2)`.
    fn name(&self) -> String;

    /// `f(x)`, for an Eval forward.
    fn value(&self, x: f32) -> f32;

    /// `f(x)`, the same bits as [`value`], and what backward will need of this element, for a
    /// Train forward.
    ///
    /// [`value`]: ElementwiseFn::value
    fn value_and_kept(&self, x: f32) -> (f32, Self::Kept);

    /// The input gradient `g * f'(x)`, from the output gradient `g` and what
    /// [`value_and_kept`] kept.
    ///
    /// [`value_and_kept`]: ElementwiseFn::value_and_kept
    fn grad(&self, g: f32, kept: Self::Kept) -> f32;
}

/// An element-wise activation layer: applies `F` to every element of its input, whatever the
/// input's shape. [`Relu`](super::Relu), [`Gelu`](super::Gelu) and the other built-in
/// activations are aliases of it.
#[derive(Clone, Debug, Default)]
pub struct Elementwise<F: ElementwiseFn> {
    f: F,
    kept: Saved<F::Kept>,
}

impl<F: ElementwiseFn> Elementwise<F> {
    /// The layer applying `f`.
    pub fn from_fn(f: F) -> Self {
        Elementwise {
            f,
            kept: Saved::new(),
        }
    }

    /// The function it applies.
    pub fn function(&self) -> &F {
        &self.f
    }
}

/// Formats `F`'s name only when a panic message needs it, so a steady step allocates nothing.
struct Name<'a, F>(&'a F);

impl<F: ElementwiseFn> fmt::Display for Name<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.name())
    }
}

// `'static` so that the layer can be seen as `Any` (ONNX export finds the activations by type).
impl<F: ElementwiseFn + 'static> Layer for Elementwise<F> {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let mut x = contiguous(x);
        let f = &self.f;
        if mode == Mode::Train {
            let kept = self.kept.prepare(x.shape());
            let ks = kept.as_slice_mut().expect("a stash is standard layout");
            let xs = x.as_slice_mut().expect("standard layout");
            zip_parts(xs, ks, &|xs: &mut [f32], ks: &mut [F::Kept]| {
                run::<F>(
                    #[inline(always)]
                    || {
                        for (v, k) in xs.iter_mut().zip(ks) {
                            (*v, *k) = f.value_and_kept(*v);
                        }
                    },
                )
            });
        } else {
            let xs = x.as_slice_mut().expect("standard layout");
            par::rows(xs, 1, &|xs: &mut [f32]| {
                run::<F>(
                    #[inline(always)]
                    || {
                        for v in xs {
                            *v = f.value(*v);
                        }
                    },
                )
            });
        }
        x
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let mut grad = contiguous(grad);
        let f = &self.f;
        let kept = self.kept.take(grad.shape(), Name(f));
        let ks = kept.as_slice().expect("a stash is standard layout");
        let gs = grad.as_slice_mut().expect("standard layout");
        zip_parts(gs, ks, &|gs: &mut [f32], ks: &[F::Kept]| {
            run::<F>(
                #[inline(always)]
                || {
                    for (g, &k) in gs.iter_mut().zip(ks) {
                        *g = f.grad(*g, k);
                    }
                },
            )
        });
        grad
    }

    fn type_name(&self) -> String {
        self.f.name()
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// Runs a loop over elements, compiled for the CPU's vector instructions if `F` asks for it.
#[inline(always)]
fn run<F: ElementwiseFn>(body: impl FnOnce()) {
    if F::VECTORIZE {
        vectorized(body)
    } else {
        body()
    }
}

/// Calls `f` on matching runs of `a` and `b` (equal lengths) that together cover them, on nn's
/// threads when they are long enough ([`par::worth_len`]).
fn zip_parts<A: Send, B: Send + SplitParts>(a: &mut [A], b: B, f: &(impl Fn(&mut [A], B) + Sync)) {
    debug_assert_eq!(a.len(), b.len());
    if !par::worth_len(a.len()) {
        return f(a, b);
    }
    let mut items: [Option<(&mut [A], B)>; PARTS] = Default::default();
    for ((slot, a), b) in items.iter_mut().zip(par::split(a, 1)).zip(b.split()) {
        *slot = Some((a, b));
    }
    par::for_each(&mut items, true, &|item: &mut Option<(&mut [A], B)>| {
        if let Some((a, b)) = item.take() {
            f(a, b)
        }
    });
}

/// A slice split like [`par::split`] splits another of its length: shared or mutable.
trait SplitParts: Sized {
    fn len(&self) -> usize;
    fn split(self) -> [Self; PARTS];
}

impl<T> SplitParts for &mut [T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split(self) -> [Self; PARTS] {
        par::split(self, 1)
    }
}

impl<T> SplitParts for &[T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split(self) -> [Self; PARTS] {
        let mut rest = self;
        let mut out: [&[T]; PARTS] = [&[]; PARTS];
        for (slot, range) in out.iter_mut().zip(par::parts(self.len())) {
            (*slot, rest) = rest.split_at(range.len());
        }
        out
    }
}
