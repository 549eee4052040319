//! Line charts as SVG text for the examples (plotters' SVG backend: text is written as SVG
//! `<text>` elements, so no font files or system libraries are involved). The string can be
//! written to a `.svg` file or put inline in an HTML page. Included by the examples with
//! `#[path = "common/plot.rs"] mod plot;`.

#![allow(dead_code)] // each example uses the part it needs

use plotters::prelude::*;

/// One named line of a chart.
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// `(x, y)` in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// How the x axis is scaled.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum XScale {
    Linear,
    /// Logarithmic (for sizes that double).
    Log,
}

const COLORS: [RGBColor; 5] =
    [RGBColor(31, 119, 180), RGBColor(214, 96, 0), RGBColor(44, 160, 44), RGBColor(200, 40, 40), RGBColor(120, 80, 170)];

/// A 640 x 360 chart of `series` with a legend, as an SVG document. The y axis starts at 0
/// when every value is positive (or at the smallest value otherwise).
pub fn line_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    x_scale: XScale,
    series: &[Series],
) -> Result<String, Box<dyn std::error::Error>> {
    let all = || series.iter().flat_map(|s| s.points.iter().copied());
    let (x0, x1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (x, _)| (a.min(x), b.max(x)));
    let (y0, y1) = all().fold((0.0f64, f64::NEG_INFINITY), |(a, b), (_, y)| (a.min(y), b.max(y)));
    if !(x0 < x1 && y1.is_finite()) {
        return Err(format!("line_chart {title:?}: nothing to draw").into());
    }
    let y1 = y1 * 1.05;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut builder = ChartBuilder::on(&root);
        builder.caption(title, ("sans-serif", 18)).margin(12).x_label_area_size(36).y_label_area_size(56);
        // The two scales are different coordinate types; the macro writes the drawing once
        // for both.
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw()?;
                for (k, s) in series.iter().enumerate() {
                    let color = COLORS[k % COLORS.len()];
                    chart
                        .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))?
                        .label(s.name.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
                    if s.points.len() <= 32 {
                        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
                    }
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.3))
                    .draw()?;
            }};
        }
        match x_scale {
            XScale::Linear => draw!(builder.build_cartesian_2d(x0..x1, y0..y1)?),
            XScale::Log => draw!(builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1)?),
        }
        root.present()?;
    }
    Ok(svg)
}
