//! BatchNorm1d over (B, T) per channel, train mode (batch statistics, running statistics
//! updated) and eval mode (running statistics). Statistics are summed in f32 lanes per row and
//! accumulated across rows in f64.
use rayon::prelude::*;

/// Per-channel sums over the batch: sum_b row(ch, offset of row (b, ch)), in f64; (C).
fn channel_sums(c: usize, b: usize, t: usize, row: impl Fn(usize, usize) -> f64 + Sync) -> Vec<f64> {
    (0..c).into_par_iter().map(|ch| (0..b).map(|bi| row(ch, (bi * c + ch) * t)).sum()).collect()
}

/// sum_i f(a[i], b[i]) in 8 independent f32 lanes (vectorisable) combined in f64.
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let n = a.len().min(b.len());
    let mut lanes = [0f32; 8];
    let (ac, bc) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            lanes[l] += f(x[l], y[l]);
        }
    }
    let tail: f64 = ar.iter().zip(br).map(|(x, y)| f(*x, *y) as f64).sum();
    lanes.iter().map(|v| *v as f64).sum::<f64>() + tail
}

/// out (B, C, T) =; mean (C); rstd (C); running_mean (C); running_var (C); x (B, C, T);
/// weight (C); bias (C). See `Device::batchnorm_forward`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward(
    out: &mut [f32], mean: &mut [f32], rstd: &mut [f32], running_mean: &mut [f32], running_var: &mut [f32], x: &[f32],
    weight: &[f32], bias: &[f32], b: usize, c: usize, t: usize, train: bool, momentum: f32, eps: f32,
) {
    let n = (b * t) as f64;
    let (mu, rs): (Vec<f32>, Vec<f32>) = if train {
        let m = channel_sums(c, b, t, |_, o| lane_sum(&x[o..o + t], &x[o..o + t], |v, _| v));
        let m: Vec<f64> = m.iter().map(|s| s / n).collect();
        let var = channel_sums(c, b, t, |ch, o| {
            let mc = m[ch] as f32;
            lane_sum(&x[o..o + t], &x[o..o + t], |v, _| (v - mc) * (v - mc))
        });
        let mut mu = vec![0.0; c];
        let mut rs = vec![0.0; c];
        for ch in 0..c {
            let v = var[ch] / n;
            mu[ch] = m[ch] as f32;
            rs[ch] = (1.0 / (v + eps as f64).sqrt()) as f32;
            mean[ch] = mu[ch];
            rstd[ch] = rs[ch];
            let unbiased = if n > 1.0 { v * n / (n - 1.0) } else { v };
            running_mean[ch] = (1.0 - momentum) * running_mean[ch] + momentum * m[ch] as f32;
            running_var[ch] = (1.0 - momentum) * running_var[ch] + momentum * unbiased as f32;
        }
        (mu, rs)
    } else {
        (running_mean[..c].to_vec(), running_var[..c].iter().map(|v| 1.0 / (v + eps).sqrt()).collect())
    };
    out[..b * c * t].par_chunks_mut(t).with_min_len(16).enumerate().for_each(|(r, o)| {
        let ch = r % c;
        let (scale, shift) = (rs[ch] * weight[ch], bias[ch] - mu[ch] * rs[ch] * weight[ch]);
        for (o, x) in o.iter_mut().zip(&x[r * t..(r + 1) * t]) {
            *o = x * scale + shift;
        }
    });
}

/// dx (B, C, T) =; dweight (C) =; dbias (C) =; dout (B, C, T); x (B, C, T); mean (C); rstd (C); weight (C).
/// xhat = (x - mean) rstd; dbias = sum dout; dweight = sum dout xhat;
/// dx = weight rstd / n (n dout - dbias - xhat dweight).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    dx: &mut [f32], dweight: &mut [f32], dbias: &mut [f32], dout: &[f32], x: &[f32], mean: &[f32], rstd: &[f32],
    weight: &[f32], b: usize, c: usize, t: usize,
) {
    let db = channel_sums(c, b, t, |_, o| lane_sum(&dout[o..o + t], &dout[o..o + t], |g, _| g));
    let dw = channel_sums(c, b, t, |ch, o| {
        let (m, r) = (mean[ch], rstd[ch]);
        lane_sum(&dout[o..o + t], &x[o..o + t], |g, v| g * ((v - m) * r))
    });
    for ch in 0..c {
        dbias[ch] = db[ch] as f32;
        dweight[ch] = dw[ch] as f32;
    }
    let n = (b * t) as f32;
    dx[..b * c * t].par_chunks_mut(t).with_min_len(16).enumerate().for_each(|(r, d)| {
        let ch = r % c;
        let k = weight[ch] * rstd[ch] / n;
        for i in 0..t {
            let xhat = (x[r * t + i] - mean[ch]) * rstd[ch];
            d[i] = k * (n * dout[r * t + i] - dbias[ch] - xhat * dweight[ch]);
        }
    });
}
