// Softmax cross-entropy with soft targets, forward and backward fused (as in llm.c).
// Shape legend: B batch, K classes.
// p = softmax(z); s = sum_k y[k]; loss = s lse(z) - sum_k y[k] z[k]; dz[k] = (p[k] s - y[k]) / B.

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

// One invocation per row b.
@compute @workgroup_size(WG)
fn softmax_ce_forward_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                               @builtin(local_invocation_index) lid: u32) {
    let b = (wid.y * nwg.x + wid.x) * WG + lid;
    if (b >= P.b) { return; }
    let base = b * P.k;
    var zmax = logits[base];
    for (var k = 1u; k < P.k; k++) { zmax = max(zmax, logits[base + k]); }
    var se = 0.0;
    var s = 0.0;
    var yz = 0.0;
    for (var k = 0u; k < P.k; k++) {
        let z = logits[base + k];
        let y = targets[base + k];
        se += exp(z - zmax);
        s += y;
        yz += y * z;
    }
    let lse = zmax + log(se);
    losses[b] = s * lse - yz;
    let inv_b = 1.0 / f32(P.b);
    for (var k = 0u; k < P.k; k++) {
        let p = exp(logits[base + k] - lse);
        dlogits[base + k] = (p * s - targets[base + k]) * inv_b;
    }
}
