//! Pictures: decoding PNG files into grey or RGB pixels, within limits checked from the header
//! and in memory bounded by the size asked for, and preparing a picture of a handwritten digit
//! as MNIST's digits were prepared.
//!
//! The files: `decode.rs` (what to ask for and what comes back: [`DecodeOptions`], [`Limits`],
//! [`Picture`]; [`decode_file`], [`decode_bytes`]), `png_rows.rs` (the PNG decoder driven row by
//! row), `reduce.rs` (reducing while decoding, and to an exact size), `digit.rs`
//! ([`mnist_digit`], [`read_mnist_digit`]), `error.rs` ([`ImageError`]).
//!
//! ```no_run
//! use nn_core::vision::{decode_file, Colour, DecodeOptions, Size};
//! // A photo of any size as 64×64 RGB, holding at most its 64×64 pixels' worth of sums.
//! let options = DecodeOptions::new(Colour::Rgb).size(Size::Exact { width: 64, height: 64 });
//! let picture = decode_file("photo.png", &options)?;
//! assert_eq!(picture.pixels.len(), 64 * 64 * 3);
//! # Ok::<(), nn_core::vision::ImageError>(())
//! ```

mod decode;
pub mod digit;
mod error;
mod png_rows;
mod reduce;

pub use decode::{decode_bytes, decode_file, Channels, Colour, DecodeOptions, Limits, Picture, Size};
pub use digit::{
    mnist_digit, read_mnist_digit, DIGIT_SIDE, INK_BOX, INK_LEVEL, MAX_DIGIT_PICTURE, MIN_CONTRAST, MIN_PEAK,
};
pub use error::ImageError;
