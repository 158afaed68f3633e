//! Reads a stored tensor's little-endian elements into f32: F32 as is, and F16, BF16 and F64
//! converted, as PyTorch's `load_state_dict` copies across dtypes.

use crate::tensor::TensorViewMut;
use safetensors::tensor::Dtype;

/// Whether elements of `dtype` can be read into an f32 tensor.
pub(crate) fn converts(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64)
}

/// Writes `bytes`, row-major elements of `dtype`, into `dst`. The caller has checked that the
/// dtype [`converts`] and that `bytes` holds exactly `dst.len()` elements.
pub(crate) fn read_into(dtype: Dtype, bytes: &[u8], dst: TensorViewMut<'_>) {
    match dtype {
        Dtype::F32 => fill(bytes, dst, f32::from_le_bytes),
        Dtype::F16 => fill(bytes, dst, |b| f16_to_f32(u16::from_le_bytes(b))),
        // bfloat16 is the upper half of an f32.
        Dtype::BF16 => fill(bytes, dst, |b| {
            f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16)
        }),
        // Rounds to nearest, out-of-range values to ±inf: PyTorch's `.float()`.
        Dtype::F64 => fill(bytes, dst, |b| f64::from_le_bytes(b) as f32),
        other => unreachable!("checkpoint: {other} tensors were refused before reading"),
    }
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
}
