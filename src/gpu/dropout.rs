//! `shaders/dropout.wgsl`: inverted dropout with the counter-based mask of
//! `wavnet::device::dropout_keep`, and its backward.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/dropout.wgsl");
const FWD: Kernel =
    Kernel { shader: "dropout", source: SRC, entry: "dropout_forward", wg: 64, bindings: &[ReadWrite, Read] };
const BWD: Kernel =
    Kernel { shader: "dropout", source: SRC, entry: "dropout_backward", wg: 64, bindings: &[ReadWrite, Read] };

fn check_p(op: &str, p: f32) {
    assert!((0.0..1.0).contains(&p), "{op}: p = {p} must be in [0, 1)");
}

/// out (N) =; x (N).
pub(super) fn forward(d: &GpuDevice, out: &GpuBuf, x: &GpuBuf, n: usize, p: f32, seed: u32) {
    check_p("dropout_forward", p);
    check_len("dropout_forward", "out", out, n);
    check_len("dropout_forward", "x", x, n);
    d.dispatch(
        &FWD,
        &[out, x],
        &[u("dropout_forward", n), p.to_bits(), seed, (1.0 / (1.0 - p)).to_bits()],
        groups(n, FWD.wg),
    );
}

/// dx (N) =; dout (N).
pub(super) fn backward(d: &GpuDevice, dx: &GpuBuf, dout: &GpuBuf, n: usize, p: f32, seed: u32) {
    check_p("dropout_backward", p);
    check_len("dropout_backward", "dx", dx, n);
    check_len("dropout_backward", "dout", dout, n);
    d.dispatch(
        &BWD,
        &[dx, dout],
        &[u("dropout_backward", n), p.to_bits(), seed, (1.0 / (1.0 - p)).to_bits()],
        groups(n, BWD.wg),
    );
}
