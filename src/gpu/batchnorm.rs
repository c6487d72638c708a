//! `shaders/batchnorm.wgsl`: BatchNorm1d over (B, T) per channel, forward (train: a split
//! reduction for mean / rstd / running stats, then an elementwise pass; eval: one elementwise
//! pass on the running stats) and train-mode backward (a split reduction for dweight / dbias,
//! then an elementwise pass for dx).
//!
//! Split reductions: a partial pass with one workgroup per (channel, chunk of the B T
//! elements) writes partials to the device's scratch buffer, and a final pass with one
//! invocation per channel combines the chunks in a fixed order: deterministic, no atomics.
//! Chunk counts come from [`GpuDevice::reduction_plan`] (about [`TARGET_GROUPS`] workgroups in
//! all). Batches whose (B, C, T) tensors exceed one storage binding run in pieces
//! ([`GpuDevice::pieces`]); each piece's partial pass writes its own chunk rows.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel, ReductionPiece};

const SRC: &str = include_str!("../../shaders/batchnorm.wgsl");
/// Workgroups the partial passes aim for in all (channels x chunks): enough to fill a big GPU.
const TARGET_GROUPS: usize = 4096;
/// Fewest elements per chunk: 4 per invocation of a 256-wide reduction workgroup.
const MIN_CHUNK: usize = 1024;
const STATS_PARTIAL: Kernel = Kernel {
    shader: "batchnorm",
    source: SRC,
    entry: "batchnorm_stats_partial",
    wg: 64,
    bindings: &[ReadWrite, Read],
};
const STATS_FINAL: Kernel = Kernel {
    shader: "batchnorm",
    source: SRC,
    entry: "batchnorm_stats_final",
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
const BWD_PARTIAL: Kernel = Kernel {
    shader: "batchnorm",
    source: SRC,
    entry: "batchnorm_backward_partial",
    wg: 64,
    bindings: &[ReadWrite, Read, Read, Read, Read],
};
const BWD_FINAL: Kernel = Kernel {
    shader: "batchnorm",
    source: SRC,
    entry: "batchnorm_backward_final",
    wg: 64,
    bindings: &[ReadWrite, ReadWrite, Read],
};
const BWD_DATA: Kernel = Kernel {
    shader: "batchnorm",
    source: SRC,
    entry: "batchnorm_backward_data",
    wg: 64,
    bindings: &[ReadWrite, Read, Read, Read, Read, Read, Read, Read],
};

/// The uniform slot: (B, C, T, momentum, eps, chunks, chunk length, first chunk row, chunk
/// rows); `batchnorm_backward_data` adds the whole batch `b_all`.
#[allow(clippy::too_many_arguments)]
fn params(
    op: &str, b: usize, c: usize, t: usize, momentum: f32, eps: f32, nch: usize, chunk_len: usize, chunk0: usize,
    nch_total: usize,
) -> [u32; 9] {
    [
        u(op, b),
        u(op, c),
        u(op, t),
        momentum.to_bits(),
        eps.to_bits(),
        u(op, nch),
        u(op, chunk_len),
        u(op, chunk0),
        u(op, nch_total),
    ]
}

/// out (B, C, T) =; mean (C), rstd (C) = in train mode; running_mean (C), running_var (C)
/// updated in train mode; x (B, C, T); weight (C); bias (C).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(
    d: &GpuDevice, out: &GpuBuf, mean: &GpuBuf, rstd: &GpuBuf, running_mean: &GpuBuf, running_var: &GpuBuf, x: &GpuBuf,
    weight: &GpuBuf, bias: &GpuBuf, b: usize, c: usize, t: usize, train: bool, momentum: f32, eps: f32,
) {
    let op = "batchnorm_forward";
    assert!(b * t > 0 && c > 0, "{op}: B T and C must be > 0");
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
    let per = c * t;
    let (plan, rows) = d.reduction_plan(op, b, &[per], t, c, TARGET_GROUPS, MIN_CHUNK, 3 * c);
    if train {
        let part = d.scratch(3 * rows * c);
        let part = part.head(3 * rows * c);
        for &ReductionPiece { piece, chunks: nch, len, row0 } in &plan {
            let p = params(op, piece.1, c, t, momentum, eps, nch, len, row0, rows);
            d.dispatch_views(&STATS_PARTIAL, &[part, x.rows(piece, per)], &p, c * nch, &[]);
        }
        let p = params(op, b, c, t, momentum, eps, 0, 0, 0, rows);
        let views = [mean.all(), rstd.all(), running_mean.all(), running_var.all(), part];
        d.dispatch_views(&STATS_FINAL, &views, &p, groups(c, STATS_FINAL.wg), &[]);
    }
    let (k, sa, sb) = if train { (&FWD_TRAIN, mean, rstd) } else { (&FWD_EVAL, running_mean, running_var) };
    for &ReductionPiece { piece, .. } in &plan {
        let p = params(op, piece.1, c, t, momentum, eps, 0, 0, 0, 0);
        let views = [out.rows(piece, per), x.rows(piece, per), sa.all(), sb.all(), weight.all(), bias.all()];
        d.dispatch_views(k, &views, &p, groups(piece.1 * per, k.wg), &[]);
    }
}

/// dx (B, C, T) =; dweight (C) =; dbias (C) =; dout (B, C, T); x (B, C, T); mean, rstd, weight (C).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    d: &GpuDevice, dx: &GpuBuf, dweight: &GpuBuf, dbias: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, mean: &GpuBuf,
    rstd: &GpuBuf, weight: &GpuBuf, b: usize, c: usize, t: usize,
) {
    let op = "batchnorm_backward";
    assert!(b * t > 0 && c > 0, "{op}: B T and C must be > 0");
    check_len(op, "dx", dx, b * c * t);
    check_len(op, "dout", dout, b * c * t);
    check_len(op, "x", x, b * c * t);
    for (name, v) in [("dweight", dweight), ("dbias", dbias), ("mean", mean), ("rstd", rstd), ("weight", weight)] {
        check_len(op, name, v, c);
    }
    let per = c * t;
    let (plan, rows) = d.reduction_plan(op, b, &[per], t, c, TARGET_GROUPS, MIN_CHUNK, 2 * c);
    let part = d.scratch(2 * rows * c);
    let part = part.head(2 * rows * c);
    for &ReductionPiece { piece, chunks: nch, len, row0 } in &plan {
        let p = params(op, piece.1, c, t, 0.0, 0.0, nch, len, row0, rows);
        let views = [part, dout.rows(piece, per), x.rows(piece, per), mean.all(), rstd.all()];
        d.dispatch_views(&BWD_PARTIAL, &views, &p, c * nch, &[]);
    }
    let p = params(op, b, c, t, 0.0, 0.0, 0, 0, 0, rows);
    d.dispatch_views(&BWD_FINAL, &[dweight.all(), dbias.all(), part], &p, groups(c, BWD_FINAL.wg), &[]);
    for &ReductionPiece { piece, .. } in &plan {
        // P.b is the piece's batch; n = B T (the whole batch) comes in `b_all`
        let mut p = params(op, piece.1, c, t, 0.0, 0.0, 0, 0, 0, 0).to_vec();
        p.push(u(op, b));
        let views = [
            dx.rows(piece, per),
            dout.rows(piece, per),
            x.rows(piece, per),
            mean.all(),
            rstd.all(),
            weight.all(),
            dweight.all(),
            dbias.all(),
        ];
        d.dispatch_views(&BWD_DATA, &views, &p, groups(piece.1 * per, BWD_DATA.wg), &[]);
    }
}
