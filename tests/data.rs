//! Tests of the `data` module: formats, layouts, bad input, augmentations, loader, streaming.
//! Real-audio tests read `../shared/data` (or $WAVNET_DATA) in place and fail when it is missing.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use wavnet::data::*;

fn data_root() -> PathBuf {
    let p = std::env::var_os("WAVNET_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(
        p.join("README.md").is_file(),
        "real-audio test data missing: expected {} (the project's shared/data, or set WAVNET_DATA)",
        p.display()
    );
    p
}

fn sine(freq: f32, sr: u32, secs: f32, amp: f32) -> Vec<f32> {
    let n = (sr as f32 * secs).round() as usize;
    (0..n).map(|i| amp * (2.0 * std::f32::consts::PI * freq * i as f32 / sr as f32).sin()).collect()
}

/// Magnitude of the DFT of `x` at frequency `f`.
fn dft_mag(x: &[f32], f: f32, sr: u32) -> f32 {
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for (i, &s) in x.iter().enumerate() {
        let ph = 2.0 * std::f64::consts::PI * f as f64 * i as f64 / sr as f64;
        re += s as f64 * ph.cos();
        im -= s as f64 * ph.sin();
    }
    ((re * re + im * im).sqrt() / x.len() as f64 * 2.0) as f32
}

fn zero_crossing_freq(x: &[f32], sr: u32) -> f32 {
    let crossings = x.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
    crossings as f32 / 2.0 / (x.len() as f32 / sr as f32)
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt() as f32
}

// ---------------------------------------------------------------------------------------------
// Formats

fn write_hound<F: Fn(&mut hound::WavWriter<std::io::BufWriter<std::fs::File>>, f32)>(
    path: &Path,
    spec: hound::WavSpec,
    x: &[f32],
    put: F,
) {
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in x {
        for _ in 0..spec.channels {
            put(&mut w, s);
        }
    }
    w.finalize().unwrap();
}

#[test]
fn wav_bit_depths_and_float_load() {
    let dir = tempfile::tempdir().unwrap();
    let x = sine(440.0, 16000, 0.5, 0.5);
    let int = |bits| hound::WavSpec { channels: 1, sample_rate: 16000, bits_per_sample: bits, sample_format: hound::SampleFormat::Int };
    let p8 = dir.path().join("a8.wav");
    write_hound(&p8, int(8), &x, |w, s| w.write_sample((s * 127.0) as i8).unwrap());
    let p16 = dir.path().join("a16.wav");
    write_wav(&p16, &x, 16000).unwrap();
    let p24 = dir.path().join("a24.wav");
    write_hound(&p24, int(24), &x, |w, s| w.write_sample((s * 8388607.0) as i32).unwrap());
    let p32 = dir.path().join("a32.wav");
    write_hound(&p32, int(32), &x, |w, s| w.write_sample((s * 2147483647.0) as i32).unwrap());
    let pf = dir.path().join("af.wav");
    let fspec = hound::WavSpec { channels: 1, sample_rate: 16000, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
    write_hound(&pf, fspec, &x, |w, s| w.write_sample(s).unwrap());
    for (p, tol) in [(&p8, 0.02), (&p16, 1e-3), (&p24, 1e-5), (&p32, 1e-5), (&pf, 1e-6)] {
        let y = load_audio(p, 16000).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(y.len(), x.len(), "{}", p.display());
        let err = x.iter().zip(&y).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(err < tol, "{}: max error {err}", p.display());
    }
}

#[test]
fn stereo_is_downmixed_to_mono() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("st.wav");
    let spec = hound::WavSpec { channels: 2, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(&p, spec).unwrap();
    // left = 0.5, right = -0.1 -> mean 0.2
    for _ in 0..800 {
        w.write_sample((0.5 * 32767.0) as i16).unwrap();
        w.write_sample((-0.1 * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    let y = load_audio(&p, 8000).unwrap();
    assert_eq!(y.len(), 800);
    assert!(y.iter().all(|v| (v - 0.2).abs() < 1e-3), "got {}", y[0]);
}

#[test]
fn resampling_44k1_to_16k_keeps_frequency_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.wav");
    let x = sine(1000.0, 44100, 2.0, 0.5);
    write_wav(&p, &x, 44100).unwrap();
    let y = load_audio(&p, 16000).unwrap();
    assert_eq!(y.len(), 32000);
    let f = zero_crossing_freq(&y[1000..31000], 16000);
    assert!((f - 1000.0).abs() < 5.0, "zero-crossing frequency {f}");
    let at = dft_mag(&y[1000..31000], 1000.0, 16000);
    let off = dft_mag(&y[1000..31000], 1500.0, 16000);
    assert!((at - 0.5).abs() < 0.02 && off < 0.01, "bin 1000 Hz {at}, 1500 Hz {off}");
    // The start is aligned (delay compensated, up to a fraction of a sample).
    let best = [-0.5f32, -0.25, 0.0, 0.25, 0.5].iter().map(|&shift| {
        (0..200).map(|i| {
            let t = (i as f32 + 500.0 + shift) / 16000.0;
            (y[i + 500] - 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()).abs()
        }).fold(0.0f32, f32::max)
    }).fold(f32::MAX, f32::min);
    assert!(best < 0.02, "alignment error {best}");
}

#[test]
fn every_field_recording_loads() {
    let dir = data_root().join("field");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let y = load_audio(&p, 16000).unwrap_or_else(|e| panic!("{e}"));
        assert!(y.len() > 16000 / 10, "{}: only {} samples", p.display(), y.len());
        assert!(y.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
        assert!(rms(&y) > 1e-4, "{}: silent?", p.display());
        n += 1;
    }
    assert_eq!(n, 10, "expected the 10 field recordings in {}", dir.display());
}

#[test]
fn real_sets_load_at_16k_with_the_right_duration() {
    let root = data_root();
    // (file, expected duration in seconds from the source's own header)
    let cases = [
        (root.join("fsdd/recordings/0_george_0.wav"), None),
        (root.join("esc10/001 - Dog bark/1-100032-A.ogg"), Some(5.0)),
        (root.join("urbansound8k/fold1/101415-3-0-2.flac"), Some(4.0)),
    ];
    for (p, secs) in cases {
        let secs = secs.unwrap_or_else(|| {
            let r = hound::WavReader::open(&p).unwrap();
            r.duration() as f32 / r.spec().sample_rate as f32
        });
        let y = load_audio(&p, 16000).unwrap_or_else(|e| panic!("{e}"));
        let got = y.len() as f32 / 16000.0;
        assert!((got - secs).abs() <= secs * 0.01, "{}: {got} s, expected {secs} s", p.display());
    }
}

// ---------------------------------------------------------------------------------------------
// Layouts

fn tone_file(path: &Path, freq: f32, secs: f32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_wav(path, &sine(freq, 8000, secs, 0.5), 8000).unwrap();
}

#[test]
fn folders_layout_recurses_and_filters_extensions() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    tone_file(&r.join("dog/a.wav"), 300.0, 0.3);
    tone_file(&r.join("dog/sub/deeper/b.WAV"), 300.0, 0.3);
    tone_file(&r.join("cat/c.wav"), 600.0, 0.3);
    std::fs::write(r.join("cat/notes.txt"), "not audio").unwrap();
    std::fs::write(r.join("README.md"), "top-level file is ignored").unwrap();
    let ds = Dataset::open(r, &DatasetOptions::default()).unwrap();
    assert_eq!(ds.labels, vec!["cat", "dog"]);
    assert_eq!(ds.items.len(), 3);
    let dogs = ds.items.iter().filter(|i| ds.labels[i.label] == "dog").count();
    assert_eq!(dogs, 2);
    assert!(ds.items.iter().all(|i| i.weight == 1.0 && i.fold.is_none()));
    assert!(ds.skipped.is_empty(), "{:?}", ds.skipped);
}

#[test]
fn csv_manifest_with_quoted_names_folds_and_splits() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    tone_file(&r.join("audio/dog, barking loud.wav"), 300.0, 0.2);
    tone_file(&r.join("audio/a cat.wav"), 600.0, 0.2);
    tone_file(&r.join("audio/bird \"tweet\".wav"), 900.0, 0.2);
    let csv = r.join("list.csv");
    std::fs::write(
        &csv,
        "fname,label,fold,split,extra\n\
         \"audio/dog, barking loud.wav\",dog,1,train,x\n\
         \"audio/a cat.wav\",cat,2,test,\"y, z\"\n\
         \"audio/bird \"\"tweet\"\".wav\",bird,1,train,\n",
    )
    .unwrap();
    let ds = Dataset::open(&csv, &DatasetOptions::default()).unwrap();
    assert_eq!(ds.labels, vec!["bird", "cat", "dog"]);
    assert_eq!(ds.items.len(), 3, "skipped: {:?}", ds.skipped);
    assert!(ds.items[0].path.ends_with("audio/dog, barking loud.wav"));
    assert!(ds.items[0].path.is_file());
    assert_eq!(ds.items[1].fold, Some(2));
    assert_eq!(ds.items[1].split.as_deref(), Some("test"));
    assert!(ds.items[2].path.ends_with("audio/bird \"tweet\".wav"));
    // The real ESC-10 manifest (quoted names with spaces) reads completely.
    let esc = Dataset::open(&data_root().join("esc10/manifest.csv"), &DatasetOptions::default()).unwrap();
    assert_eq!((esc.items.len(), esc.labels.len(), esc.skipped.len()), (320, 10, 0));
}

#[test]
fn selection_semantics() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let mut rows = String::from("fname,label,fold,split\n");
    for i in 0..6 {
        tone_file(&r.join(format!("{i}.wav")), 300.0, 0.1);
        rows += &format!("{i}.wav,{},{},{}\n", if i % 2 == 0 { "a" } else { "b" }, i % 3 + 1, if i < 2 { "test" } else { "train" });
    }
    std::fs::write(r.join("m.csv"), rows).unwrap();
    let ds = Dataset::open(&r.join("m.csv"), &DatasetOptions::default()).unwrap();
    assert_eq!(ds.select(&Selection::All), ((0..6).collect(), vec![]));
    assert_eq!(ds.select(&Selection::ValFold(2)), (vec![0, 2, 3, 5], vec![1, 4]));
    assert_eq!(ds.select(&Selection::ValSplit("test".into())), (vec![2, 3, 4, 5], vec![0, 1]));
    assert_eq!(ds.select(&Selection::ValFold(9)).1, Vec::<usize>::new());
}

fn fsdkaggle_tree(r: &Path) {
    for f in ["a.wav", "b.wav", "c.wav"] {
        tone_file(&r.join("audio_train").join(f), 440.0, 0.2);
    }
    tone_file(&r.join("audio_test/t1.wav"), 440.0, 0.2);
    tone_file(&r.join("audio_test/t2.wav"), 440.0, 0.2);
    std::fs::write(
        r.join("train.csv"),
        "fname,label,manually_verified\na.wav,Bark,1\nb.wav,Meow,0\nc.wav,Bark,0\nmissing.wav,Bark,1\n",
    )
    .unwrap();
    std::fs::write(
        r.join("test_post_competition_scoring_clips.csv"),
        "fname,label,usage,freesound_id,license\nt1.wav,Meow,Public,1,CC0\nt2.wav,Bark,Private,2,\"Attribution, 3.0\"\n",
    )
    .unwrap();
}

#[test]
fn fsdkaggle_layout_verified_only_and_weights() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    fsdkaggle_tree(r);
    let opts = DatasetOptions { unverified_weight: 0.3, ..Default::default() };
    let ds = Dataset::open(r, &opts).unwrap();
    assert_eq!(ds.labels, vec!["Bark", "Meow"]);
    assert_eq!(ds.items.len(), 5);
    let w: Vec<(String, f32, String)> = ds
        .items
        .iter()
        .map(|i| (i.path.file_name().unwrap().to_string_lossy().into_owned(), i.weight, i.split.clone().unwrap()))
        .collect();
    assert_eq!(w[0], ("a.wav".into(), 1.0, "train".into()));
    assert_eq!(w[1], ("b.wav".into(), 0.3, "train".into()));
    assert_eq!(w[3], ("t1.wav".into(), 1.0, "test".into()));
    assert!(ds.items[0].path.starts_with(r.join("audio_train")));
    assert!(ds.items[3].path.starts_with(r.join("audio_test")));
    assert_eq!(ds.skipped.len(), 1);
    assert!(ds.skipped[0].to_string().contains("missing.wav") && ds.skipped[0].reason.contains("not found"));
    let (train, val) = ds.select(&Selection::ValSplit("test".into()));
    assert_eq!((train.len(), val.len()), (3, 2));

    let v = Dataset::open(r, &DatasetOptions { verified_only: true, ..Default::default() }).unwrap();
    let names: Vec<_> = v.items.iter().map(|i| i.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["a.wav", "t1.wav", "t2.wav"]);
    // Given train.csv itself: only the training rows.
    let t = Dataset::open(&r.join("train.csv"), &DatasetOptions::default()).unwrap();
    assert_eq!(t.items.len(), 3);
    assert!(t.items.iter().all(|i| i.split.as_deref() == Some("train")));
}

#[test]
fn fixed_label_list_keeps_order_and_rejects_others() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    tone_file(&r.join("zebra/a.wav"), 300.0, 0.1);
    tone_file(&r.join("ant/b.wav"), 300.0, 0.1);
    tone_file(&r.join("cow/c.wav"), 300.0, 0.1);
    let opts = DatasetOptions { labels: Some(vec!["zebra".into(), "ant".into()]), ..Default::default() };
    let ds = Dataset::open(r, &opts).unwrap();
    assert_eq!(ds.labels, vec!["zebra", "ant"]);
    assert_eq!(ds.items.len(), 2);
    assert_eq!(ds.items.iter().find(|i| i.path.ends_with("zebra/a.wav")).unwrap().label, 0);
    assert_eq!(ds.skipped.len(), 1);
    assert!(ds.skipped[0].to_string().contains("cow/c.wav") && ds.skipped[0].reason.contains("'cow'"));
}

// ---------------------------------------------------------------------------------------------
// Bad input: each a clear message naming the file

fn expect_err(p: &Path, needle: &str) {
    match load_audio(p, 16000) {
        Ok(x) => panic!("{}: loaded {} samples, expected an error containing '{needle}'", p.display(), x.len()),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(&p.display().to_string()), "message does not name the file: {msg}");
            assert!(msg.contains(needle), "expected '{needle}' in: {msg}");
        }
    }
}

#[test]
fn bad_files_give_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let empty = r.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    expect_err(&empty, "empty file");

    let good = r.join("good.wav");
    write_wav(&good, &sine(440.0, 16000, 1.0, 0.5), 16000).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let trunc = r.join("truncated.wav");
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    expect_err(&trunc, "truncated");
    let trunc_hdr = r.join("truncated_header.wav");
    std::fs::write(&trunc_hdr, &bytes[..30]).unwrap();
    expect_err(&trunc_hdr, "truncated");

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let random = r.join("random.wav");
    std::fs::write(&random, (0..4096).map(|_| rng.random::<u8>()).collect::<Vec<u8>>()).unwrap();
    expect_err(&random, "not an audio file");

    let text = r.join("notes.mp3");
    std::fs::write(&text, "this is a text file, not audio at all\n".repeat(20)).unwrap();
    expect_err(&text, "not an audio file");

    let zero = r.join("zero.wav");
    write_wav(&zero, &[], 16000).unwrap();
    expect_err(&zero, "zero-length audio");

    let silent = r.join("silent.wav");
    write_wav(&silent, &vec![0.0; 8000], 16000).unwrap();
    expect_err(&silent, "all-silent audio");

    for (name, bad) in [("nan.wav", f32::NAN), ("inf.wav", f32::INFINITY)] {
        let p = r.join(name);
        let spec = hound::WavSpec { channels: 1, sample_rate: 16000, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        for i in 0..1000 {
            w.write_sample(if i == 500 { bad } else { 0.1f32 }).unwrap();
        }
        w.finalize().unwrap();
        expect_err(&p, "NaN/inf");
    }

    expect_err(&r.join("does-not-exist.wav"), "cannot read: file not found");
    expect_err(r, "cannot read: is a directory");
}

#[cfg(unix)]
#[test]
fn unreadable_file_names_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("locked.wav");
    write_wav(&p, &sine(440.0, 8000, 0.2, 0.5), 8000).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&p).is_ok() {
        // Running as root: permissions do not stop reads. A dangling symlink still cannot be
        // read and must say so.
        let link = d.path().join("dangling.wav");
        std::os::unix::fs::symlink(d.path().join("gone.wav"), &link).unwrap();
        expect_err(&link, "cannot read");
    } else {
        expect_err(&p, "cannot read: permission denied");
    }
}

#[cfg(unix)]
#[test]
fn symlink_loop_in_class_folder_is_a_problem_not_a_hang() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    tone_file(&r.join("dog/a.wav"), 300.0, 0.1);
    tone_file(&r.join("cat/b.wav"), 300.0, 0.1);
    std::os::unix::fs::symlink(r.join("dog"), r.join("dog/again")).unwrap();
    std::os::unix::fs::symlink(r.join("cat/self.wav"), r.join("cat/self.wav.tmp")).unwrap();
    std::os::unix::fs::symlink("self.wav", r.join("cat/self.wav")).unwrap();
    let ds = Dataset::open(r, &DatasetOptions::default()).unwrap();
    assert_eq!(ds.items.len(), 2, "{:?}", ds.items);
    let msgs: Vec<String> = ds.skipped.iter().map(|p| p.to_string()).collect();
    assert!(msgs.iter().any(|m| m.contains("dog/again") && m.contains("symlink loop")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("cat/self.wav") && m.contains("symlink loop")), "{msgs:?}");
}

#[test]
fn manifest_problems_and_errors() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    tone_file(&r.join("a.wav"), 300.0, 0.1);
    tone_file(&r.join("b.wav"), 300.0, 0.1);
    std::fs::write(r.join("m.csv"), "fname,label\na.wav,dog\nb.wav,\nghost.wav,cat\n").unwrap();
    let ds = Dataset::open(&r.join("m.csv"), &DatasetOptions::default()).unwrap();
    assert_eq!(ds.items.len(), 1);
    assert_eq!(ds.labels, vec!["dog"]);
    let msgs: Vec<String> = ds.skipped.iter().map(|p| p.to_string()).collect();
    assert!(msgs.iter().any(|m| m.contains("b.wav") && m.contains("empty label")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("ghost.wav") && m.contains("file not found")), "{msgs:?}");

    std::fs::write(r.join("bad.csv"), "file_name,class_name\na.wav,dog\n").unwrap();
    let e = Dataset::open(&r.join("bad.csv"), &DatasetOptions::default()).unwrap_err().to_string();
    assert!(e.contains("bad.csv") && e.contains("`fname`") && e.contains("`label`") && e.contains("header row"), "{e}");

    let e = Dataset::open(&r.join("nowhere"), &DatasetOptions::default()).unwrap_err().to_string();
    assert!(e.contains("nowhere") && e.contains("does not exist") && e.contains("pass a folder"), "{e}");
}

#[test]
fn mangled_bytes_never_panic() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let wav = r.join("base.wav");
    write_wav(&wav, &sine(440.0, 16000, 0.5, 0.5), 16000).unwrap();
    let flac = data_root().join("field/bd_haus.flac");
    let ogg = data_root().join("field/bell.oga");
    let mp3 = data_root().join("field/sheep.mp3");
    let mut rng = rand::rngs::StdRng::seed_from_u64(1234);
    let mut n = 0;
    for (base, ext) in [(wav, "wav"), (flac, "flac"), (ogg, "oga"), (mp3, "mp3")] {
        let bytes = std::fs::read(&base).unwrap();
        for trial in 0..40 {
            let mut b = bytes.clone();
            match trial % 4 {
                0 => b.truncate(rng.random_range(0..b.len())),
                1 => {
                    for _ in 0..rng.random_range(1..20) {
                        let i = rng.random_range(0..b.len().min(4096));
                        b[i] ^= 1 << rng.random_range(0..8);
                    }
                }
                2 => {
                    for _ in 0..rng.random_range(1..200) {
                        let i = rng.random_range(0..b.len());
                        b[i] = rng.random();
                    }
                }
                _ => {
                    b = (0..rng.random_range(1..3000)).map(|_| rng.random::<u8>()).collect();
                    if rng.random::<bool>() {
                        let magic: &[u8] = match ext { "wav" => b"RIFF", "flac" => b"fLaC", "oga" => b"OggS", _ => b"ID3\x03" };
                        let m = magic.len().min(b.len());
                        b[..m].copy_from_slice(&magic[..m]);
                    }
                }
            }
            let p = r.join(format!("m{trial}.{ext}"));
            std::fs::write(&p, &b).unwrap();
            let res = std::panic::catch_unwind(|| load_audio(&p, 16000));
            let res = res.unwrap_or_else(|_| panic!("load_audio panicked on {}", p.display()));
            if let Ok(x) = res {
                assert!(x.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
            } else if let Err(e) = res {
                assert!(e.to_string().starts_with(&p.display().to_string()), "{e}");
            }
            n += 1;
        }
    }
    assert_eq!(n, 160);
}

// ---------------------------------------------------------------------------------------------
// Streaming windows

#[test]
fn streaming_windows_match_slicing_load_audio() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("long.wav");
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    // 60 s at 44.1 kHz: a chirp-ish sum of tones plus a little noise.
    let n = 44100 * 60;
    let x: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / 44100.0;
            0.3 * (2.0 * std::f32::consts::PI * (200.0 + 20.0 * t) * t).sin() + 0.05 * (rng.random::<f32>() - 0.5)
        })
        .collect();
    write_wav(&p, &x, 44100).unwrap();
    let full = load_audio(&p, 16000).unwrap();
    assert_eq!(full.len(), 16000 * 60);
    let streamed: Vec<f32> = open_stream(&p, 16000).unwrap().flat_map(|c| c.unwrap()).collect();
    assert_eq!(streamed, full, "stream concatenation differs from load_audio");
    for (win, hop) in [(16000usize, 8000usize), (24000, 24000), (10000, 15000)] {
        let ws: Vec<Vec<f32>> = windows(&p, 16000, win, hop).unwrap().map(|w| w.unwrap()).collect();
        assert_eq!(ws.len(), window_count(full.len(), win, hop), "win {win} hop {hop}");
        for (k, w) in ws.iter().enumerate() {
            assert_eq!(w.len(), win);
            let s = k * hop;
            let e = (s + win).min(full.len());
            let max_err = w[..e - s].iter().zip(&full[s..e]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(max_err < 1e-4, "window {k}: error {max_err}");
            assert!(w[e - s..].iter().all(|v| *v == 0.0), "window {k}: padding not zero");
        }
        let last = ws.len() - 1;
        assert!(last * hop < full.len());
        assert!(last * hop + win >= full.len() || hop > win);
    }
    assert_eq!(window_count(960000, 16000, 8000), 119);
    // A file shorter than the window gives one zero-padded window.
    let short = d.path().join("short.wav");
    write_wav(&short, &sine(440.0, 16000, 0.25, 0.5), 16000).unwrap();
    let ws: Vec<Vec<f32>> = windows(&short, 16000, 16000, 8000).unwrap().map(|w| w.unwrap()).collect();
    assert_eq!(ws.len(), 1);
    assert!(ws[0][4000..].iter().all(|v| *v == 0.0) && ws[0][..4000].iter().any(|v| *v != 0.0));
    // Errors come through the iterator, not as a panic.
    let trunc = d.path().join("trunc.wav");
    let b = std::fs::read(&short).unwrap();
    std::fs::write(&trunc, &b[..b.len() - 1000]).unwrap();
    let res: Vec<_> = windows(&trunc, 16000, 1000, 1000).unwrap().collect();
    assert!(res.last().unwrap().as_ref().is_err_and(|e| e.to_string().contains("truncated")));
}
