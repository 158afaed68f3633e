//! The one tensor type that flows between layers.

/// An n-dimensional `f32` array, batch first: what every layer takes and returns.
pub type Tensor = ndarray::ArrayD<f32>;

/// A mutable view of a [`Tensor`]: its numbers can change, its shape cannot. Visitors hand out
/// parameters and buffers this way.
pub type TensorViewMut<'a> = ndarray::ArrayViewMutD<'a, f32>;

/// A read-only view of a [`Tensor`].
pub type TensorView<'a> = ndarray::ArrayViewD<'a, f32>;
