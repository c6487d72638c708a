//! The command line: `wavnet train | tag | eval | info | bench`. Doc comments are `--help`.
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::builder::RangedU64ValueParser;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

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
    #[arg(long, global = true, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: Option<usize>,
}

impl Cli {
    /// Parses the command line like `Cli::parse_from`, and also records which `train` options
    /// were given explicitly ([`TrainArgs::given`]), so `--resume` can tell an explicit value
    /// from a default.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let m = Cli::command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&m)?;
        if let (Cmd::Train(a), Some(("train", sm))) = (&mut cli.command, m.subcommand()) {
            a.given = sm.ids().filter(|id| sm.value_source(id.as_str()) == Some(ValueSource::CommandLine)).map(|id| id.to_string()).collect();
        }
        Ok(cli)
    }
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
    /// Serve a page (and a JSON API) that tags a dropped, chosen or recorded clip: waveform,
    /// tags over time, top tags, segments and their downloads.
    ///
    /// The page, its script and style are built into the binary (no CDN). API: `GET
    /// /api/model` (name, classes, sample rate), `POST /api/tag` (the audio file's bytes, any
    /// format `tag` reads; answers one `tag --format jsonl` object), `POST
    /// /api/render?format=csv|audacity|raven` (such an object in that format).
    Serve(ServeArgs),
    /// Score a model on a labelled set: accuracy, MAP@3, per-class scores, confusion matrix.
    ///
    /// Without --fold, --split or --val-fraction every clip of DATA is scored, including any the
    /// model was trained on; stderr says which clips were scored.
    Eval(EvalArgs),
    /// Print the compute adapters found and the device `--device auto` picks, or with --model
    /// what a model file holds: labels, sample rate, crop, parameters and training summary.
    Info(InfoArgs),
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
pub struct LayoutArgs {
    /// Dataset layout (auto detects folders, CSV manifests and FSDKaggle2018).
    #[arg(long, value_enum, default_value = "auto")]
    pub layout: LayoutArg,
}

#[derive(Args, Debug)]
pub struct FsdArgs {
    /// FSDKaggle2018: train on manually verified labels only.
    #[arg(long)]
    pub verified_only: bool,
    /// FSDKaggle2018: loss weight of clips whose label is not manually verified (0 to 100).
    #[arg(long, default_value_t = 1.0, value_parser = |s: &str| float_in(s, 0.0, 100.0, Ends::Closed))]
    pub unverified_weight: f32,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LayoutArg {
    Auto,
    Folders,
    Manifest,
    Fsdkaggle,
}

impl LayoutArgs {
    fn options(&self) -> DatasetOptions {
        DatasetOptions {
            layout: match self.layout {
                LayoutArg::Auto => Layout::Auto,
                LayoutArg::Folders => Layout::Folders,
                LayoutArg::Manifest => Layout::Manifest,
                LayoutArg::Fsdkaggle => Layout::FsdKaggle,
            },
            ..DatasetOptions::default()
        }
    }
}

/// Which ends of a float range are allowed.
#[derive(Clone, Copy)]
enum Ends {
    /// [lo, hi]
    Closed,
    /// (lo, hi]
    OpenLow,
    /// [lo, hi)
    OpenHigh,
    /// (lo, hi)
    Open,
}

/// A finite number in a range, as f32; the message gives the range.
fn float_in(s: &str, lo: f32, hi: f32, ends: Ends) -> Result<f32, String> {
    f64_in(s, lo as f64, hi as f64, ends).map(|v| v as f32)
}

/// A finite number in a range; the message gives the range.
fn f64_in(s: &str, lo: f64, hi: f64, ends: Ends) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    let (lo_ok, hi_ok) = match ends {
        Ends::Closed => (v >= lo, v <= hi),
        Ends::OpenLow => (v > lo, v <= hi),
        Ends::OpenHigh => (v >= lo, v < hi),
        Ends::Open => (v > lo, v < hi),
    };
    if v.is_finite() && lo_ok && hi_ok {
        return Ok(v);
    }
    let (a, b) = match ends {
        Ends::Closed => ('[', ']'),
        Ends::OpenLow => ('(', ']'),
        Ends::OpenHigh => ('[', ')'),
        Ends::Open => ('(', ')'),
    };
    Err(format!("{v} is not in {a}{lo}, {hi}{b}"))
}

/// Whole numbers from 1 to `hi`.
fn count(hi: u64) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(1..=hi)
}

/// Largest batch any command accepts (memory grows with it).
const MAX_BATCH: u64 = 4096;

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
    /// Output folder for best.safetensors and last.safetensors. A folder holding an earlier
    /// run is refused unless --resume (continue it) or --force (overwrite it).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite the model files of an earlier run in --out.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    #[command(flatten)]
    pub layout: LayoutArgs,
    #[command(flatten)]
    pub fsd: FsdArgs,
    /// Validate on this fold (the `fold` column); train on the others.
    #[arg(long, conflicts_with_all = ["val_split", "val_fraction"])]
    pub val_fold: Option<u32>,
    /// Validate on the rows whose `split` column has this value (e.g. test); train on the rest.
    #[arg(long, conflicts_with = "val_fraction")]
    pub val_split: Option<String>,
    /// Validate on this fraction of each class, drawn at random from --seed (for layouts
    /// without folds or splits, such as a folder per class); train on the rest.
    #[arg(long, value_name = "F", value_parser = |s: &str| f64_in(s, 0.0, 1.0, Ends::Open))]
    pub val_fraction: Option<f64>,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceKind,
    #[arg(long, default_value_t = 20, value_parser = count(1_000_000))]
    pub epochs: usize,
    /// Clips per training step (1 to 4096).
    #[arg(long, default_value_t = 32, value_parser = count(MAX_BATCH))]
    pub batch: usize,
    /// Peak learning rate (AdamW), 0 to 10. With --resume: the checkpoint's unless given.
    #[arg(long, default_value_t = 3e-3, value_parser = |s: &str| float_in(s, 0.0, 10.0, Ends::Closed))]
    pub lr: f32,
    /// AdamW weight decay (conv and linear weights only), 0 to 10.
    #[arg(long, default_value_t = 1e-2, value_parser = |s: &str| float_in(s, 0.0, 10.0, Ends::Closed))]
    pub weight_decay: f32,
    /// Fraction of the steps spent on linear warm-up before cosine decay, 0 to 1.
    #[arg(long, default_value_t = 0.05, value_parser = |s: &str| float_in(s, 0.0, 1.0, Ends::Closed))]
    pub warmup: f32,
    /// Weight averaging (stochastic weight averaging, SWA): the final model is the mean of the
    /// weights and BatchNorm running statistics after each of the last N epochs (0 = off, the
    /// last epoch's weights). The last epoch is validated and saved with the averaged weights;
    /// earlier epochs are unchanged (README "Results" has what it measured).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(0..=1_000_000))]
    pub average_last: usize,
    /// Seed for initialisation, shuffling, crops, augmentation, dropout and --val-fraction;
    /// `cpu` runs are bit-for-bit repeatable with the same seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sample rate of the model, 1000 to 192000 Hz; audio is resampled to it. With --init or
    /// --resume the model's rate is kept, and another value is an error.
    #[arg(long, default_value_t = 16000, value_parser = clap::value_parser!(u32).range(1000..=192_000))]
    pub sample_rate: u32,
    /// Training crop length in seconds, up to 60 (shorter clips are padded). With --init the
    /// source model's crop unless given.
    #[arg(long, default_value_t = 2.0, value_parser = |s: &str| float_in(s, 0.0, 60.0, Ends::OpenLow))]
    pub crop: f32,
    /// Padding of clips shorter than the crop: zeros (random offset in training, centred for
    /// validation) or repeat.
    #[arg(long, value_enum, default_value = "zeros")]
    pub pad: PadArg,
    /// Architecture as a JSON file (fields of the default model: sample_rate, filters, taps,
    /// hop, fmin, fmax, crop_seconds, channels, convs_per_block, dropout, classes); an explicit
    /// --sample-rate or --crop replaces the file's.
    #[arg(long, conflicts_with = "resume")]
    pub config: Option<PathBuf>,
    /// Start from a trained model (transfer learning): a model file, or `default` for the
    /// built-in model. Its architecture, sample rate and weights; a classifier head of another
    /// size is re-initialised.
    #[arg(long, conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Transfer learning (needs --init): keep these parameter groups of the --init model fixed,
    /// comma-separated: `front` (the Gabor filterbank and the BatchNorm after it), `body` (the
    /// conv blocks). Frozen parameters get no update at all (no weight decay either) and stay
    /// bit-identical; their BatchNorm layers still normalise with each batch's statistics in
    /// training but keep their running statistics (the ones `tag` and validation use; only
    /// --bn-reestimate recomputes them). The head is always trained.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "GROUPS")]
    pub freeze: Vec<FreezeArg>,
    /// Transfer learning (needs --init): train the classifier head only, on the --init model's
    /// features (the same as --freeze front,body).
    #[arg(long, conflicts_with = "freeze")]
    pub linear_probe: bool,
    /// Transfer learning (needs --init): learning-rate multiplier for the pretrained layers
    /// (front end and body), 0 to 10, e.g. 0.1; the head learns at --lr. Default 1.
    #[arg(long, value_name = "S", value_parser = |s: &str| float_in(s, 0.0, 10.0, Ends::Closed))]
    pub pretrained_lr_scale: Option<f32>,
    /// Recompute the BatchNorm running statistics of every layer (frozen or not) on the
    /// training clips, cut into inference windows without augmentation, with the current
    /// weights: `start` (the default when given bare) once before the first step, so the
    /// --init model's statistics match the new data; `eval` before every validation, so every
    /// saved model holds statistics of its final weights; `both`.
    #[arg(long, value_enum, value_name = "WHEN", num_args = 0..=1, default_missing_value = "start")]
    pub bn_reestimate: Option<crate::train::BnReestimate>,
    /// Dropout before the classifier, in [0, 1) (default: the model's, 0.2).
    #[arg(long, value_parser = |s: &str| float_in(s, 0.0, 1.0, Ends::OpenHigh))]
    pub dropout: Option<f32>,
    /// Label smoothing amount, in [0, 1).
    #[arg(long, default_value_t = 0.0, value_parser = |s: &str| float_in(s, 0.0, 1.0, Ends::OpenHigh))]
    pub label_smoothing: f32,
    /// Loss: `softmax` (one class per clip) or `sigmoid` (binary cross-entropy per class, for
    /// multi-label sets: a manifest `labels` column like `dog;siren`; mixing gives the union of
    /// the labels). Stored in the model, so tag and eval use sigmoid probabilities. Default:
    /// the `--config`/`--init` model's, else softmax.
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
    /// Waveform augmentation of training clips (never of validation): `default` (crops that
    /// hold sound, speed 0.8-1.25 and gain ±6 dB on every clip: measured best on ESC-10, see the
    /// README's Results), `none`, a spec of items such as `trim=1,shift=0.1,noise=white+pink:10:30,
    /// gain=-6:6,eq=100:6000,reverb=0.1:0.6,background=5:20,mixup=0.4,bc=0.5,speed=0.9:1.1,
    /// mask=1:0.1,polarity=0.5,p=0.5`,
    /// or a JSON file (`wavnet augment` prints the default as a starting point).
    #[arg(long, default_value = "default", value_parser = parse_augment)]
    pub augment: AugmentConfig,
    /// SpecAugment-style filter masking, off by default: `P:MASKS:WIDTH` (e.g. `0.5:2:8`). In
    /// each training step, each example is masked with probability P: 1 to MASKS bands of 1 to
    /// WIDTH adjacent filters (uniform widths and starts) are zeroed in the normalised
    /// filterbank output before the first block. Never applied in validation or tagging.
    #[arg(long, value_name = "P:MASKS:WIDTH", value_parser = parse_filter_mask)]
    pub filter_mask: Option<FilterMaskConfig>,
    /// Sample batches class-balanced instead of uniformly.
    #[arg(long)]
    pub balanced: bool,
    /// Continue a killed run from OUT/last.safetensors, with its settings (--lr, --batch,
    /// --seed, ... given again replace them, with a warning).
    #[arg(long)]
    pub resume: bool,
    /// Check every file before training and stop if any is unusable.
    #[arg(long)]
    pub strict: bool,
    /// Read the loss back every N steps.
    #[arg(long, default_value_t = 10, value_parser = count(1_000_000))]
    pub log_every: usize,
    /// Memory for the decoded-audio cache, MiB (0 to 1048576).
    #[arg(long, default_value_t = 1024, value_parser = RangedU64ValueParser::<usize>::new().range(0..=1 << 20))]
    pub cache_mb: usize,
    /// Also cache decoded audio on disk in this folder.
    #[arg(long)]
    pub disk_cache: Option<PathBuf>,
    /// Print only errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Stop after this many epochs as if killed (tests `--resume`).
    #[arg(long, hide = true, value_parser = count(1_000_000))]
    pub stop_after: Option<usize>,
    /// How a clip is scored: 0 = the mean of every window of the crop length over the whole
    /// clip at half-crop hops, the last ending at the clip's end; N = the mean of N evenly spaced
    /// crops (1 = the centre crop). Clips shorter than the crop are centred in zeros.
    #[arg(long, default_value_t = 0, value_parser = RangedU64ValueParser::<usize>::new().range(0..=1000))]
    pub eval_crops: usize,
    /// The options given on the command line (argument ids), filled by [`Cli::parse_args`].
    #[arg(skip)]
    pub given: BTreeSet<String>,
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

/// `--freeze` groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FreezeArg {
    Front,
    Body,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// Files or folders to tag.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Model file (.safetensors) written by `wavnet train` (OUT/best.safetensors); `default`
    /// (or no --model) is the built-in model of everyday sounds (`wavnet info` lists its classes).
    #[arg(long, default_value = "default")]
    pub model: PathBuf,
    /// Labels per file: the best k of the whole file, whatever the thresholds (1 to 1000; at most
    /// the model's classes are printed).
    #[arg(long, short = 'k', default_value_t = 3, value_parser = count(1000))]
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
    #[arg(long, default_value_t = 0.5, value_name = "P", value_parser = |s: &str| float_in(s, 0.0, 1.0, Ends::Closed))]
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
    #[arg(long, hide = true, value_parser = count(u64::MAX))]
    pub stop_after: Option<usize>,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceKind,
    /// Windows per forward pass (1 to 4096).
    #[arg(long, default_value_t = 16, value_parser = count(MAX_BATCH))]
    pub batch: usize,
    /// Window length in seconds, up to 60 (default: the model's training crop).
    #[arg(long, value_name = "S", value_parser = |s: &str| float_in(s, 0.0, 60.0, Ends::OpenLow))]
    pub window: Option<f32>,
    /// Hop between windows in seconds, up to 60 (default: half the window).
    #[arg(long, value_name = "S", value_parser = |s: &str| float_in(s, 0.0, 60.0, Ends::OpenLow))]
    pub hop: Option<f32>,
    /// Clip scores: 0 = the mean of every window (as `eval`); N = the mean of N evenly spaced
    /// crops of the whole file (read into memory), as `eval --eval-crops N`.
    #[arg(long, default_value_t = 0, value_parser = RangedU64ValueParser::<usize>::new().range(0..=1000))]
    pub eval_crops: usize,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Model file (.safetensors) from `wavnet train`; `default` (or no --model) is the built-in
    /// model of everyday sounds.
    #[arg(long, default_value = "default")]
    pub model: PathBuf,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on; 127.0.0.1 serves this machine only, 0.0.0.0 the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Largest upload in MiB; larger ones get a JSON error (413).
    #[arg(long, default_value_t = 100)]
    pub max_mb: usize,
    /// Labels per clip.
    #[arg(long, short = 'k', default_value_t = 3)]
    pub top_k: usize,
    /// Segments: consecutive windows whose probability of a label reaches this.
    #[arg(long, default_value_t = 0.5, value_name = "P")]
    pub min_confidence: f32,
    /// Per-label thresholds overriding --min-confidence: a CSV file of `label,threshold` rows.
    #[arg(long, value_name = "FILE")]
    pub thresholds: Option<PathBuf>,
    /// Hop between windows in seconds (default: half the model's crop).
    #[arg(long, value_name = "S")]
    pub hop: Option<f32>,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceKind,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model file (.safetensors) written by `wavnet train` (OUT/best.safetensors); `default`
    /// (or no --model) is the built-in model of everyday sounds.
    #[arg(long, default_value = "default")]
    pub model: PathBuf,
    /// Labelled clips to score: a class-per-folder directory, a CSV manifest or an FSDKaggle2018
    /// folder. Rows whose label the model does not know are skipped (counted per label).
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Score the rows whose `split` column has this value.
    #[arg(long, conflicts_with_all = ["fold", "val_fraction"])]
    pub split: Option<String>,
    /// Score the rows of this fold.
    #[arg(long, conflicts_with = "val_fraction")]
    pub fold: Option<u32>,
    /// Score the clips `wavnet train --val-fraction F --seed S` held out (same F, --seed, data).
    #[arg(long, value_name = "F", value_parser = |s: &str| f64_in(s, 0.0, 1.0, Ends::Open))]
    pub val_fraction: Option<f64>,
    /// The training run's --seed, for --val-fraction.
    #[arg(long, default_value_t = 0, requires = "val_fraction")]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceKind,
    /// Clips per forward pass (1 to 4096).
    #[arg(long, default_value_t = 32, value_parser = count(MAX_BATCH))]
    pub batch: usize,
    /// Print JSON instead of a report.
    #[arg(long)]
    pub json: bool,
    /// How a clip is scored: 0 = the mean of every window of the crop length over the whole
    /// clip at half-crop hops, the last ending at the clip's end; N = the mean of N evenly spaced
    /// crops (1 = the centre crop). Clips shorter than the crop are centred in zeros.
    #[arg(long, default_value_t = 0, value_parser = RangedU64ValueParser::<usize>::new().range(0..=1000))]
    pub eval_crops: usize,
    /// Also write DIR/report.html (self-contained) and its figures as SVG files: confusion
    /// matrix, per-class precision/recall, the Gabor filters' frequency responses against their
    /// initialisation, and the training curves stored in the model file.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Describe this model file (.safetensors) instead of the devices and the built-in model:
    /// labels, sample rate, crop, parameter count and the training summary stored in it
    /// (`default`: the built-in model in full).
    #[arg(long)]
    pub model: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Devices to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cpu,gpu")]
    pub device: Vec<DeviceKind>,
    /// Examples per step (1 to 4096).
    #[arg(long, default_value_t = 32, value_parser = count(MAX_BATCH))]
    pub batch: usize,
    /// Seconds of audio per example, up to 60.
    #[arg(long, default_value_t = 2.0, value_parser = |s: &str| float_in(s, 0.0, 60.0, Ends::OpenLow))]
    pub seconds: f32,
    /// Timed steps (1 to 100000).
    #[arg(long, default_value_t = 10, value_parser = count(100_000))]
    pub steps: usize,
    /// The PyTorch twin to run beside (needs `pip install torch`).
    #[arg(long)]
    pub torch: Option<PathBuf>,
}

fn parse_filter_mask(spec: &str) -> Result<FilterMaskConfig, String> {
    spec.parse()
}

/// `--augment`: a JSON file of settings if the path exists, else a spec (`none`, `default`, or
/// items such as `shift=0.1,noise=white+pink:10:30,mixup=0.4`); either is range-checked.
fn parse_augment(spec: &str) -> Result<AugmentConfig, String> {
    let path = Path::new(spec);
    let hint = "give a JSON file (`wavnet augment > aug.json` writes one to edit), `default`, `none`, or items such as shift=0.1,mixup=0.4";
    let cfg = if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{spec}: cannot read: {e}"))?;
        serde_json::from_str::<AugmentConfig>(&text)
            .map_err(|e| format!("{spec}: not augmentation settings ({e}); `wavnet augment` prints the fields"))?
    } else if path.is_dir() {
        return Err(format!("{spec}: is a folder; {hint}"));
    } else if !spec.contains('=') && !matches!(spec.trim(), "" | "none" | "default") {
        return Err(format!("no such file '{spec}', and not an augmentation spec: {hint}"));
    } else {
        AugmentConfig::parse_spec(spec).map_err(|e| format!("{e}; {hint}"))?
    };
    cfg.validate().map_err(|e| format!("{spec}: {e}"))?;
    Ok(cfg)
}

/// The validation part of a dataset the options name.
fn selection(fold: Option<u32>, split: Option<String>, fraction: Option<f64>, seed: u64) -> Selection {
    match (fold, split, fraction) {
        (Some(k), _, _) => Selection::ValFold(k),
        (None, Some(s), _) => Selection::ValSplit(s),
        (None, None, Some(fraction)) => Selection::ValFraction { fraction, seed },
        (None, None, None) => Selection::All,
    }
}

/// Runs the parsed command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("cannot size the thread pool")?;
    }
    match cli.command {
        Cmd::Train(a) => {
            let transfer_flag = if !a.freeze.is_empty() {
                Some("--freeze")
            } else if a.linear_probe {
                Some("--linear-probe")
            } else {
                a.pretrained_lr_scale.map(|_| "--pretrained-lr-scale")
            };
            if let (Some(flag), None) = (transfer_flag, &a.init) {
                let why = if a.resume {
                    "--resume keeps the checkpoint's transfer settings: drop it"
                } else {
                    "it acts on pretrained layers, so it needs a model to start from: add --init default (the built-in model) or --init FILE"
                };
                eprintln!("error: {flag} without --init: {why}");
                return Ok(2);
            }
            let probe = a.linear_probe;
            let transfer = crate::model::Transfer {
                freeze_front: probe || a.freeze.contains(&FreezeArg::Front),
                freeze_body: probe || a.freeze.contains(&FreezeArg::Body),
                pretrained_lr_scale: a.pretrained_lr_scale.unwrap_or(1.0),
            };
            let mut dataset = a.layout.options();
            dataset.verified_only = a.fsd.verified_only;
            dataset.unverified_weight = a.fsd.unverified_weight;
            let o = crate::train::TrainOptions {
                recipe: a.recipe,
                command: Some(std::env::args().map(|s| if s.contains(' ') { format!("'{s}'") } else { s }).collect::<Vec<_>>().join(" ")),
                data: a.data,
                out: a.out,
                force: a.force,
                dataset,
                selection: selection(a.val_fold, a.val_split, a.val_fraction, a.seed),
                epochs: a.epochs,
                batch: a.batch,
                lr: a.lr,
                weight_decay: a.weight_decay,
                warmup: a.warmup,
                average_last: a.average_last,
                seed: a.seed,
                sample_rate: a.sample_rate,
                crop_seconds: a.crop,
                config: a.config,
                init: a.init,
                transfer,
                bn_reestimate: a.bn_reestimate,
                dropout: a.dropout,
                label_smoothing: a.label_smoothing,
                loss: a.loss.map(|l| match l {
                    LossArg::Softmax => crate::model::Loss::Softmax,
                    LossArg::Sigmoid => crate::model::Loss::Sigmoid,
                }),
                augment: a.augment,
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
                given: a.given,
            };
            AnyDevice::open(a.device)?.run(crate::train::TrainTask(o))?;
            Ok(0)
        }
        Cmd::Tag(a) => {
            // A bad model file, then nothing to tag: mistakes to report before --output is written.
            crate::io::load_model(&a.model)?;
            let (files, failed) = crate::tag::collect_inputs(&a.inputs);
            if files.is_empty() && failed.is_empty() {
                let names: Vec<String> = a.inputs.iter().map(|p| p.display().to_string()).collect();
                eprintln!(
                    "error: {}: no audio files found (folders are searched recursively for .{}): pass audio files or a folder holding them",
                    names.join(", "),
                    crate::data::audio::AUDIO_EXTENSIONS.join(", .")
                );
                return Ok(1);
            }
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
        Cmd::Serve(a) => {
            let o = crate::serve::ServeOptions {
                model: a.model,
                host: a.host,
                port: a.port,
                max_mb: a.max_mb,
                batch: a.batch,
                top_k: a.top_k,
                min_confidence: a.min_confidence,
                thresholds: a.thresholds,
                hop: a.hop,
            };
            AnyDevice::open(a.device)?.run(crate::serve::ServeTask(o))?;
            Ok(0)
        }
        Cmd::Eval(a) => {
            let o = crate::tag::EvalOptions {
                model: a.model,
                data: a.data,
                dataset: a.layout.options(),
                selection: selection(a.fold, a.split, a.val_fraction, a.seed),
                batch: a.batch,
                json: a.json,
                eval_crops: a.eval_crops,
                report: a.report,
            };
            AnyDevice::open(a.device)?.run(crate::tag::EvalTask(o))?;
            Ok(0)
        }
        Cmd::Info(InfoArgs { model: Some(path) }) => {
            let f = crate::io::load_model(&path)?;
            write!(std::io::stdout(), "{}", crate::io::describe_model(&path, &f))?;
            Ok(0)
        }
        Cmd::Info(InfoArgs { model: None }) => {
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
            let f = crate::io::load_model(Path::new(crate::builtin::NAME))?;
            println!(
                "built-in model ({}; `tag`, `eval` and `serve` use it without --model): {} classes: {}",
                crate::builtin::SOURCE,
                f.labels.len(),
                f.labels.join(", ")
            );
            let data = f.summary.get("data").and_then(|v| v.as_str()).unwrap_or("not recorded in the file");
            let how = match (f.summary.get("recipe").and_then(|v| v.as_str()), f.summary.get("command").and_then(|v| v.as_str())) {
                (Some(r), Some(c)) => format!("recipe {r}: {c}"),
                (Some(r), None) => format!("recipe {r}"),
                (None, Some(c)) => format!("command: {c}"),
                (None, None) => "its recipe is not recorded in the file (see models/README.md)".to_string(),
            };
            println!("  trained on {data}; {how}");
            println!("(`wavnet info --model FILE` describes a model file; `--model default` the built-in one in full)");
            Ok(0)
        }
        Cmd::Augment { which } => {
            let cfg = parse_augment(&which).map_err(anyhow::Error::msg)?;
            writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&cfg)?)?;
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
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn float_ranges_reject_out_of_range_and_non_finite_values() {
        assert_eq!(float_in("0.5", 0.0, 1.0, Ends::Open), Ok(0.5));
        assert_eq!(float_in("0", 0.0, 1.0, Ends::Closed), Ok(0.0));
        for (bad, ends) in [("0", Ends::Open), ("1", Ends::OpenHigh), ("0", Ends::OpenLow), ("1.5", Ends::Closed), ("nan", Ends::Closed), ("inf", Ends::Closed)] {
            let e = float_in(bad, 0.0, 1.0, ends).unwrap_err();
            assert!(e.contains("is not in"), "{bad}: {e}");
        }
        assert!(float_in("x", 0.0, 1.0, Ends::Closed).unwrap_err().contains("'x' is not a number"));
    }

    #[test]
    fn only_options_typed_on_the_command_line_count_as_given() {
        let cli = Cli::parse_args(["wavnet", "train", "--data", "d", "--out", "o", "--lr", "1e-3", "--crop=1"]).unwrap();
        let Cmd::Train(a) = cli.command else { panic!("train") };
        assert!(a.given.contains("lr") && a.given.contains("crop") && a.given.contains("data"));
        assert!(!a.given.contains("sample_rate") && !a.given.contains("batch"), "defaults are not given: {:?}", a.given);
    }
}
