// BatchNorm over (B, T) per channel (PyTorch's BatchNorm1d), forward and backward.
// Shape legend: B batch, C channels, T frames; n = B T values per channel.
// Train: mean, biased var per channel; rstd = 1 / sqrt(var + eps);
//   running_mean = (1 - momentum) running_mean + momentum mean;
//   running_var  = (1 - momentum) running_var + momentum var n / (n - 1).
// Eval: normalise with running_mean / running_var.
// out = (x - mean) rstd weight + bias.
// Backward (train mode): xhat = (x - mean) rstd; dbias = sum dout; dweight = sum dout xhat;
//   dx = weight rstd / n (n dout - dbias - xhat dweight).
// Reductions are split so that they fill a big GPU (deterministic by construction: no atomics,
// every sum taken in a fixed order):
//   1. a partial pass, one workgroup of RWG invocations per (channel, chunk of B T elements):
//      strided loop over the chunk, then a tree in workgroup memory; writes its partials to
//      part[(q NCH + chunk) C + c] for each partial quantity q;
//   2. a final pass, one invocation per channel, that combines the NCH chunks in chunk order.
// The statistics take each chunk's own mean and sum of squared deviations (two passes over the
// chunk, as stable as the two-pass formula) and combine them exactly:
//   mean = sum_k n_k m_k / n,  M2 = sum_k (M2_k + n_k (m_k - mean)^2).
// The host may split the batch into pieces (buffers larger than one binding): each piece's
// partial pass sees only its samples (P.b = the piece's batch) and writes chunks chunk0.. ;
// the final pass sees P.b = the whole batch. Elementwise passes: one invocation per (b, c, t).

override WG: u32 = 64u;
const RWG: u32 = 256u;

struct Params {
    b: u32,
    c: u32,
    t: u32,
    momentum: f32,
    eps: f32,
    nch: u32,        // chunks of this partial pass
    chunk_len: u32,  // elements per chunk (the last may be shorter)
    chunk0: u32,     // first chunk row this pass writes
    nch_total: u32,  // chunk rows in part (all pieces)
    b_all: u32,      // batchnorm_backward_data: the whole batch (P.b is the piece's)
}

@group(0) @binding(0) var<uniform> P: Params;

var<workgroup> red0: array<f32, RWG>;
var<workgroup> red1: array<f32, RWG>;

// Element e of channel c, e in 0..B T.
fn at(c: u32, e: u32) -> u32 {
    return ((e / P.t) * P.c + c) * P.t + e % P.t;
}

// Tree-reduces red0 and red1 in place; the sums end up in red0[0] and red1[0].
fn reduce2(lid: u32) {
    for (var s = RWG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            red0[lid] += red0[lid + s];
            red1[lid] += red1[lid + s];
        }
    }
    workgroupBarrier();
}

// ---- batchnorm_stats_partial (train): per (chunk, channel) mean, M2 and count
@group(0) @binding(1) var<storage, read_write> part_s: array<f32>;         // (3, NCH_total, C) =
@group(0) @binding(2) var<storage, read> x_s: array<f32>;                  // (B, C, T)

@compute @workgroup_size(RWG)
fn batchnorm_stats_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_index) lid: u32) {
    let g = wid.y * nwg.x + wid.x;           // uniform across the workgroup
    if (g >= P.c * P.nch) { return; }
    let c = g % P.c;
    let k = g / P.c;
    let e0 = k * P.chunk_len;
    let e1 = min(e0 + P.chunk_len, P.b * P.t);
    let cnt = f32(e1 - e0);                  // > 0: the host makes no empty chunk
    var s = 0.0;
    for (var e = e0 + lid; e < e1; e += RWG) { s += x_s[at(c, e)]; }
    red0[lid] = s;
    red1[lid] = 0.0;
    reduce2(lid);
    let mu = red0[0] / cnt;
    workgroupBarrier();
    var q = 0.0;
    for (var e = e0 + lid; e < e1; e += RWG) {
        let d = x_s[at(c, e)] - mu;
        q += d * d;
    }
    red0[lid] = q;
    reduce2(lid);
    if (lid == 0u) {
        let row = P.chunk0 + k;
        part_s[row * P.c + c] = mu;
        part_s[(P.nch_total + row) * P.c + c] = red0[0];
        part_s[(2u * P.nch_total + row) * P.c + c] = cnt;
    }
}

// ---- batchnorm_stats_final (train): mean =, rstd =, running stats updated
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;           // (C) =
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>;           // (C) =
@group(0) @binding(3) var<storage, read_write> running_mean: array<f32>;   // (C) updated
@group(0) @binding(4) var<storage, read_write> running_var: array<f32>;    // (C) updated
@group(0) @binding(5) var<storage, read> part_f: array<f32>;               // (3, NCH_total, C)

// One invocation per channel; chunks combined in order 0..NCH_total.
@compute @workgroup_size(WG)
fn batchnorm_stats_final(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
    let c = (wid.y * nwg.x + wid.x) * WG + lid;
    if (c >= P.c) { return; }
    let nk = P.nch_total;
    let n = P.b * P.t;
    var s = 0.0;
    for (var k = 0u; k < nk; k++) { s += part_f[(2u * nk + k) * P.c + c] * part_f[k * P.c + c]; }
    let mu = s / f32(n);
    var m2 = 0.0;
    for (var k = 0u; k < nk; k++) {
        let d = part_f[k * P.c + c] - mu;
        m2 += part_f[(nk + k) * P.c + c] + part_f[(2u * nk + k) * P.c + c] * d * d;
    }
    let var_b = m2 / f32(n);
    mean[c] = mu;
    rstd[c] = 1.0 / sqrt(var_b + P.eps);
    running_mean[c] = (1.0 - P.momentum) * running_mean[c] + P.momentum * mu;
    // unbiased variance; with a single value (n = 1) the biased one, as the cpu twin does
    let var_u = select(var_b, var_b * f32(n) / f32(n - 1u), n > 1u);
    running_var[c] = (1.0 - P.momentum) * running_var[c] + P.momentum * var_u;
}

// ---- batchnorm_forward_train: out = (x - mean) rstd weight + bias
@group(0) @binding(1) var<storage, read_write> out: array<f32>;     // (B, C, T) =
@group(0) @binding(2) var<storage, read> x: array<f32>;             // (B, C, T)
@group(0) @binding(3) var<storage, read> stat_a: array<f32>;        // (C) train: mean; eval: running_mean
@group(0) @binding(4) var<storage, read> stat_b: array<f32>;        // (C) train: rstd; eval: running_var
@group(0) @binding(5) var<storage, read> weight: array<f32>;        // (C)
@group(0) @binding(6) var<storage, read> bias: array<f32>;          // (C)

@compute @workgroup_size(WG)
fn batchnorm_forward_train(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.b * P.c * P.t) { return; }
    let c = (i / P.t) % P.c;
    out[i] = (x[i] - stat_a[c]) * stat_b[c] * weight[c] + bias[c];
}

// ---- batchnorm_forward_eval: out = (x - running_mean) / sqrt(running_var + eps) weight + bias
@compute @workgroup_size(WG)
fn batchnorm_forward_eval(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.b * P.c * P.t) { return; }
    let c = (i / P.t) % P.c;
    out[i] = (x[i] - stat_a[c]) / sqrt(stat_b[c] + P.eps) * weight[c] + bias[c];
}

// ---- batchnorm_backward_partial: per (chunk, channel) sums of dout and dout xhat
@group(0) @binding(1) var<storage, read_write> part_r: array<f32>;   // (2, NCH_total, C) =
@group(0) @binding(2) var<storage, read> dout_r: array<f32>;         // (B, C, T)
@group(0) @binding(3) var<storage, read> x_r: array<f32>;            // (B, C, T)
@group(0) @binding(4) var<storage, read> mean_r: array<f32>;         // (C)
@group(0) @binding(5) var<storage, read> rstd_r: array<f32>;         // (C)

@compute @workgroup_size(RWG)
fn batchnorm_backward_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) lid: u32) {
    let g = wid.y * nwg.x + wid.x;           // uniform across the workgroup
    if (g >= P.c * P.nch) { return; }
    let c = g % P.c;
    let k = g / P.c;
    let e0 = k * P.chunk_len;
    let e1 = min(e0 + P.chunk_len, P.b * P.t);
    let mu = mean_r[c];
    let rs = rstd_r[c];
    var sg = 0.0;
    var sgx = 0.0;
    for (var e = e0 + lid; e < e1; e += RWG) {
        let i = at(c, e);
        let gv = dout_r[i];
        sg += gv;
        sgx += gv * (x_r[i] - mu) * rs;
    }
    red0[lid] = sg;
    red1[lid] = sgx;
    reduce2(lid);
    if (lid == 0u) {
        let row = P.chunk0 + k;
        part_r[row * P.c + c] = red0[0];
        part_r[(P.nch_total + row) * P.c + c] = red1[0];
    }
}

// ---- batchnorm_backward_final: dweight =, dbias = (chunks summed in order 0..NCH_total)
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>;  // (C) =
@group(0) @binding(2) var<storage, read_write> dbias: array<f32>;    // (C) =
@group(0) @binding(3) var<storage, read> part_b: array<f32>;         // (2, NCH_total, C)

@compute @workgroup_size(WG)
fn batchnorm_backward_final(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(local_invocation_index) lid: u32) {
    let c = (wid.y * nwg.x + wid.x) * WG + lid;
    if (c >= P.c) { return; }
    let nk = P.nch_total;
    var sg = 0.0;
    var sgx = 0.0;
    for (var k = 0u; k < nk; k++) {
        sg += part_b[k * P.c + c];
        sgx += part_b[(nk + k) * P.c + c];
    }
    dbias[c] = sg;
    dweight[c] = sgx;
}

// ---- batchnorm_backward_data: dx =
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;       // (B, C, T) =
@group(0) @binding(2) var<storage, read> dout_d: array<f32>;         // (B, C, T)
@group(0) @binding(3) var<storage, read> x_d: array<f32>;            // (B, C, T)
@group(0) @binding(4) var<storage, read> mean_d: array<f32>;         // (C)
@group(0) @binding(5) var<storage, read> rstd_d: array<f32>;         // (C)
@group(0) @binding(6) var<storage, read> weight_d: array<f32>;       // (C)
@group(0) @binding(7) var<storage, read> dweight_d: array<f32>;      // (C)
@group(0) @binding(8) var<storage, read> dbias_d: array<f32>;        // (C)

@compute @workgroup_size(WG)
fn batchnorm_backward_data(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.b * P.c * P.t) { return; }
    let c = (i / P.t) % P.c;
    let n = f32(P.b_all * P.t);
    let rs = rstd_d[c];
    let xhat = (x_d[i] - mean_d[c]) * rs;
    dx[i] = weight_d[c] * rs / n * (n * dout_d[i] - dbias_d[c] - xhat * dweight_d[c]);
}
