//! `--chart`: an SVG, written by hand, with two panels: throughput over
//! time (ops/s, one line per run) and the latency distribution (latency
//! against percentile on a "nines" scale: 0, 90, 99, 99.9, 99.99 %).

use crate::report::{PhaseReport, Report};
use std::fmt::Write;

const WIDTH: f64 = 900.0;
const PANEL_HEIGHT: f64 = 300.0;
const MARGIN_LEFT: f64 = 80.0;
const MARGIN_RIGHT: f64 = 170.0;
const MARGIN_TOP: f64 = 50.0;
const PANEL_GAP: f64 = 80.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
/// The right end of the percentile axis: 99.999 % (five nines).
const NINES_MAX: f64 = 5.0;

/// The chart of one run's measured phases.
pub fn report_chart(report: &Report) -> String {
    let title = format!(
        "cairn bench {} — {} {}",
        report.kind, report.target.api, report.target.url
    );
    let runs: Vec<(String, &PhaseReport)> =
        report.phases.iter().map(|p| (p.name.clone(), p)).collect();
    chart(&title, &runs)
}

/// A chart of labelled phases (one line each in both panels).
pub fn chart(title: &str, runs: &[(String, &PhaseReport)]) -> String {
    let height = MARGIN_TOP + 2.0 * PANEL_HEIGHT + PANEL_GAP + 50.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN_LEFT}" y="24" font-size="15">{}</text>"#,
        crate::xml::escape(title)
    );
    let throughput: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|(l, p)| {
            (
                l.clone(),
                p.series.iter().map(|x| (x.t_secs, x.ops_per_sec)).collect(),
            )
        })
        .collect();
    let top = Panel {
        y0: MARGIN_TOP,
        x_label: "seconds",
        y_label: "ops/s",
        nines: false,
    };
    top.draw(&mut s, &throughput);
    let latency: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|(l, p)| {
            let points = p
                .latency_spectrum_ms
                .iter()
                .map(|[pct, ms]| (nines(*pct), *ms))
                .collect();
            (l.clone(), points)
        })
        .collect();
    let bottom = Panel {
        y0: MARGIN_TOP + PANEL_HEIGHT + PANEL_GAP,
        x_label: "percentile",
        y_label: "latency ms",
        nines: true,
    };
    bottom.draw(&mut s, &latency);
    s.push_str("</svg>\n");
    s
}

/// A percentile as its count of nines: 90 → 1, 99 → 2, 99.9 → 3 (capped).
fn nines(pct: f64) -> f64 {
    let rest = (100.0 - pct) / 100.0;
    if rest <= 0.0 {
        NINES_MAX
    } else {
        (-rest.log10()).clamp(0.0, NINES_MAX)
    }
}

struct Panel {
    y0: f64,
    x_label: &'static str,
    y_label: &'static str,
    nines: bool,
}

impl Panel {
    fn draw(&self, s: &mut String, lines: &[(String, Vec<(f64, f64)>)]) {
        let points = lines.iter().flat_map(|(_, p)| p.iter());
        let x_max = if self.nines {
            NINES_MAX
        } else {
            points.clone().map(|p| p.0).fold(1.0, f64::max)
        };
        let y_max = nice_ceiling(points.map(|p| p.1).fold(0.0, f64::max));
        let plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
        let px = |x: f64| MARGIN_LEFT + x / x_max * plot_w;
        let py = |y: f64| self.y0 + PANEL_HEIGHT - y / y_max * PANEL_HEIGHT;
        self.axes(s, x_max, y_max, &px, &py);
        for (i, (label, pts)) in lines.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let path: Vec<String> = pts
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
                path.join(" ")
            );
            let ly = self.y0 + 14.0 + 16.0 * i as f64;
            let lx = WIDTH - MARGIN_RIGHT + 12.0;
            let _ = writeln!(
                s,
                r#"<rect x="{lx}" y="{}" width="10" height="10" fill="{colour}"/>"#,
                ly - 9.0
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{ly}">{}</text>"#,
                lx + 14.0,
                crate::xml::escape(label)
            );
        }
    }

    fn axes(
        &self,
        s: &mut String,
        x_max: f64,
        y_max: f64,
        px: &dyn Fn(f64) -> f64,
        py: &dyn Fn(f64) -> f64,
    ) {
        let (left, right) = (px(0.0), px(x_max));
        let (top, bottom) = (py(y_max), py(0.0));
        let _ = writeln!(
            s,
            r##"<path d="M{left},{top} V{bottom} H{right}" fill="none" stroke="#333"/>"##
        );
        for i in 0..=4 {
            let y = y_max * f64::from(i) / 4.0;
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{right}" y1="{0:.1}" y2="{0:.1}" stroke="#ddd"/><text x="{1}" y="{2:.1}" text-anchor="end">{3}</text>"##,
                py(y),
                left - 6.0,
                py(y) + 4.0,
                short(y)
            );
        }
        let x_ticks: Vec<(f64, String)> = if self.nines {
            ["0", "90", "99", "99.9", "99.99", "99.999"]
                .iter()
                .enumerate()
                .map(|(i, l)| (i as f64, format!("{l}%")))
                .collect()
        } else {
            (0..=5)
                .map(|i| {
                    (
                        x_max * f64::from(i) / 5.0,
                        short(x_max * f64::from(i) / 5.0),
                    )
                })
                .collect()
        };
        for (x, label) in x_ticks {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{label}</text>"#,
                px(x),
                bottom + 16.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            (left + right) / 2.0,
            bottom + 34.0,
            self.x_label
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (top + bottom) / 2.0,
            self.y_label
        );
    }
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (1 for nothing).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

/// A tick label: 1500 → 1.5k, 0.25 → 0.25.
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let t = format!("{v:.2}");
    t.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_map_to_nines() {
        // 0 → 0, 90 → 1, 99 → 2, 99.9 → 3; 100 is capped at five nines.
        assert!((nines(0.0) - 0.0).abs() < 1e-9);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-6);
        assert_eq!(nines(100.0), NINES_MAX);
    }

    #[test]
    fn axis_ceilings_are_round_numbers() {
        // 1, 2 or 5 times a power of ten, never below the value.
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(730.0), 1000.0);
        assert_eq!(nice_ceiling(1500.0), 2000.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(short(1500.0), "1.5k");
        assert_eq!(short(0.25), "0.25");
    }
}
