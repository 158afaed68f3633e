//! Image folders written to a temporary directory: PNG and JPEG pictures, grey and colour, good
//! and bad.

use super::*;
use crate::data::Targets;
use crate::fsutil::tests::TempDir;
use crate::rng::seeded;
use crate::vision::Limits;

/// The bytes of a PNG of `w` × `h` pixels, grey (`channels` 1) or RGB (3).
pub(crate) fn png_bytes(w: usize, h: usize, channels: usize, pixels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, w as u32, h as u32);
    encoder.set_color(if channels == 1 {
        png::ColorType::Grayscale
    } else {
        png::ColorType::Rgb
    });
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().unwrap().write_image_data(pixels).unwrap();
    bytes
}

/// A PNG whose header declares `w` × `h` pixels (its CRC fixed), with a 1x1 picture's data.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = png_bytes(1, 1, 1, &[7]);
    // The IHDR chunk: length at 8, type at 12, width at 16, height at 20, CRC after 13 bytes.
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    bytes
}

/// A `w` × `h` picture whose pixels encode `seed` (grey or RGB).
fn picture(w: usize, h: usize, channels: usize, seed: usize) -> Vec<u8> {
    (0..w * h * channels)
        .map(|i| ((i * 7 + seed * 31) % 256) as u8)
        .collect()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// `root/<class>/<i>.png` for classes `b`, `a`, `c` (written out of order) with 3, 2 and 4
/// grey 6x6 pictures.
fn three_classes(root: &Path) {
    for (class, n) in [("b", 3), ("a", 2), ("c", 4)] {
        for i in 0..n {
            write(
                &root.join(class).join(format!("{i}.png")),
                &png_bytes(6, 6, 1, &picture(6, 6, 1, i)),
            );
        }
    }
    // Not pictures, or hidden: ignored.
    write(&root.join("a/notes.txt"), b"not a picture");
    write(
        &root.join(".cache/0.png"),
        &png_bytes(6, 6, 1, &picture(6, 6, 1, 0)),
    );
}

fn batch_bits(source: &dyn DataSource, indices: &[usize]) -> (Vec<u32>, Vec<usize>) {
    let mut b = Batch::new();
    source.fill(indices, &mut b, FillContext::eval()).unwrap();
    let Targets::Classes(labels) = b.targets() else {
        panic!("class targets")
    };
    (b.inputs.iter().map(|v| v.to_bits()).collect(), labels.to_vec())
}

fn message(result: Result<impl std::fmt::Debug>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn classes_are_sorted_folder_names_and_memory_and_lazy_give_the_same_samples() {
    let dir = TempDir::new("folder-classes");
    three_classes(dir.path());
    let memory = ImageFolder::options(6, 6).open(dir.path()).unwrap();
    assert_eq!(memory.classes(), ["a", "b", "c"]);
    assert_eq!(memory.labels(), [0, 0, 1, 1, 1, 2, 2, 2, 2]);
    assert_eq!(memory.input_shape(), [1, 6, 6]);
    assert_eq!(memory.colour(), Colour::Grey);
    assert!(memory.files()[0].ends_with("a/0.png"));
    let lazy = ImageFolder::options(6, 6)
        .storage(Storage::Lazy)
        .open(dir.path())
        .unwrap();
    let order = [8, 0, 3, 5];
    assert_eq!(batch_bits(&memory, &order), batch_bits(&lazy, &order));
    // The pixels are the picture's, divided by 255, one plane.
    let (bits, labels) = batch_bits(&lazy, &[2]);
    let expected: Vec<u32> = picture(6, 6, 1, 0)
        .iter()
        .map(|&p| (f32::from(p) / 255.0).to_bits())
        .collect();
    assert_eq!((bits, labels), (expected, vec![1]));
    // The same seed splits both alike.
    let (t1, v1) = memory.split_valid(3, &mut seeded(4)).unwrap();
    let (t2, v2) = lazy.split_valid(3, &mut seeded(4)).unwrap();
    assert_eq!((t1.files(), v1.files()), (t2.files(), v2.files()));
    assert_eq!(batch_bits(&v1, &[0, 1, 2]), batch_bits(&v2, &[0, 1, 2]));
    assert_eq!((t1.len(), v1.len(), v1.classes()), (6, 3, memory.classes()));
    assert!(memory.split_valid(10, &mut seeded(1)).is_err());
}

#[test]
fn lazy_batches_are_the_same_on_one_and_two_threads() {
    let dir = TempDir::new("folder-threads");
    three_classes(dir.path());
    let lazy = ImageFolder::options(4, 5)
        .storage(Storage::Lazy)
        .open(dir.path())
        .unwrap();
    let all: Vec<usize> = (0..9).rev().collect();
    crate::set_num_threads(1);
    let one = batch_bits(&lazy, &all);
    crate::set_num_threads(2);
    assert_eq!(batch_bits(&lazy, &all), one);
}

#[test]
fn colour_is_kept_converted_or_an_error_when_mixed() {
    let dir = TempDir::new("folder-colour");
    let root = dir.path();
    write(
        &root.join("cat/0.png"),
        &png_bytes(2, 2, 3, &[255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]),
    );
    let rgb = ImageFolder::options(2, 2).open(root).unwrap();
    assert_eq!((rgb.colour(), rgb.input_shape()), (Colour::Rgb, &[3, 2, 2][..]));
    // Planes: red, green, blue.
    let (bits, _) = batch_bits(&rgb, &[0]);
    let values: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b) * 255.0).collect();
    assert_eq!(values, [255., 0., 0., 9., 0., 255., 0., 9., 0., 0., 255., 9.]);
    write(&root.join("dog/0.png"), &png_bytes(2, 2, 1, &[1, 2, 3, 4]));
    let err = message(ImageFolder::options(2, 2).open(root));
    assert!(err.contains("it mixes grey and colour pictures ("), "{err}");
    assert!(
        err.contains("dog/0.png is grey") && err.contains("cat/0.png is colour"),
        "{err}"
    );
    assert!(err.contains("fix: choose one colour for all"), "{err}");
    let grey = ImageFolder::options(2, 2)
        .colour(Colour::Grey)
        .open(root)
        .unwrap();
    assert_eq!(grey.input_shape(), [1, 2, 2]);
    let rgb = ImageFolder::options(2, 2).colour(Colour::Rgb).open(root).unwrap();
    let (bits, _) = batch_bits(&rgb, &[1]);
    assert_eq!(
        bits[0], bits[4],
        "a grey picture as RGB: the same value in each channel"
    );
}

#[test]
fn pictures_are_stretched_or_padded_to_the_size() {
    let dir = TempDir::new("folder-resize");
    let root = dir.path();
    // A white 4x2 picture.
    write(&root.join("x/wide.png"), &png_bytes(4, 2, 1, &[255; 8]));
    let stretched = ImageFolder::options(4, 4).open(root).unwrap();
    assert!(batch_bits(&stretched, &[0])
        .0
        .iter()
        .all(|&b| f32::from_bits(b) == 1.0));
    let padded = ImageFolder::options(4, 4).resize(Resize::Pad).open(root).unwrap();
    let rows: Vec<f32> = batch_bits(&padded, &[0])
        .0
        .iter()
        .map(|&b| f32::from_bits(b))
        .collect();
    assert_eq!(
        rows,
        [0., 0., 0., 0., 1., 1., 1., 1., 1., 1., 1., 1., 0., 0., 0., 0.]
    );
}

#[test]
fn jpeg_pictures_are_read_too() {
    let dir = TempDir::new("folder-jpeg");
    let root = dir.path();
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, 95)
        .encode(&[200; 64], 8, 8, jpeg_encoder::ColorType::Luma)
        .unwrap();
    write(&root.join("a/photo.JPG"), &bytes);
    write(&root.join("b/scan.png"), &png_bytes(8, 8, 1, &[10; 64]));
    let folder = ImageFolder::options(4, 4).open(root).unwrap();
    let (bits, labels) = batch_bits(&folder, &[0, 1]);
    assert_eq!(labels, [0, 1]);
    let first = f32::from_bits(bits[0]) * 255.0;
    assert!((first - 200.0).abs() <= 2.0, "{first}");
}

#[test]
fn a_bad_file_is_an_error_naming_it_or_skipped_with_a_count() {
    let dir = TempDir::new("folder-bad");
    let root = dir.path();
    three_classes(root);
    let good = png_bytes(6, 6, 1, &picture(6, 6, 1, 1));
    let bad: [(&str, Vec<u8>, &str); 4] = [
        (
            "b/cut.png",
            good[..good.len() - 20].to_vec(),
            "the PNG data is damaged",
        ),
        ("b/text.png", b"hello".to_vec(), "not a PNG or JPEG image"),
        (
            "b/empty.jpg",
            Vec::new(),
            "not a PNG or JPEG image (the file is empty)",
        ),
        (
            "c/cut.jpeg",
            vec![0xff, 0xd8, 0xff, 0xe0, 0, 16],
            "the JPEG data is damaged",
        ),
    ];
    for (name, bytes, reason) in &bad {
        write(&root.join(name), bytes);
        for storage in [Storage::Memory, Storage::Lazy] {
            let opened = ImageFolder::options(6, 6).storage(storage).open(root);
            // The lazy open reads headers only: a file cut after its header fails in its batch.
            let err = match opened {
                Ok(lazy) if *name == "b/cut.png" => {
                    let at = lazy.files().iter().position(|f| f.ends_with(name)).unwrap();
                    lazy.fill(&[at], &mut Batch::new(), FillContext::eval())
                        .unwrap_err()
                        .to_string()
                }
                other => message(other),
            };
            assert!(
                err.contains(name) && err.contains(reason),
                "{name} {storage:?}: {err}"
            );
        }
        std::fs::remove_file(root.join(name)).unwrap();
    }
    for (name, bytes, _) in &bad {
        write(&root.join(name), bytes);
    }
    for storage in [Storage::Memory, Storage::Lazy] {
        let folder = ImageFolder::options(6, 6)
            .storage(storage)
            .skip_bad_files(true)
            .open(root)
            .unwrap();
        assert_eq!((folder.len(), folder.skipped().len()), (9, 4), "{storage:?}");
        assert!(folder.skipped()[0].to_string().contains("cut.png"));
    }
    // A lazy folder whose file is damaged after opening: the batch's error names it.
    for (name, _, _) in &bad {
        std::fs::remove_file(root.join(name)).unwrap();
    }
    let lazy = ImageFolder::options(6, 6)
        .storage(Storage::Lazy)
        .open(root)
        .unwrap();
    write(&root.join("a/1.png"), &good[..good.len() - 20]);
    let mut batch = Batch::new();
    let err = lazy
        .fill(&[0, 1], &mut batch, FillContext::eval())
        .unwrap_err()
        .to_string();
    assert!(err.contains("a/1.png: the PNG data is damaged"), "{err}");
}

#[test]
fn sizes_from_the_header_are_checked_before_decoding() {
    let dir = TempDir::new("folder-sizes");
    let root = dir.path();
    write(&root.join("a/ok.png"), &png_bytes(3, 3, 1, &[1; 9]));
    write(&root.join("a/huge.png"), &png_declaring(20_000, 10));
    let err = message(ImageFolder::options(3, 3).open(root));
    assert!(
        err.contains("huge.png: the picture is 20000×10 pixels, beyond the limit of 16384 pixels per side"),
        "{err}"
    );
    let limits = Limits {
        max_side: 2,
        max_pixels: 100,
    };
    let err = message(ImageFolder::options(3, 3).limits(limits).open(root));
    assert!(err.contains("beyond the limit of 2 pixels per side"), "{err}");
    write(&root.join("a/huge.png"), &png_declaring(0, 0));
    let err = message(ImageFolder::options(3, 3).open(root));
    assert!(
        err.contains("huge.png: the PNG data is damaged (its header declares 0×0 pixels)"),
        "{err}"
    );
}

#[test]
fn folders_without_classes_or_pictures_are_errors_naming_them() {
    let dir = TempDir::new("folder-empty");
    let root = dir.path();
    let err = message(ImageFolder::options(3, 3).open(root.join("absent")));
    assert!(err.contains("absent"), "{err}");
    std::fs::create_dir_all(root.join("flat")).unwrap();
    write(&root.join("flat/0.png"), &png_bytes(3, 3, 1, &[1; 9]));
    let err = message(ImageFolder::options(3, 3).open(root.join("flat")));
    assert!(err.contains("flat: it has no class folders; fix:"), "{err}");
    write(&root.join("two/a/0.png"), &png_bytes(3, 3, 1, &[1; 9]));
    write(&root.join("two/b/readme.txt"), b"no pictures here");
    let err = message(ImageFolder::options(3, 3).open(root.join("two")));
    assert!(err.contains("two/b: class `b` has no pictures"), "{err}");
}

#[test]
fn train_val_and_test_folders_share_the_training_classes() {
    let dir = TempDir::new("folder-splits");
    let root = dir.path();
    for split in ["train", "val", "test"] {
        three_classes(&root.join(split));
    }
    std::fs::remove_dir_all(root.join("test/b")).unwrap();
    assert!(ImageFolder::has_splits(root) && !ImageFolder::has_splits(root.join("train")));
    let splits = ImageFolder::options(6, 6).open_splits(root).unwrap();
    let (valid, test) = (splits.valid.unwrap(), splits.test.unwrap());
    assert_eq!((splits.train.len(), valid.len(), test.len()), (9, 9, 6));
    assert_eq!(test.classes(), ["a", "b", "c"]);
    assert_eq!(
        test.labels(),
        [0, 0, 2, 2, 2, 2],
        "labels by the training classes"
    );
    write(&root.join("test/zebra/0.png"), &png_bytes(6, 6, 1, &[0; 36]));
    let err = message(ImageFolder::options(6, 6).open_splits(root));
    assert!(err.contains("test: it has a class `zebra` that"), "{err}");
    let err = message(ImageFolder::options(6, 6).open_splits(root.join("train")));
    assert!(err.contains("it has no train/ folder"), "{err}");
}
