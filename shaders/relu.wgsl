// ReLU, forward and backward. Shape legend: N element count.

override WG: u32 = 64u;

struct Params {
    n: u32,
}

@group(0) @binding(0) var<uniform> P: Params;

// ---- relu_forward: out = max(x, 0)
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // (N) =
@group(0) @binding(2) var<storage, read> x: array<f32>;           // (N)

@compute @workgroup_size(WG)
fn relu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.n) { return; }
    out[i] = max(x[i], 0.0);
}

// ---- relu_backward: dx = dout where out > 0, else 0
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;    // (N) =
@group(0) @binding(2) var<storage, read> dout: array<f32>;        // (N)
@group(0) @binding(3) var<storage, read> out_b: array<f32>;       // (N)

@compute @workgroup_size(WG)
fn relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.n) { return; }
    dx[i] = select(0.0, dout[i], out_b[i] > 0.0);
}
