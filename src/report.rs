//! What `wavnet tag` and `wavnet serve` say about one file, and the formats it is written in:
//! the per-file CSV row, a JSON line (the same object `POST /api/tag` returns), Audacity label
//! tracks and Raven selection tables (one per file, or one combined table for a run).
use serde::{Deserialize, Serialize};

use crate::infer::{FileScores, Segment};
use crate::metrics::ranked;

/// One label with its confidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub label: String,
    pub confidence: f32,
}

/// One window's scores: seconds `[start, end)` of the file and a probability per class (in
/// the order of `FileReport::classes`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowRow {
    pub start: f64,
    pub end: f64,
    pub scores: Vec<f32>,
}

/// A labelled stretch of a file, in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentRow {
    pub start: f64,
    pub end: f64,
    pub label: String,
    pub confidence: f32,
}

/// Everything tagging found in one file: one JSON line of `--format jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    pub file: String,
    pub model: String,
    pub duration: f64,
    pub sample_rate: u32,
    /// The best `--top-k` labels of the whole file (mean of its windows), whatever the thresholds.
    pub top: Vec<Tag>,
    pub segments: Vec<SegmentRow>,
    pub classes: Vec<String>,
    pub windows: Vec<WindowRow>,
}

impl FileReport {
    /// The report of one file's scores (`sr`: the model's rate; `segments` from
    /// `crate::infer::segments`).
    pub fn new(file: String, model: String, fs: &FileScores, segments: &[Segment], labels: &[String], top_k: usize, sr: u32) -> FileReport {
        let s = |n: usize| n as f64 / sr as f64;
        FileReport {
            file,
            model,
            duration: s(fs.samples),
            sample_rate: sr,
            top: ranked(&fs.clip).into_iter().take(top_k.clamp(1, labels.len())).map(|c| Tag { label: labels[c].clone(), confidence: fs.clip[c] }).collect(),
            segments: segments
                .iter()
                .map(|g| SegmentRow { start: s(g.start), end: s(g.end), label: labels[g.class].clone(), confidence: g.confidence })
                .collect(),
            classes: labels.to_vec(),
            windows: fs.windows.iter().map(|w| WindowRow { start: s(w.start), end: s(w.end), scores: w.probs.clone() }).collect(),
        }
    }
}

fn csv_line(fields: &[String]) -> String {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    w.write_record(fields).expect("write to memory");
    String::from_utf8(w.into_inner().expect("write to memory")).expect("utf-8 fields")
}

/// Header of the per-file CSV for `top` labels.
pub fn csv_header(top: usize) -> String {
    let mut h = vec!["file".to_string()];
    for i in 1..=top {
        h.push(format!("label_{i}"));
        h.push(format!("prob_{i}"));
    }
    h.push("windows".into());
    h.push("model".into());
    csv_line(&h)
}

/// One CSV row (with its line end): the file, its top labels, its window count and the model.
pub fn csv_row(r: &FileReport) -> String {
    let mut row = vec![r.file.clone()];
    for t in &r.top {
        row.push(t.label.clone());
        row.push(format!("{:.4}", t.confidence));
    }
    row.push(r.windows.len().to_string());
    row.push(r.model.clone());
    csv_line(&row)
}

/// One JSON line (with its line end).
pub fn jsonl_row(r: &FileReport) -> String {
    serde_json::to_string(r).expect("a report serialises") + "\n"
}

/// An Audacity label track: `start<TAB>end<TAB>label` per segment (File > Import > Labels).
pub fn audacity(r: &FileReport) -> String {
    r.segments.iter().map(|g| format!("{:.6}\t{:.6}\t{}\n", g.start, g.end, clean(&g.label))).collect()
}

/// Tabs and line breaks would break a tab-separated table.
fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

/// Columns of a Raven selection table.
pub const RAVEN_HEADER: &str =
    "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tLabel\tConfidence\tBegin Path\tFile Offset (s)\tModel\n";

/// Raven selection-table rows for `r`, numbered from `first`, with begin times shifted by
/// `offset` seconds (a combined table lays the files end to end).
pub fn raven_rows(r: &FileReport, first: usize, offset: f64) -> String {
    let nyquist = r.sample_rate as f64 / 2.0;
    r.segments
        .iter()
        .enumerate()
        .map(|(i, g)| {
            format!(
                "{}\tSpectrogram 1\t1\t{:.6}\t{:.6}\t0\t{:.1}\t{}\t{:.4}\t{}\t{:.6}\t{}\n",
                first + i,
                offset + g.start,
                offset + g.end,
                nyquist,
                clean(&g.label),
                g.confidence,
                clean(&r.file),
                g.start,
                clean(&r.model)
            )
        })
        .collect()
}

/// A Raven selection table of one file.
pub fn raven(r: &FileReport) -> String {
    format!("{RAVEN_HEADER}{}", raven_rows(r, 1, 0.0))
}

/// One Raven selection table for a run: the files end to end, selections numbered through.
pub fn raven_combined<'a>(reports: impl IntoIterator<Item = &'a FileReport>) -> String {
    let mut out = RAVEN_HEADER.to_string();
    let (mut n, mut offset) = (1, 0.0);
    for r in reports {
        out += &raven_rows(r, n, offset);
        n += r.segments.len();
        offset += r.duration;
    }
    out
}
