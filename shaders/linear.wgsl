// Fully connected layer, forward and backward.
// Shape legend: B batch, C features in, K features out (classes).
// out[b, k] = sum_c x[b, c] w[k, c] + bias[k]
// dx = dout w; dw = dout^T x; dbias = sum_b dout.

override WG: u32 = 64u;
// Register tile: each invocation computes RT outputs along its row.
const RT: u32 = 4u;

struct Params {
    b: u32,
    c: u32,
    k: u32,
}

@group(0) @binding(0) var<uniform> P: Params;

// ---- linear_forward: out =
@group(0) @binding(1) var<storage, read_write> out: array<f32>;     // (B, K) =
@group(0) @binding(2) var<storage, read> x: array<f32>;             // (B, C)
@group(0) @binding(3) var<storage, read> w: array<f32>;             // (K, C)
@group(0) @binding(4) var<storage, read> bias: array<f32>;          // (K)

// One invocation per (b, group of RT outputs k).
@compute @workgroup_size(WG)
fn linear_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let idx = (wid.y * nwg.x + wid.x) * WG + lid;
    let kg_n = (P.k + RT - 1u) / RT;
    if (idx >= P.b * kg_n) { return; }
    let k0 = (idx % kg_n) * RT;
    let b = idx / kg_n;
    var rows: array<u32, RT>;
    for (var r = 0u; r < RT; r++) { rows[r] = min(k0 + r, P.k - 1u) * P.c; }
    var acc = array<f32, RT>(0.0, 0.0, 0.0, 0.0);
    for (var c = 0u; c < P.c; c++) {
        let xv = x[b * P.c + c];
        for (var r = 0u; r < RT; r++) { acc[r] += xv * w[rows[r] + c]; }
    }
    for (var r = 0u; r < RT; r++) {
        if (k0 + r < P.k) { out[b * P.k + k0 + r] = acc[r] + bias[k0 + r]; }
    }
}

// ---- linear_backward_data: dx =
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;      // (B, C) =
@group(0) @binding(2) var<storage, read> dout: array<f32>;          // (B, K)
@group(0) @binding(3) var<storage, read> w_b: array<f32>;           // (K, C)

// dx[b, c] = sum_k dout[b, k] w[k, c]. One invocation per (b, group of RT features c).
@compute @workgroup_size(WG)
fn linear_backward_data(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let idx = (wid.y * nwg.x + wid.x) * WG + lid;
    let cg_n = (P.c + RT - 1u) / RT;
    if (idx >= P.b * cg_n) { return; }
    let c0 = (idx % cg_n) * RT;
    let b = idx / cg_n;
    var cols: array<u32, RT>;
    for (var r = 0u; r < RT; r++) { cols[r] = min(c0 + r, P.c - 1u); }
    var acc = array<f32, RT>(0.0, 0.0, 0.0, 0.0);
    for (var k = 0u; k < P.k; k++) {
        let g = dout[b * P.k + k];
        for (var r = 0u; r < RT; r++) { acc[r] += g * w_b[k * P.c + cols[r]]; }
    }
    for (var r = 0u; r < RT; r++) {
        if (c0 + r < P.c) { dx[b * P.c + c0 + r] = acc[r]; }
    }
}

// ---- linear_backward_weight: dw =, dbias =
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;      // (K, C) =
@group(0) @binding(2) var<storage, read_write> dbias: array<f32>;   // (K) =
@group(0) @binding(3) var<storage, read> dout_w: array<f32>;        // (B, K)
@group(0) @binding(4) var<storage, read> x_w: array<f32>;           // (B, C)

// dw[k, c] = sum_b dout[b, k] x[b, c]. One invocation per (k, group of RT features c);
// the invocation holding c = 0 also writes dbias[k] = sum_b dout[b, k].
@compute @workgroup_size(WG)
fn linear_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
    let idx = (wid.y * nwg.x + wid.x) * WG + lid;
    let cg_n = (P.c + RT - 1u) / RT;
    if (idx >= P.k * cg_n) { return; }
    let c0 = (idx % cg_n) * RT;
    let k = idx / cg_n;
    var cols: array<u32, RT>;
    for (var r = 0u; r < RT; r++) { cols[r] = min(c0 + r, P.c - 1u); }
    var acc = array<f32, RT>(0.0, 0.0, 0.0, 0.0);
    var gsum = 0.0;
    for (var b = 0u; b < P.b; b++) {
        let g = dout_w[b * P.k + k];
        gsum += g;
        for (var r = 0u; r < RT; r++) { acc[r] += g * x_w[b * P.c + cols[r]]; }
    }
    for (var r = 0u; r < RT; r++) {
        if (c0 + r < P.c) { dw[k * P.c + c0 + r] = acc[r]; }
    }
    if (c0 == 0u) { dbias[k] = gsum; }
}
