//! The built-in model and transfer learning through the real binary: `tag`/`eval`/`info`
//! without `--model` use the embedded `models/wavnet-everyday.safetensors`, `train --init
//! default` starts from it, and each transfer option (`--freeze`, `--linear-probe`,
//! `--pretrained-lr-scale`, `--bn-reestimate`) changes what it should and nothing else.
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use assert_cmd::Command;
use rand::SeedableRng;
use wavnet::data::audio::write_wav;

mod common;
use common::{clip, CLASSES, SR, TINY};

/// Generated tones: `set/manifest.csv` (3 classes, folds 1-4, 3 clips each), `two/manifest.csv`
/// (2 of the classes, louder: other statistics), the tiny config, and a tiny source model
/// trained on the first set (`source/best.safetensors`).
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn manifest(&self) -> PathBuf {
        self.root.join("set/manifest.csv")
    }
    fn two(&self) -> PathBuf {
        self.root.join("two/manifest.csv")
    }
    fn config(&self) -> PathBuf {
        self.root.join("tiny.json")
    }
    fn source(&self) -> PathBuf {
        self.root.join("source/best.safetensors")
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for (set, classes, gain) in [("set", 3, 1.0f32), ("two", 2, 3.0)] {
            std::fs::create_dir_all(root.join(set)).unwrap();
            let mut csv = String::from("fname,label,fold\n");
            for fold in 1..=4 {
                for (c, name) in CLASSES.iter().enumerate().take(classes) {
                    for i in 0..3 {
                        let f = format!("{name}-{fold}-{i}.wav");
                        let x: Vec<f32> = clip(c, &mut rng).iter().map(|v| (v * gain).clamp(-1.0, 1.0)).collect();
                        write_wav(&root.join(set).join(&f), &x, SR).unwrap();
                        csv += &format!("{f},{name},{fold}\n");
                    }
                }
            }
            std::fs::write(root.join(set).join("manifest.csv"), csv).unwrap();
        }
        std::fs::write(root.join("tiny.json"), TINY).unwrap();
        let f = Fixture { _dir: dir, root };
        let cfg = f.config();
        let o = train(&f.manifest(), &f.root.join("source"), &["--config", cfg.to_str().unwrap(), "--epochs", "2"]);
        assert!(o.status.success(), "fixture training failed: {}", stderr(&o));
        f
    })
}

fn wavnet() -> Command {
    let mut c = Command::cargo_bin("wavnet").unwrap();
    c.env("RAYON_NUM_THREADS", "2");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `wavnet train` on cpu, batch 4, no augmentation, one epoch, validation fold 4; `extra`
/// comes last (so it overrides).
fn train(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut c = wavnet();
    c.args(["train", "--device", "cpu", "--batch", "4", "--augment", "none", "--epochs", "1", "--seed", "3", "--val-fold", "4"]);
    c.arg("--data").arg(data).arg("--out").arg(out).args(extra);
    c.output().unwrap()
}

fn values(path: &Path) -> std::collections::BTreeMap<String, Vec<f32>> {
    wavnet::io::load_model(path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display())).values
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn tag_without_model_uses_the_built_in_model() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let wav = f.root.join("set/high-1-0.wav");
    let copy = tmp.path().join("everyday.safetensors");
    std::fs::write(&copy, wavnet::builtin::BYTES).unwrap();
    let run = |model: Option<&Path>| {
        let mut c = wavnet();
        c.args(["tag", "--device", "cpu", "--top-k", "3"]);
        if let Some(m) = model {
            c.arg("--model").arg(m);
        }
        let o = c.arg(&wav).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let (builtin, file) = (run(None), run(Some(&copy)));
    let row = |csv: &str| csv.lines().nth(1).expect("a row").rsplit_once(',').expect("a model column").0.to_string();
    assert_eq!(row(&builtin), row(&file), "the same labels and scores as the embedded file read from disk");
    assert!(builtin.lines().nth(1).unwrap().ends_with(",default (built-in wavnet-everyday)"), "{builtin}");
    let labels = wavnet::io::load_model(Path::new("default")).unwrap().labels;
    let top = row(&builtin).split(',').nth(1).unwrap().to_string();
    assert!(labels.contains(&top), "{top} is one of the built-in model's labels {labels:?}");
    // `--model default` is the same model.
    let mut c = wavnet();
    let o = c.args(["tag", "--device", "cpu", "--top-k", "3", "--model", "default"]).arg(&wav).output().unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), builtin);
}

#[test]
fn info_names_the_built_in_model_and_its_classes() {
    let f = wavnet::io::load_model(Path::new("default")).unwrap();
    let o = wavnet().arg("info").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("built-in model (models/wavnet-everyday.safetensors"), "{text}");
    assert!(text.contains(&format!("{} classes: {}", f.labels.len(), f.labels.join(", "))), "{text}");
    assert!(text.contains("trained on "), "{text}");
    let o = wavnet().args(["info", "--model", "default"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("default (built-in wavnet-everyday): wavnet model"), "{text}");
    assert!(text.contains(&format!("labels ({}): ", f.labels.len())), "{text}");
}

#[test]
fn init_default_loads_the_built_in_model_and_a_new_head() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    // lr 0: every trained tensor keeps the value it started from.
    let o = train(&f.manifest(), &out, &["--init", "default", "--crop", "0.5", "--lr", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let builtin = wavnet::io::load_model(Path::new("default")).unwrap();
    assert_ne!(builtin.labels.len(), 3, "the test needs a built-in model with other classes than the fixture's 3");
    let got = values(&out.join("last.safetensors"));
    for (name, v) in &builtin.values {
        if name.starts_with("head.") || name.ends_with("running_mean") || name.ends_with("running_var") {
            continue;
        }
        assert_eq!(bits(&got[name]), bits(v), "{name} is the built-in model's");
    }
    assert_eq!(got["head.weight"].len(), 3 * builtin.cfg.channels.last().unwrap(), "a 3-class head");
    assert!(stderr(&o).contains("re-initialised head.bias, head.weight"), "{}", stderr(&o));
    // What made the model is in its summary (and so in `wavnet info --model`).
    let summary = wavnet::io::load_model(&out.join("best.safetensors")).unwrap().summary;
    assert_eq!(summary["init"], "default (built-in wavnet-everyday)");
    let command = summary["command"].as_str().unwrap();
    assert!(command.contains(" train ") && command.contains("--init default"), "{command}");
}

#[test]
fn transfer_options_without_init_are_usage_errors_that_say_why() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let cfg = f.config();
    for flags in [&["--freeze", "front"][..], &["--linear-probe"], &["--pretrained-lr-scale", "0.1"]] {
        let mut args = vec!["--config", cfg.to_str().unwrap()];
        args.extend_from_slice(flags);
        let o = train(&f.manifest(), &out, &args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(&format!("{} without --init", flags[0])) && err.contains("--init default"), "{err}");
        assert!(!out.exists(), "nothing written");
    }
    let o = train(&f.manifest(), &out, &["--init", "default", "--freeze", "head"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("[possible values: front, body]"), "{}", stderr(&o));
    let help = String::from_utf8(wavnet().args(["train", "--help"]).output().unwrap().stdout).unwrap();
    for flag in ["--freeze <GROUPS>", "--linear-probe", "--pretrained-lr-scale <S>", "--bn-reestimate [<WHEN>]"] {
        assert!(help.contains(flag), "{flag} in train --help:\n{help}");
    }
}

/// Asserts every tensor whose name starts with one of `prefix` is bit-identical in `a` and `b`
/// (`same`) or differs somewhere (`!same`).
fn check_group(a: &std::collections::BTreeMap<String, Vec<f32>>, b: &std::collections::BTreeMap<String, Vec<f32>>, prefix: &[&str], same: bool) {
    let mut n = 0;
    for (name, v) in a.iter().filter(|(k, _)| prefix.iter().any(|p| k.starts_with(p))) {
        n += 1;
        if same {
            assert_eq!(bits(v), bits(&b[name]), "{name} must be bit-identical");
        } else {
            assert_ne!(bits(v), bits(&b[name]), "{name} must have changed");
        }
    }
    assert!(n > 0, "no tensor starts with {prefix:?}");
}

#[test]
fn freeze_front_keeps_the_front_end_bit_identical_and_trains_the_rest_with_a_new_head() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let src = f.source();
    let o = train(&f.two(), &out, &["--init", src.to_str().unwrap(), "--freeze", "front", "--epochs", "2"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("transfer: front end frozen, body lr x 1, head lr x 1"), "{err}");
    assert!(err.contains("re-initialised head.bias, head.weight"), "2 classes, not the source's 3: {err}");
    let (before, after) = (values(&src), values(&out.join("last.safetensors")));
    // Front end: parameters and BatchNorm running statistics.
    check_group(&before, &after, &["front.", "norm."], true);
    check_group(&before, &after, &["body."], false);
    assert_eq!(after["head.weight"].len(), 2 * 32, "a 2-class head");
}

#[test]
fn linear_probe_trains_the_head_only_and_equals_freezing_front_and_body() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let src = f.source();
    let s = src.to_str().unwrap();
    let (probe, frozen) = (tmp.path().join("probe"), tmp.path().join("frozen"));
    let o = train(&f.manifest(), &probe, &["--init", s, "--linear-probe"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = train(&f.manifest(), &frozen, &["--init", s, "--freeze", "body,front"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (before, after) = (values(&src), values(&probe.join("last.safetensors")));
    check_group(&before, &after, &["front.", "norm.", "body."], true);
    // Same classes: the head starts from the source's and is trained.
    check_group(&before, &after, &["head."], false);
    let other = values(&frozen.join("last.safetensors"));
    for (name, v) in &after {
        assert_eq!(bits(v), bits(&other[name]), "{name}: --linear-probe is --freeze front,body");
    }
}

#[test]
fn bn_reestimate_recomputes_running_statistics_and_leaves_the_parameters() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let src = f.source();
    // --linear-probe: nothing but re-estimation can move the running statistics.
    let o = train(&f.two(), &out, &["--init", src.to_str().unwrap(), "--linear-probe", "--bn-reestimate"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("--bn-reestimate start: BatchNorm running statistics recomputed on "), "{err}");
    let (before, after) = (values(&src), values(&out.join("last.safetensors")));
    for (name, v) in &before {
        if name.starts_with("head.") {
            continue;
        }
        if name.ends_with("running_mean") || name.ends_with("running_var") {
            assert_ne!(bits(v), bits(&after[name]), "{name} is re-estimated on the new data");
        } else {
            assert_eq!(bits(v), bits(&after[name]), "{name} is a frozen parameter");
        }
    }
}

mod model_level {
    //! The same rules on `Model` directly, on both devices (the gpu one on lavapipe at a tiny
    //! shape), and the exact arithmetic of the learning-rate scale and BN re-estimation.
    use std::collections::BTreeMap;

    use rand::{Rng, SeedableRng};
    use wavnet::cpu::CpuDevice;
    use wavnet::device::Device;
    use wavnet::model::{init_tensors, Config, Model, Transfer};

    use super::{bits, check_group, TINY};

    type Values = BTreeMap<String, Vec<f32>>;

    fn cfg() -> Config {
        serde_json::from_str(TINY).unwrap()
    }

    fn batch(rng: &mut impl Rng, b: usize, l: usize, scale: f32) -> (Vec<f32>, Vec<f32>) {
        let x = (0..b * l).map(|_| scale * rng.random_range(-1.0..1.0f32)).collect();
        let y = (0..b * 3).map(|i| if i % 3 == (i / 3) % 3 { 1.0 } else { 0.0 }).collect();
        (x, y)
    }

    /// `steps` AdamW steps (lr 1e-2, weight decay 0.1) of the tiny model under `transfer`:
    /// (values before, values after).
    fn train_steps<D: Device>(dev: D, transfer: Transfer, steps: u32) -> (Values, Values) {
        let cfg = cfg();
        let (b, l) = (4, cfg.crop());
        let values = init_tensors(&cfg, 1);
        let mut m = Model::new(dev, cfg, &values, b, l).unwrap();
        m.transfer = transfer;
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for s in 0..steps {
            let (x, y) = batch(&mut rng, b, l, 1.0);
            m.forward(&x, true, s);
            m.backward(&y);
            m.adamw_step(1e-2, 0.1);
        }
        (values, m.values())
    }

    fn frozen_groups_stay_bit_identical<D: Device>(dev: impl Fn() -> D) {
        let t = |front, body| Transfer { freeze_front: front, freeze_body: body, pretrained_lr_scale: 1.0 };
        let (before, after) = train_steps(dev(), t(true, false), 3);
        check_group(&before, &after, &["front.", "norm."], true);
        check_group(&before, &after, &["body.", "head."], false);
        let (before, after) = train_steps(dev(), t(false, true), 3);
        check_group(&before, &after, &["body."], true);
        check_group(&before, &after, &["front.", "norm.", "head."], false);
        let (before, after) = train_steps(dev(), t(true, true), 3);
        check_group(&before, &after, &["front.", "norm.", "body."], true);
        check_group(&before, &after, &["head."], false);
    }

    #[test]
    fn frozen_groups_stay_bit_identical_on_cpu() {
        frozen_groups_stay_bit_identical(CpuDevice::new);
    }

    #[test]
    fn frozen_groups_stay_bit_identical_on_gpu() {
        if wavnet::gpu::test_device().is_none() {
            return;
        }
        frozen_groups_stay_bit_identical(|| wavnet::gpu::test_device().expect("the gpu device opened a moment ago"));
    }

    #[test]
    fn the_pretrained_lr_scale_scales_the_pretrained_layers_updates_only() {
        let t = |s| Transfer { freeze_front: false, freeze_body: false, pretrained_lr_scale: s };
        let (start, full) = train_steps(CpuDevice::new(), t(1.0), 1);
        let (_, tenth) = train_steps(CpuDevice::new(), t(0.1), 1);
        check_group(&full, &tenth, &["head."], true);
        for (name, v0) in start.iter().filter(|(n, _)| !n.starts_with("head.") && !n.contains("running")) {
            let mut ratios: Vec<f32> = v0
                .iter()
                .zip(&full[name])
                .zip(&tenth[name])
                .filter(|((a, b), _)| (*b - *a).abs() > 1e-5)
                .map(|((a, b), c)| (c - a) / (b - a))
                .collect();
            assert!(!ratios.is_empty(), "{name} moved");
            ratios.sort_by(f32::total_cmp);
            let (lo, hi) = (ratios[0], ratios[ratios.len() - 1]);
            assert!(lo > 0.098 && hi < 0.102, "{name}: update ratios {lo}..{hi}, want 0.1");
        }
    }

    #[test]
    fn bn_reestimation_gives_the_mean_of_the_batch_statistics_and_keeps_the_parameters() {
        let cfg = cfg();
        let (b, l, f) = (4, cfg.crop(), cfg.filters);
        let t0 = cfg.frames(l);
        let values = init_tensors(&cfg, 1);
        let mut m = Model::new(CpuDevice::new(), cfg.clone(), &values, b, l).unwrap();
        // Frozen groups too: re-estimation is what changes their statistics.
        m.transfer = Transfer { freeze_front: true, freeze_body: true, pretrained_lr_scale: 1.0 };
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let xs: Vec<Vec<f32>> = (0..3).map(|i| batch(&mut rng, b, l, 0.2 * (i + 1) as f32).0).collect();
        assert_eq!(m.reestimate_bn(xs.clone()), 3);
        let got = m.values();
        // The expected statistics of the first BatchNorm: per batch, the mean and unbiased
        // variance over (B, T) of its input (the log energies), averaged over the batches.
        let mut probe = Model::new(CpuDevice::new(), cfg.clone(), &values, b, l).unwrap();
        probe.set_fused_eval(false); // the fused eval forward keeps no activations
        let (mut mean, mut var) = (vec![0f64; f], vec![0f64; f]);
        for x in &xs {
            probe.forward(x, false, 0);
            let e = probe.activation("front").unwrap(); // (B, F, T)
            for ch in 0..f {
                let v: Vec<f64> = (0..b).flat_map(|bi| e[(bi * f + ch) * t0..(bi * f + ch + 1) * t0].iter().map(|v| *v as f64)).collect();
                let mu = v.iter().sum::<f64>() / v.len() as f64;
                mean[ch] += mu / xs.len() as f64;
                var[ch] += v.iter().map(|x| (x - mu) * (x - mu)).sum::<f64>() / (v.len() - 1) as f64 / xs.len() as f64;
            }
        }
        for ch in 0..f {
            let (gm, gv) = (got["norm.running_mean"][ch] as f64, got["norm.running_var"][ch] as f64);
            assert!((gm - mean[ch]).abs() < 1e-4 * (1.0 + mean[ch].abs()), "channel {ch}: running mean {gm}, want {}", mean[ch]);
            assert!((gv - var[ch]).abs() < 1e-3 * (1.0 + var[ch].abs()), "channel {ch}: running var {gv}, want {}", var[ch]);
        }
        for (name, v) in &values {
            if name.contains("running") {
                assert_ne!(bits(v), bits(&got[name]), "{name} re-estimated");
            } else {
                assert_eq!(bits(v), bits(&got[name]), "{name}: parameters are untouched");
            }
        }
    }
}
