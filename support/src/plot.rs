//! Line charts as SVG text for the examples (plotters' SVG backend: text is written as SVG
//! `<text>` elements, so no font files or system libraries are involved). The string can be
//! written to a `.svg` file or put inline in an HTML page.

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
    /// Base 2 (for sizes that double): drawn at log2(x), labelled with x itself.
    Log2,
}

const COLORS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 96, 0),
    RGBColor(44, 160, 44),
    RGBColor(200, 40, 40),
    RGBColor(120, 80, 170),
];

/// A 640 x 360 chart of `series` with a legend, as an SVG document. The y axis starts at 0
/// when every value is positive (or at the smallest value otherwise).
pub fn line_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    x_scale: XScale,
    series: &[Series],
) -> Result<String, Box<dyn std::error::Error>> {
    let at = |x: f64| if x_scale == XScale::Log2 { x.log2() } else { x };
    let all = || series.iter().flat_map(|s| s.points.iter().map(|&(x, y)| (at(x), y)));
    let (x0, x1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (x, _)| (a.min(x), b.max(x)));
    let (y0, y1) = all().fold((0.0f64, f64::NEG_INFINITY), |(a, b), (_, y)| (a.min(y), b.max(y)));
    if !(x0 < x1 && y1.is_finite()) {
        return Err(format!("line_chart {title:?}: nothing to draw").into());
    }
    let y1 = y1 * 1.05;
    let label = |x: &f64| if x_scale == XScale::Log2 { format!("{}", x.exp2().round()) } else { format!("{x}") };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x_desc).y_desc(y_desc).x_label_formatter(&label);
        if x_scale == XScale::Log2 {
            // One label per doubling.
            mesh.x_labels((x1 - x0) as usize + 1);
        }
        mesh.draw()?;
        for (k, s) in series.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            let points = s.points.iter().map(|&(x, y)| (at(x), y));
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            if s.points.len() <= 32 {
                chart.draw_series(points.map(|p| Circle::new(p, 3, color.filled())))?;
            }
        }
        // The legend goes in the empty upper corner: upper right for falling curves (losses),
        // upper left for rising ones (cost against size).
        let first = &series[0].points;
        let falling = first.first().map(|p| p.1) > first.last().map(|p| p.1);
        let legend_at = if falling { SeriesLabelPosition::UpperRight } else { SeriesLabelPosition::UpperLeft };
        chart
            .configure_series_labels()
            .position(legend_at)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}
