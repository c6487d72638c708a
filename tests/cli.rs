//! Whole-program tests: the real `wavnet` binary trains on a small generated set of separable
//! sounds, tags and evaluates it, resumes a killed run, and survives broken files.
mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use rand::{Rng, SeedableRng};
use wavnet::data::audio::write_wav;

const SR: u32 = 16000;
const CLASSES: [&str; 3] = ["low_tone", "high_tone", "noise"];

/// One clip of a class: a 300 Hz or 2500 Hz tone with random phase, level and length, or noise.
fn clip(class: usize, rng: &mut impl Rng) -> Vec<f32> {
    let n = rng.random_range(6000..12000);
    let amp = rng.random_range(0.2..0.8f32);
    let phase = rng.random_range(0.0..std::f32::consts::TAU);
    let f = [300.0, 2500.0, 0.0][class];
    (0..n)
        .map(|i| {
            let noise = rng.random_range(-1.0..1.0f32);
            if class == 2 { amp * noise } else { amp * (phase + 2.0 * std::f32::consts::PI * f * i as f32 / SR as f32).sin() + 0.02 * noise }
        })
        .collect()
}

/// Writes `per_class` clips per class, one folder per class; returns the root.
fn make_set(root: &Path, per_class: usize, seed: u64) -> PathBuf {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for (c, name) in CLASSES.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            write_wav(&dir.join(format!("{name}-{i}.wav")), &clip(c, &mut rng), SR).unwrap();
        }
    }
    root.to_path_buf()
}

fn wavnet() -> Command {
    let mut c = Command::cargo_bin("wavnet").unwrap();
    c.env("RAYON_NUM_THREADS", "2");
    c
}

fn train(data: &Path, out: &Path, epochs: usize, extra: &[&str]) -> std::process::Output {
    let mut c = wavnet();
    c.args(["train", "--crop", "0.5", "--batch", "8", "--lr", "3e-3", "--seed", "7", "--quiet"]);
    if !extra.contains(&"--device") {
        c.args(["--device", "cpu"]);
    }
    if !extra.contains(&"--augment") {
        c.args(["--augment", "none"]); // a tiny run: learn the sounds, not the augmentations
    }
    c
        .args(["--epochs", &epochs.to_string()])
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra);
    c.output().unwrap()
}

#[test]
fn trains_on_separable_sounds_then_tags_and_evaluates_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = make_set(&tmp.path().join("train"), 16, 1);
    let out = tmp.path().join("run");
    let o = train(&data, &out, 8, &[]);
    assert!(o.status.success(), "train failed: {}", String::from_utf8_lossy(&o.stderr));
    let model = out.join("best.safetensors");
    assert!(model.exists() && out.join("last.safetensors").exists());

    // Fresh clips of the same classes, tagged from a folder.
    let test = make_set(&tmp.path().join("test"), 6, 99);
    let o = wavnet().args(["tag", "--device", "cpu", "-k", "2", "--model"]).arg(&model).arg(&test).output().unwrap();
    assert!(o.status.success(), "tag failed: {}", String::from_utf8_lossy(&o.stderr));
    let csv = String::from_utf8(o.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "file,label_1,prob_1,label_2,prob_2,windows,model");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 18, "one row per file:\n{csv}");
    let correct = rows.iter().filter(|r| Path::new(r[0]).parent().unwrap().ends_with(r[1])).count();
    assert!(correct >= 17, "only {correct} of 18 tagged correctly:\n{csv}");
    for r in &rows {
        let (p1, p2): (f32, f32) = (r[2].parse().unwrap(), r[4].parse().unwrap());
        assert!(p1 >= p2 && p1 <= 1.0 && p2 >= 0.0, "probabilities ranked: {r:?}");
        assert_eq!(r[6], model.display().to_string(), "the model on every row");
    }
    // -k above the class count: every class, and a note that says so
    let o = wavnet().args(["tag", "--device", "cpu", "-k", "5", "--model"]).arg(&model).arg(&test).output().unwrap();
    assert!(o.status.success(), "tag -k 5 failed: {}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("-k 5 is more than the model's 3 classes"), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("file,label_1,prob_1,label_2,prob_2,label_3,prob_3,windows,model\n"));

    let o = wavnet().args(["eval", "--device", "cpu", "--json", "--model"]).arg(&model).arg("--data").arg(&test).output().unwrap();
    assert!(o.status.success(), "eval failed: {}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["scores"]["accuracy"].as_f64().unwrap() >= 0.9, "{v}");
    assert_eq!(v["scores"]["confusion"].as_array().unwrap().len(), 3);
    for m in ["mean_ap", "lwlrap"] {
        assert!(v["scores"][m].as_f64().unwrap() >= 0.9, "{m}: {v}");
    }

    // Training wrote a report (no validation set here: curves and filters); eval --report adds
    // the confusion matrix and per-class scores.
    let html = std::fs::read_to_string(out.join("report.html")).expect("train writes OUT/report.html");
    for fig in ["loss.svg", "accuracy.svg", "gabor.svg"] {
        assert!(out.join(fig).is_file(), "train writes {fig}");
        assert!(html.contains(&format!("<figure id=\"{fig}\">\n<svg")), "report.html inlines {fig}");
    }
    assert!(!html.contains("src=\"http") && !html.contains("<script"), "self-contained");
    let rep = tmp.path().join("eval-report");
    let o = wavnet().args(["eval", "--device", "cpu", "--model"]).arg(&model).arg("--data").arg(&test).arg("--report").arg(&rep).output().unwrap();
    assert!(o.status.success(), "eval --report failed: {}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    for fig in ["loss.svg", "accuracy.svg", "confusion.svg", "per_class.svg", "gabor.svg"] {
        let svg = std::fs::read_to_string(rep.join(fig)).unwrap_or_else(|e| panic!("{fig}: {e}"));
        assert!(svg.contains("<svg") && svg.len() > 500, "{fig} is a figure");
        assert!(html.contains(&format!("<figure id=\"{fig}\">\n<svg")), "eval report inlines {fig}");
    }
    for label in CLASSES {
        assert!(html.contains(label), "the report names class {label}");
    }
    let confusion = std::fs::read_to_string(rep.join("confusion.svg")).unwrap();
    assert!(confusion.contains("high_tone") && confusion.contains("<rect"), "confusion matrix labelled cells");
}

/// A manifest whose clips hold one or two sounds (`labels` column, `;`-separated).
fn make_multi_label_set(root: &Path, per_class: usize, seed: u64) -> PathBuf {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    std::fs::create_dir_all(root).unwrap();
    let mut csv = String::from("fname,labels\n");
    for i in 0..per_class {
        for (c, name) in CLASSES.iter().enumerate() {
            let f = format!("{name}-{i}.wav");
            write_wav(&root.join(&f), &clip(c, &mut rng), SR).unwrap();
            csv += &format!("{f},{name}\n");
        }
        // both tones at once
        let (a, b) = (clip(0, &mut rng), clip(1, &mut rng));
        let both: Vec<f32> = a.iter().zip(&b).map(|(x, y)| 0.5 * (x + y)).collect();
        let f = format!("both-{i}.wav");
        write_wav(&root.join(&f), &both, SR).unwrap();
        csv += &format!("{f},low_tone;high_tone\n");
    }
    std::fs::write(root.join("manifest.csv"), csv).unwrap();
    root.join("manifest.csv")
}

#[test]
fn sigmoid_loss_trains_on_multi_label_clips_and_inference_uses_sigmoids() {
    let tmp = tempfile::tempdir().unwrap();
    let data = make_multi_label_set(&tmp.path().join("d"), 8, 21);
    let out = tmp.path().join("run");
    let o = train(&data, &out, 8, &["--loss", "sigmoid"]);
    assert!(o.status.success(), "train --loss sigmoid failed: {}", String::from_utf8_lossy(&o.stderr));
    let model = out.join("best.safetensors");
    assert_eq!(wavnet::io::load_model(&model).unwrap().cfg.loss, wavnet::model::Loss::Sigmoid, "the loss is stored in the model");
    let test = make_multi_label_set(&tmp.path().join("t"), 3, 22);
    let o = wavnet().args(["eval", "--device", "cpu", "--json", "--model"]).arg(&model).arg("--data").arg(&test).output().unwrap();
    assert!(o.status.success(), "eval failed: {}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["scores"]["lwlrap"].as_f64().unwrap() >= 0.8, "{v}");
    assert!(v["scores"]["mean_ap"].as_f64().unwrap() >= 0.8, "{v}");
    // Independent per-class probabilities: the three probabilities of a file need not sum to
    // 1 (softmax's would), and the two-sound clips rank both tones above noise.
    let o = wavnet().args(["tag", "--device", "cpu", "-k", "3", "--model"]).arg(&model).arg(test.parent().unwrap()).output().unwrap();
    assert!(o.status.success(), "tag failed: {}", String::from_utf8_lossy(&o.stderr));
    let csv = String::from_utf8(o.stdout).unwrap();
    let sums: Vec<f32> = csv
        .lines()
        .skip(1)
        .filter(|l| l.contains("both-"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert!(f[5] == "noise", "both tones ranked above noise: {l}");
            f[2].parse::<f32>().unwrap() + f[4].parse::<f32>().unwrap() + f[6].parse::<f32>().unwrap()
        })
        .collect();
    assert_eq!(sums.len(), 3, "{csv}");
    assert!(sums.iter().any(|s| (s - 1.0).abs() > 0.02), "sigmoid probabilities do not sum to 1: sums {sums:?}\n{csv}");
}

#[test]
fn a_recipe_file_trains_and_typed_flags_override_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = make_set(&tmp.path().join("d"), 4, 8);
    let out = tmp.path().join("run");
    let recipe = tmp.path().join("r.toml");
    let text = format!(
        "data = {:?}\nout = {:?}\nepochs = 5\nbatch = 4\ncrop = 0.5\naugment = \"none\"\ndevice = \"cpu\"\nquiet = true\n",
        data.to_str().unwrap(),
        out.to_str().unwrap()
    );
    std::fs::write(&recipe, text).unwrap();
    let o = wavnet().args(["train", "--recipe"]).arg(&recipe).args(["--epochs", "1"]).output().unwrap();
    assert!(o.status.success(), "train --recipe failed: {}", String::from_utf8_lossy(&o.stderr));
    let m = wavnet::io::load_model(&out.join("last.safetensors")).unwrap();
    assert_eq!(m.summary["epochs"], 1, "the typed --epochs overrides the recipe's 5");
    assert_eq!(m.summary["batch"], 4, "the recipe's batch is used");
    let o = wavnet().args(["train", "--recipe"]).arg(tmp.path().join("missing.toml")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("missing.toml") && err.contains("cannot read"), "{err}");
    std::fs::write(&recipe, "epohcs = 3\n").unwrap();
    let o = wavnet().args(["train", "--recipe"]).arg(&recipe).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown key `epohcs`"));
}

#[test]
fn cpu_training_is_repeatable_and_resume_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = make_set(&tmp.path().join("d"), 8, 2);
    let full = tmp.path().join("full");
    assert!(train(&data, &full, 3, &[]).status.success());
    let again = tmp.path().join("again");
    assert!(train(&data, &again, 3, &[]).status.success());
    let a = wavnet::io::load_model(&full.join("last.safetensors")).unwrap();
    let b = wavnet::io::load_model(&again.join("last.safetensors")).unwrap();
    assert_eq!(a.values, b.values, "same seed, same bits");

    // A run killed after 2 of 3 epochs and resumed ends bit-for-bit where the straight run ends.
    let killed = tmp.path().join("killed");
    assert!(train(&data, &killed, 3, &["--stop-after", "2"]).status.success());
    let k = wavnet::io::load_model(&killed.join("last.safetensors")).unwrap();
    assert_eq!(k.train_state.unwrap()["epochs_done"], 2);
    let o = train(&data, &killed, 3, &["--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = wavnet::io::load_model(&killed.join("last.safetensors")).unwrap();
    assert_eq!(r.values, a.values, "resumed parameters equal the uninterrupted run's");
    assert_eq!(r.moments, a.moments, "resumed optimizer state equals the uninterrupted run's");
}

#[test]
fn average_last_saves_the_mean_of_the_last_epochs_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = make_set(&tmp.path().join("d"), 8, 4);
    // The plain run's values after epochs 3 and 4 (a checkpoint after 3, then resumed).
    let plain = tmp.path().join("plain");
    assert!(train(&data, &plain, 4, &["--stop-after", "3"]).status.success());
    let v3 = wavnet::io::load_model(&plain.join("last.safetensors")).unwrap().values;
    assert!(train(&data, &plain, 4, &["--resume"]).status.success());
    let v4 = wavnet::io::load_model(&plain.join("last.safetensors")).unwrap().values;
    assert_ne!(v3, v4);

    let avg = tmp.path().join("avg");
    let o = train(&data, &avg, 4, &["--average-last", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = wavnet::io::load_model(&avg.join("last.safetensors")).unwrap();
    assert_eq!(m.values.keys().collect::<Vec<_>>(), v4.keys().collect::<Vec<_>>());
    for (name, got) in &m.values {
        let want: Vec<f32> = v3[name].iter().zip(&v4[name]).map(|(a, b)| (a + b) / 2.0).collect();
        assert_eq!(got, &want, "`{name}` is the mean of epochs 3 and 4 (running statistics too)");
    }
    assert_eq!(m.summary["average_last"], 2);
    let best = wavnet::io::load_model(&avg.join("best.safetensors")).unwrap();
    assert_eq!(best.values, m.values, "without validation the saved model is the averaged one");

    // Killed inside the averaged epochs and resumed: the same bits.
    let killed = tmp.path().join("killed");
    assert!(train(&data, &killed, 4, &["--average-last", "2", "--stop-after", "3"]).status.success());
    let k = wavnet::io::load_model(&killed.join("last.safetensors")).unwrap();
    assert_eq!(k.train_state.unwrap()["averaged"], 1);
    assert_eq!(k.average_sum, v3, "the checkpoint holds the running sum (epoch 3 alone)");
    let o = train(&data, &killed, 4, &["--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(wavnet::io::load_model(&killed.join("last.safetensors")).unwrap().values, m.values);

    // More epochs averaged than trained: refused, naming both flags.
    let o = train(&data, &tmp.path().join("bad"), 4, &["--average-last", "5"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--average-last 5") && err.contains("--epochs 4"), "{err}");
}

#[test]
fn cpu_training_gives_the_same_bits_on_one_and_two_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let data = make_set(&tmp.path().join("d"), 8, 9);
    let runs: Vec<_> = ["1", "2"]
        .iter()
        .map(|n| {
            let out = tmp.path().join(format!("t{n}"));
            let o = train(&data, &out, 2, &["--threads", n, "--augment", "default"]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            wavnet::io::load_model(&out.join("last.safetensors")).unwrap().values
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
}

#[test]
fn tag_reports_broken_files_by_name_and_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let data = make_set(&tmp.path().join("d"), 6, 3);
    let out = tmp.path().join("run");
    assert!(train(&data, &out, 1, &[]).status.success());
    let dir = tmp.path().join("mixed");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    write_wav(&dir.join("a.wav"), &clip(0, &mut rng), SR).unwrap();
    std::fs::write(dir.join("broken.wav"), b"RIFF\x10\x00\x00\x00WAVEfmt garbage").unwrap();
    std::fs::write(dir.join("empty.wav"), b"").unwrap();
    write_wav(&dir.join("z.wav"), &clip(1, &mut rng), SR).unwrap();
    let o = wavnet()
        .args(["tag", "--device", "cpu", "--model"])
        .arg(out.join("best.safetensors"))
        .arg(&dir)
        .arg(tmp.path().join("missing.wav"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "exit code says some failed");
    let err = String::from_utf8_lossy(&o.stderr);
    for name in ["broken.wav", "empty.wav", "missing.wav"] {
        assert!(err.contains(name), "stderr names {name}: {err}");
    }
    let csv = String::from_utf8_lossy(&o.stdout);
    assert!(csv.contains("a.wav") && csv.contains("z.wav"), "good files still tagged: {csv}");
    assert_eq!(csv.lines().count(), 3);
}

#[test]
fn default_augmentation_trains_repeatably() {
    let tmp = tempfile::tempdir().unwrap();
    let data = make_set(&tmp.path().join("d"), 8, 6);
    let runs: Vec<_> = ["a", "b"]
        .iter()
        .map(|r| {
            let out = tmp.path().join(r);
            let o = train(&data, &out, 2, &["--augment", "default"]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            wavnet::io::load_model(&out.join("last.safetensors")).unwrap().values
        })
        .collect();
    assert_eq!(runs[0], runs[1], "augmented cpu runs are repeatable from the seed");
    let plain = tmp.path().join("plain");
    assert!(train(&data, &plain, 2, &[]).status.success());
    assert_ne!(wavnet::io::load_model(&plain.join("last.safetensors")).unwrap().values, runs[0], "augmentation changes training");
}

#[test]
fn transfer_learning_keeps_the_body_and_replaces_a_head_of_another_size() {
    let tmp = tempfile::tempdir().unwrap();
    let data = make_set(&tmp.path().join("d"), 8, 10);
    let src = tmp.path().join("src");
    assert!(train(&data, &src, 2, &[]).status.success());
    // A two-class task: the noise class removed.
    let two = tmp.path().join("two");
    for c in &CLASSES[..2] {
        std::fs::rename(data.join(c), {
            std::fs::create_dir_all(&two).unwrap();
            two.join(c)
        })
        .unwrap();
    }
    let out = tmp.path().join("transfer");
    let init = src.join("last.safetensors");
    let o = train(&two, &out, 1, &["--init", init.to_str().unwrap(), "--lr", "0"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, b) = (wavnet::io::load_model(&init).unwrap(), wavnet::io::load_model(&out.join("last.safetensors")).unwrap());
    assert_eq!(b.labels, ["high_tone", "low_tone"]);
    assert_eq!(b.cfg.classes, 2);
    for name in ["front.mu", "body.0.conv1.weight", "body.3.conv2.weight"] {
        assert_eq!(a.values[name], b.values[name], "{name} comes from the source model (lr 0)");
    }
    assert_eq!(b.values["head.weight"].len(), 2 * 256, "a new two-class head");
}

#[test]
fn clear_errors_for_bad_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let o = wavnet().args(["tag", "--device", "cpu", "--model"]).arg(tmp.path().join("nope.safetensors")).arg(tmp.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.safetensors"));
    let o = train(&tmp.path().join("no-such-data"), &tmp.path().join("o"), 1, &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-data"));
}

#[test]
fn filter_mask_flag_changes_training_and_bad_values_name_the_format() {
    let tmp = tempfile::tempdir().unwrap();
    let data = make_set(&tmp.path().join("d"), 4, 4);
    let (plain, masked) = (tmp.path().join("plain"), tmp.path().join("masked"));
    assert!(train(&data, &plain, 1, &[]).status.success());
    let o = train(&data, &masked, 1, &["--filter-mask", "1:2:8"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, b) = (
        wavnet::io::load_model(&plain.join("last.safetensors")).unwrap(),
        wavnet::io::load_model(&masked.join("last.safetensors")).unwrap(),
    );
    assert_ne!(a.values, b.values, "--filter-mask changes what is trained");
    for bad in ["0.5:2", "half:2:8", "0.5:2:0"] {
        let o = train(&data, &tmp.path().join("bad"), 1, &["--filter-mask", bad]);
        assert_eq!(o.status.code(), Some(2), "--filter-mask {bad} is a usage error");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("P:MASKS:WIDTH"), "--filter-mask {bad}: {err}");
    }
    let help = wavnet().args(["train", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--filter-mask <P:MASKS:WIDTH>"));
}

#[test]
fn gpu_device_trains_tags_and_agrees_with_cpu_through_the_cli() {
    if std::env::var("WAVNET_SKIP_GPU_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: WAVNET_SKIP_GPU_TESTS=1 (gpu CLI test not run)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = make_set(&tmp.path().join("d"), 6, 4);
    let out = tmp.path().join("gpu");
    let o = train(&data, &out, 1, &["--device", "gpu"]);
    assert!(o.status.success(), "train --device gpu failed (no adapter? install mesa-vulkan-drivers): {}", String::from_utf8_lossy(&o.stderr));
    let model = out.join("last.safetensors");
    let summary = wavnet::io::load_model(&model).unwrap().summary;
    assert!(summary["device"].as_str().unwrap().starts_with("gpu"), "trained on the gpu device: {summary}");
    let tag = |device: &str| {
        let o = wavnet().args(["tag", "--device", device, "-k", "3", "--model"]).arg(&model).arg(&data).output().unwrap();
        assert!(o.status.success(), "tag --device {device}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let (g, c) = (tag("gpu"), tag("cpu"));
    assert_eq!(g.lines().count(), 19);
    for (gl, cl) in g.lines().zip(c.lines()).skip(1) {
        let (gf, cf): (Vec<&str>, Vec<&str>) = (gl.split(',').collect(), cl.split(',').collect());
        assert_eq!(gf[0], cf[0]);
        let p = |f: &[&str], i: usize| f[i].parse::<f32>().unwrap();
        assert!((p(&gf, 2) - p(&cf, 2)).abs() < 2e-3, "top probability agrees on both devices:\ngpu {gl}\ncpu {cl}");
    }
}
