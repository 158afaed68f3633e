//! Figures of how a classifier does, as PNG files: its confusion matrix as a heat map, and a grid
//! of titled images (the test samples it got most wrong, say).

use super::render::{register_font, write_png, FONT};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::io;
use std::path::Path;

/// Side of a confusion-matrix cell, in pixels.
const CELL: i32 = 54;

/// How many times an image's pixels are enlarged in a grid.
const ZOOM: i32 = 4;

/// Writes `counts[true][predicted]` to `path` as a heat map: rows are the true classes (top to
/// bottom), columns the predicted ones, each cell shows its count and is shaded by its share of
/// the row on a square-root scale, so that a few mistakes among hundreds still show.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("nn-doc-confusion-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let counts = vec![vec![48, 2], vec![5, 45]];
/// nn_core::plot::confusion_matrix(dir.join("confusion.png"), &counts, "Confusion matrix")?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), nn_core::Error>(())
/// ```
///
/// # Panics
/// If `counts` is not square.
pub fn confusion_matrix(path: impl AsRef<Path>, counts: &[Vec<usize>], title: &str) -> Result<()> {
    let k = counts.len();
    if let Some(row) = counts.iter().find(|row| row.len() != k) {
        panic!(
            "confusion_matrix: counts must be {k} × {k} (one row per class), got a row of {}",
            row.len()
        );
    }
    let k = k as i32;
    let (left, top, right, bottom) = (96, 64, 24, 84);
    let size = ((left + k * CELL + right) as u32, (top + k * CELL + bottom) as u32);
    draw_png(path.as_ref(), size, |area| {
        let text = |px: u32, colour: &RGBColor| {
            (FONT, px)
                .into_font()
                .color(colour)
                .pos(Pos::new(HPos::Center, VPos::Center))
        };
        area.draw_text(title, &text(20, &BLACK), (size.0 as i32 / 2, top / 2))?;
        for (t, row) in counts.iter().enumerate() {
            let n = row.iter().sum::<usize>().max(1) as f64;
            for (p, &count) in row.iter().enumerate() {
                let (x, y) = (left + p as i32 * CELL, top + t as i32 * CELL);
                let share = (count as f64 / n).sqrt();
                area.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    blues(share).filled(),
                ))?;
                let ink = if share > 0.6 { &WHITE } else { &BLACK };
                area.draw_text(&count.to_string(), &text(15, ink), (x + CELL / 2, y + CELL / 2))?;
            }
        }
        let edge = RGBColor(200, 200, 200);
        area.draw(&Rectangle::new(
            [(left, top), (left + k * CELL, top + k * CELL)],
            edge,
        ))?;
        for i in 0..k {
            let (label, mid) = (i.to_string(), i * CELL + CELL / 2);
            area.draw_text(&label, &text(15, &BLACK), (left - 16, top + mid))?;
            area.draw_text(&label, &text(15, &BLACK), (left + mid, top + k * CELL + 16))?;
        }
        let axis = text(17, &BLACK);
        area.draw_text(
            "predicted class",
            &axis,
            (left + k * CELL / 2, top + k * CELL + 52),
        )?;
        let vertical = axis.transform(FontTransform::Rotate270);
        area.draw_text("true class", &vertical, (left - 58, top + k * CELL / 2))
    })
}

/// Writes `images` to `path` in a grid `columns` wide under `caption`, each titled above. Each
/// image is square grey pixels, row-major, white ink on black as in MNIST, and is drawn dark on
/// light, enlarged four times.
///
/// # Panics
/// If an image is not square.
pub fn image_grid(
    path: impl AsRef<Path>,
    images: &[(&[u8], String)],
    columns: usize,
    caption: &str,
) -> Result<()> {
    let side = images.first().map_or(28, |(pixels, _)| pixels.len().isqrt());
    for (i, (pixels, _)) in images.iter().enumerate() {
        assert!(
            pixels.len() == side * side,
            "image_grid: image {i} has {} pixels, expected {side} × {side} like the first",
            pixels.len()
        );
    }
    let zoomed = side as i32 * ZOOM;
    let (cell_w, cell_h, top) = (zoomed + 36, zoomed + 40, 56);
    let columns = columns.clamp(1, images.len().max(1));
    let rows = images.len().div_ceil(columns).max(1);
    let size = (
        (columns as i32 * cell_w + 16) as u32,
        (top + rows as i32 * cell_h + 8) as u32,
    );
    draw_png(path.as_ref(), size, |area| {
        let text = |px: u32| {
            (FONT, px)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Center))
        };
        area.draw_text(caption, &text(18), (size.0 as i32 / 2, top / 2))?;
        for (i, (pixels, title)) in images.iter().enumerate() {
            let x = 8 + (i % columns) as i32 * cell_w + (cell_w - zoomed) / 2;
            let y = top + (i / columns) as i32 * cell_h + 26;
            area.draw_text(title, &text(16), (x + zoomed / 2, y - 13))?;
            for (j, &v) in pixels.iter().enumerate() {
                let (px, py) = (x + (j % side) as i32 * ZOOM, y + (j / side) as i32 * ZOOM);
                let shade = RGBColor(255 - v, 255 - v, 255 - v).filled();
                area.draw(&Rectangle::new([(px, py), (px + ZOOM, py + ZOOM)], shade))?;
            }
            let frame = RGBColor(170, 170, 170);
            area.draw(&Rectangle::new([(x - 1, y - 1), (x + zoomed, y + zoomed)], frame))?;
        }
        Ok(())
    })
}

/// White (0) to dark blue (1) through mid blue, like matplotlib's "Blues".
fn blues(t: f64) -> RGBColor {
    let stops = [(247.0, 251.0, 255.0), (107.0, 174.0, 214.0), (8.0, 48.0, 107.0)];
    let t = t.clamp(0.0, 1.0) * 2.0;
    let (a, b, f) = if t < 1.0 {
        (stops[0], stops[1], t)
    } else {
        (stops[1], stops[2], t - 1.0)
    };
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Drawn =
    std::result::Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

/// Draws with `draw` on a white canvas of `size` pixels and writes it to `path` as a PNG.
fn draw_png(path: &Path, size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Drawn) -> Result<()> {
    let failed = |e: String| Error::io("drawing", path, io::Error::other(e));
    register_font().map_err(failed)?;
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        area.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
        draw(&area).map_err(|e| failed(e.to_string()))?;
        area.present().map_err(|e| failed(e.to_string()))?;
    }
    write_png(path, size, &rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("nn-test-classifier-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Width, height and RGB samples of a PNG file.
    fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut rgb).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        (info.width, info.height, rgb)
    }

    #[test]
    fn the_confusion_matrix_is_shaded_by_the_share_of_each_row() {
        let dir = temp_dir("confusion");
        let path = dir.join("confusion.png");
        let counts = vec![vec![50, 2, 0], vec![1, 40, 9], vec![0, 0, 45]];
        confusion_matrix(&path, &counts, "test").unwrap();
        let (w, h, rgb) = read_png(&path);
        assert_eq!((w, h), (96 + 3 * 54 + 24, 64 + 3 * 54 + 84));
        // A cell's corner (away from its count): dark for 50 of 52, white for none.
        let at = |x: i32, y: i32| &rgb[((y as u32 * w + x as u32) * 3) as usize..][..3];
        let corner = |t: i32, p: i32| at(96 + p * CELL + 4, 64 + t * CELL + 4);
        assert!(corner(0, 0).iter().all(|&c| c < 120), "{:?}", corner(0, 0));
        assert!(corner(0, 2).iter().all(|&c| c > 240), "{:?}", corner(0, 2));
        assert!(
            corner(1, 2)[0] < corner(1, 0)[0],
            "9 of 50 is darker than 1 of 50"
        );
        // Counts and labels are drawn: dark text pixels in a light cell.
        let text = (96 + 2 * CELL..96 + 3 * CELL)
            .flat_map(|x| (64 + CELL..64 + 2 * CELL).map(move |y| (x, y)))
            .filter(|&(x, y)| at(x, y).iter().all(|&c| c < 80))
            .count();
        assert!(text > 10, "the count 9 is written ({text} dark pixels)");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_image_grid_has_a_cell_per_image_in_rows_of_the_width_asked_for() {
        let dir = temp_dir("grid");
        let path = dir.join("grid.png");
        let ink = [255u8; 784];
        let images: Vec<(&[u8], String)> = (0..7).map(|i| (&ink[..], format!("{i} → 1 (0.900)"))).collect();
        image_grid(&path, &images, 3, "caption").unwrap();
        let (w, h, rgb) = read_png(&path);
        assert_eq!(
            (w, h),
            (3 * 148 + 16, 56 + 3 * 152 + 8),
            "7 images in rows of 3: 3 rows"
        );
        // White ink is drawn black: the middle of the first image.
        let (x, y) = (8 + 18 + 56, 56 + 26 + 56);
        assert_eq!(&rgb[((y * w + x) * 3) as usize..][..3], [0, 0, 0]);
        // No images still gives a figure (its caption), and a bad path is an error naming it.
        image_grid(&path, &[], 6, "none").unwrap();
        let bad = dir.join("missing-dir").join("g.png");
        let err = image_grid(&bad, &images, 3, "x").unwrap_err();
        assert!(err.to_string().contains("g.png"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    #[should_panic(expected = "image_grid: image 1 has 10 pixels, expected 28 × 28 like the first")]
    fn images_of_different_sizes_are_a_programmer_error() {
        let (a, b) = ([0u8; 784], [0u8; 10]);
        let _ = image_grid(
            "unused.png",
            &[(&a[..], String::new()), (&b[..], String::new())],
            2,
            "",
        );
    }

    #[test]
    #[should_panic(expected = "confusion_matrix: counts must be 2 × 2 (one row per class), got a row of 3")]
    fn a_confusion_matrix_that_is_not_square_is_a_programmer_error() {
        let _ = confusion_matrix("unused.png", &[vec![1, 2], vec![3, 4, 5]], "");
    }
}
