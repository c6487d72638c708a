// Max-pool, kernel 2, stride 2, floor, forward and backward.
// Shape legend: B batch, C channels, T frames in, To = T / 2 frames out.

override WG: u32 = 64u;

struct Params {
    b: u32,
    c: u32,
    t: u32,
}

@group(0) @binding(0) var<uniform> P: Params;

// ---- maxpool_forward: out[b, c, u] = max(x[b, c, 2u], x[b, c, 2u + 1])
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // (B, C, To) =
@group(0) @binding(2) var<storage, read> x: array<f32>;           // (B, C, T)

@compute @workgroup_size(WG)
fn maxpool_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    let to = P.t / 2u;
    if (i >= P.b * P.c * to) { return; }
    let u = i % to;
    let row = i / to;                     // b * C + c
    let a = x[row * P.t + 2u * u];
    let bb = x[row * P.t + 2u * u + 1u];
    out[i] = max(a, bb);
}

// ---- maxpool_backward: dx = dout at the first position holding the max, 0 elsewhere
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;    // (B, C, T) =
@group(0) @binding(2) var<storage, read> dout: array<f32>;        // (B, C, To)
@group(0) @binding(3) var<storage, read> x_b: array<f32>;         // (B, C, T)

// One invocation per input frame; a trailing odd frame gets 0.
@compute @workgroup_size(WG)
fn maxpool_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.b * P.c * P.t) { return; }
    let t = i % P.t;
    let row = i / P.t;
    let to = P.t / 2u;
    let u = t / 2u;
    var g = 0.0;
    if (u < to) {
        let a = x_b[row * P.t + 2u * u];
        let bb = x_b[row * P.t + 2u * u + 1u];
        let first_wins = a >= bb;
        if ((t % 2u == 0u) == first_wins) { g = dout[row * to + u]; }
    }
    dx[i] = g;
}
