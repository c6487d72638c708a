//! `shaders/globalpool.wgsl`: mean + max over time, and its backward.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/globalpool.wgsl");
const FWD: Kernel =
    Kernel { shader: "globalpool", source: SRC, entry: "globalpool_forward", wg: 64, bindings: &[ReadWrite, Read] };
const BWD: Kernel = Kernel {
    shader: "globalpool",
    source: SRC,
    entry: "globalpool_backward",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};

/// out (B, C) =; x (B, C, T).
pub(super) fn forward(d: &GpuDevice, out: &GpuBuf, x: &GpuBuf, b: usize, c: usize, t: usize) {
    let op = "globalpool_forward";
    assert!(t > 0, "{op}: T must be > 0");
    check_len(op, "out", out, b * c);
    check_len(op, "x", x, b * c * t);
    let p = |nb| vec![u(op, nb), u(op, c), u(op, t)];
    d.dispatch_pieces(op, &FWD, &[(out, c), (x, c * t)], b, p, |nb| groups(nb * c, FWD.wg), &[]);
}

/// dx (B, C, T) =; dout (B, C); x (B, C, T).
pub(super) fn backward(d: &GpuDevice, dx: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, b: usize, c: usize, t: usize) {
    let op = "globalpool_backward";
    assert!(t > 0, "{op}: T must be > 0");
    check_len(op, "dx", dx, b * c * t);
    check_len(op, "dout", dout, b * c);
    check_len(op, "x", x, b * c * t);
    let p = |nb| vec![u(op, nb), u(op, c), u(op, t)];
    d.dispatch_pieces(op, &BWD, &[(dx, c * t), (dout, c), (x, c * t)], b, p, |nb| groups(nb * c, BWD.wg), &[]);
}
