//! Size arithmetic of the layers, checked: an absurd configuration (at construction) or an input
//! that would make one (at forward) is a clear panic naming the layer and the limit, before
//! anything is allocated, never a wrapped product or an aborted allocation of a wrapped size.

use crate::layer::layer_panic;

/// The most f32 values one tensor may hold: its bytes must fit in `isize`, as every Rust
/// allocation's do.
pub(crate) const MAX_VALUES: usize = isize::MAX as usize / std::mem::size_of::<f32>();

/// The product of `dims`, the number of values of a tensor of that shape. Panics, naming
/// `layer` and `what`, if it overflows or exceeds [`MAX_VALUES`].
#[track_caller]
pub(crate) fn checked_len(layer: &str, what: &str, dims: &[usize]) -> usize {
    product(dims).unwrap_or_else(|| {
        panic!(
            "{layer}: {what} {dims:?} would hold more than {MAX_VALUES} values (the most one \
             tensor can address)"
        )
    })
}

/// [`checked_len`] at forward: the panic names the layer path (`dec.up1: output [...] would
/// hold ...`).
#[track_caller]
pub(crate) fn checked_forward_len(what: &str, dims: &[usize]) -> usize {
    product(dims).unwrap_or_else(|| {
        layer_panic(format_args!(
            "{what} {dims:?} would hold more than {MAX_VALUES} values (the most one tensor can \
             address)"
        ))
    })
}

/// The product of `dims` if it is at most [`MAX_VALUES`].
fn product(dims: &[usize]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_VALUES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{forward_child, panic_message, Layer, Mode};
    use crate::tensor::Tensor;

    /// A layer whose forward asks for an impossible output.
    struct Huge;

    impl Layer for Huge {
        fn forward(&mut self, x: Tensor, _: Mode) -> Tensor {
            checked_forward_len("output", &[2, 3, 1 << 62]);
            x
        }
        fn backward(&mut self, g: Tensor) -> Tensor {
            g
        }
    }

    #[test]
    fn products_are_checked_against_overflow_and_the_tensor_limit() {
        assert_eq!(checked_len("L", "weight", &[3, 4, 5]), 60);
        assert_eq!(checked_len("L", "weight", &[]), 1);
        assert_eq!(checked_len("L", "weight", &[7, 0, usize::MAX]), 0);
        let msg = panic_message(|| {
            checked_len("ConvTranspose2d", "weight", &[1 << 32, 1 << 32, 3, 3]);
        });
        assert_eq!(
            msg,
            format!(
                "ConvTranspose2d: weight [4294967296, 4294967296, 3, 3] would hold more than \
                 {MAX_VALUES} values (the most one tensor can address)"
            )
        );
        let msg = panic_message(|| {
            checked_len("LayerNorm", "normalized_shape", &[1 << 40, 1 << 30]);
        });
        assert!(
            msg.starts_with("LayerNorm: normalized_shape [1099511627776, 1073741824]"),
            "{msg}"
        );
        let msg = panic_message(|| {
            forward_child("dec.up1", &mut Huge, Tensor::zeros(vec![1]), Mode::Eval);
        });
        assert_eq!(
            msg,
            format!(
                "dec.up1: output [2, 3, 4611686018427387904] would hold more than {MAX_VALUES} \
                 values (the most one tensor can address)"
            )
        );
    }
}
