//! Max-pool over time, kernel 2, stride 2, floor (To = T / 2).
use rayon::prelude::*;

/// out (B, C, To) =; x (B, C, T).
pub fn maxpool_forward(out: &mut [f32], x: &[f32], b: usize, c: usize, t: usize) {
    let to = t / 2;
    if to == 0 {
        return;
    }
    out[..b * c * to].par_chunks_mut(to).zip(x[..b * c * t].par_chunks(t)).for_each(|(o, x)| {
        for u in 0..to {
            o[u] = x[2 * u].max(x[2 * u + 1]);
        }
    });
}

/// dx (B, C, T) =; dout (B, C, To); x (B, C, T). The gradient goes to the first maximum.
pub fn maxpool_backward(dx: &mut [f32], dout: &[f32], x: &[f32], b: usize, c: usize, t: usize) {
    let to = t / 2;
    dx[..b * c * t].par_chunks_mut(t).zip(x[..b * c * t].par_chunks(t)).enumerate().for_each(|(r, (d, x))| {
        d.fill(0.0);
        for u in 0..to {
            let g = dout[r * to + u];
            if x[2 * u] >= x[2 * u + 1] {
                d[2 * u] = g;
            } else {
                d[2 * u + 1] = g;
            }
        }
    });
}
