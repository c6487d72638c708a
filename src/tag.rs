//! `wavnet tag` and `wavnet eval`: inference with a trained model file.
//!
//! Both run through `crate::infer`: a clip is cut into windows (the crop length, 50 % overlap,
//! the last ending at the clip's end, short clips centred) and its scores are the mean of the
//! window probabilities, so `tag` and `eval` score a clip the same way.
//!
//! Tagging streams each file and writes, per `--format`, the per-file CSV, JSON lines, Audacity
//! label tracks and Raven selection tables (`crate::report`). With `--output-dir` the outputs
//! mirror the input tree and are written atomically, a journal lets `--resume` skip finished
//! files, `--shard I/N` takes a deterministic share of the files, and a run record and a
//! failures file sit beside the outputs. A file that fails is reported by name and reason and
//! the run goes on.
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::backend::DeviceTask;
use crate::data::{audio, AugmentConfig, Dataset, DatasetOptions, Loader, LoaderConfig, PadMode, Selection};
use crate::device::Device;
use crate::infer::{infer_files, load_for_inference, model_for_inference, predict, segments, ClipPolicy};
use crate::metrics::Scores;
use crate::report::{self, FileReport};

/// An output format of `wavnet tag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One row per file: its top-k labels and probabilities (`tags.csv`).
    Csv,
    /// One JSON object per file: top labels, segments and per-window scores (`tags.jsonl`).
    Jsonl,
    /// An Audacity label track per input (`<file>.labels.txt`).
    Audacity,
    /// A Raven selection table per input (`<file>.selections.txt`) and one for the run
    /// (`selections.txt`).
    Raven,
}

#[derive(Clone, Debug)]
pub struct TagOptions {
    pub inputs: Vec<PathBuf>,
    pub model: PathBuf,
    pub top_k: usize,
    /// Write the one run-level output here instead of stdout (without `output_dir`).
    pub output: Option<PathBuf>,
    /// Folder for every output, mirroring the input tree.
    pub output_dir: Option<PathBuf>,
    pub formats: Vec<Format>,
    pub batch: usize,
    /// Window length in seconds (`None`: the model's crop).
    pub window: Option<f32>,
    /// Hop between windows in seconds (`None`: half the window).
    pub hop: Option<f32>,
    /// Clip scores from N evenly spaced crops instead of every window (0).
    pub eval_crops: usize,
    /// Threshold of every class for segments.
    pub min_confidence: f32,
    /// CSV `label,threshold` overriding `min_confidence` for the classes it lists.
    pub thresholds: Option<PathBuf>,
    /// Skip files whose outputs the journal in `output_dir` says are complete.
    pub resume: bool,
    /// Tag only share `I` of `N` (0-based).
    pub shard: Option<(usize, usize)>,
    /// Stop after this many files as if killed (tests `--resume`).
    pub stop_after: Option<usize>,
}

/// How a tagging run went.
#[derive(Debug, Default)]
pub struct TagOutcome {
    pub tagged: usize,
    /// Files skipped because an earlier run's journal has them (`--resume`).
    pub resumed: usize,
    pub failed: Vec<(PathBuf, String)>,
}

pub struct TagTask(pub TagOptions);

impl DeviceTask for TagTask {
    type Out = Result<TagOutcome>;
    fn run<D: Device>(self, dev: D) -> Result<TagOutcome> {
        tag(dev, &self.0)
    }
}

/// One file to tag: its path and its place in the output tree (the folder given on the
/// command line, then the path below it; a file given directly is its name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    pub rel: PathBuf,
}

/// Expands files and folders (recursively, audio extensions only inside folders, symlink loops
/// skipped) into a sorted list of files; unreadable paths become failures.
pub fn collect_inputs(inputs: &[PathBuf]) -> (Vec<Input>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut failed = Vec::new();
    let mut seen = HashSet::new();
    fn walk(dir: &Path, rel: &Path, files: &mut Vec<Input>, failed: &mut Vec<(PathBuf, String)>, seen: &mut HashSet<PathBuf>) {
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
            let name = p.file_name().map(PathBuf::from).unwrap_or_default();
            if p.is_dir() {
                walk(&p, &rel.join(name), files, failed, seen);
            } else if audio::is_audio_path(&p) {
                files.push(Input { rel: rel.join(name), path: p });
            }
        }
    }
    for p in inputs {
        let name = p.canonicalize().ok().and_then(|c| c.file_name().map(PathBuf::from)).unwrap_or_default();
        if p.is_dir() {
            walk(p, &name, &mut files, &mut failed, &mut seen);
        } else if p.exists() {
            files.push(Input { path: p.clone(), rel: name });
        } else {
            failed.push((p.clone(), "no such file or folder".into()));
        }
    }
    (files, failed)
}

/// FNV-1a of a string: a hash that is the same on every machine and every run.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Whether `rel` belongs to shard `i` of `n`: decided by its place in the output tree alone,
/// so every machine splits the same collection the same way, with no overlap.
pub fn in_shard(rel: &Path, i: usize, n: usize) -> bool {
    fnv(&rel.to_string_lossy()) % n as u64 == i as u64
}

/// `--shard I/N`: share I (0-based) of N.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard {s}: give I/N with 0 <= I < N, e.g. 0/4 ... 3/4 for four machines");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Per-class thresholds: `default` everywhere, overridden by a CSV file of `label,threshold`
/// rows (a header row `label,threshold` is allowed).
pub fn read_thresholds(path: Option<&Path>, labels: &[String], default: f32) -> Result<Vec<f32>> {
    let mut t = vec![default; labels.len()];
    let Some(path) = path else { return Ok(t) };
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("{}: cannot read the thresholds file", path.display()))?;
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: not CSV", path.display()))?;
        if rec.len() != 2 {
            bail!("{} line {}: want `label,threshold`, got {} field(s)", path.display(), i + 1, rec.len());
        }
        if i == 0 && &rec[0] == "label" {
            continue;
        }
        let c = labels.iter().position(|l| l == &rec[0]).with_context(|| {
            format!("{} line {}: `{}` is not a class of the model (classes: {})", path.display(), i + 1, &rec[0], labels.join(", "))
        })?;
        let v: f32 = rec[1].parse().ok().filter(|v: &f32| (0.0..=1.0).contains(v)).with_context(|| {
            format!("{} line {}: threshold `{}` must be a number from 0 to 1", path.display(), i + 1, &rec[1])
        })?;
        t[c] = v;
    }
    Ok(t)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees half a file (creating the folder if needed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the folder", dir.display()))?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}

/// Seconds given on the command line as samples at `rate`; the message names the flag.
fn seconds_to_samples(flag: &str, s: Option<f32>, rate: u32) -> Result<Option<usize>> {
    match s {
        Some(v) if !(v.is_finite() && v * rate as f32 >= 1.0) => {
            bail!("--{flag} {v}: give a positive number of seconds (at least one sample at {rate} Hz)")
        }
        Some(v) => Ok(Some((v as f64 * rate as f64).round() as usize)),
        None => Ok(None),
    }
}

/// Where a run's outputs go.
struct Plan {
    dir: Option<PathBuf>,
    /// `.shardIofN` in run-level file names when sharded (machines may share the folder).
    suffix: String,
}

impl Plan {
    fn run_file(&self, stem: &str, ext: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{stem}{}.{ext}", self.suffix)))
    }
    fn per_file(&self, rel: &Path, what: &str) -> Option<PathBuf> {
        let d = self.dir.as_ref()?;
        let mut name = rel.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{what}.txt"));
        Some(d.join(rel).with_file_name(name))
    }
}

/// One finished file in the journal: the settings key, its place in the tree and its report.
#[derive(serde::Serialize, serde::Deserialize)]
struct JournalEntry {
    key: String,
    rel: PathBuf,
    report: FileReport,
}

pub fn tag<D: Device>(dev: D, o: &TagOptions) -> Result<TagOutcome> {
    let started = Instant::now();
    let file = crate::io::load_model(&o.model)?;
    let model_bytes = crate::io::read_model_bytes(&o.model)?;
    let rate = file.cfg.sample_rate;
    let window = seconds_to_samples("window", o.window, rate)?;
    let hop = seconds_to_samples("hop", o.hop, rate)?;
    let (model, labels) = model_for_inference(dev, file, &o.model, o.batch, window)?;
    let thresholds = read_thresholds(o.thresholds.as_deref(), &labels, o.min_confidence)?;
    if !(0.0..=1.0).contains(&o.min_confidence) {
        bail!("--min-confidence {}: give a probability from 0 to 1", o.min_confidence);
    }
    let hop = hop.unwrap_or_else(|| ClipPolicy::default_hop(model.len));
    let policy = ClipPolicy::from_eval_crops(o.eval_crops, hop);
    let mut formats = o.formats.clone();
    formats.sort();
    formats.dedup();
    if formats.is_empty() {
        formats.push(Format::Csv);
    }
    if o.output_dir.is_none() {
        if formats.iter().any(|f| matches!(f, Format::Audacity | Format::Raven)) || formats.len() > 1 {
            bail!("--format {}: several outputs and the per-file formats (audacity, raven) need --output-dir DIR", names(&formats));
        }
        if o.resume {
            bail!("--resume needs --output-dir DIR (the journal of finished files lives there)");
        }
    }
    let plan = Plan {
        dir: o.output_dir.clone(),
        suffix: o.shard.map(|(i, n)| format!(".shard{i}of{n}")).unwrap_or_default(),
    };
    let model_name = crate::builtin::display(&o.model);
    let top_k = o.top_k.clamp(1, labels.len());
    if top_k < o.top_k {
        eprintln!("note: -k {} is more than the model's {} classes; each file gets all {top_k}", o.top_k, labels.len());
    }

    let (mut files, mut failed) = collect_inputs(&o.inputs);
    for (p, why) in &failed {
        eprintln!("error: {}: {why}", p.display());
    }
    let mut seen: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for f in &files {
        if let Some(other) = seen.insert(f.rel.clone(), f.path.clone()) {
            if plan.dir.is_some() {
                bail!(
                    "{} and {} both map to {} in the output folder: tag them in separate runs or give their parent folder",
                    other.display(),
                    f.path.display(),
                    f.rel.display()
                );
            }
        }
    }
    if let Some((i, n)) = o.shard {
        files.retain(|f| in_shard(&f.rel, i, n));
    }

    // The journal: one line per finished file, keyed by model and settings.
    let settings = json!({
        "window": model.len, "hop": hop, "eval_crops": o.eval_crops, "top_k": top_k,
        "thresholds": thresholds, "formats": formats, "shard": o.shard,
    });
    let key = format!("{:016x}-{:016x}", fnv(&String::from_utf8_lossy(&model_bytes)), fnv(&settings.to_string()));
    let journal_path = plan.run_file(".wavnet-tag-journal", "jsonl");
    let mut done: BTreeMap<PathBuf, FileReport> = BTreeMap::new();
    if let (true, Some(jp)) = (o.resume, &journal_path) {
        if let Ok(f) = std::fs::File::open(jp) {
            for line in std::io::BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                // A line cut short by a kill does not parse: that file is tagged again.
                if let Ok(e) = serde_json::from_str::<JournalEntry>(&line) {
                    if e.key == key {
                        done.insert(e.rel, e.report);
                    }
                }
            }
        }
        // A file is complete when its per-file outputs exist too.
        done.retain(|rel, _| {
            formats.iter().all(|f| match f {
                Format::Audacity => plan.per_file(rel, "labels").is_some_and(|p| p.exists()),
                Format::Raven => plan.per_file(rel, "selections").is_some_and(|p| p.exists()),
                _ => true,
            })
        });
    }
    let todo: Vec<&Input> = files.iter().filter(|f| !done.contains_key(&f.rel)).collect();
    let resumed = files.len() - todo.len();
    let mut journal = match &journal_path {
        Some(jp) => {
            std::fs::create_dir_all(jp.parent().expect("a folder")).with_context(|| format!("{}: cannot create", jp.display()))?;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(jp)
                .with_context(|| format!("{}: cannot write the journal", jp.display()))?;
            // Rewrite it with the entries kept (drops stale keys and a torn last line).
            f.set_len(0)?;
            for (rel, r) in &done {
                writeln!(f, "{}", serde_json::to_string(&JournalEntry { key: key.clone(), rel: rel.clone(), report: r.clone() })?)?;
            }
            f.sync_data()?;
            Some(f)
        }
        None => None,
    };

    // Streaming output (no --output-dir): the one format, to stdout or --output.
    let stream_format = formats[0];
    let mut stream: Option<Box<dyn Write>> = match (&plan.dir, &o.output) {
        (None, Some(p)) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create the output file", p.display()))?,
        ))),
        (None, None) => Some(Box::new(std::io::BufWriter::new(std::io::stdout()))),
        _ => None,
    };
    if let (Some(w), Format::Csv) = (&mut stream, stream_format) {
        w.write_all(report::csv_header(top_k).as_bytes())?;
    }

    let bar = progress_bar(todo.len());
    let paths: Vec<PathBuf> = todo.iter().map(|f| f.path.clone()).collect();
    let mut fresh: BTreeMap<PathBuf, FileReport> = BTreeMap::new();
    let mut audio_seconds = 0.0f64;
    let mut tagged = 0;
    let mut stopped = false;
    let infer_started = Instant::now();
    infer_files(&model, &paths, policy, |i, r| {
        let input = todo[i];
        bar.inc(1);
        match r {
            Ok(fs) => {
                let segs = segments(&fs.windows, &thresholds);
                let rep = FileReport::new(input.path.display().to_string(), model_name.clone(), &fs, &segs, &labels, top_k, rate);
                audio_seconds += rep.duration;
                bar.set_message(format!(
                    "{:.2} h audio, {:.0}x real time",
                    audio_seconds / 3600.0,
                    audio_seconds / infer_started.elapsed().as_secs_f64().max(1e-9)
                ));
                if let Some(w) = &mut stream {
                    match stream_format {
                        Format::Jsonl => w.write_all(report::jsonl_row(&rep).as_bytes())?,
                        _ => w.write_all(report::csv_row(&rep).as_bytes())?,
                    }
                }
                for f in &formats {
                    match f {
                        Format::Audacity => write_atomic(&plan.per_file(&input.rel, "labels").expect("a folder"), report::audacity(&rep).as_bytes())?,
                        Format::Raven => write_atomic(&plan.per_file(&input.rel, "selections").expect("a folder"), report::raven(&rep).as_bytes())?,
                        _ => {}
                    }
                }
                if let Some(j) = &mut journal {
                    writeln!(j, "{}", serde_json::to_string(&JournalEntry { key: key.clone(), rel: input.rel.clone(), report: rep.clone() })?)?;
                    j.sync_data()?;
                }
                if plan.dir.is_some() {
                    fresh.insert(input.rel.clone(), rep);
                }
                tagged += 1;
                if o.stop_after == Some(tagged) {
                    stopped = true;
                    bail!("stopped");
                }
            }
            Err(why) => {
                bar.suspend(|| eprintln!("error: {}: {why}", input.path.display()));
                failed.push((input.path.clone(), why));
            }
        }
        Ok(())
    })
    .or_else(|e| if stopped { Ok(()) } else { Err(e) })?;
    bar.finish_and_clear();
    if stopped {
        eprintln!("stopping after {tagged} file(s) (--stop-after), as if killed");
        return Ok(TagOutcome { tagged, resumed, failed });
    }
    if let Some(w) = &mut stream {
        w.flush()?;
    }

    // Run-level outputs, in file order, from this run and the journal.
    if plan.dir.is_some() {
        let all: Vec<&FileReport> = files.iter().filter_map(|f| fresh.get(&f.rel).or_else(|| done.get(&f.rel))).collect();
        let mut outputs = Vec::new();
        for f in &formats {
            let (path, text) = match f {
                Format::Csv => (
                    plan.run_file("tags", "csv"),
                    report::csv_header(top_k) + &all.iter().map(|r| report::csv_row(r)).collect::<String>(),
                ),
                Format::Jsonl => (plan.run_file("tags", "jsonl"), all.iter().map(|r| report::jsonl_row(r)).collect()),
                Format::Raven => (plan.run_file("selections", "txt"), report::raven_combined(all.iter().copied())),
                Format::Audacity => continue,
            };
            let path = path.expect("a folder");
            write_atomic(&path, text.as_bytes())?;
            outputs.push(path.display().to_string());
        }
        let failures_path = plan.run_file("failures", "csv").expect("a folder");
        let mut fw = csv::Writer::from_writer(Vec::new());
        fw.write_record(["file", "reason"])?;
        for (p, why) in &failed {
            fw.write_record([p.display().to_string(), why.clone()])?;
        }
        write_atomic(&failures_path, &fw.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
        let secs = started.elapsed().as_secs_f64();
        let record = json!({
            "model": model_name,
            "classes": labels,
            "parameters": settings,
            "sample_rate": rate,
            "device": model.dev.name(),
            "counts": { "files": files.len(), "tagged": tagged, "resumed": resumed, "failed": failed.len() },
            "tagged": fresh.keys().collect::<Vec<_>>(),
            "failures": failed.iter().map(|(p, why)| json!({ "file": p.display().to_string(), "reason": why })).collect::<Vec<_>>(),
            "timing": { "seconds": secs, "audio_seconds": audio_seconds, "realtime_factor": audio_seconds / secs.max(1e-9) },
            "outputs": outputs,
            "failures_file": failures_path.display().to_string(),
        });
        write_atomic(&plan.run_file("run", "json").expect("a folder"), (serde_json::to_string_pretty(&record)? + "\n").as_bytes())?;
    }
    Ok(TagOutcome { tagged, resumed, failed })
}

fn names(f: &[Format]) -> String {
    f.iter().map(|f| format!("{f:?}").to_lowercase()).collect::<Vec<_>>().join(",")
}

/// Files, audio hours and real-time factor on a terminal; nothing otherwise.
fn progress_bar(files: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(files as u64), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("tag [{bar:30}] {pos}/{len} files  {msg} ({eta})").expect("valid template").progress_chars("=> "),
    );
    bar
}

#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub model: PathBuf,
    pub data: PathBuf,
    pub dataset: DatasetOptions,
    /// The clips to score: the validation part of this selection (`All`: every clip).
    pub selection: Selection,
    pub batch: usize,
    pub json: bool,
    /// How a clip is scored: 0 = every window at half the crop, N = N evenly spaced crops.
    pub eval_crops: usize,
    /// Write an HTML report with SVG figures into this folder.
    pub report: Option<PathBuf>,
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
    // Rows with labels the model does not know come last in `skipped`: one line per label.
    let unknown: usize = ds.unknown_labels.values().sum();
    for p in &ds.skipped[..ds.skipped.len() - unknown] {
        eprintln!("skipping {p}");
    }
    if unknown > 0 {
        let per: Vec<String> = ds.unknown_labels.iter().map(|(l, n)| format!("'{l}' ({n})")).collect();
        eprintln!("skipping {unknown} clip(s) whose label is not one of the model's {}: {}", labels.len(), per.join(", "));
    }
    let rows: Vec<usize> = match &o.selection {
        Selection::All => (0..ds.items.len()).collect(),
        sel => ds.split(sel).map_err(|e| anyhow::anyhow!("{}: {e}", o.data.display()))?.1,
    };
    if o.selection == Selection::All {
        eprintln!(
            "scoring all {} clips of {} (no --fold, --split or --val-fraction: clips the model was trained on are included)",
            rows.len(),
            o.data.display()
        );
    } else {
        eprintln!("scoring the {} clips of {} in {}", rows.len(), o.data.display(), o.selection);
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
            loss: model.cfg.loss,
        },
    );
    let policy = ClipPolicy::from_eval_crops(o.eval_crops, ClipPolicy::default_hop(model.len));
    let (probs, ys) = predict(&model, &loader, &ds, &rows, policy);
    for p in loader.failures() {
        eprintln!("skipped {p}");
    }
    let scores = Scores::compute_sets(&probs, &ys, labels.len(), model.cfg.loss);
    if let Some(dir) = &o.report {
        let file = crate::io::load_model(&o.model)?;
        let history: Vec<crate::train::EpochLog> = serde_json::from_value(file.summary["history"].clone()).unwrap_or_default();
        let which = o.selection.to_string();
        let front = |n: &str| file.values.get(n).cloned().with_context(|| format!("{}: no `{n}` tensor", o.model.display()));
        let (mu, sigma) = (front("front.mu")?, front("front.sigma")?);
        let facts = vec![
            ("model".to_string(), crate::builtin::display(&o.model)),
            ("data".to_string(), format!("{} ({which})", o.data.display())),
            ("device".to_string(), model.dev.name()),
            ("model config".to_string(), format!("{} parameters, {} Hz, crop {} s, {} loss", model.cfg.parameter_count(), model.cfg.sample_rate, model.cfg.crop_seconds, model.cfg.loss)),
        ];
        let input = crate::html_report::ReportInput {
            title: format!("wavnet eval: {}", crate::builtin::display(&o.model)),
            facts,
            history: &history,
            labels: &labels,
            scores: Some((&scores, format!("{} ({which}, {} clips)", o.data.display(), scores.n))),
            cfg: &model.cfg,
            mu: &mu,
            sigma: &sigma,
        };
        crate::html_report::write_report(dir, &input).context("writing the report")?;
        eprintln!("report: {}", dir.join("report.html").display());
    }
    let text = if o.json {
        serde_json::to_string_pretty(&serde_json::json!({ "labels": labels, "scores": scores }))? + "\n"
    } else {
        scores.report(&labels)
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(scores)
}
