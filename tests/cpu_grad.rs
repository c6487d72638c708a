//! Every backward pass of the `cpu` device against central finite differences of its forward.
//! Objective: J = sum_i out_i * r_i with fixed random r, so dJ/dout = r.
mod common;

use rand::{Rng, SeedableRng};
use wavnet::cpu::*;

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}
fn randn(r: &mut impl Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| r.random_range(-1.0f32..1.0) * scale).collect()
}
fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(a, b)| *a as f64 * *b as f64).sum()
}

/// Checks `analytic` = dJ/dx by central differences of `j` at up to 40 indices of `x`.
fn check(what: &str, x: &[f32], analytic: &[f32], eps: f32, j: impl Fn(&[f32]) -> f64) {
    assert_eq!(x.len(), analytic.len());
    let scale = analytic.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6) as f64;
    let stride = (x.len() / 40).max(1);
    let mut xp = x.to_vec();
    for i in (0..x.len()).step_by(stride) {
        xp[i] = x[i] + eps;
        let jp = j(&xp);
        xp[i] = x[i] - eps;
        let jm = j(&xp);
        xp[i] = x[i];
        let fd = (jp - jm) / (2.0 * eps as f64);
        let a = analytic[i] as f64;
        assert!(
            (fd - a).abs() <= 2e-2 * scale + 2e-2 * a.abs(),
            "{what}: index {i}: analytic {a}, finite difference {fd} (scale {scale})"
        );
    }
}

#[test]
fn gabor_backward_matches_finite_differences() {
    let (f, w) = (5, 41);
    let mut r = rng(1);
    let mu: Vec<f32> = (0..f).map(|i| 0.1 + 0.5 * i as f32).collect();
    let sigma: Vec<f32> = (0..f).map(|i| 3.0 + 3.0 * i as f32).collect();
    let rr = randn(&mut r, 2 * f * w, 1.0);
    let (mut dmu, mut dsigma) = (vec![0.0; f], vec![0.0; f]);
    gabor::gabor_backward(&mut dmu, &mut dsigma, &rr, &mu, &sigma, f, w);
    let jm = |m: &[f32]| {
        let mut k = vec![0.0; 2 * f * w];
        gabor::gabor_forward(&mut k, m, &sigma, f, w);
        dot(&k, &rr)
    };
    check("dmu", &mu, &dmu, 1e-3, jm);
    let js = |s: &[f32]| {
        let mut k = vec![0.0; 2 * f * w];
        gabor::gabor_forward(&mut k, &mu, s, f, w);
        dot(&k, &rr)
    };
    check("dsigma", &sigma, &dsigma, 1e-2, js);
}

#[test]
fn gabor_gradient_is_zero_where_clamped() {
    let (f, w) = (2, 21);
    let mu = vec![-0.5, 4.0]; // both outside [0, pi]
    let sigma = vec![1.0, 50.0]; // both outside [2, 10]
    let (mut dmu, mut dsigma) = (vec![9.0; f], vec![9.0; f]);
    gabor::gabor_backward(&mut dmu, &mut dsigma, &vec![1.0; 2 * f * w], &mu, &sigma, f, w);
    assert_eq!((dmu, dsigma), (vec![0.0; 2], vec![0.0; 2]));
}

#[test]
fn filterbank_backward_matches_finite_differences() {
    let (b, l, k2, w, h) = (3, 97, 4, 9, 5);
    let t = l / h + 1;
    let mut r = rng(2);
    let x = randn(&mut r, b * l, 1.0);
    let kern = randn(&mut r, k2 * w, 1.0);
    let rr = randn(&mut r, b * k2 * t, 1.0);
    let mut dk = vec![0.0; k2 * w];
    filterbank::filterbank_backward(&mut dk, &rr, &x, b, l, k2, w, h, t);
    check("dkernel", &kern, &dk, 1e-2, |kk| {
        let mut y = vec![0.0; b * k2 * t];
        filterbank::filterbank_forward(&mut y, &x, kk, b, l, k2, w, h, t);
        dot(&y, &rr)
    });
}

#[test]
fn log_energy_backward_matches_finite_differences() {
    let (b, f, t) = (2, 3, 7);
    let mut r = rng(3);
    let y = randn(&mut r, b * 2 * f * t, 1.0);
    let rr = randn(&mut r, b * f * t, 1.0);
    let mut dy = vec![0.0; y.len()];
    log_energy::log_energy_backward(&mut dy, &rr, &y, b, f, t);
    check("dy", &y, &dy, 1e-3, |yy| {
        let mut o = vec![0.0; b * f * t];
        log_energy::log_energy_forward(&mut o, yy, b, f, t);
        dot(&o, &rr)
    });
}

#[test]
fn batchnorm_backward_matches_finite_differences() {
    let (b, c, t) = (3, 4, 9);
    let mut r = rng(4);
    let x = randn(&mut r, b * c * t, 2.0);
    let wt = randn(&mut r, c, 1.0);
    let bs = randn(&mut r, c, 1.0);
    let rr = randn(&mut r, b * c * t, 1.0);
    let fwd = |x: &[f32], wt: &[f32], bs: &[f32]| {
        let (mut o, mut m, mut s, mut rm, mut rv) = (vec![0.0; b * c * t], vec![0.0; c], vec![0.0; c], vec![0.0; c], vec![1.0; c]);
        batchnorm::batchnorm_forward(&mut o, &mut m, &mut s, &mut rm, &mut rv, x, wt, bs, b, c, t, true, 0.1, 1e-5);
        (o, m, s)
    };
    let (_, m, s) = fwd(&x, &wt, &bs);
    let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
    batchnorm::batchnorm_backward(&mut dx, &mut dw, &mut db, &rr, &x, &m, &s, &wt, b, c, t);
    check("dx", &x, &dx, 1e-2, |xx| dot(&fwd(xx, &wt, &bs).0, &rr));
    check("dweight", &wt, &dw, 1e-2, |ww| dot(&fwd(&x, ww, &bs).0, &rr));
    check("dbias", &bs, &db, 1e-2, |bb| dot(&fwd(&x, &wt, bb).0, &rr));
}

#[test]
fn batchnorm_eval_uses_running_statistics() {
    let (b, c, t) = (2, 2, 3);
    let x: Vec<f32> = (0..b * c * t).map(|i| i as f32).collect();
    let (mut o, mut m, mut s) = (vec![0.0; x.len()], vec![7.0; c], vec![7.0; c]);
    let (mut rm, mut rv) = (vec![1.0, 2.0], vec![4.0, 9.0]);
    batchnorm::batchnorm_forward(&mut o, &mut m, &mut s, &mut rm, &mut rv, &x, &[1.0, 2.0], &[0.5, 0.0], b, c, t, false, 0.1, 0.0);
    assert!((o[0] - ((0.0 - 1.0) / 2.0 + 0.5)).abs() < 1e-6, "{}", o[0]);
    assert!((o[3] - 2.0 * (3.0 - 2.0) / 3.0).abs() < 1e-6, "{}", o[3]);
    assert_eq!((rm, rv, m), (vec![1.0, 2.0], vec![4.0, 9.0], vec![7.0; 2]), "eval mode must not touch statistics");
}

#[test]
fn relu_backward_matches_finite_differences() {
    let mut r = rng(5);
    let x: Vec<f32> = randn(&mut r, 50, 1.0).into_iter().map(|v| if v.abs() < 0.05 { v + 0.1 } else { v }).collect();
    let rr = randn(&mut r, 50, 1.0);
    let mut o = vec![0.0; 50];
    relu::relu_forward(&mut o, &x, 50);
    let mut dx = vec![0.0; 50];
    relu::relu_backward(&mut dx, &rr, &o, 50);
    check("dx", &x, &dx, 1e-3, |xx| {
        let mut o = vec![0.0; 50];
        relu::relu_forward(&mut o, xx, 50);
        dot(&o, &rr)
    });
}

#[test]
fn filter_mask_backward_matches_finite_differences() {
    let (b, f, t) = (3, 5, 7);
    let mut r = rng(13);
    let x = randn(&mut r, b * f * t, 2.0);
    let rr = randn(&mut r, b * f * t, 1.0);
    let mut mask = wavnet::specaug::filter_masks(b, f, 3, &wavnet::specaug::FilterMaskConfig { p: 1.0, max_masks: 2, max_width: 2 });
    mask[1] = 0.5; // any factor, not only 0/1
    let mut dx = vec![f32::NAN; x.len()];
    filter_mask::filter_mask_backward(&mut dx, &rr, &mask, b, f, t);
    check("dx", &x, &dx, 1e-2, |xx| {
        let mut o = vec![f32::NAN; b * f * t];
        filter_mask::filter_mask_forward(&mut o, xx, &mask, b, f, t);
        dot(&o, &rr)
    });
    assert!(dx.chunks(t).zip(&mask).all(|(row, m)| *m != 0.0 || row.iter().all(|v| *v == 0.0)), "masked rows get no gradient");
}

#[test]
fn conv1d_backward_matches_finite_differences() {
    for (b, ci, co, t) in [(2, 3, 5, 7), (1, 4, 2, 1), (3, 2, 3, 2)] {
        let mut r = rng(6);
        let x = randn(&mut r, b * ci * t, 1.0);
        let w = randn(&mut r, co * ci * 3, 1.0);
        let rr = randn(&mut r, b * co * t, 1.0);
        let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
        conv1d::conv1d_backward(&mut dx, &mut dw, &rr, &x, &w, b, ci, co, t);
        let j = |x: &[f32], w: &[f32]| {
            let mut o = vec![0.0; b * co * t];
            conv1d::conv1d_forward(&mut o, x, w, b, ci, co, t);
            dot(&o, &rr)
        };
        check(&format!("dx {b}x{ci}->{co}x{t}"), &x, &dx, 1e-2, |xx| j(xx, &w));
        check(&format!("dw {b}x{ci}->{co}x{t}"), &w, &dw, 1e-2, |ww| j(&x, ww));
    }
}

#[test]
fn conv1d_forward_matches_the_definition() {
    let (b, ci, co, t) = (2, 3, 4, 6);
    let mut r = rng(7);
    let x = randn(&mut r, b * ci * t, 1.0);
    let w = randn(&mut r, co * ci * 3, 1.0);
    let mut o = vec![0.0; b * co * t];
    conv1d::conv1d_forward(&mut o, &x, &w, b, ci, co, t);
    for bi in 0..b {
        for oc in 0..co {
            for tt in 0..t {
                let mut s = 0.0;
                for ic in 0..ci {
                    for k in 0..3 {
                        let ts = tt as i64 + k as i64 - 1;
                        if (0..t as i64).contains(&ts) {
                            s += w[(oc * ci + ic) * 3 + k] * x[(bi * ci + ic) * t + ts as usize];
                        }
                    }
                }
                let got = o[(bi * co + oc) * t + tt];
                assert!((got - s).abs() < 1e-5, "conv at ({bi},{oc},{tt}): {got} != {s}");
            }
        }
    }
}

#[test]
fn maxpool_and_globalpool_backward_match_finite_differences() {
    let (b, c, t) = (2, 3, 9); // odd T: the last frame is dropped by the pool
    let x: Vec<f32> = (0..b * c * t).map(|i| ((i * 37) % 101) as f32 * 0.1).collect(); // distinct, >= 0.1 apart
    let mut r = rng(8);
    let rr = randn(&mut r, b * c * (t / 2), 1.0);
    let mut dx = vec![0.0; x.len()];
    maxpool::maxpool_backward(&mut dx, &rr, &x, b, c, t);
    check("maxpool dx", &x, &dx, 1e-3, |xx| {
        let mut o = vec![0.0; b * c * (t / 2)];
        maxpool::maxpool_forward(&mut o, xx, b, c, t);
        dot(&o, &rr)
    });
    let rr = randn(&mut r, b * c, 1.0);
    globalpool::globalpool_backward(&mut dx, &rr, &x, b, c, t);
    check("globalpool dx", &x, &dx, 1e-3, |xx| {
        let mut o = vec![0.0; b * c];
        globalpool::globalpool_forward(&mut o, xx, b, c, t);
        dot(&o, &rr)
    });
}

#[test]
fn dropout_backward_matches_finite_differences_and_drops_about_p() {
    let n = 4000;
    let mut r = rng(9);
    let x = randn(&mut r, n, 1.0);
    let rr = randn(&mut r, n, 1.0);
    let mut o = vec![0.0; n];
    dropout::dropout_forward(&mut o, &x, n, 0.2, 42);
    let dropped = o.iter().filter(|v| **v == 0.0).count() as f32 / n as f32;
    assert!((dropped - 0.2).abs() < 0.03, "dropped fraction {dropped}");
    let mut dx = vec![0.0; n];
    dropout::dropout_backward(&mut dx, &rr, n, 0.2, 42);
    check("dx", &x, &dx, 1e-3, |xx| {
        let mut o = vec![0.0; n];
        dropout::dropout_forward(&mut o, xx, n, 0.2, 42);
        dot(&o, &rr)
    });
    let mut o2 = vec![0.0; n];
    dropout::dropout_forward(&mut o2, &x, n, 0.2, 43);
    assert_ne!(o, o2, "another seed gives another mask");
}

#[test]
fn linear_backward_matches_finite_differences() {
    let (b, c, k) = (3, 7, 4);
    let mut r = rng(10);
    let x = randn(&mut r, b * c, 1.0);
    let w = randn(&mut r, k * c, 1.0);
    let bias = randn(&mut r, k, 1.0);
    let rr = randn(&mut r, b * k, 1.0);
    let (mut dx, mut dw, mut db) = (vec![0.0; b * c], vec![0.0; k * c], vec![0.0; k]);
    linear::linear_backward(&mut dx, &mut dw, &mut db, &rr, &x, &w, b, c, k);
    let j = |x: &[f32], w: &[f32], bias: &[f32]| {
        let mut o = vec![0.0; b * k];
        linear::linear_forward(&mut o, x, w, bias, b, c, k);
        dot(&o, &rr)
    };
    check("dx", &x, &dx, 1e-2, |v| j(v, &w, &bias));
    check("dw", &w, &dw, 1e-2, |v| j(&x, v, &bias));
    check("dbias", &bias, &db, 1e-2, |v| j(&x, &w, v));
}

#[test]
fn softmax_ce_backward_matches_finite_differences_with_soft_targets() {
    let (b, k) = (3, 5);
    let mut r = rng(11);
    let z = randn(&mut r, b * k, 3.0);
    let mut y = vec![0.0; b * k];
    y[1] = 1.0;
    y[k + 2] = 0.7;
    y[k + 4] = 0.3;
    y[2 * k] = 0.5; // a down-weighted row (sums to 0.5)
    let (mut l, mut dz) = (vec![0.0; b], vec![0.0; b * k]);
    softmax_ce::softmax_ce_forward_backward(&mut l, &mut dz, &z, &y, b, k);
    let p1 = {
        let m = z[k..2 * k].iter().map(|v| v.exp()).sum::<f32>();
        z[k + 2].exp() / m
    };
    assert!(l[1] > -(p1.ln()) * 0.7, "soft-target loss includes every target");
    check("dlogits", &z, &dz, 1e-3, |zz| {
        let (mut l, mut d) = (vec![0.0; b], vec![0.0; b * k]);
        softmax_ce::softmax_ce_forward_backward(&mut l, &mut d, zz, &y, b, k);
        l.iter().map(|v| *v as f64).sum::<f64>() / b as f64
    });
}

#[test]
fn sigmoid_bce_backward_matches_finite_differences_with_multi_hot_and_soft_targets() {
    let (b, k) = (3, 5);
    let mut r = rng(15);
    let mut z = randn(&mut r, b * k, 4.0);
    z[3] = 40.0; // saturated: the stable form keeps the loss and its gradient finite
    let y = vec![1.0, 0.0, 1.0, 0.0, 0.0, /**/ 0.0, 0.7, 0.0, 0.3, 1.0, /**/ 0.0, 0.0, 0.0, 0.0, 0.0];
    let (mut l, mut dz) = (vec![0.0; b], vec![0.0; b * k]);
    sigmoid_bce::sigmoid_bce_forward_backward(&mut l, &mut dz, &z, &y, b, k);
    // The loss is -sum_k y ln s(z) + (1 - y) ln(1 - s(z)) per row, with -ln s(z) = ln(1 + e^-z)
    // and -ln(1 - s(z)) = ln(1 + e^z), in f64.
    let softplus = |x: f64| if x > 30.0 { x } else { x.exp().ln_1p() };
    for bi in 0..b {
        let want: f64 = (0..k)
            .map(|j| {
                let (zz, yy) = (z[bi * k + j] as f64, y[bi * k + j] as f64);
                yy * softplus(-zz) + (1.0 - yy) * softplus(zz)
            })
            .sum();
        assert!((l[bi] as f64 - want).abs() < 1e-4 * want.max(1.0), "row {bi}: loss {} != {want}", l[bi]);
    }
    assert!(dz.iter().all(|v| v.is_finite()));
    check("dlogits", &z, &dz, 1e-3, |zz| {
        let (mut l, mut d) = (vec![0.0; b], vec![0.0; b * k]);
        sigmoid_bce::sigmoid_bce_forward_backward(&mut l, &mut d, zz, &y, b, k);
        l.iter().map(|v| *v as f64).sum::<f64>() / b as f64
    });
}

/// A small model (two blocks of one conv) that finite differences can afford.
fn tiny_config(filters: usize) -> wavnet::model::Config {
    wavnet::model::Config {
        sample_rate: 1000,
        filters,
        taps: 9,
        hop: 4,
        fmin: 30.0,
        fmax: 400.0,
        crop_seconds: 0.05,
        channels: vec![4, 5],
        convs_per_block: 1,
        dropout: 0.25,
        classes: 3,
        loss: wavnet::model::Loss::Softmax,
    }
}

#[test]
fn whole_model_gradients_match_finite_differences() {
    whole_model_gradients(wavnet::model::Loss::Softmax, vec![1.0, 0.0, 0.0, 0.0, 0.6, 0.4, 0.0, 0.0, 1.0]);
}

#[test]
fn whole_model_gradients_match_finite_differences_with_the_sigmoid_loss() {
    whole_model_gradients(wavnet::model::Loss::Sigmoid, vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.3, 1.0]);
}

fn whole_model_gradients(loss: wavnet::model::Loss, y: Vec<f32>) {
    use wavnet::model::{init_tensors, Model};
    let mut cfg = tiny_config(3);
    cfg.loss = loss;
    let (b, l) = (3, cfg.crop());
    let mut r = rng(12);
    let x = randn(&mut r, b * l, 1.0);
    let values = init_tensors(&cfg, 5);
    let model = Model::new(CpuDevice::new(), cfg.clone(), &values, b, l).unwrap();
    model.forward(&x, true, 77);
    model.backward(&y);
    let grads = model.grads();
    let loss_at = |name: &str, v: &[f32]| {
        let mut vals = values.clone();
        vals.insert(name.to_string(), v.to_vec());
        let m = Model::new(CpuDevice::new(), cfg.clone(), &vals, b, l).unwrap();
        m.forward(&x, true, 77);
        m.backward(&y);
        m.loss(b) as f64
    };
    for name in ["front.mu", "front.sigma", "norm.weight", "body.0.conv1.weight", "body.1.bn1.bias", "head.weight", "head.bias"] {
        let eps = if name == "front.sigma" { 1e-2 } else { 1e-3 };
        check(name, &values[name], &grads[name], eps, |v| loss_at(name, v));
    }
}

#[test]
fn whole_model_gradients_match_finite_differences_with_a_filter_mask() {
    use wavnet::model::{init_tensors, Model};
    let cfg = tiny_config(4);
    let (b, l) = (3, cfg.crop());
    let mut r = rng(14);
    let x = randn(&mut r, b * l, 1.0);
    let y = vec![1.0, 0.0, 0.0, 0.0, 0.6, 0.4, 0.0, 0.0, 1.0];
    let values = init_tensors(&cfg, 6);
    // (B, F): one band per example, one example unmasked
    let mask = vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0];
    let model_with = |vals: &std::collections::BTreeMap<String, Vec<f32>>, mask: Option<Vec<f32>>| {
        let mut m = Model::new(CpuDevice::new(), cfg.clone(), vals, b, l).unwrap();
        m.set_filter_mask(mask);
        m
    };
    let model = model_with(&values, Some(mask.clone()));
    model.forward(&x, true, 77);
    let (norm, masked) = (model.activation("norm").unwrap(), model.activation("masked").unwrap());
    let t0 = cfg.frames(l);
    for (i, (n, m)) in norm.iter().zip(&masked).enumerate() {
        assert_eq!(*m, n * mask[i / t0], "masked = norm * mask at {i}");
    }
    model.backward(&y);
    let grads = model.grads();

    // The mask changes the gradients (it is really applied) ...
    let plain = model_with(&values, None);
    plain.forward(&x, true, 77);
    plain.backward(&y);
    assert_ne!(plain.grads()["body.0.conv1.weight"], grads["body.0.conv1.weight"]);
    // ... but never in eval mode (fresh models: a train forward moves the running statistics).
    let (fresh_masked, fresh_plain) = (model_with(&values, Some(mask.clone())), model_with(&values, None));
    fresh_masked.forward(&x, false, 0);
    fresh_plain.forward(&x, false, 0);
    assert_eq!(fresh_masked.logits(), fresh_plain.logits(), "eval mode does not mask");

    let loss_at = |name: &str, v: &[f32]| {
        let mut vals = values.clone();
        vals.insert(name.to_string(), v.to_vec());
        let m = model_with(&vals, Some(mask.clone()));
        m.forward(&x, true, 77);
        m.backward(&y);
        m.loss(b) as f64
    };
    for name in ["front.mu", "front.sigma", "norm.weight", "norm.bias", "body.0.conv1.weight", "body.1.bn1.bias", "head.weight"] {
        let eps = if name == "front.sigma" { 1e-2 } else { 1e-3 };
        check(name, &values[name], &grads[name], eps, |v| loss_at(name, v));
    }
}

#[test]
fn weight_gradients_have_the_same_bits_on_any_thread_count() {
    // Default-model shapes, large enough for the GEMMs to split work across threads.
    let (b, ci, co, t) = (32, 128, 128, 100);
    let (l, k2, w, h) = (8000, 16, 401, 160);
    let tf = l / h + 1;
    let mut r = rng(13);
    let x = randn(&mut r, b * ci * t, 1.0);
    let wt = randn(&mut r, co * ci * 3, 0.1);
    let g = randn(&mut r, b * co * t, 1.0);
    let xa = randn(&mut r, b * l, 1.0);
    let gy = randn(&mut r, b * k2 * tf, 1.0);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
            let (mut dx, mut dw, mut dk) = (vec![0.0; x.len()], vec![0.0; wt.len()], vec![0.0; k2 * w]);
            conv1d::conv1d_backward(&mut dx, &mut dw, &g, &x, &wt, b, ci, co, t);
            filterbank::filterbank_backward(&mut dk, &gy, &xa, b, l, k2, w, h, tf);
            (dx, dw, dk)
        })
    };
    let one = run(1);
    for threads in [2, 3] {
        assert!(one == run(threads), "{threads} threads changed the bits");
    }
}
