//! `shaders/filterbank.wgsl`: strided convolution of the waveform with the filterbank, and
//! the filterbank's gradient (a split reduction over chunks of the (B, T) frames: partial
//! pass, then a fixed-order final sum; deterministic, no atomics). Each invocation computes
//! KT = 4 filterbank rows. The forward product has a second variant with workgroup
//! shared-memory tiles (`filterbank_forward_tiled`, [`super::Tuning::tiled`]).
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel, ReductionPiece};

const SRC: &str = include_str!("../../shaders/filterbank.wgsl");
/// Rows per invocation (`KT` in the shader).
const KT: usize = 4;
const FWD: Kernel = Kernel {
    shader: "filterbank",
    source: SRC,
    entry: "filterbank_forward",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};
const FWD_TILED: Kernel = Kernel {
    shader: "filterbank",
    source: SRC,
    entry: "filterbank_forward_tiled",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};
const BWD_PARTIAL: Kernel = Kernel {
    shader: "filterbank",
    source: SRC,
    entry: "filterbank_backward_partial",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};
const BWD_FINAL: Kernel = Kernel {
    shader: "filterbank",
    source: SRC,
    entry: "filterbank_backward_final",
    wg: 64,
    bindings: &[ReadWrite, Read],
};
/// Invocations the gradient's partial pass aims for in all (row groups x taps x chunks).
const TARGET_INVOCATIONS: usize = 1 << 18;
/// Fewest (b, t) frames per chunk of the gradient's reduction.
const MIN_CHUNK: usize = 64;

#[allow(clippy::too_many_arguments)]
fn check(op: &str, b: usize, l: usize, k2: usize, w: usize, h: usize, t: usize) -> [u32; 6] {
    assert!(h > 0 && k2 > 0 && w > 0, "{op}: H, K2 and W must be > 0");
    assert!(t == l / h + 1, "{op}: T = {t} but L / H + 1 = {}", l / h + 1);
    [u(op, b), u(op, l), u(op, k2), u(op, w), u(op, h), u(op, t)]
}

/// y (B, K2, T) =; x (B, L); kernel (K2, W).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(
    d: &GpuDevice, y: &GpuBuf, x: &GpuBuf, kernel: &GpuBuf, b: usize, l: usize, k2: usize, w: usize, h: usize, t: usize,
) {
    let op = "filterbank_forward";
    let p = check(op, b, l, k2, w, h, t);
    check_len(op, "y", y, b * k2 * t);
    check_len(op, "x", x, b * l);
    check_len(op, "kernel", kernel, k2 * w);
    let pp = |nb| {
        let mut q = p.to_vec();
        q[0] = u(op, nb);
        q
    };
    let bufs = [(y, k2 * t), (x, l), (kernel, 0)];
    let tuning = d.tuning();
    if tuning.tiled {
        // one workgroup per (b, FK rows, FT frames): see filterbank_forward_tiled
        let [fk, ft, fj] = tuning.fb_tile;
        let consts = [("FK", fk), ("FT", ft), ("FJ", fj), ("FN", fk * ft / 16)];
        let gr = |nb: usize| nb * k2.div_ceil(fk as usize) * t.div_ceil(ft as usize);
        d.dispatch_pieces(op, &FWD_TILED, &bufs, b, pp, gr, &consts);
    } else {
        let gr = |nb: usize| groups(nb * k2.div_ceil(KT) * t, FWD.wg);
        d.dispatch_pieces(op, &FWD, &bufs, b, pp, gr, &[]);
    }
}

/// dkernel (K2, W) =; dy (B, K2, T); x (B, L).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    d: &GpuDevice, dkernel: &GpuBuf, dy: &GpuBuf, x: &GpuBuf, b: usize, l: usize, k2: usize, w: usize, h: usize,
    t: usize,
) {
    let op = "filterbank_backward";
    let p = check(op, b, l, k2, w, h, t);
    check_len(op, "dkernel", dkernel, k2 * w);
    check_len(op, "dy", dy, b * k2 * t);
    check_len(op, "x", x, b * l);
    // Split reduction over chunks of the B T frames (partials in the scratch buffer, then a
    // fixed-order sum per tap: deterministic), in pieces of the batch if needed.
    let units = k2.div_ceil(KT) * w;
    let (plan, rows) = d.reduction_plan(op, b, &[k2 * t, l], t, units, TARGET_INVOCATIONS, MIN_CHUNK, k2 * w);
    let part = d.scratch(rows * k2 * w);
    let part = part.head(rows * k2 * w);
    let with = |b: usize, chunks: [usize; 4]| {
        let mut q = p.to_vec();
        q[0] = u(op, b);
        q.extend(chunks.map(|v| u(op, v)));
        q
    };
    for ReductionPiece { piece, chunks: nch, len, row0 } in plan {
        let views = [part, dy.rows(piece, k2 * t), x.rows(piece, l)];
        let q = with(piece.1, [nch, len, row0, rows]);
        d.dispatch_views(&BWD_PARTIAL, &views, &q, groups(units * nch, BWD_PARTIAL.wg), &[]);
    }
    let q = with(b, [0, 0, 0, rows]);
    d.dispatch_views(&BWD_FINAL, &[dkernel.all(), part], &q, groups(k2 * w, BWD_FINAL.wg), &[]);
}
