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
    // split weight-gradient reduction only:
    nch: u32,        // chunks of this partial pass
    chunk_len: u32,  // (b, t) positions per chunk (the last may be shorter)
    chunk0: u32,     // first chunk row this pass writes
    nch_total: u32,  // chunk rows in part (all pieces)
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

// ---- filterbank_forward_tiled: y = (workgroup shared-memory tiles)
// One workgroup per (b, FK rows, FT frames); FN = FK FT / 16 invocations, each a 4 x 4
// register tile (4 rows x 4 frames). The taps are walked in steps of FJ: the kernel tile
// [FK][FJ] and the waveform tile [FJ][FT] (xs[jj][tt] = xpad(b, (t0 + tt) H + j0 + jj - W/2),
// zero outside 0..L and past W) go to workgroup memory, then every invocation reads them
// from there. Tile sizes are override constants set at pipeline creation (`Tuning::fb_tile`);
// the host checks FK, FT multiples of 4, FN = FK FT / 16 <= 256, (FK + FT) FJ <= 4096.
override FK: u32 = 32u;
override FT: u32 = 32u;
override FJ: u32 = 16u;
override FN: u32 = 64u;
var<workgroup> sh: array<f32, 4096>;          // kernel tile (FK x FJ), then waveform tile (FJ x FT)

@compute @workgroup_size(FN)
fn filterbank_forward_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(local_invocation_index) lid: u32) {
    let g = wid.y * nwg.x + wid.x;           // uniform across the workgroup
    let tt_n = (P.t + FT - 1u) / FT;
    let kt_n = (P.k2 + FK - 1u) / FK;
    if (g >= P.b * kt_n * tt_n) { return; }
    let t0 = (g % tt_n) * FT;
    let k0 = ((g / tt_n) % kt_n) * FK;
    let b = g / (tt_n * kt_n);
    let rk = (lid / (FT / 4u)) * 4u;          // this invocation's rows k0 + rk .. + 4
    let rt = (lid % (FT / 4u)) * 4u;          // and frames t0 + rt .. + 4
    let half = i32(P.w / 2u);
    let xs0 = FK * FJ;
    var acc: array<array<f32, 4>, 4>;
    for (var j0 = 0u; j0 < P.w; j0 += FJ) {
        for (var q = lid; q < FK * FJ; q += FN) {
            let k = k0 + q / FJ;
            let j = j0 + q % FJ;
            sh[q] = select(0.0, kernel[min(k, P.k2 - 1u) * P.w + min(j, P.w - 1u)], k < P.k2 && j < P.w);
        }
        // jj fastest: neighbouring invocations read neighbouring samples
        for (var q = lid; q < FJ * FT; q += FN) {
            let jj = q % FJ;
            let tq = q / FJ;
            let s = i32((t0 + tq) * P.h + j0 + jj) - half;
            let ok = s >= 0 && s < i32(P.l) && j0 + jj < P.w && t0 + tq < P.t;
            sh[xs0 + jj * FT + tq] = select(0.0, x[b * P.l + u32(clamp(s, 0, i32(P.l) - 1))], ok);
        }
        workgroupBarrier();
        let jn = min(FJ, P.w - j0);
        for (var jj = 0u; jj < jn; jj++) {
            var kv: array<f32, 4>;
            var xv: array<f32, 4>;
            for (var r = 0u; r < 4u; r++) { kv[r] = sh[(rk + r) * FJ + jj]; }
            for (var m = 0u; m < 4u; m++) { xv[m] = sh[xs0 + jj * FT + rt + m]; }
            for (var r = 0u; r < 4u; r++) {
                for (var m = 0u; m < 4u; m++) { acc[r][m] += kv[r] * xv[m]; }
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 4u; r++) {
        for (var m = 0u; m < 4u; m++) {
            let k = k0 + rk + r;
            let t = t0 + rt + m;
            if (k < P.k2 && t < P.t) { y[(b * P.k2 + k) * P.t + t] = acc[r][m]; }
        }
    }
}

// ---- filterbank_backward_partial: per chunk of the B T frames, partial dkernel
// dkernel[k, j] = sum_b sum_t dy[b, k, t] xpad(b, t H + j - W/2) (the waveform needs no gradient).
// Split reduction (deterministic: no atomics, fixed order): this pass writes one partial
// dkernel per chunk of the flattened (b, t) frames, part[(chunk0 + c) K2 W + k W + j]; the final
// pass sums the chunk rows in order. A piece of the batch sees P.b = its own samples.
@group(0) @binding(1) var<storage, read_write> part_k: array<f32>;  // (NCH_total, K2, W) =
@group(0) @binding(2) var<storage, read> dy: array<f32>;            // (B, K2, T)
@group(0) @binding(3) var<storage, read> x_b: array<f32>;           // (B, L)


// One invocation per (chunk c, row group of KT, tap j); j varies fastest. Loops over the
// chunk's frames, skipping those whose sample falls outside 0..L.
@compute @workgroup_size(WG)
fn filterbank_backward_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                               @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    let kg_n = (P.k2 + KT - 1u) / KT;
    if (i >= kg_n * P.w * P.nch) { return; }
    let j = i % P.w;
    let k0 = ((i / P.w) % kg_n) * KT;
    let ch = i / (P.w * kg_n);
    let off = i32(j) - i32(P.w / 2u);           // sample of frame t is t H + off
    var rows: array<u32, KT>;
    for (var r = 0u; r < KT; r++) { rows[r] = min(k0 + r, P.k2 - 1u); }
    var acc = array<f32, KT>(0.0, 0.0, 0.0, 0.0);
    let e0 = ch * P.chunk_len;
    let e1 = min(e0 + P.chunk_len, P.b * P.t);
    var b = e0 / P.t;
    var t = e0 % P.t;
    for (var e = e0; e < e1; e++) {
        let s = i32(t * P.h) + off;
        if (s >= 0 && s < i32(P.l)) {
            let xv = x_b[b * P.l + u32(s)];
            for (var r = 0u; r < KT; r++) { acc[r] += xv * dy[(b * P.k2 + rows[r]) * P.t + t]; }
        }
        t += 1u;
        if (t == P.t) { t = 0u; b += 1u; }
    }
    let nk = P.k2 * P.w;
    for (var r = 0u; r < KT; r++) {
        if (k0 + r < P.k2) { part_k[(P.chunk0 + ch) * nk + (k0 + r) * P.w + j] = acc[r]; }
    }
}

// ---- filterbank_backward_final: dkernel = sum over the chunk rows, in order
@group(0) @binding(1) var<storage, read_write> dkernel: array<f32>; // (K2, W) =
@group(0) @binding(2) var<storage, read> part_f: array<f32>;        // (NCH_total, K2, W)

@compute @workgroup_size(WG)
fn filterbank_backward_final(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_index) lid: u32) {
    let q = (wid.y * nwg.x + wid.x) * WG + lid;
    let nk = P.k2 * P.w;
    if (q >= nk) { return; }
    var s = 0.0;
    for (var c = 0u; c < P.nch_total; c++) { s += part_f[c * nk + q]; }
    dkernel[q] = s;
}
