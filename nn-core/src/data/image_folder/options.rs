//! [`ImageFolderOptions`]: how an image folder's pictures become samples (colour, size, resizing,
//! caching, bad files, limits), and preparing one picture that way.

use super::{FolderSplits, ImageFolder};
use crate::error::Result;
use crate::vision::{decode_file, Colour, DecodeOptions, Header, ImageError, Limits, Size};
use std::path::Path;

/// How a picture of another shape is brought to the folder's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resize {
    /// Scaled to exactly the size, the aspect ratio not kept (torchvision's `Resize((h, w))`).
    Stretch,
    /// Scaled to fit within the size with its aspect ratio kept, and centred on black padding
    /// (a letterbox).
    Pad,
}

/// Where the decoded pixels live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Storage {
    /// Every picture decoded once when the folder is opened, kept as `u8` (one byte per sample:
    /// 47 MB for 60,000 28×28 grey pictures).
    Memory,
    /// Pictures decoded as their batches are filled, on nn's threads: for sets larger than
    /// memory. Opening reads the headers only.
    Lazy,
}

/// How [`ImageFolder`] reads a folder: the pictures' colour and size, how they are resized,
/// where they are kept, what to do with a bad file, and how large a picture may be.
///
/// ```no_run
/// use nn_core::data::{ImageFolder, Resize, Storage};
/// use nn_core::vision::Colour;
/// let folder = ImageFolder::options(64, 64)
///     .colour(Colour::Rgb)
///     .resize(Resize::Pad)
///     .storage(Storage::Lazy)
///     .skip_bad_files(true)
///     .open("pets")?;
/// println!("{} pictures of {:?}", folder.len(), folder.classes());
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageFolderOptions {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) colour: Option<Colour>,
    pub(crate) resize: Resize,
    pub(crate) storage: Storage,
    pub(crate) skip_bad_files: bool,
    pub(crate) limits: Limits,
}

impl ImageFolderOptions {
    /// The default limit: 16,384 pixels per side (and vision's default total); a larger header
    /// is refused before anything is decoded.
    pub const MAX_SIDE: u64 = 16_384;

    /// Pictures of `width` × `height` pixels, in the colour they are stored in (all grey or all
    /// colour), stretched to the size, kept in memory, a bad file an error, at most
    /// [`ImageFolderOptions::MAX_SIDE`] pixels per side.
    ///
    /// # Panics
    /// If a side is 0.
    pub fn new(width: usize, height: usize) -> Self {
        assert!(
            width > 0 && height > 0,
            "ImageFolderOptions::new: expected a size of at least 1x1, got {width}x{height}"
        );
        ImageFolderOptions {
            width,
            height,
            colour: None,
            resize: Resize::Stretch,
            storage: Storage::Memory,
            skip_bad_files: false,
            limits: Limits {
                max_side: Self::MAX_SIDE,
                ..Limits::default()
            },
        }
    }

    /// Every picture converted to `colour` (grey: luma; RGB: a grey picture's value in all three
    /// channels). Without it, pictures keep the colour they are stored in, and a folder mixing
    /// grey and colour pictures is an error.
    pub fn colour(mut self, colour: Colour) -> Self {
        self.colour = Some(colour);
        self
    }

    /// How pictures of another shape are resized (default [`Resize::Stretch`]).
    pub fn resize(mut self, resize: Resize) -> Self {
        self.resize = resize;
        self
    }

    /// Where the decoded pixels live (default [`Storage::Memory`]).
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Whether a file that cannot be read or decoded is left out, and listed with its error in
    /// [`ImageFolder::skipped`] (for a warning), instead of failing the whole folder. Bad files are
    /// found when the folder is opened: with [`Storage::Lazy`] this decodes every picture once
    /// (and keeps nothing), so that no batch meets a bad file later.
    pub fn skip_bad_files(mut self, skip: bool) -> Self {
        self.skip_bad_files = skip;
        self
    }

    /// How large a picture may be, checked from its header before it is decoded.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The size of the samples: (width, height).
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// The colour asked for, if any.
    pub fn requested_colour(&self) -> Option<Colour> {
        self.colour
    }

    /// The resizing.
    pub fn requested_resize(&self) -> Resize {
        self.resize
    }

    /// The pictures of `root/<class>/...` (see [`ImageFolder`]).
    pub fn open(self, root: impl AsRef<Path>) -> Result<ImageFolder> {
        ImageFolder::open_with(root.as_ref(), self)
    }

    /// The pictures of `root/train/<class>/...`, and of `root/val/` (or `valid/`, `validation/`)
    /// and `root/test/` when present: the classes are the training folder's.
    pub fn open_splits(self, root: impl AsRef<Path>) -> Result<FolderSplits> {
        ImageFolder::open_splits_with(root.as_ref(), self)
    }

    /// The picture in the file at `path` prepared as a sample of a folder opened with these
    /// options (its colour given): `[C, H, W]` bytes, one plane per channel. Its header is
    /// `header` (from [`crate::vision::read_header`]).
    pub fn prepare(&self, path: &Path, header: &Header, colour: Colour) -> Result<Vec<u8>, ImageError> {
        let (w, h) = (self.width, self.height);
        let (fit_w, fit_h) = match self.resize {
            Resize::Stretch => (w, h),
            Resize::Pad => fit(header.width, header.height, w, h),
        };
        let options = DecodeOptions::new(colour).limits(self.limits).size(Size::Exact {
            width: fit_w,
            height: fit_h,
        });
        let picture = decode_file(path, &options)?;
        let c = colour.channels();
        let (left, top) = ((w - fit_w) / 2, (h - fit_h) / 2);
        let mut planes = vec![0u8; c * w * h];
        // Interleaved rows of the decoded picture into planes, offset into the padding.
        for (y, row) in picture.pixels.chunks_exact(fit_w * c).enumerate() {
            for (x, pixel) in row.chunks_exact(c).enumerate() {
                for (ch, &v) in pixel.iter().enumerate() {
                    planes[ch * w * h + (top + y) * w + left + x] = v;
                }
            }
        }
        Ok(planes)
    }
}

/// The largest size within `w` × `h` with the aspect ratio of `width` × `height`, each side at
/// least 1.
fn fit(width: usize, height: usize, w: usize, h: usize) -> (usize, usize) {
    // Compare w / width with h / height without division: the tighter side sets the scale.
    if (w as u128) * (height as u128) <= (h as u128) * (width as u128) {
        let fh = ((height as f64) * (w as f64) / (width as f64)).round() as usize;
        (w, fh.clamp(1, h))
    } else {
        let fw = ((width as f64) * (h as f64) / (height as f64)).round() as usize;
        (fw.clamp(1, w), h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_keeps_the_aspect_ratio_within_the_box() {
        assert_eq!(fit(100, 50, 28, 28), (28, 14));
        assert_eq!(fit(50, 100, 28, 28), (14, 28));
        assert_eq!(fit(10, 10, 28, 14), (14, 14));
        assert_eq!(fit(10_000, 1, 28, 28), (28, 1));
        assert_eq!(fit(3, 4, 30, 40), (30, 40));
    }
}
