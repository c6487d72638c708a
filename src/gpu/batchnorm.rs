//! `shaders/batchnorm.wgsl`: BatchNorm1d over (B, T) per channel, forward (train: a per-channel
//! reduction for mean / rstd / running stats, then an elementwise pass; eval: one elementwise
//! pass on the running stats) and train-mode backward (a per-channel reduction for dweight /
//! dbias, then an elementwise pass for dx).
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/batchnorm.wgsl");
const STATS: Kernel = Kernel {
    shader: "batchnorm",
    source: SRC,
    entry: "batchnorm_stats",
    wg: 64,
    bindings: &[ReadWrite, ReadWrite, ReadWrite, ReadWrite, Read],
};
const FWD_TRAIN: Kernel = Kernel {
    shader: "batchnorm",
    source: SRC,
    entry: "batchnorm_forward_train",
    wg: 64,
    bindings: &[ReadWrite, Read, Read, Read, Read, Read],
};
const FWD_EVAL: Kernel = Kernel {
    shader: "batchnorm",
    source: SRC,
    entry: "batchnorm_forward_eval",
    wg: 64,
    bindings: &[ReadWrite, Read, Read, Read, Read, Read],
};
const BWD_REDUCE: Kernel = Kernel {
    shader: "batchnorm",
    source: SRC,
    entry: "batchnorm_backward_reduce",
    wg: 64,
    bindings: &[ReadWrite, ReadWrite, Read, Read, Read, Read],
};
const BWD_DATA: Kernel = Kernel {
    shader: "batchnorm",
    source: SRC,
    entry: "batchnorm_backward_data",
    wg: 64,
    bindings: &[ReadWrite, Read, Read, Read, Read, Read, Read, Read],
};

fn params(op: &str, b: usize, c: usize, t: usize, momentum: f32, eps: f32) -> [u32; 5] {
    assert!(b * t > 0 && c > 0, "{op}: B T and C must be > 0");
    [u(op, b), u(op, c), u(op, t), momentum.to_bits(), eps.to_bits()]
}

/// out (B, C, T) =; mean (C), rstd (C) = in train mode; running_mean (C), running_var (C)
/// updated in train mode; x (B, C, T); weight (C); bias (C).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(
    d: &GpuDevice, out: &GpuBuf, mean: &GpuBuf, rstd: &GpuBuf, running_mean: &GpuBuf, running_var: &GpuBuf, x: &GpuBuf,
    weight: &GpuBuf, bias: &GpuBuf, b: usize, c: usize, t: usize, train: bool, momentum: f32, eps: f32,
) {
    let op = "batchnorm_forward";
    let p = params(op, b, c, t, momentum, eps);
    check_len(op, "out", out, b * c * t);
    check_len(op, "x", x, b * c * t);
    for (name, v) in [
        ("mean", mean),
        ("rstd", rstd),
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ] {
        check_len(op, name, v, c);
    }
    let n = b * c * t;
    if train {
        // one workgroup per channel
        d.dispatch(&STATS, &[mean, rstd, running_mean, running_var, x], &p, c);
        d.dispatch(&FWD_TRAIN, &[out, x, mean, rstd, weight, bias], &p, groups(n, FWD_TRAIN.wg));
    } else {
        d.dispatch(&FWD_EVAL, &[out, x, running_mean, running_var, weight, bias], &p, groups(n, FWD_EVAL.wg));
    }
}

/// dx (B, C, T) =; dweight (C) =; dbias (C) =; dout (B, C, T); x (B, C, T); mean, rstd, weight (C).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    d: &GpuDevice, dx: &GpuBuf, dweight: &GpuBuf, dbias: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, mean: &GpuBuf,
    rstd: &GpuBuf, weight: &GpuBuf, b: usize, c: usize, t: usize,
) {
    let op = "batchnorm_backward";
    let p = params(op, b, c, t, 0.0, 0.0);
    check_len(op, "dx", dx, b * c * t);
    check_len(op, "dout", dout, b * c * t);
    check_len(op, "x", x, b * c * t);
    for (name, v) in [("dweight", dweight), ("dbias", dbias), ("mean", mean), ("rstd", rstd), ("weight", weight)] {
        check_len(op, name, v, c);
    }
    d.dispatch(&BWD_REDUCE, &[dweight, dbias, dout, x, mean, rstd], &p, c);
    d.dispatch(&BWD_DATA, &[dx, dout, x, mean, rstd, weight, dweight, dbias], &p, groups(b * c * t, BWD_DATA.wg));
}
