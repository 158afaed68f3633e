//! [`Chart`] and [`Series`]: what a panel shows (curves, axes, a marker) and the axis ranges
//! that fit it, independent of how it is drawn.

use std::ops::Range;

/// One named curve of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points, in drawing order. Non-finite values (a diverged run's NaN loss) break the line
    /// instead of wrecking the axis range.
    pub points: Vec<(f64, f64)>,
    /// Draw dashed instead of solid.
    pub dashed: bool,
}

impl Series {
    /// A solid curve through `points`.
    pub fn new(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points: points.into_iter().collect(),
            dashed: false,
        }
    }

    /// A curve with one value per epoch, at x = 1, 2, 3, …
    pub fn per_epoch(name: impl Into<String>, values: impl IntoIterator<Item = f32>) -> Self {
        Series::new(
            name,
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| ((i + 1) as f64, f64::from(v))),
        )
    }

    /// The same curve, dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// One panel: a title, axis labels and curves, each curve in the next colour of the palette.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    /// The caption above the panel.
    pub title: String,
    /// The horizontal axis' label.
    pub x_label: String,
    /// The vertical axis' label.
    pub y_label: String,
    /// The curves, coloured in order.
    pub series: Vec<Series>,
    /// A logarithmic vertical axis (for losses that span decades); values <= 0 are left out.
    pub log_y: bool,
    /// Label the vertical axis as percentages (values are fractions, 0.98 -> "98%").
    pub percent_y: bool,
    /// A labelled vertical line, such as the epoch whose weights were kept.
    pub marker: Option<(f64, String)>,
}

impl Chart {
    /// An empty chart with a title and axis labels.
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Chart::default()
        }
    }

    /// Adds a curve.
    pub fn with(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Uses a logarithmic vertical axis.
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// Labels the vertical axis in percent.
    pub fn percent_y(mut self) -> Self {
        self.percent_y = true;
        self
    }

    /// Draws a dashed vertical line at `x`, listed in the legend as `label`.
    pub fn marker(mut self, x: f64, label: impl Into<String>) -> Self {
        self.marker = Some((x, label.into()));
        self
    }

    /// The points that can be drawn: finite, and positive on a log axis.
    pub(super) fn drawable(&self, s: &Series) -> impl Iterator<Item = (f64, f64)> + '_ {
        let log = self.log_y;
        s.points
            .clone()
            .into_iter()
            .filter(move |&(x, y)| x.is_finite() && y.is_finite() && (!log || y > 0.0))
    }

    pub(super) fn x_range(&self) -> Range<f64> {
        let xs = self.series.iter().flat_map(|s| self.drawable(s).map(|p| p.0));
        let xs = xs.chain(self.marker.iter().map(|m| m.0).filter(|x| x.is_finite()));
        let (lo, hi) = min_max(xs).unwrap_or((0.0, 1.0));
        if hi - lo < 1e-12 {
            (lo - 0.5)..(hi + 0.5)
        } else {
            // A little room so that the end points' dots are not cut by the axes.
            let pad = (hi - lo) * 0.02;
            (lo - pad)..(hi + pad)
        }
    }

    pub(super) fn y_range(&self) -> Range<f64> {
        let ys = self.series.iter().flat_map(|s| self.drawable(s).map(|p| p.1));
        let Some((lo, hi)) = min_max(ys) else {
            return if self.log_y { 0.1..1.0 } else { 0.0..1.0 };
        };
        if self.log_y {
            return (lo / 1.3)..(hi * 1.3);
        }
        let pad = if hi - lo < 1e-12 {
            (hi.abs() * 0.05).max(0.01)
        } else {
            (hi - lo) * 0.06
        };
        let (mut a, mut b) = (lo - pad, hi + pad);
        if self.percent_y {
            // Keep a fraction axis within [0, 1]: "101%" ticks would be noise.
            if lo >= 0.0 {
                a = a.max(0.0);
            }
            if hi <= 1.0 {
                b = b.min(1.0);
            }
        }
        a..b
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_axes_stay_within_zero_and_one() {
        let chart = Chart::new("t", "x", "y")
            .with(Series::per_epoch("acc", [0.5, 0.9, 1.0]))
            .percent_y();
        let y = chart.y_range();
        assert_eq!(y.end, 1.0);
        assert!(y.start < 0.5 && y.start >= 0.0);
    }
}
