// BatchNorm over (B, T) per channel (PyTorch's BatchNorm1d), forward and backward.
// Shape legend: B batch, C channels, T frames; n = B T values per channel.
// Train: mean, biased var per channel; rstd = 1 / sqrt(var + eps);
//   running_mean = (1 - momentum) running_mean + momentum mean;
//   running_var  = (1 - momentum) running_var + momentum var n / (n - 1).
// Eval: normalise with running_mean / running_var.
// out = (x - mean) rstd weight + bias.
// Backward (train mode): xhat = (x - mean) rstd; dbias = sum dout; dweight = sum dout xhat;
//   dx = weight rstd / n (n dout - dbias - xhat dweight).
// Reductions: one workgroup of RWG invocations per channel, strided loop then a tree in
// workgroup memory. Elementwise passes: one invocation per (b, c, t).

override WG: u32 = 64u;
const RWG: u32 = 256u;

struct Params {
    b: u32,
    c: u32,
    t: u32,
    momentum: f32,
    eps: f32,
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

// ---- batchnorm_stats (train): mean =, rstd =, running stats updated
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;           // (C) =
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>;           // (C) =
@group(0) @binding(3) var<storage, read_write> running_mean: array<f32>;   // (C) updated
@group(0) @binding(4) var<storage, read_write> running_var: array<f32>;    // (C) updated
@group(0) @binding(5) var<storage, read> x_s: array<f32>;                  // (B, C, T)

// One workgroup per channel; two passes over the channel (mean, then squared deviations).
@compute @workgroup_size(RWG)
fn batchnorm_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let c = wid.y * nwg.x + wid.x;           // uniform across the workgroup
    if (c >= P.c) { return; }
    let n = P.b * P.t;
    var s = 0.0;
    for (var e = lid; e < n; e += RWG) { s += x_s[at(c, e)]; }
    red0[lid] = s;
    red1[lid] = 0.0;
    reduce2(lid);
    let mu = red0[0] / f32(n);
    workgroupBarrier();
    var q = 0.0;
    for (var e = lid; e < n; e += RWG) {
        let d = x_s[at(c, e)] - mu;
        q += d * d;
    }
    red0[lid] = q;
    reduce2(lid);
    if (lid == 0u) {
        let var_b = red0[0] / f32(n);
        mean[c] = mu;
        rstd[c] = 1.0 / sqrt(var_b + P.eps);
        running_mean[c] = (1.0 - P.momentum) * running_mean[c] + P.momentum * mu;
        // unbiased variance; with a single value (n = 1) the biased one, as the cpu twin does
        let var_u = select(var_b, var_b * f32(n) / f32(n - 1u), n > 1u);
        running_var[c] = (1.0 - P.momentum) * running_var[c] + P.momentum * var_u;
    }
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

// ---- batchnorm_backward_reduce: dweight =, dbias =
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>;  // (C) =
@group(0) @binding(2) var<storage, read_write> dbias: array<f32>;    // (C) =
@group(0) @binding(3) var<storage, read> dout_r: array<f32>;         // (B, C, T)
@group(0) @binding(4) var<storage, read> x_r: array<f32>;            // (B, C, T)
@group(0) @binding(5) var<storage, read> mean_r: array<f32>;         // (C)
@group(0) @binding(6) var<storage, read> rstd_r: array<f32>;         // (C)

// One workgroup per channel.
@compute @workgroup_size(RWG)
fn batchnorm_backward_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_index) lid: u32) {
    let c = wid.y * nwg.x + wid.x;           // uniform across the workgroup
    if (c >= P.c) { return; }
    let n = P.b * P.t;
    let mu = mean_r[c];
    let rs = rstd_r[c];
    var sg = 0.0;
    var sgx = 0.0;
    for (var e = lid; e < n; e += RWG) {
        let k = at(c, e);
        let g = dout_r[k];
        sg += g;
        sgx += g * (x_r[k] - mu) * rs;
    }
    red0[lid] = sg;
    red1[lid] = sgx;
    reduce2(lid);
    if (lid == 0u) {
        dbias[c] = red0[0];
        dweight[c] = red1[0];
    }
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
    let n = f32(P.b * P.t);
    let rs = rstd_d[c];
    let xhat = (x_d[i] - mean_d[c]) * rs;
    dx[i] = weight_d[c] * rs / n * (n * dout_d[i] - dbias_d[c] - xhat * dweight_d[c]);
}
