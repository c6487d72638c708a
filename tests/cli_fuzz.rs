//! Property test: random option values and random bytes as manifests and model files, thrown
//! at `train`, `tag`, `eval` and `info` through the real binary. Whatever the input: no panic,
//! exit code 1 or 2, and a message naming the offending input (the option for a usage error,
//! else the file).
use std::path::Path;

use assert_cmd::Command;
use proptest::prelude::*;
use wavnet::data::audio::write_wav;

/// Options of each command and a value to give each (as `--flag=value`, so that negative
/// numbers reach the option's parser).
fn options(cmd: usize) -> &'static [&'static str] {
    match cmd {
        0 => &[
            "--batch", "--epochs", "--lr", "--crop", "--sample-rate", "--val-fraction", "--val-fold", "--dropout", "--warmup",
            "--seed", "--threads", "--cache-mb", "--log-every", "--label-smoothing", "--weight-decay", "--unverified-weight",
            "--augment", "--filter-mask",
        ],
        1 => &["--batch", "--top-k", "--threads"],
        2 => &["--batch", "--fold", "--split", "--val-fraction", "--threads"],
        _ => &["--threads"],
    }
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        (-3i64..5000).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| v.to_string()),
        (-2.0f64..2.0).prop_map(|v| v.to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just(String::new()),
        "[a-z=:,.0-9]{1,12}",
        Just("99999999999999999999999".to_string()),
    ]
}

fn case() -> impl Strategy<Value = (usize, Option<(usize, String)>, Vec<u8>)> {
    (0usize..4, proptest::option::of((0usize..64, value())), proptest::collection::vec(any::<u8>(), 0..600))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_options_and_files_never_panic_and_name_the_culprit((cmd, opt, bytes) in case()) {
        let tmp = tempfile::tempdir().unwrap();
        let junk_csv = tmp.path().join("junk-manifest.csv");
        let junk_model = tmp.path().join("junk-model.safetensors");
        std::fs::write(&junk_csv, &bytes).unwrap();
        std::fs::write(&junk_model, &bytes).unwrap();
        let audio = tmp.path().join("audio");
        std::fs::create_dir_all(&audio).unwrap();
        write_wav(&audio.join("a.wav"), &vec![0.1; 800], 8000).unwrap();

        let mut c = Command::cargo_bin("wavnet").unwrap();
        c.env("RAYON_NUM_THREADS", "2");
        let file: &Path = match cmd {
            0 => {
                c.args(["train", "--device", "cpu", "--data"]).arg(&junk_csv).arg("--out").arg(tmp.path().join("out"));
                &junk_csv
            }
            1 => {
                c.args(["tag", "--device", "cpu", "--model"]).arg(&junk_model).arg(&audio);
                &junk_model
            }
            2 => {
                c.args(["eval", "--device", "cpu", "--model"]).arg(&junk_model).arg("--data").arg(&junk_csv);
                &junk_model
            }
            _ => {
                c.args(["info", "--model"]).arg(&junk_model);
                &junk_model
            }
        };
        let flag = opt.as_ref().map(|(i, v)| {
            let names = options(cmd);
            let f = names[i % names.len()];
            c.arg(format!("{f}={v}"));
            f
        });
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        prop_assert!(!err.contains("panicked"), "a panic: {err}");
        let code = o.status.code();
        prop_assert!(code == Some(1) || code == Some(2), "exit code {code:?}: {err}");
        // clap's usage errors start with a lower-case `error:` and end with a pointer to --help.
        if err.starts_with("error:") && err.contains("--help") {
            let flag = flag.unwrap_or("(none)");
            prop_assert!(err.contains(flag), "a usage error names {flag}: {err}");
        } else {
            let name = file.file_name().unwrap().to_str().unwrap();
            prop_assert!(err.contains(name), "the error names {name}: {err}");
        }
        prop_assert!(!tmp.path().join("out").exists(), "nothing written for a failed run");
    }
}
