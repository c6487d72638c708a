//! `shaders/maxpool.wgsl`: max-pool, kernel 2, stride 2, and its backward.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/maxpool.wgsl");
const FWD: Kernel =
    Kernel { shader: "maxpool", source: SRC, entry: "maxpool_forward", wg: 64, bindings: &[ReadWrite, Read] };
const BWD: Kernel =
    Kernel { shader: "maxpool", source: SRC, entry: "maxpool_backward", wg: 64, bindings: &[ReadWrite, Read, Read] };

/// out (B, C, T/2) =; x (B, C, T).
pub(super) fn forward(d: &GpuDevice, out: &GpuBuf, x: &GpuBuf, b: usize, c: usize, t: usize) {
    let op = "maxpool_forward";
    check_len(op, "out", out, b * c * (t / 2));
    check_len(op, "x", x, b * c * t);
    d.dispatch(&FWD, &[out, x], &[u(op, b), u(op, c), u(op, t)], groups(b * c * (t / 2), FWD.wg));
}

/// dx (B, C, T) =; dout (B, C, T/2); x (B, C, T).
pub(super) fn backward(d: &GpuDevice, dx: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, b: usize, c: usize, t: usize) {
    let op = "maxpool_backward";
    check_len(op, "dx", dx, b * c * t);
    check_len(op, "dout", dout, b * c * (t / 2));
    check_len(op, "x", x, b * c * t);
    d.dispatch(&BWD, &[dx, dout, x], &[u(op, b), u(op, c), u(op, t)], groups(b * c * t, BWD.wg));
}
