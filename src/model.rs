//! The model, written once against `Device`: Gabor filterbank front end, BatchNorm, optional
//! SpecAugment-style filter masking (training only, `set_filter_mask`), blocks of
//! [conv1d k=3 -> BatchNorm -> ReLU] x n -> max-pool 2, global mean+max pooling, dropout, linear,
//! soft-target cross-entropy (softmax, or per-class sigmoid for multi-label sets), AdamW.
//! Forward and backward sit side by side.
//!
//! Shape legend: B batch, L samples (crop), F filters, W taps, T frames, C channels, K classes.
use std::collections::BTreeMap;
use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::device::{AdamW, Device, FusedEval};

/// The architecture, read from the model file: other sizes need no code change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Sample rate the model runs at (input is resampled to it).
    pub sample_rate: u32,
    /// Number of complex Gabor filters (F).
    pub filters: usize,
    /// Filter length in taps (W, odd).
    pub taps: usize,
    /// Hop between frames, in samples (H).
    pub hop: usize,
    /// Mel-spaced initialisation range, Hz (the upper end is capped just below Nyquist).
    pub fmin: f32,
    pub fmax: f32,
    /// Training crop length, seconds.
    pub crop_seconds: f32,
    /// Output channels of each block.
    pub channels: Vec<usize>,
    /// Conv -> BatchNorm -> ReLU layers per block.
    pub convs_per_block: usize,
    /// Dropout probability before the linear head.
    pub dropout: f32,
    /// Number of classes (K).
    pub classes: usize,
    /// The training loss, which also decides how logits become probabilities at inference
    /// (`crate::metrics::probabilities`). Model files without it are softmax models.
    #[serde(default)]
    pub loss: Loss,
}

/// The classification loss, and with it the meaning of the outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Softmax cross-entropy with soft targets: one class per clip (probabilities sum to 1).
    #[default]
    Softmax,
    /// Binary cross-entropy per class on sigmoid outputs: any number of classes per clip
    /// (multi-label; each probability on its own).
    Sigmoid,
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Loss::Softmax => "softmax",
            Loss::Sigmoid => "sigmoid",
        })
    }
}

impl Config {
    /// `wavnet-s`, the default model, at the given sample rate and class count.
    pub fn wavnet_s(sample_rate: u32, classes: usize) -> Config {
        Config {
            sample_rate,
            filters: 64,
            taps: 401,
            hop: 160,
            fmin: 60.0,
            fmax: 7800.0,
            crop_seconds: 2.0,
            channels: vec![64, 128, 128, 256],
            convs_per_block: 2,
            dropout: 0.2,
            classes,
            loss: Loss::Softmax,
        }
        .with_rate(sample_rate)
    }

    /// Sets the sample rate and caps the mel range just below Nyquist (97.5 %).
    pub fn with_rate(mut self, sample_rate: u32) -> Config {
        self.sample_rate = sample_rate;
        self.fmax = self.fmax.min(0.975 * sample_rate as f32 / 2.0);
        self
    }

    /// Crop length in samples (L).
    pub fn crop(&self) -> usize {
        (self.crop_seconds as f64 * self.sample_rate as f64).round() as usize
    }

    /// Frames after the filterbank for `l` samples: T = L / H + 1.
    pub fn frames(&self, l: usize) -> usize {
        l / self.hop + 1
    }

    /// Checks the config describes a model that can run; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.taps.is_multiple_of(2) || self.taps < 3 {
            return Err(format!("taps must be odd and >= 3, got {}", self.taps));
        }
        if self.filters == 0 || self.hop == 0 || self.classes < 2 || self.channels.is_empty() || self.convs_per_block == 0 {
            return Err("filters, hop, channels and convs_per_block must be non-zero and classes >= 2".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        let t = self.frames(self.crop()) >> self.channels.len();
        if t == 0 {
            return Err(format!(
                "crop of {} s leaves no frames after {} max-pools: use a longer crop",
                self.crop_seconds,
                self.channels.len()
            ));
        }
        Ok(())
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        param_specs(self).iter().filter(|s| s.kind != Kind::Running).map(|s| s.shape.iter().product::<usize>()).sum()
    }
}

fn mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}
fn imel(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// Mel-spaced Gabor initialisation (as in the PyTorch twin): (mu (F) rad/sample, sigma (F) samples).
pub fn mel_init(cfg: &Config) -> (Vec<f32>, Vec<f32>) {
    let (f, sr) = (cfg.filters, cfg.sample_rate as f64);
    let (lo, hi) = (mel(cfg.fmin as f64), mel(cfg.fmax as f64));
    let pts: Vec<f64> = (0..f + 2).map(|i| imel(lo + (hi - lo) * i as f64 / (f + 1) as f64)).collect();
    let mu = (0..f).map(|i| (2.0 * PI * pts[i + 1] / sr) as f32).collect();
    let sigma = (0..f)
        .map(|i| (sr * (2.0 * 2f64.ln()).sqrt() / (PI * (pts[i + 2] - pts[i]))) as f32)
        .collect();
    (mu, sigma)
}

/// The parameter groups transfer learning treats differently, by tensor name: `front` (the
/// Gabor filterbank `front.*` and its BatchNorm `norm.*`), `body` (the conv blocks `body.*`),
/// `head` (the classifier `head.*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Front,
    Body,
    Head,
}

impl Group {
    /// The group a tensor belongs to.
    pub fn of(name: &str) -> Group {
        if name.starts_with("head.") {
            Group::Head
        } else if name.starts_with("body.") {
            Group::Body
        } else {
            Group::Front
        }
    }
}

/// How training treats the groups (`wavnet train --freeze`, `--linear-probe`,
/// `--pretrained-lr-scale`). A frozen group gets no AdamW update at all (no weight decay
/// either: its values stay bit-identical) and its BatchNorm layers keep their running
/// statistics (momentum 0; they still normalise with the batch's statistics in training). The
/// pretrained groups (front, body) learn at `lr * pretrained_lr_scale`, the head at `lr`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    pub freeze_front: bool,
    pub freeze_body: bool,
    pub pretrained_lr_scale: f32,
}

impl Default for Transfer {
    fn default() -> Transfer {
        Transfer { freeze_front: false, freeze_body: false, pretrained_lr_scale: 1.0 }
    }
}

impl Transfer {
    /// Whether the group gets no updates.
    pub fn frozen(&self, g: Group) -> bool {
        match g {
            Group::Front => self.freeze_front,
            Group::Body => self.freeze_body,
            Group::Head => false,
        }
    }

    /// Whether training differs from plain training of every tensor at one learning rate.
    pub fn is_plain(&self) -> bool {
        *self == Transfer::default()
    }
}

/// What a named tensor is, which decides initialisation and weight decay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Conv or linear weight: initialised U(-1/sqrt(fan_in), +), weight decay applies.
    Weight { fan_in: usize },
    /// Linear bias: U(-1/sqrt(fan_in), +), no decay.
    Bias { fan_in: usize },
    /// BatchNorm scale (1) or shift (0), no decay.
    Norm { init: u8 },
    /// Filterbank parameters (mel init), no decay.
    Front,
    /// BatchNorm running statistic (not trained; mean 0, var 1).
    Running,
}

/// One named tensor of the model file.
#[derive(Clone, Debug)]
pub struct Spec {
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: Kind,
}

fn bn_specs(out: &mut Vec<Spec>, prefix: &str, c: usize) {
    for (n, kind) in [
        ("weight", Kind::Norm { init: 1 }),
        ("bias", Kind::Norm { init: 0 }),
        ("running_mean", Kind::Running),
        ("running_var", Kind::Running),
    ] {
        out.push(Spec { name: format!("{prefix}.{n}"), shape: vec![c], kind });
    }
}

/// Every tensor of the model, in a fixed order, with PyTorch names and layouts.
pub fn param_specs(cfg: &Config) -> Vec<Spec> {
    let f = cfg.filters;
    let mut s = vec![
        Spec { name: "front.mu".into(), shape: vec![f], kind: Kind::Front },
        Spec { name: "front.sigma".into(), shape: vec![f], kind: Kind::Front },
    ];
    bn_specs(&mut s, "norm", f);
    let mut cin = f;
    for (i, &co) in cfg.channels.iter().enumerate() {
        for j in 1..=cfg.convs_per_block {
            let ci = if j == 1 { cin } else { co };
            s.push(Spec { name: format!("body.{i}.conv{j}.weight"), shape: vec![co, ci, 3], kind: Kind::Weight { fan_in: ci * 3 } });
            bn_specs(&mut s, &format!("body.{i}.bn{j}"), co);
        }
        cin = co;
    }
    s.push(Spec { name: "head.weight".into(), shape: vec![cfg.classes, cin], kind: Kind::Weight { fan_in: cin } });
    s.push(Spec { name: "head.bias".into(), shape: vec![cfg.classes], kind: Kind::Bias { fan_in: cin } });
    s
}

/// Initial values of every tensor (PyTorch's default init distributions), from a seed.
pub fn init_tensors(cfg: &Config, seed: u64) -> BTreeMap<String, Vec<f32>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mu, sigma) = mel_init(cfg);
    param_specs(cfg)
        .into_iter()
        .map(|s| {
            let n: usize = s.shape.iter().product();
            let v = match s.kind {
                Kind::Weight { fan_in } | Kind::Bias { fan_in } => {
                    let bound = 1.0 / (fan_in as f32).sqrt();
                    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
                }
                Kind::Norm { init } => vec![init as f32; n],
                Kind::Running => vec![if s.name.ends_with("running_var") { 1.0 } else { 0.0 }; n],
                Kind::Front => if s.name.ends_with("mu") { mu.clone() } else { sigma.clone() },
            };
            (s.name, v)
        })
        .collect()
}

/// A tensor on the device with its gradient and AdamW moments (trainable), or a running
/// statistic (value only; the other buffers are empty).
pub struct Tensor<D: Device> {
    pub spec: Spec,
    pub value: D::Buf,
    pub grad: D::Buf,
    pub m: D::Buf,
    pub v: D::Buf,
}

/// An activation and its gradient, both (shape) on the device.
pub struct Act<D: Device> {
    pub v: D::Buf,
    pub g: D::Buf,
}

/// One conv -> BatchNorm -> ReLU layer: parameter indices and activations.
struct ConvLayer<D: Device> {
    ci: usize,
    co: usize,
    t: usize,
    w: usize,
    bn: [usize; 4], // weight, bias, running_mean, running_var
    conv: Act<D>,   // (B, Co, T)
    bn_out: Act<D>, // (B, Co, T)
    relu: Act<D>,   // (B, Co, T)
    mean: D::Buf,   // (Co)
    rstd: D::Buf,   // (Co)
}

struct Block<D: Device> {
    layers: Vec<ConvLayer<D>>,
    pool: Act<D>, // (B, Co, T/2)
}

/// The model on a device, with activations for a fixed batch size.
pub struct Model<D: Device> {
    pub dev: D,
    pub cfg: Config,
    /// Batch size the activations are allocated for.
    pub batch: usize,
    /// Samples per example (L).
    pub len: usize,
    /// Writing a value directly needs `values_changed()` afterwards (the fused eval forward
    /// holds a folded copy).
    pub tensors: Vec<Tensor<D>>,
    /// AdamW steps taken.
    pub step: u64,
    /// Frozen groups and the pretrained layers' learning-rate scale (default: plain training).
    pub transfer: Transfer,
    x: D::Buf,         // (B, L)
    kernel: Act<D>,    // (2F, W)
    y: Act<D>,         // (B, 2F, T)
    front: Act<D>,     // (B, F, T)
    norm: Act<D>,      // (B, F, T)
    norm_mean: D::Buf, // (F)
    norm_rstd: D::Buf, // (F)
    masked: Act<D>,    // (B, F, T): norm * mask, block 0's input when filter masking is on
    mask: D::Buf,      // (B, F): 0/1 filter mask of `set_filter_mask`
    /// Whether `mask` holds a mask set by `set_filter_mask` (train-mode forwards apply it).
    mask_set: bool,
    /// Whether the last forward applied the filter mask (block 0 then reads `masked`).
    used_filter_mask: std::cell::Cell<bool>,
    blocks: Vec<Block<D>>,
    pooled: Act<D>,    // (B, C)
    dropped: Act<D>,   // (B, C)
    logits: Act<D>,    // (B, K)
    targets: D::Buf,   // (B, K)
    losses: D::Buf,    // (B)
    /// Whether the last forward applied dropout (the head then reads `dropped`).
    used_dropout: std::cell::Cell<Option<u32>>,
    /// The device's fused eval forward (`Device::fused_eval`): None until the first eval-mode
    /// forward after the values changed, Some(None) where the device has none.
    fused: std::cell::RefCell<Option<Option<Box<dyn FusedEval>>>>,
    /// Whether eval-mode forwards may use it (`set_fused_eval`).
    fused_on: bool,
    /// Whether the last forward went through it (then only `logits` is current).
    last_fused: std::cell::Cell<bool>,
}

/// BatchNorm constants (PyTorch defaults).
pub const BN_EPS: f32 = 1e-5;
pub const BN_MOMENTUM: f32 = 0.1;

impl<D: Device> Model<D> {
    /// A model with the given tensor values (every tensor of `param_specs` must be present,
    /// with its shape), activations for `batch` examples of `len` samples.
    pub fn new(dev: D, cfg: Config, values: &BTreeMap<String, Vec<f32>>, batch: usize, len: usize) -> Result<Model<D>, String> {
        cfg.validate()?;
        let specs = param_specs(&cfg);
        let mut tensors = Vec::with_capacity(specs.len());
        for s in specs {
            let n: usize = s.shape.iter().product();
            let v = values.get(&s.name).ok_or_else(|| format!("tensor `{}` is missing", s.name))?;
            if v.len() != n {
                return Err(format!("tensor `{}` has {} values, expected {:?}", s.name, v.len(), s.shape));
            }
            let value = dev.alloc(n);
            dev.upload(&value, v);
            let trainable = s.kind != Kind::Running;
            let k = if trainable { n } else { 0 };
            tensors.push(Tensor { spec: s, value, grad: dev.alloc(k), m: dev.alloc(k), v: dev.alloc(k) });
        }
        let index = |name: &str| tensors.iter().position(|t| t.spec.name == name).expect("spec exists");
        let act = |n: usize| Act { v: dev.alloc(n), g: dev.alloc(n) };
        let (b, f, w) = (batch, cfg.filters, cfg.taps);
        let mut t = cfg.frames(len);
        if t >> cfg.channels.len() == 0 {
            return Err(format!("{len} samples are too short for this model"));
        }
        let mut blocks = Vec::new();
        let mut cin = f;
        for (i, &co) in cfg.channels.iter().enumerate() {
            let mut layers = Vec::new();
            for j in 1..=cfg.convs_per_block {
                let ci = if j == 1 { cin } else { co };
                let bn = ["weight", "bias", "running_mean", "running_var"].map(|n| index(&format!("body.{i}.bn{j}.{n}")));
                layers.push(ConvLayer {
                    ci,
                    co,
                    t,
                    w: index(&format!("body.{i}.conv{j}.weight")),
                    bn,
                    conv: act(b * co * t),
                    bn_out: act(b * co * t),
                    relu: act(b * co * t),
                    mean: dev.alloc(co),
                    rstd: dev.alloc(co),
                });
            }
            t /= 2;
            blocks.push(Block { layers, pool: act(b * co * t) });
            cin = co;
        }
        let t0 = cfg.frames(len);
        let k = cfg.classes;
        Ok(Model {
            x: dev.alloc(b * len),
            kernel: act(2 * f * w),
            y: act(b * 2 * f * t0),
            front: act(b * f * t0),
            norm: act(b * f * t0),
            norm_mean: dev.alloc(f),
            norm_rstd: dev.alloc(f),
            masked: act(b * f * t0),
            mask: dev.alloc(b * f),
            mask_set: false,
            used_filter_mask: std::cell::Cell::new(false),
            blocks,
            pooled: act(b * cin),
            dropped: act(b * cin),
            logits: act(b * k),
            targets: dev.alloc(b * k),
            losses: dev.alloc(b),
            used_dropout: std::cell::Cell::new(None),
            fused: std::cell::RefCell::new(None),
            fused_on: true,
            last_fused: std::cell::Cell::new(false),
            dev,
            cfg,
            batch,
            len,
            tensors,
            step: 0,
            transfer: Transfer::default(),
        })
    }

    fn idx(&self, name: &str) -> usize {
        self.tensors.iter().position(|t| t.spec.name == name).unwrap_or_else(|| panic!("no tensor `{name}`"))
    }
    fn p(&self, name: &str) -> &D::Buf {
        &self.tensors[self.idx(name)].value
    }

    /// SpecAugment-style filter masking for the following train-mode forwards: `mask` (B, F)
    /// of 0/1 factors (see `crate::specaug::filter_masks`) multiplies the output of the first
    /// BatchNorm (`norm`) before block 0. Uploaded here; `None` turns masking off (the default).
    /// Eval-mode forwards never mask.
    pub fn set_filter_mask(&mut self, mask: Option<Vec<f32>>) {
        match mask {
            Some(m) => {
                assert_eq!(m.len(), self.batch * self.cfg.filters, "set_filter_mask: mask must be (batch, filters)");
                self.dev.upload(&self.mask, &m);
                self.mask_set = true;
            }
            None => self.mask_set = false,
        }
    }

    /// Whether eval-mode forwards run through the device's fused path when it has one (the
    /// default; `cpu`: BatchNorm folded into the convs, see `crate::cpu::fused_eval`) or op by
    /// op (the reference the fused path is tested against).
    pub fn set_fused_eval(&mut self, on: bool) {
        self.fused_on = on;
    }

    /// Drops the fused eval forward, whose weights are a copy: call it after writing tensor
    /// values directly (`tensors[i].value`). Training steps and train-mode forwards call it.
    pub fn values_changed(&self) {
        self.fused.borrow_mut().take();
    }

    /// An eval-mode forward through the device's fused path, built from the current values on
    /// first use; false where there is none (or it is off), and the caller runs op by op.
    fn fused_forward(&self, x: &[f32]) -> bool {
        if !self.fused_on {
            return false;
        }
        let mut slot = self.fused.borrow_mut();
        let plan = slot.get_or_insert_with(|| self.dev.fused_eval(&self.cfg, &self.values(), self.batch, self.len));
        let Some(plan) = plan else { return false };
        let mut logits = vec![0.0; self.batch * self.cfg.classes];
        plan.forward(x, &mut logits);
        self.dev.upload(&self.logits.v, &logits);
        self.used_filter_mask.set(false);
        self.used_dropout.set(None);
        self.last_fused.set(true);
        true
    }

    /// Forward pass on `x` (B, L) (uploaded here). `train`: batch statistics (running
    /// statistics updated), the filter mask of `set_filter_mask` if one is set, and dropout
    /// with masks from `dropout_seed`; else eval mode, through the device's fused path when it
    /// has one (then only `logits` is updated, not the other activations).
    pub fn forward(&self, x: &[f32], train: bool, dropout_seed: u32) {
        self.forward_with(x, train, dropout_seed, None);
    }

    /// Re-estimates the running statistics of every BatchNorm layer (frozen or not) from
    /// `batches` of full (B, L) inputs: train-mode forwards with momentum 1/i for the i-th batch,
    /// so each running statistic becomes the mean of the batches' statistics (the first batch
    /// replaces what was there). No filter mask; parameters are untouched. Returns the batches
    /// used.
    pub fn reestimate_bn(&self, batches: impl IntoIterator<Item = Vec<f32>>) -> usize {
        let mut n = 0;
        for x in batches {
            n += 1;
            self.forward_with(&x, true, 0, Some(1.0 / n as f32));
        }
        n
    }

    /// `forward`; `stats_momentum`: BatchNorm re-estimation (this momentum for every layer, no
    /// filter mask) instead of the layers' own momentum (0 for frozen groups).
    fn forward_with(&self, x: &[f32], train: bool, dropout_seed: u32, stats_momentum: Option<f32>) {
        assert_eq!(x.len(), self.batch * self.len, "forward: input must be (batch, len)");
        if train {
            self.values_changed(); // running statistics move
        } else if self.fused_forward(x) {
            return;
        }
        self.last_fused.set(false);
        let momentum = |g: Group| match stats_momentum {
            Some(m) => m,
            None if self.transfer.frozen(g) => 0.0,
            None => BN_MOMENTUM,
        };
        let d = &self.dev;
        let (b, l, f, w, h) = (self.batch, self.len, self.cfg.filters, self.cfg.taps, self.cfg.hop);
        let t0 = self.cfg.frames(l);
        d.upload(&self.x, x);
        d.gabor_forward(&self.kernel.v, self.p("front.mu"), self.p("front.sigma"), f, w);
        d.filterbank_forward(&self.y.v, &self.x, &self.kernel.v, b, l, 2 * f, w, h, t0);
        d.log_energy_forward(&self.front.v, &self.y.v, b, f, t0);
        let nb = ["norm.weight", "norm.bias", "norm.running_mean", "norm.running_var"].map(|n| self.p(n));
        d.batchnorm_forward(
            &self.norm.v, &self.norm_mean, &self.norm_rstd, nb[2], nb[3], &self.front.v, nb[0], nb[1], b, f, t0, train,
            momentum(Group::Front), BN_EPS,
        );
        let mut h_in = if train && self.mask_set && stats_momentum.is_none() {
            d.filter_mask_forward(&self.masked.v, &self.norm.v, &self.mask, b, f, t0);
            self.used_filter_mask.set(true);
            &self.masked.v
        } else {
            self.used_filter_mask.set(false);
            &self.norm.v
        };
        for blk in &self.blocks {
            for ly in &blk.layers {
                let (co, t) = (ly.co, ly.t);
                let bn = ly.bn.map(|i| &self.tensors[i].value);
                d.conv1d_forward(&ly.conv.v, h_in, &self.tensors[ly.w].value, b, ly.ci, co, t);
                d.batchnorm_forward(
                    &ly.bn_out.v, &ly.mean, &ly.rstd, bn[2], bn[3], &ly.conv.v, bn[0], bn[1], b, co, t, train,
                    momentum(Group::Body), BN_EPS,
                );
                d.relu_forward(&ly.relu.v, &ly.bn_out.v, b * co * t);
                h_in = &ly.relu.v;
            }
            let last = blk.layers.last().expect("a block has layers");
            d.maxpool_forward(&blk.pool.v, h_in, b, last.co, last.t);
            h_in = &blk.pool.v;
        }
        let (c, tl) = self.last_shape();
        d.globalpool_forward(&self.pooled.v, h_in, b, c, tl);
        let p = self.cfg.dropout;
        let head_in = if train && p > 0.0 {
            d.dropout_forward(&self.dropped.v, &self.pooled.v, b * c, p, dropout_seed);
            self.used_dropout.set(Some(dropout_seed));
            &self.dropped.v
        } else {
            self.used_dropout.set(None);
            &self.pooled.v
        };
        d.linear_forward(&self.logits.v, head_in, self.p("head.weight"), self.p("head.bias"), b, c, self.cfg.classes);
    }

    /// Channels and frames of the last block's output.
    fn last_shape(&self) -> (usize, usize) {
        let last = self.blocks.last().expect("a model has blocks").layers.last().expect("layers");
        (last.co, last.t / 2)
    }

    /// Loss (the config's: softmax cross-entropy or per-class binary cross-entropy) and every
    /// gradient for soft `targets` (B, K), after a train-mode `forward`. Gradients nothing
    /// trainable needs are skipped: the front end's when it is frozen, and the body's too when
    /// both are (their gradient buffers then hold stale values).
    pub fn backward(&self, targets: &[f32]) {
        let d = &self.dev;
        let (b, l, f, w, h, k) = (self.batch, self.len, self.cfg.filters, self.cfg.taps, self.cfg.hop, self.cfg.classes);
        let t0 = self.cfg.frames(l);
        let g = |name: &str| &self.tensors[self.idx(name)].grad;
        d.upload(&self.targets, targets);
        match self.cfg.loss {
            Loss::Softmax => d.softmax_ce_forward_backward(&self.losses, &self.logits.g, &self.logits.v, &self.targets, b, k),
            Loss::Sigmoid => d.sigmoid_bce_forward_backward(&self.losses, &self.logits.g, &self.logits.v, &self.targets, b, k),
        }
        let (c, tl) = self.last_shape();
        let seed = self.used_dropout.get();
        let head_in = if seed.is_some() { &self.dropped } else { &self.pooled };
        d.linear_backward(&head_in.g, g("head.weight"), g("head.bias"), &self.logits.g, &head_in.v, self.p("head.weight"), b, c, k);
        if self.transfer.freeze_front && self.transfer.freeze_body {
            return;
        }
        if let Some(seed) = seed {
            d.dropout_backward(&self.pooled.g, &self.dropped.g, b * c, self.cfg.dropout, seed);
        }
        let last_pool = &self.blocks.last().expect("blocks").pool;
        d.globalpool_backward(&last_pool.g, &self.pooled.g, &last_pool.v, b, c, tl);
        for (i, blk) in self.blocks.iter().enumerate().rev() {
            let last = blk.layers.last().expect("layers");
            d.maxpool_backward(&last.relu.g, &blk.pool.g, &last.relu.v, b, last.co, last.t);
            for (j, ly) in blk.layers.iter().enumerate().rev() {
                let (co, t) = (ly.co, ly.t);
                let n = b * co * t;
                d.relu_backward(&ly.bn_out.g, &ly.relu.g, &ly.relu.v, n);
                let tw = &self.tensors[ly.bn[0]];
                let tb = &self.tensors[ly.bn[1]];
                d.batchnorm_backward(
                    &ly.conv.g, &tw.grad, &tb.grad, &ly.bn_out.g, &ly.conv.v, &ly.mean, &ly.rstd, &tw.value, b, co, t,
                );
                // The input of this layer: the previous layer, the previous block's pool, or the
                // (masked) norm.
                let x_in = if j > 0 {
                    &blk.layers[j - 1].relu
                } else if i > 0 {
                    &self.blocks[i - 1].pool
                } else if self.used_filter_mask.get() {
                    &self.masked
                } else {
                    &self.norm
                };
                let tw = &self.tensors[ly.w];
                d.conv1d_backward(&x_in.g, &tw.grad, &ly.conv.g, &x_in.v, &tw.value, b, ly.ci, co, t);
            }
        }
        if self.transfer.freeze_front {
            return;
        }
        if self.used_filter_mask.get() {
            d.filter_mask_backward(&self.norm.g, &self.masked.g, &self.mask, b, f, t0);
        }
        d.batchnorm_backward(
            &self.front.g, g("norm.weight"), g("norm.bias"), &self.norm.g, &self.front.v, &self.norm_mean, &self.norm_rstd,
            self.p("norm.weight"), b, f, t0,
        );
        d.log_energy_backward(&self.y.g, &self.front.g, &self.y.v, b, f, t0);
        d.filterbank_backward(&self.kernel.g, &self.y.g, &self.x, b, l, 2 * f, w, h, t0);
        d.gabor_backward(g("front.mu"), g("front.sigma"), &self.kernel.g, self.p("front.mu"), self.p("front.sigma"), f, w);
    }

    /// One AdamW step on every trainable tensor; weight decay only on conv and linear weights.
    /// Under `transfer`: frozen groups are skipped entirely, the others but the head learn at
    /// `lr * pretrained_lr_scale` (decay included, as AdamW scales it by the rate).
    pub fn adamw_step(&mut self, lr: f32, weight_decay: f32) {
        self.values_changed();
        self.step += 1;
        let (b1, b2) = (0.9f32, 0.999f32);
        let s = self.step as i32;
        for t in self.tensors.iter().filter(|t| t.spec.kind != Kind::Running) {
            let group = Group::of(&t.spec.name);
            if self.transfer.frozen(group) {
                continue;
            }
            let lr = if group == Group::Head { lr } else { lr * self.transfer.pretrained_lr_scale };
            let wd = if matches!(t.spec.kind, Kind::Weight { .. }) { weight_decay } else { 0.0 };
            let hp = AdamW { lr, beta1: b1, beta2: b2, eps: 1e-8, weight_decay: wd, bc1: 1.0 - b1.powi(s), bc2: 1.0 - b2.powi(s) };
            let n = t.spec.shape.iter().product();
            self.dev.adamw_step(&t.value, &t.m, &t.v, &t.grad, n, &hp);
        }
    }

    /// Mean loss of the valid `rows` of the last backward (reads back B floats).
    pub fn loss(&self, rows: usize) -> f32 {
        let l = self.dev.download(&self.losses);
        l[..rows].iter().sum::<f32>() / rows as f32
    }

    /// Logits (B, K) of the last forward.
    pub fn logits(&self) -> Vec<f32> {
        self.dev.download(&self.logits.v)
    }

    /// An activation of the last forward by name: front, norm, masked (norm after the filter
    /// mask; only meaningful when the last forward applied one), block{i}, pooled, logits.
    /// After an eval-mode forward through a fused path (`set_fused_eval`) only logits is current,
    /// and asking for another activation panics (a programming error, not stale data).
    pub fn activation(&self, name: &str) -> Option<Vec<f32>> {
        assert!(
            name == "logits" || !self.last_fused.get(),
            "activation `{name}`: the last forward was the fused eval forward, which keeps no activations \
             (call set_fused_eval(false) before an eval forward whose activations you read)"
        );
        let buf = match name {
            "front" => &self.front.v,
            "norm" => &self.norm.v,
            "masked" => &self.masked.v,
            "pooled" => &self.pooled.v,
            "logits" => &self.logits.v,
            _ => &self.blocks.get(name.strip_prefix("block")?.parse::<usize>().ok()?)?.pool.v,
        };
        Some(self.dev.download(buf))
    }

    /// Current values of every tensor (parameters and running statistics), by name.
    pub fn values(&self) -> BTreeMap<String, Vec<f32>> {
        self.tensors.iter().map(|t| (t.spec.name.clone(), self.dev.download(&t.value))).collect()
    }

    /// Replaces the value of every tensor (parameters and running statistics) by `values`'s,
    /// which must hold each by name at its size; the optimizer state is kept.
    pub fn set_values(&self, values: &BTreeMap<String, Vec<f32>>) -> Result<(), String> {
        for t in &self.tensors {
            let v = values.get(&t.spec.name).ok_or_else(|| format!("no value for `{}`", t.spec.name))?;
            let n: usize = t.spec.shape.iter().product();
            if v.len() != n {
                return Err(format!("`{}` has {} values, expected {n}", t.spec.name, v.len()));
            }
        }
        for t in &self.tensors {
            self.dev.upload(&t.value, &values[&t.spec.name]);
        }
        self.values_changed();
        Ok(())
    }

    /// Gradients of every trainable tensor, by name.
    pub fn grads(&self) -> BTreeMap<String, Vec<f32>> {
        self.tensors
            .iter()
            .filter(|t| t.spec.kind != Kind::Running)
            .map(|t| (t.spec.name.clone(), self.dev.download(&t.grad)))
            .collect()
    }

    /// AdamW moments (m, v) of every trainable tensor, by name, for checkpoints.
    pub fn moments(&self) -> BTreeMap<String, (Vec<f32>, Vec<f32>)> {
        self.tensors
            .iter()
            .filter(|t| t.spec.kind != Kind::Running)
            .map(|t| (t.spec.name.clone(), (self.dev.download(&t.m), self.dev.download(&t.v))))
            .collect()
    }

    /// Restores AdamW moments and the step count (from a checkpoint).
    pub fn set_moments(&mut self, moments: &BTreeMap<String, (Vec<f32>, Vec<f32>)>, step: u64) -> Result<(), String> {
        for t in self.tensors.iter().filter(|t| t.spec.kind != Kind::Running) {
            let (m, v) = moments.get(&t.spec.name).ok_or_else(|| format!("optimizer state for `{}` is missing", t.spec.name))?;
            let n: usize = t.spec.shape.iter().product();
            if m.len() != n || v.len() != n {
                return Err(format!("optimizer state for `{}` has the wrong size", t.spec.name));
            }
            self.dev.upload(&t.m, m);
            self.dev.upload(&t.v, v);
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wavnet_s_has_the_twins_parameter_count_and_frame_counts() {
        let cfg = Config::wavnet_s(16000, 10);
        assert_eq!(cfg.parameter_count(), 496_650);
        assert_eq!(cfg.frames(16000), 101);
        assert_eq!(cfg.crop(), 32000);
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn mel_init_is_capped_below_nyquist() {
        let cfg = Config::wavnet_s(8000, 10);
        assert!(cfg.fmax < 4000.0 && cfg.fmax > 3800.0, "{}", cfg.fmax);
        let (mu, sigma) = mel_init(&cfg);
        assert!(mu.windows(2).all(|w| w[0] < w[1]), "centre frequencies rise");
        assert!(*mu.last().unwrap() < std::f32::consts::PI && sigma.iter().all(|s| *s > 0.0));
    }

    #[test]
    fn a_crop_too_short_for_the_pools_is_refused_with_a_reason() {
        let mut cfg = Config::wavnet_s(16000, 10);
        cfg.crop_seconds = 0.05;
        assert!(cfg.validate().unwrap_err().contains("longer crop"));
    }
}
