//! Dataset layouts: one folder per class, a CSV manifest, or FSDKaggle2018 as distributed.
//!
//! Rows or files that cannot be used (missing file, empty label, a label outside a fixed
//! label list, a symlink loop, …) are collected in [`Dataset::skipped`] as [`Problem`]s;
//! only a path that cannot be read at all, or a CSV without the required columns, is an
//! error ([`DataError`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::audio::is_audio_path;

/// One labelled clip.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub path: PathBuf,
    /// Index into [`Dataset::labels`]: the clip's (first) label.
    pub label: usize,
    /// Every label of the clip, `label` first (one for single-label sets; a manifest's
    /// `labels` column may list several, separated by `;`).
    pub labels: Vec<usize>,
    pub fold: Option<u32>,
    pub split: Option<String>,
    /// Loss weight: 1.0, or [`DatasetOptions::unverified_weight`] for unverified FSDKaggle labels.
    pub weight: f32,
}

/// A file or row that could not be used, and why. Displays as `path: reason`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl Problem {
    pub fn new(path: impl Into<PathBuf>, reason: impl Into<String>) -> Problem {
        Problem { path: path.into(), reason: reason.into() }
    }
}

/// How to read the dataset path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Layout {
    /// A folder with `train.csv` + `audio_train/` (or a scoring CSV + `audio_test/`) is
    /// FSDKaggle2018; a folder with `manifest.csv` is that manifest; any other folder is one
    /// sub-folder per class; a `.csv` file is a manifest (or FSDKaggle's CSVs, by name).
    #[default]
    Auto,
    Folders,
    Manifest,
    FsdKaggle,
}

/// Options for [`Dataset::open`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetOptions {
    pub layout: Layout,
    /// FSDKaggle2018: keep only `manually_verified == 1` training rows.
    pub verified_only: bool,
    /// FSDKaggle2018: weight of unverified training rows (1.0 = as verified ones).
    pub unverified_weight: f32,
    /// A fixed label list (e.g. from a model file), kept in its order; rows with other
    /// labels become [`Problem`]s. `None`: the sorted set of labels found.
    pub labels: Option<Vec<String>>,
}

impl Default for DatasetOptions {
    fn default() -> Self {
        DatasetOptions { layout: Layout::Auto, verified_only: false, unverified_weight: 1.0, labels: None }
    }
}

/// Why a dataset could not be opened at all.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: does not exist; pass a folder with one sub-folder per class, a CSV manifest (fname,label[,fold][,split]) or an FSDKaggle2018 folder", .0.display())]
    NotFound(PathBuf),
    #[error("{}: cannot read: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}: {reason}", .path.display())]
    BadCsv { path: PathBuf, reason: String },
    #[error("{}: missing column(s) {missing}; found [{found}]. A manifest needs a header row with at least `fname,label` (optional `fold`, `split`); FSDKaggle2018's train.csv has `fname,label,manually_verified`", .path.display())]
    MissingColumns { path: PathBuf, missing: String, found: String },
    #[error("{}: no usable clips ({count} problem(s){})", .path.display(), .first.as_ref().map(|p| format!("; first: {p}")).unwrap_or_default())]
    Empty { path: PathBuf, first: Option<Problem>, count: usize },
    #[error("{}: {reason}", .path.display())]
    Layout { path: PathBuf, reason: String },
}

/// Which items are for validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Selection {
    /// Everything trains; no validation.
    All,
    /// Validation = items with this fold; training = all others.
    ValFold(u32),
    /// Validation = items with this split; training = all others.
    ValSplit(String),
    /// Validation = a `fraction` of each class drawn at random (deterministic from `seed`);
    /// training = the rest. A class of n >= 2 clips gives round(fraction * n) clamped to
    /// 1..=n-1 of them; a class of one clip gives none.
    ValFraction { fraction: f64, seed: u64 },
}

impl fmt::Display for Selection {
    /// What the validation part is, in words: `fold 4`, `split 'test'`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selection::All => write!(f, "every clip"),
            Selection::ValFold(k) => write!(f, "fold {k}"),
            Selection::ValSplit(s) => write!(f, "split '{s}'"),
            Selection::ValFraction { fraction, seed } => write!(f, "a {fraction} fraction of each class (seed {seed})"),
        }
    }
}

/// Why a validation selection selects nothing. The messages name what exists.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SelectError {
    #[error("no clip is in fold {fold}; the folds are {}", join(.folds))]
    NoSuchFold { fold: u32, folds: Vec<String> },
    #[error("no clip has a fold (only a CSV manifest with a `fold` column has folds): hold out a fraction of each class instead (--val-fraction 0.2)")]
    NoFolds,
    #[error("no clip is in split '{split}'; the splits are {}", join(.splits))]
    NoSuchSplit { split: String, splits: Vec<String> },
    #[error("no clip has a split (only a CSV manifest with a `split` column, or FSDKaggle2018, has splits): hold out a fraction of each class instead (--val-fraction 0.2)")]
    NoSplits,
    #[error("holding out {fraction} of each class selects nothing: every class has fewer than 2 clips")]
    FractionEmpty { fraction: f64 },
}

fn join(v: &[String]) -> String {
    v.join(", ")
}

/// Labelled clips.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Class names: sorted, or [`DatasetOptions::labels`] as given.
    pub labels: Vec<String>,
    pub items: Vec<Item>,
    /// Rows/files rejected while reading the layout. Rows whose label is outside a fixed label
    /// list come last (their count per label is in `unknown_labels`).
    pub skipped: Vec<Problem>,
    /// With a fixed label list: rows per label that is not in it.
    pub unknown_labels: BTreeMap<String, usize>,
}

const FSD_TRAIN: &str = "train.csv";
const FSD_TEST: &str = "test_post_competition_scoring_clips.csv";

/// A row before labels are numbered.
struct Row {
    path: PathBuf,
    /// One or more labels, the first being the main one.
    labels: Vec<String>,
    fold: Option<u32>,
    split: Option<String>,
    weight: f32,
}

impl Dataset {
    /// Read a dataset; see [`Layout`] for what `path` may be.
    pub fn open(path: &Path, opts: &DatasetOptions) -> Result<Dataset, DataError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(DataError::NotFound(path.to_path_buf())),
            Err(e) => return Err(DataError::Unreadable { path: path.to_path_buf(), reason: e.to_string() }),
        };
        let layout = match opts.layout {
            Layout::Auto => detect(path, meta.is_dir()),
            l => l,
        };
        let mut skipped = Vec::new();
        let rows = match layout {
            Layout::Folders => {
                if !meta.is_dir() {
                    return Err(DataError::Layout {
                        path: path.to_path_buf(),
                        reason: "the folders layout needs a directory with one sub-folder per class".into(),
                    });
                }
                read_folders(path, &mut skipped)?
            }
            Layout::Manifest => {
                let csv = if meta.is_dir() { path.join("manifest.csv") } else { path.to_path_buf() };
                if !csv.is_file() {
                    return Err(DataError::Layout {
                        path: path.to_path_buf(),
                        reason: "no manifest: pass the CSV file itself, or a folder holding manifest.csv".into(),
                    });
                }
                read_manifest(&csv, &mut skipped)?
            }
            Layout::FsdKaggle => read_fsdkaggle(path, meta.is_dir(), opts, &mut skipped)?,
            Layout::Auto => unreachable!("detect() never returns Auto"),
        };
        Self::number(path, rows, skipped, opts)
    }

    fn number(root: &Path, rows: Vec<Row>, mut skipped: Vec<Problem>, opts: &DatasetOptions) -> Result<Dataset, DataError> {
        let labels: Vec<String> = match &opts.labels {
            Some(l) => l.clone(),
            None => rows.iter().flat_map(|r| r.labels.iter().cloned()).collect::<BTreeSet<_>>().into_iter().collect(),
        };
        let index: BTreeMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
        let mut items = Vec::with_capacity(rows.len());
        let mut unknown_labels = BTreeMap::new();
        for r in rows {
            match r.labels.iter().find(|l| !index.contains_key(l.as_str())) {
                None => {
                    let ids: Vec<usize> = r.labels.iter().map(|l| index[l.as_str()]).collect();
                    items.push(Item { path: r.path, label: ids[0], labels: ids, fold: r.fold, split: r.split, weight: r.weight })
                }
                Some(bad) => {
                    *unknown_labels.entry(bad.clone()).or_insert(0) += 1;
                    skipped.push(Problem::new(r.path, format!("label '{bad}' is not one of the model's {} labels", labels.len())))
                }
            }
        }
        if items.is_empty() {
            let n = skipped.len();
            return Err(DataError::Empty { path: root.to_path_buf(), first: skipped.into_iter().next(), count: n });
        }
        Ok(Dataset { labels, items, skipped, unknown_labels })
    }

    /// (training indices, validation indices) for `sel`, each in dataset order. The validation
    /// part may be empty; [`Dataset::split`] makes that an error.
    pub fn select(&self, sel: &Selection) -> (Vec<usize>, Vec<usize>) {
        let mut is_val = vec![false; self.items.len()];
        match sel {
            Selection::All => {}
            Selection::ValFold(k) => self.items.iter().zip(&mut is_val).for_each(|(it, v)| *v = it.fold == Some(*k)),
            Selection::ValSplit(s) => {
                self.items.iter().zip(&mut is_val).for_each(|(it, v)| *v = it.split.as_deref() == Some(s.as_str()))
            }
            Selection::ValFraction { fraction, seed } => {
                use rand::seq::SliceRandom;
                use rand::SeedableRng;
                let mut rng = rand::rngs::StdRng::seed_from_u64(*seed);
                let mut by_class = vec![Vec::new(); self.labels.len()];
                for (i, it) in self.items.iter().enumerate() {
                    by_class[it.label].push(i);
                }
                for mut idx in by_class {
                    let n = idx.len();
                    if n < 2 {
                        continue;
                    }
                    idx.shuffle(&mut rng);
                    let k = ((fraction * n as f64).round() as usize).clamp(1, n - 1);
                    idx[..k].iter().for_each(|&i| is_val[i] = true);
                }
            }
        }
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for (i, v) in is_val.into_iter().enumerate() {
            if v {
                val.push(i)
            } else {
                train.push(i)
            }
        }
        (train, val)
    }

    /// Like [`Dataset::select`], but a validation selection that selects nothing is an error
    /// naming the folds / splits that exist.
    pub fn split(&self, sel: &Selection) -> Result<(Vec<usize>, Vec<usize>), SelectError> {
        let (train, val) = self.select(sel);
        if !val.is_empty() || *sel == Selection::All {
            return Ok((train, val));
        }
        Err(match sel {
            Selection::All => unreachable!("handled above"),
            Selection::ValFold(fold) => {
                let folds: BTreeSet<u32> = self.items.iter().filter_map(|it| it.fold).collect();
                if folds.is_empty() {
                    SelectError::NoFolds
                } else {
                    SelectError::NoSuchFold { fold: *fold, folds: folds.iter().map(u32::to_string).collect() }
                }
            }
            Selection::ValSplit(split) => {
                let splits: BTreeSet<&str> = self.items.iter().filter_map(|it| it.split.as_deref()).collect();
                if splits.is_empty() {
                    SelectError::NoSplits
                } else {
                    SelectError::NoSuchSplit { split: split.clone(), splits: splits.iter().map(|s| format!("'{s}'")).collect() }
                }
            }
            Selection::ValFraction { fraction, .. } => SelectError::FractionEmpty { fraction: *fraction },
        })
    }

    /// Whether any clip has more than one label.
    pub fn is_multi_label(&self) -> bool {
        self.items.iter().any(|it| it.labels.len() > 1)
    }

    /// Number of items per label (main label only).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.labels.len()];
        for it in &self.items {
            c[it.label] += 1;
        }
        c
    }
}

fn detect(path: &Path, is_dir: bool) -> Layout {
    if is_dir {
        if (path.join(FSD_TRAIN).is_file() && path.join("audio_train").is_dir())
            || (path.join(FSD_TEST).is_file() && path.join("audio_test").is_dir())
        {
            Layout::FsdKaggle
        } else if path.join("manifest.csv").is_file() {
            Layout::Manifest
        } else {
            Layout::Folders
        }
    } else {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let dir = path.parent().unwrap_or(Path::new("."));
        if (name == FSD_TRAIN && dir.join("audio_train").is_dir()) || (name == FSD_TEST && dir.join("audio_test").is_dir()) {
            Layout::FsdKaggle
        } else {
            Layout::Manifest
        }
    }
}

fn read_folders(root: &Path, skipped: &mut Vec<Problem>) -> Result<Vec<Row>, DataError> {
    let mut classes: Vec<(String, PathBuf)> = Vec::new();
    let rd = std::fs::read_dir(root).map_err(|e| DataError::Unreadable { path: root.to_path_buf(), reason: e.to_string() })?;
    for e in rd {
        let e = e.map_err(|e| DataError::Unreadable { path: root.to_path_buf(), reason: e.to_string() })?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            classes.push((name, p));
        }
    }
    if classes.is_empty() {
        return Err(DataError::Layout {
            path: root.to_path_buf(),
            reason: "no class sub-folders: the folders layout needs one sub-folder per class holding its audio files (or pass a CSV manifest)".into(),
        });
    }
    classes.sort();
    let mut rows = Vec::new();
    for (label, dir) in classes {
        let mut files = Vec::new();
        let mut visited = HashSet::new();
        walk(&dir, &mut visited, &mut files, skipped);
        files.sort();
        if files.is_empty() {
            skipped.push(Problem::new(&dir, "class folder holds no audio files"));
        }
        for f in files {
            rows.push(Row { path: f, labels: vec![label.clone()], fold: None, split: None, weight: 1.0 });
        }
    }
    Ok(rows)
}

/// Recursive listing of audio files, following symlinks but never a directory twice.
fn walk(dir: &Path, visited: &mut HashSet<PathBuf>, files: &mut Vec<PathBuf>, skipped: &mut Vec<Problem>) {
    let canon = match std::fs::canonicalize(dir) {
        Ok(c) => c,
        Err(e) => {
            let reason = if e.raw_os_error() == Some(40) {
                "symlink loop (too many levels of symbolic links)".to_string()
            } else {
                format!("cannot read folder: {e}")
            };
            skipped.push(Problem::new(dir, reason));
            return;
        }
    };
    if !visited.insert(canon.clone()) {
        skipped.push(Problem::new(dir, format!("symlink loop: {} was already visited", canon.display())));
        return;
    }
    let rd = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) => {
            skipped.push(Problem::new(dir, format!("cannot read folder: {e}")));
            return;
        }
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => walk(&p, visited, files, skipped),
            Ok(_) => {
                if is_audio_path(&p) {
                    files.push(p)
                }
            }
            Err(e) => {
                let reason = if e.raw_os_error() == Some(40) {
                    "symlink loop (too many levels of symbolic links)".to_string()
                } else if std::fs::symlink_metadata(&p).is_ok() {
                    "broken symlink".to_string()
                } else {
                    format!("cannot read: {e}")
                };
                skipped.push(Problem::new(&p, reason));
            }
        }
    }
}

/// Header columns found in a CSV, looked up by name (case-insensitive, trimmed).
struct Columns {
    names: Vec<String>,
}

impl Columns {
    fn find(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.names.iter().position(|h| h == n))
    }
}

fn open_csv(path: &Path) -> Result<(csv::Reader<std::fs::File>, Columns), DataError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| DataError::Unreadable { path: path.to_path_buf(), reason: e.to_string() })?;
    let headers = rdr
        .headers()
        .map_err(|e| DataError::BadCsv { path: path.to_path_buf(), reason: format!("cannot read the header row: {e}") })?;
    let names = headers.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase()).collect();
    Ok((rdr, Columns { names }))
}

fn need(path: &Path, cols: &Columns, wanted: &[(&str, &[&str])]) -> Result<Vec<usize>, DataError> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (name, aliases) in wanted {
        match cols.find(aliases) {
            Some(i) => out.push(i),
            None => missing.push(format!("`{name}`")),
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(DataError::MissingColumns { path: path.to_path_buf(), missing: missing.join(", "), found: cols.names.join(",") })
    }
}

const FNAME: &[&str] = &["fname", "filename", "file", "path", "slice_file_name"];
const LABEL: &[&str] = &["label", "labels", "class", "category"];

fn read_manifest(csv_path: &Path, skipped: &mut Vec<Problem>) -> Result<Vec<Row>, DataError> {
    let (mut rdr, cols) = open_csv(csv_path)?;
    let idx = need(csv_path, &cols, &[("fname", FNAME), ("label", LABEL)])?;
    let (fi, li) = (idx[0], idx[1]);
    let fold_i = cols.find(&["fold"]);
    let split_i = cols.find(&["split"]);
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    for (n, rec) in rdr.records().enumerate() {
        let line = n + 2;
        let where_ = || PathBuf::from(format!("{}:{line}", csv_path.display()));
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                skipped.push(Problem::new(where_(), format!("unreadable row: {e}")));
                continue;
            }
        };
        let fname = rec.get(fi).unwrap_or("");
        let label = rec.get(li).unwrap_or("");
        if fname.is_empty() {
            skipped.push(Problem::new(where_(), "empty file name"));
            continue;
        }
        let path = base.join(fname);
        if label.is_empty() {
            skipped.push(Problem::new(&path, format!("empty label (manifest row {line})")));
            continue;
        }
        let fold = match fold_i.and_then(|i| rec.get(i)).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => match s.parse::<u32>() {
                Ok(f) => Some(f),
                Err(_) => {
                    skipped.push(Problem::new(&path, format!("fold '{s}' is not a whole number (manifest row {line})")));
                    continue;
                }
            },
        };
        let split = split_i.and_then(|i| rec.get(i)).filter(|s| !s.is_empty()).map(str::to_string);
        if !path.is_file() {
            skipped.push(Problem::new(&path, format!("file not found (manifest row {line})")));
            continue;
        }
        // Several labels separated by `;` (multi-label sets); duplicates are dropped.
        let mut labels: Vec<String> = Vec::new();
        for l in label.split(';').map(str::trim).filter(|l| !l.is_empty()) {
            if !labels.iter().any(|x| x == l) {
                labels.push(l.to_string());
            }
        }
        if labels.is_empty() {
            skipped.push(Problem::new(&path, format!("empty label (manifest row {line})")));
            continue;
        }
        rows.push(Row { path, labels, fold, split, weight: 1.0 });
    }
    Ok(rows)
}

/// FSDKaggle2018: `train.csv` (fname,label,manually_verified) beside `audio_train/`, and the
/// scoring CSV (fname,label,usage,freesound_id,license) beside `audio_test/`. Given a folder,
/// both CSVs that exist are read; given one of the CSVs, only that one. Training rows get split
/// `train`, scoring rows split `test`.
fn read_fsdkaggle(path: &Path, is_dir: bool, opts: &DatasetOptions, skipped: &mut Vec<Problem>) -> Result<Vec<Row>, DataError> {
    let (dir, files): (PathBuf, Vec<&str>) = if is_dir {
        let fs: Vec<&str> = [FSD_TRAIN, FSD_TEST].into_iter().filter(|f| path.join(f).is_file()).collect();
        if fs.is_empty() {
            return Err(DataError::Layout {
                path: path.to_path_buf(),
                reason: format!("not an FSDKaggle2018 folder: expected {FSD_TRAIN} beside audio_train/ and/or {FSD_TEST} beside audio_test/"),
            });
        }
        (path.to_path_buf(), fs)
    } else {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let f = if name == FSD_TEST { FSD_TEST } else { FSD_TRAIN };
        (path.parent().unwrap_or(Path::new(".")).to_path_buf(), vec![f])
    };
    let mut rows = Vec::new();
    for f in files {
        let csv_path = if is_dir { dir.join(f) } else { path.to_path_buf() };
        let (train, audio_dir, split) =
            if f == FSD_TRAIN { (true, dir.join("audio_train"), "train") } else { (false, dir.join("audio_test"), "test") };
        let (mut rdr, cols) = open_csv(&csv_path)?;
        let wanted: &[(&str, &[&str])] =
            if train { &[("fname", &["fname"]), ("label", &["label"]), ("manually_verified", &["manually_verified"])] } else { &[("fname", &["fname"]), ("label", &["label"])] };
        let idx = need(&csv_path, &cols, wanted)?;
        for (n, rec) in rdr.records().enumerate() {
            let line = n + 2;
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    skipped.push(Problem::new(format!("{}:{line}", csv_path.display()), format!("unreadable row: {e}")));
                    continue;
                }
            };
            let fname = rec.get(idx[0]).unwrap_or("");
            let label = rec.get(idx[1]).unwrap_or("");
            if fname.is_empty() {
                skipped.push(Problem::new(format!("{}:{line}", csv_path.display()), "empty file name"));
                continue;
            }
            let p = audio_dir.join(fname);
            // The scoring CSV lists unscored padding clips with label "None".
            if label.is_empty() || (!train && label == "None") {
                skipped.push(Problem::new(&p, format!("empty label ({} row {line})", f)));
                continue;
            }
            let mut weight = 1.0;
            if train {
                let v = rec.get(idx[2]).unwrap_or("").trim();
                let verified = matches!(v, "1" | "true" | "True" | "TRUE");
                if !verified {
                    if opts.verified_only {
                        continue;
                    }
                    weight = opts.unverified_weight;
                }
            }
            if !p.is_file() {
                skipped.push(Problem::new(&p, format!("file not found ({} row {line})", f)));
                continue;
            }
            rows.push(Row { path: p, labels: vec![label.to_string()], fold: None, split: Some(split.into()), weight });
        }
    }
    Ok(rows)
}
