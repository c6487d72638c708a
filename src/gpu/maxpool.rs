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
    let p = |nb| vec![u(op, nb), u(op, c), u(op, t)];
    d.dispatch_pieces(op, &FWD, &[(out, c * (t / 2)), (x, c * t)], b, p, |nb| groups(nb * c * (t / 2), FWD.wg), &[]);
}

/// dx (B, C, T) =; dout (B, C, T/2); x (B, C, T).
pub(super) fn backward(d: &GpuDevice, dx: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, b: usize, c: usize, t: usize) {
    let op = "maxpool_backward";
    check_len(op, "dx", dx, b * c * t);
    check_len(op, "dout", dout, b * c * (t / 2));
    check_len(op, "x", x, b * c * t);
    let p = |nb| vec![u(op, nb), u(op, c), u(op, t)];
    let bufs = [(dx, c * t), (dout, c * (t / 2)), (x, c * t)];
    d.dispatch_pieces(op, &BWD, &bufs, b, p, |nb| groups(nb * c * t, BWD.wg), &[]);
}
