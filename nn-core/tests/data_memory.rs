//! Measures the memory the IDX decoder holds for hostile files: what a header or a gzip trailer
//! claims must not be allocated beyond what the data delivers.
//!
//! A binary of its own, because it installs a global allocator that tracks each thread's live
//! and peak heap bytes.

use nn_core::data::idx::{decode, encode, gzip};
use nn_core::data::{IdxError, IdxKind};
use tracking::peak_during;

#[path = "support/tracking.rs"]
mod tracking;

/// `n` bytes that do not compress (xorshift), so a gz of them is about `n` bytes too.
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A gz of an image-file header with these dims followed by `payload`, whose size trailer
/// (ISIZE) is overwritten with 0xFFFFFFFF.
fn lying_gz(dims: &[usize], payload: &[u8]) -> Vec<u8> {
    let mut raw = encode(dims, &[]);
    raw.extend_from_slice(payload);
    let mut gz = gzip(&raw);
    let n = gz.len();
    gz[n - 4..].copy_from_slice(&[0xff; 4]);
    gz
}

#[test]
fn a_header_and_trailer_that_lie_about_sizes_reserve_nothing_beyond_the_data() {
    // 64 KiB of gz; the header claims 784 MB (within the 1 GiB limit) or 3.4 TB, the trailer 4 GB.
    // Reserving by those claims (even capped at DEFLATE's 1032:1) would hold 67.6 MB.
    for dims in [[1_000_000, 28, 28], [0xffff_ffff, 28, 28]] {
        let gz = lying_gz(&dims, &noise(64 << 10));
        let (result, peak) = peak_during(|| decode(&gz, IdxKind::Images));
        assert!(result.is_err(), "{dims:?}: a 64 KiB file cannot hold {dims:?}");
        // The data (64 KiB), a buffer grown at most twofold past it, and the inflater's state.
        assert!(
            peak < 1 << 20,
            "{dims:?}: decoding a {}-byte file held {peak} bytes at once",
            gz.len()
        );
    }
}

#[test]
fn real_sized_files_still_decode() {
    // The bounded growth must not get in the way of a legitimate file: 3,000 MNIST-sized images.
    let px = noise(3000 * 784);
    let raw = encode(&[3000, 28, 28], &px);
    let gz = gzip(&raw);
    let (idx, peak) = peak_during(|| decode(&gz, IdxKind::Images).unwrap());
    assert_eq!(idx.data, px);
    assert!(
        peak < 2 * px.len() + (1 << 20),
        "held {peak} bytes for {} of pixels",
        px.len()
    );
    let err = decode(&gzip(&raw[..raw.len() - 1]), IdxKind::Images).unwrap_err();
    assert!(matches!(err, IdxError::Truncated { .. }), "{err}");
}

#[test]
fn a_small_gz_that_inflates_far_is_stopped_by_the_header_and_the_size_limit() {
    // 4 MB of zeros gzip to about 4 KB (1000:1). A header claiming 3.4 TB is over the 1 GiB
    // limit: refused before any payload is inflated, instead of holding all 4 MB (a 10 MB file
    // of this kind would have held 10 GB).
    let mut raw = encode(&[0xffff_ffff, 28, 28], &[]);
    raw.resize(raw.len() + (4 << 20), 0);
    let gz = gzip(&raw);
    assert!(gz.len() < 8 << 10, "{}", gz.len());
    let (result, peak) = peak_during(|| decode(&gz, IdxKind::Images));
    let err = result.unwrap_err();
    assert!(matches!(err, IdxError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("1073741824-byte limit"), "{err}");
    assert!(
        peak < 1 << 20,
        "decoding a {}-byte file held {peak} bytes",
        gz.len()
    );
}
