//! [`Metadata`]: the text a checkpoint carries beside its tensors (safetensors' `__metadata__`),
//! such as the class names of a classifier trained on an image folder, so that they travel with
//! the model.

use super::error::CheckpointError;
use std::collections::BTreeMap;
use std::path::Path;

/// String pairs stored in a checkpoint's header (safetensors' `__metadata__`, which
/// `safetensors.safe_open(path, "pt").metadata()` reads in Python). nn always writes
/// `format = pt` (PyTorch's names and layouts) beside them.
///
/// ```
/// use nn_core::checkpoint::Metadata;
/// let m = Metadata::new().with_classes(&["cat", "dog"]).with("trained_on", "pets/");
/// assert_eq!(m.classes().unwrap(), Some(vec!["cat".to_string(), "dog".to_string()]));
/// assert_eq!(m.get("classes"), Some(r#"["cat","dog"]"#));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// The key of the class names: a JSON array of strings, class 0 first.
    pub const CLASSES: &'static str = "classes";

    /// No entries.
    pub fn new() -> Self {
        Metadata::default()
    }

    /// These entries and `key = value` (replacing an earlier value of `key`).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Sets `key = value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// These entries and the class names, class 0 first, under [`Metadata::CLASSES`].
    pub fn with_classes<S: AsRef<str>>(self, names: &[S]) -> Self {
        let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
        let json = serde_json::to_string(&names).expect("a list of strings is always JSON");
        self.with(Self::CLASSES, json)
    }

    /// The class names stored under [`Metadata::CLASSES`], or `None` if there are none; an
    /// error if the entry is not a JSON array of strings.
    pub fn classes(&self) -> Result<Option<Vec<String>>, CheckpointError> {
        let Some(text) = self.get(Self::CLASSES) else {
            return Ok(None);
        };
        serde_json::from_str(text)
            .map(Some)
            .map_err(|e| CheckpointError::BadMetadata {
                key: Self::CLASSES.to_string(),
                reason: format!("expected a JSON array of class names, found `{text}` ({e})"),
            })
    }

    /// The entries as written to a file: these, and `format = pt`.
    pub(crate) fn to_header(&self) -> std::collections::HashMap<String, String> {
        let mut map: std::collections::HashMap<String, String> = self.0.clone().into_iter().collect();
        // "pt" tells loaders (transformers among them) that names and layouts follow PyTorch's.
        map.insert("format".to_string(), "pt".to_string());
        map
    }

    /// The metadata of a parsed header.
    pub(crate) fn from_header(map: Option<&std::collections::HashMap<String, String>>) -> Self {
        Metadata(map.map(|m| m.clone().into_iter().collect()).unwrap_or_default())
    }
}

/// The metadata of the checkpoint at `path`, the file checked whole first (as [`super::load`]
/// checks it).
pub fn read_metadata(path: impl AsRef<Path>) -> crate::error::Result<Metadata> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| crate::error::Error::io("reading checkpoint", path, e))?;
    Ok(super::format::metadata(&bytes, path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::testing::{all_bits, trained_net};
    use crate::checkpoint::{load, save, save_with_metadata};
    use crate::fsutil::tests::TempDir;

    #[test]
    fn metadata_round_trips_beside_the_tensors() {
        let dir = TempDir::new("ckpt-metadata");
        let path = dir.join("m.safetensors");
        let mut net = trained_net(1);
        let names = ["zéro", "one \"quoted\"", "two,three"];
        save_with_metadata(
            &mut net,
            &path,
            &Metadata::new().with_classes(&names).with("format", "ignored"),
        )
        .unwrap();
        let m = read_metadata(&path).unwrap();
        assert_eq!(m.classes().unwrap().unwrap(), names);
        assert_eq!(m.get("format"), Some("pt"), "nn's format entry wins");
        // The tensors load as from any checkpoint.
        let mut other = trained_net(2);
        load(&mut other, &path).unwrap();
        assert_eq!(all_bits(&mut other), all_bits(&mut net));
        // A plain save has no classes.
        save(&mut net, &path).unwrap();
        assert_eq!(read_metadata(&path).unwrap().classes().unwrap(), None);
    }

    #[test]
    fn classes_that_are_not_a_list_of_names_are_an_error() {
        let m = Metadata::new().with(Metadata::CLASSES, "{\"a\": 1}");
        let err = m.classes().unwrap_err().to_string();
        assert!(
            err.contains("metadata `classes`: expected a JSON array of class names"),
            "{err}"
        );
    }
}
