//! `wavnet tag` and `wavnet eval`: inference with a trained model file.
//!
//! Both run through `crate::infer`: a clip is cut into windows (the crop length, 50 % overlap,
//! the last ending at the clip's end, short clips centred) and its scores are the mean of the
//! window probabilities, so `tag` and `eval` score a clip the same way. Tagging streams each
//! file and writes the top-k labels per file as CSV. A file that fails is reported by name and
//! reason and the run goes on.
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::backend::DeviceTask;
use crate::data::{audio, AugmentConfig, Dataset, DatasetOptions, Loader, LoaderConfig, PadMode, Selection};
use crate::device::Device;
use crate::infer::{infer_files, load_for_inference, model_for_inference, predict, ClipPolicy};
use crate::metrics::{ranked, Scores};

#[derive(Clone, Debug)]
pub struct TagOptions {
    pub inputs: Vec<PathBuf>,
    pub model: PathBuf,
    pub top_k: usize,
    pub output: Option<PathBuf>,
    pub batch: usize,
    /// Window length in seconds (`None`: the model's crop).
    pub window: Option<f32>,
    /// Hop between windows in seconds (`None`: half the window).
    pub hop: Option<f32>,
    /// Clip scores from N evenly spaced crops instead of every window (0).
    pub eval_crops: usize,
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

/// Seconds given on the command line as samples at `rate`; the message names the flag.
fn seconds_to_samples(flag: &str, s: Option<f32>, rate: u32) -> Result<Option<usize>> {
    match s {
        Some(v) if !(v.is_finite() && v * rate as f32 >= 1.0) => {
            anyhow::bail!("--{flag} {v}: give a positive number of seconds (at least one sample at {rate} Hz)")
        }
        Some(v) => Ok(Some((v as f64 * rate as f64).round() as usize)),
        None => Ok(None),
    }
}

pub fn tag<D: Device>(dev: D, o: &TagOptions) -> Result<TagOutcome> {
    let file = crate::io::load_model(&o.model)?;
    let rate = file.cfg.sample_rate;
    let window = seconds_to_samples("window", o.window, rate)?;
    let hop = seconds_to_samples("hop", o.hop, rate)?;
    let (model, labels) = model_for_inference(dev, file, &o.model, o.batch, window)?;
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

    let hop = hop.unwrap_or_else(|| ClipPolicy::default_hop(model.len));
    let policy = ClipPolicy::from_eval_crops(o.eval_crops, hop);
    let mut tagged = 0;
    infer_files(&model, &files, policy, |fi, r| {
        match r {
            Ok(fs) => {
                let mut row = vec![csv_field(&files[fi].display().to_string())];
                for c in ranked(&fs.clip).into_iter().take(top) {
                    row.push(csv_field(&labels[c]));
                    row.push(format!("{:.4}", fs.clip[c]));
                }
                row.push(fs.windows.len().to_string());
                writeln!(out, "{}", row.join(","))?;
                tagged += 1;
            }
            Err(why) => {
                eprintln!("error: {}: {why}", files[fi].display());
                failed.push((files[fi].clone(), why));
            }
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(TagOutcome { tagged, failed })
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
    /// How a clip is scored: 0 = every window at half the crop, N = N evenly spaced crops.
    pub eval_crops: usize,
}

pub struct EvalTask(pub EvalOptions);

impl DeviceTask for EvalTask {
    type Out = Result<Scores>;
    fn run<D: Device>(self, dev: D) -> Result<Scores> {
        evaluate(dev, &self.0)
    }
}

pub fn evaluate<D: Device>(dev: D, o: &EvalOptions) -> Result<Scores> {
    let (model, labels) = load_for_inference(dev, &o.model, o.batch, None)?;
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
    let policy = ClipPolicy::from_eval_crops(o.eval_crops, ClipPolicy::default_hop(model.len));
    let (probs, ys) = predict(&model, &loader, &ds, &rows, policy);
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
