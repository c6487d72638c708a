//! `shaders/adamw.wgsl`: one AdamW step on one tensor, in place.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};
use crate::device::AdamW;

const SRC: &str = include_str!("../../shaders/adamw.wgsl");
const STEP: Kernel = Kernel {
    shader: "adamw",
    source: SRC,
    entry: "adamw_step",
    wg: 64,
    bindings: &[ReadWrite, ReadWrite, ReadWrite, Read],
};

/// param, m, v (N) updated; grad (N).
pub(super) fn step(d: &GpuDevice, param: &GpuBuf, m: &GpuBuf, v: &GpuBuf, grad: &GpuBuf, n: usize, hp: &AdamW) {
    for (name, b) in [("param", param), ("m", m), ("v", v), ("grad", grad)] {
        check_len("adamw_step", name, b, n);
    }
    let params = [
        u("adamw_step", n),
        hp.lr.to_bits(),
        hp.beta1.to_bits(),
        hp.beta2.to_bits(),
        hp.eps.to_bits(),
        hp.weight_decay.to_bits(),
        hp.bc1.to_bits(),
        hp.bc2.to_bits(),
    ];
    d.dispatch(&STEP, &[param, m, v, grad], &params, groups(n, STEP.wg));
}
