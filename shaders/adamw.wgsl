// One AdamW step on one tensor (PyTorch's AdamW). Shape legend: N element count.
// param -= lr wd param; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// param -= lr (m / bc1) / (sqrt(v / bc2) + eps).

override WG: u32 = 64u;

struct Params {
    n: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bc1: f32,
    bc2: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;  // (N) updated
@group(0) @binding(2) var<storage, read_write> m: array<f32>;      // (N) updated
@group(0) @binding(3) var<storage, read_write> v: array<f32>;      // (N) updated
@group(0) @binding(4) var<storage, read> grad: array<f32>;         // (N)

@compute @workgroup_size(WG)
fn adamw_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.n) { return; }
    let g = grad[i];
    var w = param[i];
    w -= P.lr * P.weight_decay * w;
    let mi = P.beta1 * m[i] + (1.0 - P.beta1) * g;
    let vi = P.beta2 * v[i] + (1.0 - P.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    w -= P.lr * (mi / P.bc1) / (sqrt(vi / P.bc2) + P.eps);
    param[i] = w;
}
