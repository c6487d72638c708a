//! AdamW, PyTorch's formulation (decoupled weight decay applied before the Adam update).
use rayon::prelude::*;

use crate::device::AdamW;

/// param, m, v (N) updated in place; grad (N).
pub fn adamw_step(param: &mut [f32], m: &mut [f32], v: &mut [f32], grad: &[f32], n: usize, hp: &AdamW) {
    const CHUNK: usize = 1 << 13;
    param[..n]
        .par_chunks_mut(CHUNK)
        .zip(m[..n].par_chunks_mut(CHUNK))
        .zip(v[..n].par_chunks_mut(CHUNK))
        .zip(grad[..n].par_chunks(CHUNK))
        .for_each(|(((p, m), v), g)| {
            for i in 0..p.len() {
                p[i] -= hp.lr * hp.weight_decay * p[i];
                m[i] = hp.beta1 * m[i] + (1.0 - hp.beta1) * g[i];
                v[i] = hp.beta2 * v[i] + (1.0 - hp.beta2) * g[i] * g[i];
                p[i] -= hp.lr * (m[i] / hp.bc1) / ((v[i] / hp.bc2).sqrt() + hp.eps);
            }
        });
}
