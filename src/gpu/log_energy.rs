//! `shaders/log_energy.wgsl`: ln(re^2 + im^2 + 1e-5) of the filterbank output, and its backward.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/log_energy.wgsl");
const FWD: Kernel =
    Kernel { shader: "log_energy", source: SRC, entry: "log_energy_forward", wg: 64, bindings: &[ReadWrite, Read] };
const BWD: Kernel = Kernel {
    shader: "log_energy",
    source: SRC,
    entry: "log_energy_backward",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};

/// out (B, F, T) =; y (B, 2F, T).
pub(super) fn forward(d: &GpuDevice, out: &GpuBuf, y: &GpuBuf, b: usize, f: usize, t: usize) {
    let op = "log_energy_forward";
    check_len(op, "out", out, b * f * t);
    check_len(op, "y", y, b * 2 * f * t);
    let p = |nb| vec![u(op, nb), u(op, f), u(op, t)];
    d.dispatch_pieces(op, &FWD, &[(out, f * t), (y, 2 * f * t)], b, p, |nb| groups(nb * f * t, FWD.wg), &[]);
}

/// dy (B, 2F, T) =; dout (B, F, T); y (B, 2F, T).
pub(super) fn backward(d: &GpuDevice, dy: &GpuBuf, dout: &GpuBuf, y: &GpuBuf, b: usize, f: usize, t: usize) {
    let op = "log_energy_backward";
    check_len(op, "dy", dy, b * 2 * f * t);
    check_len(op, "dout", dout, b * f * t);
    check_len(op, "y", y, b * 2 * f * t);
    let p = |nb| vec![u(op, nb), u(op, f), u(op, t)];
    let bufs = [(dy, 2 * f * t), (dout, f * t), (y, 2 * f * t)];
    d.dispatch_pieces(op, &BWD, &bufs, b, p, |nb| groups(nb * f * t, BWD.wg), &[]);
}
