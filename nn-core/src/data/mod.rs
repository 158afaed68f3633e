//! Data: the [`DataSource`] trait that training reads through, the in-memory [`Dataset`] (its
//! first implementation) with seeded splits, [`Batches`], and loaders: MNIST's IDX layout (local
//! directory, verified cache, or download from mirrors).
//!
//! One batch's path: a source (IDX files -> `u8` pixels in a [`Dataset`]) -> [`Batches::next_batch`]
//! has it fill a reused `f32` [`Batch`] (pixels / 255; the targets beside them) -> the model.
//!
//! The trait and the batch: `source.rs` ([`DataSource`], [`FillContext`]), `targets.rs`
//! ([`Targets`], [`TargetKind`], [`one_hot`]), `batch.rs`, `batches.rs` (order and shuffling).
//!
//! Files, in the order a load runs through them: `mnist.rs` (the two datasets' specs and types),
//! `loader.rs` (the [`Loader`] over any [`IdxDataset`]: local directory, validation against the
//! [`Spec`]), `cache.rs` (the verified cache, filled by downloading), `download.rs` (mirrors,
//! digests, deadlines, progress; temporary files are `fsutil`'s), `idx.rs` (the format parser),
//! `error.rs` (what can go wrong), `dataset/` (the in-memory dataset; `derived.rs`: its subsets
//! and splits). Tables: `csv.rs` (a CSV file of numbers, columns chosen by name),
//! `standardize.rs` (per-column standardisation fitted on the training split). Images: `image_folder/` (a folder of
//! pictures, one sub-folder per class, [`ImageFolder`]), `transformed.rs` (augmentation and
//! normalisation as batches are filled, [`Transformed`]). `cache.rs` and
//! `download.rs` are compiled only with the `download` feature. A user's pictures are
//! [`crate::vision`]'s.

mod batch;
mod batches;
#[cfg(feature = "download")]
mod cache;
#[cfg(all(test, feature = "download"))]
mod cache_tests;
mod csv;
mod dataset;
#[cfg(feature = "download")]
pub mod download;
mod error;
pub mod idx;
mod image_folder;
mod loader;
mod mnist;
mod source;
mod standardize;
mod targets;
#[cfg(all(test, feature = "download"))]
mod test_server;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;
mod transformed;

pub use batch::Batch;
pub use batches::Batches;
#[cfg(feature = "download")]
pub use cache::Digests;
pub use csv::CsvTable;
pub use dataset::Dataset;
#[cfg(feature = "download")]
pub use download::Expected;
pub use error::DataError;
#[cfg(feature = "download")]
pub use error::{DownloadFailure, FailReason, FetchError, MirrorFailure};
pub use idx::{IdxError, IdxKind};
pub use image_folder::{FolderSplits, ImageFolder, ImageFolderOptions, Resize, Storage};
pub use loader::{IdxDataset, Loader, Spec};
pub use mnist::{FashionMnist, Mnist, FASHION_MNIST, MNIST};
pub use source::{DataSource, FillContext};
pub use standardize::Standardizer;
pub(crate) use targets::batch_shape;
pub use targets::{one_hot, TargetKind, Targets};
pub use transformed::Transformed;
