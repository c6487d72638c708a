//! `shaders/linear.wgsl`: fully connected layer and its backward (data, then weight + bias).
//! Each invocation computes RT = 4 outputs along a row.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/linear.wgsl");
/// Outputs per invocation (`RT` in the shader).
const RT: usize = 4;
const FWD: Kernel =
    Kernel { shader: "linear", source: SRC, entry: "linear_forward", wg: 64, bindings: &[ReadWrite, Read, Read, Read] };
const BWD_DATA: Kernel =
    Kernel { shader: "linear", source: SRC, entry: "linear_backward_data", wg: 64, bindings: &[ReadWrite, Read, Read] };
const BWD_WEIGHT: Kernel = Kernel {
    shader: "linear",
    source: SRC,
    entry: "linear_backward_weight",
    wg: 64,
    bindings: &[ReadWrite, ReadWrite, Read, Read],
};

fn params(op: &str, b: usize, c: usize, k: usize) -> [u32; 3] {
    assert!(c > 0 && k > 0, "{op}: C and K must be > 0");
    [u(op, b), u(op, c), u(op, k)]
}

/// out (B, K) =; x (B, C); w (K, C); bias (K).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(
    d: &GpuDevice, out: &GpuBuf, x: &GpuBuf, w: &GpuBuf, bias: &GpuBuf, b: usize, c: usize, k: usize,
) {
    let op = "linear_forward";
    let p = params(op, b, c, k);
    check_len(op, "out", out, b * k);
    check_len(op, "x", x, b * c);
    check_len(op, "w", w, k * c);
    check_len(op, "bias", bias, k);
    d.dispatch(&FWD, &[out, x, w, bias], &p, groups(b * k.div_ceil(RT), FWD.wg));
}

/// dx (B, C) =; dw (K, C) =; dbias (K) =; dout (B, K); x (B, C); w (K, C).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    d: &GpuDevice, dx: &GpuBuf, dw: &GpuBuf, dbias: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, w: &GpuBuf, b: usize, c: usize,
    k: usize,
) {
    let op = "linear_backward";
    let p = params(op, b, c, k);
    check_len(op, "dx", dx, b * c);
    check_len(op, "dw", dw, k * c);
    check_len(op, "dbias", dbias, k);
    check_len(op, "dout", dout, b * k);
    check_len(op, "x", x, b * c);
    check_len(op, "w", w, k * c);
    d.dispatch(&BWD_DATA, &[dx, dout, w], &p, groups(b * c.div_ceil(RT), BWD_DATA.wg));
    d.dispatch(&BWD_WEIGHT, &[dw, dbias, dout, x], &p, groups(k * c.div_ceil(RT), BWD_WEIGHT.wg));
}
