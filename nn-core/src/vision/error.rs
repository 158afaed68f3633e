//! Why a picture could not be decoded or prepared: [`ImageError`].

use super::decode::Channels;
use super::digit::{MIN_CONTRAST, MIN_PEAK};
use std::path::PathBuf;

/// Why a picture could not be decoded, or made into an MNIST digit. An error about a file is
/// [`ImageError::File`], which names it and holds the reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// A problem with the picture in the file `path`.
    #[error("{}: {source}", path.display())]
    File {
        /// The picture's file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<ImageError>,
    },
    /// The file could not be read.
    #[error("cannot open or read it: {source}")]
    Io {
        /// The operating system's error.
        #[from]
        source: std::io::Error,
    },
    /// The bytes are not a picture nn decodes.
    #[error("not a PNG or JPEG image ({found}); fix: give a PNG or JPEG file")]
    Unsupported {
        /// What the bytes look like instead: `the file is empty`.
        found: &'static str,
    },
    /// The header declares more pixels than the [`Limits`](super::Limits) allow; nothing was
    /// allocated for them.
    #[error(
        "the picture is {width}×{height} pixels, beyond the limit of {limit}; fix: scale it \
         down, or raise the limit (vision::Limits)"
    )]
    TooLarge {
        /// Its width, as the header declares it.
        width: u64,
        /// Its height.
        height: u64,
        /// The limit it breaks, in words: `32768 pixels per side`.
        limit: String,
    },
    /// The file is not a well-formed PNG or JPEG: its header, chunks or compressed data are
    /// damaged or cut off.
    #[error("the {format} data is damaged ({reason}); fix: save the picture again")]
    Damaged {
        /// `PNG` or `JPEG`.
        format: &'static str,
        /// What is wrong, in the decoder's words.
        reason: String,
    },
    /// The decoder itself failed on these bytes (it panicked); nothing else is affected.
    #[error(
        "the {format} decoder failed on this file ({message}); it is malformed in a way the \
         decoder does not handle; fix: save the picture again with another program"
    )]
    DecoderPanicked {
        /// `PNG` or `JPEG`.
        format: &'static str,
        /// The decoder's panic message.
        message: String,
    },
    /// The picture has no pixels.
    #[error("the picture is {width}×{height} pixels, so it holds no digit; fix: give a picture of at least 1×1 pixels")]
    Empty {
        /// Its width.
        width: usize,
        /// Its height.
        height: usize,
    },
    /// The samples do not fill `width × height` pixels of the stated channels.
    #[error(
        "a {width}×{height} {channels:?} picture needs {} samples, found {found}; fix: pass the \
         channels the samples were decoded with",
        needed(*width, *height, *channels)
    )]
    WrongLength {
        /// Its width.
        width: usize,
        /// Its height.
        height: usize,
        /// Its channels.
        channels: Channels,
        /// The samples found.
        found: usize,
    },
    /// Nothing in the picture stands out from the background.
    #[error(
        "the picture is blank: no pixel differs from the background (brightness {:.0} of 255) by \
         more than {:.0} grey levels, and at least {:.0} are needed to see ink; fix: give a picture \
         with a visible digit (dark on light or light on dark)",
        background * 255.0,
        contrast * 255.0,
        MIN_CONTRAST * 255.0
    )]
    Blank {
        /// The background's brightness (0 black to 1 white).
        background: f32,
        /// The largest difference from it found (below [`MIN_CONTRAST`]).
        contrast: f32,
    },
    /// The picture has ink, but scaled into MNIST's 20×20 box it all but vanishes: too sparse or
    /// too thin for the box its extent needs.
    #[error(
        "the ink is too sparse or too thin to make a digit: its {ink_width}×{ink_height}-pixel \
         extent scaled into MNIST's 20×20 box leaves a brightest pixel of {peak} of 255, and a \
         digit needs at least {}; fix: crop the picture to the digit, or draw it with a thicker \
         stroke",
        MIN_PEAK
    )]
    Faint {
        /// The brightest pixel of the prepared digit (below [`MIN_PEAK`]).
        peak: u8,
        /// The width of the ink's bounding box in the picture, in pixels.
        ink_width: usize,
        /// Its height.
        ink_height: usize,
    },
}

impl ImageError {
    /// This error, about the file at `path`.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        ImageError::File {
            path: path.into(),
            source: Box::new(self),
        }
    }

    /// The reason, without the file: `self` unless this is [`ImageError::File`].
    pub fn reason(&self) -> &ImageError {
        match self {
            ImageError::File { source, .. } => source.reason(),
            other => other,
        }
    }
}

/// The samples a picture needs, in words when the count overflows.
fn needed(width: usize, height: usize, channels: Channels) -> String {
    width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(channels.count()))
        .map_or_else(|| "more".to_string(), |n| n.to_string())
}
