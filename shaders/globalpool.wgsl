// Global pooling over time (mean + max), forward and backward.
// Shape legend: B batch, C channels, T frames.

override WG: u32 = 64u;

struct Params {
    b: u32,
    c: u32,
    t: u32,
}

@group(0) @binding(0) var<uniform> P: Params;

// ---- globalpool_forward: out[b, c] = mean_t x[b, c, t] + max_t x[b, c, t]
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // (B, C) =
@group(0) @binding(2) var<storage, read> x: array<f32>;           // (B, C, T)

// One invocation per row (b, c).
@compute @workgroup_size(WG)
fn globalpool_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let row = (wid.y * nwg.x + wid.x) * WG + lid;
    if (row >= P.b * P.c) { return; }
    let base = row * P.t;
    var s = 0.0;
    var mx = x[base];
    for (var t = 0u; t < P.t; t++) {
        let v = x[base + t];
        s += v;
        mx = max(mx, v);
    }
    out[row] = s / f32(P.t) + mx;
}

// ---- globalpool_backward: dx[b, c, t] = dout[b, c] / T + (t == first argmax ? dout[b, c] : 0)
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;    // (B, C, T) =
@group(0) @binding(2) var<storage, read> dout: array<f32>;        // (B, C)
@group(0) @binding(3) var<storage, read> x_b: array<f32>;         // (B, C, T)

// One invocation per row (b, c): finds the first argmax, then writes the row.
@compute @workgroup_size(WG)
fn globalpool_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let row = (wid.y * nwg.x + wid.x) * WG + lid;
    if (row >= P.b * P.c) { return; }
    let base = row * P.t;
    var arg = 0u;
    var mx = x_b[base];
    for (var t = 1u; t < P.t; t++) {
        let v = x_b[base + t];
        if (v > mx) { mx = v; arg = t; }
    }
    let g = dout[row];
    let gm = g / f32(P.t);
    for (var t = 0u; t < P.t; t++) {
        dx[base + t] = select(gm, gm + g, t == arg);
    }
}
