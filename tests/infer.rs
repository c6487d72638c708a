//! The shared inference path: `wavnet eval` and validation (`infer::predict` through the
//! loader) and `wavnet tag` (`infer::infer_files`, streaming) score every clip the same way,
//! for clips shorter than, as long as and longer than the model's window, under each policy.
mod common;

use std::path::PathBuf;
use std::sync::Arc;

use wavnet::cpu::CpuDevice;
use wavnet::data::audio::write_wav;
use wavnet::data::{AugmentConfig, Dataset, DatasetOptions, Loader, LoaderConfig, PadMode};
use wavnet::infer::{cut, forward_windows, infer_files, predict, ClipPolicy, FileScores};
use wavnet::model::{init_tensors, Config, Model};

const SR: u32 = 8000;

/// A small random model: 0.5 s windows at 8 kHz, 3 classes. Untrained weights still give each
/// input its own probabilities, which is all agreement needs.
fn model(batch: usize) -> Model<CpuDevice> {
    let mut cfg = Config::wavnet_s(SR, 3);
    cfg.filters = 16;
    cfg.taps = 101;
    cfg.hop = 80;
    cfg.channels = vec![16, 16];
    cfg.convs_per_block = 1;
    cfg.crop_seconds = 0.5;
    let values = init_tensors(&cfg, 3);
    let len = cfg.crop();
    Model::new(CpuDevice::new(), cfg, &values, batch, len).unwrap()
}

/// A chirp-and-noise clip of `n` samples whose content changes over time.
fn clip(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = i as f32 / SR as f32;
            let f = 200.0 + 900.0 * seed as f32 + 1500.0 * t;
            0.4 * (std::f32::consts::TAU * f * t).sin() + 0.05 * ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) as f32 / u32::MAX as f32 - 0.5)
        })
        .collect()
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{what}: {a:?} vs {b:?}");
    }
}

#[test]
fn eval_and_tag_score_every_clip_the_same_way() {
    let tmp = tempfile::tempdir().unwrap();
    // Lengths around the 4000-sample window: shorter, equal, just longer, several windows.
    let lengths = [1500usize, 4000, 4001, 9000, 17000];
    let mut files: Vec<PathBuf> = Vec::new();
    for (i, &n) in lengths.iter().enumerate() {
        let dir = tmp.path().join(["a", "b", "c"][i % 3]);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("clip{i}.wav"));
        write_wav(&p, &clip(n, i as u32), SR).unwrap();
        files.push(p);
    }
    let ds = Arc::new(Dataset::open(tmp.path(), &DatasetOptions::default()).unwrap());
    let batch = 3; // windows of one clip span batches
    let m = model(batch);
    let win = m.len;
    for policy in [ClipPolicy::Windows { hop: win / 2 }, ClipPolicy::Windows { hop: 1300 }, ClipPolicy::Crops(1), ClipPolicy::Crops(3)] {
        let loader = Loader::new(
            ds.clone(),
            LoaderConfig { sample_rate: SR, crop: win, batch, augment: AugmentConfig::none(), pad: PadMode::Zeros, ..LoaderConfig::default() },
        );
        let idx: Vec<usize> = (0..ds.items.len()).collect();
        let (eval_probs, labels) = predict(&m, &loader, &ds, &idx, policy);
        assert_eq!(labels.len(), lengths.len());
        let paths: Vec<PathBuf> = ds.items.iter().map(|it| it.path.clone()).collect();
        let mut tagged: Vec<FileScores> = Vec::new();
        infer_files(&m, &paths, policy, |i, r| {
            assert_eq!(i, tagged.len(), "files come back in order");
            tagged.push(r.unwrap());
            Ok(())
        })
        .unwrap();
        for (i, fs) in tagged.iter().enumerate() {
            let what = format!("{policy:?} {}", paths[i].display());
            close(&eval_probs[i * 3..(i + 1) * 3], &fs.clip, &what);
            // The windows are the policy's over the decoded clip, each scored on its own.
            let audio = wavnet::data::load_audio(&paths[i], SR).unwrap();
            assert_eq!(fs.samples, audio.len());
            let want = cut(&audio, win, policy, PadMode::Zeros);
            assert_eq!(fs.windows.iter().map(|w| (w.start, w.end)).collect::<Vec<_>>(), want.iter().map(|w| (w.start, w.end)).collect::<Vec<_>>(), "{what}");
            let one = model(1);
            for (w, ws) in want.iter().zip(&fs.windows) {
                close(&forward_windows(&one, &[&w.x]), &ws.probs, &what);
            }
        }
    }
    // The policies differ on the long clip (so the agreement above is not vacuous) and agree on
    // the short one (one centred window either way).
    let long = ds.items.iter().position(|it| it.path.ends_with("clip4.wav")).unwrap();
    let short = ds.items.iter().position(|it| it.path.ends_with("clip0.wav")).unwrap();
    let run = |policy| {
        let loader = Loader::new(ds.clone(), LoaderConfig { sample_rate: SR, crop: win, batch, augment: AugmentConfig::none(), ..LoaderConfig::default() });
        predict(&m, &loader, &ds, &[long, short], policy).0
    };
    let (a, b) = (run(ClipPolicy::Windows { hop: win / 2 }), run(ClipPolicy::Crops(1)));
    assert!(a[..3].iter().zip(&b[..3]).any(|(x, y)| (x - y).abs() > 1e-4), "long clip: {a:?} vs {b:?}");
    close(&a[3..], &b[3..], "short clip");
}
