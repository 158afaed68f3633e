//! `evaluate`'s logic (examples/common/evaluation.rs) and figures (examples/common/figures.rs).

#[path = "../examples/common/mod.rs"]
mod common;

use common::evaluation::{predicted_classes, worst_mistakes, Confusion, Mistake};
use common::figures::{confusion_png, digit_grid_png};
use nn::Tensor;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nn-test-evaluate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Five samples of three classes: rows of probabilities and their labels.
fn probabilities() -> (Tensor, Vec<usize>) {
    let rows = vec![
        0.8, 0.1, 0.1, // 0, right
        0.1, 0.2, 0.7, // 1 taken for 2 at 0.7
        0.05, 0.05, 0.9, // 2, right
        0.1, 0.6, 0.3, // 2 taken for 1 at 0.6
        0.95, 0.05, 0.0, // 1 taken for 0 at 0.95
    ];
    (
        Tensor::from_shape_vec(vec![5, 3], rows).unwrap(),
        vec![0, 1, 2, 2, 1],
    )
}

#[test]
fn the_confusion_matrix_counts_true_against_predicted_classes() {
    let (p, labels) = probabilities();
    let predicted = predicted_classes(&p);
    assert_eq!(predicted, [0, 2, 2, 1, 0]);
    let c = Confusion::new(&predicted, &labels, 3);
    assert_eq!(c.counts, [[1, 0, 0], [1, 0, 1], [0, 1, 1]]);
    assert_eq!(c.class_accuracy(0), Some(1.0));
    assert_eq!(c.class_accuracy(1), Some(0.0));
    assert_eq!(c.class_accuracy(2), Some(0.5));
    assert_eq!(c.accuracy(), 0.4);
    assert_eq!(
        c.per_class_table(),
        "class  samples  correct  accuracy\n    0        1        1    1.0000\n    1        2        0    \
         0.0000\n    2        2        1    0.5000\n"
    );
    let empty = Confusion::new(&[0], &[0], 2);
    assert_eq!(
        empty.class_accuracy(1),
        None,
        "a class without samples has no accuracy"
    );
}

#[test]
fn the_worst_mistakes_are_the_most_confident_wrong_predictions() {
    let (p, labels) = probabilities();
    let m = |index, label, predicted, probability| Mistake {
        index,
        label,
        predicted,
        probability,
    };
    assert_eq!(
        worst_mistakes(&p, &labels, 10),
        [m(4, 1, 0, 0.95), m(1, 1, 2, 0.7), m(3, 2, 1, 0.6)],
        "only misclassified samples, most confident first"
    );
    assert_eq!(worst_mistakes(&p, &labels, 1).len(), 1);
}

#[test]
fn the_figures_are_written_as_png_files_of_the_layout_asked_for() {
    let dir = temp_dir("figures");
    let counts = vec![vec![50, 2, 0], vec![1, 40, 9], vec![0, 0, 45]];
    let path = dir.join("confusion.png");
    confusion_png(&path, &counts, "test").unwrap();
    let (w, h, rgb) = read_png(&path);
    assert_eq!((w, h), (96 + 3 * 54 + 24, 64 + 3 * 54 + 84));
    // A cell's corner (away from its count) is shaded by the row share: dark for 50 of 52,
    // white for none.
    let at = |x: u32, y: u32| &rgb[((y * w + x) * 3) as usize..][..3];
    let corner = |t: u32, p: u32| at(96 + p * 54 + 4, 64 + t * 54 + 4);
    assert!(corner(0, 0).iter().all(|&c| c < 120), "{:?}", corner(0, 0));
    assert!(corner(0, 2).iter().all(|&c| c > 240), "{:?}", corner(0, 2));
    assert!(
        corner(1, 2)[0] < corner(1, 0)[0],
        "9 of 50 is darker than 1 of 50"
    );

    let digit = [128u8; 784];
    let tiles: Vec<(&[u8], String)> = (0..7).map(|i| (&digit[..], format!("{i} → 1 (0.900)"))).collect();
    let path = dir.join("mistakes.png");
    digit_grid_png(&path, &tiles, 3, "caption").unwrap();
    let (w, h, _) = read_png(&path);
    assert_eq!(
        (w, h),
        (3 * 148 + 16, 56 + 3 * 152 + 8),
        "7 tiles in rows of 3: 3 rows"
    );
    // No mistakes at all still gives a figure (with its caption).
    digit_grid_png(&path, &[], 6, "none").unwrap();
    // A figure that cannot be written is an error naming the file.
    let bad = dir.join("missing-dir").join("c.png");
    let err = confusion_png(&bad, &counts, "t").unwrap_err();
    assert!(err.to_string().contains("c.png"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Width, height and RGB samples.
fn read_png(path: &std::path::Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    (info.width, info.height, rgb)
}
