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
    // in pieces of whole elements where N floats exceed one binding
    let p = |nb| vec![u("relu_forward", nb)];
    d.dispatch_pieces("relu_forward", &FWD, &[(out, 1), (x, 1)], n, p, |nb| groups(nb, FWD.wg), &[]);
}

/// dx (N) =; dout (N); out (N).
pub(super) fn backward(d: &GpuDevice, dx: &GpuBuf, dout: &GpuBuf, out: &GpuBuf, n: usize) {
    check_len("relu_backward", "dx", dx, n);
    check_len("relu_backward", "dout", dout, n);
    check_len("relu_backward", "out", out, n);
    let p = |nb| vec![u("relu_backward", nb)];
    d.dispatch_pieces("relu_backward", &BWD, &[(dx, 1), (dout, 1), (out, 1)], n, p, |nb| groups(nb, BWD.wg), &[]);
}
