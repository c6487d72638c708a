// Complex Gabor filterbank built from its parameters, forward and backward.
// Shape legend: F filters, W taps of a filter (odd), n = j - W/2 for tap j.
// mu_c = clamp(mu, 0, pi), s = clamp(sigma, 2, W/2), env = exp(-n^2 / (2 s^2)) / (sqrt(2 pi) s)
// kernel[f, j] = env cos(mu_c n), kernel[F + f, j] = env sin(mu_c n).

override WG: u32 = 64u;
const PI: f32 = 3.14159265358979;
const SQRT_2PI: f32 = 2.50662827463100;

struct Params {
    f: u32,
    w: u32,
}

@group(0) @binding(0) var<uniform> P: Params;

// ---- gabor_forward: kernel = ...
@group(0) @binding(1) var<storage, read_write> kernel: array<f32>;    // (2F, W) =
@group(0) @binding(2) var<storage, read> mu: array<f32>;              // (F)
@group(0) @binding(3) var<storage, read> sigma: array<f32>;           // (F)

// One invocation per (f, j).
@compute @workgroup_size(WG)
fn gabor_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= P.f * P.w) { return; }
    let f = i / P.w;
    let j = i % P.w;
    let half = P.w / 2u;
    let n = f32(j) - f32(half);
    let m = clamp(mu[f], 0.0, PI);
    let s = clamp(sigma[f], 2.0, f32(half));
    let env = exp(-n * n / (2.0 * s * s)) / (SQRT_2PI * s);
    kernel[f * P.w + j] = env * cos(m * n);
    kernel[(P.f + f) * P.w + j] = env * sin(m * n);
}

// ---- gabor_backward: dmu =, dsigma =
@group(0) @binding(1) var<storage, read_write> dmu: array<f32>;       // (F) =
@group(0) @binding(2) var<storage, read_write> dsigma: array<f32>;    // (F) =
@group(0) @binding(3) var<storage, read> dkernel: array<f32>;         // (2F, W)
@group(0) @binding(4) var<storage, read> mu_b: array<f32>;            // (F)
@group(0) @binding(5) var<storage, read> sigma_b: array<f32>;         // (F)

// One invocation per filter f, looping over its W taps.
// d re/d mu = -env n sin(mu n), d im/d mu = env n cos(mu n);
// d env/d s = env (n^2 / s^3 - 1 / s); d re/d s = cos(mu n) d env/d s, d im/d s = sin(mu n) d env/d s.
// The clamp passes the gradient only where lo <= x <= hi.
@compute @workgroup_size(WG)
fn gabor_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let f = (wid.y * nwg.x + wid.x) * WG + lid;
    if (f >= P.f) { return; }
    let half = P.w / 2u;
    let mu_raw = mu_b[f];
    let sg_raw = sigma_b[f];
    let m = clamp(mu_raw, 0.0, PI);
    let s = clamp(sg_raw, 2.0, f32(half));
    var gm = 0.0;
    var gs = 0.0;
    for (var j = 0u; j < P.w; j++) {
        let n = f32(j) - f32(half);
        let env = exp(-n * n / (2.0 * s * s)) / (SQRT_2PI * s);
        let c = cos(m * n);
        let sn = sin(m * n);
        let dre = dkernel[f * P.w + j];
        let dim = dkernel[(P.f + f) * P.w + j];
        gm += env * n * (dim * c - dre * sn);
        gs += (dre * c + dim * sn) * env * (n * n / (s * s * s) - 1.0 / s);
    }
    let pass_mu = mu_raw >= 0.0 && mu_raw <= PI;
    let pass_sg = sg_raw >= 2.0 && sg_raw <= f32(half);
    dmu[f] = select(0.0, gm, pass_mu);
    dsigma[f] = select(0.0, gs, pass_sg);
}
