//! BatchNorm1d over (B, T) per channel, train mode (batch statistics, running statistics
//! updated) and eval mode (running statistics). Statistics are accumulated in f64.
use rayon::prelude::*;

/// Per-channel sums over (B, T) of f(value index): returns (C) in f64.
fn channel_sums(c: usize, b: usize, t: usize, f: impl Fn(usize) -> f64 + Sync) -> Vec<f64> {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let mut s = 0.0;
            for bi in 0..b {
                let base = (bi * c + ch) * t;
                for i in base..base + t {
                    s += f(i);
                }
            }
            s
        })
        .collect()
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
        let m = channel_sums(c, b, t, |i| x[i] as f64);
        let m: Vec<f64> = m.iter().map(|s| s / n).collect();
        let var = channel_sums(c, b, t, |i| {
            let d = x[i] as f64 - m[(i / t) % c];
            d * d
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
    out[..b * c * t].par_chunks_mut(t).enumerate().for_each(|(r, o)| {
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
    let db = channel_sums(c, b, t, |i| dout[i] as f64);
    let dw = channel_sums(c, b, t, |i| {
        let ch = (i / t) % c;
        dout[i] as f64 * ((x[i] - mean[ch]) * rstd[ch]) as f64
    });
    for ch in 0..c {
        dbias[ch] = db[ch] as f32;
        dweight[ch] = dw[ch] as f32;
    }
    let n = (b * t) as f32;
    dx[..b * c * t].par_chunks_mut(t).enumerate().for_each(|(r, d)| {
        let ch = r % c;
        let k = weight[ch] * rstd[ch] / n;
        for i in 0..t {
            let xhat = (x[r * t + i] - mean[ch]) * rstd[ch];
            d[i] = k * (n * dout[r * t + i] - dbias[ch] - xhat * dweight[ch]);
        }
    });
}
