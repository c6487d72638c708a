//! Reports people can look at (of training and evaluation runs; `crate::report` holds the tag
//! output formats): `OUT/report.html` (self-contained: every figure inlined as SVG)
//! plus each figure as its own `.svg` file. Figures are drawn with `plotters` (SVG backend):
//! loss and accuracy per epoch, the confusion matrix, per-class precision and recall, and the
//! learned Gabor filters' frequency responses against their (mel) initialisation.
use std::f64::consts::PI;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::metrics::Scores;
use crate::model::{mel_init, Config};
use crate::train::EpochLog;

/// What a report shows. Everything but the config and filters is optional: a run without a
/// validation set has no scores, a model file without a training summary no history.
pub struct ReportInput<'a> {
    /// Heading, e.g. "wavnet train: runs/esc10".
    pub title: String,
    /// (name, value) rows of the run or evaluation: data, device, epochs, ...
    pub facts: Vec<(String, String)>,
    /// Per-epoch training log.
    pub history: &'a [EpochLog],
    pub labels: &'a [String],
    /// Scores on a labelled set, and what that set is ("validation fold 4, best epoch 12").
    pub scores: Option<(&'a Scores, String)>,
    pub cfg: &'a Config,
    /// Learned filterbank parameters: mu (F) rad/sample, sigma (F) samples.
    pub mu: &'a [f32],
    pub sigma: &'a [f32],
}

/// The figure files a report writes (beside `report.html`), in the order shown.
pub const FIGURES: [&str; 5] = ["loss.svg", "accuracy.svg", "confusion.svg", "per_class.svg", "gabor.svg"];

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing a figure: {e}")
}

/// Writes `dir/report.html` and the figures (`FIGURES`, those that have data) into `dir`;
/// returns the paths written.
pub fn write_report(dir: &Path, r: &ReportInput) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the report folder", dir.display()))?;
    let mut figures: Vec<(&str, String, String)> = Vec::new(); // (file, caption, svg)
    if !r.history.is_empty() {
        figures.push(("loss.svg", "Loss per epoch: training (sampled batches) and validation.".into(), loss_figure(r.history)?));
        figures.push((
            "accuracy.svg",
            "Accuracy per epoch: training (sampled batches, augmented, dropout on) and validation; mAP and lwlrap where measured.".into(),
            accuracy_figure(r.history)?,
        ));
    }
    if let Some((s, what)) = &r.scores {
        figures.push((
            "confusion.svg",
            format!("Confusion matrix on {what}: rows are the true class, columns the predicted one; shade = fraction of the row."),
            confusion_figure(s, r.labels)?,
        ));
        figures.push(("per_class.svg", format!("Per-class precision and recall on {what}."), per_class_figure(s, r.labels)?));
    }
    figures.push((
        "gabor.svg",
        "Gabor filterbank: magnitude response of every learned filter (strong colour) against its mel-spaced initialisation (faint), and each filter's centre frequency and bandwidth before (dashed grey) and after training.".into(),
        gabor_figure(r.cfg, r.mu, r.sigma)?,
    ));
    let mut written = Vec::new();
    for (file, _, svg) in &figures {
        let p = dir.join(file);
        std::fs::write(&p, svg).with_context(|| format!("{}: cannot write", p.display()))?;
        written.push(p);
    }
    let p = dir.join("report.html");
    std::fs::write(&p, html(r, &figures)).with_context(|| format!("{}: cannot write", p.display()))?;
    written.push(p);
    Ok(written)
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn html(r: &ReportInput, figures: &[(&str, String, String)]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}figure{{margin:2em 0}}figcaption{{color:#555}}\
         svg{{max-width:100%;height:auto}}</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(&r.title)
    );
    o += "<table>\n";
    for (k, v) in &r.facts {
        let _ = writeln!(o, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(v));
    }
    o += "</table>\n";
    match &r.scores {
        Some((s, what)) => {
            let _ = writeln!(
                o,
                "<h2>Scores on {}</h2>\n<table><tr><th>clips</th><th>accuracy</th><th>MAP@3</th><th>mAP</th><th>lwlrap</th><th>loss</th></tr>\
                 <tr><td>{}</td><td>{:.2} %</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr></table>",
                esc(what),
                s.n,
                100.0 * s.accuracy,
                s.map3,
                s.mean_ap,
                s.lwlrap,
                s.loss
            );
        }
        None => o += "<p>No labelled set was scored (a run without a validation set): no confusion matrix or per-class scores. <code>wavnet eval --report DIR</code> makes them for a model on a set.</p>\n",
    }
    for (file, caption, svg) in figures {
        let _ = writeln!(o, "<figure id=\"{file}\">\n{}\n<figcaption>{} (<a href=\"{file}\">{file}</a>)</figcaption></figure>", svg_body(svg), esc(caption));
    }
    if let Some((s, _)) = &r.scores {
        o += "<h2>Per class</h2>\n<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>AP</th><th>support</th></tr>\n";
        for (c, l) in r.labels.iter().enumerate() {
            let (p, rc, f, n) = s.per_class(c);
            let ap = s.class_ap.get(c).copied().flatten().map(|a| format!("{a:.3}")).unwrap_or_else(|| "-".into());
            let _ = writeln!(o, "<tr><td>{}</td><td>{p:.3}</td><td>{rc:.3}</td><td>{f:.3}</td><td>{ap}</td><td>{n}</td></tr>", esc(l));
        }
        o += "</table>\n";
    }
    o += "</body></html>\n";
    o
}

/// The `<svg ...>...</svg>` element of an SVG document (without an XML declaration).
fn svg_body(svg: &str) -> &str {
    svg.find("<svg").map(|i| &svg[i..]).unwrap_or(svg)
}

/// An axis label for whole numbers only (epochs, filter indices, Hz).
fn whole(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{}", v.round())
    } else {
        String::new()
    }
}

fn epochs_range(h: &[EpochLog]) -> std::ops::Range<f64> {
    0.5..h.len() as f64 + 0.5
}

/// A line with point markers and a legend entry.
fn series<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>,
    pts: Vec<(f64, f64)>, color: RGBColor, name: &str,
) -> Result<()> {
    if pts.is_empty() {
        return Ok(());
    }
    chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2))).map_err(plot_err)?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled()))).map_err(plot_err)?;
    Ok(())
}

/// The legend box every figure draws, at `pos`.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>, pos: SeriesLabelPosition,
) -> Result<()> {
    chart.configure_series_labels().position(pos).background_style(WHITE.mix(0.9)).border_style(BLACK).draw().map_err(plot_err)
}

const C_TRAIN: RGBColor = RGBColor(31, 119, 180);
const C_VAL: RGBColor = RGBColor(214, 39, 40);
const C_MAP: RGBColor = RGBColor(44, 160, 44);
const C_LWL: RGBColor = RGBColor(148, 103, 189);

fn pts(h: &[EpochLog], f: impl Fn(&EpochLog) -> Option<f64>) -> Vec<(f64, f64)> {
    h.iter().filter_map(|e| f(e).filter(|v| v.is_finite()).map(|v| (e.epoch as f64, v))).collect()
}

fn loss_figure(h: &[EpochLog]) -> Result<String> {
    let train = pts(h, |e| Some(e.train_loss));
    let val = pts(h, |e| e.val_loss);
    let top = train.iter().chain(&val).map(|p| p.1).fold(0.0f64, f64::max).max(1e-3) * 1.05;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Loss", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(epochs_range(h), 0.0..top)
            .map_err(plot_err)?;
        chart.configure_mesh().x_label_formatter(&whole).x_desc("epoch").y_desc("loss").draw().map_err(plot_err)?;
        series(&mut chart, train, C_TRAIN, "training")?;
        series(&mut chart, val, C_VAL, "validation")?;
        legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

fn accuracy_figure(h: &[EpochLog]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Accuracy", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(epochs_range(h), 0.0..1.0)
            .map_err(plot_err)?;
        chart.configure_mesh().x_label_formatter(&whole).x_desc("epoch").y_desc("fraction").draw().map_err(plot_err)?;
        series(&mut chart, pts(h, |e| e.train_accuracy), C_TRAIN, "training accuracy")?;
        series(&mut chart, pts(h, |e| e.val_accuracy), C_VAL, "validation accuracy")?;
        series(&mut chart, pts(h, |e| e.val_map), C_MAP, "validation mAP")?;
        series(&mut chart, pts(h, |e| e.val_lwlrap), C_LWL, "validation lwlrap")?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// White to dark blue.
fn shade(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    RGBColor(mix(255.0, 8.0), mix(255.0, 48.0), mix(255.0, 107.0))
}

/// The label of a class axis position (segment centres only).
fn class_name(labels: &[String], v: &SegmentValue<i32>, flip: bool) -> String {
    match v {
        SegmentValue::CenterOf(i) => {
            let k = labels.len() as i32;
            let i = if flip { k - 1 - i } else { *i };
            labels.get(i as usize).cloned().unwrap_or_default()
        }
        _ => String::new(),
    }
}

fn confusion_figure(s: &Scores, labels: &[String]) -> Result<String> {
    let k = labels.len() as i32;
    let cell = if k <= 12 { 44 } else if k <= 30 { 24 } else { 16 };
    let label_px = 12 + 7 * labels.iter().map(|l| l.chars().count()).max().unwrap_or(4).min(28) as u32;
    let side = (k as u32) * cell;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (side + label_px + 40, side + label_px + 60)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Confusion matrix (rows: true, columns: predicted)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(label_px)
            .y_label_area_size(label_px)
            .build_cartesian_2d((0..k - 1).into_segmented(), (0..k - 1).into_segmented())
            .map_err(plot_err)?;
        let font_px = if k <= 30 { 12 } else { 9 };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(k as usize)
            .y_labels(k as usize)
            .x_label_style(("sans-serif", font_px).into_font().transform(FontTransform::Rotate90))
            .y_label_style(("sans-serif", font_px))
            .x_label_formatter(&|v| class_name(labels, v, false))
            .y_label_formatter(&|v| class_name(labels, v, true))
            .draw()
            .map_err(plot_err)?;
        let rows: Vec<usize> = s.confusion.iter().map(|r| r.iter().sum()).collect();
        chart
            .draw_series(s.confusion.iter().enumerate().flat_map(|(t, row)| {
                let n = rows[t].max(1) as f64;
                row.iter().enumerate().map(move |(p, &c)| {
                    let y = k - 1 - t as i32; // row 0 at the top
                    Rectangle::new(
                        [(SegmentValue::Exact(p as i32), SegmentValue::Exact(y)), (SegmentValue::Exact(p as i32 + 1), SegmentValue::Exact(y + 1))],
                        shade(c as f64 / n).filled(),
                    )
                })
            }))
            .map_err(plot_err)?;
        if k <= 20 {
            chart
                .draw_series(s.confusion.iter().enumerate().flat_map(|(t, row)| {
                    let n = rows[t].max(1) as f64;
                    row.iter().enumerate().filter(|(_, c)| **c > 0).map(move |(p, &c)| {
                        let color = if c as f64 / n > 0.5 { WHITE } else { BLACK };
                        Text::new(
                            c.to_string(),
                            (SegmentValue::CenterOf(p as i32), SegmentValue::CenterOf(k - 1 - t as i32)),
                            ("sans-serif", 12).into_font().color(&color).pos(Pos::new(HPos::Center, VPos::Center)),
                        )
                    })
                }))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

fn per_class_figure(s: &Scores, labels: &[String]) -> Result<String> {
    let k = labels.len() as i32;
    let row = if k <= 20 { 28 } else { 18 };
    let label_px = 12 + 7 * labels.iter().map(|l| l.chars().count()).max().unwrap_or(4).min(28) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 110 + row * k as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Per-class precision and recall", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(label_px)
            .build_cartesian_2d(0.0..1.3, (0..k - 1).into_segmented())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .y_labels(k as usize)
            .y_label_style(("sans-serif", if k <= 30 { 12 } else { 9 }))
            .y_label_formatter(&|v| class_name(labels, v, true))
            .x_label_formatter(&|v| if *v <= 1.0 + 1e-9 { format!("{v:.1}") } else { String::new() })
            .x_desc("fraction")
            .draw()
            .map_err(plot_err)?;
        let bars = |which: usize| {
            (0..k).map(move |c| {
                let (p, r, _, _) = s.per_class(c as usize);
                let y = k - 1 - c; // first class at the top
                let (lo, hi, v, color) = if which == 0 {
                    (SegmentValue::CenterOf(y), SegmentValue::Exact(y + 1), p, C_TRAIN)
                } else {
                    (SegmentValue::Exact(y), SegmentValue::CenterOf(y), r, C_VAL)
                };
                Rectangle::new([(0.0, lo), (v, hi)], color.filled())
            })
        };
        chart
            .draw_series(bars(0))
            .map_err(plot_err)?
            .label("precision")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], C_TRAIN.filled()));
        chart
            .draw_series(bars(1))
            .map_err(plot_err)?
            .label("recall")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], C_VAL.filled()));
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Frequencies (Hz) of the response curves: 0 to Nyquist.
const RESPONSE_POINTS: usize = 256;

/// |H(f)| of each complex Gabor filter (the taps of `crate::cpu::gabor::gabor_forward`, so the
/// clamps apply) at `RESPONSE_POINTS` frequencies from 0 to Nyquist: (F, points).
pub fn gabor_responses(cfg: &Config, mu: &[f32], sigma: &[f32]) -> Vec<Vec<f64>> {
    let (f, w) = (cfg.filters, cfg.taps);
    let mut kernel = vec![0f32; 2 * f * w];
    crate::cpu::gabor::gabor_forward(&mut kernel, mu, sigma, f, w);
    let half = (w / 2) as f64;
    (0..f)
        .map(|i| {
            (0..RESPONSE_POINTS)
                .map(|q| {
                    let omega = PI * q as f64 / (RESPONSE_POINTS - 1) as f64;
                    let (mut re, mut im) = (0f64, 0f64);
                    for j in 0..w {
                        let (a, b) = (kernel[i * w + j] as f64, kernel[(f + i) * w + j] as f64);
                        let (c, s) = ((omega * (j as f64 - half)).cos(), (omega * (j as f64 - half)).sin());
                        // (a + ib) e^{-i omega n}
                        re += a * c + b * s;
                        im += b * c - a * s;
                    }
                    (re * re + im * im).sqrt()
                })
                .collect()
        })
        .collect()
}

fn gabor_figure(cfg: &Config, mu: &[f32], sigma: &[f32]) -> Result<String> {
    let (mu0, sigma0) = mel_init(cfg);
    let sr = cfg.sample_rate as f64;
    let hz = |q: usize| sr / 2.0 * q as f64 / (RESPONSE_POINTS - 1) as f64;
    let learned = gabor_responses(cfg, mu, sigma);
    let init = gabor_responses(cfg, &mu0, &sigma0);
    let top = learned.iter().chain(&init).flat_map(|r| r.iter().copied()).fold(0.0f64, f64::max).max(1e-6) * 1.05;
    // Only where a curve is visible (keeps the SVG small): above 2 % of the top.
    let curve = |r: &[f64]| -> Vec<(f64, f64)> {
        let keep = |q: usize| r[q.saturating_sub(1)..(q + 2).min(r.len())].iter().any(|v| *v > 0.02 * top);
        (0..r.len()).filter(|&q| keep(q)).map(|q| (hz(q), r[q])).collect()
    };
    let palette = |i: usize| -> RGBColor {
        // blue (low filters) through green to red (high filters)
        let t = i as f64 / cfg.filters.max(2) as f64;
        let c = HSLColor(0.66 * (1.0 - t), 0.75, 0.42).to_rgba();
        RGBColor(c.0, c.1, c.2)
    };
    // Centre frequency (Hz) and bandwidth (Hz, the Gaussian's full width at half maximum in
    // frequency: 2 sqrt(2 ln 2) / sigma rad/sample) of each filter, clamped as the model does.
    let ((mlo, mhi), (slo, shi)) = crate::cpu::gabor::clamp_ranges(cfg.taps);
    let centre = |m: &[f32]| -> Vec<(f64, f64)> {
        m.iter().enumerate().map(|(i, v)| (i as f64, v.clamp(mlo, mhi) as f64 * sr / (2.0 * PI))).collect()
    };
    let width = |s: &[f32]| -> Vec<(f64, f64)> {
        s.iter().enumerate().map(|(i, v)| (i as f64, 2.0 * (2.0 * 2f64.ln()).sqrt() / v.clamp(slo, shi) as f64 * sr / (2.0 * PI))).collect()
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 820)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (upper, lower) = root.split_vertically(480);
        let mut chart = ChartBuilder::on(&upper)
            .caption("Gabor filter magnitude responses: learned (strong) vs initialisation (faint)", ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..sr / 2.0, 0.0..top)
            .map_err(plot_err)?;
        chart.configure_mesh().x_label_formatter(&whole).x_desc("frequency (Hz)").y_desc("|H(f)|").draw().map_err(plot_err)?;
        // Solid faint lines for the initialisation (a dashed line per filter would be
        // thousands of SVG elements).
        for (i, r) in init.iter().enumerate() {
            chart.draw_series(LineSeries::new(curve(r), palette(i).mix(0.3).stroke_width(1))).map_err(plot_err)?;
        }
        for (i, r) in learned.iter().enumerate() {
            chart.draw_series(LineSeries::new(curve(r), palette(i).stroke_width(1))).map_err(plot_err)?;
        }
        let (left, right) = lower.split_horizontally(450);
        for (area, title, y_desc, a, b) in [
            (&left, "Centre frequency per filter", "Hz", centre(&mu0), centre(mu)),
            (&right, "Bandwidth (FWHM) per filter", "Hz", width(&sigma0), width(sigma)),
        ] {
            let top = a.iter().chain(&b).map(|p| p.1).fold(0.0f64, f64::max).max(1.0) * 1.05;
            let mut c = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 15))
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(-0.5..cfg.filters as f64 - 0.5, 0.0..top)
                .map_err(plot_err)?;
            c.configure_mesh().x_label_formatter(&whole).y_label_formatter(&whole).x_desc("filter").y_desc(y_desc).draw().map_err(plot_err)?;
            let grey = ShapeStyle { color: RGBColor(120, 120, 120).to_rgba(), filled: false, stroke_width: 1 };
            c.draw_series(DashedLineSeries::new(a, 4, 3, grey))
                .map_err(plot_err)?
                .label("initialisation")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
            c.draw_series(LineSeries::new(b, C_VAL.stroke_width(2)))
                .map_err(plot_err)?
                .label("learned")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], C_VAL.stroke_width(2)));
            legend(&mut c, SeriesLabelPosition::UpperLeft)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gabor_filter_responds_most_at_its_centre_frequency() {
        let cfg = Config::wavnet_s(16000, 2);
        let (mu, sigma) = mel_init(&cfg);
        let r = gabor_responses(&cfg, &mu, &sigma);
        for i in [0, 20, 63] {
            let peak = (0..RESPONSE_POINTS).max_by(|a, b| r[i][*a].total_cmp(&r[i][*b])).unwrap();
            let peak_hz = 8000.0 * peak as f64 / (RESPONSE_POINTS - 1) as f64;
            let want = mu[i] as f64 * 16000.0 / (2.0 * PI);
            assert!((peak_hz - want).abs() <= 8000.0 / RESPONSE_POINTS as f64 + 1.0, "filter {i}: peak at {peak_hz} Hz, centre {want} Hz");
            // the envelope is normalised to unit area: the peak gain is about 1
            assert!((r[i][peak] - 1.0).abs() < 0.1, "filter {i}: peak gain {}", r[i][peak]);
        }
    }
}
