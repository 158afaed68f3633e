//! `evaluate`'s two figures as PNG files: the confusion matrix as a heat map with counts, and a
//! grid of test digits with a title each. Drawn by plotters with the DejaVu Sans font bundled in
//! nn-core/assets/ (no system font library), encoded by `png`, written atomically.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::io;
use std::path::Path;
use std::sync::OnceLock;

/// DejaVu Sans 2.37 (Bitstream Vera licence, nn-core/assets/DejaVuSans-LICENSE.txt).
static FONT_TTF: &[u8] = include_bytes!("../../nn-core/assets/DejaVuSans.ttf");

/// The name the font is registered under in plotters' global table.
const FONT: &str = "nn-figures-dejavu-sans";

/// Side of a confusion-matrix cell, in pixels.
const CELL: i32 = 54;

/// How many times a digit's pixels are enlarged in the grid.
const ZOOM: i32 = 4;

/// Writes `counts[true][predicted]` as a heat map: rows are true classes (top to bottom), columns
/// predicted ones, each cell shows its count and is shaded by its share of the row (square-root
/// scale, so that a few mistakes among hundreds still show).
pub fn confusion_png(path: &Path, counts: &[Vec<usize>], title: &str) -> nn::Result<()> {
    let k = counts.len() as i32;
    let (left, top, right, bottom) = (96, 64, 24, 84);
    let size = ((left + k * CELL + right) as u32, (top + k * CELL + bottom) as u32);
    save_png(path, size, |area| {
        let font = |px: u32| (FONT, px).into_font();
        let centred =
            |px: u32, colour: RGBColor| font(px).color(&colour).pos(Pos::new(HPos::Center, VPos::Center));
        area.draw_text(title, &centred(20, BLACK), (size.0 as i32 / 2, top / 2))?;
        for (t, row) in counts.iter().enumerate() {
            let n = row.iter().sum::<usize>().max(1) as f64;
            for (p, &count) in row.iter().enumerate() {
                let (x, y) = (left + p as i32 * CELL, top + t as i32 * CELL);
                let share = (count as f64 / n).sqrt();
                area.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    blues(share).filled(),
                ))?;
                let ink = if share > 0.6 { WHITE } else { BLACK };
                let text = count.to_string();
                area.draw_text(&text, &centred(15, ink), (x + CELL / 2, y + CELL / 2))?;
            }
        }
        let grid = RGBColor(200, 200, 200);
        area.draw(&Rectangle::new(
            [(left, top), (left + k * CELL, top + k * CELL)],
            grid,
        ))?;
        for i in 0..k {
            let label = i.to_string();
            let mid = i * CELL + CELL / 2;
            area.draw_text(&label, &centred(15, BLACK), (left - 16, top + mid))?;
            area.draw_text(&label, &centred(15, BLACK), (left + mid, top + k * CELL + 16))?;
        }
        let axis = font(17).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
        let x_axis = (left + k * CELL / 2, top + k * CELL + 52);
        area.draw_text("predicted class", &axis, x_axis)?;
        let y_axis = axis.transform(FontTransform::Rotate270);
        area.draw_text("true class", &y_axis, (left - 58, top + k * CELL / 2))
    })
}

/// Writes `digits` (`(pixels, title)`, 28×28 grey pixels, white ink on black as in MNIST) in a
/// grid `columns` wide under a caption, each drawn dark on light and titled above.
pub fn digit_grid_png(
    path: &Path,
    digits: &[(&[u8], String)],
    columns: usize,
    caption: &str,
) -> nn::Result<()> {
    let side = 28 * ZOOM;
    let (cell_w, cell_h, top) = (side + 36, side + 40, 56);
    let columns = columns.clamp(1, digits.len().max(1));
    let rows = digits.len().div_ceil(columns).max(1);
    let size = (
        (columns as i32 * cell_w + 16) as u32,
        (top + rows as i32 * cell_h + 8) as u32,
    );
    save_png(path, size, |area| {
        let centred = |px: u32| {
            (FONT, px)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Center))
        };
        area.draw_text(caption, &centred(18), (size.0 as i32 / 2, top / 2))?;
        for (i, (pixels, title)) in digits.iter().enumerate() {
            let x = 8 + (i % columns) as i32 * cell_w + (cell_w - side) / 2;
            let y = top + (i / columns) as i32 * cell_h + 26;
            area.draw_text(title, &centred(16), (x + side / 2, y - 13))?;
            for (j, &v) in pixels.iter().enumerate() {
                let (px, py) = (x + (j % 28) as i32 * ZOOM, y + (j / 28) as i32 * ZOOM);
                let shade = 255 - v;
                let colour = RGBColor(shade, shade, shade).filled();
                area.draw(&Rectangle::new([(px, py), (px + ZOOM, py + ZOOM)], colour))?;
            }
            let frame = RGBColor(170, 170, 170);
            area.draw(&Rectangle::new([(x - 1, y - 1), (x + side, y + side)], frame))?;
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

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

/// Draws with `draw` on a white `size` canvas and writes it to `path` as an RGB PNG.
fn save_png(path: &Path, size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> DrawResult) -> nn::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let drawing_failed = |e: String| nn::Error::io("drawing", path, io::Error::other(e));
    if !*REGISTERED.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_TTF).is_ok())
    {
        return Err(drawing_failed(
            "the bundled font DejaVuSans.ttf could not be parsed".into(),
        ));
    }
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        area.fill(&WHITE).map_err(|e| drawing_failed(e.to_string()))?;
        draw(&area).map_err(|e| drawing_failed(e.to_string()))?;
        area.present().map_err(|e| drawing_failed(e.to_string()))?;
    }
    nn::fsutil::atomic_write(path, |w| {
        let mut encoder = png::Encoder::new(w, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        let mut writer = encoder.write_header().map_err(io::Error::other)?;
        writer.write_image_data(&rgb).map_err(io::Error::other)?;
        writer.finish().map_err(io::Error::other)
    })
}
