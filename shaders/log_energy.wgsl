// Log energy of the complex filterbank output, forward and backward.
// Shape legend: B batch, F filters, T frames. y holds real parts in rows 0..F, imaginary in F..2F.

override WG: u32 = 64u;
const EPS: f32 = 1e-5;

struct Params {
    b: u32,
    f: u32,
    t: u32,
}

@group(0) @binding(0) var<uniform> P: Params;

// ---- log_energy_forward: out[b, f, t] = ln(re^2 + im^2 + 1e-5)
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // (B, F, T) =
@group(0) @binding(2) var<storage, read> y: array<f32>;           // (B, 2F, T)

@compute @workgroup_size(WG)
fn log_energy_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.b * P.f * P.t) { return; }
    let t = i % P.t;
    let f = (i / P.t) % P.f;
    let b = i / (P.t * P.f);
    let re = y[(b * 2u * P.f + f) * P.t + t];
    let im = y[(b * 2u * P.f + P.f + f) * P.t + t];
    out[i] = log(re * re + im * im + EPS);
}

// ---- log_energy_backward: dy = dout * 2 (re | im) / (re^2 + im^2 + 1e-5)
@group(0) @binding(1) var<storage, read_write> dy: array<f32>;    // (B, 2F, T) =
@group(0) @binding(2) var<storage, read> dout: array<f32>;        // (B, F, T)
@group(0) @binding(3) var<storage, read> y_b: array<f32>;         // (B, 2F, T)

// One invocation per (b, f, t) writes both the real and the imaginary gradient.
@compute @workgroup_size(WG)
fn log_energy_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.b * P.f * P.t) { return; }
    let t = i % P.t;
    let f = (i / P.t) % P.f;
    let b = i / (P.t * P.f);
    let ire = (b * 2u * P.f + f) * P.t + t;
    let iim = (b * 2u * P.f + P.f + f) * P.t + t;
    let re = y_b[ire];
    let im = y_b[iim];
    let g = dout[i] * 2.0 / (re * re + im * im + EPS);
    dy[ire] = g * re;
    dy[iim] = g * im;
}
