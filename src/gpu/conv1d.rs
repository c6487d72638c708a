//! `shaders/conv1d.wgsl`: Conv1d (kernel 3, padding 1, no bias) and its backward, as three
//! entry points: forward and backward-data compute a 4 channel x 4 frame register tile per
//! invocation, backward-weight a 4 x 3 tile reducing over (B, T).
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/conv1d.wgsl");
/// Channel and frame tile sizes (`CT`, `TT` in the shader).
const CT: usize = 4;
const TT: usize = 4;
const FWD: Kernel =
    Kernel { shader: "conv1d", source: SRC, entry: "conv1d_forward", wg: 64, bindings: &[ReadWrite, Read, Read] };
const BWD_DATA: Kernel =
    Kernel { shader: "conv1d", source: SRC, entry: "conv1d_backward_data", wg: 64, bindings: &[ReadWrite, Read, Read] };
const BWD_WEIGHT: Kernel = Kernel {
    shader: "conv1d",
    source: SRC,
    entry: "conv1d_backward_weight",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};

fn params(op: &str, b: usize, ci: usize, co: usize, t: usize) -> [u32; 4] {
    assert!(ci > 0 && co > 0 && t > 0, "{op}: Ci, Co and T must be > 0");
    [u(op, b), u(op, ci), u(op, co), u(op, t)]
}

/// out (B, Co, T) =; x (B, Ci, T); w (Co, Ci, 3).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(d: &GpuDevice, out: &GpuBuf, x: &GpuBuf, w: &GpuBuf, b: usize, ci: usize, co: usize, t: usize) {
    let op = "conv1d_forward";
    let p = params(op, b, ci, co, t);
    check_len(op, "out", out, b * co * t);
    check_len(op, "x", x, b * ci * t);
    check_len(op, "w", w, co * ci * 3);
    d.dispatch(&FWD, &[out, x, w], &p, groups(b * co.div_ceil(CT) * t.div_ceil(TT), FWD.wg));
}

/// dx (B, Ci, T) =; dw (Co, Ci, 3) =; dout (B, Co, T); x (B, Ci, T); w (Co, Ci, 3).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    d: &GpuDevice, dx: &GpuBuf, dw: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, w: &GpuBuf, b: usize, ci: usize, co: usize,
    t: usize,
) {
    let op = "conv1d_backward";
    let p = params(op, b, ci, co, t);
    check_len(op, "dx", dx, b * ci * t);
    check_len(op, "dw", dw, co * ci * 3);
    check_len(op, "dout", dout, b * co * t);
    check_len(op, "x", x, b * ci * t);
    check_len(op, "w", w, co * ci * 3);
    d.dispatch(&BWD_DATA, &[dx, dout, w], &p, groups(b * ci.div_ceil(CT) * t.div_ceil(TT), BWD_DATA.wg));
    d.dispatch(&BWD_WEIGHT, &[dw, dout, x], &p, groups(co.div_ceil(CT) * ci, BWD_WEIGHT.wg));
}
