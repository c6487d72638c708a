//! `shaders/relu.wgsl`: out = max(x, 0) and its backward.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/relu.wgsl");
const FWD: Kernel = Kernel { shader: "relu", source: SRC, entry: "relu_forward", wg: 64, bindings: &[ReadWrite, Read] };
const BWD: Kernel =
    Kernel { shader: "relu", source: SRC, entry: "relu_backward", wg: 64, bindings: &[ReadWrite, Read, Read] };

/// out (N) =; x (N).
pub(super) fn forward(d: &GpuDevice, out: &GpuBuf, x: &GpuBuf, n: usize) {
    check_len("relu_forward", "out", out, n);
    check_len("relu_forward", "x", x, n);
    d.dispatch(&FWD, &[out, x], &[u("relu_forward", n)], groups(n, FWD.wg));
}

/// dx (N) =; dout (N); out (N).
pub(super) fn backward(d: &GpuDevice, dx: &GpuBuf, dout: &GpuBuf, out: &GpuBuf, n: usize) {
    check_len("relu_backward", "dx", dx, n);
    check_len("relu_backward", "dout", dout, n);
    check_len("relu_backward", "out", out, n);
    d.dispatch(&BWD, &[dx, dout, out], &[u("relu_backward", n)], groups(n, BWD.wg));
}
