//! The values a loaded tensor may hold: finite ones (also once converted to f32), and for the
//! buffers PyTorch's names mark, the range their meaning allows. A file outside these holds
//! what no training leaves behind (a damaged file, a diverged run) and would make every
//! prediction NaN, so `load` refuses it by default (issue 23.4).

use super::dtype::{floats, integers};
use safetensors::tensor::Dtype;

/// What the values of a tensor must satisfy beyond being finite, from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Any finite value: weights, biases, `running_mean`.
    Finite,
    /// A variance (`running_var`): at least 0, or normalising by its square root gives NaN.
    NonNegative,
    /// A count (`num_batches_tracked`): a whole number at least 0.
    Count,
}

impl Rule {
    /// The rule for the model's tensor `name`, by its last part (PyTorch's BatchNorm names).
    pub(crate) fn for_name(name: &str) -> Rule {
        match name.rsplit('.').next() {
            Some("running_var") => Rule::NonNegative,
            Some("num_batches_tracked") => Rule::Count,
            _ => Rule::Finite,
        }
    }

    /// Why `v` (finite) breaks this rule, if it does.
    fn refuses(self, v: f64) -> Option<&'static str> {
        match self {
            Rule::NonNegative if v < 0.0 => Some("a running variance cannot be negative"),
            Rule::Count if v < 0.0 || v.fract() != 0.0 => {
                Some("a batch count must be a whole number of at least 0")
            }
            _ => None,
        }
    }
}

/// The first value of a tensor that breaks its rule.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BadValue {
    /// Its position in the row-major order of the tensor's elements.
    pub(crate) index: usize,
    /// The value as stored: `NaN`, `-inf`, `1e300`, `-0.5`.
    pub(crate) value: String,
    /// Why it cannot load.
    pub(crate) why: &'static str,
}

/// The first element of `bytes` (elements of `dtype`, already known to convert) that is not
/// finite, becomes infinite in f32, or breaks `rule`.
pub(crate) fn first_bad(dtype: Dtype, bytes: &[u8], rule: Rule) -> Option<BadValue> {
    if let Some(values) = floats(dtype, bytes) {
        return values.enumerate().find_map(|(index, (stored, loaded))| {
            let why = if !stored.is_finite() {
                "a loaded value must be finite"
            } else if !loaded.is_finite() {
                "it is beyond F32's range (about 3.4e38) and would load as infinity"
            } else {
                rule.refuses(stored)?
            };
            Some(BadValue {
                index,
                value: shown(stored),
                why,
            })
        });
    }
    let values = integers(dtype, bytes)?;
    values.enumerate().find_map(|(index, v)| {
        Some(BadValue {
            index,
            value: v.to_string(),
            why: rule.refuses(v as f64)?,
        })
    })
}

/// `v` as a person would write it: `-0.5`, `1e300` (not 300 digits), `NaN`.
fn shown(v: f64) -> String {
    if v.is_finite() && v != 0.0 && !(1e-4..1e7).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// `index` (row-major) as a position in `shape`: `[2, 1]`.
pub(crate) fn position(mut index: usize, shape: &[usize]) -> Vec<usize> {
    let mut at = vec![0; shape.len()];
    for (a, &n) in at.iter_mut().zip(shape).rev() {
        if n > 0 {
            *a = index % n;
            index /= n;
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn non_finite_and_out_of_range_values_are_found_with_their_index() {
        let bad = |dtype, bytes: &[u8], rule| first_bad(dtype, bytes, rule).map(|b| (b.index, b.value));
        assert_eq!(bad(Dtype::F32, &f32s(&[1.0, -2.0, 0.0]), Rule::Finite), None);
        assert_eq!(
            bad(Dtype::F32, &f32s(&[1.0, f32::NAN, f32::INFINITY]), Rule::Finite),
            Some((1, "NaN".into()))
        );
        assert_eq!(
            bad(Dtype::F32, &f32s(&[1.0, f32::NEG_INFINITY]), Rule::Finite),
            Some((1, "-inf".into()))
        );
        // 1e300 is a finite F64 and an infinite F32.
        let f64s: Vec<u8> = [0.5f64, 1e300].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = first_bad(Dtype::F64, &f64s, Rule::Finite).unwrap();
        assert_eq!((b.index, b.value.as_str()), (1, "1e300"));
        assert!(b.why.contains("beyond F32's range"), "{}", b.why);
        // F16 infinity (0x7c00) and BF16 NaN (0x7fc0).
        assert_eq!(
            bad(Dtype::F16, &[0, 0x3c, 0, 0x7c], Rule::Finite),
            Some((1, "inf".into()))
        );
        assert_eq!(
            bad(Dtype::BF16, &[0xc0, 0x7f], Rule::Finite),
            Some((0, "NaN".into()))
        );
    }

    #[test]
    fn buffers_are_held_to_their_meaning() {
        let var = f32s(&[0.0, 2.0, -0.5]);
        assert_eq!(first_bad(Dtype::F32, &var, Rule::Finite), None);
        let b = first_bad(Dtype::F32, &var, Rule::NonNegative).unwrap();
        assert_eq!((b.index, b.value.as_str()), (2, "-0.5"));
        for counter in [2.5f32, -5.0] {
            let b = first_bad(Dtype::F32, &f32s(&[counter]), Rule::Count).unwrap();
            assert!(b.why.contains("whole number"), "{counter}");
        }
        assert_eq!(first_bad(Dtype::F32, &f32s(&[1234.0]), Rule::Count), None);
        assert_eq!(
            first_bad(Dtype::I64, &(-5i64).to_le_bytes(), Rule::Count).map(|b| b.value),
            Some("-5".into())
        );
        assert_eq!(first_bad(Dtype::I64, &7i64.to_le_bytes(), Rule::Count), None);
        assert_eq!(Rule::for_name("bn1.running_var"), Rule::NonNegative);
        assert_eq!(Rule::for_name("num_batches_tracked"), Rule::Count);
        assert_eq!(Rule::for_name("bn1.running_mean"), Rule::Finite);
    }

    #[test]
    fn positions_follow_the_row_major_order() {
        assert_eq!(position(5, &[2, 3]), [1, 2]);
        assert_eq!(position(0, &[]), Vec::<usize>::new());
        assert_eq!(position(7, &[2, 2, 2]), [1, 1, 1]);
    }
}
