//! The `cpu` device's eval-mode forward of the whole model, rewritten for speed. The op-by-op
//! path of `Model::forward` stays the reference it is tested against (`tests/fused_eval.rs`).
//!
//! - Activations are channels-last, (rows, C), with one zero row before and after each clip's
//!   T frames. A kernel-3 conv over a whole chunk of clips is then ONE matrix product: row r of
//!   its im2col matrix is the 3C contiguous floats from padded row r on (a strided view, no
//!   copy); the rows that straddle two clips land exactly on the next layer's padding rows.
//! - Eval-mode BatchNorm is folded into the conv before it: W' = W s and a bias
//!   beta - running_mean s per output channel, s = gamma / sqrt(running_var + eps). The front
//!   end's BatchNorm is applied in the log-energy pass.
//! - Bias, ReLU and max-pool are one pass over each product
//!   (max(relu(a + c), relu(b + c)) = relu(max(a, b) + c)); global pooling reads the last
//!   product directly. The filterbank is one product per chunk too: clip i's waveform sits
//!   zero-padded in a slot of R*H samples, so frame t of every clip starts at row (i R + t) * H.
//! - The filterbank's tiny taps are zero (`filterbank::without_tiny_taps`): in this layout a
//!   vector holds 16 filters at one tap, so one narrow filter's tail slows all 16.
//! - The Gabor kernel and the folded weights are computed once per set of weights (the model
//!   rebuilds this after its values change), and every buffer is kept across calls.
//! - The batch is cut into chunks of a few clips that run in parallel, each through its own
//!   buffers (a chunk's activations stay in cache).
//!
//! Shape legend: B batch, L samples, F filters, W taps, H hop, T frames, C channels, K classes;
//! Tp = T + 2 (padded frames), R = rows of a clip's waveform slot.
use std::collections::BTreeMap;

use rayon::prelude::*;

use super::{filterbank, gabor, gemm, linear, log_energy::LOG_EPS};
use crate::device::FusedEval;
use crate::model::{Config, BN_EPS};

/// Clips per chunk, at most (a chunk's largest activation is then ~1 MB).
const MAX_CHUNK: usize = 8;

/// One conv -> BatchNorm -> ReLU layer with the BatchNorm folded in.
struct Layer {
    ci: usize,
    co: usize,
    /// Input frames (T).
    t: usize,
    /// (3 Ci, Co): row k Ci + i, column o holds w[o, i, k] s[o].
    w: Vec<f32>,
    /// (Co): beta - running_mean s.
    bias: Vec<f32>,
    /// Whether a max-pool follows (the last layer of a block).
    pool: bool,
}

/// Buffers of one chunk, kept across calls.
#[derive(Default)]
struct Work {
    xpad: Vec<f32>,   // (n R H): zero-padded waveforms, one slot of R H samples per clip
    y: Vec<f32>,      // (rows, 2F): filterbank output, rows (n - 1) R + T0
    a: Vec<f32>,      // (n Tp, C): padded activations, ping
    b: Vec<f32>,      // (n Tp, C): pong
    o: Vec<f32>,      // (n Tp, Co): product before a max-pool
    pooled: Vec<f32>, // (n, C)
}

/// The folded model and its buffers for batches of up to `batch` clips of `len` samples.
pub struct CpuFusedEval {
    f: usize,
    w: usize,
    h: usize,
    l: usize,
    t0: usize,
    r: usize,
    k: usize,
    kernel: Vec<f32>,     // (2F, W)
    norm_scale: Vec<f32>, // (F)
    norm_shift: Vec<f32>, // (F)
    layers: Vec<Layer>,
    head_w: Vec<f32>, // (K, C)
    head_b: Vec<f32>, // (K)
    chunk: usize,
    work: Vec<Work>,
}

fn get<'a>(values: &'a BTreeMap<String, Vec<f32>>, name: &str) -> Result<&'a [f32], String> {
    values.get(name).map(|v| v.as_slice()).ok_or_else(|| format!("tensor `{name}` is missing"))
}

/// (scale, shift) of an eval-mode BatchNorm `prefix`: out = x scale + shift, computed as the
/// op-by-op path computes them.
fn bn_affine(values: &BTreeMap<String, Vec<f32>>, prefix: &str, c: usize) -> Result<(Vec<f32>, Vec<f32>), String> {
    let [g, beta, rm, rv] = ["weight", "bias", "running_mean", "running_var"].map(|n| get(values, &format!("{prefix}.{n}")));
    let (g, beta, rm, rv) = (g?, beta?, rm?, rv?);
    let rstd: Vec<f32> = rv[..c].iter().map(|v| 1.0 / (v + BN_EPS).sqrt()).collect();
    let scale: Vec<f32> = (0..c).map(|ch| rstd[ch] * g[ch]).collect();
    let shift = (0..c).map(|ch| beta[ch] - rm[ch] * rstd[ch] * g[ch]).collect();
    Ok((scale, shift))
}

impl CpuFusedEval {
    /// Folds the model `cfg` with tensor `values` (names of `crate::model::param_specs`) for
    /// batches of up to `batch` clips of `len` samples, with chunks sized for `threads` threads.
    pub fn new(cfg: &Config, values: &BTreeMap<String, Vec<f32>>, batch: usize, len: usize, threads: usize) -> Result<CpuFusedEval, String> {
        cfg.validate()?;
        let (f, w, h) = (cfg.filters, cfg.taps, cfg.hop);
        let t0 = cfg.frames(len);
        if t0 >> cfg.channels.len() == 0 {
            return Err(format!("{len} samples are too short for this model"));
        }
        let mut kernel = vec![0.0; 2 * f * w];
        gabor::gabor_forward(&mut kernel, get(values, "front.mu")?, get(values, "front.sigma")?, f, w);
        let kernel = filterbank::without_tiny_taps(&kernel);
        let (norm_scale, norm_shift) = bn_affine(values, "norm", f)?;
        let mut layers = Vec::new();
        let (mut cin, mut t) = (f, t0);
        for (i, &co) in cfg.channels.iter().enumerate() {
            for j in 1..=cfg.convs_per_block {
                let ci = if j == 1 { cin } else { co };
                let wt = get(values, &format!("body.{i}.conv{j}.weight"))?; // (Co, Ci, 3)
                if wt.len() != co * ci * 3 {
                    return Err(format!("tensor `body.{i}.conv{j}.weight` has {} values, expected {co}x{ci}x3", wt.len()));
                }
                let (s, bias) = bn_affine(values, &format!("body.{i}.bn{j}"), co)?;
                let mut wf = vec![0.0; 3 * ci * co];
                for o in 0..co {
                    for c in 0..ci {
                        for k in 0..3 {
                            wf[(k * ci + c) * co + o] = wt[(o * ci + c) * 3 + k] * s[o];
                        }
                    }
                }
                flush_subnormals(&mut wf);
                layers.push(Layer { ci, co, t, w: wf, bias, pool: j == cfg.convs_per_block });
            }
            t /= 2;
            cin = co;
        }
        let k = cfg.classes;
        let (head_w, head_b) = (get(values, "head.weight")?.to_vec(), get(values, "head.bias")?.to_vec());
        if head_w.len() != k * cin || head_b.len() != k {
            return Err(format!("head tensors do not match {k} classes x {cin} channels"));
        }
        let chunk = batch.div_ceil(threads.max(1)).clamp(1, MAX_CHUNK);
        let work = (0..batch.div_ceil(chunk)).map(|_| Work::default()).collect();
        Ok(CpuFusedEval {
            f,
            w,
            h,
            l: len,
            t0,
            r: (len + w).div_ceil(h),
            k,
            kernel,
            norm_scale,
            norm_shift,
            layers,
            head_w,
            head_b,
            chunk,
            work,
        })
    }

    /// Clips per chunk.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// logits (n, K) of the n clips of `x` (n, L), n <= `chunk`, through the buffers `wk`.
    fn forward_chunk(&self, wk: &mut Work, x: &[f32], logits: &mut [f32]) {
        let (f, w, h, l, t0, r) = (self.f, self.w, self.h, self.l, self.t0, self.r);
        let n = x.len() / l;
        let slot = r * h;
        // Zero-padded waveforms: W/2 zeros, the clip, zeros to the end of the slot (>= W/2 + 1).
        grow(&mut wk.xpad, n * slot);
        for (s, xi) in wk.xpad.chunks_mut(slot).zip(x.chunks(l)) {
            s[..w / 2].fill(0.0);
            s[w / 2..w / 2 + l].copy_from_slice(xi);
            s[w / 2 + l..].fill(0.0);
        }
        // y (rows, 2F) = frames (rows, W) kernel^T (W, 2F); frame row m starts at sample m H.
        let rows = (n - 1) * r + t0;
        grow(&mut wk.y, rows * 2 * f);
        gemm(rows, w, 2 * f, &wk.xpad, h, 1, &self.kernel, 1, w, 0.0, &mut wk.y, 2 * f, 1);
        // Log energy and the front BatchNorm, into block 0's padded input.
        let tp = t0 + 2;
        grow(&mut wk.a, n * tp * f);
        for i in 0..n {
            let dst = &mut wk.a[i * tp * f..(i + 1) * tp * f];
            dst[..f].fill(0.0);
            dst[(t0 + 1) * f..].fill(0.0);
            for t in 0..t0 {
                let y = &wk.y[(i * r + t) * 2 * f..(i * r + t + 1) * 2 * f];
                log_energy_norm(&mut dst[(t + 1) * f..(t + 2) * f], &y[..f], &y[f..], &self.norm_scale, &self.norm_shift);
            }
        }
        let (mut cur, mut next) = (std::mem::take(&mut wk.a), std::mem::take(&mut wk.b));
        let last = self.layers.len() - 1;
        for (li, ly) in self.layers.iter().enumerate() {
            let (ci, co, t) = (ly.ci, ly.co, ly.t);
            let tp = t + 2;
            let m = n * tp - 2; // product rows: row i Tp + t is clip i's frame t (t < T)
            if !ly.pool {
                // Product rows shifted by one padded row: frame t of clip i lands on its padded
                // row t + 1, the two rows between clips on the padding rows (zeroed below).
                grow(&mut next, n * tp * co);
                gemm(m, 3 * ci, co, &cur, ci, 1, &ly.w, co, 1, 0.0, &mut next[co..], co, 1);
                for i in 0..n {
                    let clip = &mut next[i * tp * co..(i + 1) * tp * co];
                    clip[..co].fill(0.0);
                    clip[(t + 1) * co..].fill(0.0);
                    for row in clip[co..(t + 1) * co].chunks_exact_mut(co) {
                        for (v, b) in row.iter_mut().zip(&ly.bias) {
                            *v = (*v + b).max(0.0);
                        }
                    }
                }
            } else {
                grow(&mut wk.o, m * co);
                gemm(m, 3 * ci, co, &cur, ci, 1, &ly.w, co, 1, 0.0, &mut wk.o, co, 1);
                let (tq, tqp) = (t / 2, t / 2 + 2);
                if li == last {
                    // Global mean + max over the pooled frames, per channel.
                    grow(&mut wk.pooled, n * co);
                    let mut sum = vec![0f64; co];
                    for i in 0..n {
                        let mx = &mut wk.pooled[i * co..(i + 1) * co];
                        mx.fill(f32::NEG_INFINITY);
                        sum.fill(0.0);
                        for u in 0..tq {
                            let (r0, r1) = (&wk.o[(i * tp + 2 * u) * co..][..co], &wk.o[(i * tp + 2 * u + 1) * co..][..co]);
                            for c in 0..co {
                                let v = (r0[c].max(r1[c]) + ly.bias[c]).max(0.0);
                                sum[c] += v as f64;
                                mx[c] = mx[c].max(v);
                            }
                        }
                        for c in 0..co {
                            mx[c] += (sum[c] / tq as f64) as f32;
                        }
                    }
                } else {
                    grow(&mut next, n * tqp * co);
                    for i in 0..n {
                        let clip = &mut next[i * tqp * co..(i + 1) * tqp * co];
                        clip[..co].fill(0.0);
                        clip[(tq + 1) * co..].fill(0.0);
                        for u in 0..tq {
                            let (r0, r1) = (&wk.o[(i * tp + 2 * u) * co..][..co], &wk.o[(i * tp + 2 * u + 1) * co..][..co]);
                            let dst = &mut clip[(u + 1) * co..(u + 2) * co];
                            for c in 0..co {
                                dst[c] = (r0[c].max(r1[c]) + ly.bias[c]).max(0.0);
                            }
                        }
                    }
                }
            }
            if li != last {
                std::mem::swap(&mut cur, &mut next);
            }
        }
        (wk.a, wk.b) = (cur, next);
        let c = self.layers[last].co;
        linear::linear_forward(logits, &wk.pooled, &self.head_w, &self.head_b, n, c, self.k);
    }
}

impl FusedEval for CpuFusedEval {
    fn forward(&mut self, x: &[f32], logits: &mut [f32]) {
        let (l, k) = (self.l, self.k);
        assert!(x.len().is_multiple_of(l) && logits.len() == x.len() / l * k, "fused eval: x must be (B, L), logits (B, K)");
        let n = x.len() / l;
        assert!(n.div_ceil(self.chunk) <= self.work.len(), "fused eval: {n} clips for a batch of {}", self.work.len() * self.chunk);
        let mut work = std::mem::take(&mut self.work);
        let this = &*self;
        work.par_iter_mut().zip(x.par_chunks(this.chunk * l)).zip(logits.par_chunks_mut(this.chunk * k)).for_each(
            |((wk, x), lg)| this.forward_chunk(wk, x, lg),
        );
        self.work = work;
    }
}

/// Sets subnormal weights to zero (every FMA with a subnormal operand takes a microcode assist
/// on x86; |w| < 1.2e-38 changes no sum at f32 precision).
fn flush_subnormals(v: &mut [f32]) {
    for x in v.iter_mut() {
        if x.is_subnormal() {
            *x = 0.0;
        }
    }
}

/// Resizes a kept buffer to at least `n` floats (allocates only the first time).
fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// dst = ln(re^2 + im^2 + eps) scale + shift, element by element: the log energy and the
/// front BatchNorm of one frame (F). A row with a non-finite energy (inf or NaN input) takes
/// `f32::ln`, so those propagate exactly as in the op-by-op path.
fn log_energy_norm(dst: &mut [f32], re: &[f32], im: &[f32], scale: &[f32], shift: &[f32]) {
    let n = dst.len();
    let (re, im, scale, shift) = (&re[..n], &im[..n], &scale[..n], &shift[..n]);
    let mut total = 0f32;
    for i in 0..n {
        let e = re[i] * re[i] + im[i] * im[i] + LOG_EPS;
        total += e;
        dst[i] = ln_pos(e) * scale[i] + shift[i];
    }
    if !total.is_finite() {
        for i in 0..n {
            dst[i] = (re[i] * re[i] + im[i] * im[i] + LOG_EPS).ln() * scale[i] + shift[i];
        }
    }
}

/// ln(x) for finite x >= 1e-5 (normal, positive), branch-free so that loops of it vectorise:
/// x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln x = ln m + e ln 2 with Cephes' logf
/// polynomial for ln(1 + f) (relative error ~1e-7 over the range). The constants are written as
/// Cephes publishes them (0.693_359_375 is ln 2's exactly representable high part).
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub fn ln_pos(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126; // x = m 2^e, m in [0.5, 1)
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = m < std::f32::consts::FRAC_1_SQRT_2;
    e -= small as i32;
    let f = if small { m + m - 1.0 } else { m - 1.0 }; // in [-0.293, 0.414]
    let z = f * f;
    let p = ((((((((7.037_683_6e-2 * f - 1.151_461e-1) * f + 1.167_699_9e-1) * f - 1.242_014_1e-1) * f + 1.424_932_3e-1)
        * f
        - 1.666_805_8e-1)
        * f
        + 2.000_071_4e-1)
        * f
        - 2.499_999_4e-1)
        * f
        + 3.333_333_1e-1)
        * f
        * z;
    let ef = e as f32;
    let y = p - 2.121_944_4e-4 * ef - 0.5 * z;
    f + y + 0.693_359_375 * ef
}

#[cfg(test)]
mod tests {
    use super::{ln_pos, log_energy_norm, LOG_EPS};

    #[test]
    fn log_energy_norm_is_the_log_energy_then_the_affine_and_keeps_inf_and_nan() {
        let (re, im) = ([0.3f32, -2.0, 0.0, 1e3, 5.0], [0.1f32, 0.5, 0.0, -7.0, 1e-3]);
        let (scale, shift) = ([1.0f32, 0.5, 2.0, -1.0, 3.0], [0.0f32, 1.0, -1.0, 0.25, 0.0]);
        let mut got = [0f32; 5];
        log_energy_norm(&mut got, &re, &im, &scale, &shift);
        for i in 0..5 {
            let want = (re[i] * re[i] + im[i] * im[i] + LOG_EPS).ln() * scale[i] + shift[i];
            assert!((got[i] - want).abs() <= 1e-6 * want.abs().max(1.0), "{i}: {} != {want}", got[i]);
        }
        let re = [1e30f32, 0.3, f32::NAN, 1.0, 1.0];
        log_energy_norm(&mut got, &re, &im, &scale, &shift);
        assert_eq!(got[0], f32::INFINITY);
        assert!(got[2].is_nan());
        assert_eq!(got[1], (0.3f32 * 0.3 + 0.5 * 0.5 + LOG_EPS).ln() * 0.5 + 1.0);
    }

    #[test]
    fn ln_pos_matches_std_ln_over_the_log_energy_range() {
        let mut worst = 0f64;
        let mut x = 1e-5f32;
        while x < 1e30 {
            for s in [1.0f32, 1.1, 1.37, 1.414, 1.415, 1.7, 1.99] {
                let v = x * s;
                let (got, want) = (ln_pos(v) as f64, (v as f64).ln());
                worst = worst.max((got - want).abs() / want.abs().max(1.0));
            }
            x *= 1.9;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(ln_pos(1.0), 0.0);
    }
}
