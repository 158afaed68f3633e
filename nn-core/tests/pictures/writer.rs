//! PNG files written byte by byte, so that tests control every field: any colour type and bit
//! depth, Adam7 interlacing, extra chunks (a palette of any length), and pictures of hundreds of
//! millions of pixels whose compressed rows are repeated rather than compressed one by one.

use flate2::{Compress, Compression, Crc, FlushCompress};

/// The samples per pixel of a PNG colour type.
pub fn channels(colour_type: u8) -> usize {
    match colour_type {
        0 | 3 => 1,
        4 => 2,
        2 => 3,
        6 => 4,
        other => panic!("colour type {other}"),
    }
}

/// The Adam7 passes: first column, column step, first row, row step.
const PASSES: [(usize, usize, usize, usize); 7] = [
    (0, 8, 0, 8),
    (4, 8, 0, 8),
    (0, 4, 4, 8),
    (2, 4, 0, 4),
    (0, 2, 2, 4),
    (1, 2, 0, 2),
    (0, 1, 1, 2),
];

/// A PNG of `width` × `height` pixels of `colour_type` at `depth` bits per sample, `pixels`
/// holding each pixel's samples row-major (`channels(colour_type)` values below `2^depth`),
/// with `chunks` (type, data) between the header and the data.
pub fn png(
    (width, height): (usize, usize),
    (colour_type, depth): (u8, u8),
    interlaced: bool,
    pixels: &[u16],
    chunks: &[(&[u8; 4], Vec<u8>)],
) -> Vec<u8> {
    let ch = channels(colour_type);
    assert_eq!(pixels.len(), width * height * ch);
    let mut raw = Vec::new();
    let mut scanline = |y: usize, xs: &mut dyn Iterator<Item = usize>| {
        raw.push(0); // filter: none
        let mut bits = Vec::new();
        for x in xs {
            bits.extend_from_slice(&pixels[(y * width + x) * ch..][..ch]);
        }
        raw.extend(pack(&bits, depth));
    };
    if interlaced {
        for (x0, dx, y0, dy) in PASSES {
            if width <= x0 {
                continue;
            }
            for y in (y0..height).step_by(dy) {
                scanline(y, &mut (x0..width).step_by(dx));
            }
        }
    } else {
        for y in 0..height {
            scanline(y, &mut (0..width));
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
    std::io::Write::write_all(&mut z, &raw).unwrap();
    file(
        header(width, height, colour_type, depth, interlaced),
        chunks,
        &z.finish().unwrap(),
    )
}

/// Samples of `depth` bits packed as PNG rows are: big-endian, several to a byte below 8.
fn pack(samples: &[u16], depth: u8) -> Vec<u8> {
    match depth {
        16 => samples.iter().flat_map(|s| s.to_be_bytes()).collect(),
        8 => samples.iter().map(|&s| s as u8).collect(),
        bits => {
            let per = 8 / usize::from(bits);
            samples
                .chunks(per)
                .map(|group| {
                    group.iter().enumerate().fold(0u8, |byte, (i, &s)| {
                        byte | ((s as u8) << (8 - usize::from(bits) * (i + 1)))
                    })
                })
                .collect()
        }
    }
}

/// The 13 bytes of an IHDR chunk.
pub fn header(width: usize, height: usize, colour_type: u8, depth: u8, interlaced: bool) -> Vec<u8> {
    let mut h = (width as u32).to_be_bytes().to_vec();
    h.extend_from_slice(&(height as u32).to_be_bytes());
    h.extend_from_slice(&[depth, colour_type, 0, 0, u8::from(interlaced)]);
    h
}

/// A PNG file: signature, IHDR, `chunks`, one IDAT holding `zlib`, IEND.
pub fn file(ihdr: Vec<u8>, chunks: &[(&[u8; 4], Vec<u8>)], zlib: &[u8]) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    };
    chunk(b"IHDR", &ihdr);
    for (kind, data) in chunks {
        chunk(kind, data);
    }
    chunk(b"IDAT", zlib);
    chunk(b"IEND", &[]);
    out
}

/// A grey 8-bit PNG of `width` × `height` pixels, row `y` being `rows[kind(y)]`, without
/// compressing every row: each distinct row is compressed once, on its own (so that it refers
/// to nothing before it), and repeated. A 20000×20000 picture takes milliseconds.
pub fn repeated_rows(
    width: usize,
    height: usize,
    rows: &[Vec<u8>],
    kind: impl Fn(usize) -> usize,
) -> Vec<u8> {
    let fragments: Vec<(Vec<u8>, u32, usize)> = rows
        .iter()
        .map(|row| {
            assert_eq!(row.len(), width);
            let mut line = vec![0u8]; // filter: none
            line.extend_from_slice(row);
            let mut c = Compress::new(Compression::best(), false);
            let mut out = Vec::with_capacity(2 * line.len() + 1024);
            // A sync flush ends the fragment on a byte boundary, in a block that is not final.
            c.compress_vec(&line, &mut out, FlushCompress::Sync).unwrap();
            assert!(c.total_in() == line.len() as u64 && out.len() < out.capacity());
            (out, adler32(&line), line.len())
        })
        .collect();
    let mut zlib = vec![0x78, 0x9c];
    let mut adler = 1u32;
    for y in 0..height {
        let (fragment, a, len) = &fragments[kind(y)];
        zlib.extend_from_slice(fragment);
        adler = adler32_combine(adler, *a, *len);
    }
    // An empty final block (fixed Huffman codes), then the checksum.
    zlib.extend_from_slice(&[0x03, 0x00]);
    zlib.extend_from_slice(&adler.to_be_bytes());
    file(header(width, height, 0, 8, false), &[], &zlib)
}

const ADLER_BASE: u32 = 65521;

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &d in data {
        a = (a + u32::from(d)) % ADLER_BASE;
        b = (b + a) % ADLER_BASE;
    }
    b << 16 | a
}

/// The Adler-32 of two byte strings one after the other, from theirs (zlib's
/// `adler32_combine`).
fn adler32_combine(first: u32, second: u32, second_len: usize) -> u32 {
    let rem = (second_len % ADLER_BASE as usize) as u64;
    let base = u64::from(ADLER_BASE);
    let (a1, b1) = (u64::from(first & 0xffff), u64::from(first >> 16));
    let (a2, b2) = (u64::from(second & 0xffff), u64::from(second >> 16));
    let a = (a1 + a2 + base - 1) % base;
    let b = (rem * a1 % base + b1 + b2 + base - rem) % base;
    (b << 16 | a) as u32
}

#[test]
fn repeated_rows_make_the_picture_that_compressing_every_row_makes() {
    let rows = [vec![0u8; 13], (0..13).map(|i| i * 19).collect::<Vec<u8>>()];
    let kind = |y: usize| usize::from(y % 3 == 1);
    let quick = repeated_rows(13, 7, &rows, kind);
    let samples: Vec<u16> = (0..7)
        .flat_map(|y| rows[kind(y)].iter().map(|&v| u16::from(v)))
        .collect();
    let slow = png((13, 7), (0, 8), false, &samples, &[]);
    let decode = |bytes: &[u8]| {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        buf
    };
    assert_eq!(decode(&quick), decode(&slow));
}
