//! ReLU.
use rayon::prelude::*;

const CHUNK: usize = 1 << 14;

/// out (N) =; x (N).
pub fn relu_forward(out: &mut [f32], x: &[f32], n: usize) {
    out[..n].par_chunks_mut(CHUNK).zip(x[..n].par_chunks(CHUNK)).for_each(|(o, x)| {
        for (o, x) in o.iter_mut().zip(x) {
            *o = x.max(0.0);
        }
    });
}

/// dx (N) =; dout (N); out (N). d relu / dx = 1 where out > 0.
pub fn relu_backward(dx: &mut [f32], dout: &[f32], out: &[f32], n: usize) {
    dx[..n].par_chunks_mut(CHUNK).zip(dout[..n].par_chunks(CHUNK)).zip(out[..n].par_chunks(CHUNK)).for_each(|((d, g), o)| {
        // Branch-free select (the signs are random, so a branch mispredicts half the time).
        let (g, o) = (&g[..d.len()], &o[..d.len()]);
        for i in 0..d.len() {
            d[i] = g[i] * f32::from(u8::from(o[i] > 0.0));
        }
    });
}
