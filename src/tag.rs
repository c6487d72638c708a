//! `wavnet tag` and `wavnet eval`: inference with a trained model file.
//!
//! Tagging streams each file window by window (the crop length, 50 % overlap), averages the
//! window probabilities and writes the top-k labels per file as CSV. A file that fails is
//! reported by name and reason and the run goes on.
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::backend::DeviceTask;
use crate::data::{audio, AugmentConfig, Dataset, DatasetOptions, Loader, LoaderConfig, PadMode, Selection};
use crate::device::Device;
use crate::metrics::{ranked, softmax_rows, Scores};
use crate::model::Model;
use crate::train::{load_for_inference, predict};

#[derive(Clone, Debug)]
pub struct TagOptions {
    pub inputs: Vec<PathBuf>,
    pub model: PathBuf,
    pub top_k: usize,
    pub output: Option<PathBuf>,
    pub batch: usize,
}

/// How a tagging run went.
#[derive(Debug, Default)]
pub struct TagOutcome {
    pub tagged: usize,
    pub failed: Vec<(PathBuf, String)>,
}

pub struct TagTask(pub TagOptions);

impl DeviceTask for TagTask {
    type Out = Result<TagOutcome>;
    fn run<D: Device>(self, dev: D) -> Result<TagOutcome> {
        tag(dev, &self.0)
    }
}

/// Expands files and folders (recursively, audio extensions only inside folders, symlink loops
/// skipped) into a sorted list of files; unreadable paths become failures.
pub fn collect_inputs(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut failed = Vec::new();
    let mut seen = HashSet::new();
    fn walk(dir: &Path, files: &mut Vec<PathBuf>, failed: &mut Vec<(PathBuf, String)>, seen: &mut HashSet<PathBuf>) {
        match dir.canonicalize() {
            Ok(c) if !seen.insert(c.clone()) => {
                failed.push((dir.to_path_buf(), "symlink loop: folder already visited, skipped".into()));
                return;
            }
            Err(e) => {
                failed.push((dir.to_path_buf(), format!("cannot read: {e}")));
                return;
            }
            _ => {}
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                failed.push((dir.to_path_buf(), format!("cannot read folder: {e}")));
                return;
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                walk(&p, files, failed, seen);
            } else if audio::is_audio_path(&p) {
                files.push(p);
            }
        }
    }
    for p in inputs {
        if p.is_dir() {
            walk(p, &mut files, &mut failed, &mut seen);
        } else if p.exists() {
            files.push(p.clone());
        } else {
            failed.push((p.clone(), "no such file or folder".into()));
        }
    }
    (files, failed)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Runs the model on a batch of windows and adds each window's probabilities to its file's sum.
fn flush<D: Device>(model: &Model<D>, pending: &mut Vec<(usize, Vec<f32>)>, sums: &mut [Vec<f32>], counts: &mut [usize]) {
    if pending.is_empty() {
        return;
    }
    let (b, l, k) = (model.batch, model.len, model.cfg.classes);
    let mut x = vec![0.0; b * l];
    for (r, (_, w)) in pending.iter().enumerate() {
        x[r * l..(r + 1) * l].copy_from_slice(w);
    }
    model.forward(&x, false, 0);
    let p = softmax_rows(&model.logits(), k);
    for (r, (file, _)) in pending.iter().enumerate() {
        for (s, v) in sums[*file].iter_mut().zip(&p[r * k..(r + 1) * k]) {
            *s += v;
        }
        counts[*file] += 1;
    }
    pending.clear();
}

pub fn tag<D: Device>(dev: D, o: &TagOptions) -> Result<TagOutcome> {
    let (model, labels) = load_for_inference(dev, &o.model, o.batch)?;
    let (files, mut failed) = collect_inputs(&o.inputs);
    for (p, why) in &failed {
        eprintln!("error: {}: {why}", p.display());
    }
    let mut out: Box<dyn Write> = match &o.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create the output file", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let k = labels.len();
    let top = o.top_k.clamp(1, k);
    let mut header = vec!["file".to_string()];
    for i in 1..=top {
        header.push(format!("label_{i}"));
        header.push(format!("prob_{i}"));
    }
    header.push("windows".into());
    writeln!(out, "{}", header.join(","))?;

    let (sr, win) = (model.cfg.sample_rate, model.len);
    let hop = (win / 2).max(1);
    let mut sums = vec![vec![0f32; k]; files.len()];
    let mut counts = vec![0usize; files.len()];
    let mut ok = vec![true; files.len()];
    let mut pending: Vec<(usize, Vec<f32>)> = Vec::with_capacity(o.batch);
    let mut next_out = 0; // files are written in order as soon as all their windows are in
    let mut tagged = 0;
    for (fi, path) in files.iter().enumerate() {
        match audio::windows(path, sr, win, hop) {
            Ok(ws) => {
                for w in ws {
                    match w {
                        Ok(w) => {
                            pending.push((fi, w));
                            if pending.len() == o.batch {
                                flush(&model, &mut pending, &mut sums, &mut counts);
                            }
                        }
                        Err(e) => {
                            ok[fi] = false;
                            failed.push((path.clone(), e.reason()));
                            eprintln!("error: {e}");
                            pending.retain(|(f, _)| *f != fi);
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                ok[fi] = false;
                failed.push((path.clone(), e.reason()));
                eprintln!("error: {e}");
            }
        }
        // Everything before the oldest pending window is complete: write it out.
        let done_upto = pending.first().map(|(f, _)| *f).unwrap_or(fi + 1);
        while next_out < done_upto {
            tagged += write_row(&mut out, &files[next_out], ok[next_out], &sums[next_out], counts[next_out], &labels, top)?;
            next_out += 1;
        }
    }
    flush(&model, &mut pending, &mut sums, &mut counts);
    while next_out < files.len() {
        tagged += write_row(&mut out, &files[next_out], ok[next_out], &sums[next_out], counts[next_out], &labels, top)?;
        next_out += 1;
    }
    out.flush()?;
    Ok(TagOutcome { tagged, failed })
}

fn write_row(out: &mut dyn Write, path: &Path, ok: bool, sum: &[f32], count: usize, labels: &[String], top: usize) -> Result<usize> {
    if !ok || count == 0 {
        return Ok(0);
    }
    let mean: Vec<f32> = sum.iter().map(|v| v / count as f32).collect();
    let mut row = vec![csv_field(&path.display().to_string())];
    for c in ranked(&mean).into_iter().take(top) {
        row.push(csv_field(&labels[c]));
        row.push(format!("{:.4}", mean[c]));
    }
    row.push(count.to_string());
    writeln!(out, "{}", row.join(","))?;
    Ok(1)
}

#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub model: PathBuf,
    pub data: PathBuf,
    pub dataset: DatasetOptions,
    pub split: Option<String>,
    pub fold: Option<u32>,
    pub batch: usize,
    pub json: bool,
}

pub struct EvalTask(pub EvalOptions);

impl DeviceTask for EvalTask {
    type Out = Result<Scores>;
    fn run<D: Device>(self, dev: D) -> Result<Scores> {
        evaluate(dev, &self.0)
    }
}

pub fn evaluate<D: Device>(dev: D, o: &EvalOptions) -> Result<Scores> {
    let (model, labels) = load_for_inference(dev, &o.model, o.batch)?;
    let mut dopts = o.dataset.clone();
    dopts.labels = Some(labels.clone());
    let ds = Dataset::open(&o.data, &dopts).with_context(|| format!("{}: cannot read the dataset", o.data.display()))?;
    for p in &ds.skipped {
        eprintln!("skipping {p}");
    }
    let rows: Vec<usize> = match (&o.split, o.fold) {
        (Some(s), _) => ds.select(&Selection::ValSplit(s.clone())).1,
        (None, Some(k)) => ds.select(&Selection::ValFold(k)).1,
        (None, None) => (0..ds.items.len()).collect(),
    };
    if rows.is_empty() {
        anyhow::bail!("{}: no clips match the selection (check --split / --fold)", o.data.display());
    }
    let ds = Arc::new(ds);
    let loader = Loader::new(
        ds.clone(),
        LoaderConfig {
            sample_rate: model.cfg.sample_rate,
            crop: model.len,
            batch: o.batch,
            seed: 0,
            augment: AugmentConfig::none(),
            balanced: false,
            pad: PadMode::Zeros,
            threads: None,
            cache_bytes: 256 << 20,
            disk_cache: None,
        },
    );
    let (probs, ys) = predict(&model, &loader, &ds, &rows);
    for p in loader.failures() {
        eprintln!("skipped {p}");
    }
    let scores = Scores::compute(&probs, &ys, labels.len());
    let text = if o.json {
        serde_json::to_string_pretty(&serde_json::json!({ "labels": labels, "scores": scores }))? + "\n"
    } else {
        scores.report(&labels)
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(scores)
}
