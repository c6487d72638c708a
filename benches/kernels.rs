//! Kernel benchmarks: every op of `Device` (forward and each backward) on the `gpu` device
//! (WGSL through wgpu) and the `cpu` device (rayon twin), at the default model's shapes
//! (batch 32 x 2 s at 16 kHz) and at a small shape (batch 2 x 0.25 s) that runs quickly on a
//! software adapter; with `--full`, the gpu at batch 256 too. One row per (op, shape,
//! device): median time per call after a warm-up, GFLOP/s and GB/s from analytic counts
//! (`Op::flops`, `Op::bytes`). Then the variants of conv1d and filterbank forward side by side
//! (plain at several workgroup sizes, and the shared-memory tiled kernel at several tile
//! sizes), each validated against the cpu twin first, naming the faster one on this adapter,
//! and a summary: one training step's worth of ops per device.
//!
//! Run: `cargo bench --bench kernels [-- FLAGS]`, or the same flags in `WAVNET_KERNELS`:
//!   --small-only  gpu at the small shape only (the default on software adapters, e.g. lavapipe)
//!   --full        gpu at the default shapes and at batch 256 x 2 s too (the default on
//!                 hardware adapters)
//!   --cpu-only / --gpu-only   time one device (the cpu twin still validates gpu variants)
//!   --iters N     timed calls per row (median; default 15, fewer for calls over 0.5 s)
//!
//! GPU times come from timestamp queries around each call's compute passes
//! (`GpuDevice::time`) where the adapter has `TIMESTAMP_QUERY`, else from the wall clock with
//! the queue drained. CPU times are wall clock; calls shorter than 0.5 ms are repeated and
//! averaged within each sample.
use std::time::{Duration, Instant};

use wavnet::cpu::CpuDevice;
use wavnet::device::{hash_u32, AdamW, Device};
use wavnet::gpu::{GpuDevice, Tuning};
use wavnet::model::{param_specs, Config, Kind};

/// Reference for the cpu side: this machine's measured f32 matmul limit (rayon, 2 threads,
/// 1024^3 i-k-j loop: 24.8 GFLOP/s; shared/notes/platform.md).
const CPU_REF_GFLOPS: f64 = 25.0;
/// Workgroup sizes tried for the variant kernels (64 is the wrappers' default).
const WG_VARIANTS: [u32; 4] = [32, 64, 128, 256];
/// Bytes per f32.
const F: f64 = 4.0;

// ------------------------------------------------------------------------------------ ops

/// One call of one op at one shape. Sizes follow the legend of `src/device.rs`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Gabor { bwd: bool, f: usize, w: usize },
    Filterbank { bwd: bool, b: usize, l: usize, k2: usize, w: usize, h: usize, t: usize },
    LogEnergy { bwd: bool, b: usize, f: usize, t: usize },
    BatchnormFwd { train: bool, b: usize, c: usize, t: usize },
    BatchnormBwd { b: usize, c: usize, t: usize },
    Relu { bwd: bool, n: usize },
    Conv1d { bwd: bool, b: usize, ci: usize, co: usize, t: usize },
    Maxpool { bwd: bool, b: usize, c: usize, t: usize },
    Globalpool { bwd: bool, b: usize, c: usize, t: usize },
    Dropout { bwd: bool, n: usize },
    FilterMask { bwd: bool, b: usize, f: usize, t: usize },
    Linear { bwd: bool, b: usize, c: usize, k: usize },
    SoftmaxCe { b: usize, k: usize },
    Adamw { n: usize },
}

fn dir(bwd: bool) -> &'static str {
    if bwd {
        "bwd"
    } else {
        "fwd"
    }
}

impl Op {
    fn name(&self) -> String {
        match *self {
            Op::Gabor { bwd, .. } => format!("gabor {}", dir(bwd)),
            Op::Filterbank { bwd, .. } => format!("filterbank {}", dir(bwd)),
            Op::LogEnergy { bwd, .. } => format!("log_energy {}", dir(bwd)),
            Op::BatchnormFwd { train: true, .. } => "batchnorm fwd train".into(),
            Op::BatchnormFwd { train: false, .. } => "batchnorm fwd eval".into(),
            Op::BatchnormBwd { .. } => "batchnorm bwd".into(),
            Op::Relu { bwd, .. } => format!("relu {}", dir(bwd)),
            Op::Conv1d { bwd, .. } => format!("conv1d {}", dir(bwd)),
            Op::Maxpool { bwd, .. } => format!("maxpool {}", dir(bwd)),
            Op::Globalpool { bwd, .. } => format!("globalpool {}", dir(bwd)),
            Op::Dropout { bwd, .. } => format!("dropout {}", dir(bwd)),
            Op::FilterMask { bwd, .. } => format!("filter_mask {}", dir(bwd)),
            Op::Linear { bwd, .. } => format!("linear {}", dir(bwd)),
            Op::SoftmaxCe { .. } => "softmax_ce fwd+bwd".into(),
            Op::Adamw { .. } => "adamw".into(),
        }
    }

    fn shape(&self) -> String {
        match *self {
            Op::Gabor { f, w, .. } => format!("F={f} W={w}"),
            Op::Filterbank { b, l, k2, w, h, t, .. } => format!("B={b} L={l} 2F={k2} W={w} H={h} T={t}"),
            Op::LogEnergy { b, f, t, .. } | Op::FilterMask { b, f, t, .. } => format!("B={b} F={f} T={t}"),
            Op::BatchnormFwd { b, c, t, .. } | Op::BatchnormBwd { b, c, t } => format!("B={b} C={c} T={t}"),
            Op::Relu { n, .. } | Op::Dropout { n, .. } | Op::Adamw { n } => format!("N={n}"),
            Op::Conv1d { b, ci, co, t, .. } => format!("B={b} Ci={ci} Co={co} T={t}"),
            Op::Maxpool { b, c, t, .. } | Op::Globalpool { b, c, t, .. } => format!("B={b} C={c} T={t}"),
            Op::Linear { b, c, k, .. } => format!("B={b} C={c} K={k}"),
            Op::SoftmaxCe { b, k } => format!("B={b} K={k}"),
        }
    }

    /// Floating-point operations of one call, counted analytically (a multiply-add is 2, a
    /// transcendental (exp, ln, sin, cos, sqrt) or a compare is 1; integer hashing is 0).
    fn flops(&self) -> f64 {
        let v = match *self {
            // per tap: n^2, /2s^2, exp, *norm, mu*n, cos, sin, 2 products = 9 per (f, j)
            Op::Gabor { bwd: false, f, w } => 9 * f * w,
            // recompute (9) + d/dmu (6) + d/dsigma (8) + accumulate (1) = 24 per (f, j)
            Op::Gabor { bwd: true, f, w } => 24 * f * w,
            // a (B*T, W) x (W, 2F) product: 2 per (b, k, t, j), the zero-padded taps included
            Op::Filterbank { b, k2, w, t, .. } => 2 * b * k2 * t * w,
            // re^2 + im^2 + eps (4) and ln (1) per output
            Op::LogEnergy { bwd: false, b, f, t } => 5 * b * f * t,
            // energy (4), reciprocal (1), two scaled products (4) per output
            Op::LogEnergy { bwd: true, b, f, t } => 9 * b * f * t,
            // mean (1) + variance (3) + folded scale-and-shift (2) per element
            Op::BatchnormFwd { train: true, b, c, t } => 6 * b * c * t,
            // folded scale-and-shift per element
            Op::BatchnormFwd { train: false, b, c, t } => 2 * b * c * t,
            // dbias (1), xhat (2), dweight (2), dx (4) per element
            Op::BatchnormBwd { b, c, t } => 9 * b * c * t,
            // one max / select per element
            Op::Relu { n, .. } => n,
            // 2 per (b, o, i, k, t)
            Op::Conv1d { bwd: false, b, ci, co, t } => 2 * b * co * ci * 3 * t,
            // dx and dw: twice the forward
            Op::Conv1d { bwd: true, b, ci, co, t } => 4 * b * co * ci * 3 * t,
            // one compare per output pair
            Op::Maxpool { b, c, t, .. } => b * c * (t / 2),
            // sum and max per element, mean + max per output
            Op::Globalpool { bwd: false, b, c, t } => 2 * b * c * t + 2 * b * c,
            // argmax compare and the scaled write per element
            Op::Globalpool { bwd: true, b, c, t } => 2 * b * c * t,
            // one scale per element (the mask is an integer hash)
            Op::Dropout { n, .. } => n,
            // one multiply per element
            Op::FilterMask { b, f, t, .. } => b * f * t,
            // x w^T + bias
            Op::Linear { bwd: false, b, c, k } => 2 * b * c * k + b * k,
            // dx = dout w, dw = dout^T x, dbias
            Op::Linear { bwd: true, b, c, k } => 4 * b * c * k + b * k,
            // max, exp, sum, target products and sum, p*s - y over B: 11 per logit
            Op::SoftmaxCe { b, k } => 11 * b * k,
            // decay 2, m 3, v 4, bias corrections, sqrt, eps, divide, lr, subtract 7
            Op::Adamw { n } => 16 * n,
        };
        v as f64
    }

    /// The least bytes one call must move: every input read once, every output written once
    /// (f32). Per-channel vectors of a few hundred floats are left out.
    fn bytes(&self) -> f64 {
        let v = match *self {
            // read mu, sigma; write kernel (2F, W)
            Op::Gabor { bwd: false, f, w } => 2 * f + 2 * f * w,
            // read dkernel (2F, W), mu, sigma; write dmu, dsigma
            Op::Gabor { bwd: true, f, w } => 2 * f * w + 4 * f,
            // read x (B, L), kernel (2F, W); write y (B, 2F, T)
            Op::Filterbank { bwd: false, b, l, k2, w, t, .. } => b * l + k2 * w + b * k2 * t,
            // read dy (B, 2F, T), x (B, L); write dkernel (2F, W)
            Op::Filterbank { bwd: true, b, l, k2, w, t, .. } => b * k2 * t + b * l + k2 * w,
            // read y (B, 2F, T); write out (B, F, T)
            Op::LogEnergy { bwd: false, b, f, t } => 3 * b * f * t,
            // read dout (B, F, T), y (B, 2F, T); write dy (B, 2F, T)
            Op::LogEnergy { bwd: true, b, f, t } => 5 * b * f * t,
            // read x, write out
            Op::BatchnormFwd { b, c, t, .. } => 2 * b * c * t,
            // read dout, x; write dx
            Op::BatchnormBwd { b, c, t } => 3 * b * c * t,
            // read x, write out
            Op::Relu { bwd: false, n } => 2 * n,
            // read dout, out; write dx
            Op::Relu { bwd: true, n } => 3 * n,
            // read x (B, Ci, T), w (Co, Ci, 3); write out (B, Co, T)
            Op::Conv1d { bwd: false, b, ci, co, t } => b * ci * t + co * ci * 3 + b * co * t,
            // read dout, x, w; write dx, dw
            Op::Conv1d { bwd: true, b, ci, co, t } => b * co * t + 2 * b * ci * t + 2 * co * ci * 3,
            // read x (B, C, T); write out (B, C, T/2)
            Op::Maxpool { bwd: false, b, c, t } => b * c * t + b * c * (t / 2),
            // read x, dout (B, C, T/2); write dx (B, C, T)
            Op::Maxpool { bwd: true, b, c, t } => 2 * b * c * t + b * c * (t / 2),
            // read x (B, C, T); write out (B, C)
            Op::Globalpool { bwd: false, b, c, t } => b * c * t + b * c,
            // read x, dout (B, C); write dx (B, C, T)
            Op::Globalpool { bwd: true, b, c, t } => 2 * b * c * t + b * c,
            // read x (dout), write out (dx)
            Op::Dropout { n, .. } => 2 * n,
            // read x (dout) and the (B, F) mask, write out (dx)
            Op::FilterMask { b, f, t, .. } => 2 * b * f * t + b * f,
            // read x (B, C), w (K, C), bias; write out (B, K)
            Op::Linear { bwd: false, b, c, k } => b * c + k * c + k + b * k,
            // read dout, x, w; write dx, dw, dbias
            Op::Linear { bwd: true, b, c, k } => b * k + 2 * b * c + 2 * k * c + k,
            // read logits, targets; write dlogits, losses
            Op::SoftmaxCe { b, k } => 3 * b * k + b,
            // read param, m, v, grad; write param, m, v
            Op::Adamw { n } => 7 * n,
        };
        v as f64 * F
    }

    /// Allocates seeded inputs on `dev` and returns one call of the op.
    fn prepare<'a, D: Device>(&self, dev: &'a D) -> Box<dyn Fn() + 'a>
    where
        D::Buf: 'a,
    {
        let r = |n: usize, seed: u32| rand_buf(dev, n, seed, -1.0, 1.0);
        let pos = |n: usize, seed: u32| rand_buf(dev, n, seed, 0.5, 1.5);
        let z = |n: usize| dev.alloc(n);
        match *self {
            Op::Gabor { bwd, f, w } => {
                let (mu, sigma) = (rand_buf(dev, f, 1, 0.05, 3.0), rand_buf(dev, f, 2, 3.0, w as f32 / 2.0));
                if bwd {
                    let (dmu, dsigma, dk) = (z(f), z(f), r(2 * f * w, 3));
                    Box::new(move || dev.gabor_backward(&dmu, &dsigma, &dk, &mu, &sigma, f, w))
                } else {
                    let k = z(2 * f * w);
                    Box::new(move || dev.gabor_forward(&k, &mu, &sigma, f, w))
                }
            }
            Op::Filterbank { bwd, b, l, k2, w, h, t } => {
                let x = r(b * l, 1);
                if bwd {
                    let (dk, dy) = (z(k2 * w), r(b * k2 * t, 2));
                    Box::new(move || dev.filterbank_backward(&dk, &dy, &x, b, l, k2, w, h, t))
                } else {
                    let (y, k) = (z(b * k2 * t), r(k2 * w, 2));
                    Box::new(move || dev.filterbank_forward(&y, &x, &k, b, l, k2, w, h, t))
                }
            }
            Op::LogEnergy { bwd, b, f, t } => {
                let y = r(b * 2 * f * t, 1);
                if bwd {
                    let (dy, dout) = (z(b * 2 * f * t), r(b * f * t, 2));
                    Box::new(move || dev.log_energy_backward(&dy, &dout, &y, b, f, t))
                } else {
                    let out = z(b * f * t);
                    Box::new(move || dev.log_energy_forward(&out, &y, b, f, t))
                }
            }
            Op::BatchnormFwd { train, b, c, t } => {
                let (out, mean, rstd) = (z(b * c * t), z(c), z(c));
                let (rm, rv, x, wt, bias) = (r(c, 1), pos(c, 2), r(b * c * t, 3), pos(c, 4), r(c, 5));
                Box::new(move || {
                    dev.batchnorm_forward(&out, &mean, &rstd, &rm, &rv, &x, &wt, &bias, b, c, t, train, 0.1, 1e-5)
                })
            }
            Op::BatchnormBwd { b, c, t } => {
                let (dx, dw, db) = (z(b * c * t), z(c), z(c));
                let (dout, x, mean, rstd, wt) = (r(b * c * t, 1), r(b * c * t, 2), r(c, 3), pos(c, 4), pos(c, 5));
                Box::new(move || dev.batchnorm_backward(&dx, &dw, &db, &dout, &x, &mean, &rstd, &wt, b, c, t))
            }
            Op::Relu { bwd, n } => {
                let (o, a) = (z(n), r(n, 1));
                if bwd {
                    let out = r(n, 2);
                    Box::new(move || dev.relu_backward(&o, &a, &out, n))
                } else {
                    Box::new(move || dev.relu_forward(&o, &a, n))
                }
            }
            Op::Conv1d { bwd, b, ci, co, t } => {
                let (x, w) = (r(b * ci * t, 1), r(co * ci * 3, 2));
                if bwd {
                    let (dx, dw, dout) = (z(b * ci * t), z(co * ci * 3), r(b * co * t, 3));
                    Box::new(move || dev.conv1d_backward(&dx, &dw, &dout, &x, &w, b, ci, co, t))
                } else {
                    let out = z(b * co * t);
                    Box::new(move || dev.conv1d_forward(&out, &x, &w, b, ci, co, t))
                }
            }
            Op::Maxpool { bwd, b, c, t } => {
                let x = r(b * c * t, 1);
                if bwd {
                    let (dx, dout) = (z(b * c * t), r(b * c * (t / 2), 2));
                    Box::new(move || dev.maxpool_backward(&dx, &dout, &x, b, c, t))
                } else {
                    let out = z(b * c * (t / 2));
                    Box::new(move || dev.maxpool_forward(&out, &x, b, c, t))
                }
            }
            Op::Globalpool { bwd, b, c, t } => {
                let x = r(b * c * t, 1);
                if bwd {
                    let (dx, dout) = (z(b * c * t), r(b * c, 2));
                    Box::new(move || dev.globalpool_backward(&dx, &dout, &x, b, c, t))
                } else {
                    let out = z(b * c);
                    Box::new(move || dev.globalpool_forward(&out, &x, b, c, t))
                }
            }
            Op::Dropout { bwd, n } => {
                let (o, a) = (z(n), r(n, 1));
                if bwd {
                    Box::new(move || dev.dropout_backward(&o, &a, n, 0.2, 7))
                } else {
                    Box::new(move || dev.dropout_forward(&o, &a, n, 0.2, 7))
                }
            }
            Op::FilterMask { bwd, b, f, t } => {
                let (o, a, mask) = (z(b * f * t), r(b * f * t, 1), r(b * f, 2));
                if bwd {
                    Box::new(move || dev.filter_mask_backward(&o, &a, &mask, b, f, t))
                } else {
                    Box::new(move || dev.filter_mask_forward(&o, &a, &mask, b, f, t))
                }
            }
            Op::Linear { bwd, b, c, k } => {
                let (x, w) = (r(b * c, 1), r(k * c, 2));
                if bwd {
                    let (dx, dw, db, dout) = (z(b * c), z(k * c), z(k), r(b * k, 3));
                    Box::new(move || dev.linear_backward(&dx, &dw, &db, &dout, &x, &w, b, c, k))
                } else {
                    let (out, bias) = (z(b * k), r(k, 3));
                    Box::new(move || dev.linear_forward(&out, &x, &w, &bias, b, c, k))
                }
            }
            Op::SoftmaxCe { b, k } => {
                let (losses, dl, logits, tg) = (z(b), z(b * k), r(b * k, 1), rand_buf(dev, b * k, 2, 0.0, 1.0));
                Box::new(move || dev.softmax_ce_forward_backward(&losses, &dl, &logits, &tg, b, k))
            }
            Op::Adamw { n } => {
                let (p, m, v, g) = (r(n, 1), r(n, 2), pos(n, 3), r(n, 4));
                let hp =
                    AdamW { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-2, bc1: 0.1, bc2: 1e-3 };
                Box::new(move || dev.adamw_step(&p, &m, &v, &g, n, &hp))
            }
        }
    }
}

/// `n` floats uniform in [lo, hi) from a counter hash (the same on every device).
fn rand_vec(n: usize, seed: u32, lo: f32, hi: f32) -> Vec<f32> {
    let s = hash_u32(seed.wrapping_mul(0x9e37_79b9) ^ 0x5bd1_e995);
    (0..n as u32).map(|i| lo + (hi - lo) * (hash_u32(i ^ s) >> 8) as f32 / 16_777_216.0).collect()
}

fn rand_buf<D: Device>(dev: &D, n: usize, seed: u32, lo: f32, hi: f32) -> D::Buf {
    let b = dev.alloc(n);
    dev.upload(&b, &rand_vec(n, seed, lo, hi));
    b
}

// ------------------------------------------------------------------------------ the model

/// Every op call of one training step (forward in train mode, backward, AdamW) of the
/// default model (`Config::wavnet_s`, 10 classes) at `batch` x `seconds`, as distinct
/// (op, shape) with the number of calls per step; eval-mode BatchNorm rows are added with a
/// count of 0 (benchmarked, not part of a step). Mirrors `Model::forward` / `backward`.
fn step_ops(batch: usize, seconds: f32) -> (String, Vec<(Op, f64)>) {
    let mut cfg = Config::wavnet_s(16000, 10);
    cfg.crop_seconds = seconds;
    let (b, l, f, w, h, k) = (batch, cfg.crop(), cfg.filters, cfg.taps, cfg.hop, cfg.classes);
    let t0 = cfg.frames(l);
    let mut fwd = vec![
        Op::Gabor { bwd: false, f, w },
        Op::Filterbank { bwd: false, b, l, k2: 2 * f, w, h, t: t0 },
        Op::LogEnergy { bwd: false, b, f, t: t0 },
        Op::BatchnormFwd { train: true, b, c: f, t: t0 },
        Op::FilterMask { bwd: false, b, f, t: t0 },
    ];
    let bwd = vec![
        Op::FilterMask { bwd: true, b, f, t: t0 },
        Op::BatchnormBwd { b, c: f, t: t0 },
        Op::LogEnergy { bwd: true, b, f, t: t0 },
        Op::Filterbank { bwd: true, b, l, k2: 2 * f, w, h, t: t0 },
        Op::Gabor { bwd: true, f, w },
    ];
    let mut layer_bwd = Vec::new();
    let (mut cin, mut t) = (f, t0);
    for &co in &cfg.channels {
        for j in 1..=cfg.convs_per_block {
            let ci = if j == 1 { cin } else { co };
            let n = b * co * t;
            fwd.extend([
                Op::Conv1d { bwd: false, b, ci, co, t },
                Op::BatchnormFwd { train: true, b, c: co, t },
                Op::Relu { bwd: false, n },
            ]);
            layer_bwd.extend([
                Op::Relu { bwd: true, n },
                Op::BatchnormBwd { b, c: co, t },
                Op::Conv1d { bwd: true, b, ci, co, t },
            ]);
        }
        fwd.push(Op::Maxpool { bwd: false, b, c: co, t });
        layer_bwd.push(Op::Maxpool { bwd: true, b, c: co, t });
        t /= 2;
        cin = co;
    }
    fwd.extend([
        Op::Globalpool { bwd: false, b, c: cin, t },
        Op::Dropout { bwd: false, n: b * cin },
        Op::Linear { bwd: false, b, c: cin, k },
    ]);
    let head_bwd = [
        Op::SoftmaxCe { b, k },
        Op::Linear { bwd: true, b, c: cin, k },
        Op::Dropout { bwd: true, n: b * cin },
        Op::Globalpool { bwd: true, b, c: cin, t },
    ];
    // AdamW: the model makes one call per trainable tensor; one row for all of them at once
    // (per-call launch costs are not included).
    let params: usize =
        param_specs(&cfg).iter().filter(|s| s.kind != Kind::Running).map(|s| s.shape.iter().product::<usize>()).sum();
    let mut all: Vec<(Op, f64)> = Vec::new();
    let mut add = |op: Op, count: f64| match all.iter_mut().find(|(o, _)| *o == op) {
        Some((_, c)) => *c += count,
        None => all.push((op, count)),
    };
    for op in fwd.iter().chain(&head_bwd).chain(&layer_bwd).chain(&bwd) {
        add(*op, 1.0);
    }
    for op in &fwd {
        if let Op::BatchnormFwd { b, c, t, .. } = *op {
            add(Op::BatchnormFwd { train: false, b, c, t }, 0.0);
        }
    }
    add(Op::Adamw { n: params }, 1.0);
    // Group the rows by op, in the order the ops first appear.
    let order: Vec<String> = all.iter().map(|(o, _)| o.name()).fold(Vec::new(), |mut v, n| {
        if !v.contains(&n) {
            v.push(n);
        }
        v
    });
    all.sort_by_key(|(o, _)| order.iter().position(|n| *n == o.name()));
    (format!("batch {batch} x {seconds} s (L={l}, T={t0})"), all)
}

// ------------------------------------------------------------------------------ timing

trait Timed: Device {
    /// Device time of one call (`f` enqueues work on this device).
    fn time_call(&self, f: &dyn Fn()) -> Duration;
    /// Calls per timed sample (CPU: repeat short calls so the clock resolves them).
    fn repeats(&self, one: Duration) -> u32;
}

impl Timed for CpuDevice {
    fn time_call(&self, f: &dyn Fn()) -> Duration {
        let start = Instant::now();
        f();
        self.sync();
        start.elapsed()
    }
    fn repeats(&self, one: Duration) -> u32 {
        (500e-6 / one.as_secs_f64().max(1e-7)).clamp(1.0, 1000.0) as u32
    }
}

impl Timed for GpuDevice {
    fn time_call(&self, f: &dyn Fn()) -> Duration {
        self.time(f)
    }
    fn repeats(&self, _: Duration) -> u32 {
        1
    }
}

/// Median seconds per call: one warm-up call (compiles pipelines), then `iters` samples
/// (3 when a call takes over 0.5 s).
fn measure<D: Timed>(dev: &D, f: &dyn Fn(), iters: usize) -> f64 {
    let warm = dev.time_call(f);
    let iters = if warm.as_secs_f64() > 0.5 { iters.min(3) } else { iters };
    let reps = dev.repeats(warm);
    let mut t: Vec<f64> = (0..iters.max(1))
        .map(|_| {
            if reps == 1 {
                dev.time_call(f).as_secs_f64()
            } else {
                dev.time_call(&|| (0..reps).for_each(|_| f())).as_secs_f64() / reps as f64
            }
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} us", s * 1e6)
    }
}

/// A table's label, its rows and the cpu references (GFLOP/s: platform.md, sgemm now).
type Summary = (String, Vec<Row>, Option<(f64, f64)>);

struct Row {
    op: Op,
    count: f64,
    secs: f64,
}

fn header() {
    println!("{:<20} {:<36} {:<4} {:>11} {:>9} {:>9}", "op", "shape", "dev", "time/call", "GFLOP/s", "GB/s");
}

/// Times every op of `ops` on `dev`, printing one row each.
fn table<D: Timed>(dev: &D, tag: &str, ops: &[(Op, f64)], iters: usize) -> Vec<Row>
where
    D::Buf: 'static,
{
    header();
    let mut rows = Vec::new();
    for &(op, count) in ops {
        let f = op.prepare(dev);
        let secs = measure(dev, &*f, iters);
        drop(f);
        println!(
            "{:<20} {:<36} {:<4} {:>11} {:>9.3} {:>9.3}",
            op.name(),
            op.shape(),
            tag,
            fmt_time(secs),
            op.flops() / secs / 1e9,
            op.bytes() / secs / 1e9
        );
        rows.push(Row { op, count, secs });
    }
    rows
}

/// One training step's worth: sum of time x calls per step.
fn summarise(label: &str, rows: &[Row], reference: Option<(f64, f64)>) {
    let secs: f64 = rows.iter().map(|r| r.secs * r.count).sum();
    let flops: f64 = rows.iter().map(|r| r.op.flops() * r.count).sum();
    let gf = flops / secs / 1e9;
    print!(
        "{label}: {} per training step ({:.2} GFLOP in the step's ops, {gf:.2} GFLOP/s",
        fmt_time(secs),
        flops / 1e9
    );
    match reference {
        Some((r, sgemm)) => println!(
            ";\n    {:.0} % of the {r} GFLOP/s reference, {:.0} % of the {sgemm:.0} GFLOP/s sgemm measured now)",
            100.0 * gf / r,
            100.0 * gf / sgemm
        ),
        None => println!(")"),
    }
    // The biggest shares, by op name.
    let mut by: Vec<(String, f64, f64)> = Vec::new();
    for r in rows.iter().filter(|r| r.count > 0.0) {
        let n = r.op.name();
        match by.iter_mut().find(|(m, _, _)| *m == n) {
            Some((_, s, fl)) => {
                *s += r.secs * r.count;
                *fl += r.op.flops() * r.count;
            }
            None => by.push((n, r.secs * r.count, r.op.flops() * r.count)),
        }
    }
    by.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (n, s, fl) in by.iter().take(6) {
        println!("    {n:<20} {:>10} {:>5.1} %   {:>7.2} GFLOP/s", fmt_time(*s), 100.0 * s / secs, fl / s / 1e9);
    }
}

// ------------------------------------------------------------------------------ variants

/// The output of one call of a variant op (conv1d or filterbank forward) on `dev`.
fn forward_output<D: Device>(dev: &D, op: Op) -> Vec<f32> {
    match op {
        Op::Conv1d { bwd: false, b, ci, co, t } => {
            let (x, w, out) = (
                rand_buf(dev, b * ci * t, 1, -1.0, 1.0),
                rand_buf(dev, co * ci * 3, 2, -1.0, 1.0),
                dev.alloc(b * co * t),
            );
            dev.conv1d_forward(&out, &x, &w, b, ci, co, t);
            dev.download(&out)
        }
        Op::Filterbank { bwd: false, b, l, k2, w, h, t } => {
            let (x, k, y) =
                (rand_buf(dev, b * l, 1, -1.0, 1.0), rand_buf(dev, k2 * w, 2, -1.0, 1.0), dev.alloc(b * k2 * t));
            dev.filterbank_forward(&y, &x, &k, b, l, k2, w, h, t);
            dev.download(&y)
        }
        _ => unreachable!("no variants for {op:?}"),
    }
}

/// Checks one variant's output against the cpu twin's (panics on a mismatch); the error.
fn validate(entry: &str, label: &str, op: Op, got: &[f32], want: &[f32]) -> (f32, f32) {
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    let err = got.iter().zip(want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    let ok = got.len() == want.len() && err <= 1e-4 * scale && err.is_finite();
    if !ok {
        println!("  {label:<24} {:<36} max |gpu - cpu| = {err:.2e} (max |cpu| {scale:.1}) WRONG", op.shape());
    }
    assert!(ok, "{entry} {label} disagrees with the cpu twin at {}: max abs error {err}", op.shape());
    (err, scale)
}

/// Validates every variant of `entry` against the cpu twin at each of `ops` (panics on a
/// mismatch), then times them side by side and names the fastest (summed over the shapes):
/// the plain kernel at each workgroup size (the `WG` override constant), and the workgroup
/// shared-memory tiled kernel (`*_tiled`) at each of `tiles` (its tile override constants).
fn variants(gpu: &GpuDevice, cpu: &CpuDevice, entry: &str, ops: &[Op], iters: usize, tiles: &[[u32; 3]]) {
    println!(
        "\n## variants of {entry}: plain with WG (workgroup size, the `WG` override constant) in {WG_VARIANTS:?} \
         (default 64), tiled with tiles {tiles:?}"
    );
    let refs: Vec<Vec<f32>> = ops.iter().map(|&op| forward_output(cpu, op)).collect();
    let base = gpu.tuning();
    let conv = entry.starts_with("conv1d");
    let mut settings: Vec<(String, Tuning, Option<u32>)> = WG_VARIANTS
        .iter()
        .map(|&wg| (format!("plain WG {wg}"), Tuning { tiled: false, ..base.clone() }, Some(wg)))
        .collect();
    for &tile in tiles {
        let t = if conv {
            Tuning { tiled: true, conv_tile: tile, ..base.clone() }
        } else {
            Tuning { tiled: true, fb_tile: tile, ..base.clone() }
        };
        settings.push((format!("tiled {tile:?}"), t, None));
    }
    let mut totals = Vec::new();
    for (label, tuning, wg) in &settings {
        gpu.set_tuning(tuning.clone());
        gpu.set_workgroup_size(entry, *wg);
        let mut total = 0.0;
        for (&op, want) in ops.iter().zip(&refs) {
            let (err, scale) = validate(entry, label, op, &forward_output(gpu, op), want);
            let f = op.prepare(gpu);
            let secs = measure(gpu, &*f, iters);
            println!(
                "  {label:<24} {:<36} max |gpu - cpu| {err:.1e} (max |cpu| {scale:>4.1}) ok  {:>11} {:>7.3} GFLOP/s",
                op.shape(),
                fmt_time(secs),
                op.flops() / secs / 1e9
            );
            total += secs;
        }
        totals.push((label.clone(), total));
    }
    gpu.set_workgroup_size(entry, None);
    gpu.set_tuning(base.clone());
    let plain = totals.iter().find(|(l, _)| l == "plain WG 64").map_or(f64::NAN, |t| t.1);
    let tiled = totals.iter().find(|(l, _)| l.starts_with("tiled")).map_or(f64::NAN, |t| t.1);
    let best = totals.iter().min_by(|a, b| a.1.total_cmp(&b.1)).expect("variants");
    println!(
        "  winner on {}: {} ({} summed over the shapes; plain WG 64: {}, tiled default: {}, {:.2}x over plain)",
        gpu.adapter_info(),
        best.0,
        fmt_time(best.1),
        fmt_time(plain),
        fmt_time(tiled),
        plain / best.1
    );
    println!(
        "  this adapter class runs the {} kernel (Tuning::for_adapter: plain on CPU adapters, tiled on GPUs)",
        if base.tiled { "tiled" } else { "plain" }
    );
}

// ------------------------------------------------------------------------------ main

struct Flags {
    full: Option<bool>,
    cpu: bool,
    gpu: bool,
    iters: usize,
}

fn flags() -> Flags {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Ok(e) = std::env::var("WAVNET_KERNELS") {
        args.extend(e.split_whitespace().map(String::from));
    }
    let mut fl = Flags { full: None, cpu: true, gpu: true, iters: 15 };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--full" => fl.full = Some(true),
            "--small-only" => fl.full = Some(false),
            "--cpu-only" => fl.gpu = false,
            "--gpu-only" => fl.cpu = false,
            "--iters" => fl.iters = it.next().and_then(|v| v.parse().ok()).expect("--iters N"),
            s if s.starts_with("--iters=") => fl.iters = s[8..].parse().expect("--iters=N"),
            "--bench" => {} // passed by `cargo bench`
            s => eprintln!("kernels: ignoring unknown argument {s:?}"),
        }
    }
    assert!(fl.cpu || fl.gpu, "--cpu-only and --gpu-only together leave nothing to run");
    fl
}

/// Host memory bandwidth of a large copy (read + write), for reading the cpu GB/s column.
fn host_copy_gbs() -> f64 {
    let n = 16 << 20;
    let src = vec![1f32; n];
    let mut dst = vec![0f32; n];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&dst);
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * n as f64 * F / best / 1e9
}

/// This machine's f32 matmul limit measured now: a 1024^3 product with the `gemm` crate (the
/// cpu device's GEMM), spread over rayon's threads, best of 5.
fn cpu_sgemm_gflops() -> f64 {
    let n = 1024;
    let a = rand_vec(n * n, 1, -1.0, 1.0);
    let b = rand_vec(n * n, 2, -1.0, 1.0);
    let mut c = vec![0f32; n * n];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        // SAFETY: three n x n row-major matrices, all in bounds; `c` is exclusive.
        unsafe {
            gemm::gemm(
                n, n, n,
                c.as_mut_ptr(), 1, n as isize, false,
                a.as_ptr(), 1, n as isize,
                b.as_ptr(), 1, n as isize,
                0.0, 1.0, false, false, false,
                gemm::Parallelism::Rayon(0),
            );
        }
        std::hint::black_box(&c);
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (n * n * n) as f64 / best / 1e9
}

fn main() {
    let fl = flags();
    let (small_label, small) = step_ops(2, 0.25);
    let (def_label, default) = step_ops(32, 2.0);
    let cpu = CpuDevice::new();
    println!("# wavnet kernel benchmarks (median of {} calls after a warm-up)", fl.iters);
    println!("cpu: {} ({} rayon threads)", cpu.name(), rayon::current_num_threads());
    let gpu = if fl.gpu {
        match GpuDevice::new(false) {
            Ok(g) => Some(g),
            Err(e) if !fl.cpu => panic!("{e}"),
            Err(e) => {
                println!("gpu: not available ({e}); cpu rows only");
                None
            }
        }
    } else {
        None
    };
    let mut summaries: Vec<Summary> = Vec::new();
    let sgemm = if fl.cpu { cpu_sgemm_gflops() } else { f64::NAN };
    if let Some(g) = &gpu {
        let full = fl.full.unwrap_or(!g.is_software());
        println!("gpu: {}", g.adapter_info());
        println!(
            "gpu timing: {}; shapes: {}",
            if g.has_timestamps() { "timestamp queries" } else { "wall clock, queue drained" },
            if full {
                "small and default"
            } else {
                "small only (software adapter; pass --full for the default shapes)"
            }
        );
        println!("\n## gpu, {small_label}");
        let rows = table(g, "gpu", &small, fl.iters);
        summaries.push((format!("gpu, {small_label}"), rows, None));

        let convs = |ops: &[(Op, f64)]| -> Vec<Op> {
            ops.iter().map(|p| p.0).filter(|o| matches!(o, Op::Conv1d { bwd: false, .. })).collect()
        };
        let fbs = |ops: &[(Op, f64)]| -> Vec<Op> {
            ops.iter().map(|p| p.0).filter(|o| matches!(o, Op::Filterbank { bwd: false, .. })).collect()
        };
        let (vs, vlabel) = if full { (&default, &def_label) } else { (&small, &small_label) };
        println!("\n# kernel variants at {vlabel} (each checked against the cpu twin first)");
        let fb_default = Tuning::for_adapter(wgpu::DeviceType::DiscreteGpu).fb_tile;
        let conv_default = Tuning::for_adapter(wgpu::DeviceType::DiscreteGpu).conv_tile;
        variants(g, &cpu, "conv1d_forward", &convs(vs), fl.iters, &[conv_default, [64, 16, 8], [16, 64, 8]]);
        variants(g, &cpu, "filterbank_forward", &fbs(vs), fl.iters, &[fb_default, [64, 16, 16], [16, 64, 16]]);

        if full {
            println!("\n## gpu, {def_label}");
            let rows = table(g, "gpu", &default, fl.iters);
            summaries.push((format!("gpu, {def_label}"), rows, None));
            // --full: batch 256 too (the split reductions and tiles are for this size)
            let (big_label, big) = step_ops(256, 2.0);
            println!("\n# kernel variants at {big_label} (each checked against the cpu twin first)");
            variants(g, &cpu, "conv1d_forward", &convs(&big), fl.iters, &[conv_default, [64, 16, 8]]);
            variants(g, &cpu, "filterbank_forward", &fbs(&big), fl.iters, &[fb_default, [64, 16, 16]]);
            println!("\n## gpu, {big_label}");
            let rows = table(g, "gpu", &big, fl.iters);
            summaries.push((format!("gpu, {big_label}"), rows, None));
        }
    }
    if fl.cpu {
        println!("\n## cpu, {small_label}");
        let rows = table(&cpu, "cpu", &small, fl.iters);
        summaries.push((format!("cpu, {small_label}"), rows, Some((CPU_REF_GFLOPS, sgemm))));
        println!("\n## cpu, {def_label}");
        let rows = table(&cpu, "cpu", &default, fl.iters);
        summaries.push((format!("cpu, {def_label}"), rows, Some((CPU_REF_GFLOPS, sgemm))));
    }

    println!("\n# summary: one training step's worth of ops (forward train, backward, AdamW over all");
    println!("# parameters as one call), each row's median x its calls per step; launch and upload costs excluded");
    for (label, rows, reference) in &summaries {
        summarise(label, rows, *reference);
    }
    if fl.cpu {
        println!(
            "cpu references: {CPU_REF_GFLOPS} GFLOP/s = the machine's matmul limit per shared/notes/platform.md (1024^3 \
             i-k-j loop, rayon 2 threads);\n  measured now: 1024^3 sgemm (gemm crate, {} threads) {sgemm:.1} GFLOP/s, \
             host copy {:.1} GB/s (read + write)",
            rayon::current_num_threads(),
            host_copy_gbs()
        );
    }
}
