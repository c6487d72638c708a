//! Log energy of the complex filter outputs: out = ln(re^2 + im^2 + 1e-5).
use rayon::prelude::*;

pub const LOG_EPS: f32 = 1e-5;

/// out (B, F, T) =; y (B, 2F, T).
pub fn log_energy_forward(out: &mut [f32], y: &[f32], b: usize, f: usize, t: usize) {
    assert!(out.len() >= b * f * t && y.len() >= b * 2 * f * t, "log_energy_forward: shapes");
    out[..b * f * t].par_chunks_mut(f * t).zip(y.par_chunks(2 * f * t)).for_each(|(ob, yb)| {
        let (re, im) = yb.split_at(f * t);
        for i in 0..f * t {
            ob[i] = (re[i] * re[i] + im[i] * im[i] + LOG_EPS).ln();
        }
    });
}

/// dy (B, 2F, T) =; dout (B, F, T); y (B, 2F, T). d out / d re = 2 re / (e + eps).
pub fn log_energy_backward(dy: &mut [f32], dout: &[f32], y: &[f32], b: usize, f: usize, t: usize) {
    assert!(dy.len() >= b * 2 * f * t && dout.len() >= b * f * t && y.len() >= b * 2 * f * t, "log_energy_backward: shapes");
    dy[..b * 2 * f * t].par_chunks_mut(2 * f * t).zip(dout.par_chunks(f * t)).zip(y.par_chunks(2 * f * t)).for_each(
        |((db, gb), yb)| {
            let (re, im) = yb.split_at(f * t);
            let (dre, dim) = db.split_at_mut(f * t);
            for i in 0..f * t {
                let s = 2.0 * gb[i] / (re[i] * re[i] + im[i] * im[i] + LOG_EPS);
                dre[i] = s * re[i];
                dim[i] = s * im[i];
            }
        },
    );
}
