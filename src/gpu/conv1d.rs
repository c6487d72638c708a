//! `shaders/conv1d.wgsl`: Conv1d (kernel 3, padding 1, no bias) and its backward, as three
//! entry points: forward and backward-data compute a 4 channel x 4 frame register tile per
//! invocation, backward-weight a 4 x 3 tile per chunk of the (B, T) positions (a split
//! reduction: partial pass, then a fixed-order final sum; deterministic, no atomics). The
//! forward product has a second variant with workgroup shared-memory tiles
//! (`conv1d_forward_tiled`, [`super::Tuning::tiled`]).
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel, ReductionPiece};

const SRC: &str = include_str!("../../shaders/conv1d.wgsl");
/// Channel and frame tile sizes (`CT`, `TT` in the shader).
const CT: usize = 4;
const TT: usize = 4;
const FWD: Kernel =
    Kernel { shader: "conv1d", source: SRC, entry: "conv1d_forward", wg: 64, bindings: &[ReadWrite, Read, Read] };
const FWD_TILED: Kernel = Kernel {
    shader: "conv1d",
    source: SRC,
    entry: "conv1d_forward_tiled",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};
const BWD_DATA: Kernel =
    Kernel { shader: "conv1d", source: SRC, entry: "conv1d_backward_data", wg: 64, bindings: &[ReadWrite, Read, Read] };
const BWD_WEIGHT_PARTIAL: Kernel = Kernel {
    shader: "conv1d",
    source: SRC,
    entry: "conv1d_backward_weight_partial",
    wg: 64,
    bindings: &[ReadWrite, Read, Read],
};
const BWD_WEIGHT_FINAL: Kernel = Kernel {
    shader: "conv1d",
    source: SRC,
    entry: "conv1d_backward_weight_final",
    wg: 64,
    bindings: &[ReadWrite, Read],
};
/// Invocations the weight-gradient partial pass aims for in all (weight tiles x chunks).
const TARGET_INVOCATIONS: usize = 1 << 18;
/// Fewest (b, t) positions per chunk of the weight-gradient reduction.
const MIN_CHUNK: usize = 64;

fn params(op: &str, b: usize, ci: usize, co: usize, t: usize) -> [u32; 4] {
    assert!(ci > 0 && co > 0 && t > 0, "{op}: Ci, Co and T must be > 0");
    [u(op, b), u(op, ci), u(op, co), u(op, t)]
}

/// `params` then the split reduction's (chunks, chunk length, first chunk row, chunk rows).
fn rparams(op: &str, b: usize, ci: usize, co: usize, t: usize, chunks: [usize; 4]) -> Vec<u32> {
    let mut p = params(op, b, ci, co, t).to_vec();
    p.extend(chunks.map(|v| u(op, v)));
    p
}

/// out (B, Co, T) =; x (B, Ci, T); w (Co, Ci, 3).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(d: &GpuDevice, out: &GpuBuf, x: &GpuBuf, w: &GpuBuf, b: usize, ci: usize, co: usize, t: usize) {
    let op = "conv1d_forward";
    params(op, b, ci, co, t); // checks the sizes
    check_len(op, "out", out, b * co * t);
    check_len(op, "x", x, b * ci * t);
    check_len(op, "w", w, co * ci * 3);
    let pp = |nb| params(op, nb, ci, co, t).to_vec();
    let bufs = [(out, co * t), (x, ci * t), (w, 0)];
    let tuning = d.tuning();
    if tuning.tiled {
        // one workgroup per (b, CO channels, CF frames): see conv1d_forward_tiled
        let [tco, tcf, tci] = tuning.conv_tile;
        let consts = [("CO", tco), ("CF", tcf), ("CI", tci), ("CN", tco * tcf / 16)];
        let gr = |nb: usize| nb * co.div_ceil(tco as usize) * t.div_ceil(tcf as usize);
        d.dispatch_pieces(op, &FWD_TILED, &bufs, b, pp, gr, &consts);
    } else {
        let gr = |nb: usize| groups(nb * co.div_ceil(CT) * t.div_ceil(TT), FWD.wg);
        d.dispatch_pieces(op, &FWD, &bufs, b, pp, gr, &[]);
    }
}

/// dx (B, Ci, T) =; dw (Co, Ci, 3) =; dout (B, Co, T); x (B, Ci, T); w (Co, Ci, 3).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    d: &GpuDevice, dx: &GpuBuf, dw: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, w: &GpuBuf, b: usize, ci: usize, co: usize,
    t: usize,
) {
    let op = "conv1d_backward";
    params(op, b, ci, co, t); // checks the sizes
    check_len(op, "dx", dx, b * ci * t);
    check_len(op, "dw", dw, co * ci * 3);
    check_len(op, "dout", dout, b * co * t);
    check_len(op, "x", x, b * ci * t);
    check_len(op, "w", w, co * ci * 3);
    let pp = |nb| params(op, nb, ci, co, t).to_vec();
    let gr = |nb: usize| groups(nb * ci.div_ceil(CT) * t.div_ceil(TT), BWD_DATA.wg);
    d.dispatch_pieces(op, &BWD_DATA, &[(dx, ci * t), (dout, co * t), (w, 0)], b, pp, gr, &[]);
    // dw: split reduction over chunks of the B T positions (partials in the scratch buffer,
    // then a fixed-order sum per weight: deterministic), in pieces of the batch if needed.
    let units = co.div_ceil(CT) * ci;
    let nw = co * ci * 3;
    let (plan, rows) = d.reduction_plan(op, b, &[co * t, ci * t], t, units, TARGET_INVOCATIONS, MIN_CHUNK, nw);
    let part = d.scratch(rows * nw);
    let part = part.head(rows * nw);
    for ReductionPiece { piece, chunks: nch, len, row0 } in plan {
        let p = rparams(op, piece.1, ci, co, t, [nch, len, row0, rows]);
        let views = [part, dout.rows(piece, co * t), x.rows(piece, ci * t)];
        d.dispatch_views(&BWD_WEIGHT_PARTIAL, &views, &p, groups(units * nch, BWD_WEIGHT_PARTIAL.wg), &[]);
    }
    let p = rparams(op, b, ci, co, t, [0, 0, 0, rows]);
    d.dispatch_views(&BWD_WEIGHT_FINAL, &[dw.all(), part], &p, groups(nw, BWD_WEIGHT_FINAL.wg), &[]);
}
