//! Pictures: transforms of one image sample, the augmentations that draw them at random
//! (deterministically from a per-sample RNG) and per-channel normalisation.
//!
//! The files: `image.rs` ([`Image`], one sample's pixels with scratch space, and its bilinear
//! [`Image::warp`]), `transform.rs` (the [`Transform`] trait and [`Compose`]), one file per
//! transform: `affine.rs` ([`RandomAffine`]: translation, rotation and scale as one warp),
//! `flip.rs` ([`RandomHorizontalFlip`]), `crop.rs` ([`RandomCrop`]), `elastic.rs`
//! ([`ElasticDistortion`]), `normalize.rs` ([`Normalize`]).
//!
//! A data source applies them as it fills a batch: [`crate::data::Transformed`].

mod affine;
mod crop;
mod elastic;
mod flip;
mod image;
mod normalize;
mod transform;

pub use affine::RandomAffine;
pub use crop::RandomCrop;
pub use elastic::ElasticDistortion;
pub use flip::RandomHorizontalFlip;
pub use image::{Image, ImageShape};
pub use normalize::Normalize;
pub use transform::{Compose, Transform};
