// Binary cross-entropy on logits, one sigmoid per class (multi-label), forward and backward
// fused like softmax_ce.wgsl.
// Shape legend: B batch, K classes.
// loss[b] = sum_k max(z, 0) - z y + ln(1 + exp(-|z|)); dz[b, k] = (sigmoid(z) - y) / B.

override WG: u32 = 64u;

struct Params {
    b: u32,
    k: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> losses: array<f32>;   // (B) =
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>;  // (B, K) =
@group(0) @binding(3) var<storage, read> logits: array<f32>;         // (B, K)
@group(0) @binding(4) var<storage, read> targets: array<f32>;        // (B, K)

// 1 / (1 + exp(-z)) without overflow for large |z|.
fn sigmoid(z: f32) -> f32 {
    if (z >= 0.0) {
        return 1.0 / (1.0 + exp(-z));
    }
    let e = exp(z);
    return e / (1.0 + e);
}

// One invocation per row b.
@compute @workgroup_size(WG)
fn sigmoid_bce_forward_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                @builtin(local_invocation_index) lid: u32) {
    let b = (wid.y * nwg.x + wid.x) * WG + lid;
    if (b >= P.b) { return; }
    let base = b * P.k;
    let inv_b = 1.0 / f32(P.b);
    var l = 0.0;
    for (var k = 0u; k < P.k; k++) {
        let z = logits[base + k];
        let y = targets[base + k];
        l += max(z, 0.0) - z * y + log(1.0 + exp(-abs(z)));
        dlogits[base + k] = (sigmoid(z) - y) * inv_b;
    }
    losses[b] = l;
}
