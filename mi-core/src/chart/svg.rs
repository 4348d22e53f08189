//! One chart as an SVG document: lines over a time axis that ends now, a value axis from
//! zero with rounded grid lines, and a legend with each line's latest value. Every text is
//! escaped; nothing in it runs or loads anything.

use super::Line;
use crate::markup::escape;
use std::fmt::Write;

const WIDTH: i64 = 640;
const PLOT_LEFT: i64 = 64;
const PLOT_RIGHT: i64 = 624;
const PLOT_TOP: i64 = 34;
const PLOT_BOTTOM: i64 = 174;
const LEGEND_ROW: i64 = 18;
/// Lines drawn at most; the rest are named in the legend as not drawn.
const MAX_LINES: usize = 8;
/// Okabe–Ito colours, distinguishable with the common colour-vision deficiencies.
const COLOURS: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999",
];

/// A value in few characters: `950`, `1.5k`, `12M`, `0.25`.
fn short(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|(unit, _)| magnitude >= *unit)
        .map_or((value, ""), |(unit, suffix)| (value / unit, suffix));
    let text = if scaled.abs() >= 100.0 || scaled.fract() == 0.0 {
        format!("{scaled:.0}")
    } else if scaled.abs() >= 10.0 {
        format!("{scaled:.1}")
    } else {
        format!("{scaled:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `value` (1 for nothing above zero).
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * power)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * power)
}

/// A span of milliseconds as the axis names it: `-5m`, `-90s`, `-2h`.
fn ago(ms: i64) -> String {
    let seconds = ms / 1000;
    if seconds == 0 {
        "now".into()
    } else if seconds % 3600 == 0 {
        format!("-{}h", seconds / 3600)
    } else if seconds % 60 == 0 {
        format!("-{}m", seconds / 60)
    } else if seconds > 120 {
        format!("-{}m{}s", seconds / 60, seconds % 60)
    } else {
        format!("-{seconds}s")
    }
}

/// Draws `lines` over the `window_ms` before `now_ms` as an SVG document titled `title`;
/// `id` makes its element ids unique on a page holding several charts.
pub fn render(id: &str, title: &str, lines: &[Line], window_ms: i64, now_ms: i64) -> String {
    let window_ms = window_ms.max(1);
    let drawn = &lines[..lines.len().min(MAX_LINES)];
    let legend_rows = drawn.len() + usize::from(lines.len() > MAX_LINES);
    let height = PLOT_BOTTOM + 30 + LEGEND_ROW * legend_rows.max(1) as i64;
    let start = now_ms - window_ms;
    // Points a little older than the window (a late sample) are drawn at its left edge.
    let oldest_drawn = start - window_ms / 10;
    let highest = drawn
        .iter()
        .flat_map(|l| l.points.iter())
        .filter(|(t, _)| *t >= oldest_drawn)
        .map(|(_, v)| *v)
        .fold(0.0, f64::max);
    let top = nice_ceiling(highest);
    let x =
        |t: i64| PLOT_LEFT + (t - start).clamp(0, window_ms) * (PLOT_RIGHT - PLOT_LEFT) / window_ms;
    let y = |v: f64| {
        let share = (v / top).clamp(0.0, 1.0);
        PLOT_BOTTOM as f64 - share * (PLOT_BOTTOM - PLOT_TOP) as f64
    };
    let unit = if !drawn.is_empty() && drawn.iter().all(|l| l.rate) {
        " (per second)"
    } else {
        ""
    };
    let id = escape(id);
    let mut svg = String::with_capacity(2048);
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-labelledby=\"{id}-title\" font-family=\"system-ui,sans-serif\" font-size=\"12\"><title id=\"{id}-title\">{}{unit}</title><rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/><text x=\"{PLOT_LEFT}\" y=\"20\" font-size=\"14\" font-weight=\"600\" fill=\"#1b1f24\">{}{unit}</text>",
        escape(title),
        escape(title)
    );
    for step in 0..=4 {
        let value = top * f64::from(step) / 4.0;
        let gy = y(value);
        let _ = write!(
            svg,
            "<line x1=\"{PLOT_LEFT}\" x2=\"{PLOT_RIGHT}\" y1=\"{gy:.1}\" y2=\"{gy:.1}\" stroke=\"#d0d7de\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#57606a\">{}</text>",
            PLOT_LEFT - 6,
            gy + 4.0,
            short(value)
        );
    }
    for step in 0..=4 {
        let offset = window_ms * (4 - step) / 4;
        let anchor = match step {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" fill=\"#57606a\">{}</text>",
            x(now_ms - offset),
            PLOT_BOTTOM + 16,
            ago(offset)
        );
    }
    for (i, line) in drawn.iter().enumerate() {
        let visible: Vec<_> = line
            .points
            .iter()
            .filter(|(t, _)| *t >= oldest_drawn)
            .collect();
        if visible.is_empty() {
            continue;
        }
        let mut points = String::new();
        for (t, v) in &visible {
            let _ = write!(points, "{},{:.1} ", x(*t), y(*v));
        }
        let colour = COLOURS[i % COLOURS.len()];
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"{}\"><title>{}</title></polyline>",
            points.trim_end(),
            escape(&line.label)
        );
        if visible.len() == 1 {
            let (t, v) = visible[0];
            let _ = write!(
                svg,
                "<circle cx=\"{}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                x(*t),
                y(*v)
            );
        }
    }
    let mut row = PLOT_BOTTOM + 38;
    if drawn.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"{PLOT_LEFT}\" y=\"{row}\" fill=\"#57606a\">No statistic matches this chart yet.</text>"
        );
    }
    for (i, line) in drawn.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let latest = line
            .points
            .last()
            .map_or_else(|| "collecting samples…".to_string(), |(_, v)| short(*v));
        let _ = write!(
            svg,
            "<rect x=\"{PLOT_LEFT}\" y=\"{}\" width=\"14\" height=\"4\" fill=\"{colour}\"/><text x=\"{}\" y=\"{row}\" fill=\"#1b1f24\">{} <tspan fill=\"#57606a\">{}</tspan></text>",
            row - 6,
            PLOT_LEFT + 20,
            escape(&line.label),
            escape(&latest)
        );
        row += LEGEND_ROW;
    }
    if lines.len() > MAX_LINES {
        let _ = write!(
            svg,
            "<text x=\"{PLOT_LEFT}\" y=\"{row}\" fill=\"#57606a\">and {} more not drawn</text>",
            lines.len() - MAX_LINES
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_axes_read_short() {
        assert_eq!(short(950.0), "950");
        assert_eq!(short(1500.0), "1.5k");
        assert_eq!(short(12_000_000.0), "12M");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(ago(300_000), "-5m");
        assert_eq!(ago(90_000), "-90s");
        assert_eq!(ago(225_000), "-3m45s");
    }

    #[test]
    fn a_chart_draws_each_line_and_escapes_its_texts() {
        let lines = vec![
            Line {
                label: "transports:http_requests".into(),
                points: vec![(1000, 2.0), (2000, 4.0)],
                rate: true,
            },
            Line {
                label: "commands:<b>_calls".into(),
                points: vec![(2000, 1.0)],
                rate: true,
            },
        ];
        let svg = render("c0", "Requests & errors", &lines, 2000, 2000);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("Requests &amp; errors (per second)"));
        assert!(svg.contains("commands:&lt;b&gt;_calls"));
        assert!(!svg.contains("<b>"));
        assert!(svg.ends_with("</svg>"));
        let many: Vec<Line> = (0..10)
            .map(|i| Line {
                label: format!("g:s{i}"),
                points: vec![(0, 1.0)],
                rate: false,
            })
            .collect();
        let svg = render("c1", "many", &many, 1000, 1000);
        assert_eq!(svg.matches("<polyline").count(), MAX_LINES);
        assert!(svg.contains("and 2 more not drawn"));
        assert!(render("c2", "none", &[], 1000, 1000).contains("No statistic matches"));
    }
}
