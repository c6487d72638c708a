//! The strided convolution of the zero-padded waveform with the Gabor filterbank, as one
//! matrix product per batch item: y[b] (K2, T) = kernel (K2, W) x frames (W, T), where
//! frames(j, t) = xpad[t*H + j] is a strided view of the padded waveform (no im2col copy).
use rayon::prelude::*;

use super::{gemm, sum_partials, REDUCE_CHUNK};

/// The waveform zero-padded by W/2 on the left and W/2 + 1 on the right: (L + W).
fn padded(x: &[f32], w: usize) -> Vec<f32> {
    let mut p = vec![0.0; x.len() + w];
    p[w / 2..w / 2 + x.len()].copy_from_slice(x);
    p
}

/// Kernel values below this magnitude count as 0 in the forward product.
pub(crate) const TINY_TAP: f32 = 1e-20;

/// The kernel with taps |v| < `TINY_TAP` set to 0. A narrow Gabor envelope decays through
/// 1e-20 .. 1e-45 over ten taps before it underflows to 0; products of those taps with the
/// waveform are subnormal, and on x86 every FMA with a subnormal result takes a microcode
/// assist (~100x slower). The filter peaks are >= 2e-3 (1 / (sqrt(2 pi) W/2)), so such taps
/// are 1e-17 of the peak and change no output at f32 precision.
pub(crate) fn without_tiny_taps(kernel: &[f32]) -> Vec<f32> {
    kernel.iter().map(|v| if v.abs() < TINY_TAP { 0.0 } else { *v }).collect()
}

/// y (B, K2, T) =; x (B, L); kernel (K2, W). Taps below `TINY_TAP` count as 0.
#[allow(clippy::too_many_arguments)]
pub fn filterbank_forward(y: &mut [f32], x: &[f32], kernel: &[f32], b: usize, l: usize, k2: usize, w: usize, h: usize, t: usize) {
    assert!(y.len() >= b * k2 * t && x.len() >= b * l && kernel.len() >= k2 * w, "filterbank_forward: shapes");
    assert!(t >= 1 && (t - 1) * h <= l, "filterbank_forward: T = {t} frames do not fit L = {l} with hop {h}");
    let kernel = without_tiny_taps(&kernel[..k2 * w]);
    y[..b * k2 * t].par_chunks_mut(k2 * t).zip(x[..b * l].par_chunks(l)).for_each(|(yb, xb)| {
        let xp = padded(xb, w);
        gemm(k2, w, t, &kernel, w, 1, &xp, 1, h, 0.0, yb, t, 1);
    });
}

/// dkernel (K2, W) =; dy (B, K2, T); x (B, L).
/// dkernel = sum_b dy[b] (K2, T) x frames[b]^T (T, W).
#[allow(clippy::too_many_arguments)]
pub fn filterbank_backward(dkernel: &mut [f32], dy: &[f32], x: &[f32], b: usize, l: usize, k2: usize, w: usize, h: usize, t: usize) {
    assert!(dkernel.len() >= k2 * w && dy.len() >= b * k2 * t && x.len() >= b * l, "filterbank_backward: shapes");
    let partials: Vec<Vec<f32>> = (0..b.div_ceil(REDUCE_CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut acc = vec![0.0; k2 * w];
            for bi in chunk * REDUCE_CHUNK..((chunk + 1) * REDUCE_CHUNK).min(b) {
                let xp = padded(&x[bi * l..(bi + 1) * l], w);
                gemm(k2, t, w, &dy[bi * k2 * t..], t, 1, &xp, h, 1, 1.0, &mut acc, w, 1);
            }
            acc
        })
        .collect();
    sum_partials(&mut dkernel[..k2 * w], partials);
}
