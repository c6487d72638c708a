//! The command line: `wavnet train | tag | eval | info | bench`. Doc comments are `--help`.
use std::path::PathBuf;

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::backend::{AnyDevice, DeviceKind};
use crate::data::{AugmentConfig, DatasetOptions, Layout, PadMode, Selection};
use crate::specaug::FilterMaskConfig;

/// Audio tagging from the raw waveform: a learnable Gabor filterbank and a 1-D CNN, trained
/// with hand-written WGSL compute shaders (any GPU through wgpu) or plain Rust on the CPU.
#[derive(Parser, Debug)]
#[command(name = "wavnet", version, about, long_about = None, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
    /// Worker threads for the cpu device and the loader (default: all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Cmd {
    /// Train a model on a labelled set of recordings.
    ///
    /// DATA is a folder with one sub-folder per class, a CSV manifest `fname,label[,fold][,split]`
    /// (fname relative to the CSV), or FSDKaggle2018 as distributed. Writes OUT/best.safetensors
    /// (best validation accuracy; the latest epoch when there is no validation set) and OUT/last.safetensors (a checkpoint with the optimizer
    /// state, for --resume).
    Train(TrainArgs),
    /// Tag recordings: labels over time (segments), per-window scores and the top-k labels
    /// of each file, as CSV, JSON lines, Audacity label tracks or Raven selection tables.
    ///
    /// Folders are searched recursively for audio files. Each file is cut into windows of the
    /// model's crop length (--window) every half window (--hop), the last ending at the file's
    /// end; consecutive windows over --min-confidence (or --thresholds) make segments; the file's
    /// top-k labels are the mean of its windows. A file that fails is reported on stderr (and in
    /// failures.csv with --output-dir) and the run goes on; the exit code is 1 if any failed.
    Tag(TagArgs),
    /// Score a model on a labelled set: accuracy, MAP@3, per-class scores, confusion matrix.
    Eval(EvalArgs),
    /// Print the compute adapters found and the device `--device auto` picks.
    Info,
    /// Print augmentation settings as JSON (`default` or `none`): a starting point for a file
    /// to pass to `wavnet train --augment FILE`.
    Augment {
        #[arg(value_parser = ["default", "none"], default_value = "default")]
        which: String,
    },
    /// Measure training and inference throughput (seconds of audio per second) of the default
    /// model on each device, beside the PyTorch twin when torch is installed.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub struct DataArgs {
    /// Dataset layout (auto detects folders, CSV manifests and FSDKaggle2018).
    #[arg(long, value_enum, default_value = "auto")]
    pub layout: LayoutArg,
    /// FSDKaggle2018: train on manually verified labels only.
    #[arg(long)]
    pub verified_only: bool,
    /// FSDKaggle2018: loss weight of clips whose label is not manually verified.
    #[arg(long, default_value_t = 1.0)]
    pub unverified_weight: f32,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LayoutArg {
    Auto,
    Folders,
    Manifest,
    Fsdkaggle,
}

impl DataArgs {
    fn options(&self) -> DatasetOptions {
        DatasetOptions {
            layout: match self.layout {
                LayoutArg::Auto => Layout::Auto,
                LayoutArg::Folders => Layout::Folders,
                LayoutArg::Manifest => Layout::Manifest,
                LayoutArg::Fsdkaggle => Layout::FsdKaggle,
            },
            verified_only: self.verified_only,
            unverified_weight: self.unverified_weight,
            ..DatasetOptions::default()
        }
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Train flags from a TOML file (see recipes/): each key is a flag without its leading --
    /// (`epochs = 300`, `val-fold = 4`, `augment = "shift=0.1,mixup=0.4"`, `balanced = true`).
    /// Flags typed on the command line override the recipe's: `--recipe recipes/fsdd.toml
    /// --epochs 5`.
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// Dataset: a class-per-folder directory, a CSV manifest, or an FSDKaggle2018 folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder for best.safetensors and last.safetensors.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub data_opts: DataArgs,
    /// Validate on this fold (the `fold` column); train on the others.
    #[arg(long, conflicts_with = "val_split")]
    pub val_fold: Option<u32>,
    /// Validate on the rows whose `split` column has this value (e.g. test); train on the rest.
    #[arg(long)]
    pub val_split: Option<String>,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceKind,
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f32,
    /// AdamW weight decay (conv and linear weights only).
    #[arg(long, default_value_t = 1e-2)]
    pub weight_decay: f32,
    /// Fraction of the steps spent on linear warm-up before cosine decay.
    #[arg(long, default_value_t = 0.05)]
    pub warmup: f32,
    /// Seed for initialisation, shuffling, crops, augmentation and dropout; `cpu` runs are
    /// bit-for-bit repeatable with the same seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sample rate of the model; audio is resampled to it.
    #[arg(long, default_value_t = 16000)]
    pub sample_rate: u32,
    /// Training crop length in seconds (shorter clips are padded).
    #[arg(long, default_value_t = 2.0)]
    pub crop: f32,
    /// Padding of clips shorter than the crop: zeros (random offset in training, centred for
    /// validation) or repeat.
    #[arg(long, value_enum, default_value = "zeros")]
    pub pad: PadArg,
    /// Architecture as a JSON file (fields of the default model: sample_rate, filters, taps,
    /// hop, fmin, fmax, crop_seconds, channels, convs_per_block, dropout, classes).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Start from a trained model (transfer learning); a head of another size is re-initialised.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Dropout before the classifier (default: the model's, 0.2).
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Label smoothing amount.
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f32,
    /// Loss: `softmax` (one class per clip) or `sigmoid` (binary cross-entropy per class, for
    /// multi-label sets: a manifest `labels` column like `dog;siren`; mixing gives the union of
    /// the labels). Stored in the model, so tag and eval use sigmoid probabilities. Default:
    /// the `--config`/`--init` model's, else softmax.
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
    /// Waveform augmentation of training clips (never of validation): `default` (time shift,
    /// noise, speed, time mask, mixup: the set measured best on ESC-10, see the README), `none`,
    /// a spec of items such as `shift=0.1,noise=white+pink:10:30,gain=-6:6,eq=100:6000,
    /// reverb=0.1:0.6,background=5:20,mixup=0.4,speed=0.9:1.1,mask=1:0.1,polarity=0.5,p=0.5`,
    /// or a JSON file (`wavnet augment` prints the default as a starting point).
    #[arg(long, default_value = "default")]
    pub augment: String,
    /// SpecAugment-style filter masking, off by default: `P:MASKS:WIDTH` (e.g. `0.5:2:8`). In
    /// each training step, each example is masked with probability P: 1 to MASKS bands of 1 to
    /// WIDTH adjacent filters (uniform widths and starts) are zeroed in the normalised
    /// filterbank output before the first block. Never applied in validation or tagging.
    #[arg(long, value_name = "P:MASKS:WIDTH", value_parser = parse_filter_mask)]
    pub filter_mask: Option<FilterMaskConfig>,
    /// Sample batches class-balanced instead of uniformly.
    #[arg(long)]
    pub balanced: bool,
    /// Continue a killed run from OUT/last.safetensors.
    #[arg(long)]
    pub resume: bool,
    /// Check every file before training and stop if any is unusable.
    #[arg(long)]
    pub strict: bool,
    /// Read the loss back every N steps.
    #[arg(long, default_value_t = 10)]
    pub log_every: usize,
    /// Memory for the decoded-audio cache, MiB.
    #[arg(long, default_value_t = 1024)]
    pub cache_mb: usize,
    /// Also cache decoded audio on disk in this folder.
    #[arg(long)]
    pub disk_cache: Option<PathBuf>,
    /// Print only errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Stop after this many epochs as if killed (tests `--resume`).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
    /// How a clip is scored: 0 = the mean of every window of the crop length over the whole
    /// clip at half-crop hops, the last ending at the clip's end; N = the mean of N evenly spaced
    /// crops (1 = the centre crop). Clips shorter than the crop are centred in zeros.
    #[arg(long, default_value_t = 0)]
    pub eval_crops: usize,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LossArg {
    Softmax,
    Sigmoid,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PadArg {
    Zeros,
    Repeat,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// Files or folders to tag.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Model file (.safetensors) from `wavnet train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Labels per file: the best k of the whole file, whatever the thresholds.
    #[arg(long, short = 'k', default_value_t = 3)]
    pub top_k: usize,
    /// Without --output-dir: write the one output (CSV or JSON lines) here instead of stdout.
    #[arg(long, short, conflicts_with = "output_dir")]
    pub output: Option<PathBuf>,
    /// Write every output into this folder, mirroring the input tree (`tags.csv`, `tags.jsonl`,
    /// `selections.txt`, `<input>.labels.txt`, `<input>.selections.txt`), plus a run record
    /// `run.json` and `failures.csv`. Files are written atomically; inputs are never written
    /// beside.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Outputs, comma-separated: csv (one row per file), jsonl (one object per file with its
    /// segments and per-window scores), audacity (a label track per input), raven (a selection
    /// table per input and one for the run). Several, or audacity/raven, need --output-dir.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "csv")]
    pub format: Vec<crate::tag::Format>,
    /// Segments: consecutive windows whose probability of a label reaches this are merged
    /// into one (start, end, label, confidence).
    #[arg(long, default_value_t = 0.5, value_name = "P")]
    pub min_confidence: f32,
    /// Per-label thresholds overriding --min-confidence: a CSV file of `label,threshold` rows.
    #[arg(long, value_name = "FILE")]
    pub thresholds: Option<PathBuf>,
    /// Skip the files a killed or finished run in --output-dir already tagged with the same
    /// model and settings (its journal says so and their outputs exist).
    #[arg(long)]
    pub resume: bool,
    /// Tag only share I of N (0-based, e.g. 2/4), decided by each file's path below the input
    /// folder: N machines or the N tasks of an array job split a collection with no overlap.
    #[arg(long, value_name = "I/N", value_parser = crate::tag::parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Stop after this many files as if killed (tests `--resume`).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceKind,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Window length in seconds (default: the model's training crop).
    #[arg(long, value_name = "S")]
    pub window: Option<f32>,
    /// Hop between windows in seconds (default: half the window).
    #[arg(long, value_name = "S")]
    pub hop: Option<f32>,
    /// Clip scores: 0 = the mean of every window (as `eval`); N = the mean of N evenly spaced
    /// crops of the whole file (read into memory), as `eval --eval-crops N`.
    #[arg(long, default_value_t = 0)]
    pub eval_crops: usize,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub data_opts: DataArgs,
    /// Score the rows whose `split` column has this value.
    #[arg(long, conflicts_with = "fold")]
    pub split: Option<String>,
    /// Score the rows of this fold.
    #[arg(long)]
    pub fold: Option<u32>,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceKind,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Print JSON instead of a report.
    #[arg(long)]
    pub json: bool,
    /// How a clip is scored: 0 = the mean of every window of the crop length over the whole
    /// clip at half-crop hops, the last ending at the clip's end; N = the mean of N evenly spaced
    /// crops (1 = the centre crop). Clips shorter than the crop are centred in zeros.
    #[arg(long, default_value_t = 0)]
    pub eval_crops: usize,
    /// Also write DIR/report.html (self-contained) and its figures as SVG files: confusion
    /// matrix, per-class precision/recall, the Gabor filters' frequency responses against their
    /// initialisation, and the training curves stored in the model file.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Devices to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cpu,gpu")]
    pub device: Vec<DeviceKind>,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Seconds of audio per example.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f32,
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// The PyTorch twin to run beside (needs `pip install torch`).
    #[arg(long)]
    pub torch: Option<PathBuf>,
}

fn parse_filter_mask(spec: &str) -> Result<FilterMaskConfig, String> {
    spec.parse()
}

/// `--augment`: a JSON file of settings if the path exists, else a spec (`none`, `default`, or
/// items such as `shift=0.1,noise=white+pink:10:30,mixup=0.4`).
fn augment_config(spec: &str) -> Result<AugmentConfig> {
    if std::path::Path::new(spec).is_file() {
        let text = std::fs::read_to_string(spec).with_context(|| format!("--augment {spec}: cannot read"))?;
        return serde_json::from_str(&text).with_context(|| format!("--augment {spec}: not augmentation settings (see `wavnet augment`)"));
    }
    AugmentConfig::parse_spec(spec).map_err(|e| anyhow::anyhow!("--augment {spec}: {e} (or give a JSON file; `wavnet augment` prints one)"))
}

/// Runs the parsed command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("cannot size the thread pool")?;
    }
    match cli.command {
        Cmd::Train(a) => {
            let selection = match (a.val_fold, &a.val_split) {
                (Some(k), _) => Selection::ValFold(k),
                (None, Some(s)) => Selection::ValSplit(s.clone()),
                (None, None) => Selection::All,
            };
            let o = crate::train::TrainOptions {
                data: a.data,
                out: a.out,
                dataset: a.data_opts.options(),
                selection,
                epochs: a.epochs,
                batch: a.batch,
                lr: a.lr,
                weight_decay: a.weight_decay,
                warmup: a.warmup,
                seed: a.seed,
                sample_rate: a.sample_rate,
                crop_seconds: a.crop,
                config: a.config,
                init: a.init,
                dropout: a.dropout,
                label_smoothing: a.label_smoothing,
                loss: a.loss.map(|l| match l {
                    LossArg::Softmax => crate::model::Loss::Softmax,
                    LossArg::Sigmoid => crate::model::Loss::Sigmoid,
                }),
                augment: augment_config(&a.augment)?,
                filter_mask: a.filter_mask,
                balanced: a.balanced,
                pad: match a.pad {
                    PadArg::Zeros => PadMode::Zeros,
                    PadArg::Repeat => PadMode::Repeat,
                },
                resume: a.resume,
                strict: a.strict,
                log_every: a.log_every,
                cache_bytes: a.cache_mb << 20,
                disk_cache: a.disk_cache,
                quiet: a.quiet,
                stop_after: a.stop_after,
                eval_crops: a.eval_crops,
            };
            AnyDevice::open(a.device)?.run(crate::train::TrainTask(o))?;
            Ok(0)
        }
        Cmd::Tag(a) => {
            let o = crate::tag::TagOptions {
                window: a.window,
                hop: a.hop,
                inputs: a.inputs,
                model: a.model,
                top_k: a.top_k,
                output: a.output,
                output_dir: a.output_dir,
                formats: a.format,
                batch: a.batch,
                eval_crops: a.eval_crops,
                min_confidence: a.min_confidence,
                thresholds: a.thresholds,
                resume: a.resume,
                shard: a.shard,
                stop_after: a.stop_after,
            };
            let r = AnyDevice::open(a.device)?.run(crate::tag::TagTask(o))?;
            let resumed = if r.resumed > 0 { format!(" ({} already tagged, skipped)", r.resumed) } else { String::new() };
            eprintln!("tagged {} file(s){resumed}, {} failed", r.tagged, r.failed.len());
            Ok(if r.failed.is_empty() { 0 } else { 1 })
        }
        Cmd::Eval(a) => {
            let o = crate::tag::EvalOptions {
                model: a.model,
                data: a.data,
                dataset: a.data_opts.options(),
                split: a.split,
                fold: a.fold,
                batch: a.batch,
                json: a.json,
                eval_crops: a.eval_crops,
                report: a.report,
            };
            AnyDevice::open(a.device)?.run(crate::tag::EvalTask(o))?;
            Ok(0)
        }
        Cmd::Info => {
            println!("wavnet {}", env!("CARGO_PKG_VERSION"));
            let adapters = crate::gpu::list_adapters();
            if adapters.is_empty() {
                println!("no GPU adapters found (install Mesa's Vulkan driver for a software one: apt-get install mesa-vulkan-drivers libvulkan1)");
            }
            for a in &adapters {
                println!("adapter: {a}");
            }
            println!("cpu: {} threads", rayon::current_num_threads());
            println!("--device auto picks: {}", AnyDevice::open(DeviceKind::Auto)?.name());
            if !adapters.is_empty() && adapters.iter().all(|a| a.is_software) {
                println!("(only software GPU adapters: the cpu device is faster; --device gpu uses the adapter anyway)");
            }
            Ok(0)
        }
        Cmd::Augment { which } => {
            writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&augment_config(&which)?)?)?;
            Ok(0)
        }
        Cmd::Bench(a) => {
            crate::bench::bench(&crate::bench::BenchOptions {
                devices: a.device,
                batch: a.batch,
                seconds: a.seconds,
                steps: a.steps,
                torch: a.torch,
            })?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
