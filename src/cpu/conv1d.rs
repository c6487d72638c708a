//! Conv1d, kernel 3, padding 1, no bias, as three shifted matrix products per batch item:
//! out[b] (Co, T) = sum_k W_k (Co, Ci) x[b] shifted by k - 1, with W_k = w[:, :, k] read in
//! place through strides (no im2col, no padding copy).
use rayon::prelude::*;

use super::{gemm, sum_partials, REDUCE_CHUNK};

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
    let partials: Vec<Vec<f32>> = (0..b.div_ceil(REDUCE_CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut acc = vec![0.0; co * ci * 3];
            for bi in chunk * REDUCE_CHUNK..((chunk + 1) * REDUCE_CHUNK).min(b) {
                let g = &dout[bi * co * t..(bi + 1) * co * t];
                let xb = &x[bi * ci * t..(bi + 1) * ci * t];
                // x^T (T, Ci): element (t, i) at i*T + t. dW_k (Co, Ci) at o*3Ci + 3i + k.
                gemm(co, t, ci, g, t, 1, xb, 1, t, 1.0, &mut acc[1..], 3 * ci, 3);
                if t > 1 {
                    gemm(co, t - 1, ci, &g[1..], t, 1, xb, 1, t, 1.0, &mut acc, 3 * ci, 3);
                    gemm(co, t - 1, ci, g, t, 1, &xb[1..], 1, t, 1.0, &mut acc[2..], 3 * ci, 3);
                }
            }
            acc
        })
        .collect();
    sum_partials(&mut dw[..co * ci * 3], partials);
}
