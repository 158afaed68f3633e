//! Size arithmetic for layer construction, checked: an absurd configuration is a clear panic
//! naming the layer and the limit, before anything is allocated (never a wrapped product, a
//! failed allocation or an abort).

/// The most f32 values one tensor may hold: its bytes must fit in `isize`, as every Rust
/// allocation's do.
pub(crate) const MAX_VALUES: usize = isize::MAX as usize / std::mem::size_of::<f32>();

/// The product of `dims`, the number of values of a tensor of that shape. Panics, naming
/// `layer` and `what`, if it overflows or exceeds [`MAX_VALUES`].
#[track_caller]
pub(crate) fn checked_len(layer: &str, what: &str, dims: &[usize]) -> usize {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_VALUES)
        .unwrap_or_else(|| {
            panic!(
                "{layer}: {what} {dims:?} would hold more than {MAX_VALUES} values (the most one \
                 tensor can address)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::panic_message;

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
    }
}
