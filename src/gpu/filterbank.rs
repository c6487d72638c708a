//! `shaders/filterbank.wgsl`: strided convolution of the waveform with the filterbank, and
//! the filterbank's gradient. Each invocation computes KT = 4 filterbank rows.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/filterbank.wgsl");
/// Rows per invocation (`KT` in the shader).
const KT: usize = 4;
const FWD: Kernel = Kernel {
    shader: "filterbank",
    source: SRC,
    entry: "filterbank_forward",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};
const BWD: Kernel = Kernel {
    shader: "filterbank",
    source: SRC,
    entry: "filterbank_backward",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};

#[allow(clippy::too_many_arguments)]
fn check(op: &str, b: usize, l: usize, k2: usize, w: usize, h: usize, t: usize) -> [u32; 6] {
    assert!(h > 0 && k2 > 0 && w > 0, "{op}: H, K2 and W must be > 0");
    assert!(t == l / h + 1, "{op}: T = {t} but L / H + 1 = {}", l / h + 1);
    [u(op, b), u(op, l), u(op, k2), u(op, w), u(op, h), u(op, t)]
}

/// y (B, K2, T) =; x (B, L); kernel (K2, W).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(
    d: &GpuDevice, y: &GpuBuf, x: &GpuBuf, kernel: &GpuBuf, b: usize, l: usize, k2: usize, w: usize, h: usize, t: usize,
) {
    let op = "filterbank_forward";
    let p = check(op, b, l, k2, w, h, t);
    check_len(op, "y", y, b * k2 * t);
    check_len(op, "x", x, b * l);
    check_len(op, "kernel", kernel, k2 * w);
    d.dispatch(&FWD, &[y, x, kernel], &p, groups(b * k2.div_ceil(KT) * t, FWD.wg));
}

/// dkernel (K2, W) =; dy (B, K2, T); x (B, L).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    d: &GpuDevice, dkernel: &GpuBuf, dy: &GpuBuf, x: &GpuBuf, b: usize, l: usize, k2: usize, w: usize, h: usize,
    t: usize,
) {
    let op = "filterbank_backward";
    let p = check(op, b, l, k2, w, h, t);
    check_len(op, "dkernel", dkernel, k2 * w);
    check_len(op, "dy", dy, b * k2 * t);
    check_len(op, "x", x, b * l);
    d.dispatch(&BWD, &[dkernel, dy, x], &p, groups(k2.div_ceil(KT) * w, BWD.wg));
}
