//! `shaders/gabor.wgsl`: the complex Gabor filterbank from (mu, sigma), and its backward.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/gabor.wgsl");
const FWD: Kernel =
    Kernel { shader: "gabor", source: SRC, entry: "gabor_forward", wg: 64, bindings: &[ReadWrite, Read, Read] };
const BWD: Kernel = Kernel {
    shader: "gabor",
    source: SRC,
    entry: "gabor_backward",
    wg: 64,
    bindings: &[ReadWrite, ReadWrite, Read, Read, Read],
};

fn check_w(op: &str, w: usize) {
    assert!(w % 2 == 1, "{op}: the filter length W = {w} must be odd");
    assert!(w >= 5, "{op}: the filter length W = {w} must be at least 5 (sigma is clamped to [2, W/2])");
}

/// kernel (2F, W) =; mu (F); sigma (F).
pub(super) fn forward(d: &GpuDevice, kernel: &GpuBuf, mu: &GpuBuf, sigma: &GpuBuf, f: usize, w: usize) {
    let op = "gabor_forward";
    check_w(op, w);
    check_len(op, "kernel", kernel, 2 * f * w);
    check_len(op, "mu", mu, f);
    check_len(op, "sigma", sigma, f);
    d.dispatch(&FWD, &[kernel, mu, sigma], &[u(op, f), u(op, w)], groups(f * w, FWD.wg));
}

/// dmu (F) =; dsigma (F) =; dkernel (2F, W); mu (F); sigma (F).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    d: &GpuDevice, dmu: &GpuBuf, dsigma: &GpuBuf, dkernel: &GpuBuf, mu: &GpuBuf, sigma: &GpuBuf, f: usize, w: usize,
) {
    let op = "gabor_backward";
    check_w(op, w);
    check_len(op, "dmu", dmu, f);
    check_len(op, "dsigma", dsigma, f);
    check_len(op, "dkernel", dkernel, 2 * f * w);
    check_len(op, "mu", mu, f);
    check_len(op, "sigma", sigma, f);
    d.dispatch(&BWD, &[dmu, dsigma, dkernel, mu, sigma], &[u(op, f), u(op, w)], groups(f, BWD.wg));
}
