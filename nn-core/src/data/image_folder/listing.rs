//! Listing an image folder: the class folders (sorted by name, as torchvision's `ImageFolder`)
//! and the picture files under each (recursively, sorted), before anything is decoded.

use super::super::error::DataError;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The file name endings read as pictures (case-insensitive), as torchvision's PNG and JPEG ones.
pub(crate) const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// One picture file and its class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub path: PathBuf,
    pub label: usize,
}

/// The class folder names under `root`, sorted; hidden folders (names starting with a dot) left
/// out.
pub(crate) fn class_names(root: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = read_dir(root)?
        .into_iter()
        .filter(|(_, is_dir)| *is_dir)
        .filter_map(|(path, _)| path.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(folder(
            root,
            "it has no class folders; fix: put each class's pictures in a folder of their own, \
             ROOT/<class>/<picture>.png (or train/ and test/ folders, each holding the class folders)"
                .into(),
        ));
    }
    Ok(names)
}

/// The pictures of each class in `classes` (label = position) under `root`: every `.png`,
/// `.jpg` and `.jpeg` file below the class folder, sorted by path. A class folder `root` lacks
/// is an error naming it when `required`, else no pictures of that class; a class folder without
/// pictures is an error.
pub(crate) fn entries(root: &Path, classes: &[String], required: bool) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let dir = root.join(class);
        if !dir.is_dir() {
            if required {
                return Err(folder(&dir, "the class folder is missing".into()));
            }
            continue;
        }
        let mut files = Vec::new();
        walk(&dir, &mut files)?;
        if files.is_empty() {
            return Err(folder(
                &dir,
                format!(
                    "class `{class}` has no pictures (files ending in .png, .jpg or .jpeg); fix: \
                     add its pictures, or remove the folder"
                ),
            ));
        }
        files.sort();
        entries.extend(files.into_iter().map(|path| Entry { path, label }));
    }
    Ok(entries)
}

/// Appends the picture files below `dir` (recursively, following links, hidden entries left out).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for (path, is_dir) in read_dir(dir)? {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if is_dir {
            walk(&path, out)?;
        } else if is_picture(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether `path` ends in one of [`EXTENSIONS`], in any case.
pub(crate) fn is_picture(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The entries of `dir` with whether each is a directory (links followed).
fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, bool)>> {
    let io = |e| Error::io("reading the folder", dir, e);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        // `metadata` follows links (a linked class folder counts); a broken link is a file.
        let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
        out.push((path, is_dir));
    }
    Ok(out)
}

/// An image folder error about `path`.
pub(crate) fn folder(path: &Path, problem: String) -> Error {
    DataError::ImageFolder {
        path: path.to_path_buf(),
        problem,
    }
    .into()
}
