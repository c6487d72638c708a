//! `wavnet train`: the training loop, written once against `Device`. AdamW with a linear
//! warm-up then cosine decay, per-epoch validation (loss, accuracy, MAP@3), best and last model
//! files, and `--resume` from the last completed epoch with nothing lost.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::backend::DeviceTask;
use crate::data::{AugmentConfig, ClipCutter, Dataset, DatasetOptions, Loader, LoaderConfig, PadMode, Problem, Selection};
use crate::device::{hash_u32, Device};
use crate::infer::{clip_windows, predict, ClipPolicy};
use crate::io::{load_model, save_model, ModelFile};
use crate::metrics::Scores;
use crate::model::{init_tensors, Config, Loss, Model, Transfer};
use crate::specaug::{filter_masks, FilterMaskConfig};

/// Everything `wavnet train` needs; the CLI fills it in.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The `--recipe` file the flags came from, and the command line as typed (both stored in
    /// the model's summary: what made the model).
    pub recipe: Option<PathBuf>,
    pub command: Option<String>,
    pub data: PathBuf,
    pub out: PathBuf,
    /// Overwrite the model files of an earlier run in `out` (else that is an error).
    pub force: bool,
    pub dataset: DatasetOptions,
    pub selection: Selection,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub weight_decay: f32,
    /// Fraction of all steps spent warming the learning rate up from 0.
    pub warmup: f32,
    /// Weight averaging: the final model is the mean of the values (parameters and running
    /// statistics) after each of the last `average_last` epochs; 0 = off.
    pub average_last: usize,
    pub seed: u64,
    pub sample_rate: u32,
    pub crop_seconds: f32,
    /// A JSON `Config` replacing the default architecture.
    pub config: Option<PathBuf>,
    /// Start from a trained model (transfer learning): every tensor but a head of another size.
    /// `default` is the built-in model.
    pub init: Option<PathBuf>,
    /// Frozen groups and the pretrained layers' learning-rate scale (needs `init`).
    pub transfer: Transfer,
    /// When to recompute the BatchNorm running statistics on the training clips.
    pub bn_reestimate: Option<BnReestimate>,
    pub dropout: Option<f32>,
    pub label_smoothing: f32,
    /// The loss (`None`: the config file's or the `--init` model's, else softmax).
    pub loss: Option<Loss>,
    pub augment: AugmentConfig,
    /// SpecAugment-style filter masking after the first BatchNorm (training steps only).
    pub filter_mask: Option<FilterMaskConfig>,
    pub balanced: bool,
    pub pad: PadMode,
    pub resume: bool,
    pub strict: bool,
    /// Read the loss back every this many steps.
    pub log_every: usize,
    pub cache_bytes: usize,
    pub disk_cache: Option<PathBuf>,
    pub quiet: bool,
    /// Stop after this many epochs, as if killed (for testing `--resume`).
    pub stop_after: Option<usize>,
    /// How validation scores a clip: 0 = every window over the whole clip at half the crop,
    /// N = N evenly spaced crops (see `crate::infer::ClipPolicy`).
    pub eval_crops: usize,
    /// Options given explicitly (clap argument ids such as `lr`, `sample_rate`); the others
    /// are defaults, which `--resume` replaces with the checkpoint's settings.
    pub given: BTreeSet<String>,
}

/// `--bn-reestimate`: when the BatchNorm running statistics are recomputed on the training
/// clips with the current weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BnReestimate {
    /// Once, before the first step (the pretrained weights on the new data).
    Start,
    /// Before every validation, so every saved model holds them.
    Eval,
    /// Both.
    Both,
}

impl BnReestimate {
    fn at_start(self) -> bool {
        matches!(self, BnReestimate::Start | BnReestimate::Both)
    }
    fn at_eval(self) -> bool {
        matches!(self, BnReestimate::Eval | BnReestimate::Both)
    }
}

/// Recomputes every BatchNorm layer's running statistics from the training clips `idx`, cut
/// into inference windows (`policy`; no augmentation), in full batches only (a partial batch's
/// zero rows would bias them). Returns the windows used; an error when there is no full batch.
fn reestimate_bn<D: Device>(model: &Model<D>, loader: &Loader, idx: &[usize], policy: ClipPolicy) -> Result<usize> {
    let (win, pad, b) = (loader.config().crop, loader.config().pad, model.batch);
    let cutter: ClipCutter = Arc::new(move |c: &[f32]| clip_windows(c, win, policy, pad).into_iter().map(|w| w.x).collect());
    let batches = model.reestimate_bn(loader.eval_windows(idx, cutter).filter(|x| x.rows == b).map(|x| x.x));
    if batches == 0 {
        bail!("--bn-reestimate: the training clips give fewer windows than one batch of {b}: lower --batch");
    }
    Ok(batches * b)
}

/// What one epoch measured.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub val_map3: Option<f64>,
    /// Validation macro mean average precision and lwlrap (absent in older model files).
    #[serde(default)]
    pub val_map: Option<f64>,
    #[serde(default)]
    pub val_lwlrap: Option<f64>,
    /// Top-1 accuracy on the sampled training batches (against each row's largest target; with
    /// augmentation and dropout on, so below what the model does in eval mode).
    #[serde(default)]
    pub train_accuracy: Option<f64>,
    pub seconds: f64,
    /// Seconds of audio trained on per second of wall time.
    pub audio_per_second: f64,
}

/// The learning rate at `step` (0-based) of `total`: linear warm-up over `warmup` steps, then
/// cosine decay to 0.
pub fn lr_at(step: usize, total: usize, warmup: usize, lr: f32) -> f32 {
    if step < warmup {
        return lr * (step + 1) as f32 / warmup as f32;
    }
    let span = total.saturating_sub(warmup).max(1);
    let p = ((step - warmup) as f32 / span as f32).min(1.0);
    0.5 * lr * (1.0 + (std::f32::consts::PI * p).cos())
}

/// `--average-last`: a running sum of tensor values over epochs (f32, so a checkpoint holds it
/// exactly and `--resume` continues bit for bit), and their mean.
#[derive(Default)]
pub struct WeightAverage {
    /// Tensor name -> sum of its values over the `n` epochs added.
    pub sum: BTreeMap<String, Vec<f32>>,
    pub n: usize,
}

impl WeightAverage {
    /// Adds one epoch's values (every tensor; the first call fixes the names and sizes).
    pub fn add(&mut self, values: &BTreeMap<String, Vec<f32>>) {
        for (name, v) in values {
            let s = self.sum.entry(name.clone()).or_insert_with(|| vec![0.0; v.len()]);
            s.iter_mut().zip(v).for_each(|(s, x)| *s += x);
        }
        self.n += 1;
    }

    /// The mean of the values added (empty before the first).
    pub fn mean(&self) -> BTreeMap<String, Vec<f32>> {
        let k = self.n.max(1) as f32;
        self.sum.iter().map(|(name, s)| (name.clone(), s.iter().map(|x| x / k).collect())).collect()
    }
}

/// Whether epoch `epoch` (0-based) of `epochs` is one of the last `last` that are averaged.
pub fn averaged_epoch(epoch: usize, epochs: usize, last: usize) -> bool {
    last > 0 && epoch + last >= epochs
}

/// The per-step dropout seed: a function of the run seed and the step only (bit-for-bit resume).
pub fn dropout_seed(seed: u64, step: u64) -> u32 {
    hash_u32(hash_u32(seed as u32 ^ (seed >> 32) as u32) ^ step as u32)
}

/// The per-step filter-mask seed: like `dropout_seed`, a function of the run seed and the step.
pub fn filter_mask_seed(seed: u64, step: u64) -> u32 {
    dropout_seed(seed, step) ^ 0x5bd1_e995
}

/// Runs `wavnet train` on a device.
pub struct TrainTask(pub TrainOptions);

impl DeviceTask for TrainTask {
    type Out = Result<()>;
    fn run<D: Device>(self, dev: D) -> Result<()> {
        train(dev, &self.0)
    }
}

fn say(quiet: bool, msg: impl AsRef<str>) {
    if !quiet {
        eprintln!("{}", msg.as_ref());
    }
}

/// Label list and config of the run: from a checkpoint (resume), a model to start from, a
/// config file, or the default model.
fn run_config(o: &TrainOptions, labels: &[String]) -> Result<Config> {
    let given = |id: &str| o.given.contains(id);
    let mut cfg = if let Some(p) = &o.config {
        let text = std::fs::read_to_string(p).with_context(|| format!("{}: cannot read the config", p.display()))?;
        let mut c: Config = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a model config (see `wavnet train --help` for the fields)", p.display()))?;
        c.classes = labels.len();
        if given("sample_rate") {
            c = c.with_rate(o.sample_rate);
        }
        if given("crop") {
            c.crop_seconds = o.crop_seconds;
        }
        c
    } else if let Some(p) = &o.init {
        let mut c = load_model(p)?.cfg;
        c.classes = labels.len();
        if given("sample_rate") && o.sample_rate != c.sample_rate {
            bail!(
                "--sample-rate {}: {} was trained at {} Hz and --init keeps its filterbank and rate: drop --sample-rate (or pass {})",
                o.sample_rate,
                p.display(),
                c.sample_rate,
                c.sample_rate
            );
        }
        if given("crop") {
            c.crop_seconds = o.crop_seconds;
        } else {
            say(o.quiet, format!("--init: training at {} Hz with the crop of {} ({} s; --crop changes it)", c.sample_rate, p.display(), c.crop_seconds));
        }
        c
    } else {
        let mut c = Config::wavnet_s(o.sample_rate, labels.len());
        c.crop_seconds = o.crop_seconds;
        c
    };
    if let Some(p) = o.dropout {
        cfg.dropout = p;
    }
    if let Some(l) = o.loss {
        cfg.loss = l;
    }
    cfg.validate().map_err(|e| anyhow::anyhow!("model config: {e}"))?;
    Ok(cfg)
}

/// Initial tensor values: fresh, or from `--init` (every tensor whose shape matches; the
/// classifier head is re-initialised when the class count differs).
/// Tensor values by name, and the names that were re-initialised.
type InitialValues = (BTreeMap<String, Vec<f32>>, Vec<String>);

fn initial_values(o: &TrainOptions, cfg: &Config) -> Result<InitialValues> {
    let mut values = init_tensors(cfg, o.seed);
    let mut notes = Vec::new();
    if let Some(p) = &o.init {
        let f = load_model(p)?;
        for (name, v) in values.iter_mut() {
            match f.values.get(name) {
                Some(src) if src.len() == v.len() => v.copy_from_slice(src),
                _ => notes.push(name.clone()),
            }
        }
    }
    Ok((values, notes))
}

pub fn train<D: Device>(dev: D, o: &TrainOptions) -> Result<()> {
    let started = Instant::now();
    if let Some(fm) = &o.filter_mask {
        fm.validate().map_err(|e| anyhow::anyhow!("--filter-mask: {e}"))?;
    }
    let ckpt_path = o.out.join("last.safetensors");
    let best_path = o.out.join("best.safetensors");
    if !o.resume && !o.force {
        if let Some(p) = [&best_path, &ckpt_path].into_iter().find(|p| p.exists()) {
            bail!(
                "{}: holds an earlier run ({} exists): pass --resume to continue it, --force to overwrite it, or another --out",
                o.out.display(),
                p.display()
            );
        }
    }
    let resume = if o.resume {
        if !ckpt_path.exists() {
            bail!("{}: no checkpoint to resume from (run without --resume to start)", ckpt_path.display());
        }
        Some(load_model(&ckpt_path)?)
    } else {
        None
    };
    let settled;
    let o = match &resume {
        Some(r) => {
            settled = settle_resume(o, r, &ckpt_path)?;
            &settled
        }
        None => o,
    };
    if o.average_last > o.epochs {
        bail!("--average-last {} is more than --epochs {}: average at most every epoch", o.average_last, o.epochs);
    }

    let mut dopts = o.dataset.clone();
    if let Some(r) = &resume {
        dopts.labels = Some(r.labels.clone());
    }
    let ds = Dataset::open(&o.data, &dopts).with_context(|| format!("{}: cannot read the dataset", o.data.display()))?;
    if ds.labels.len() < 2 {
        bail!("{}: found {} class(es); training needs at least 2", o.data.display(), ds.labels.len());
    }
    for p in &ds.skipped {
        say(o.quiet, format!("skipping {p}"));
    }
    let (train_idx, val_idx) =
        ds.split(&o.selection).map_err(|e| anyhow::anyhow!("{}: {}: {e}", o.data.display(), selection_flag(&o.selection)))?;
    if train_idx.is_empty() {
        bail!(
            "{}: {} leaves no training clips: every clip is in {}; pick another",
            o.data.display(),
            selection_flag(&o.selection),
            o.selection
        );
    }
    if train_idx.len() < o.batch {
        bail!("{} training clips is fewer than one batch of {}: lower --batch", train_idx.len(), o.batch);
    }
    if o.selection == Selection::All {
        say(
            o.quiet,
            "no validation set: best.safetensors will be the last epoch (hold clips out with --val-fraction, --val-fold or --val-split to select on validation)",
        );
    }
    let labels = ds.labels.clone();
    let cfg = match &resume {
        Some(r) => r.cfg.clone(),
        None => run_config(o, &labels)?,
    };
    let crop = cfg.crop();
    const MAX_BATCH_SAMPLES: usize = 1 << 27;
    if o.batch * crop > MAX_BATCH_SAMPLES {
        bail!(
            "--batch {} x crop {} s at {} Hz is {} samples per step, more than {MAX_BATCH_SAMPLES}: lower --batch or --crop",
            o.batch,
            cfg.crop_seconds,
            cfg.sample_rate,
            o.batch * crop
        );
    }
    let policy = ClipPolicy::from_eval_crops(o.eval_crops, ClipPolicy::default_hop(crop));
    let (values, reinit) = match &resume {
        Some(r) => (r.values.clone(), vec![]),
        None => initial_values(o, &cfg)?,
    };
    if o.init.is_some() && !reinit.is_empty() {
        say(o.quiet, format!("transfer: re-initialised {} (shapes differ)", reinit.join(", ")));
    }
    let mut model = Model::new(dev, cfg.clone(), &values, o.batch, crop).map_err(anyhow::Error::msg)?;
    if !o.transfer.is_plain() && o.init.is_none() && resume.is_none() {
        bail!("--freeze, --linear-probe and --pretrained-lr-scale act on pretrained layers: add --init default (the built-in model) or --init FILE");
    }
    model.transfer = o.transfer.clone();
    let mut history: Vec<EpochLog> = Vec::new();
    let mut start_epoch = 0;
    let mut best: Option<(f64, f64)> = None;
    // The validation scores and epoch of the best model (for the report).
    let mut best_scores: Option<(Scores, usize)> = None;
    // `--average-last`: the sum of the values after each averaged epoch so far.
    let mut average = WeightAverage::default();
    if let Some(r) = &resume {
        let st = r.train_state.clone().context("the checkpoint has no training state")?;
        model.set_moments(&r.moments, st["step"].as_u64().unwrap_or(0)).map_err(anyhow::Error::msg)?;
        start_epoch = st["epochs_done"].as_u64().unwrap_or(0) as usize;
        history = serde_json::from_value(st["history"].clone()).unwrap_or_default();
        best = st["best"].as_array().map(|a| (a[0].as_f64().unwrap_or(0.0), a[1].as_f64().unwrap_or(0.0)));
        best_scores = serde_json::from_value(st["best_scores"].clone()).ok();
        average = WeightAverage { sum: r.average_sum.clone(), n: st["averaged"].as_u64().unwrap_or(0) as usize };
        say(o.quiet, format!("resuming after epoch {start_epoch} (step {})", model.step));
    }

    let ds = Arc::new(ds);
    let loader = Loader::new(
        ds.clone(),
        LoaderConfig {
            sample_rate: cfg.sample_rate,
            crop,
            batch: o.batch,
            seed: o.seed,
            augment: o.augment.clone(),
            balanced: o.balanced,
            pad: o.pad,
            threads: None,
            cache_bytes: o.cache_bytes,
            disk_cache: o.disk_cache.clone(),
            loss: cfg.loss,
        },
    );
    if o.strict {
        let mut all = train_idx.clone();
        all.extend(&val_idx);
        let problems = loader.preload(&all);
        if !ds.skipped.is_empty() || !problems.is_empty() {
            let list: Vec<String> = ds.skipped.iter().chain(&problems).map(|p| format!("  {p}")).collect();
            bail!("--strict: {} unusable file(s), nothing trained:\n{}", list.len(), list.join("\n"));
        }
    }
    std::fs::create_dir_all(&o.out).with_context(|| format!("{}: cannot create the output folder", o.out.display()))?;

    say(
        o.quiet,
        format!(
            "training {} parameters on {}: {} train / {} validation clips, {} classes ({} loss), {} Hz, crop {} s, batch {}",
            cfg.parameter_count(),
            model.dev.name(),
            train_idx.len(),
            val_idx.len(),
            labels.len(),
            cfg.loss,
            cfg.sample_rate,
            cfg.crop_seconds,
            o.batch
        ),
    );
    if !o.transfer.is_plain() {
        let t = &o.transfer;
        let state = |frozen: bool| if frozen { "frozen".to_string() } else { format!("lr x {}", t.pretrained_lr_scale) };
        say(o.quiet, format!("transfer: front end {}, body {}, head lr x 1", state(t.freeze_front), state(t.freeze_body)));
    }
    if let Some(when) = o.bn_reestimate.filter(|w| w.at_start() && start_epoch == 0) {
        let n = reestimate_bn(&model, &loader, &train_idx, policy)?;
        let when = if when == BnReestimate::Both { "both" } else { "start" };
        say(o.quiet, format!("--bn-reestimate {when}: BatchNorm running statistics recomputed on {n} windows of the training clips"));
    }
    let multi_label = ds.is_multi_label();
    if multi_label && cfg.loss == Loss::Softmax {
        say(o.quiet, "the set has clips with several labels: softmax shares each clip's target among them (--loss sigmoid scores each label on its own)");
    }
    let steps_per_epoch = train_idx.len() / o.batch;
    let total = steps_per_epoch * o.epochs;
    let warmup = ((o.warmup * total as f32).round() as usize).max(1);
    let summary_base = json!({
        "data": o.data.display().to_string(),
        "recipe": o.recipe.as_ref().map(|p| p.display().to_string()),
        "command": o.command,
        "train_clips": train_idx.len(),
        "val_clips": val_idx.len(),
        "batch": o.batch,
        "lr": o.lr,
        "weight_decay": o.weight_decay,
        "warmup": o.warmup,
        "average_last": o.average_last,
        "epochs": o.epochs,
        "seed": o.seed,
        "selection": o.selection,
        "label_smoothing": o.label_smoothing,
        "augment": o.augment,
        "balanced": o.balanced,
        "filter_mask": o.filter_mask,
        "eval_crops": o.eval_crops,
        "loss": cfg.loss,
        "device": model.dev.name(),
        "init": o.init.as_ref().map(|p| crate::builtin::display(p)),
        "transfer": o.transfer,
        "bn_reestimate": o.bn_reestimate,
    });

    for epoch in start_epoch..o.epochs {
        let t0 = Instant::now();
        let bar = progress_bar(o.quiet, steps_per_epoch, epoch, o.epochs);
        let (mut loss_sum, mut loss_n, mut clips) = (0.0f64, 0usize, 0usize);
        let (mut train_hits, mut train_seen) = (0usize, 0usize);
        for batch in loader.train_epoch(&train_idx, epoch) {
            let step = model.step as usize;
            let lr = lr_at(step, total, warmup, o.lr);
            let y = smooth(&batch.y, labels.len(), o.label_smoothing, cfg.loss);
            if let Some(fm) = &o.filter_mask {
                let seed = filter_mask_seed(o.seed, model.step);
                model.set_filter_mask(Some(filter_masks(o.batch, cfg.filters, seed, fm)));
            }
            model.forward(&batch.x, true, dropout_seed(o.seed, model.step));
            model.backward(&y);
            model.adamw_step(lr, o.weight_decay);
            clips += batch.rows;
            if (step + 1).is_multiple_of(o.log_every.max(1)) {
                let l = model.loss(batch.rows) as f64;
                let (hits, n) = top1_hits(&model.logits(), &y, labels.len(), batch.rows);
                (train_hits, train_seen) = (train_hits + hits, train_seen + n);
                if !l.is_finite() {
                    bail!("the loss became {l} at step {}: lower --lr (now {})", step + 1, o.lr);
                }
                loss_sum += l;
                loss_n += 1;
                let rate = clips as f64 * cfg.crop_seconds as f64 / t0.elapsed().as_secs_f64();
                bar.set_message(format!("loss {:.4}  lr {:.2e}  {:.0} s audio/s", loss_sum / loss_n as f64, lr, rate));
            }
            bar.inc(1);
        }
        model.dev.sync();
        bar.finish_and_clear();
        let averaged_now = averaged_epoch(epoch, o.epochs, o.average_last);
        // The last epoch of an averaging run: the model becomes the mean from here on.
        let average_done = averaged_now && epoch + 1 == o.epochs;
        if averaged_now {
            average.add(&model.values());
            if average_done {
                model.set_values(&average.mean()).map_err(anyhow::Error::msg)?;
            }
        }
        if loss_n == 0 {
            loss_sum = model.loss(o.batch) as f64;
            loss_n = 1;
        }
        let secs = t0.elapsed().as_secs_f64();
        let mut log = EpochLog {
            epoch: epoch + 1,
            train_loss: loss_sum / loss_n as f64,
            val_loss: None,
            val_accuracy: None,
            val_map3: None,
            val_map: None,
            val_lwlrap: None,
            train_accuracy: (train_seen > 0).then(|| train_hits as f64 / train_seen as f64),
            seconds: secs,
            audio_per_second: clips as f64 * cfg.crop_seconds as f64 / secs,
        };
        let mut line = format!(
            "epoch {:>3}/{}  train loss {:.4}  {:.1} s  {:.0} s audio/s",
            epoch + 1,
            o.epochs,
            log.train_loss,
            secs,
            log.audio_per_second
        );
        if average_done {
            line += &format!("  (weights averaged over the last {} epochs)", average.n);
        }
        if o.bn_reestimate.is_some_and(|w| w.at_eval()) {
            reestimate_bn(&model, &loader, &train_idx, policy)?;
        }
        let mut epoch_scores = None;
        let metric = if !val_idx.is_empty() {
            let (probs, ys) = predict(&model, &loader, &ds, &val_idx, policy);
            let s = Scores::compute_sets(&probs, &ys, labels.len(), cfg.loss);
            line += &format!("  val loss {:.4}  acc {:.2} %  MAP@3 {:.4}", s.loss, 100.0 * s.accuracy, s.map3);
            if multi_label {
                line += &format!("  mAP {:.4}  lwlrap {:.4}", s.mean_ap, s.lwlrap);
            }
            log.val_loss = Some(s.loss);
            log.val_accuracy = Some(s.accuracy);
            log.val_map3 = Some(s.map3);
            log.val_map = Some(s.mean_ap);
            log.val_lwlrap = Some(s.lwlrap);
            let m = (s.accuracy, s.map3);
            epoch_scores = Some(s);
            m
        } else {
            // Without validation there is nothing to select on (a few sampled batch losses are
            // noise): the best model is the latest.
            (0.0, (epoch + 1) as f64)
        };
        say(o.quiet, &line);
        history.push(log);
        let is_best = best.is_none_or(|b| metric > b);
        if is_best {
            best = Some(metric);
            if let Some(s) = epoch_scores {
                best_scores = Some((s, epoch + 1));
            }
        }
        let summary = {
            let mut s = summary_base.clone();
            s["epochs_done"] = json!(epoch + 1);
            s["history"] = json!(history);
            s["seconds"] = json!(started.elapsed().as_secs_f64());
            s
        };
        if is_best {
            let mut s = summary.clone();
            s["best_epoch"] = json!(epoch + 1);
            save_model(&best_path, &model, &labels, &s, None, &BTreeMap::new())?;
        }
        let state = json!({
            "epochs_done": epoch + 1,
            "history": history,
            "best": best.map(|b| [b.0, b.1]),
            "best_scores": best_scores,
            "averaged": average.n,
        });
        save_model(&ckpt_path, &model, &labels, &summary, Some(&state), &average.sum)?;
        if o.stop_after == Some(epoch + 1) {
            say(o.quiet, format!("stopping after epoch {} (--stop-after)", epoch + 1));
            return Ok(());
        }
    }

    let failures: Vec<Problem> = loader.failures();
    if !failures.is_empty() || !ds.skipped.is_empty() {
        eprintln!("skipped {} file(s) that could not be used:", failures.len() + ds.skipped.len());
        for p in ds.skipped.iter().chain(&failures) {
            eprintln!("  {p}");
        }
    }
    let best_file = load_model(&best_path)?;
    let best_epoch = best_file.summary["best_epoch"].as_u64().unwrap_or(0);
    let front = |n: &str| best_file.values.get(n).cloned().with_context(|| format!("{}: no `{n}` tensor", best_path.display()));
    let (mu, sigma) = (front("front.mu")?, front("front.sigma")?);
    let facts: Vec<(String, String)> = vec![
        ("data".into(), o.data.display().to_string()),
        ("clips".into(), format!("{} training, {} validation, {} classes", train_idx.len(), val_idx.len(), labels.len())),
        ("device".into(), model.dev.name()),
        ("model".into(), format!("{} parameters, {} Hz, crop {} s, {} loss", cfg.parameter_count(), cfg.sample_rate, cfg.crop_seconds, cfg.loss)),
        ("training".into(), {
            let avg = if o.average_last > 0 { format!(", weights averaged over the last {} epochs", o.average_last) } else { String::new() };
            format!("{} epochs, batch {}, lr {}, weight decay {}, seed {}{avg}", o.epochs, o.batch, o.lr, o.weight_decay, o.seed)
        }),
        ("best model".into(), format!("{} (epoch {best_epoch})", best_path.display())),
        ("wall time".into(), format!("{:.1} s", started.elapsed().as_secs_f64())),
    ];
    let report = crate::html_report::ReportInput {
        title: format!("wavnet train: {}", o.out.display()),
        facts,
        history: &history,
        labels: &labels,
        scores: best_scores.as_ref().map(|(s, e)| (s, format!("the validation set ({} clips) at the best epoch, {e}", s.n))),
        cfg: &best_file.cfg,
        mu: &mu,
        sigma: &sigma,
    };
    crate::html_report::write_report(&o.out, &report).context("writing the report")?;
    say(o.quiet, format!("report: {}", o.out.join("report.html").display()));
    let c = loader.cache_stats();
    say(
        o.quiet,
        format!(
            "decoded-audio cache: {} clips, {:.1} MB in memory; {} hits, {} decoded, {} read from the disk cache",
            c.clips,
            c.bytes as f64 / 1e6,
            c.hits,
            c.misses,
            c.disk_hits
        ),
    );
    say(o.quiet, final_summary(&history, started.elapsed().as_secs_f64(), &best_path, &ckpt_path));
    Ok(())
}

/// The flag that chose a validation selection, with its value.
fn selection_flag(sel: &Selection) -> String {
    match sel {
        Selection::All => "no validation option".into(),
        Selection::ValFold(k) => format!("--val-fold {k}"),
        Selection::ValSplit(s) => format!("--val-split {s}"),
        Selection::ValFraction { fraction, .. } => format!("--val-fraction {fraction}"),
    }
}

/// The epoch `best.safetensors` holds: the best validation accuracy, ties by MAP@3, earliest
/// first (as the loop selects it); without validation the last epoch.
pub fn best_epoch(history: &[EpochLog]) -> Option<&EpochLog> {
    let key = |l: &EpochLog| (l.val_accuracy.unwrap_or(0.0), l.val_map3.unwrap_or(l.epoch as f64));
    history.iter().fold(None, |best: Option<&EpochLog>, l| match best {
        Some(b) if key(l) <= key(b) => Some(b),
        _ => Some(l),
    })
}

/// The last line of `wavnet train`: the best epoch, its scores, and where the files are.
fn final_summary(history: &[EpochLog], seconds: f64, best_path: &Path, ckpt_path: &Path) -> String {
    let last = history.last().map_or(0, |l| l.epoch);
    match best_epoch(history) {
        Some(b) if b.val_accuracy.is_some() => format!(
            "done in {seconds:.1} s: best epoch {} of {last} (val acc {:.2} %, MAP@3 {:.4}, val loss {:.4}) in {}; epoch {last} with the optimizer state (for --resume) in {}",
            b.epoch,
            100.0 * b.val_accuracy.unwrap_or(0.0),
            b.val_map3.unwrap_or(0.0),
            b.val_loss.unwrap_or(0.0),
            best_path.display(),
            ckpt_path.display()
        ),
        _ => format!(
            "done in {seconds:.1} s: no validation set, so {} is the last epoch ({last}); with the optimizer state (for --resume) in {}",
            best_path.display(),
            ckpt_path.display()
        ),
    }
}

/// `--resume`: the checkpoint's settings replace every option not given again; one given again
/// with another value is used, with a one-line warning. Options that fix the architecture
/// (`--sample-rate`, `--crop`, `--dropout`) must match the checkpoint.
fn settle_resume(o: &TrainOptions, ckpt: &ModelFile, path: &Path) -> Result<TrainOptions> {
    let mut o = o.clone();
    let given_ids = o.given.clone();
    let given = |id: &str| given_ids.contains(id);
    let cfg = &ckpt.cfg;
    let fixed = |flag: &str, asked: String, has: String| {
        anyhow::anyhow!(
            "{flag} {asked}: the checkpoint {} has {has} and --resume keeps it: drop {flag}, or start a new run (another --out, or --force)",
            path.display()
        )
    };
    if given("sample_rate") && o.sample_rate != cfg.sample_rate {
        return Err(fixed("--sample-rate", o.sample_rate.to_string(), format!("{} Hz", cfg.sample_rate)));
    }
    if given("crop") && o.crop_seconds != cfg.crop_seconds {
        return Err(fixed("--crop", o.crop_seconds.to_string(), format!("a {} s crop", cfg.crop_seconds)));
    }
    if let Some(d) = o.dropout.filter(|d| *d != cfg.dropout) {
        return Err(fixed("--dropout", d.to_string(), format!("dropout {}", cfg.dropout)));
    }
    let stored = &ckpt.summary;
    let mut changed = Vec::new();
    let given_sel = ["val_fold", "val_split", "val_fraction"].iter().any(|id| given(id));
    settle(&mut o.lr, "lr", given("lr"), stored, &mut changed);
    settle(&mut o.batch, "batch", given("batch"), stored, &mut changed);
    settle(&mut o.weight_decay, "weight_decay", given("weight_decay"), stored, &mut changed);
    settle(&mut o.warmup, "warmup", given("warmup"), stored, &mut changed);
    settle(&mut o.epochs, "epochs", given("epochs"), stored, &mut changed);
    settle(&mut o.average_last, "average_last", given("average_last"), stored, &mut changed);
    settle(&mut o.seed, "seed", given("seed"), stored, &mut changed);
    settle(&mut o.label_smoothing, "label_smoothing", given("label_smoothing"), stored, &mut changed);
    settle(&mut o.augment, "augment", given("augment"), stored, &mut changed);
    settle(&mut o.balanced, "balanced", given("balanced"), stored, &mut changed);
    settle(&mut o.filter_mask, "filter_mask", given("filter_mask"), stored, &mut changed);
    settle(&mut o.eval_crops, "eval_crops", given("eval_crops"), stored, &mut changed);
    settle(&mut o.selection, "selection", given_sel, stored, &mut changed);
    settle(&mut o.transfer, "transfer", false, stored, &mut changed);
    settle(&mut o.bn_reestimate, "bn_reestimate", given("bn_reestimate"), stored, &mut changed);
    if !changed.is_empty() {
        say(
            o.quiet,
            format!("warning: --resume uses these as given, not the checkpoint's (the run will differ from an uninterrupted one): {}", changed.join(", ")),
        );
    }
    Ok(o)
}

/// One setting on `--resume`: the checkpoint's value (`key` of its summary) unless `given`;
/// a given value that differs is kept and noted in `changed`. Checkpoints from before a key
/// was stored keep the option as it is.
fn settle<T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug>(
    mine: &mut T, key: &str, given: bool, stored: &serde_json::Value, changed: &mut Vec<String>,
) {
    let Some(v) = stored.get(key) else { return };
    let Ok(theirs) = serde_json::from_value::<T>(v.clone()) else { return };
    if !given {
        *mine = theirs;
        return;
    }
    let ours = serde_json::to_value(&*mine).unwrap_or_default();
    if ours != *v {
        // Numbers as Rust prints them (0.002, not the f64 widening of an f32); the rest as JSON.
        let show = |j: &serde_json::Value, t: &T| if j.is_number() { format!("{t:?}") } else { j.to_string() };
        let flag = if key == "selection" { "the validation selection".to_string() } else { format!("--{}", key.replace('_', "-")) };
        changed.push(format!("{flag} {} (checkpoint: {})", show(&ours, mine), show(v, &theirs)));
    }
}

/// Label smoothing. Softmax: each row becomes (1 - a) y + a * sum(y) / K (the row sum, its
/// weight, is kept). Sigmoid: each target moves towards 1/2, (1 - a) y + a / 2.
fn smooth(y: &[f32], k: usize, a: f32, loss: Loss) -> Vec<f32> {
    if a == 0.0 {
        return y.to_vec();
    }
    let mut out = y.to_vec();
    for row in out.chunks_mut(k) {
        let s: f32 = row.iter().sum();
        match loss {
            Loss::Softmax => row.iter_mut().for_each(|v| *v = (1.0 - a) * *v + a * s / k as f32),
            Loss::Sigmoid => row.iter_mut().for_each(|v| *v = (1.0 - a) * *v + a / 2.0),
        }
    }
    out
}

/// (rows whose largest logit is at one of their largest targets, rows) over the first `rows`
/// rows of (B, K) `logits` and `targets`.
fn top1_hits(logits: &[f32], targets: &[f32], k: usize, rows: usize) -> (usize, usize) {
    let hits = logits
        .chunks(k)
        .zip(targets.chunks(k))
        .take(rows)
        .filter(|(z, y)| {
            let top = y.iter().cloned().fold(0.0f32, f32::max);
            top > 0.0 && y[crate::metrics::ranked(z)[0]] == top
        })
        .count();
    (hits, rows)
}

fn progress_bar(quiet: bool, steps: usize, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let (total, warm) = (100, 5);
        assert!((lr_at(0, total, warm, 1.0) - 0.2).abs() < 1e-6);
        assert!((lr_at(4, total, warm, 1.0) - 1.0).abs() < 1e-6);
        assert!((lr_at(5, total, warm, 1.0) - 1.0).abs() < 1e-6);
        assert!(lr_at(52, total, warm, 1.0) < 0.55 && lr_at(52, total, warm, 1.0) > 0.45);
        assert!(lr_at(99, total, warm, 1.0) < 1e-3);
    }

    #[test]
    fn weight_average_is_the_mean_of_the_values_added() {
        let mut a = WeightAverage::default();
        let v = |x: f32, y: f32| BTreeMap::from([("w".to_string(), vec![x, y]), ("b".to_string(), vec![x * 10.0])]);
        a.add(&v(1.0, 2.0));
        a.add(&v(2.0, -4.0));
        a.add(&v(6.0, 5.0));
        let m = a.mean();
        assert_eq!(a.n, 3);
        assert_eq!(m["w"], vec![3.0, 1.0]);
        assert_eq!(m["b"], vec![30.0]);
    }

    #[test]
    fn the_last_n_epochs_are_averaged() {
        let picked: Vec<usize> = (0..10).filter(|&e| averaged_epoch(e, 10, 3)).collect();
        assert_eq!(picked, vec![7, 8, 9]);
        assert!((0..10).all(|e| !averaged_epoch(e, 10, 0)));
        assert_eq!((0..4).filter(|&e| averaged_epoch(e, 4, 4)).count(), 4);
    }

    #[test]
    fn smoothing_keeps_the_row_sum() {
        let y = smooth(&[1.0, 0.0, 0.0, 0.0, 0.5, 0.0], 3, 0.3, Loss::Softmax);
        assert!((y[0] - 0.8).abs() < 1e-6 && (y[1] - 0.1).abs() < 1e-6);
        assert!((y[3..].iter().sum::<f32>() - 0.5).abs() < 1e-6);
        let y = smooth(&[1.0, 0.0, 1.0], 3, 0.2, Loss::Sigmoid);
        assert!((y[0] - 0.9).abs() < 1e-6 && (y[1] - 0.1).abs() < 1e-6 && (y[2] - 0.9).abs() < 1e-6);
    }
}
