//! [`ImageFolder`]: a folder of pictures, one sub-folder per class (torchvision's `ImageFolder`,
//! Keras' `image_dataset_from_directory`), as a data source of `[C, H, W]` images.
//!
//! The files: `listing.rs` (class folders and picture files), `options.rs` (colour, size,
//! resizing, storage, bad files, limits; preparing one picture), this file (opening, splitting,
//! and filling batches).

mod listing;
mod options;

pub use options::{ImageFolderOptions, Resize, Storage};

use self::listing::{class_names, entries, folder, Entry};
use super::batch::Batch;
use super::dataset::{split_order, Dataset};
use super::source::{DataSource, FillContext};
use super::targets::TargetKind;
use crate::error::Result;
use crate::rng::StdRng;
use crate::vision::{read_header, Channels, Colour, Header, ImageError};
use std::path::{Path, PathBuf};

/// The pictures of a folder laid out `root/<class>/<picture>` (`.png`, `.jpg`, `.jpeg`, in any
/// sub-folders of the class folder), each labelled with its class: the class folders' names in
/// sorted order, as torchvision's `ImageFolder` numbers them. Every picture becomes a
/// `[C, H, W]` sample of the size the [`ImageFolderOptions`] give (1 channel for grey, 3 for RGB),
/// with pixels in `[0, 1]` as batches are filled.
///
/// Opening checks the whole folder before any training: every header is read (its size against
/// the limits, its colour), and with [`Storage::Memory`] every picture is decoded into a compact
/// `u8` cache. An unreadable, cut-off or foreign file is an error naming it (or left out with
/// [`ImageFolderOptions::skip_bad_files`]); an empty class folder, a folder without class
/// folders and, unless a colour is chosen, a mix of grey and colour pictures are errors naming
/// the folder.
///
/// ```no_run
/// use nn_core::data::ImageFolder;
/// use nn_core::rng::seeded;
/// let all = ImageFolder::options(28, 28).open("digits")?;
/// let (train, valid) = all.split_valid(all.len() / 5, &mut seeded(1))?;
/// assert_eq!(train.classes(), valid.classes());
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Debug)]
pub struct ImageFolder {
    root: PathBuf,
    classes: Vec<String>,
    options: ImageFolderOptions,
    /// The colour of the samples: the one asked for, or the one every picture is stored in.
    colour: Colour,
    shape: [usize; 3],
    files: Vec<PathBuf>,
    headers: Vec<Header>,
    skipped: Vec<ImageError>,
    samples: Samples,
}

/// The decoded samples, or the way to decode them.
#[derive(Debug)]
enum Samples {
    Memory(Dataset),
    Lazy { labels: Vec<usize> },
}

/// The parts of a folder laid out `root/train/`, `root/val/`, `root/test/`.
#[derive(Debug)]
#[non_exhaustive]
pub struct FolderSplits {
    /// `root/train`.
    pub train: ImageFolder,
    /// `root/val` (or `valid`, `validation`), if present.
    pub valid: Option<ImageFolder>,
    /// `root/test`, if present.
    pub test: Option<ImageFolder>,
}

/// The names a validation folder may have, in the order they are looked for.
const VALID_NAMES: [&str; 3] = ["val", "valid", "validation"];

impl ImageFolder {
    /// Options for pictures of `width` × `height` pixels, to open a folder with.
    pub fn options(width: usize, height: usize) -> ImageFolderOptions {
        ImageFolderOptions::new(width, height)
    }

    /// Whether `root` is laid out for [`ImageFolderOptions::open_splits`]: a `train` folder with
    /// a `test` or validation folder beside it (rather than one folder per class).
    pub fn has_splits(root: impl AsRef<Path>) -> bool {
        let root = root.as_ref();
        root.join("train").is_dir()
            && std::iter::once("test")
                .chain(VALID_NAMES)
                .any(|name| root.join(name).is_dir())
    }

    pub(crate) fn open_with(root: &Path, options: ImageFolderOptions) -> Result<ImageFolder> {
        let classes = class_names(root)?;
        let listed = entries(root, &classes, true)?;
        let mut parts = open_parts(root, classes, vec![(root.to_path_buf(), listed)], options)?;
        Ok(parts.remove(0))
    }

    pub(crate) fn open_splits_with(root: &Path, options: ImageFolderOptions) -> Result<FolderSplits> {
        let train_dir = root.join("train");
        if !train_dir.is_dir() {
            return Err(folder(
                root,
                "it has no train/ folder; fix: lay it out as train/<class>/... (with val/ and \
                 test/ beside it), or open it as <class>/... with ImageFolderOptions::open"
                    .into(),
            ));
        }
        let classes = class_names(&train_dir)?;
        let mut parts = vec![(train_dir.clone(), entries(&train_dir, &classes, true)?)];
        let valid_dir = VALID_NAMES.iter().map(|n| root.join(n)).find(|d| d.is_dir());
        let test_dir = Some(root.join("test")).filter(|d| d.is_dir());
        for dir in valid_dir.iter().chain(&test_dir) {
            // Classes the training folder lacks would have no output to be scored against.
            if let Some(extra) = class_names(dir)?.into_iter().find(|c| !classes.contains(c)) {
                return Err(folder(
                    dir,
                    format!(
                        "it has a class `{extra}` that {} lacks; fix: add training pictures of \
                         it, or remove the folder",
                        train_dir.display()
                    ),
                ));
            }
            parts.push((dir.clone(), entries(dir, &classes, false)?));
        }
        let mut opened = open_parts(root, classes, parts, options)?.into_iter();
        let train = opened.next().expect("the training part");
        let valid = valid_dir.map(|_| opened.next().expect("the validation part"));
        let test = test_dir.map(|_| opened.next().expect("the test part"));
        Ok(FolderSplits { train, valid, test })
    }

    /// The number of pictures.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no pictures (an opened folder has some; a subset may not).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The class names, class 0 first.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The folder the pictures were read from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The picture files, in sample order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Each sample's class.
    pub fn labels(&self) -> &[usize] {
        match &self.samples {
            Samples::Memory(d) => d.labels().expect("an image folder has class labels"),
            Samples::Lazy { labels } => labels,
        }
    }

    /// The colour of the samples (asked for, or the one all pictures are stored in).
    pub fn colour(&self) -> Colour {
        self.colour
    }

    /// The options the folder was opened with.
    pub fn folder_options(&self) -> &ImageFolderOptions {
        &self.options
    }

    /// The files left out when opening with [`ImageFolderOptions::skip_bad_files`], each error
    /// naming its file.
    pub fn skipped(&self) -> &[ImageError] {
        &self.skipped
    }

    /// The samples at `indices`, in that order (the same class names).
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Result<ImageFolder> {
        let samples = match &self.samples {
            Samples::Memory(d) => Samples::Memory(d.subset(indices)?),
            Samples::Lazy { labels } => Samples::Lazy {
                labels: indices.iter().map(|&i| labels[i]).collect(),
            },
        };
        Ok(ImageFolder {
            root: self.root.clone(),
            classes: self.classes.clone(),
            options: self.options,
            colour: self.colour,
            shape: self.shape,
            files: indices.iter().map(|&i| self.files[i].clone()).collect(),
            headers: indices.iter().map(|&i| self.headers[i]).collect(),
            skipped: Vec::new(),
            samples,
        })
    }

    /// Splits off `n_valid` randomly chosen samples for validation: `(train, valid)`, as
    /// [`Dataset::split_valid`] (the same shuffle, so the same seed splits a folder the same way
    /// in memory and lazily).
    pub fn split_valid(&self, n_valid: usize, rng: &mut StdRng) -> Result<(ImageFolder, ImageFolder)> {
        let (train, valid) = split_order(self.len(), n_valid, rng)?;
        Ok((self.subset(&train)?, self.subset(&valid)?))
    }

    /// Decodes the samples at `indices` into `out` (`[N, C, H, W]`, divided by 255).
    fn decode_into(&self, indices: &[usize], out: &mut [f32]) -> Result<(), ImageError> {
        let n = self.shape.iter().product::<usize>();
        for (dst, &i) in out.chunks_exact_mut(n).zip(indices) {
            let pixels = self
                .options
                .prepare(&self.files[i], &self.headers[i], self.colour)?;
            for (d, &s) in dst.iter_mut().zip(&pixels) {
                *d = f32::from(s) / 255.0;
            }
        }
        Ok(())
    }
}

impl DataSource for ImageFolder {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn input_shape(&self) -> &[usize] {
        &self.shape
    }

    fn target_kind(&self) -> TargetKind<'_> {
        TargetKind::Classes(self.classes.len())
    }

    /// From memory as [`Dataset`] fills; lazily, each picture decoded and resized, the batch in
    /// two halves on two of nn's threads. A picture that has become unreadable since the folder
    /// was opened is an error naming it.
    fn fill(&self, indices: &[usize], batch: &mut Batch, context: FillContext) -> Result<()> {
        let labels = match &self.samples {
            Samples::Memory(d) => return d.fill(indices, batch, context),
            Samples::Lazy { labels } => labels,
        };
        let n = self.shape.iter().product::<usize>();
        let out = batch.inputs_mut(indices.len(), &self.shape);
        if indices.len() >= 2 && crate::linalg::num_threads() > 1 {
            let half = indices.len() / 2;
            let (o0, o1) = out.split_at_mut(half * n);
            let (i0, i1) = indices.split_at(half);
            let mut second = Ok(());
            let first = {
                let mut first = Ok(());
                crate::threads::both(
                    || first = self.decode_into(i0, o0),
                    || second = self.decode_into(i1, o1),
                );
                first
            };
            first.and(second)?;
        } else {
            self.decode_into(indices, out)?;
        }
        batch.classes_mut().extend(indices.iter().map(|&i| labels[i]));
        Ok(())
    }

    fn name(&self) -> String {
        format!("ImageFolder({})", self.root.display())
    }
}

/// What happened to one file when its folder was opened.
type Checked = std::result::Result<(Header, Option<Vec<u8>>), ImageError>;

/// Opens the parts `(folder, entries)` of one image folder under `root` (one part, or
/// train / validation / test) with one colour for all: headers read, bad files skipped or
/// refused, pictures decoded into memory when asked.
fn open_parts(
    root: &Path,
    classes: Vec<String>,
    parts: Vec<(PathBuf, Vec<Entry>)>,
    options: ImageFolderOptions,
) -> Result<Vec<ImageFolder>> {
    let all: Vec<&Entry> = parts.iter().flat_map(|(_, e)| e).collect();
    let headers = par_map(all.clone(), |e| read_header(&e.path, options.limits));
    let colour = match options.colour {
        Some(c) => c,
        None => stored_colour(root, &all, &headers)?,
    };
    let decode = options.storage == Storage::Memory || options.skip_bad_files;
    let keep = options.storage == Storage::Memory;
    let checked: Vec<Checked> = par_map(all.into_iter().zip(headers).collect(), |(e, header)| {
        let header = header?;
        if !decode {
            return Ok((header, None));
        }
        let pixels = options.prepare(&e.path, &header, colour)?;
        Ok((header, keep.then_some(pixels)))
    });
    let mut results = checked.into_iter();
    let mut opened = Vec::with_capacity(parts.len());
    let shape = [colour.channels(), options.height, options.width];
    for (dir, part) in parts {
        let (mut files, mut kept_headers, mut labels, mut pixels, mut skipped) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (entry, result) in part.into_iter().zip(results.by_ref()) {
            match result {
                Ok((header, bytes)) => {
                    files.push(entry.path);
                    kept_headers.push(header);
                    labels.push(entry.label);
                    pixels.extend(bytes.unwrap_or_default());
                }
                Err(e) if options.skip_bad_files => skipped.push(e),
                Err(e) => return Err(e.into()),
            }
        }
        if files.is_empty() {
            return Err(folder(
                &dir,
                format!("none of its pictures could be read (the first: {})", skipped[0]),
            ));
        }
        check_every_class_kept(&dir, &classes, &labels, &skipped)?;
        let samples = if keep {
            Samples::Memory(Dataset::from_u8(pixels, &shape, labels, classes.len())?)
        } else {
            Samples::Lazy { labels }
        };
        opened.push(ImageFolder {
            root: dir,
            classes: classes.clone(),
            options,
            colour,
            shape,
            files,
            headers: kept_headers,
            skipped,
            samples,
        });
    }
    Ok(opened)
}

/// The colour every picture is stored in; an error naming a grey and a colour picture if they
/// mix. Headers that failed are left to the caller.
fn stored_colour(root: &Path, entries: &[&Entry], headers: &[Result<Header, ImageError>]) -> Result<Colour> {
    let colour_of = |h: &Header| match h.stored {
        Channels::Grey | Channels::GreyAlpha => Colour::Grey,
        Channels::Rgb | Channels::Rgba => Colour::Rgb,
    };
    let first = |c: Colour| {
        headers
            .iter()
            .position(|h| h.as_ref().is_ok_and(|h| colour_of(h) == c))
            .map(|i| &entries[i].path)
    };
    match (first(Colour::Grey), first(Colour::Rgb)) {
        (Some(grey), Some(rgb)) => Err(folder(
            root,
            format!(
                "it mixes grey and colour pictures ({} is grey, {} is colour); fix: choose one \
                 colour for all (ImageFolderOptions::colour, --grey or --rgb)",
                grey.display(),
                rgb.display()
            ),
        )),
        (None, Some(_)) => Ok(Colour::Rgb),
        // Grey, or no readable picture (the caller reports the bad files).
        _ => Ok(Colour::Grey),
    }
}

/// An error if skipping bad files left a class of `classes` that `dir` had with no picture.
fn check_every_class_kept(
    dir: &Path,
    classes: &[String],
    labels: &[usize],
    skipped: &[ImageError],
) -> Result<()> {
    if skipped.is_empty() {
        return Ok(());
    }
    let mut seen = vec![false; classes.len()];
    labels.iter().for_each(|&l| seen[l] = true);
    let lost = classes
        .iter()
        .zip(&seen)
        .find(|(c, &s)| !s && dir.join(c).is_dir());
    if let Some((class, _)) = lost {
        let first = skipped.iter().find(|e| match e {
            ImageError::File { path, .. } => path.starts_with(dir.join(class)),
            _ => false,
        });
        return Err(folder(
            &dir.join(class),
            format!(
                "none of the pictures of class `{class}` could be read (the first: {})",
                first.unwrap_or(&skipped[0])
            ),
        ));
    }
    Ok(())
}

/// `f` applied to every item, in order: in two halves on two of nn's threads when it has them.
fn par_map<T: Send, R: Send>(mut items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    if items.len() < 2 || crate::linalg::num_threads() < 2 {
        return items.into_iter().map(f).collect();
    }
    let second = items.split_off(items.len() / 2);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    crate::threads::both(
        || a = items.into_iter().map(&f).collect(),
        || b = second.into_iter().map(&f).collect(),
    );
    a.extend(b);
    a
}

#[cfg(test)]
mod tests;
