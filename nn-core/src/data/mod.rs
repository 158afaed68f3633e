//! Data: datasets in MNIST's IDX layout (local directory, verified cache, or download from
//! mirrors), and [`Dataset`] with seeded splits and mini-batches.
//!
//! One batch's path: IDX files -> `u8` pixels in a [`Dataset`] -> [`Batches::next_batch`] fills a
//! reused `f32` [`Batch`] (pixels / 255) -> the model.
//!
//! Files, in the order a load runs through them: `mnist.rs` (the two datasets' specs and types),
//! `loader.rs` (the [`Loader`] over any [`IdxDataset`]: local directory, validation against the
//! [`Spec`]), `cache.rs` (the verified cache, filled by downloading), `download.rs` (mirrors,
//! digests, deadlines, progress; temporary files are `fsutil`'s), `idx.rs` (the format parser),
//! `error.rs` (what can go wrong), `dataset.rs` (dataset, split, batches). `cache.rs` and
//! `download.rs` are compiled only with the `download` feature. A user's pictures are
//! [`crate::vision`]'s.

#[cfg(feature = "download")]
mod cache;
#[cfg(all(test, feature = "download"))]
mod cache_tests;
mod dataset;
#[cfg(feature = "download")]
pub mod download;
mod error;
pub mod idx;
mod loader;
mod mnist;
#[cfg(all(test, feature = "download"))]
mod test_server;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;

#[cfg(feature = "download")]
pub use cache::Digests;
pub use dataset::{one_hot, Batch, Batches, Dataset};
#[cfg(feature = "download")]
pub use download::Expected;
pub use error::DataError;
#[cfg(feature = "download")]
pub use error::{DownloadFailure, FailReason, FetchError, MirrorFailure};
pub use idx::{IdxError, IdxKind};
pub use loader::{IdxDataset, Loader, Spec};
pub use mnist::{FashionMnist, Mnist, FASHION_MNIST, MNIST};
