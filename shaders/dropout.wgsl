// Inverted dropout with a counter-based mask, forward and backward. Shape legend: N element count.
// keep(i) = (hash(i ^ hash(seed)) >> 8) / 2^24 >= p, hash = lowbias32 (the same arithmetic as
// wavnet::device::hash_u32: u32 multiplies wrap in WGSL as in Rust's wrapping_mul).

override WG: u32 = 64u;

struct Params {
    n: u32,
    p: f32,
    seed: u32,
    // 1 / (1 - p), computed on the host (as the cpu twin does) so outputs match bit for bit
    scale: f32,
}

@group(0) @binding(0) var<uniform> P: Params;

fn hash_u32(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

fn keep(i: u32) -> bool {
    let u = f32(hash_u32(i ^ hash_u32(P.seed)) >> 8u) * (1.0 / 16777216.0);
    return u >= P.p;
}

// ---- dropout_forward: out = keep ? x / (1 - p) : 0
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // (N) =
@group(0) @binding(2) var<storage, read> x: array<f32>;           // (N)

@compute @workgroup_size(WG)
fn dropout_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.n) { return; }
    out[i] = select(0.0, x[i] * P.scale, keep(i));
}

// ---- dropout_backward: dx = keep ? dout / (1 - p) : 0
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;    // (N) =
@group(0) @binding(2) var<storage, read> dout: array<f32>;        // (N)

@compute @workgroup_size(WG)
fn dropout_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.n) { return; }
    dx[i] = select(0.0, dout[i] * P.scale, keep(i));
}
