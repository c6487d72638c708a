//! `wavnet tag` as a user runs it: every output format parsed back and checked against the
//! JSON lines, thresholds, resume after a killed run, shards, and a 60 s recording of ten real
//! sounds in sequence found in order.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use rand::{Rng, SeedableRng};
use wavnet::data::audio::write_wav;
use wavnet::report::FileReport;

const SR: u32 = 16000;
const CLASSES: [&str; 3] = ["low_tone", "high_tone", "noise"];

/// `n` samples of a class: a 300 Hz or 2500 Hz tone, or noise.
fn sound(class: usize, n: usize, rng: &mut impl Rng) -> Vec<f32> {
    let amp = rng.random_range(0.3..0.8f32);
    let phase = rng.random_range(0.0..std::f32::consts::TAU);
    let f = [300.0, 2500.0, 0.0][class];
    (0..n)
        .map(|i| {
            let noise = rng.random_range(-1.0..1.0f32);
            if class == 2 { amp * noise } else { amp * (phase + std::f32::consts::TAU * f * i as f32 / SR as f32).sin() + 0.02 * noise }
        })
        .collect()
}

fn wavnet() -> Command {
    let mut c = Command::cargo_bin("wavnet").unwrap();
    c.env("RAYON_NUM_THREADS", "2");
    c
}

/// A model trained once for this file's tests on the three generated classes (0.5 s crop).
fn model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &MODEL
        .get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let mut rng = rand::rngs::StdRng::seed_from_u64(1);
            for (c, name) in CLASSES.iter().enumerate() {
                let dir = tmp.path().join("train").join(name);
                std::fs::create_dir_all(&dir).unwrap();
                for i in 0..16 {
                    let n = rng.random_range(6000..12000);
                    write_wav(&dir.join(format!("{i}.wav")), &sound(c, n, &mut rng), SR).unwrap();
                }
            }
            let out = tmp.path().join("run");
            let o = wavnet()
                .args(["train", "--device", "cpu", "--crop", "0.5", "--batch", "8", "--epochs", "6", "--augment", "none", "--seed", "7", "--quiet"])
                .arg("--data")
                .arg(tmp.path().join("train"))
                .arg("--out")
                .arg(&out)
                .output()
                .unwrap();
            assert!(o.status.success(), "train: {}", String::from_utf8_lossy(&o.stderr));
            (tmp, out.join("best.safetensors"))
        })
        .1
}

/// A recording of the classes `seq` in order, `secs` seconds each.
fn sequence(path: &Path, seq: &[usize], secs: f32, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let x: Vec<f32> = seq.iter().flat_map(|&c| sound(c, (secs * SR as f32) as usize, &mut rng)).collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_wav(path, &x, SR).unwrap();
}

fn tag(args: &[&str], extra: &[&Path]) -> std::process::Output {
    let mut c = wavnet();
    c.args(["tag", "--device", "cpu", "--model"]).arg(model()).args(args);
    for p in extra {
        c.arg(p);
    }
    c.output().unwrap()
}

fn read_jsonl(p: &Path) -> Vec<FileReport> {
    std::fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Rows of a tab-separated table with a header, as maps from column name to value.
fn read_tsv(p: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::ReaderBuilder::new().delimiter(b'\t').from_path(p).unwrap();
    let h = r.headers().unwrap().clone();
    r.records().map(|rec| h.iter().zip(rec.unwrap().iter()).map(|(a, b)| (a.to_string(), b.to_string())).collect()).collect()
}

fn close(a: f64, b: &str) -> bool {
    (a - b.parse::<f64>().unwrap()).abs() < 1e-4
}

#[test]
fn every_format_parses_back_and_agrees_with_the_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    sequence(&input.join("sub/a.wav"), &[0, 0, 1, 1, 2, 2], 0.5, 1);
    sequence(&input.join("b.wav"), &[1, 1, 1], 0.5, 2);
    let out = tmp.path().join("out");
    let o = tag(&["--format", "csv,jsonl,audacity,raven", "-k", "2", "--output-dir", out.to_str().unwrap()], &[&input]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut beside: Vec<String> = walk(&input);
    beside.sort();
    assert_eq!(beside, ["b.wav", "sub/a.wav"], "nothing written beside the inputs");

    let reports = read_jsonl(&out.join("tags.jsonl"));
    assert_eq!(reports.iter().map(|r| r.file.clone()).collect::<Vec<_>>(), [input.join("b.wav").display().to_string(), input.join("sub/a.wav").display().to_string()]);
    let model_name = model().display().to_string();
    for r in &reports {
        assert_eq!(r.model, model_name);
        assert_eq!(r.classes.len(), 3);
        assert_eq!(r.top.len(), 2);
        assert!(r.windows.iter().all(|w| w.scores.len() == 3 && (w.scores.iter().sum::<f32>() - 1.0).abs() < 1e-4));
        let last = r.windows.last().unwrap();
        assert!((last.end - r.duration).abs() < 1e-9, "the last window ends at the file's end");
        for s in &r.segments {
            assert!(s.confidence >= 0.5 && s.start < s.end);
        }
    }
    let a = &reports[1];
    assert!((a.duration - 3.0).abs() < 1e-3);
    // The three sounds of a.wav come out as segments in order.
    let first = |label: &str| a.segments.iter().filter(|s| s.label == label).map(|s| s.start).fold(f64::INFINITY, f64::min);
    assert!(first("low_tone") < first("high_tone") && first("high_tone") < first("noise"), "{:?}", a.segments);

    // CSV: the same top labels, the windows, the model.
    let mut csv = csv::Reader::from_path(out.join("tags.csv")).unwrap();
    assert_eq!(csv.headers().unwrap().iter().collect::<Vec<_>>(), ["file", "label_1", "prob_1", "label_2", "prob_2", "windows", "model"]);
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    for (row, r) in rows.iter().zip(&reports) {
        assert_eq!(&row[0], r.file);
        assert_eq!((&row[1], &row[3]), (r.top[0].label.as_str(), r.top[1].label.as_str()));
        assert!((row[2].parse::<f32>().unwrap() - r.top[0].confidence).abs() < 1e-4);
        assert_eq!(row[5].parse::<usize>().unwrap(), r.windows.len());
        assert_eq!(&row[6], model_name);
    }

    // Audacity: start, end, label per segment, one file per input, mirroring the tree.
    for (r, rel) in reports.iter().zip(["b.wav", "sub/a.wav"]) {
        let text = std::fs::read_to_string(out.join(format!("in/{rel}.labels.txt"))).unwrap();
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows.len(), r.segments.len());
        for (row, s) in rows.iter().zip(&r.segments) {
            assert_eq!(row.len(), 3);
            assert!(close(s.start, row[0]) && close(s.end, row[1]) && row[2] == s.label, "{row:?} vs {s:?}");
        }
        // Raven, one table per input.
        let t = read_tsv(&out.join(format!("in/{rel}.selections.txt")));
        assert_eq!(t.len(), r.segments.len());
        for (i, (row, s)) in t.iter().zip(&r.segments).enumerate() {
            assert_eq!(row["Selection"], (i + 1).to_string());
            assert!(close(s.start, &row["Begin Time (s)"]) && close(s.end, &row["End Time (s)"]) && close(s.start, &row["File Offset (s)"]));
            assert_eq!((row["Label"].as_str(), row["Begin Path"].as_str(), row["Model"].as_str()), (s.label.as_str(), r.file.as_str(), model_name.as_str()));
            assert!(close(s.confidence as f64, &row["Confidence"]));
            assert!(close(0.0, &row["Low Freq (Hz)"]) && close(8000.0, &row["High Freq (Hz)"]));
        }
    }
    // Raven, combined: the files end to end, selections numbered through.
    let t = read_tsv(&out.join("selections.txt"));
    let all: Vec<(f64, &wavnet::report::SegmentRow, &FileReport)> =
        reports.iter().scan(0.0, |off, r| { let o = *off; *off += r.duration; Some(r.segments.iter().map(move |s| (o, s, r))) }).flatten().collect();
    assert_eq!(t.len(), all.len());
    for (i, (row, (off, s, r))) in t.iter().zip(&all).enumerate() {
        assert_eq!(row["Selection"], (i + 1).to_string());
        assert!(close(off + s.start, &row["Begin Time (s)"]) && close(s.start, &row["File Offset (s)"]));
        assert_eq!(row["Begin Path"], r.file);
    }
    // The run record and the (empty) failures file.
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["counts"]["tagged"], 2);
    assert_eq!(run["model"], model_name);
    assert_eq!(std::fs::read_to_string(out.join("failures.csv")).unwrap().lines().count(), 1);
    // No temporary files left.
    assert!(walk(&out).iter().all(|f| !f.contains(".tmp")), "{:?}", walk(&out));
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn go(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                go(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    go(dir, dir, &mut out);
    out
}

#[test]
fn thresholds_decide_segments_and_bad_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("rec.wav");
    sequence(&input, &[0, 1, 2, 0, 1], 0.75, 3);
    let run = |extra: &[&str]| {
        let o = tag(&[&["--format", "jsonl"], extra].concat(), &[&input]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<FileReport>(&o.stdout).unwrap()
    };
    let check = |r: &FileReport, t: &[(&str, f32)]| {
        for (c, label) in r.classes.iter().enumerate() {
            let t: Vec<f32> = (0..r.classes.len()).map(|i| t.iter().find(|(l, _)| *l == r.classes[i]).unwrap().1).collect();
            // Every window at or over the class's threshold is inside a segment of it, every
            // segment is made of such windows, and segments of a class do not touch.
            let segs: Vec<_> = r.segments.iter().filter(|s| &s.label == label).collect();
            for w in &r.windows {
                let inside = segs.iter().any(|s| s.start <= w.start && w.end <= s.end);
                assert_eq!(w.scores[c] >= t[c], inside, "{label} window {w:?} threshold {} segments {segs:?}", t[c]);
            }
            for s in &segs {
                let max = r.windows.iter().filter(|w| s.start <= w.start && w.end <= s.end).map(|w| w.scores[c]).fold(0.0, f32::max);
                assert_eq!(s.confidence, max);
            }
        }
    };
    let r = run(&["--min-confidence", "0.5"]);
    assert!(r.segments.len() >= 3, "{:?}", r.segments);
    check(&r, &[("low_tone", 0.5), ("high_tone", 0.5), ("noise", 0.5)]);
    let file = tmp.path().join("t.csv");
    std::fs::write(&file, "label,threshold\nhigh_tone,0\nnoise, 1.0\n").unwrap();
    let r2 = run(&["--min-confidence", "0.6", "--thresholds", file.to_str().unwrap()]);
    check(&r2, &[("low_tone", 0.6), ("high_tone", 0.0), ("noise", 1.0)]);
    assert!(r2.segments.iter().any(|s| s.label == "high_tone" && s.start == 0.0 && (s.end - r2.duration).abs() < 1e-9), "threshold 0: the whole file");
    assert_eq!(r.top, r2.top, "--top-k is the same whatever the thresholds");
    // A label the model does not know, a bad number: the message names the file and line.
    std::fs::write(&file, "label,threshold\nsiren,0.5\n").unwrap();
    let o = tag(&["--thresholds", file.to_str().unwrap()], &[&input]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("t.csv line 2") && err.contains("siren") && err.contains("low_tone"), "{err}");
    std::fs::write(&file, "noise,high\n").unwrap();
    let err = String::from_utf8_lossy(&tag(&["--thresholds", file.to_str().unwrap()], &[&input]).stderr).to_string();
    assert!(err.contains("from 0 to 1"), "{err}");
    // Per-file formats need a folder.
    let o = tag(&["--format", "raven"], &[&input]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--output-dir"));
}

#[test]
fn resume_after_a_killed_run_tags_every_file_once() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    for i in 0..9 {
        sequence(&input.join(format!("f{i}.wav")), &[i % 3], 0.6, 10 + i as u64);
    }
    std::fs::write(input.join("broken.wav"), b"RIFF garbage").unwrap();
    let out = tmp.path().join("out");
    let dir = out.to_str().unwrap();
    let args = ["--format", "csv,raven", "--output-dir", dir];
    let o = tag(&[&args[..], &["--stop-after", "4"]].concat(), &[&input]);
    assert_eq!(o.status.code(), Some(1), "broken.wav failed: {}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.join("run.json").exists(), "a killed run writes no run record");
    let journal = out.join(".wavnet-tag-journal.jsonl");
    assert_eq!(std::fs::read_to_string(&journal).unwrap().lines().count(), 4);
    // The kill came in the middle of the fifth file's journal line.
    let mut f = std::fs::OpenOptions::new().append(true).open(&journal).unwrap();
    std::io::Write::write_all(&mut f, b"{\"key\":\"").unwrap();
    drop(f);
    let o = tag(&[&args[..], &["--resume"]].concat(), &[&input]);
    assert_eq!(o.status.code(), Some(1), "the broken file fails: {}", String::from_utf8_lossy(&o.stderr));
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!((run["counts"]["resumed"].as_u64(), run["counts"]["tagged"].as_u64(), run["counts"]["failed"].as_u64()), (Some(4), Some(5), Some(1)), "{run}");
    let second: BTreeSet<String> = run["tagged"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let first: BTreeSet<String> = (0..4).map(|i| format!("in/f{i}.wav")).collect();
    assert!(first.is_disjoint(&second), "no file tagged twice: {second:?}");
    let mut csv = csv::Reader::from_path(out.join("tags.csv")).unwrap();
    let files: Vec<String> = csv.records().map(|r| r.unwrap()[0].to_string()).collect();
    let want: Vec<String> = (0..9).map(|i| input.join(format!("f{i}.wav")).display().to_string()).collect();
    assert_eq!(files, want, "none lost, each once, in order");
    assert_eq!(read_tsv(&out.join("selections.txt")).iter().map(|r| r["Begin Path"].clone()).collect::<BTreeSet<_>>().len(), 9);
    let failures = std::fs::read_to_string(out.join("failures.csv")).unwrap();
    assert!(failures.contains("broken.wav"), "{failures}");
    // A third run with other settings tags everything again.
    let o = tag(&[&args[..], &["--resume", "--min-confidence", "0.9"]].concat(), &[&input]);
    assert_eq!(o.status.code(), Some(1));
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!((run["counts"]["resumed"].as_u64(), run["counts"]["tagged"].as_u64()), (Some(0), Some(9)), "{run}");
}

#[test]
fn shards_are_disjoint_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    for i in 0..12 {
        sequence(&input.join(format!("d{}/f{i}.wav", i % 2)), &[i % 3], 0.3, 40 + i as u64);
    }
    let out = tmp.path().join("out");
    let mut seen: Vec<String> = Vec::new();
    for i in 0..3 {
        let o = tag(&["--output-dir", out.to_str().unwrap(), "--shard", &format!("{i}/3")], &[&input]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut csv = csv::Reader::from_path(out.join(format!("tags.shard{i}of3.csv"))).unwrap();
        let files: Vec<String> = csv.records().map(|r| r.unwrap()[0].to_string()).collect();
        assert!(!files.is_empty() && files.len() < 12, "shard {i}: {files:?}");
        seen.extend(files);
    }
    seen.sort();
    let mut want: Vec<String> = (0..12).map(|i| input.join(format!("d{}/f{i}.wav", i % 2)).display().to_string()).collect();
    want.sort();
    assert_eq!(seen, want, "every file in exactly one shard");
    for bad in ["3/3", "1", "a/b", "0/0"] {
        let o = tag(&["--shard", bad], &[&input]);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("I/N"), "--shard {bad}");
    }
}

#[test]
fn a_minute_of_ten_real_sounds_in_sequence_is_tagged_in_order() {
    // Ten ESC-10 classes, four real clips each: a small model learns them (this checks the
    // timeline, not generalisation: the recording is made of clips it was trained on).
    let esc = common::shared().join("data/esc10");
    let tmp = tempfile::tempdir().unwrap();
    let mut classes: Vec<PathBuf> = std::fs::read_dir(&esc).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    classes.sort();
    assert_eq!(classes.len(), 10, "ESC-10 has ten class folders in {}", esc.display());
    let mut firsts = Vec::new();
    for c in &classes {
        let mut clips: Vec<PathBuf> = std::fs::read_dir(c).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "ogg")).collect();
        clips.sort();
        let dir = tmp.path().join("train").join(c.file_name().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        for p in &clips[..4] {
            std::os::unix::fs::symlink(p, dir.join(p.file_name().unwrap())).unwrap();
        }
        firsts.push(clips[0].clone());
    }
    let out = tmp.path().join("run");
    let o = wavnet()
        .args(["train", "--device", "cpu", "--crop", "1", "--batch", "8", "--epochs", "40", "--augment", "none", "--seed", "1", "--quiet"])
        .arg("--data")
        .arg(tmp.path().join("train"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "train: {}", String::from_utf8_lossy(&o.stderr));
    let labels = wavnet::io::load_model(&out.join("best.safetensors")).unwrap().labels;

    // 60 s: each clip (5 s) then 1 s of silence, in a shuffled class order.
    let order = [3usize, 7, 0, 9, 5, 1, 8, 2, 6, 4];
    let mut x = Vec::new();
    for &c in &order {
        let mut clip = wavnet::data::load_audio(&firsts[c], SR).unwrap();
        clip.resize(5 * SR as usize, 0.0);
        x.extend(clip);
        x.extend(std::iter::repeat_n(0.0, SR as usize));
    }
    assert_eq!(x.len(), 60 * SR as usize);
    let rec = tmp.path().join("minute.wav");
    write_wav(&rec, &x, SR).unwrap();
    let o = wavnet()
        .args(["tag", "--device", "cpu", "--format", "jsonl", "--hop", "0.25", "--min-confidence", "0.4", "--model"])
        .arg(out.join("best.safetensors"))
        .arg(&rec)
        .output()
        .unwrap();
    assert!(o.status.success(), "tag: {}", String::from_utf8_lossy(&o.stderr));
    let r: FileReport = serde_json::from_slice(&o.stdout).unwrap();
    assert!((r.duration - 60.0).abs() < 1e-3);
    let truth: Vec<&str> = order.iter().map(|&c| {
        let folder = classes[c].file_name().unwrap().to_string_lossy().to_string();
        labels.iter().find(|l| **l == folder).map(|l| l.as_str()).unwrap_or_else(|| panic!("{folder} among {labels:?}"))
    }).collect();
    // Per slot: the mean of the windows inside the clip's 5 s, and the label whose segments
    // cover most of them.
    let (mut by_windows, mut by_segments) = (Vec::new(), Vec::new());
    for slot in 0..10 {
        let (a, b) = (6.0 * slot as f64, 6.0 * slot as f64 + 5.0);
        let inside: Vec<_> = r.windows.iter().filter(|w| w.start >= a && w.end <= b).collect();
        let mut mean = vec![0f32; labels.len()];
        for w in &inside {
            for (m, s) in mean.iter_mut().zip(&w.scores) {
                *m += s / inside.len() as f32;
            }
        }
        let best = (0..labels.len()).max_by(|&i, &j| mean[i].total_cmp(&mean[j])).unwrap();
        by_windows.push(labels[best].as_str());
        let mut cover: BTreeMap<&str, f64> = BTreeMap::new();
        for s in &r.segments {
            let o = (s.end.min(b) - s.start.max(a)).max(0.0);
            *cover.entry(s.label.as_str()).or_default() += o;
        }
        by_segments.push(cover.into_iter().max_by(|x, y| x.1.total_cmp(&y.1)).map(|x| x.0).unwrap_or("-"));
    }
    let hits = |got: &[&str]| got.iter().zip(&truth).filter(|(g, t)| g == t).count();
    assert!(hits(&by_windows) >= 9, "window scores per slot {by_windows:?}, truth {truth:?}");
    assert!(hits(&by_segments) >= 9, "segments per slot {by_segments:?}, truth {truth:?}\n{:?}", r.segments);
}
