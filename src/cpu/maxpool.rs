//! Max-pool over time, kernel 2, stride 2, floor (To = T / 2).
use rayon::prelude::*;

/// out (B, C, To) =; x (B, C, T).
pub fn maxpool_forward(out: &mut [f32], x: &[f32], b: usize, c: usize, t: usize) {
    let to = t / 2;
    if to == 0 {
        return;
    }
    out[..b * c * to].par_chunks_mut(to).with_min_len(16).zip(x[..b * c * t].par_chunks(t)).for_each(|(o, x)| {
        for u in 0..to {
            o[u] = x[2 * u].max(x[2 * u + 1]);
        }
    });
}

/// dx (B, C, T) =; dout (B, C, To); x (B, C, T). The gradient goes to the first maximum.
pub fn maxpool_backward(dx: &mut [f32], dout: &[f32], x: &[f32], b: usize, c: usize, t: usize) {
    let to = t / 2;
    dx[..b * c * t].par_chunks_mut(t).with_min_len(16).zip(x[..b * c * t].par_chunks(t)).enumerate().for_each(|(r, (d, x))| {
        let g = &dout[r * to..(r + 1) * to];
        for u in 0..to {
            // Branch-free: first = 1 when the first of the pair holds the max (ties: the first).
            let first = f32::from(u8::from(x[2 * u] >= x[2 * u + 1]));
            d[2 * u] = g[u] * first;
            d[2 * u + 1] = g[u] * (1.0 - first);
        }
        if t % 2 == 1 {
            d[t - 1] = 0.0;
        }
    });
}
