//! Conv1d, kernel 3, padding 1, no bias, as three shifted matrix products per batch item:
//! out[b] (Co, T) = sum_k W_k (Co, Ci) x[b] shifted by k - 1, with W_k = w[:, :, k] read in
//! place through strides (no im2col, no padding copy).
use rayon::prelude::*;

use super::{gemm, gemm_parallel};

/// out (B, Co, T) =; x (B, Ci, T); w (Co, Ci, 3).
pub fn conv1d_forward(out: &mut [f32], x: &[f32], w: &[f32], b: usize, ci: usize, co: usize, t: usize) {
    assert!(out.len() >= b * co * t && x.len() >= b * ci * t && w.len() >= co * ci * 3, "conv1d_forward: shapes");
    out[..b * co * t].par_chunks_mut(co * t).zip(x[..b * ci * t].par_chunks(ci * t)).for_each(|(o, x)| {
        // k = 1: out[:, t] = W_1 x[:, t]
        gemm(co, ci, t, &w[1..], 3 * ci, 3, x, t, 1, 0.0, o, t, 1);
        if t > 1 {
            // k = 0: out[:, t] += W_0 x[:, t - 1]  for t in 1..T
            gemm(co, ci, t - 1, w, 3 * ci, 3, x, t, 1, 1.0, &mut o[1..], t, 1);
            // k = 2: out[:, t] += W_2 x[:, t + 1]  for t in 0..T-1
            gemm(co, ci, t - 1, &w[2..], 3 * ci, 3, &x[1..], t, 1, 1.0, o, t, 1);
        }
    });
}

/// dx (B, Ci, T) =; dw (Co, Ci, 3) =; dout (B, Co, T); x (B, Ci, T); w (Co, Ci, 3).
/// dx[b] = sum_k W_k^T dout[b] shifted back; dw[:, :, k] = sum_b dout[b] x[b]^T shifted.
/// Bit-for-bit the same whatever the thread count.
#[allow(clippy::too_many_arguments)]
pub fn conv1d_backward(dx: &mut [f32], dw: &mut [f32], dout: &[f32], x: &[f32], w: &[f32], b: usize, ci: usize, co: usize, t: usize) {
    assert!(dx.len() >= b * ci * t && dw.len() >= co * ci * 3 && dout.len() >= b * co * t && x.len() >= b * ci * t);
    dx[..b * ci * t].par_chunks_mut(ci * t).zip(dout[..b * co * t].par_chunks(co * t)).for_each(|(d, g)| {
        // W_k^T (Ci, Co): element (i, o) at o*3Ci + 3i + k.
        gemm(ci, co, t, &w[1..], 3, 3 * ci, g, t, 1, 0.0, d, t, 1);
        if t > 1 {
            // k = 0: dx[:, t] += W_0^T dout[:, t + 1]
            gemm(ci, co, t - 1, w, 3, 3 * ci, &g[1..], t, 1, 1.0, d, t, 1);
            // k = 2: dx[:, t] += W_2^T dout[:, t - 1]
            gemm(ci, co, t - 1, &w[2..], 3, 3 * ci, g, t, 1, 1.0, &mut d[1..], t, 1);
        }
    });
    // dW_k (Co, Ci) = D (Co, B*T) X_k^T (B*T, Ci): one product per k over the whole batch, with
    // D and X_k gathered batch-major along time (X_k shifted by k - 1, zero at the clip edges).
    let n = b * t;
    let d = gather_time(dout, b, co, t, 0);
    let xs: Vec<Vec<f32>> = (0..3).map(|k| gather_time(x, b, ci, t, k as isize - 1)).collect();
    for (k, xk) in xs.iter().enumerate() {
        // X_k^T (B*T, Ci): element (j, i) at i*n + j. dW_k (Co, Ci) at o*3Ci + 3i + k.
        gemm_parallel(co, n, ci, &d, n, 1, xk, 1, n, 0.0, &mut dw[k..], 3 * ci, 3);
    }
}

/// (C, B*T) = x (B, C, T) with batch items laid side by side along time, shifted so that
/// out[c, (b, t)] = x[b, c, t + s] (zero outside 0..T).
fn gather_time(x: &[f32], b: usize, c: usize, t: usize, s: isize) -> Vec<f32> {
    let mut out = vec![0.0; c * b * t];
    out.par_chunks_mut(b * t).enumerate().for_each(|(ch, row)| {
        for bi in 0..b {
            let src = &x[(bi * c + ch) * t..(bi * c + ch + 1) * t];
            let dst = &mut row[bi * t..(bi + 1) * t];
            match s {
                0 => dst.copy_from_slice(src),
                -1 => dst[1..].copy_from_slice(&src[..t - 1]),
                1 => dst[..t - 1].copy_from_slice(&src[1..]),
                _ => unreachable!("shifts are -1, 0, 1"),
            }
        }
    });
    out
}
