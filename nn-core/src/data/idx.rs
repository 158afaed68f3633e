//! Decoding (and, for tests and tools, encoding) IDX files, MNIST's format, gzipped or raw.
//!
//! An IDX file is a big-endian header followed by raw bytes. Header: two zero bytes, a type byte
//! (`0x08` = unsigned byte, the only type MNIST uses), the number of dimensions, then one
//! big-endian `u32` per dimension. Labels are `0x00000801` with dims `[n]`; images are
//! `0x00000803` with dims `[n, rows, cols]`.
//!
//! Nothing is allocated by what a file claims, only by what it delivers: the payload buffer grows
//! in steps no larger than the bytes already read, reading stops one byte past the payload the
//! header announces, and a header announcing more than [`MAX_PAYLOAD_BYTES`] is refused before
//! any payload is read. A 1 kB file claiming a million images is reported as truncated after
//! reading 1 kB, not answered with a 784 MB allocation.

use flate2::read::MultiGzDecoder;
use std::fmt;
use std::io::{self, Read};

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The smallest step by which the payload buffer grows. Each step is at most what has already
/// arrived (and at least this), so the buffer never holds more than about twice the bytes the
/// data delivered, whatever the header or the gzip trailer claims.
const MIN_GROWTH: usize = 64 << 10;

/// The largest payload one IDX file may have: 1 GiB, about twice the largest file of the
/// IDX-format datasets in use (EMNIST ByClass's training images, 547 MB) and 22x MNIST's. A
/// header that claims more is refused before anything is read, so with the header's own count
/// bounding every read, no file can make the decoder hold more than this, however well it
/// compresses (4 KB of gzip inflate to 4 MB).
pub const MAX_PAYLOAD_BYTES: usize = 1 << 30;

/// How far past the payload a gzip stream is inflated to tell corruption (its checksum fails)
/// from trailing data: bounded, since a stream of zeros can inflate 1000:1.
const MAX_TRAILING_CHECK: usize = 1 << 20;

/// Which kind of IDX file is expected: it fixes the magic number and the number of dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxKind {
    /// A label file: magic `0x00000801`, dims `[n]`.
    Labels,
    /// An image file: magic `0x00000803`, dims `[n, rows, cols]`.
    Images,
}

impl IdxKind {
    /// The number of dimensions this kind of file has.
    pub fn rank(self) -> usize {
        match self {
            IdxKind::Labels => 1,
            IdxKind::Images => 3,
        }
    }

    /// The magic number that opens this kind of file.
    pub fn magic(self) -> u32 {
        0x0000_0800 | self.rank() as u32
    }
}

impl fmt::Display for IdxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdxKind::Labels => "label",
            IdxKind::Images => "image",
        })
    }
}

/// A decoded IDX file of unsigned bytes: its dimensions and its payload, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// The dimensions from the header, outermost (the item count) first.
    pub dims: Vec<usize>,
    /// The payload: exactly the product of `dims` bytes.
    pub data: Vec<u8>,
}

/// What is wrong with an IDX file. The file's path is added by [`super::DataError::Malformed`].
/// It lives here, not in `error.rs`, because it names [`IdxKind`]: the parser stays a leaf module
/// that imports nothing else from `data`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdxError {
    /// The file has no bytes at all.
    #[error("the file is empty (0 bytes)")]
    Empty,
    /// The gzip layer is corrupt (bad deflate data, checksum mismatch, or cut short).
    #[error("corrupt gzip data: {0}")]
    Gzip(#[source] io::Error),
    /// The file ends inside the header.
    #[error("the IDX header is cut short: expected {expected} bytes, found {found}")]
    TruncatedHeader {
        /// Header bytes needed.
        expected: usize,
        /// Header bytes present.
        found: usize,
    },
    /// The magic number is not the one for this kind of file.
    #[error(
        "wrong magic number: expected {:#010x} (an IDX {kind} file), found {found:#010x}{}",
        kind.magic(),
        magic_hint(*found)
    )]
    BadMagic {
        /// The kind of file that was expected.
        kind: IdxKind,
        /// The magic number found in the file.
        found: u32,
    },
    /// The dimensions multiply to more than [`MAX_PAYLOAD_BYTES`].
    #[error(
        "the header's dimensions {dims:?} multiply to more than the {limit}-byte limit for one IDX \
         file (a corrupt header, or a dataset larger than nn loads)"
    )]
    TooLarge {
        /// The dimensions from the header.
        dims: Vec<usize>,
        /// The limit, [`MAX_PAYLOAD_BYTES`].
        limit: usize,
    },
    /// The payload is shorter than the header announces.
    #[error(
        "truncated payload: the header's dimensions {dims:?} need {expected} bytes, the file holds {found}"
    )]
    Truncated {
        /// The dimensions from the header.
        dims: Vec<usize>,
        /// Payload bytes the header announces.
        expected: usize,
        /// Payload bytes present.
        found: usize,
    },
    /// There are bytes after the payload the header announces.
    #[error(
        "unexpected bytes after the payload: the header's dimensions {dims:?} need {expected} bytes, \
         the file holds more"
    )]
    TrailingData {
        /// The dimensions from the header.
        dims: Vec<usize>,
        /// Payload bytes the header announces.
        expected: usize,
    },
    /// The images are not the size the dataset expects.
    #[error(
        "wrong image size: expected {}x{} pixels, found {}x{}",
        expected[0],
        expected[1],
        found[0],
        found[1]
    )]
    ImageSize {
        /// Expected `[rows, cols]`.
        expected: [usize; 2],
        /// Found `[rows, cols]`.
        found: [usize; 2],
    },
    /// A label is not a valid class index.
    #[error("label {label} at position {index} is not a class index (expected 0..{classes})")]
    LabelOutOfRange {
        /// Position of the label in the file.
        index: usize,
        /// The label found.
        label: u8,
        /// The number of classes; labels must be below it.
        classes: usize,
    },
}

/// A guess at what a wrong magic number means, for the two common mistakes.
fn magic_hint(found: u32) -> String {
    let bytes = found.to_be_bytes();
    if bytes[0] == b'<' {
        format!(
            " (\"{}\": an HTML page saved as a data file?)",
            bytes.escape_ascii()
        )
    } else if found == IdxKind::Images.magic() || found == IdxKind::Labels.magic() {
        " (images and labels swapped?)".to_string()
    } else {
        String::new()
    }
}

/// Decodes the contents of an IDX file, gzipped (detected by its magic bytes, not its name) or raw.
pub fn decode(bytes: &[u8], kind: IdxKind) -> Result<Idx, IdxError> {
    if bytes.is_empty() {
        return Err(IdxError::Empty);
    }
    // The gzip trailer's size field is not trusted for anything: it is the attacker's to choose.
    if bytes.starts_with(&GZIP_MAGIC) {
        parse(MultiGzDecoder::new(bytes), kind, true)
    } else {
        parse(bytes, kind, false)
    }
}

/// Parses a header and payload from `r`. `gz` says whether read errors come from the gzip layer
/// (then they are corruption, not truncation).
fn parse(mut r: impl Read, kind: IdxKind, gz: bool) -> Result<Idx, IdxError> {
    let header_len = 4 + 4 * kind.rank();
    let mut header = [0u8; 16];
    let header = &mut header[..header_len];
    let got = read_full(&mut r, &mut header[..4]).map_err(IdxError::Gzip)?;
    if got < 4 {
        return Err(IdxError::TruncatedHeader {
            expected: header_len,
            found: got,
        });
    }
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if magic != kind.magic() {
        return Err(IdxError::BadMagic { kind, found: magic });
    }
    let got = 4 + read_full(&mut r, &mut header[4..]).map_err(IdxError::Gzip)?;
    if got < header_len {
        return Err(IdxError::TruncatedHeader {
            expected: header_len,
            found: got,
        });
    }
    let dims: Vec<usize> = header[4..]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_PAYLOAD_BYTES)
        .ok_or_else(|| IdxError::TooLarge {
            dims: dims.clone(),
            limit: MAX_PAYLOAD_BYTES,
        })?;

    // One byte past the payload is enough to know there is trailing data.
    let mut data = Vec::new();
    if let Err(e) = read_growing(&mut r, &mut data, expected + 1) {
        return Err(if gz {
            IdxError::Gzip(e)
        } else {
            IdxError::Truncated {
                dims,
                expected,
                found: data.len(),
            }
        });
    }
    match data.len().cmp(&expected) {
        std::cmp::Ordering::Less => Err(IdxError::Truncated {
            dims,
            expected,
            found: data.len(),
        }),
        std::cmp::Ordering::Greater => {
            // Corrupt deflate data often decodes to too many bytes before the checksum at the end
            // would catch it: finish the stream so that corruption is reported as such.
            if gz {
                let mut rest = r.take(MAX_TRAILING_CHECK as u64);
                if let Err(e) = io::copy(&mut rest, &mut io::sink()) {
                    return Err(IdxError::Gzip(e));
                }
            }
            Err(IdxError::TrailingData { dims, expected })
        }
        std::cmp::Ordering::Equal => Ok(Idx { dims, data }),
    }
}

/// Appends up to `limit` bytes from `r` to `data`, reserving in steps no larger than what has
/// arrived so far (see [`MIN_GROWTH`]), so a claimed size is never allocated ahead of the data.
fn read_growing(r: &mut impl Read, data: &mut Vec<u8>, limit: usize) -> io::Result<()> {
    while data.len() < limit {
        let step = (limit - data.len()).min(data.len().max(MIN_GROWTH));
        data.reserve_exact(step);
        // Fills the reserved space without growing it: `take` stops at `step`.
        let got = r.by_ref().take(step as u64).read_to_end(data)?;
        if got < step {
            break; // end of the stream
        }
    }
    Ok(())
}

/// Like `read_exact`, but reports how many bytes it got before the end instead of failing there.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Encodes an IDX file of unsigned bytes (the inverse of [`decode`] for raw files). Used by tests
/// and by anyone writing their own dataset in MNIST's format.
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&[0, 0, 0x08, dims.len() as u8]);
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Gzips `bytes` (for tests and for writing MNIST-style files).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    enc.write_all(bytes).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: usize) -> (Vec<usize>, Vec<u8>) {
        let data: Vec<u8> = (0..n * 4 * 3).map(|i| (i * 7 % 256) as u8).collect();
        (vec![n, 4, 3], data)
    }

    #[test]
    fn round_trip_raw_and_gzip() {
        let (dims, data) = images(5);
        let raw = encode(&dims, &data);
        for bytes in [raw.clone(), gzip(&raw)] {
            let idx = decode(&bytes, IdxKind::Images).unwrap();
            assert_eq!(idx.dims, dims);
            assert_eq!(idx.data, data);
        }
        let labels = encode(&[3], &[1, 0, 9]);
        let idx = decode(&gzip(&labels), IdxKind::Labels).unwrap();
        assert_eq!((idx.dims, idx.data), (vec![3], vec![1, 0, 9]));
    }

    #[test]
    fn empty_file() {
        assert!(matches!(decode(&[], IdxKind::Labels), Err(IdxError::Empty)));
    }

    #[test]
    fn wrong_magic_names_both_numbers() {
        let labels = encode(&[3], &[1, 2, 3]);
        let err = decode(&labels, IdxKind::Images).unwrap_err();
        assert!(matches!(
            err,
            IdxError::BadMagic {
                kind: IdxKind::Images,
                found: 0x801
            }
        ));
        let msg = err.to_string();
        assert!(msg.contains("0x00000803") && msg.contains("0x00000801"), "{msg}");
        assert!(msg.contains("swapped"), "{msg}");
        let html = b"<!DOCTYPE html><html>Not Found</html>";
        let msg = decode(html, IdxKind::Labels).unwrap_err().to_string();
        assert!(msg.contains("HTML"), "{msg}");
    }

    #[test]
    fn truncated_header_and_payload() {
        let (dims, data) = images(10);
        let raw = encode(&dims, &data);
        let err = decode(&raw[..10], IdxKind::Images).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::TruncatedHeader {
                    expected: 16,
                    found: 10
                }
            ),
            "{err}"
        );
        for bytes in [raw[..100].to_vec(), gzip(&raw[..100])] {
            let err = decode(&bytes, IdxKind::Images).unwrap_err();
            assert!(
                matches!(
                    err,
                    IdxError::Truncated {
                        expected: 120,
                        found: 84,
                        ..
                    }
                ),
                "{err}"
            );
        }
        let mut long = raw.clone();
        long.push(0);
        assert!(matches!(
            decode(&long, IdxKind::Images),
            Err(IdxError::TrailingData { .. })
        ));
    }

    #[test]
    fn huge_header_in_small_file_is_truncated_without_allocating() {
        // A million images of 28x28 announced, about 1 kB present: must not reserve 784 MB.
        let mut raw = encode(&[1_000_000, 28, 28], &[0u8; 1008]);
        raw.truncate(1024);
        for bytes in [raw.clone(), gzip(&raw)] {
            let err = decode(&bytes, IdxKind::Images).unwrap_err();
            match err {
                IdxError::Truncated { expected, found, .. } => {
                    assert_eq!(expected, 1_000_000 * 784);
                    assert_eq!(found, 1024 - 16);
                }
                other => panic!("expected Truncated, got {other}"),
            }
        }
    }

    #[test]
    fn corrupt_gzip() {
        let (dims, data) = images(50);
        let mut gz = gzip(&encode(&dims, &data));
        let mid = gz.len() / 2;
        for b in &mut gz[mid..mid + 8] {
            *b ^= 0x5a;
        }
        let err = decode(&gz, IdxKind::Images).unwrap_err();
        assert!(matches!(err, IdxError::Gzip(_)), "{err}");
        // Cut short inside the compressed stream: corruption, reported by the gzip layer.
        let gz = gzip(&encode(&dims, &data));
        let err = decode(&gz[..gz.len() - 6], IdxKind::Images).unwrap_err();
        assert!(matches!(err, IdxError::Gzip(_)), "{err}");
    }

    /// Zeros, `left` of them, counting how many were read.
    struct Zeros {
        left: usize,
        read: usize,
    }

    impl Read for Zeros {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.left);
            buf[..n].fill(0);
            self.left -= n;
            self.read += n;
            Ok(n)
        }
    }

    #[test]
    fn trailing_data_stops_the_read_early() {
        // A header for one 28x28 image, then 64 MB: the reader must stop soon after the payload
        // (in the gz case, after a bounded look for a corrupt stream), not inflate everything.
        let header = encode(&[1, 28, 28], &[]);
        for gz in [false, true] {
            let mut zeros = Zeros {
                left: 64 << 20,
                read: 0,
            };
            let err = parse(header.as_slice().chain(&mut zeros), IdxKind::Images, gz).unwrap_err();
            assert!(
                matches!(err, IdxError::TrailingData { expected: 784, .. }),
                "{err}"
            );
            assert!(
                zeros.read <= 784 + MAX_TRAILING_CHECK + MIN_GROWTH,
                "gz={gz}: read {}",
                zeros.read
            );
        }
    }

    #[test]
    fn a_header_over_the_size_limit_is_refused_before_reading() {
        let raw = encode(&[MAX_PAYLOAD_BYTES / 784 + 1, 28, 28], &[0; 100]);
        let err = decode(&raw, IdxKind::Images).unwrap_err();
        assert!(matches!(err, IdxError::TooLarge { .. }), "{err}");
        let at_limit = encode(&[MAX_PAYLOAD_BYTES / 784, 28, 28], &[0; 100]);
        let err = decode(&at_limit, IdxKind::Images).unwrap_err();
        assert!(matches!(err, IdxError::Truncated { found: 100, .. }), "{err}");
    }
}
