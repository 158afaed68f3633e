//! Drawing [`Chart`]s into pixels with plotters (text in the bundled DejaVu Sans, so no system
//! font library is needed) and encoding them as a PNG file written atomically.

use super::chart::{Chart, Series};
use crate::error::{Error, Result};
use crate::fsutil::atomic_write;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

/// DejaVu Sans 2.37 (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
static FONT_TTF: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/DejaVuSans.ttf"));

/// The name the bundled font is registered under in plotters' global font table; a name of our
/// own, so that an application registering another "sans-serif" does not change our charts.
pub(super) const FONT: &str = "nn-dejavu-sans";

/// The size of one chart panel in pixels; several panels sit side by side.
pub const PANEL_SIZE: (u32, u32) = (640, 460);

/// Matplotlib's default colour cycle (Tableau 10): familiar, and distinct for up to 10 curves.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Draws `charts` side by side, each [`PANEL_SIZE`], and writes the PNG to `path` atomically.
///
/// ```
/// use nn_core::plot::{save_png, Chart, Series};
/// # let dir = std::env::temp_dir().join(format!("nn-doc-plot-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let chart = Chart::new("Training loss", "iteration", "loss")
///     .with(Series::new("SGD", (0..100).map(|i| (i as f64, 2.3 / (1.0 + i as f64 * 0.02)))))
///     .with(Series::new("Adam", (0..100).map(|i| (i as f64, 2.3 / (1.0 + i as f64 * 0.2)))))
///     .log_y();
/// save_png(dir.join("losses.png"), &[chart])?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), nn_core::Error>(())
/// ```
pub fn save_png(path: impl AsRef<Path>, charts: &[Chart]) -> Result<()> {
    let path = path.as_ref();
    let (width, height) = (PANEL_SIZE.0 * charts.len().max(1) as u32, PANEL_SIZE.1);
    let rgb = render_rgb(charts, (width, height))
        .map_err(|e| Error::io("drawing chart", path, io::Error::other(e)))?;
    write_png(path, (width, height), &rgb)
}

/// Writes an RGB8 buffer of `size` pixels to `path` as a PNG file, atomically.
pub(super) fn write_png(path: &Path, (width, height): (u32, u32), rgb: &[u8]) -> Result<()> {
    atomic_write(path, |w| {
        let mut encoder = png::Encoder::new(w, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(io::Error::other)?;
        writer.write_image_data(rgb).map_err(io::Error::other)?;
        writer.finish().map_err(io::Error::other)
    })
}

/// Draws `charts` side by side into an RGB8 buffer of `size` pixels.
pub fn render_rgb(charts: &[Chart], size: (u32, u32)) -> std::result::Result<Vec<u8>, String> {
    register_font()?;
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let panels = root.split_evenly((1, charts.len().max(1)));
        for (area, chart) in panels.iter().zip(charts) {
            draw_panel(area, chart)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(rgb)
}

pub(super) fn register_font() -> std::result::Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font_bytes(FONT_TTF));
    if ok {
        Ok(())
    } else {
        Err("the bundled font DejaVuSans.ttf could not be parsed".to_string())
    }
}

fn register_font_bytes(bytes: &'static [u8]) -> bool {
    plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_ok()
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
) -> std::result::Result<(), String> {
    let x = chart.x_range();
    let y = chart.y_range();
    if chart.log_y {
        draw_in(area, chart, x, y.clone().log_scale(), y)
    } else {
        draw_in(area, chart, x, y.clone(), y)
    }
}

/// The drawing proper, generic over the vertical coordinate (linear or logarithmic).
fn draw_in<'a, DB, Y>(
    area: &'a DrawingArea<DB, Shift>,
    chart: &Chart,
    x: Range<f64>,
    y_spec: Y,
    y: Range<f64>,
) -> std::result::Result<(), String>
where
    DB: DrawingBackend + 'a,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut cc = ChartBuilder::on(area)
        .caption(&chart.title, (FONT, 22).into_font())
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x.clone(), y_spec)
        .map_err(|e| err(&e))?;

    // Whole numbers (epochs) print without decimals; ask for no more ticks than whole steps.
    let x_fmt = |v: &f64| {
        if (v - v.round()).abs() < 1e-9 {
            format!("{}", v.round())
        } else {
            tidy(*v, x.end - x.start)
        }
    };
    let x_ticks = ((x.end - x.start).floor() as usize + 1).clamp(2, 10);
    let (percent, span, log) = (chart.percent_y, y.end - y.start, chart.log_y);
    let y_fmt = move |v: &f64| {
        if percent {
            let decimals = if span < 0.05 { 1 } else { 0 };
            format!("{:.*}%", decimals, v * 100.0)
        } else if log {
            significant(*v)
        } else {
            tidy(*v, span)
        }
    };
    cc.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_labels(x_ticks)
        .y_labels(8)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FONT, 13).into_font())
        .axis_desc_style((FONT, 16).into_font())
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(|e| err(&e))?;

    for (i, series) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let style = color.stroke_width(2);
        let runs = finite_runs(series, chart.log_y);
        // One legend entry per curve, even when a NaN splits it into several drawn pieces.
        let mut labelled = false;
        for run in runs {
            let few = run.len() <= 40;
            let anno = if series.dashed {
                cc.draw_series(DashedLineSeries::new(run, 8, 5, style))
                    .map_err(|e| err(&e))?
            } else {
                // Dots mark the measured epochs while there are few enough to tell apart.
                cc.draw_series(LineSeries::new(run, style).point_size(if few { 3 } else { 0 }))
                    .map_err(|e| err(&e))?
            };
            if !labelled {
                labelled = true;
                let dashed = series.dashed;
                anno.label(series.name.as_str()).legend(move |(lx, ly)| {
                    let [a, b] = legend_line(lx, ly, color, dashed);
                    EmptyElement::at((0, 0)) + a + b
                });
            }
        }
    }

    if let Some((mx, label)) = &chart.marker {
        let grey = RGBColor(110, 110, 110);
        let line = vec![(*mx, y.start), (*mx, y.end)];
        cc.draw_series(DashedLineSeries::new(line, 6, 4, grey.stroke_width(1)))
            .map_err(|e| err(&e))?
            .label(label.as_str())
            .legend(move |(lx, ly)| {
                let [a, b] = legend_line(lx, ly, grey, true);
                EmptyElement::at((0, 0)) + a + b
            });
    }

    if !chart.series.is_empty() || chart.marker.is_some() {
        cc.configure_series_labels()
            .position(legend_position(chart, &y))
            .label_font((FONT, 14).into_font())
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(190, 190, 190))
            .margin(10)
            .draw()
            .map_err(|e| err(&e))?;
    }
    Ok(())
}

/// A legend sample: a 20-pixel line, in two dashes for a dashed curve.
fn legend_line(x: i32, y: i32, color: RGBColor, dashed: bool) -> [PathElement<(i32, i32)>; 2] {
    let style = color.stroke_width(2);
    let gap = if dashed { 5 } else { 0 };
    [
        PathElement::new(vec![(x, y), (x + 10 - gap / 2 - gap % 2, y)], style),
        PathElement::new(vec![(x + 10 + gap / 2, y), (x + 20, y)], style),
    ]
}

/// The maximal runs of drawable points: a non-finite value ends one run and the next finite one
/// starts another, so a diverged stretch shows as a gap.
fn finite_runs(series: &Series, log: bool) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for &(x, y) in &series.points {
        if x.is_finite() && y.is_finite() && (!log || y > 0.0) {
            runs.last_mut().expect("never empty").push((x, y));
        } else if !runs.last().expect("never empty").is_empty() {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// Upper right unless the curves end in the upper part of the panel (accuracy climbing to the
/// top), then lower right: the legend goes where the lines are not.
fn legend_position(chart: &Chart, y: &Range<f64>) -> SeriesLabelPosition {
    let to_unit = |v: f64| {
        if chart.log_y {
            (v.ln() - y.start.ln()) / (y.end.ln() - y.start.ln())
        } else {
            (v - y.start) / (y.end - y.start)
        }
    };
    let ends: Vec<f64> = chart
        .series
        .iter()
        .filter_map(|s| chart.drawable(s).last().map(|(_, v)| to_unit(v)))
        .collect();
    let mean = if ends.is_empty() {
        0.0
    } else {
        ends.iter().sum::<f64>() / ends.len() as f64
    };
    if mean > 0.55 {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    }
}

/// A tick label with as many decimals as the axis span needs (2, 2.5, 0.25, 0.125).
fn tidy(v: f64, span: f64) -> String {
    let step = (span / 8.0).abs();
    let decimals = if step > 0.0 {
        (-step.log10()).ceil().clamp(0.0, 6.0) as usize
    } else {
        2
    };
    let s = format!("{:.*}", decimals, v);
    // "-0" and "-0.00" are noise on an axis.
    if s.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// A log-axis tick label with three significant digits and no trailing zeros.
fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{:.*}", digits, v);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_values_split_the_line_and_stay_out_of_the_range() {
        let s = Series::new(
            "loss",
            [
                (1.0, 2.0),
                (2.0, f64::NAN),
                (3.0, 1.0),
                (4.0, 0.5),
                (5.0, f64::INFINITY),
            ],
        );
        assert_eq!(
            finite_runs(&s, false),
            vec![vec![(1.0, 2.0)], vec![(3.0, 1.0), (4.0, 0.5)]]
        );
        let chart = Chart::new("t", "x", "y").with(s);
        let y = chart.y_range();
        assert!(y.start < 0.5 && y.end > 2.0 && y.end < 2.2, "{y:?}");
        // The NaN at x = 5 does not widen the axis; 2% padding each side.
        let x = chart.x_range();
        assert!(
            (x.start - 0.94).abs() < 1e-9 && (x.end - 4.06).abs() < 1e-9,
            "{x:?}"
        );
    }

    #[test]
    fn log_axes_drop_non_positive_values() {
        let s = Series::new("loss", [(1.0, 0.0), (2.0, 0.1), (3.0, 10.0)]);
        let chart = Chart::new("t", "x", "y").with(s.clone()).log_y();
        assert_eq!(finite_runs(&s, true), vec![vec![(2.0, 0.1), (3.0, 10.0)]]);
        let y = chart.y_range();
        assert!(y.start > 0.0 && y.start < 0.1 && y.end > 10.0, "{y:?}");
    }

    #[test]
    fn legend_goes_where_the_curves_are_not() {
        let rising = Chart::new("a", "x", "y").with(Series::per_epoch("acc", [0.1, 0.8, 0.95]));
        assert!(matches!(
            legend_position(&rising, &rising.y_range()),
            SeriesLabelPosition::LowerRight
        ));
        let falling = Chart::new("l", "x", "y").with(Series::per_epoch("loss", [2.0, 0.5, 0.1]));
        assert!(matches!(
            legend_position(&falling, &falling.y_range()),
            SeriesLabelPosition::UpperRight
        ));
    }

    #[test]
    fn tick_labels_are_tidy() {
        assert_eq!(tidy(3.0, 20.0), "3");
        assert_eq!(tidy(2.5, 4.0), "2.5");
        assert_eq!(tidy(0.126, 0.5), "0.13");
        assert_eq!(tidy(-0.0001, 1.0), "0.0");
        assert_eq!(significant(0.0123), "0.0123");
        assert_eq!(significant(2.0), "2");
        assert_eq!(significant(150.0), "150");
    }

    #[test]
    fn renders_text_and_curves_into_the_buffer() {
        let chart = Chart::new("Loss", "epoch", "loss")
            .with(Series::per_epoch("train", [1.0, 0.5, 0.25]))
            .with(Series::per_epoch("valid", [1.1, 0.6, 0.4]).dashed())
            .marker(2.0, "best");
        let rgb = render_rgb(&[chart], PANEL_SIZE).unwrap();
        let pixels: Vec<[u8; 3]> = rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
        let count = |c: RGBColor| pixels.iter().filter(|p| **p == [c.0, c.1, c.2]).count();
        // Both curve colours appear, and dark text pixels exist (the font was found and used).
        assert!(count(PALETTE[0]) > 100, "train curve not drawn");
        assert!(count(PALETTE[1]) > 50, "valid curve not drawn");
        let dark = pixels.iter().filter(|p| p.iter().all(|&c| c < 60)).count();
        assert!(dark > 200, "no text drawn ({dark} dark pixels)");
    }

    #[test]
    fn an_unparsable_font_is_refused_not_a_panic() {
        assert!(!register_font_bytes(b"not a font"));
    }
}
