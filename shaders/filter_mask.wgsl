// SpecAugment-style filter (frequency) masking, forward and backward.
// Shape legend: B batch, F filters, T frames. mask holds one 0/1 factor per (example, filter),
// made on the host (wavnet::specaug::filter_masks). One invocation per (b, f, t); the workgroup
// grid is 2-D (wid.y * nwg.x + wid.x) so sizes past 65535 workgroups work, and bounds-checked.

override WG: u32 = 64u;

struct Params {
    b: u32,
    f: u32,
    t: u32,
}

@group(0) @binding(0) var<uniform> P: Params;

// ---- filter_mask_forward: out[b, f, t] = x[b, f, t] * mask[b, f]
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // (B, F, T) =
@group(0) @binding(2) var<storage, read> x: array<f32>;           // (B, F, T)
@group(0) @binding(3) var<storage, read> mask: array<f32>;        // (B, F)

@compute @workgroup_size(WG)
fn filter_mask_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.b * P.f * P.t) { return; }
    // i / T = b * F + f: the (b, f) row of the mask
    out[i] = x[i] * mask[i / P.t];
}

// ---- filter_mask_backward: dx[b, f, t] = dout[b, f, t] * mask[b, f]
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;    // (B, F, T) =
@group(0) @binding(2) var<storage, read> dout: array<f32>;        // (B, F, T)
@group(0) @binding(3) var<storage, read> mask_b: array<f32>;      // (B, F)

@compute @workgroup_size(WG)
fn filter_mask_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.b * P.f * P.t) { return; }
    dx[i] = dout[i] * mask_b[i / P.t];
}
