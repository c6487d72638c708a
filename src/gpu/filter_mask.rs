//! `shaders/filter_mask.wgsl`: out[b, f, t] = x[b, f, t] * mask[b, f] (SpecAugment-style
//! filter masking) and its backward.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/filter_mask.wgsl");
const FWD: Kernel = Kernel {
    shader: "filter_mask",
    source: SRC,
    entry: "filter_mask_forward",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};
const BWD: Kernel = Kernel {
    shader: "filter_mask",
    source: SRC,
    entry: "filter_mask_backward",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};

/// Sizes for the uniform slot; the element count B*F*T must fit in u32 too (the shader's index).
fn params(op: &str, b: usize, f: usize, t: usize) -> [u32; 3] {
    u(op, b * f * t);
    [u(op, b), u(op, f), u(op, t)]
}

/// out (B, F, T) =; x (B, F, T); mask (B, F).
pub(super) fn forward(d: &GpuDevice, out: &GpuBuf, x: &GpuBuf, mask: &GpuBuf, b: usize, f: usize, t: usize) {
    let op = "filter_mask_forward";
    check_len(op, "out", out, b * f * t);
    check_len(op, "x", x, b * f * t);
    check_len(op, "mask", mask, b * f);
    let p = |nb| params(op, nb, f, t).to_vec();
    let bufs = [(out, f * t), (x, f * t), (mask, f)];
    d.dispatch_pieces(op, &FWD, &bufs, b, p, |nb| groups(nb * f * t, FWD.wg), &[]);
}

/// dx (B, F, T) =; dout (B, F, T); mask (B, F).
pub(super) fn backward(d: &GpuDevice, dx: &GpuBuf, dout: &GpuBuf, mask: &GpuBuf, b: usize, f: usize, t: usize) {
    let op = "filter_mask_backward";
    check_len(op, "dx", dx, b * f * t);
    check_len(op, "dout", dout, b * f * t);
    check_len(op, "mask", mask, b * f);
    let p = |nb| params(op, nb, f, t).to_vec();
    let bufs = [(dx, f * t), (dout, f * t), (mask, f)];
    d.dispatch_pieces(op, &BWD, &bufs, b, p, |nb| groups(nb * f * t, BWD.wg), &[]);
}
