//! What a model trained by the `image_folder` example needs to be used again, written into its
//! checkpoint's metadata: the class names, the samples' shape and colour, the resizing and the
//! normalisation. `predict` reads it back and prepares each picture the same way.

use super::digits::{top_k, Prediction};
use super::nets::FolderCnn;
use nn::checkpoint::Metadata;
use nn::data::{ImageFolderOptions, Resize};
use nn::prelude::*;
use nn::vision::{read_header, Colour, Normalize};
use std::path::Path;

/// The metadata value of `arch` for a checkpoint of [`FolderCnn`].
pub const ARCH: &str = "image_folder";

/// How an image-folder model reads pictures, and what its outputs are called.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// The class names, class 0 first.
    pub classes: Vec<String>,
    /// Samples of `[C, H, W]`.
    pub shape: [usize; 3],
    /// Whether pictures were padded to keep their aspect ratio (else stretched).
    pub pad: bool,
    /// The per-channel normalisation of the inputs.
    pub normalize: Normalize,
}

impl Recipe {
    /// The checkpoint metadata holding this recipe.
    pub fn metadata(&self) -> Metadata {
        let list = |v: &[f32]| serde_list(v);
        Metadata::new()
            .with_classes(&self.classes)
            .with("arch", ARCH)
            .with(
                "input_shape",
                format!("[{}, {}, {}]", self.shape[0], self.shape[1], self.shape[2]),
            )
            .with("resize", if self.pad { "pad" } else { "stretch" })
            .with("normalize_mean", list(self.normalize.mean()))
            .with("normalize_std", list(self.normalize.std()))
    }

    /// The recipe in `metadata`, if it is an image-folder model's; an error naming the entry
    /// that is missing or malformed.
    pub fn from_metadata(metadata: &Metadata) -> Result<Option<Recipe>, String> {
        if metadata.get("arch") != Some(ARCH) {
            return Ok(None);
        }
        let get = |key: &str| {
            metadata
                .get(key)
                .ok_or_else(|| format!("the checkpoint's metadata lacks `{key}`"))
        };
        let numbers = |key: &str| -> Result<Vec<f32>, String> {
            let text = get(key)?;
            text.trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse::<f32>()
                        .map_err(|_| format!("metadata `{key}` is `{text}`, not a list of numbers"))
                })
                .collect()
        };
        let classes = metadata
            .classes()
            .map_err(|e| e.to_string())?
            .ok_or("the checkpoint's metadata lacks `classes`")?;
        let shape = numbers("input_shape")?;
        let [c, h, w] = shape[..] else {
            return Err(format!("metadata `input_shape` is {shape:?}, not [C, H, W]"));
        };
        let (mean, std) = (numbers("normalize_mean")?, numbers("normalize_std")?);
        if mean.len() != c as usize
            || std.len() != c as usize
            || std.iter().any(|&s| s <= 0.0 || !s.is_finite())
        {
            return Err(format!(
                "metadata normalize_mean {mean:?} / normalize_std {std:?} do not fit {c} channels"
            ));
        }
        Ok(Some(Recipe {
            classes,
            shape: [c as usize, h as usize, w as usize],
            pad: get("resize")? == "pad",
            normalize: Normalize::new(mean, std),
        }))
    }

    /// The folder options that prepare pictures as this model saw them.
    pub fn options(&self) -> ImageFolderOptions {
        ImageFolderOptions::new(self.shape[2], self.shape[1])
            .colour(self.colour())
            .resize(if self.pad { Resize::Pad } else { Resize::Stretch })
    }

    /// The colour of the samples.
    pub fn colour(&self) -> Colour {
        if self.shape[0] == 1 {
            Colour::Grey
        } else {
            Colour::Rgb
        }
    }

    /// The network, its weights still to be loaded.
    pub fn net(&self) -> FolderCnn {
        FolderCnn::new(self.shape[0], self.classes.len(), &mut seeded(nn::DEFAULT_SEED))
    }

    /// The picture at `path` as one normalised sample `[1, C, H, W]`.
    pub fn sample(&self, path: &Path) -> Result<Tensor, String> {
        let options = self.options();
        let header = read_header(
            path,
            nn::vision::Limits {
                max_side: ImageFolderOptions::MAX_SIDE,
                ..Default::default()
            },
        )
        .map_err(|e| e.to_string())?;
        let bytes = options
            .prepare(path, &header, self.colour())
            .map_err(|e| e.to_string())?;
        let mut values: Vec<f32> = bytes.iter().map(|&b| f32::from(b) / 255.0).collect();
        self.normalize.normalize(&mut values);
        let [c, h, w] = self.shape;
        Ok(Tensor::from_shape_vec(vec![1, c, h, w], values).expect("C * H * W values"))
    }

    /// The three most probable classes of the picture at `path`, or why there are none.
    pub fn predict_file(&self, net: &mut dyn Layer, path: &Path) -> nn::Result<Result<Prediction, String>> {
        let sample = match self.sample(path) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let probabilities = nn::train::predict_proba(net, &sample, 1)?;
        let row: Vec<f32> = probabilities.iter().copied().collect();
        if row.iter().any(|p| !p.is_finite()) {
            return Ok(Err(format!(
                "{}: the model's output for this picture is not a number; the model's weights are damaged",
                path.display()
            )));
        }
        Ok(Ok(Prediction {
            path: path.to_path_buf(),
            top: top_k(&row, 3),
        }))
    }
}

/// `[a, b, c]`, each number as Rust prints an f32 (which parses back to the same bits).
fn serde_list(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
    format!("[{}]", parts.join(", "))
}
