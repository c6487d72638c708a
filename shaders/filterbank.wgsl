// Strided convolution of the zero-padded waveform with the filterbank, forward and backward.
// Shape legend: B batch, L samples, K2 = 2F filterbank rows, W taps (odd), H hop,
// T frames (T = L / H + 1). xpad(b, s) = x[b, s] for 0 <= s < L, else 0.
// y[b, k, t] = sum_j xpad(b, t H + j - W/2) kernel[k, j].

override WG: u32 = 64u;
// Register tile: each invocation computes KT filterbank rows.
const KT: u32 = 4u;

struct Params {
    b: u32,
    l: u32,
    k2: u32,
    w: u32,
    h: u32,
    t: u32,
}

@group(0) @binding(0) var<uniform> P: Params;

// ---- filterbank_forward: y =
@group(0) @binding(1) var<storage, read_write> y: array<f32>;      // (B, K2, T) =
@group(0) @binding(2) var<storage, read> x: array<f32>;            // (B, L)
@group(0) @binding(3) var<storage, read> kernel: array<f32>;       // (K2, W)

// One invocation per (b, row group of KT, t); loops over the taps that fall inside 0..L.
@compute @workgroup_size(WG)
fn filterbank_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    let kg_n = (P.k2 + KT - 1u) / KT;
    if (i >= P.b * kg_n * P.t) { return; }
    let t = i % P.t;
    let kg = (i / P.t) % kg_n;
    let b = i / (P.t * kg_n);
    let half = i32(P.w / 2u);
    let s0 = i32(t * P.h) - half;              // sample under tap 0
    let j_lo = u32(max(0, -s0));
    let j_hi = u32(clamp(i32(P.l) - s0, 0, i32(P.w)));
    let k0 = kg * KT;
    // Rows past K2 read row K2 - 1 (in bounds) and are never written.
    var rows: array<u32, KT>;
    for (var r = 0u; r < KT; r++) { rows[r] = min(k0 + r, P.k2 - 1u) * P.w; }
    var acc = array<f32, KT>(0.0, 0.0, 0.0, 0.0);
    let xb = b * P.l;
    for (var j = j_lo; j < j_hi; j++) {
        let xv = x[xb + u32(s0 + i32(j))];
        for (var r = 0u; r < KT; r++) { acc[r] += xv * kernel[rows[r] + j]; }
    }
    for (var r = 0u; r < KT; r++) {
        if (k0 + r < P.k2) { y[(b * P.k2 + k0 + r) * P.t + t] = acc[r]; }
    }
}

// ---- filterbank_backward: dkernel = (the waveform needs no gradient)
@group(0) @binding(1) var<storage, read_write> dkernel: array<f32>; // (K2, W) =
@group(0) @binding(2) var<storage, read> dy: array<f32>;            // (B, K2, T)
@group(0) @binding(3) var<storage, read> x_b: array<f32>;           // (B, L)

// dkernel[k, j] = sum_b sum_t dy[b, k, t] xpad(b, t H + j - W/2).
// One invocation per (row group of KT, tap j); loops over b and the frames whose sample is in 0..L.
@compute @workgroup_size(WG)
fn filterbank_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    let kg_n = (P.k2 + KT - 1u) / KT;
    if (i >= kg_n * P.w) { return; }
    let j = i % P.w;
    let kg = i / P.w;
    let k0 = kg * KT;
    let off = i32(j) - i32(P.w / 2u);           // sample of frame t is t H + off
    // frames with 0 <= t H + off < L
    var t_lo = 0u;
    if (off < 0) { t_lo = (u32(-off) + P.h - 1u) / P.h; }
    var t_hi = 0u;
    if (i32(P.l) - off > 0) { t_hi = min(P.t, (u32(i32(P.l) - off) + P.h - 1u) / P.h); }
    var rows: array<u32, KT>;
    for (var r = 0u; r < KT; r++) { rows[r] = min(k0 + r, P.k2 - 1u); }
    var acc = array<f32, KT>(0.0, 0.0, 0.0, 0.0);
    for (var b = 0u; b < P.b; b++) {
        for (var t = t_lo; t < t_hi; t++) {
            let xv = x_b[b * P.l + u32(i32(t * P.h) + off)];
            for (var r = 0u; r < KT; r++) { acc[r] += xv * dy[(b * P.k2 + rows[r]) * P.t + t]; }
        }
    }
    for (var r = 0u; r < KT; r++) {
        if (k0 + r < P.k2) { dkernel[(k0 + r) * P.w + j] = acc[r]; }
    }
}
