// Conv1d, kernel 3, padding 1, stride 1, no bias, forward and backward.
// Shape legend: B batch, Ci channels in, Co channels out, T frames. x is zero outside 0..T.
// out[b, o, t] = sum_i sum_k w[o, i, k] x[b, i, t + k - 1]
// dx[b, i, t]  = sum_o sum_k w[o, i, k] dout[b, o, t - k + 1]
// dw[o, i, k]  = sum_b sum_t dout[b, o, t] x[b, i, t + k - 1]

override WG: u32 = 64u;
// Register tile of the forward and data-backward kernels: CT channels x TT frames.
const CT: u32 = 4u;
const TT: u32 = 4u;

struct Params {
    b: u32,
    ci: u32,
    co: u32,
    t: u32,
    // split weight-gradient reduction only:
    nch: u32,        // chunks of this partial pass
    chunk_len: u32,  // (b, t) positions per chunk (the last may be shorter)
    chunk0: u32,     // first chunk row this pass writes
    nch_total: u32,  // chunk rows in part (all pieces)
}

@group(0) @binding(0) var<uniform> P: Params;

// ---- conv1d_forward: out =
@group(0) @binding(1) var<storage, read_write> out: array<f32>;    // (B, Co, T) =
@group(0) @binding(2) var<storage, read> x: array<f32>;            // (B, Ci, T)
@group(0) @binding(3) var<storage, read> w: array<f32>;            // (Co, Ci, 3)

// Frame window t0 - 1 .. t0 + TT of row `row`, zero outside 0..T.
fn load_x(row: u32, t0: u32) -> array<f32, 6> {
    var v: array<f32, 6>;
    for (var m = 0u; m < TT + 2u; m++) {
        let t = i32(t0 + m) - 1;
        v[m] = select(0.0, x[row * P.t + u32(max(t, 0))], t >= 0 && t < i32(P.t));
    }
    return v;
}

// One invocation per (b, group of CT output channels, group of TT frames).
@compute @workgroup_size(WG)
fn conv1d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let idx = (wid.y * nwg.x + wid.x) * WG + lid;
    let tg_n = (P.t + TT - 1u) / TT;
    let og_n = (P.co + CT - 1u) / CT;
    if (idx >= P.b * og_n * tg_n) { return; }
    let t0 = (idx % tg_n) * TT;
    let o0 = ((idx / tg_n) % og_n) * CT;
    let b = idx / (tg_n * og_n);
    var acc: array<array<f32, TT>, CT>;
    for (var i = 0u; i < P.ci; i++) {
        let xs = load_x(b * P.ci + i, t0);
        for (var r = 0u; r < CT; r++) {
            let o = min(o0 + r, P.co - 1u);           // rows past Co are computed, never written
            let wb = (o * P.ci + i) * 3u;
            let w0 = w[wb];
            let w1 = w[wb + 1u];
            let w2 = w[wb + 2u];
            for (var m = 0u; m < TT; m++) {
                acc[r][m] += w0 * xs[m] + w1 * xs[m + 1u] + w2 * xs[m + 2u];
            }
        }
    }
    for (var r = 0u; r < CT; r++) {
        for (var m = 0u; m < TT; m++) {
            if (o0 + r < P.co && t0 + m < P.t) { out[(b * P.co + o0 + r) * P.t + t0 + m] = acc[r][m]; }
        }
    }
}

// ---- conv1d_forward_tiled: out = (workgroup shared-memory tiles)
// One workgroup per (b, CO output channels, CF frames); CN = CO CF / 16 invocations, each a
// 4 x 4 register tile (4 channels x 4 frames). The input channels are walked in steps of CI:
// the weight tile [CO][CI][3] and the input tile [CI][CF + 2] (frames t0 - 1 .. t0 + CF, zero
// outside 0..T) go to workgroup memory. Tile sizes are override constants set at pipeline
// creation (`Tuning::conv_tile` = (CO, CF, CI)); the host checks CO, CF multiples of 4,
// CN <= 256, CO CI 3 + CI (CF + 2) <= 4096. Same summation order as conv1d_forward.
override CO: u32 = 32u;
override CF: u32 = 32u;
override CI: u32 = 8u;
override CN: u32 = 64u;
var<workgroup> sh: array<f32, 4096>;          // weight tile (CO x CI x 3), then input tile (CI x (CF + 2))

@compute @workgroup_size(CN)
fn conv1d_forward_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let g = wid.y * nwg.x + wid.x;           // uniform across the workgroup
    let tt_n = (P.t + CF - 1u) / CF;
    let ot_n = (P.co + CO - 1u) / CO;
    if (g >= P.b * ot_n * tt_n) { return; }
    let t0 = (g % tt_n) * CF;
    let o0 = ((g / tt_n) % ot_n) * CO;
    let b = g / (tt_n * ot_n);
    let ro = (lid / (CF / 4u)) * 4u;          // this invocation's channels o0 + ro .. + 4
    let rt = (lid % (CF / 4u)) * 4u;          // and frames t0 + rt .. + 4
    let xs0 = CO * CI * 3u;
    let xw = CF + 2u;
    var acc: array<array<f32, 4>, 4>;
    for (var i0 = 0u; i0 < P.ci; i0 += CI) {
        for (var q = lid; q < CO * CI * 3u; q += CN) {
            let o = o0 + q / (CI * 3u);
            let i = i0 + (q / 3u) % CI;
            let ok = o < P.co && i < P.ci;
            sh[q] = select(0.0, w[(min(o, P.co - 1u) * P.ci + min(i, P.ci - 1u)) * 3u + q % 3u], ok);
        }
        for (var q = lid; q < CI * xw; q += CN) {
            let i = i0 + q / xw;
            let t = i32(t0 + q % xw) - 1;
            let ok = i < P.ci && t >= 0 && t < i32(P.t);
            sh[xs0 + q] = select(0.0, x[(b * P.ci + min(i, P.ci - 1u)) * P.t + u32(clamp(t, 0, i32(P.t) - 1))], ok);
        }
        workgroupBarrier();
        let n_i = min(CI, P.ci - i0);
        for (var ii = 0u; ii < n_i; ii++) {
            var xs: array<f32, 6>;
            for (var m = 0u; m < 6u; m++) { xs[m] = sh[xs0 + ii * xw + rt + m]; }
            for (var r = 0u; r < 4u; r++) {
                let wb = ((ro + r) * CI + ii) * 3u;
                let w0 = sh[wb];
                let w1 = sh[wb + 1u];
                let w2 = sh[wb + 2u];
                for (var m = 0u; m < 4u; m++) {
                    acc[r][m] += w0 * xs[m] + w1 * xs[m + 1u] + w2 * xs[m + 2u];
                }
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 4u; r++) {
        for (var m = 0u; m < 4u; m++) {
            let o = o0 + ro + r;
            let t = t0 + rt + m;
            if (o < P.co && t < P.t) { out[(b * P.co + o) * P.t + t] = acc[r][m]; }
        }
    }
}

// ---- conv1d_backward_data: dx =
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;     // (B, Ci, T) =
@group(0) @binding(2) var<storage, read> dout: array<f32>;         // (B, Co, T)
@group(0) @binding(3) var<storage, read> w_b: array<f32>;          // (Co, Ci, 3)

// One invocation per (b, group of CT input channels, group of TT frames).
@compute @workgroup_size(WG)
fn conv1d_backward_data(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let idx = (wid.y * nwg.x + wid.x) * WG + lid;
    let tg_n = (P.t + TT - 1u) / TT;
    let ig_n = (P.ci + CT - 1u) / CT;
    if (idx >= P.b * ig_n * tg_n) { return; }
    let t0 = (idx % tg_n) * TT;
    let i0 = ((idx / tg_n) % ig_n) * CT;
    let b = idx / (tg_n * ig_n);
    var acc: array<array<f32, TT>, CT>;
    for (var o = 0u; o < P.co; o++) {
        // ds[m] = dout[b, o, t0 - 1 + m], zero outside 0..T
        var ds: array<f32, 6>;
        let row = b * P.co + o;
        for (var m = 0u; m < TT + 2u; m++) {
            let t = i32(t0 + m) - 1;
            ds[m] = select(0.0, dout[row * P.t + u32(max(t, 0))], t >= 0 && t < i32(P.t));
        }
        for (var r = 0u; r < CT; r++) {
            let i = min(i0 + r, P.ci - 1u);
            let wb = (o * P.ci + i) * 3u;
            let w0 = w_b[wb];
            let w1 = w_b[wb + 1u];
            let w2 = w_b[wb + 2u];
            // dx[t0 + m] += w0 dout[t0 + m + 1] + w1 dout[t0 + m] + w2 dout[t0 + m - 1]
            for (var m = 0u; m < TT; m++) {
                acc[r][m] += w0 * ds[m + 2u] + w1 * ds[m + 1u] + w2 * ds[m];
            }
        }
    }
    for (var r = 0u; r < CT; r++) {
        for (var m = 0u; m < TT; m++) {
            if (i0 + r < P.ci && t0 + m < P.t) { dx[(b * P.ci + i0 + r) * P.t + t0 + m] = acc[r][m]; }
        }
    }
}

// ---- conv1d_backward_weight_partial: per chunk of the B T positions, partial dw
// Split reduction (deterministic: no atomics, fixed order): this pass writes one partial dw per
// chunk of the flattened (b, t) positions, part[(chunk0 + k) Co Ci 3 + w]; the final pass sums
// the chunk rows in order. A piece of the batch (buffers past one binding) sees P.b = its own
// samples and writes rows chunk0...
@group(0) @binding(1) var<storage, read_write> part_w: array<f32>;  // (NCH_total, Co, Ci, 3) =
@group(0) @binding(2) var<storage, read> dout_w: array<f32>;       // (B, Co, T)
@group(0) @binding(3) var<storage, read> x_w: array<f32>;          // (B, Ci, T)


// One invocation per (chunk k, group of CT output channels, input channel i): CT x 3 outputs;
// i varies fastest, then the channel group, then the chunk.
@compute @workgroup_size(WG)
fn conv1d_backward_weight_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                  @builtin(local_invocation_index) lid: u32) {
    let idx = (wid.y * nwg.x + wid.x) * WG + lid;
    let og_n = (P.co + CT - 1u) / CT;
    if (idx >= og_n * P.ci * P.nch) { return; }
    let i = idx % P.ci;
    let o0 = ((idx / P.ci) % og_n) * CT;
    let k = idx / (P.ci * og_n);
    let e0 = k * P.chunk_len;
    let e1 = min(e0 + P.chunk_len, P.b * P.t);
    var acc: array<array<f32, 3>, CT>;
    var orow: array<u32, CT>;
    for (var r = 0u; r < CT; r++) { orow[r] = min(o0 + r, P.co - 1u); }
    var b = e0 / P.t;
    var t = e0 % P.t;
    for (var e = e0; e < e1; e++) {
        let xrow = (b * P.ci + i) * P.t;
        let xm = select(0.0, x_w[xrow + max(t, 1u) - 1u], t > 0u);                      // x[t - 1]
        let xc = x_w[xrow + t];                                                          // x[t]
        let xp = select(0.0, x_w[xrow + min(t + 1u, P.t - 1u)], t + 1u < P.t);          // x[t + 1]
        for (var r = 0u; r < CT; r++) {
            let g = dout_w[(b * P.co + orow[r]) * P.t + t];
            acc[r][0] += g * xm;
            acc[r][1] += g * xc;
            acc[r][2] += g * xp;
        }
        t += 1u;
        if (t == P.t) { t = 0u; b += 1u; }
    }
    let nw = P.co * P.ci * 3u;
    for (var r = 0u; r < CT; r++) {
        if (o0 + r < P.co) {
            let base = (P.chunk0 + k) * nw + ((o0 + r) * P.ci + i) * 3u;
            part_w[base] = acc[r][0];
            part_w[base + 1u] = acc[r][1];
            part_w[base + 2u] = acc[r][2];
        }
    }
}

// ---- conv1d_backward_weight_final: dw = sum over the chunk rows, in order
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;     // (Co, Ci, 3) =
@group(0) @binding(2) var<storage, read> part_f: array<f32>;       // (NCH_total, Co, Ci, 3)

@compute @workgroup_size(WG)
fn conv1d_backward_weight_final(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                @builtin(local_invocation_index) lid: u32) {
    let j = (wid.y * nwg.x + wid.x) * WG + lid;
    let nw = P.co * P.ci * 3u;
    if (j >= nw) { return; }
    var s = 0.0;
    for (var k = 0u; k < P.nch_total; k++) { s += part_f[k * nw + j]; }
    dw[j] = s;
}
