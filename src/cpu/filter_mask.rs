//! Filter (frequency) masking: out[b, f, t] = x[b, f, t] * mask[b, f], and its backward.
use rayon::prelude::*;

/// out (B, F, T) =; x (B, F, T); mask (B, F).
pub fn filter_mask_forward(out: &mut [f32], x: &[f32], mask: &[f32], b: usize, f: usize, t: usize) {
    assert!(out.len() >= b * f * t && x.len() >= b * f * t && mask.len() >= b * f, "filter_mask_forward: shapes");
    scale_rows(out, x, mask, b * f, t);
}

/// dx (B, F, T) =; dout (B, F, T); mask (B, F). d out / d x = mask.
pub fn filter_mask_backward(dx: &mut [f32], dout: &[f32], mask: &[f32], b: usize, f: usize, t: usize) {
    assert!(dx.len() >= b * f * t && dout.len() >= b * f * t && mask.len() >= b * f, "filter_mask_backward: shapes");
    scale_rows(dx, dout, mask, b * f, t);
}

/// o (R, T) =; x (R, T); m (R): o[r, t] = x[r, t] * m[r].
fn scale_rows(o: &mut [f32], x: &[f32], m: &[f32], rows: usize, t: usize) {
    if t == 0 {
        return;
    }
    o[..rows * t].par_chunks_mut(t).zip(x[..rows * t].par_chunks(t)).zip(&m[..rows]).for_each(|((o, x), m)| {
        for (o, x) in o.iter_mut().zip(x) {
            *o = x * m;
        }
    });
}
