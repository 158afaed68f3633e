//! Reads a stored tensor's little-endian elements into f32, as PyTorch's `load_state_dict` copies
//! across dtypes: F32 as is, F16, BF16 and F64 converted, integers while f32 holds them exactly.

use crate::tensor::TensorViewMut;
use safetensors::tensor::Dtype;

/// The largest integer magnitude below which every integer is an f32: 2^24.
pub(crate) const EXACT_INTEGERS: i128 = 1 << 24;

/// Why stored elements cannot be read into f32.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// nn has no conversion from this dtype (BOOL, F8, complex, ...).
    Dtype,
    /// An integer element beyond ±2^24, where f32 would round it.
    Inexact(i128),
}

/// Whether elements of `dtype` in `bytes` can be read into f32, and if not, why. Integer tensors
/// are scanned for their first value beyond ±2^24: a rounded count is a silent error, and
/// PyTorch's integer buffers are counters.
pub(crate) fn check(dtype: Dtype, bytes: &[u8]) -> Result<(), Unreadable> {
    if matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64) {
        return Ok(());
    }
    let mut values = integers(dtype, bytes).ok_or(Unreadable::Dtype)?;
    match values.find(|v| v.abs() > EXACT_INTEGERS) {
        Some(v) => Err(Unreadable::Inexact(v)),
        None => Ok(()),
    }
}

/// Writes `bytes`, row-major elements of `dtype`, into `dst`. The caller has [`check`]ed them
/// and that `bytes` holds exactly `dst.len()` elements.
pub(crate) fn read_into(dtype: Dtype, bytes: &[u8], mut dst: TensorViewMut<'_>) {
    match dtype {
        Dtype::F32 => fill(bytes, dst, f32::from_le_bytes),
        Dtype::F16 => fill(bytes, dst, |b| f16_to_f32(u16::from_le_bytes(b))),
        Dtype::BF16 => fill(bytes, dst, |b| bf16_to_f32(u16::from_le_bytes(b))),
        // Rounds to nearest, out-of-range values to ±inf: PyTorch's `.float()`.
        Dtype::F64 => fill(bytes, dst, |b| f64::from_le_bytes(b) as f32),
        other => {
            let values = integers(other, bytes)
                .unwrap_or_else(|| unreachable!("checkpoint: {other} tensors were refused before reading"));
            // Exact: `check` bounded every value by 2^24.
            for (d, v) in dst.iter_mut().zip(values) {
                *d = v as f32;
            }
        }
    }
}

/// The elements of a float `dtype` as pairs: the stored value widened to f64 (exactly), and the
/// f32 it loads as (what [`read_into`] writes). `None` for a dtype that is not a float.
pub(crate) fn floats(dtype: Dtype, bytes: &[u8]) -> Option<Box<dyn Iterator<Item = (f64, f32)> + '_>> {
    fn each<const N: usize>(
        bytes: &[u8],
        f: fn([u8; N]) -> (f64, f32),
    ) -> Box<dyn Iterator<Item = (f64, f32)> + '_> {
        Box::new(bytes.chunks_exact(N).map(move |c| {
            let mut b = [0; N];
            b.copy_from_slice(c);
            f(b)
        }))
    }
    fn same(v: f32) -> (f64, f32) {
        (f64::from(v), v)
    }
    Some(match dtype {
        Dtype::F32 => each(bytes, |b| same(f32::from_le_bytes(b))),
        Dtype::F16 => each(bytes, |b| same(f16_to_f32(u16::from_le_bytes(b)))),
        Dtype::BF16 => each(bytes, |b| same(bf16_to_f32(u16::from_le_bytes(b)))),
        Dtype::F64 => each(bytes, |b| {
            let v = f64::from_le_bytes(b);
            (v, v as f32)
        }),
        _ => return None,
    })
}

/// bfloat16 is the upper half of an f32.
fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// The elements of an integer `dtype`, widened to i128 (which holds both i64 and u64), or
/// `None` for a dtype that is not an integer.
pub(crate) fn integers(dtype: Dtype, bytes: &[u8]) -> Option<Box<dyn Iterator<Item = i128> + '_>> {
    fn each<const N: usize, T: Into<i128> + 'static>(
        bytes: &[u8],
        f: fn([u8; N]) -> T,
    ) -> Box<dyn Iterator<Item = i128> + '_> {
        Box::new(bytes.chunks_exact(N).map(move |c| {
            let mut b = [0; N];
            b.copy_from_slice(c);
            f(b).into()
        }))
    }
    Some(match dtype {
        Dtype::I8 => each(bytes, i8::from_le_bytes),
        Dtype::U8 => each(bytes, u8::from_le_bytes),
        Dtype::I16 => each(bytes, i16::from_le_bytes),
        Dtype::U16 => each(bytes, u16::from_le_bytes),
        Dtype::I32 => each(bytes, i32::from_le_bytes),
        Dtype::U32 => each(bytes, u32::from_le_bytes),
        Dtype::I64 => each(bytes, i64::from_le_bytes),
        Dtype::U64 => each(bytes, u64::from_le_bytes),
        _ => return None,
    })
}

/// One call per dtype, so each loop is compiled for its element width.
fn fill<const N: usize>(bytes: &[u8], mut dst: TensorViewMut<'_>, f: impl Fn([u8; N]) -> f32) {
    for (d, c) in dst.iter_mut().zip(bytes.chunks_exact(N)) {
        let mut b = [0; N];
        b.copy_from_slice(c);
        *d = f(b);
    }
}

/// IEEE half precision to f32, exactly (every f16 is an f32). Written out rather than taken from
/// the `half` crate: nine lines against a dependency nn would compile for this alone.
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 == 0 { 1.0 } else { -1.0 };
    let exponent = i32::from((h >> 10) & 0x1f);
    let mantissa = f32::from(h & 0x3ff);
    match exponent {
        // Zero and subnormals: mantissa × 2^-24.
        0 => sign * mantissa * 2f32.powi(-24),
        31 if mantissa == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + mantissa / 1024.0) * 2f32.powi(exponent - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    fn read(dtype: Dtype, bytes: &[u8], n: usize) -> Vec<f32> {
        let mut t = Tensor::zeros(vec![n]);
        read_into(dtype, bytes, t.view_mut());
        t.iter().copied().collect()
    }

    #[test]
    fn f16_covers_normals_subnormals_zeros_infinities_and_nan() {
        let cases: [(u16, f32); 12] = [
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x7bff, 65504.0),
            (0x0400, 2f32.powi(-14)),
            (0x03ff, 1023.0 * 2f32.powi(-24)),
            (0x0001, 2f32.powi(-24)),
            (0x8001, -(2f32.powi(-24))),
            (0x0000, 0.0),
            (0x8000, -0.0),
            (0x7c00, f32::INFINITY),
            (0xfc00, f32::NEG_INFINITY),
        ];
        for (h, want) in cases {
            assert_eq!(f16_to_f32(h).to_bits(), want.to_bits(), "{h:#06x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan());
        assert!(f16_to_f32(0xfc01).is_nan());
    }

    #[test]
    fn every_float_dtype_reads_little_endian() {
        assert_eq!(
            read(Dtype::F32, &[0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0], 2),
            [1.0, -2.0]
        );
        assert_eq!(read(Dtype::F16, &[0x00, 0x3c, 0x00, 0xc0], 2), [1.0, -2.0]);
        assert_eq!(read(Dtype::BF16, &[0x80, 0x3f, 0x49, 0xc0], 2), [1.0, -3.140625]);
        let f64s: Vec<u8> = [0.1f64, 1e300].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(read(Dtype::F64, &f64s, 2), [0.1, f32::INFINITY]);
    }

    #[test]
    fn every_integer_dtype_reads_little_endian_up_to_two_to_the_24() {
        let cases: [(Dtype, Vec<u8>, [f32; 2]); 8] = [
            (Dtype::I8, vec![0x80, 0x7f], [-128.0, 127.0]),
            (Dtype::U8, vec![0xff, 0], [255.0, 0.0]),
            (Dtype::I16, vec![0x00, 0x80, 0x01, 0x00], [-32768.0, 1.0]),
            (Dtype::U16, vec![0xff, 0xff, 0x00, 0x01], [65535.0, 256.0]),
            (
                Dtype::I32,
                [-(1i32 << 24), 7].iter().flat_map(|v| v.to_le_bytes()).collect(),
                [-16777216.0, 7.0],
            ),
            (
                Dtype::U32,
                [1u32 << 24, 3].iter().flat_map(|v| v.to_le_bytes()).collect(),
                [16777216.0, 3.0],
            ),
            (
                Dtype::I64,
                [-1i64, 1 << 24].iter().flat_map(|v| v.to_le_bytes()).collect(),
                [-1.0, 16777216.0],
            ),
            (
                Dtype::U64,
                [0u64, 12345].iter().flat_map(|v| v.to_le_bytes()).collect(),
                [0.0, 12345.0],
            ),
        ];
        for (dtype, bytes, want) in cases {
            assert_eq!(check(dtype, &bytes), Ok(()), "{dtype}");
            assert_eq!(read(dtype, &bytes, 2), want, "{dtype}");
        }
        let beyond: Vec<u8> = [1i32, -(1 << 24) - 1]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(check(Dtype::I32, &beyond), Err(Unreadable::Inexact(-16777217)));
        assert_eq!(
            check(Dtype::U64, &u64::MAX.to_le_bytes()),
            Err(Unreadable::Inexact(u64::MAX.into()))
        );
        assert_eq!(check(Dtype::BOOL, &[1]), Err(Unreadable::Dtype));
        assert_eq!(check(Dtype::F8_E4M3, &[1]), Err(Unreadable::Dtype));
    }
}
