//! Builds the complex Gabor filterbank (2F, W) from per-filter centre frequency and width.
//! F filters, W taps (odd), n = j - W/2 for tap j.
use std::f32::consts::PI;

/// Clamp ranges of the two parameters: mu in [0, pi] rad/sample, sigma in [2, W/2] samples.
pub fn clamp_ranges(w: usize) -> ((f32, f32), (f32, f32)) {
    ((0.0, PI), (2.0, (w / 2) as f32))
}

/// Clamped (mu, sigma) of filter `i` and the envelope's normalisation 1 / (sqrt(2 pi) s).
fn filter(mu: &[f32], sigma: &[f32], i: usize, w: usize) -> (f32, f32, f32) {
    let ((mlo, mhi), (slo, shi)) = clamp_ranges(w);
    let (m, s) = (mu[i].clamp(mlo, mhi), sigma[i].clamp(slo, shi));
    (m, s, 1.0 / ((2.0 * PI).sqrt() * s))
}

/// kernel (2F, W) =; mu (F); sigma (F).
/// env = exp(-n^2 / (2 s^2)) / (sqrt(2 pi) s); kernel[f] = env cos(mu n); kernel[F+f] = env sin(mu n).
pub fn gabor_forward(kernel: &mut [f32], mu: &[f32], sigma: &[f32], f: usize, w: usize) {
    assert!(kernel.len() >= 2 * f * w && mu.len() >= f && sigma.len() >= f, "gabor_forward: shapes");
    let half = (w / 2) as i64;
    for i in 0..f {
        let (m, s, norm) = filter(mu, sigma, i, w);
        for j in 0..w {
            let n = (j as i64 - half) as f32;
            let env = (-n * n / (2.0 * s * s)).exp() * norm;
            kernel[i * w + j] = env * (m * n).cos();
            kernel[(f + i) * w + j] = env * (m * n).sin();
        }
    }
}

/// dmu (F) =; dsigma (F) =; dkernel (2F, W); mu (F); sigma (F).
/// d re/d mu = -env n sin(mu n), d im/d mu = env n cos(mu n);
/// d env/d s = env (n^2 / s^3 - 1 / s); zero where the clamp is active.
pub fn gabor_backward(dmu: &mut [f32], dsigma: &mut [f32], dkernel: &[f32], mu: &[f32], sigma: &[f32], f: usize, w: usize) {
    assert!(dkernel.len() >= 2 * f * w && dmu.len() >= f && dsigma.len() >= f, "gabor_backward: shapes");
    let ((mlo, mhi), (slo, shi)) = clamp_ranges(w);
    let half = (w / 2) as i64;
    for i in 0..f {
        let (m, s, norm) = filter(mu, sigma, i, w);
        let (mut gm, mut gs) = (0.0f32, 0.0f32);
        for j in 0..w {
            let n = (j as i64 - half) as f32;
            let env = (-n * n / (2.0 * s * s)).exp() * norm;
            let (sn, cs) = (m * n).sin_cos();
            let (dre, dim) = (dkernel[i * w + j], dkernel[(f + i) * w + j]);
            gm += dre * (-env * n * sn) + dim * (env * n * cs);
            gs += (dre * cs + dim * sn) * env * (n * n / (s * s * s) - 1.0 / s);
        }
        dmu[i] = if (mlo..=mhi).contains(&mu[i]) { gm } else { 0.0 };
        dsigma[i] = if (slo..=shi).contains(&sigma[i]) { gs } else { 0.0 };
    }
}
