//! A PNG bar chart of the last run's per-node latencies (plotters).
//!
//! Labels need a font; plotters is built without system font discovery (no
//! fontconfig at build time), so a TTF is loaded from the usual system paths
//! at run time. Without one the chart is drawn without text.

use std::sync::OnceLock;

use plotters::prelude::*;

use crate::engine::Report;
use crate::finding::{ProbeKind, Severity};

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a system font once; true when one was found.
fn font_available() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        for p in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(p) {
                // plotters keeps the font for the process's lifetime.
                let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// Per-node latency of the health probe, worst severity per node.
pub fn node_latencies(report: &Report) -> Vec<(String, u64, Severity)> {
    let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out: Vec<(String, u64, Severity)> = Vec::new();
    for f in report
        .findings
        .iter()
        .filter(|f| f.probe == ProbeKind::Health)
    {
        let Some(ms) = f.latency_ms else { continue };
        match at.get(f.subject.as_str()) {
            Some(&i) => out[i].2 = out[i].2.max(f.severity),
            None => {
                at.insert(f.subject.as_str(), out.len());
                out.push((f.subject.clone(), ms, f.severity));
            }
        }
    }
    out
}

/// Renders the chart as PNG bytes; `None` when no node latency was measured.
pub fn latency_png(report: &Report) -> Result<Option<Vec<u8>>, String> {
    let bars = node_latencies(report);
    if bars.is_empty() {
        return Ok(None);
    }
    let (w, h) = (720u32, 120 + 28 * bars.len() as u32);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    let text = font_available();
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let max = bars.iter().map(|(_, ms, _)| *ms).max().unwrap_or(1).max(1);
        let mut builder = ChartBuilder::on(&root);
        builder
            .margin(16)
            .x_label_area_size(if text { 32 } else { 0 })
            .y_label_area_size(if text { 110 } else { 0 });
        if text {
            builder.caption(
                format!("{}: node latency (ms)", report.cluster),
                ("sans-serif", 20),
            );
        }
        let n = bars.len();
        let mut chart = builder
            .build_cartesian_2d(0u64..(max + max / 5 + 1), 0f64..n as f64)
            .map_err(|e| e.to_string())?;
        let names: Vec<String> = bars.iter().map(|(n, _, _)| n.clone()).collect();
        // One label per bar, at its middle.
        let label = |v: &f64| {
            let i = v.floor();
            if (v - i - 0.5).abs() < 1e-6 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.disable_y_mesh().y_labels(n * 2 + 1);
        if text {
            mesh.y_label_formatter(&label);
        } else {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(|e| e.to_string())?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, ms, sev))| {
                let color = match sev {
                    Severity::Ok => RGBColor(46, 160, 67),
                    Severity::Warn => RGBColor(210, 153, 34),
                    Severity::Unknown => RGBColor(128, 128, 128),
                    Severity::Fail => RGBColor(207, 34, 46),
                };
                let y = i as f64;
                Rectangle::new([(0, y + 0.2), (*ms, y + 0.8)], color.filled())
            }))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let img = image_png(&rgb, w, h)?;
    Ok(Some(img))
}

/// Encodes an RGB buffer as PNG.
fn image_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}
