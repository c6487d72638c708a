//! A new user's mistakes through the real binary: every one gets a non-zero exit code and a
//! message naming the input and what to do next, never a panic, and no earlier output file is
//! damaged. One small trained run (a tiny model on generated tones) is shared by the tests.
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use assert_cmd::Command;
use rand::SeedableRng;
use wavnet::data::audio::write_wav;

mod common;
use common::{clip, CLASSES, SR, TINY};

/// The shared fixture: a manifest with folds 1-4, a folder-per-class set, a tiny config and one
/// trained run (`run/best.safetensors`, `run/last.safetensors`, validation fold 4).
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn manifest(&self) -> PathBuf {
        self.root.join("set/manifest.csv")
    }
    fn folders(&self) -> PathBuf {
        self.root.join("folders")
    }
    fn model(&self) -> PathBuf {
        self.root.join("run/best.safetensors")
    }
    fn checkpoint(&self) -> PathBuf {
        self.root.join("run/last.safetensors")
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        std::fs::create_dir_all(root.join("set")).unwrap();
        for name in CLASSES {
            std::fs::create_dir_all(root.join("folders").join(name)).unwrap();
        }
        let mut csv = String::from("fname,label,fold\n");
        for fold in 1..=4 {
            for (c, name) in CLASSES.iter().enumerate() {
                for i in 0..3 {
                    let f = format!("{name}-{fold}-{i}.wav");
                    write_wav(&root.join("set").join(&f), &clip(c, &mut rng), SR).unwrap();
                    csv += &format!("{f},{name},{fold}\n");
                }
            }
        }
        std::fs::write(root.join("set/manifest.csv"), csv).unwrap();
        for (c, name) in CLASSES.iter().enumerate() {
            for i in 0..6 {
                write_wav(&root.join("folders").join(name).join(format!("{i}.wav")), &clip(c, &mut rng), SR).unwrap();
            }
        }
        let f = Fixture { _dir: dir, root };
        let o = train(&f.manifest(), &f.root.join("run"), &["--val-fold", "4", "--epochs", "2"]);
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

/// `wavnet train` of the tiny model on cpu, without augmentation; `extra` comes last (so it
/// overrides). Adds `--config` unless `extra` has `--init` or `--resume`.
fn train(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut c = wavnet();
    c.args(["train", "--device", "cpu", "--batch", "4", "--augment", "none", "--epochs", "1", "--seed", "3"]);
    if !extra.iter().any(|a| *a == "--init" || *a == "--resume") {
        c.arg("--config").arg(fixture_config_path());
    }
    c.arg("--data").arg(data).arg("--out").arg(out).args(extra);
    c.output().unwrap()
}

/// The tiny config lives beside the fixture, but the fixture's own training needs it first.
fn fixture_config_path() -> PathBuf {
    static P: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    P.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("tiny.json");
        std::fs::write(&p, TINY).unwrap();
        (d, p)
    })
    .1
    .clone()
}

/// Exit code `code`, no panic, and every one of `needles` in stderr.
fn assert_fails(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr:\n{err}");
    assert!(!err.contains("panicked"), "a panic:\n{err}");
    for n in needles {
        assert!(err.contains(n), "stderr should contain `{n}`:\n{err}");
    }
}

#[test]
fn zero_and_out_of_range_numbers_are_usage_errors_naming_the_option() {
    let f = fixture();
    let (model, data) = (f.model(), f.manifest());
    let (m, d) = (model.to_str().unwrap(), data.to_str().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    let train = ["train", "--data", d, "--out", o];
    let tag = ["tag", "--model", m, d];
    let eval = ["eval", "--model", m, "--data", d];
    let cases: Vec<(&[&str], &str, &str)> = vec![
        (&train, "--batch", "0"),
        (&train, "--epochs", "0"),
        (&train, "--lr", "nan"),
        (&train, "--lr", "-1"),
        (&train, "--crop", "0"),
        (&train, "--sample-rate", "10"),
        (&train, "--val-fraction", "1"),
        (&train, "--dropout", "1"),
        (&train, "--warmup", "2"),
        (&train, "--threads", "0"),
        (&train, "--cache-mb", "99999999999"),
        (&tag, "--batch", "0"),
        (&tag, "--top-k", "0"),
        (&eval, "--batch", "0"),
        (&["bench"], "--batch", "0"),
        (&["bench"], "--seconds", "-2"),
    ];
    for (args, flag, value) in cases {
        let r = wavnet().args(args).arg(format!("{flag}={value}")).output().unwrap();
        assert_fails(&r, 2, &[flag, &format!("'{value}'")]);
    }
    // -k 0 used to become 1 silently.
    let r = wavnet().args(["tag", "--model", m, d, "-k", "0"]).output().unwrap();
    assert_fails(&r, 2, &["--top-k", "'0'"]);
    assert!(!out.exists(), "nothing was written");
}

#[test]
fn augmentation_files_are_checked_and_a_missing_one_is_named() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let aug = tmp.path().join("aug.json");
    let mut v: serde_json::Value = serde_json::from_slice(&wavnet().arg("augment").output().unwrap().stdout).unwrap();
    v["gain_db"]["p"] = serde_json::json!(5.0);
    std::fs::write(&aug, v.to_string()).unwrap();
    let o = train(&f.manifest(), &tmp.path().join("o"), &["--augment", aug.to_str().unwrap()]);
    assert_fails(&o, 2, &["--augment", "aug.json", "gain_db.p", "probability 5"]);
    let o = train(&f.manifest(), &tmp.path().join("o"), &["--augment", "missing.json"]);
    assert_fails(&o, 2, &["no such file 'missing.json'", "wavnet augment > aug.json"]);
    let o = train(&f.manifest(), &tmp.path().join("o"), &["--augment", "shift=0.1,p=5"]);
    assert_fails(&o, 2, &["probability 5"]);
}

#[test]
fn a_validation_fold_or_split_that_selects_nothing_lists_what_exists() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let o = train(&f.manifest(), &out, &["--val-fold", "7"]);
    assert_fails(&o, 2, &["--val-fold 7", "no clip is in fold 7; the folds are 1, 2, 3, 4"]);
    let o = train(&f.manifest(), &out, &["--val-split", "test"]);
    assert_fails(&o, 2, &["--val-split test", "no clip has a split", "--val-fraction"]);
    let o = train(&f.folders(), &out, &["--val-fold", "1"]);
    assert_fails(&o, 2, &["--val-fold 1", "no clip has a fold", "--val-fraction"]);
    assert!(!out.exists(), "a refused run writes nothing");
    // eval says the same for --fold / --split.
    let o = wavnet().args(["eval", "--device", "cpu", "--fold", "9", "--model"]).arg(f.model()).arg("--data").arg(f.manifest()).output().unwrap();
    assert_fails(&o, 2, &["no clip is in fold 9; the folds are 1, 2, 3, 4"]);
}

#[test]
fn val_fraction_holds_out_part_of_each_class_of_a_folder_layout_and_eval_scores_the_same_clips() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let o = train(&f.folders(), &out, &["--val-fraction", "0.34", "--seed", "5", "--epochs", "2"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // 6 clips per class: round(0.34 * 6) = 2 held out of each of 3 classes.
    assert!(err.contains("12 train / 6 validation clips"), "{err}");
    assert!(err.contains("best epoch") && err.contains("val acc"), "the summary names the best epoch: {err}");
    let model = wavnet::io::load_model(&out.join("best.safetensors")).unwrap();
    assert_eq!(model.summary["val_clips"], 6);
    let o = wavnet()
        .args(["eval", "--device", "cpu", "--json", "--val-fraction", "0.34", "--seed", "5", "--model"])
        .arg(out.join("best.safetensors"))
        .arg("--data")
        .arg(f.folders())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("scoring the 6 clips"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["scores"]["n"], 6);
}

#[test]
fn init_refuses_another_sample_rate_and_honours_an_explicit_crop() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let init = f.model();
    let out = tmp.path().join("a");
    let o = train(&f.manifest(), &out, &["--init", init.to_str().unwrap(), "--sample-rate", "16000"]);
    assert_fails(&o, 2, &["--sample-rate 16000", "8000 Hz", "drop --sample-rate"]);
    assert!(!out.exists());
    let o = train(&f.manifest(), &out, &["--init", init.to_str().unwrap(), "--crop", "0.75"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = wavnet::io::load_model(&out.join("last.safetensors")).unwrap();
    assert_eq!((m.cfg.sample_rate, m.cfg.crop_seconds), (8000, 0.75), "the explicit crop is used");
    // Without --crop the source model's crop is used, and said.
    let out = tmp.path().join("b");
    let o = train(&f.manifest(), &out, &["--init", init.to_str().unwrap()]);
    assert!(o.status.success() && stderr(&o).contains("--crop changes it"), "{}", stderr(&o));
    // A config file gives way to an explicit --sample-rate / --crop.
    let out = tmp.path().join("c");
    let o = train(&f.manifest(), &out, &["--sample-rate", "11025", "--crop", "0.6"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = wavnet::io::load_model(&out.join("last.safetensors")).unwrap();
    assert_eq!((m.cfg.sample_rate, m.cfg.crop_seconds), (11025, 0.6));
}

#[test]
fn resume_keeps_the_checkpoints_settings_and_says_when_a_flag_replaces_one() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let o = train(&f.manifest(), &out, &["--lr", "1e-3", "--batch", "6", "--val-fold", "2", "--epochs", "2", "--stop-after", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Architecture flags the checkpoint fixes are errors, and nothing is touched.
    let before = std::fs::read(out.join("last.safetensors")).unwrap();
    let o = train(&f.manifest(), &out, &["--resume", "--crop", "1"]);
    assert_fails(&o, 2, &["--crop 1", "a 0.5 s crop", "drop --crop"]);
    let o = train(&f.manifest(), &out, &["--resume", "--sample-rate", "16000"]);
    assert_fails(&o, 2, &["--sample-rate 16000", "8000 Hz"]);
    assert_eq!(std::fs::read(out.join("last.safetensors")).unwrap(), before, "the checkpoint is unchanged");
    // Not given again: the checkpoint's lr, batch, epochs and validation fold.
    let o = Command::cargo_bin("wavnet")
        .unwrap()
        .args(["train", "--device", "cpu", "--resume", "--data"])
        .arg(f.manifest())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("warning"), "{err}");
    let m = wavnet::io::load_model(&out.join("last.safetensors")).unwrap();
    assert_eq!(m.summary["lr"].as_f64().unwrap() as f32, 1e-3);
    assert_eq!((m.summary["batch"].as_u64(), m.summary["epochs_done"].as_u64()), (Some(6), Some(2)));
    assert_eq!(m.summary["val_clips"], 9, "fold 2 still validates");
    // Given again with another value: used, with a one-line warning saying so.
    let out2 = tmp.path().join("r2");
    assert!(train(&f.manifest(), &out2, &["--lr", "1e-3", "--epochs", "2", "--stop-after", "1"]).status.success());
    let o = train(&f.manifest(), &out2, &["--resume", "--lr=2e-3", "--epochs", "2"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let warn: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warn.len(), 1, "{err}");
    assert!(warn[0].contains("--lr 0.002") && warn[0].contains("0.001"), "{err}");
}

#[test]
fn an_earlier_run_in_out_is_refused_unless_resume_or_force() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    assert!(train(&f.manifest(), &out, &[]).status.success());
    let (best, last) = (std::fs::read(out.join("best.safetensors")).unwrap(), std::fs::read(out.join("last.safetensors")).unwrap());
    let o = train(&f.manifest(), &out, &["--seed", "9"]);
    assert_fails(&o, 2, &["holds an earlier run", "--resume", "--force"]);
    assert_eq!(std::fs::read(out.join("best.safetensors")).unwrap(), best, "best.safetensors untouched");
    assert_eq!(std::fs::read(out.join("last.safetensors")).unwrap(), last, "last.safetensors untouched");
    let o = train(&f.manifest(), &out, &["--seed", "9", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read(out.join("last.safetensors")).unwrap(), last, "--force overwrites");
}

#[test]
fn no_window_system_noise_when_gpu_adapters_are_probed() {
    let f = fixture();
    let mut info = wavnet();
    let o = info.env_remove("XDG_RUNTIME_DIR").arg("info").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("XDG_RUNTIME_DIR"), "{}", stderr(&o));
    let o = wavnet()
        .env_remove("XDG_RUNTIME_DIR")
        .args(["tag", "--device", "auto", "--model"])
        .arg(f.model())
        .arg(f.folders().join("low"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).to_lowercase().contains("error"), "{}", stderr(&o));
}

#[test]
fn a_file_that_is_not_a_model_says_what_to_pass() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let text = tmp.path().join("README.md");
    std::fs::write(&text, "# not a model\nsome text that is long enough to be a header length\n").unwrap();
    let folder = f.folders();
    let missing = tmp.path().join("nope.safetensors");
    for cmd in ["tag", "eval", "info"] {
        let run = |model: &Path| {
            let mut c = wavnet();
            c.args([cmd, "--model"]).arg(model);
            match cmd {
                "tag" => c.args(["--device", "cpu"]).arg(&folder),
                "eval" => c.args(["--device", "cpu", "--data"]).arg(&folder),
                _ => &mut c,
            };
            c.output().unwrap()
        };
        assert_fails(&run(&text), 2, &["README.md", "not a safetensors model file", "wavnet train"]);
        assert_fails(&run(&missing), 2, &["nope.safetensors", "no such model file", "wavnet train --data"]);
        assert_fails(&run(&f.root.join("run")), 2, &["is a folder", "best.safetensors"]);
    }
}

#[test]
fn tag_on_a_folder_without_audio_fails_before_writing_anything() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("notes");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("readme.txt"), "no audio here").unwrap();
    let csv = tmp.path().join("tags.csv");
    std::fs::write(&csv, "an earlier result\n").unwrap();
    let o = wavnet().args(["tag", "--device", "cpu", "--model"]).arg(f.model()).arg(&empty).arg("-o").arg(&csv).output().unwrap();
    assert_fails(&o, 1, &["notes", "no audio files found", ".wav"]);
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "an earlier result\n", "the output file is untouched");
}

#[test]
fn eval_says_which_clips_it_scored_and_summarises_unknown_labels() {
    let f = fixture();
    let model = f.model();
    let eval = |data: &Path, extra: &[&str]| {
        wavnet().args(["eval", "--device", "cpu", "--json"]).args(extra).arg("--model").arg(&model).arg("--data").arg(data).output().unwrap()
    };
    let o = eval(&f.manifest(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("scoring all 36 clips") && stderr(&o).contains("trained on are included"), "{}", stderr(&o));
    let o = eval(&f.manifest(), &["--fold", "4"]);
    assert!(stderr(&o).contains("scoring the 9 clips") && stderr(&o).contains("fold 4"), "{}", stderr(&o));
    // A manifest whose labels only partly match the model's: one line per unknown label.
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(f.manifest()).unwrap();
    let renamed = text.replace(",noise,", ",hiss,").replace(",high,", ",whistle,");
    let m = f.root.join("set/renamed.csv");
    std::fs::write(&m, renamed).unwrap();
    let o = eval(&m, &["--fold", "1"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.lines().filter(|l| l.contains("skipping")).count(), 1, "{err}");
    assert!(err.contains("skipping 24 clip(s) whose label is not one of the model's 3: 'hiss' (12), 'whistle' (12)"), "{err}");
    assert!(err.contains("scoring the 3 clips"), "{err}");
    drop(tmp);
}

#[test]
fn eval_help_describes_its_options_and_lists_no_training_options() {
    let o = wavnet().args(["eval", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("--model <MODEL>\n          Model file"), "{help}");
    assert!(help.contains("--data <DATA>\n          Labelled clips"), "{help}");
    for training_only in ["--verified-only", "--unverified-weight", "--lr", "--epochs"] {
        assert!(!help.contains(training_only), "eval --help lists {training_only}:\n{help}");
    }
}

#[test]
fn training_ends_with_the_best_epoch_and_where_the_files_are() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let mut c = wavnet();
    c.args(["train", "--device", "cpu", "--batch", "4", "--augment", "none", "--epochs", "2", "--val-fold", "1", "--config"]);
    let o = c.arg(fixture_config_path()).arg("--data").arg(f.manifest()).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("CacheStats"), "no debug print: {err}");
    let last = err.lines().last().unwrap();
    assert!(last.contains("best epoch") && last.contains(" of 2 (val acc ") && last.contains("best.safetensors") && last.contains("last.safetensors"), "{err}");
    let best = wavnet::io::load_model(&out.join("best.safetensors")).unwrap();
    let n = best.summary["best_epoch"].as_u64().unwrap();
    assert!(last.contains(&format!("best epoch {n} of 2")), "the line names the epoch best.safetensors holds: {last}");
    // Without validation it says best = last.
    let o = train(&f.manifest(), &tmp.path().join("nv"), &[]);
    assert!(stderr(&o).contains("no validation set"), "{}", stderr(&o));
}

#[test]
fn info_describes_a_model_file() {
    let f = fixture();
    let o = wavnet().args(["info", "--model"]).arg(f.model()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for want in ["labels (3): high, low, noise", "sample rate: 8000 Hz", "crop: 0.5 s (4000 samples", "parameters: ", "train / 9 validation clips", "validation: fold 4", "2 of 2 epochs", "this file holds epoch "] {
        assert!(text.contains(want), "`{want}` in:\n{text}");
    }
    let params = wavnet::io::load_model(&f.model()).unwrap().cfg.parameter_count();
    assert!(text.contains(&format!("parameters: {params} ")), "{text}");
    let o = wavnet().args(["info", "--model"]).arg(f.checkpoint()).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("checkpoint with the optimizer state"));
}
