//! Global pooling over time: mean + max (their sum), one value per channel.
use rayon::prelude::*;

fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in x.iter().enumerate() {
        if *v > x[best] {
            best = i;
        }
    }
    best
}

/// out (B, C) =; x (B, C, T).
pub fn globalpool_forward(out: &mut [f32], x: &[f32], b: usize, c: usize, t: usize) {
    out[..b * c].par_iter_mut().with_min_len(16).zip(x[..b * c * t].par_chunks(t)).for_each(|(o, x)| {
        let mean = x.iter().map(|v| *v as f64).sum::<f64>() / t as f64;
        *o = mean as f32 + x[argmax(x)];
    });
}

/// dx (B, C, T) =; dout (B, C); x (B, C, T). dx = dout / T, plus dout at the first argmax.
pub fn globalpool_backward(dx: &mut [f32], dout: &[f32], x: &[f32], b: usize, c: usize, t: usize) {
    dx[..b * c * t].par_chunks_mut(t).with_min_len(16).zip(x[..b * c * t].par_chunks(t)).zip(&dout[..b * c]).for_each(|((d, x), g)| {
        d.fill(g / t as f32);
        d[argmax(x)] += g;
    });
}
