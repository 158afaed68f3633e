//! An image-folder model's recipe (examples/common/folder.rs) travels in its checkpoint: class
//! names, sample shape, resizing and normalisation are written as metadata and read back by
//! `predict`, which then names classes.

use crate::common::folder::Recipe;
use nn::checkpoint::{read_metadata, save_with_metadata, Metadata};
use nn::vision::Normalize;

fn recipe() -> Recipe {
    Recipe {
        classes: vec!["cat".into(), "dog".into(), "hen".into()],
        shape: [3, 8, 8],
        pad: true,
        normalize: Normalize::new([0.1, 0.2, std::f32::consts::FRAC_1_PI], [0.5, 0.25, 1.0 / 3.0]),
    }
}

#[test]
fn the_recipe_round_trips_through_a_checkpoint_and_predict_names_classes() {
    let dir = std::env::temp_dir().join(format!("nn-folder-recipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let recipe = recipe();
    let mut net = recipe.net();
    save_with_metadata(&mut net, &path, &recipe.metadata()).unwrap();
    let metadata = read_metadata(&path).unwrap();
    assert_eq!(
        Recipe::from_metadata(&metadata).unwrap(),
        Some(recipe.clone()),
        "the same bits"
    );

    // A picture predicted with the recipe: a 20x10 RGB PNG, padded into 8x8.
    let picture = dir.join("photo.png");
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, 20, 10);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&[200; 600])
        .unwrap();
    std::fs::write(&picture, &bytes).unwrap();
    let sample = recipe.sample(&picture).unwrap();
    assert_eq!(sample.shape(), &[1, 3, 8, 8]);
    // Padding rows (black, normalised) above the picture, the picture's value in the middle.
    let top = sample[[0, 0, 0, 0]];
    let middle = sample[[0, 0, 4, 4]];
    assert!((top - (0.0 - 0.1) / 0.5).abs() < 1e-6, "{top}");
    assert!((middle - (200.0 / 255.0 - 0.1) / 0.5).abs() < 1e-6, "{middle}");
    let prediction = recipe.predict_file(&mut net, &picture).unwrap().unwrap();
    let line = prediction.named(&recipe.classes);
    assert!(line.starts_with(&format!("{}: ", picture.display())), "{line}");
    assert!(
        ["cat (", "dog (", "hen ("].iter().any(|c| line.contains(c)),
        "{line}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn other_checkpoints_have_no_recipe_and_a_broken_one_is_an_error() {
    assert_eq!(
        Recipe::from_metadata(&Metadata::new().with_classes(&["a"])).unwrap(),
        None
    );
    let mut metadata = recipe().metadata();
    metadata.insert("input_shape", "[3, 8]");
    let err = Recipe::from_metadata(&metadata).unwrap_err();
    assert!(err.contains("input_shape"), "{err}");
    let mut metadata = recipe().metadata();
    metadata.insert("normalize_std", "[0.5, 0, 1]");
    assert!(Recipe::from_metadata(&metadata).is_err());
}
