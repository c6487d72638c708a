//! The device abstraction: every op of the model, its backward pass and the optimizer step,
//! implemented twice — as plain Rust on the `cpu` device (`src/cpu/`) and as WGSL compute
//! shaders on the `gpu` device (`src/gpu/`, `shaders/`). The model and the training loop are
//! written once against this trait (`src/model.rs`).
//!
//! Shape legend (the same in Rust and WGSL):
//!   B batch, L samples, F filters, W taps of a filter, H hop, T frames (time),
//!   C channels (Ci in, Co out), K classes, N element count.
//!
//! Conventions (after llm.c): outputs first, then inputs and saved activations, then sizes.
//! Gradients carry a `d` prefix. Every output is written with `=` (never accumulated), so no
//! buffer needs zeroing. All tensors are contiguous row-major f32, PyTorch layouts.
//! An output buffer is never also an input of the same call.
use std::collections::BTreeMap;

use crate::model::Config;

/// A compute device: owns buffers and runs ops on them. Ops are enqueued; `download` (and
/// `sync`) wait for everything enqueued before them.
pub trait Device {
    /// An f32 tensor living on the device. Interior-mutable: ops write through `&Buf`.
    type Buf;

    /// Human-readable name, e.g. "cpu (rayon, 2 threads)" or "gpu: llvmpipe (Vulkan)".
    fn name(&self) -> String;
    /// A zero-filled buffer of `len` floats.
    fn alloc(&self, len: usize) -> Self::Buf;
    /// Number of floats in `buf`.
    fn len(&self, buf: &Self::Buf) -> usize;
    /// Copies `src` into the start of `dst` (`src.len() <= len(dst)`).
    fn upload(&self, dst: &Self::Buf, src: &[f32]);
    /// Copies the whole buffer back to the host (waits for pending work).
    fn download(&self, src: &Self::Buf) -> Vec<f32>;
    /// Waits until all enqueued work is done.
    fn sync(&self);

    // ---------------------------------------------------------------- gabor.wgsl
    /// Builds the complex Gabor filterbank from its parameters.
    /// mu_c = clamp(mu[f], 0, pi), s = clamp(sigma[f], 2, W/2 as f32) (W odd, n = j - W/2
    /// for tap j in 0..W), env = exp(-n^2 / (2 s^2)) / (sqrt(2 pi) s);
    /// kernel[f, j] = env * cos(mu_c n) (real part), kernel[F + f, j] = env * sin(mu_c n).
    /// kernel (2F, W) =; mu (F); sigma (F).
    fn gabor_forward(&self, kernel: &Self::Buf, mu: &Self::Buf, sigma: &Self::Buf, f: usize, w: usize);
    /// dmu (F) =, dsigma (F) =; dkernel (2F, W). The gradient is zero where the clamp is
    /// active (PyTorch's clamp: passes where lo <= x <= hi).
    fn gabor_backward(
        &self, dmu: &Self::Buf, dsigma: &Self::Buf, dkernel: &Self::Buf, mu: &Self::Buf, sigma: &Self::Buf,
        f: usize, w: usize,
    );

    // ---------------------------------------------------------------- filterbank.wgsl
    /// Strided convolution of the zero-padded waveform with the filterbank (a matrix product):
    /// y[b, k, t] = sum_j xpad(b, t*H + j - W/2) * kernel[k, j], xpad zero outside 0..L.
    /// y (B, K2, T) =; x (B, L); kernel (K2, W). T = L / H + 1 (K2 = 2F).
    fn filterbank_forward(
        &self, y: &Self::Buf, x: &Self::Buf, kernel: &Self::Buf, b: usize, l: usize, k2: usize, w: usize, h: usize,
        t: usize,
    );
    /// Gradient for the filterbank only (the waveform needs none):
    /// dkernel[k, j] = sum_b sum_t dy[b, k, t] * xpad(b, t*H + j - W/2).
    /// dkernel (K2, W) =; dy (B, K2, T); x (B, L).
    fn filterbank_backward(
        &self, dkernel: &Self::Buf, dy: &Self::Buf, x: &Self::Buf, b: usize, l: usize, k2: usize, w: usize,
        h: usize, t: usize,
    );

    // ---------------------------------------------------------------- log_energy.wgsl
    /// out[b, f, t] = ln(y[b, f, t]^2 + y[b, F + f, t]^2 + 1e-5).
    /// out (B, F, T) =; y (B, 2F, T).
    fn log_energy_forward(&self, out: &Self::Buf, y: &Self::Buf, b: usize, f: usize, t: usize);
    /// dy[b, f, t] = dout * 2 re / (e + 1e-5), dy[b, F + f, t] = dout * 2 im / (e + 1e-5).
    /// dy (B, 2F, T) =; dout (B, F, T); y (B, 2F, T).
    fn log_energy_backward(&self, dy: &Self::Buf, dout: &Self::Buf, y: &Self::Buf, b: usize, f: usize, t: usize);

    // ---------------------------------------------------------------- batchnorm.wgsl
    /// BatchNorm over (B, T) per channel, PyTorch's BatchNorm1d (eps, momentum as given).
    /// Train: mean, biased var over the B*T values of channel c; mean[c] =, rstd[c] =
    /// 1/sqrt(var + eps); running_mean = (1-momentum) running_mean + momentum mean;
    /// running_var = (1-momentum) running_var + momentum var * n/(n-1), n = B*T.
    /// Eval: normalise with running_mean / running_var; mean, rstd and running stats untouched.
    /// out[b, c, t] = (x - mean) * rstd * weight[c] + bias[c].
    /// out (B, C, T) =; mean (C); rstd (C); running_mean (C); running_var (C); x (B, C, T);
    /// weight (C); bias (C).
    #[allow(clippy::too_many_arguments)]
    fn batchnorm_forward(
        &self, out: &Self::Buf, mean: &Self::Buf, rstd: &Self::Buf, running_mean: &Self::Buf,
        running_var: &Self::Buf, x: &Self::Buf, weight: &Self::Buf, bias: &Self::Buf, b: usize, c: usize,
        t: usize, train: bool, momentum: f32, eps: f32,
    );
    /// Train-mode backward. xhat = (x - mean) * rstd, n = B*T;
    /// dbias[c] = sum dout; dweight[c] = sum dout * xhat;
    /// dx = weight * rstd / n * (n * dout - dbias - xhat * dweight).
    /// dx (B, C, T) =; dweight (C) =; dbias (C) =; dout (B, C, T); x; mean; rstd; weight.
    #[allow(clippy::too_many_arguments)]
    fn batchnorm_backward(
        &self, dx: &Self::Buf, dweight: &Self::Buf, dbias: &Self::Buf, dout: &Self::Buf, x: &Self::Buf,
        mean: &Self::Buf, rstd: &Self::Buf, weight: &Self::Buf, b: usize, c: usize, t: usize,
    );

    // ---------------------------------------------------------------- filter_mask.wgsl
    /// SpecAugment-style filter (frequency) masking with a host-made 0/1 mask per example and
    /// filter (see `crate::specaug::filter_masks`): out[b, f, t] = x[b, f, t] * mask[b, f].
    /// out (B, F, T) =; x (B, F, T); mask (B, F).
    fn filter_mask_forward(&self, out: &Self::Buf, x: &Self::Buf, mask: &Self::Buf, b: usize, f: usize, t: usize);
    /// dx[b, f, t] = dout[b, f, t] * mask[b, f]. dx (B, F, T) =; dout (B, F, T); mask (B, F).
    fn filter_mask_backward(&self, dx: &Self::Buf, dout: &Self::Buf, mask: &Self::Buf, b: usize, f: usize, t: usize);

    // ---------------------------------------------------------------- relu.wgsl
    /// out = max(x, 0). out (N) =; x (N).
    fn relu_forward(&self, out: &Self::Buf, x: &Self::Buf, n: usize);
    /// dx = dout where out > 0, else 0. dx (N) =; dout (N); out (N).
    fn relu_backward(&self, dx: &Self::Buf, dout: &Self::Buf, out: &Self::Buf, n: usize);

    // ---------------------------------------------------------------- conv1d.wgsl
    /// Conv1d, kernel 3, padding 1, stride 1, no bias:
    /// out[b, o, t] = sum_i sum_k w[o, i, k] * x[b, i, t + k - 1] (x zero outside 0..T).
    /// out (B, Co, T) =; x (B, Ci, T); w (Co, Ci, 3).
    fn conv1d_forward(&self, out: &Self::Buf, x: &Self::Buf, w: &Self::Buf, b: usize, ci: usize, co: usize, t: usize);
    /// dx[b, i, t] = sum_o sum_k w[o, i, k] * dout[b, o, t - k + 1];
    /// dw[o, i, k] = sum_b sum_t dout[b, o, t] * x[b, i, t + k - 1].
    /// dx (B, Ci, T) =; dw (Co, Ci, 3) =; dout (B, Co, T); x (B, Ci, T); w (Co, Ci, 3).
    #[allow(clippy::too_many_arguments)]
    fn conv1d_backward(
        &self, dx: &Self::Buf, dw: &Self::Buf, dout: &Self::Buf, x: &Self::Buf, w: &Self::Buf, b: usize,
        ci: usize, co: usize, t: usize,
    );

    // ---------------------------------------------------------------- maxpool.wgsl
    /// Max-pool, kernel 2, stride 2, floor: To = T / 2; out[b, c, u] = max(x[.., 2u], x[.., 2u+1]).
    /// out (B, C, To) =; x (B, C, T).
    fn maxpool_forward(&self, out: &Self::Buf, x: &Self::Buf, b: usize, c: usize, t: usize);
    /// The gradient goes to the first of the two positions holding the max (ties: the first);
    /// a trailing odd frame gets 0. dx (B, C, T) =; dout (B, C, To); x (B, C, T).
    fn maxpool_backward(&self, dx: &Self::Buf, dout: &Self::Buf, x: &Self::Buf, b: usize, c: usize, t: usize);

    // ---------------------------------------------------------------- globalpool.wgsl
    /// out[b, c] = mean_t x[b, c, t] + max_t x[b, c, t]. out (B, C) =; x (B, C, T).
    fn globalpool_forward(&self, out: &Self::Buf, x: &Self::Buf, b: usize, c: usize, t: usize);
    /// dx[b, c, t] = dout[b, c] / T + (t == first argmax ? dout[b, c] : 0).
    /// dx (B, C, T) =; dout (B, C); x (B, C, T).
    fn globalpool_backward(&self, dx: &Self::Buf, dout: &Self::Buf, x: &Self::Buf, b: usize, c: usize, t: usize);

    // ---------------------------------------------------------------- dropout.wgsl
    /// Inverted dropout with a counter-based mask shared by both devices:
    /// keep(i) = dropout_keep(seed, i, p) (see `dropout_keep` below);
    /// out[i] = keep ? x[i] * scale : 0, scale = 1 / (1 - p) computed once on the host (so both
    /// devices round alike). out (N) =; x (N).
    fn dropout_forward(&self, out: &Self::Buf, x: &Self::Buf, n: usize, p: f32, seed: u32);
    /// dx[i] = keep ? dout[i] * scale : 0. dx (N) =; dout (N).
    fn dropout_backward(&self, dx: &Self::Buf, dout: &Self::Buf, n: usize, p: f32, seed: u32);

    // ---------------------------------------------------------------- linear.wgsl
    /// out[b, k] = sum_c x[b, c] * w[k, c] + bias[k]. out (B, K) =; x (B, C); w (K, C); bias (K).
    fn linear_forward(&self, out: &Self::Buf, x: &Self::Buf, w: &Self::Buf, bias: &Self::Buf, b: usize, c: usize, k: usize);
    /// dx = dout w; dw = dout^T x; dbias = sum_b dout.
    /// dx (B, C) =; dw (K, C) =; dbias (K) =; dout (B, K); x (B, C); w (K, C).
    #[allow(clippy::too_many_arguments)]
    fn linear_backward(
        &self, dx: &Self::Buf, dw: &Self::Buf, dbias: &Self::Buf, dout: &Self::Buf, x: &Self::Buf, w: &Self::Buf,
        b: usize, c: usize, k: usize,
    );

    // ---------------------------------------------------------------- softmax_ce.wgsl
    /// Softmax cross-entropy with soft targets, forward and backward fused (as in llm.c).
    /// The batch loss is mean_b losses[b]. p = softmax(logits[b]); s = sum_k targets[b, k];
    /// losses[b] = -sum_k targets[b, k] * ln p[k] (computed stably as s * lse - sum y z);
    /// dlogits[b, k] = (p[k] * s - targets[b, k]) / B.
    /// losses (B) =; dlogits (B, K) =; logits (B, K); targets (B, K).
    fn softmax_ce_forward_backward(
        &self, losses: &Self::Buf, dlogits: &Self::Buf, logits: &Self::Buf, targets: &Self::Buf, b: usize, k: usize,
    );

    // ---------------------------------------------------------------- sigmoid_bce.wgsl
    /// Binary cross-entropy on logits, one sigmoid per class (multi-label), forward and backward
    /// fused. The batch loss is mean_b losses[b]; targets are in [0, 1] (multi-hot, or soft).
    /// losses[b] = sum_k max(z, 0) - z y + ln(1 + exp(-|z|)) (= -y ln s(z) - (1 - y) ln(1 - s(z))
    /// computed stably, s the logistic sigmoid); dlogits[b, k] = (s(z[b, k]) - targets[b, k]) / B.
    /// losses (B) =; dlogits (B, K) =; logits (B, K); targets (B, K).
    fn sigmoid_bce_forward_backward(
        &self, losses: &Self::Buf, dlogits: &Self::Buf, logits: &Self::Buf, targets: &Self::Buf, b: usize, k: usize,
    );

    // ---------------------------------------------------------------- adamw.wgsl
    /// One AdamW step on one tensor (PyTorch's AdamW):
    /// param -= lr * wd * param; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    /// param -= lr * (m / bc1) / (sqrt(v / bc2) + eps), where bc1 = 1 - b1^step, bc2 = 1 - b2^step
    /// are computed by the caller. param, m, v (N) updated in place; grad (N).
    #[allow(clippy::too_many_arguments)]
    fn adamw_step(
        &self, param: &Self::Buf, m: &Self::Buf, v: &Self::Buf, grad: &Self::Buf, n: usize, hp: &AdamW,
    );

    // ---------------------------------------------------------------- whole-model eval
    /// This device's own eval-mode forward of a whole model, built from the model's tensor
    /// `values` for batches of up to `batch` clips of `len` samples, when it has one that is
    /// faster than the op-by-op path (the `cpu` device: BatchNorm folded into the convs, fused
    /// passes; `crate::cpu::fused_eval`). `None` (the default): eval runs op by op.
    fn fused_eval(
        &self, _cfg: &Config, _values: &BTreeMap<String, Vec<f32>>, _batch: usize, _len: usize,
    ) -> Option<Box<dyn FusedEval>> {
        None
    }
}

/// A whole-model eval-mode forward with its weights folded in (see `Device::fused_eval`). It
/// equals the op-by-op eval forward within float rounding, and goes stale when the model's
/// values change (the model rebuilds it).
pub trait FusedEval: Send {
    /// logits (N, K) = the eval-mode forward of x (N, L), N <= the batch it was built for.
    fn forward(&mut self, x: &[f32], logits: &mut [f32]);
}

/// AdamW hyper-parameters for one step of one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamW {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// 1 - beta1^step
    pub bc1: f32,
    /// 1 - beta2^step
    pub bc2: f32,
}

/// The counter-based hash behind dropout masks (lowbias32 by Chris Wellons); the WGSL twin
/// in `shaders/dropout.wgsl` is the same arithmetic on u32 with wrapping multiplies.
pub fn hash_u32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Whether element `i` survives dropout with probability `p` of dropping:
/// u = (hash(i ^ hash(seed)) >> 8) / 2^24 in [0, 1); keep when u >= p.
pub fn dropout_keep(seed: u32, i: u32, p: f32) -> bool {
    let u = (hash_u32(i ^ hash_u32(seed)) >> 8) as f32 * (1.0 / 16_777_216.0);
    u >= p
}
