//! Inverted dropout with a counter-based hash mask (`device::dropout_keep`) that the WGSL
//! twin computes bit for bit, so both devices drop the same elements for the same seed.
use crate::device::dropout_keep;

/// out (N) =; x (N). out = keep ? x / (1 - p) : 0.
pub fn dropout_forward(out: &mut [f32], x: &[f32], n: usize, p: f32, seed: u32) {
    let scale = 1.0 / (1.0 - p);
    for i in 0..n {
        out[i] = if dropout_keep(seed, i as u32, p) { x[i] * scale } else { 0.0 };
    }
}

/// dx (N) =; dout (N). The same mask and scale.
pub fn dropout_backward(dx: &mut [f32], dout: &[f32], n: usize, p: f32, seed: u32) {
    dropout_forward(dx, dout, n, p, seed)
}
