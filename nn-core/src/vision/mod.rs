//! Pictures: decoding PNG files into grey or RGB pixels, within limits checked from the header
//! and in memory bounded by the size asked for; preparing a picture of a handwritten digit as
//! MNIST's digits were prepared; and transforms of one image sample: the augmentations that draw
//! them at random (deterministically, from a per-sample RNG) and per-channel normalisation.
//!
//! Decoding: `decode.rs` (what to ask for and what comes back: [`DecodeOptions`], [`Limits`],
//! [`Picture`]; [`decode_file`], [`decode_bytes`], [`read_header`]), `png_rows.rs` (the PNG
//! decoder driven row by row), `jpeg.rs` (JPEG, with zune-jpeg), `reduce.rs` (reducing while decoding, and to an exact size), `digit.rs`
//! ([`mnist_digit`], [`read_mnist_digit`]), `error.rs` ([`ImageError`]).
//!
//! Transforms: `image.rs` ([`Image`], one sample's pixels with scratch space, and its bilinear
//! [`Image::warp`]), `transform.rs` (the [`Transform`] trait and [`Compose`]), one file per
//! transform: `affine.rs` ([`RandomAffine`]: translation, rotation and scale as one warp),
//! `flip.rs` ([`RandomHorizontalFlip`]), `crop.rs` ([`RandomCrop`]), `elastic.rs`
//! ([`ElasticDistortion`]), `normalize.rs` ([`Normalize`]). A data source applies them as it
//! fills a batch: [`crate::data::Transformed`].
//!
//! ```no_run
//! use nn_core::vision::{decode_file, Colour, DecodeOptions, Size};
//! // A photo of any size as 64×64 RGB, holding at most its 64×64 pixels' worth of sums.
//! let options = DecodeOptions::new(Colour::Rgb).size(Size::Exact { width: 64, height: 64 });
//! let picture = decode_file("photo.png", &options)?;
//! assert_eq!(picture.pixels.len(), 64 * 64 * 3);
//! # Ok::<(), nn_core::vision::ImageError>(())
//! ```

mod affine;
mod crop;
mod decode;
pub mod digit;
mod elastic;
mod error;
mod flip;
mod image;
mod jpeg;
mod normalize;
mod png_rows;
mod reduce;
mod transform;

pub use affine::RandomAffine;
pub use crop::RandomCrop;
pub use decode::{
    decode_bytes, decode_file, read_header, Channels, Colour, DecodeOptions, Header, Limits, Picture, Size,
};
pub use digit::{
    mnist_digit, read_mnist_digit, DIGIT_SIDE, INK_BOX, INK_LEVEL, MAX_DIGIT_PICTURE, MIN_CONTRAST, MIN_PEAK,
};
pub use elastic::ElasticDistortion;
pub use error::ImageError;
pub use flip::RandomHorizontalFlip;
pub use image::{Image, ImageShape};
pub use normalize::Normalize;
pub use transform::{Compose, Transform};
