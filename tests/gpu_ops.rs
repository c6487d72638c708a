//! Every op of the `gpu` device, forward and every backward output, against the `cpu` twin.
//! Seeded random inputs, several shapes each (including sizes that are not multiples of any
//! workgroup or register tile), compared with `atol + rtol * |ref|`; a failure names the
//! first mismatching index and both values.
//!
//! These tests need a wgpu adapter (on a machine without a GPU: Mesa's lavapipe,
//! `apt-get install mesa-vulkan-drivers libvulkan1`). They never skip silently: without an
//! adapter they fail with the install message, unless `WAVNET_SKIP_GPU_TESTS=1` is set.
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wavnet::cpu::CpuDevice;
use wavnet::device::{dropout_keep, AdamW, Device};
use wavnet::gpu::GpuDevice;

/// The gpu device, or `None` (with a loud SKIPPED line) under `WAVNET_SKIP_GPU_TESTS=1`.
fn gpu() -> Option<GpuDevice> {
    wavnet::gpu::test_device()
}

/// Runs `$body` once with `$d` bound to the cpu device and once to the gpu device; evaluates
/// to `(cpu result, gpu result)`. The body is expanded twice, so it is generic over the device.
macro_rules! both {
    (|$d:ident| $body:block) => {{
        let Some(gpu_dev) = gpu() else { return };
        let cpu_dev = CpuDevice::new();
        let cpu_res = {
            let $d = &cpu_dev;
            $body
        };
        let gpu_res = {
            let $d = &gpu_dev;
            $body
        };
        (cpu_res, gpu_res)
    }};
}

/// A buffer holding `v`.
fn buf<D: Device>(d: &D, v: &[f32]) -> D::Buf {
    let b = d.alloc(v.len());
    d.upload(&b, v);
    b
}

/// An output buffer pre-filled with NaN, so an element the op forgets to write fails the check.
fn out<D: Device>(d: &D, n: usize) -> D::Buf {
    buf(d, &vec![f32::NAN; n])
}

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn rand_vec(r: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| r.random_range(lo..hi)).collect()
}

/// Values on a coarse grid, so that maxima tie often.
fn tie_vec(r: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| r.random_range(-2i32..3) as f32).collect()
}

/// Asserts `|got - want| <= atol + rtol * |want|` elementwise (and equal lengths).
#[track_caller]
fn check(what: &str, want: &[f32], got: &[f32], atol: f32, rtol: f32) {
    assert_eq!(want.len(), got.len(), "{what}: length differs (cpu {}, gpu {})", want.len(), got.len());
    // written so that a NaN on either side counts as a mismatch
    let close = |w: f32, g: f32| (w - g).abs() <= atol + rtol * w.abs();
    let bad = want.iter().zip(got).position(|(&w, &g)| !close(w, g));
    if let Some(i) = bad {
        let n_bad = want.iter().zip(got).filter(|(&w, &g)| !close(w, g)).count();
        panic!(
            "{what}: first mismatch at index {i}: cpu {} vs gpu {} (|diff| {:e}, tol {:e}); {n_bad} of {} elements differ",
            want[i],
            got[i],
            (want[i] - got[i]).abs(),
            atol + rtol * want[i].abs(),
            want.len()
        );
    }
}

/// Compares every output pair of a `both!` run.
#[track_caller]
fn check_all(what: &str, names: &[&str], cpu: &[Vec<f32>], gpu: &[Vec<f32>], atol: f32, rtol: f32) {
    assert_eq!(names.len(), cpu.len());
    for ((n, c), g) in names.iter().zip(cpu).zip(gpu) {
        check(&format!("{what}: {n}"), c, g, atol, rtol);
    }
}

// ------------------------------------------------------------------------------- gabor

#[test]
fn gabor_forward_and_backward_match_cpu() {
    for (seed, f, w) in [(1u64, 5usize, 33usize), (2, 40, 101), (3, 1, 7), (4, 67, 401)] {
        let mut r = rng(seed);
        // some parameters outside the clamp ranges, to test the masked gradient
        let mu = rand_vec(&mut r, f, -0.3, 3.4);
        let sigma = rand_vec(&mut r, f, 1.0, (w / 2) as f32 + 3.0);
        let dk = rand_vec(&mut r, 2 * f * w, -1.0, 1.0);
        let (c, g) = both!(|d| {
            let (mu_b, sg_b, dk_b) = (buf(d, &mu), buf(d, &sigma), buf(d, &dk));
            let (k, dmu, dsg) = (out(d, 2 * f * w), out(d, f), out(d, f));
            d.gabor_forward(&k, &mu_b, &sg_b, f, w);
            d.gabor_backward(&dmu, &dsg, &dk_b, &mu_b, &sg_b, f, w);
            vec![d.download(&k), d.download(&dmu), d.download(&dsg)]
        });
        check_all(&format!("gabor F={f} W={w}"), &["kernel", "dmu", "dsigma"], &c, &g, 1e-5, 1e-3);
    }
}

// ------------------------------------------------------------------------------- filterbank

#[test]
fn filterbank_forward_and_backward_match_cpu() {
    // (B, L, K2, W, H): hops that do and do not divide L, filters longer than the hop
    for (seed, b, l, k2, w, h) in [
        (10u64, 3usize, 1013usize, 10usize, 33usize, 16usize),
        (11, 2, 400, 8, 25, 10),
        (12, 1, 97, 6, 101, 7),
        (13, 4, 640, 16, 65, 160),
        (14, 2, 5, 2, 9, 3),
    ] {
        let t = l / h + 1;
        let mut r = rng(seed);
        let x = rand_vec(&mut r, b * l, -1.0, 1.0);
        let kern = rand_vec(&mut r, k2 * w, -0.5, 0.5);
        let dy = rand_vec(&mut r, b * k2 * t, -1.0, 1.0);
        let (c, g) = both!(|d| {
            let (xb, kb, dyb) = (buf(d, &x), buf(d, &kern), buf(d, &dy));
            let (y, dk) = (out(d, b * k2 * t), out(d, k2 * w));
            d.filterbank_forward(&y, &xb, &kb, b, l, k2, w, h, t);
            d.filterbank_backward(&dk, &dyb, &xb, b, l, k2, w, h, t);
            vec![d.download(&y), d.download(&dk)]
        });
        check_all(&format!("filterbank B={b} L={l} K2={k2} W={w} H={h}"), &["y", "dkernel"], &c, &g, 1e-4, 1e-3);
    }
}

// ------------------------------------------------------------------------------- log_energy

#[test]
fn log_energy_forward_and_backward_match_cpu() {
    for (seed, b, f, t) in [(20u64, 3usize, 5usize, 37usize), (21, 2, 40, 101), (22, 1, 1, 1)] {
        let mut r = rng(seed);
        let y = rand_vec(&mut r, b * 2 * f * t, -1.0, 1.0);
        let dout = rand_vec(&mut r, b * f * t, -1.0, 1.0);
        let (c, g) = both!(|d| {
            let (yb, dob) = (buf(d, &y), buf(d, &dout));
            let (o, dy) = (out(d, b * f * t), out(d, b * 2 * f * t));
            d.log_energy_forward(&o, &yb, b, f, t);
            d.log_energy_backward(&dy, &dob, &yb, b, f, t);
            vec![d.download(&o), d.download(&dy)]
        });
        check_all(&format!("log_energy B={b} F={f} T={t}"), &["out", "dy"], &c, &g, 1e-5, 1e-4);
    }
}

// ------------------------------------------------------------------------------- batchnorm

#[test]
fn batchnorm_train_forward_stats_and_backward_match_cpu() {
    // n = B T below, at and above the reduction workgroup (256), and n = 1
    for (seed, b, c, t) in [(30u64, 3usize, 5usize, 37usize), (31, 4, 3, 300), (32, 2, 7, 128), (33, 1, 2, 1)] {
        let mut r = rng(seed);
        let x = rand_vec(&mut r, b * c * t, -2.0, 3.0);
        let weight = rand_vec(&mut r, c, 0.5, 1.5);
        let bias = rand_vec(&mut r, c, -0.5, 0.5);
        let rm0 = rand_vec(&mut r, c, -0.2, 0.2);
        let rv0 = rand_vec(&mut r, c, 0.8, 1.2);
        let dout = rand_vec(&mut r, b * c * t, -1.0, 1.0);
        let (momentum, eps) = (0.1f32, 1e-5f32);
        let (cr, gr) = both!(|d| {
            let (xb, wb, bb, dob) = (buf(d, &x), buf(d, &weight), buf(d, &bias), buf(d, &dout));
            let (rm, rv) = (buf(d, &rm0), buf(d, &rv0));
            let (o, mean, rstd) = (out(d, b * c * t), out(d, c), out(d, c));
            let (dx, dw, db) = (out(d, b * c * t), out(d, c), out(d, c));
            d.batchnorm_forward(&o, &mean, &rstd, &rm, &rv, &xb, &wb, &bb, b, c, t, true, momentum, eps);
            d.batchnorm_backward(&dx, &dw, &db, &dob, &xb, &mean, &rstd, &wb, b, c, t);
            vec![
                d.download(&o),
                d.download(&mean),
                d.download(&rstd),
                d.download(&rm),
                d.download(&rv),
                d.download(&dx),
                d.download(&dw),
                d.download(&db),
            ]
        });
        check_all(
            &format!("batchnorm train B={b} C={c} T={t}"),
            &["out", "mean", "rstd", "running_mean", "running_var", "dx", "dweight", "dbias"],
            &cr,
            &gr,
            1e-4,
            1e-3,
        );
    }
}

#[test]
fn batchnorm_eval_uses_running_stats_and_leaves_stats_untouched() {
    for (seed, b, c, t) in [(34u64, 3usize, 5usize, 37usize), (35, 2, 9, 260)] {
        let mut r = rng(seed);
        let x = rand_vec(&mut r, b * c * t, -2.0, 3.0);
        let weight = rand_vec(&mut r, c, 0.5, 1.5);
        let bias = rand_vec(&mut r, c, -0.5, 0.5);
        let rm0 = rand_vec(&mut r, c, -0.2, 0.2);
        let rv0 = rand_vec(&mut r, c, 0.5, 1.5);
        let sentinel = vec![123.0f32; c];
        let (cr, gr) = both!(|d| {
            let (xb, wb, bb) = (buf(d, &x), buf(d, &weight), buf(d, &bias));
            let (rm, rv) = (buf(d, &rm0), buf(d, &rv0));
            let (mean, rstd) = (buf(d, &sentinel), buf(d, &sentinel));
            let o = out(d, b * c * t);
            d.batchnorm_forward(&o, &mean, &rstd, &rm, &rv, &xb, &wb, &bb, b, c, t, false, 0.1, 1e-5);
            vec![d.download(&o), d.download(&mean), d.download(&rstd), d.download(&rm), d.download(&rv)]
        });
        let names = ["out", "mean", "rstd", "running_mean", "running_var"];
        check_all(&format!("batchnorm eval B={b} C={c} T={t}"), &names, &cr, &gr, 1e-5, 1e-4);
        check("batchnorm eval: gpu mean untouched", &sentinel, &gr[1], 0.0, 0.0);
        check("batchnorm eval: gpu rstd untouched", &sentinel, &gr[2], 0.0, 0.0);
        check("batchnorm eval: gpu running_mean untouched", &rm0, &gr[3], 0.0, 0.0);
        check("batchnorm eval: gpu running_var untouched", &rv0, &gr[4], 0.0, 0.0);
    }
}

// ------------------------------------------------------------------------------- relu

#[test]
fn relu_forward_and_backward_match_cpu() {
    // the last size needs more than 65535 workgroups of 64: a 2-D dispatch grid
    for (seed, n) in [(40u64, 1usize), (41, 1013), (42, 65_535 * 64 + 1000)] {
        let mut r = rng(seed);
        let x = rand_vec(&mut r, n, -1.0, 1.0);
        let dout = rand_vec(&mut r, n, -1.0, 1.0);
        let (c, g) = both!(|d| {
            let (xb, dob) = (buf(d, &x), buf(d, &dout));
            let (o, dx) = (out(d, n), out(d, n));
            d.relu_forward(&o, &xb, n);
            d.relu_backward(&dx, &dob, &o, n);
            vec![d.download(&o), d.download(&dx)]
        });
        check_all(&format!("relu N={n}"), &["out", "dx"], &c, &g, 0.0, 0.0);
    }
}

// ------------------------------------------------------------------------------- filter_mask

#[test]
fn filter_mask_forward_and_backward_match_cpu() {
    use wavnet::specaug::{filter_masks, FilterMaskConfig};
    // (B, F, T): sizes that are not multiples of the workgroup, a single element, the model's
    // (F, T), and one that needs more than 65535 workgroups of 64 (a 2-D dispatch grid)
    for (seed, b, f, t) in
        [(45u64, 3usize, 7usize, 13usize), (46, 1, 1, 1), (47, 2, 64, 201), (48, 5, 9, 1), (49, 5, 64, 13_200)]
    {
        let mut r = rng(seed);
        let n = b * f * t;
        let x = rand_vec(&mut r, n, -3.0, 3.0);
        let dout = rand_vec(&mut r, n, -1.0, 1.0);
        // a real 0/1 mask, and arbitrary factors (so a wrong (b, f) row shows up)
        let cfg = FilterMaskConfig { p: 0.7, max_masks: 2, max_width: 5 };
        for (kind, mask) in [("0/1", filter_masks(b, f, seed as u32, &cfg)), ("random", rand_vec(&mut r, b * f, -2.0, 2.0))] {
            let (c, g) = both!(|d| {
                let (xb, dob, mb) = (buf(d, &x), buf(d, &dout), buf(d, &mask));
                let (o, dx) = (out(d, n), out(d, n));
                d.filter_mask_forward(&o, &xb, &mb, b, f, t);
                d.filter_mask_backward(&dx, &dob, &mb, b, f, t);
                vec![d.download(&o), d.download(&dx)]
            });
            check_all(&format!("filter_mask ({kind}) B={b} F={f} T={t}"), &["out", "dx"], &c, &g, 0.0, 0.0);
            // and the cpu twin is the definition
            let i = n - 1;
            assert_eq!(c[0][i], x[i] * mask[i / t]);
            assert_eq!(c[1][i], dout[i] * mask[i / t]);
        }
    }
}

// ------------------------------------------------------------------------------- conv1d

#[test]
fn conv1d_forward_and_backward_match_cpu() {
    for (seed, b, ci, co, t) in [
        (50u64, 3usize, 5usize, 7usize, 37usize),
        (51, 2, 16, 8, 64),
        (52, 1, 1, 1, 1),
        (53, 2, 3, 9, 2),
        (54, 4, 13, 6, 101),
    ] {
        let mut r = rng(seed);
        let x = rand_vec(&mut r, b * ci * t, -1.0, 1.0);
        let w = rand_vec(&mut r, co * ci * 3, -0.5, 0.5);
        let dout = rand_vec(&mut r, b * co * t, -1.0, 1.0);
        let (c, g) = both!(|d| {
            let (xb, wb, dob) = (buf(d, &x), buf(d, &w), buf(d, &dout));
            let (o, dx, dw) = (out(d, b * co * t), out(d, b * ci * t), out(d, co * ci * 3));
            d.conv1d_forward(&o, &xb, &wb, b, ci, co, t);
            d.conv1d_backward(&dx, &dw, &dob, &xb, &wb, b, ci, co, t);
            vec![d.download(&o), d.download(&dx), d.download(&dw)]
        });
        check_all(&format!("conv1d B={b} Ci={ci} Co={co} T={t}"), &["out", "dx", "dw"], &c, &g, 1e-5, 1e-4);
    }
}

// ------------------------------------------------------------------------------- maxpool

#[test]
fn maxpool_forward_and_backward_match_cpu() {
    for (seed, b, c, t, ties) in [
        (60u64, 3usize, 5usize, 37usize, false),
        (61, 2, 4, 64, false),
        (62, 3, 5, 37, true),
        (63, 1, 1, 1, false),
        (64, 2, 3, 2, true),
    ] {
        let mut r = rng(seed);
        let x = if ties { tie_vec(&mut r, b * c * t) } else { rand_vec(&mut r, b * c * t, -1.0, 1.0) };
        let to = t / 2;
        let dout = rand_vec(&mut r, b * c * to, -1.0, 1.0);
        let (cr, gr) = both!(|d| {
            let (xb, dob) = (buf(d, &x), buf(d, &dout));
            let (o, dx) = (out(d, b * c * to), out(d, b * c * t));
            d.maxpool_forward(&o, &xb, b, c, t);
            d.maxpool_backward(&dx, &dob, &xb, b, c, t);
            vec![d.download(&o), d.download(&dx)]
        });
        check_all(&format!("maxpool B={b} C={c} T={t} ties={ties}"), &["out", "dx"], &cr, &gr, 0.0, 0.0);
    }
}

// ------------------------------------------------------------------------------- globalpool

#[test]
fn globalpool_forward_and_backward_match_cpu() {
    for (seed, b, c, t, ties) in
        [(70u64, 3usize, 5usize, 37usize, false), (71, 2, 70, 13, false), (72, 3, 5, 37, true), (73, 1, 1, 1, false)]
    {
        let mut r = rng(seed);
        let x = if ties { tie_vec(&mut r, b * c * t) } else { rand_vec(&mut r, b * c * t, -1.0, 1.0) };
        let dout = rand_vec(&mut r, b * c, -1.0, 1.0);
        let (cr, gr) = both!(|d| {
            let (xb, dob) = (buf(d, &x), buf(d, &dout));
            let (o, dx) = (out(d, b * c), out(d, b * c * t));
            d.globalpool_forward(&o, &xb, b, c, t);
            d.globalpool_backward(&dx, &dob, &xb, b, c, t);
            vec![d.download(&o), d.download(&dx)]
        });
        check_all(&format!("globalpool B={b} C={c} T={t} ties={ties}"), &["out", "dx"], &cr, &gr, 1e-6, 1e-5);
    }
}

// ------------------------------------------------------------------------------- dropout

#[test]
fn dropout_forward_and_backward_match_cpu_bit_for_bit() {
    for (seed, n, p, mask_seed) in
        [(80u64, 1013usize, 0.5f32, 7u32), (81, 4096, 0.1, 0xdead_beef), (82, 37, 0.9, 0), (83, 100, 0.0, 3)]
    {
        let mut r = rng(seed);
        let x = rand_vec(&mut r, n, 0.5, 1.5); // never 0, so a zero output means "dropped"
        let dout = rand_vec(&mut r, n, 0.5, 1.5);
        let (c, g) = both!(|d| {
            let (xb, dob) = (buf(d, &x), buf(d, &dout));
            let (o, dx) = (out(d, n), out(d, n));
            d.dropout_forward(&o, &xb, n, p, mask_seed);
            d.dropout_backward(&dx, &dob, n, p, mask_seed);
            vec![d.download(&o), d.download(&dx)]
        });
        check_all(&format!("dropout N={n} p={p} seed={mask_seed}"), &["out", "dx"], &c, &g, 0.0, 0.0);
        for (i, (&o, &dx)) in g[0].iter().zip(&g[1]).enumerate() {
            let keep = dropout_keep(mask_seed, i as u32, p);
            assert_eq!(o != 0.0, keep, "dropout forward mask differs from dropout_keep at {i}");
            assert_eq!(dx != 0.0, keep, "dropout backward mask differs from dropout_keep at {i}");
        }
    }
}

// ------------------------------------------------------------------------------- linear

#[test]
fn linear_forward_and_backward_match_cpu() {
    for (seed, b, c, k) in [(90u64, 3usize, 5usize, 7usize), (91, 32, 64, 50), (92, 1, 1, 1), (93, 5, 130, 3)] {
        let mut r = rng(seed);
        let x = rand_vec(&mut r, b * c, -1.0, 1.0);
        let w = rand_vec(&mut r, k * c, -0.5, 0.5);
        let bias = rand_vec(&mut r, k, -0.5, 0.5);
        let dout = rand_vec(&mut r, b * k, -1.0, 1.0);
        let (cr, gr) = both!(|d| {
            let (xb, wb, bb, dob) = (buf(d, &x), buf(d, &w), buf(d, &bias), buf(d, &dout));
            let (o, dx, dw, db) = (out(d, b * k), out(d, b * c), out(d, k * c), out(d, k));
            d.linear_forward(&o, &xb, &wb, &bb, b, c, k);
            d.linear_backward(&dx, &dw, &db, &dob, &xb, &wb, b, c, k);
            vec![d.download(&o), d.download(&dx), d.download(&dw), d.download(&db)]
        });
        check_all(&format!("linear B={b} C={c} K={k}"), &["out", "dx", "dw", "dbias"], &cr, &gr, 1e-5, 1e-4);
    }
}

// ------------------------------------------------------------------------------- softmax_ce

#[test]
fn softmax_ce_matches_cpu() {
    for (seed, b, k, soft) in
        [(100u64, 3usize, 5usize, true), (101, 32, 50, false), (102, 1, 1, true), (103, 7, 527, true)]
    {
        let mut r = rng(seed);
        let logits = rand_vec(&mut r, b * k, -8.0, 8.0);
        let targets: Vec<f32> = if soft {
            rand_vec(&mut r, b * k, 0.0, 1.0)
        } else {
            (0..b * k).map(|i| if i % k == (i / k * 7) % k { 1.0 } else { 0.0 }).collect()
        };
        let (cr, gr) = both!(|d| {
            let (lb, tb) = (buf(d, &logits), buf(d, &targets));
            let (losses, dl) = (out(d, b), out(d, b * k));
            d.softmax_ce_forward_backward(&losses, &dl, &lb, &tb, b, k);
            vec![d.download(&losses), d.download(&dl)]
        });
        check_all(&format!("softmax_ce B={b} K={k}"), &["losses", "dlogits"], &cr, &gr, 1e-5, 1e-4);
    }
}

// ------------------------------------------------------------------------------- sigmoid_bce

#[test]
fn sigmoid_bce_matches_cpu() {
    // B and K not multiples of the workgroup size; logits large enough that a naive
    // ln(sigmoid) would overflow; multi-hot and soft targets.
    for (seed, b, k, soft) in [(110u64, 3usize, 5usize, true), (111, 65, 50, false), (112, 1, 1, true), (113, 7, 527, true)] {
        let mut r = rng(seed);
        let mut logits = rand_vec(&mut r, b * k, -8.0, 8.0);
        logits[0] = 90.0;
        if logits.len() > 1 {
            logits[1] = -90.0;
        }
        let targets: Vec<f32> = if soft {
            rand_vec(&mut r, b * k, 0.0, 1.0)
        } else {
            (0..b * k).map(|i| if (i * 7 + i / k) % 5 == 0 { 1.0 } else { 0.0 }).collect()
        };
        let (cr, gr) = both!(|d| {
            let (lb, tb) = (buf(d, &logits), buf(d, &targets));
            let (losses, dl) = (out(d, b), out(d, b * k));
            d.sigmoid_bce_forward_backward(&losses, &dl, &lb, &tb, b, k);
            vec![d.download(&losses), d.download(&dl)]
        });
        assert!(cr.iter().flatten().all(|v| v.is_finite()), "cpu values finite");
        check_all(&format!("sigmoid_bce B={b} K={k}"), &["losses", "dlogits"], &cr, &gr, 1e-5, 1e-4);
    }
}

#[test]
fn sigmoid_bce_gradient_matches_finite_differences_on_the_gpu() {
    // The gpu kernel's own dlogits against central differences of its own losses (f32 on
    // the device, so a coarse step and tolerance).
    let Some(d) = gpu() else { return };
    let (b, k) = (3usize, 7usize);
    let mut r = rng(114);
    let z = rand_vec(&mut r, b * k, -4.0, 4.0);
    let y: Vec<f32> = (0..b * k).map(|i| [0.0, 1.0, 0.3][i % 3]).collect();
    let run = |zz: &[f32]| -> (f64, Vec<f32>) {
        let (lb, tb) = (buf(&d, zz), buf(&d, &y));
        let (losses, dl) = (out(&d, b), out(&d, b * k));
        d.sigmoid_bce_forward_backward(&losses, &dl, &lb, &tb, b, k);
        (d.download(&losses).iter().map(|v| *v as f64).sum::<f64>() / b as f64, d.download(&dl))
    };
    let (_, dz) = run(&z);
    let eps = 1e-2f32;
    for i in 0..b * k {
        let mut zp = z.clone();
        zp[i] += eps;
        let mut zm = z.clone();
        zm[i] -= eps;
        let fd = (run(&zp).0 - run(&zm).0) / (2.0 * eps as f64);
        assert!((fd - dz[i] as f64).abs() <= 2e-3 + 1e-2 * fd.abs(), "index {i}: gpu dlogits {}, finite difference {fd}", dz[i]);
    }
}

// ------------------------------------------------------------------------------- adamw

#[test]
fn adamw_step_matches_cpu() {
    for (seed, n, step) in [(110u64, 1013usize, 1i32), (111, 37, 10), (112, 1, 1000)] {
        let mut r = rng(seed);
        let p0 = rand_vec(&mut r, n, -1.0, 1.0);
        let m0 = rand_vec(&mut r, n, -0.1, 0.1);
        let v0 = rand_vec(&mut r, n, 0.0, 0.01);
        let grad = rand_vec(&mut r, n, -1.0, 1.0);
        let (beta1, beta2) = (0.9f32, 0.999f32);
        let hp = AdamW {
            lr: 1e-3,
            beta1,
            beta2,
            eps: 1e-8,
            weight_decay: 0.01,
            bc1: 1.0 - beta1.powi(step),
            bc2: 1.0 - beta2.powi(step),
        };
        let (cr, gr) = both!(|d| {
            let (pb, mb, vb, gb) = (buf(d, &p0), buf(d, &m0), buf(d, &v0), buf(d, &grad));
            // two steps, to check the in-place state carries over
            d.adamw_step(&pb, &mb, &vb, &gb, n, &hp);
            d.adamw_step(&pb, &mb, &vb, &gb, n, &hp);
            vec![d.download(&pb), d.download(&mb), d.download(&vb)]
        });
        check_all(&format!("adamw N={n} step={step}"), &["param", "m", "v"], &cr, &gr, 1e-6, 1e-5);
    }
}

// ------------------------------------------------------------------------------- device plumbing

/// More dispatches than the uniform ring holds before one download: the ring must flush and
/// every dispatch must still see its own parameters.
#[test]
fn many_pending_dispatches_keep_their_own_parameters() {
    let Some(d) = gpu() else { return };
    let n = 300usize; // > RING_SLOTS
    assert!(n > wavnet::gpu::RING_SLOTS);
    let x = buf(&d, &vec![1.0f32; n + 1]);
    let outs: Vec<_> = (0..n).map(|_| out(&d, n + 1)).collect();
    for (i, o) in outs.iter().enumerate() {
        // relu over the first i + 1 elements; the rest stays NaN
        d.relu_forward(o, &x, i + 1);
    }
    for (i, o) in outs.iter().enumerate() {
        let v = d.download(o);
        assert!(v[..=i].iter().all(|&e| e == 1.0), "dispatch {i}: wrong values in its range");
        assert!(v[i + 1..].iter().all(|e| e.is_nan()), "dispatch {i}: wrote past its n = {}", i + 1);
    }
}

/// An upload after recorded ops must not change what those ops read.
#[test]
fn upload_is_ordered_after_pending_ops() {
    let Some(d) = gpu() else { return };
    let x = buf(&d, &[1.0, -2.0, 3.0]);
    let (a, b) = (out(&d, 3), out(&d, 3));
    d.relu_forward(&a, &x, 3);
    d.upload(&x, &[-1.0, 2.0]);
    d.relu_forward(&b, &x, 3);
    assert_eq!(d.download(&a), vec![1.0, 0.0, 3.0]);
    assert_eq!(d.download(&b), vec![0.0, 2.0, 3.0]);
    assert_eq!(d.len(&x), 3);
    d.sync();
}

#[test]
fn adapter_discovery_reports_the_device() {
    let Some(d) = gpu() else { return };
    let list = wavnet::gpu::list_adapters();
    eprintln!("gpu tests ran on {} (adapters: {list:?})", d.adapter_info());
    assert!(!list.is_empty(), "a device opened but list_adapters() is empty");
    assert!(!d.adapter_info().is_empty());
    assert!(d.name().starts_with("gpu: "), "name: {}", d.name());
    // the best adapter is picked: a software one only when every adapter is software
    if d.is_software() {
        assert!(list.iter().all(|a| a.is_software), "picked a software adapter over {list:?}");
        // `--device auto` asks for hardware only: here that must be a clear error
        match GpuDevice::new(true) {
            Err(e @ wavnet::gpu::GpuError::NoHardwareAdapter(_)) => {
                assert!(e.to_string().contains("--device cpu"), "message: {e}")
            }
            Err(e) => panic!("expected NoHardwareAdapter, got {e}"),
            Ok(g) => panic!("hardware-only open returned the software adapter {}", g.adapter_info()),
        }
    }
    assert!(wavnet::gpu::GpuError::NoAdapter.to_string().contains("apt-get install mesa-vulkan-drivers"));
}

// ------------------------------------------------------------------- split reductions, pieces

/// A gpu device with `f` applied to its tuning, or `None` under `WAVNET_SKIP_GPU_TESTS=1`.
fn tuned_gpu(f: impl FnOnce(&mut wavnet::gpu::Tuning)) -> Option<GpuDevice> {
    let g = gpu()?;
    let mut t = g.tuning();
    f(&mut t);
    g.set_tuning(t);
    Some(g)
}

/// BatchNorm (train forward + backward), conv1d and filterbank (forward + backward) on `d`,
/// at shapes whose reduction lengths B T are not multiples of any chunk or workgroup size.
fn reduction_ops<D: Device>(d: &D, seed: u64, (b, c, t): (usize, usize, usize), (l, k2, w, h): (usize, usize, usize, usize)) -> Vec<Vec<f32>> {
    let mut r = rng(seed);
    let n = b * c * t;
    let x = rand_vec(&mut r, n, -2.0, 3.0);
    let dout = rand_vec(&mut r, n, -1.0, 1.0);
    let (weight, bias) = (rand_vec(&mut r, c, 0.5, 1.5), rand_vec(&mut r, c, -0.5, 0.5));
    let cw = rand_vec(&mut r, c * c * 3, -0.5, 0.5);
    let tf = l / h + 1;
    let wave = rand_vec(&mut r, b * l, -1.0, 1.0);
    let kern = rand_vec(&mut r, k2 * w, -0.5, 0.5);
    let dy = rand_vec(&mut r, b * k2 * tf, -1.0, 1.0);
    let (xb, dob, wb, bb, cwb) = (buf(d, &x), buf(d, &dout), buf(d, &weight), buf(d, &bias), buf(d, &cw));
    let (rm, rv) = (buf(d, &vec![0.0; c]), buf(d, &vec![1.0; c]));
    let (o, mean, rstd, dx, dw, db) = (out(d, n), out(d, c), out(d, c), out(d, n), out(d, c), out(d, c));
    d.batchnorm_forward(&o, &mean, &rstd, &rm, &rv, &xb, &wb, &bb, b, c, t, true, 0.1, 1e-5);
    d.batchnorm_backward(&dx, &dw, &db, &dob, &xb, &mean, &rstd, &wb, b, c, t);
    let (co, cdx, cdw) = (out(d, n), out(d, n), out(d, c * c * 3));
    d.conv1d_forward(&co, &xb, &cwb, b, c, c, t);
    d.conv1d_backward(&cdx, &cdw, &dob, &xb, &cwb, b, c, c, t);
    let (wvb, kb, dyb) = (buf(d, &wave), buf(d, &kern), buf(d, &dy));
    let (y, dk) = (out(d, b * k2 * tf), out(d, k2 * w));
    d.filterbank_forward(&y, &wvb, &kb, b, l, k2, w, h, tf);
    d.filterbank_backward(&dk, &dyb, &wvb, b, l, k2, w, h, tf);
    [&o, &mean, &rstd, &rm, &rv, &dx, &dw, &db, &co, &cdx, &cdw, &y, &dk].iter().map(|v| d.download(v)).collect()
}

const REDUCTION_NAMES: [&str; 13] = [
    "bn out", "bn mean", "bn rstd", "bn running_mean", "bn running_var", "bn dx", "bn dweight", "bn dbias",
    "conv out", "conv dx", "conv dw", "fb y", "fb dkernel",
];

#[test]
fn split_reductions_match_cpu_at_one_and_many_chunks() {
    // B T = 111 and 1 (BatchNorm, conv1d) and B T = 3 x 64 frames (filterbank): not multiples
    // of the chunk lengths (1, 3, 7, 64 and the automatic count give lengths 111, 37, 16, 2, ...)
    // nor of the workgroup sizes (64, 256).
    for (seed, bct, fb) in [(80u64, (3usize, 5usize, 37usize), (1013usize, 10usize, 33usize, 16usize)), (81, (1, 3, 1), (5, 2, 9, 3))] {
        let cpu = reduction_ops(&CpuDevice::new(), seed, bct, fb);
        for chunks in [Some(1), Some(3), Some(7), Some(64), Some(100_000), None] {
            let Some(g) = tuned_gpu(|t| t.chunks = chunks) else { return };
            let got = reduction_ops(&g, seed, bct, fb);
            check_all(&format!("chunks {chunks:?} B,C,T={bct:?}"), &REDUCTION_NAMES, &cpu, &got, 1e-4, 1e-3);
        }
    }
}

#[test]
fn pieces_cover_the_batch_in_aligned_slices() {
    let Some(g) = tuned_gpu(|t| t.max_binding = Some(2048)) else { return };
    // 5 samples of 192 floats (768 bytes): at most 2 per 2048-byte binding
    let p = g.pieces("test", 5, &[192]);
    assert_eq!(p.iter().map(|q| q.1).sum::<usize>(), 5, "pieces {p:?}");
    assert!(p.len() >= 3 && p.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0) && p[0].0 == 0, "pieces {p:?}");
    assert!(p.iter().all(|q| q.1 * 768 <= 2048), "pieces {p:?}");
    // everything fits: one piece
    assert_eq!(g.pieces("test", 2, &[192]), vec![(0, 2)]);
}

#[test]
fn piecewise_ops_equal_the_whole_buffer_path_and_the_cpu() {
    // Per-sample sizes that are multiples of 64 floats, so that even a 256-byte offset
    // alignment allows pieces of one sample; max_binding forces 2-3 pieces.
    let bct = (5usize, 4usize, 48usize); // 192 floats a sample
    let fb = (1024usize, 16usize, 33usize, 26usize); // T = 40: y 640 floats a sample, x 1024
    let cpu = reduction_ops(&CpuDevice::new(), 90, bct, fb);
    let Some(whole) = gpu() else { return };
    let whole_res = reduction_ops(&whole, 90, bct, fb);
    let limit = 2 * 1024 * 4;
    let Some(pieced) = tuned_gpu(|t| t.max_binding = Some(limit)) else { return };
    assert!(pieced.pieces("fb", 5, &[1024, 640]).len() >= 3, "the test must run in pieces");
    assert!(pieced.pieces("bn", 5, &[192]).len() == 1, "192-float samples fit: see below");
    let got = reduction_ops(&pieced, 90, bct, fb);
    check_all("pieces vs cpu", &REDUCTION_NAMES, &cpu, &got, 1e-4, 1e-3);
    // sample-independent outputs are the same floats; reductions differ only in summation order
    for (i, name) in REDUCTION_NAMES.iter().enumerate() {
        let exact = ["bn out", "conv out", "conv dx", "fb y"].contains(name);
        check(&format!("pieces vs whole: {name}"), &whole_res[i], &got[i], if exact { 0.0 } else { 1e-5 }, if exact { 0.0 } else { 1e-4 });
    }
    // a binding limit below the BatchNorm / conv tensors too (2 samples of 192 floats), on the
    // device that ran the whole-buffer path (its scratch buffer is now larger than that limit)
    let small = &whole;
    small.set_tuning(wavnet::gpu::Tuning { max_binding: Some(2 * 192 * 4), ..small.tuning() });
    assert!(small.pieces("bn", 5, &[192]).len() >= 3);
    // filterbank: T = 10, y 80 floats a sample; partial rows of 8 x 9 taps
    let got = reduction_ops(small, 90, (5, 4, 48), (256, 8, 9, 26));
    let cpu = reduction_ops(&CpuDevice::new(), 90, (5, 4, 48), (256, 8, 9, 26));
    check_all("small pieces vs cpu", &REDUCTION_NAMES, &cpu, &got, 1e-4, 1e-3);
    // the tiled forward products in pieces
    let Some(tiled) = tuned_gpu(|t| {
        t.max_binding = Some(2 * 192 * 4);
        t.tiled = true;
        t.fb_tile = [8, 8, 5];
        t.conv_tile = [4, 8, 3];
    }) else {
        return;
    };
    let got = reduction_ops(&tiled, 90, (5, 4, 48), (256, 8, 9, 26));
    check_all("tiled small pieces vs cpu", &REDUCTION_NAMES, &cpu, &got, 1e-4, 1e-3);
    // elementwise ops over pieces
    let n = 1000;
    let mut r = rng(91);
    let (x, dout) = (rand_vec(&mut r, n, -1.0, 1.0), rand_vec(&mut r, n, -1.0, 1.0));
    let run = |d: &GpuDevice| {
        let (xb, dob, o, dx) = (buf(d, &x), buf(d, &dout), out(d, n), out(d, n));
        d.relu_forward(&o, &xb, n);
        d.relu_backward(&dx, &dob, &o, n);
        let (mp, mdx) = (out(d, 5 * 4 * 24), out(d, 5 * 4 * 48));
        let xm = buf(d, &x[..5 * 4 * 48]);
        d.maxpool_forward(&mp, &xm, 5, 4, 48);
        d.maxpool_backward(&mdx, &buf(d, &dout[..5 * 4 * 24]), &xm, 5, 4, 48);
        let (gp, gdx) = (out(d, 5 * 4), out(d, 5 * 4 * 48));
        d.globalpool_forward(&gp, &xm, 5, 4, 48);
        d.globalpool_backward(&gdx, &buf(d, &dout[..5 * 4]), &xm, 5, 4, 48);
        [&o, &dx, &mp, &mdx, &gp, &gdx].iter().map(|v| d.download(v)).collect::<Vec<_>>()
    };
    let a = run(&pieced); // pieced's limit (8 KiB) holds every buffer here whole
    let b = run(small);
    check_all("elementwise pieces vs whole", &["relu", "relu dx", "maxpool", "maxpool dx", "globalpool", "globalpool dx"], &a, &b, 0.0, 0.0);
}

#[test]
fn tiled_forward_products_match_cpu_at_several_tile_sizes() {
    // (fb_tile, conv_tile, max_binding): the defaults, small and lopsided tiles; every shape
    // below is a multiple of none of them (tiles in pieces: piecewise_ops_equal_...).
    let settings: [([u32; 3], [u32; 3], Option<u64>); 4] = [
        ([32, 32, 16], [32, 32, 8], None),
        ([8, 16, 5], [8, 8, 3], None),
        ([16, 4, 7], [16, 32, 5], None),
        ([4, 8, 3], [4, 4, 1], None),
    ];
    let conv_shapes = [(3usize, 5usize, 7usize, 37usize), (2, 16, 8, 64), (1, 1, 1, 1), (4, 13, 6, 101), (2, 33, 9, 70)];
    let fb_shapes = [(3usize, 1013usize, 10usize, 33usize, 16usize), (1, 97, 6, 101, 7), (4, 640, 16, 65, 160), (2, 5, 2, 9, 3)];
    let mut r = rng(100);
    let conv_in: Vec<(Vec<f32>, Vec<f32>)> = conv_shapes
        .iter()
        .map(|&(b, ci, co, t)| (rand_vec(&mut r, b * ci * t, -1.0, 1.0), rand_vec(&mut r, co * ci * 3, -0.5, 0.5)))
        .collect();
    let fb_in: Vec<(Vec<f32>, Vec<f32>)> = fb_shapes
        .iter()
        .map(|&(b, l, k2, w, _)| (rand_vec(&mut r, b * l, -1.0, 1.0), rand_vec(&mut r, k2 * w, -0.5, 0.5)))
        .collect();
    let run = |dev: &dyn ErasedDevice| {
        let mut outs = Vec::new();
        for (&(b, ci, co, t), (x, w)) in conv_shapes.iter().zip(&conv_in) {
            outs.push(dev.conv(x, w, b, ci, co, t));
        }
        for (&(b, l, k2, w, h), (x, k)) in fb_shapes.iter().zip(&fb_in) {
            outs.push(dev.fb(x, k, b, l, k2, w, h));
        }
        outs
    };
    let want = run(&CpuDevice::new());
    for (fb_tile, conv_tile, max_binding) in settings {
        let Some(g) = tuned_gpu(|t| {
            t.tiled = true;
            t.fb_tile = fb_tile;
            t.conv_tile = conv_tile;
            t.max_binding = max_binding;
        }) else {
            return;
        };
        let got = run(&g);
        for (i, (w, gv)) in want.iter().zip(&got).enumerate() {
            let what = format!("tiled fb_tile {fb_tile:?} conv_tile {conv_tile:?} max_binding {max_binding:?}, output {i}");
            check(&what, w, gv, 1e-4, 1e-3);
        }
    }
}

/// The two forward products on any device, behind a trait object (the test loops over devices).
trait ErasedDevice {
    fn conv(&self, x: &[f32], w: &[f32], b: usize, ci: usize, co: usize, t: usize) -> Vec<f32>;
    #[allow(clippy::too_many_arguments)]
    fn fb(&self, x: &[f32], k: &[f32], b: usize, l: usize, k2: usize, w: usize, h: usize) -> Vec<f32>;
}

impl<D: Device> ErasedDevice for D {
    fn conv(&self, x: &[f32], w: &[f32], b: usize, ci: usize, co: usize, t: usize) -> Vec<f32> {
        let o = out(self, b * co * t);
        self.conv1d_forward(&o, &buf(self, x), &buf(self, w), b, ci, co, t);
        self.download(&o)
    }
    fn fb(&self, x: &[f32], k: &[f32], b: usize, l: usize, k2: usize, w: usize, h: usize) -> Vec<f32> {
        let t = l / h + 1;
        let y = out(self, b * k2 * t);
        self.filterbank_forward(&y, &buf(self, x), &buf(self, k), b, l, k2, w, h, t);
        self.download(&y)
    }
}
