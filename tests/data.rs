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

/// A minimal 16-bit big-endian AIFF (FORM/COMM/SSND) written by hand.
fn write_aiff(path: &Path, x: &[f32], sr: u32, channels: u16) {
    let frames = x.len() as u32;
    let mut ssnd = vec![0u8; 8];
    for &s in x {
        for _ in 0..channels {
            ssnd.extend_from_slice(&((s * 32767.0) as i16).to_be_bytes());
        }
    }
    // 80-bit extended sample rate.
    let mut rate = [0u8; 10];
    let e = 31 - sr.leading_zeros();
    rate[..2].copy_from_slice(&((16383 + e) as u16).to_be_bytes());
    rate[2..10].copy_from_slice(&((sr as u64) << (63 - e)).to_be_bytes());
    let mut comm = Vec::new();
    comm.extend_from_slice(&channels.to_be_bytes());
    comm.extend_from_slice(&frames.to_be_bytes());
    comm.extend_from_slice(&16u16.to_be_bytes());
    comm.extend_from_slice(&rate);
    let mut body = b"AIFF".to_vec();
    body.extend_from_slice(b"COMM");
    body.extend_from_slice(&(comm.len() as u32).to_be_bytes());
    body.extend_from_slice(&comm);
    body.extend_from_slice(b"SSND");
    body.extend_from_slice(&(ssnd.len() as u32).to_be_bytes());
    body.extend_from_slice(&ssnd);
    let mut f = b"FORM".to_vec();
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(&body);
    std::fs::write(path, f).unwrap();
}

#[test]
fn aiff_loads() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tone.aiff");
    let x = sine(440.0, 22050, 0.5, 0.5);
    write_aiff(&p, &x, 22050, 2);
    let y = load_audio(&p, 16000).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(y.len(), 8000);
    let f = zero_crossing_freq(&y[500..7500], 16000);
    assert!((f - 440.0).abs() < 3.0, "{f} Hz");
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
    // Durations against the headers (FLAC STREAMINFO frames; MP3 from size at 320 kbit/s,
    // horse.mp3 having a broken ID3 header over its first frame).
    for (name, secs, tol) in [
        ("ambi_glass_hum.flac", 441000.0 / 44100.0, 0.001),
        ("bd_haus.flac", 9699.0 / 44100.0, 0.001),
        ("horse.mp3", 126848.0 * 8.0 / 320000.0, 0.05),
        ("cow.mp3", 241022.0 * 8.0 / 320000.0, 0.05),
    ] {
        let y = load_audio(&dir.join(name), 16000).unwrap();
        let got = y.len() as f64 / 16000.0;
        assert!((got - secs).abs() <= secs * tol, "{name}: {got} s, expected {secs} s");
    }
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
    // `split` makes an empty validation part an error that lists what exists.
    assert_eq!(ds.split(&Selection::ValFold(2)).unwrap(), (vec![0, 2, 3, 5], vec![1, 4]));
    let e = ds.split(&Selection::ValFold(9)).unwrap_err();
    assert_eq!(e.to_string(), "no clip is in fold 9; the folds are 1, 2, 3");
    let e = ds.split(&Selection::ValSplit("dev".into())).unwrap_err();
    assert_eq!(e.to_string(), "no clip is in split 'dev'; the splits are 'test', 'train'");
    assert_eq!(ds.split(&Selection::All).unwrap(), ((0..6).collect(), vec![]));
}

#[test]
fn a_folder_layout_has_no_folds_or_splits_and_val_fraction_is_stratified_and_seeded() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    // Class a: 10 clips, b: 5, c: 1.
    for (class, n) in [("a", 10), ("b", 5), ("c", 1)] {
        for i in 0..n {
            tone_file(&r.join(class).join(format!("{i}.wav")), 300.0, 0.05);
        }
    }
    let ds = Dataset::open(r, &DatasetOptions::default()).unwrap();
    assert_eq!(ds.items.len(), 16);
    let e = ds.split(&Selection::ValFold(1)).unwrap_err();
    assert!(matches!(e, SelectError::NoFolds) && e.to_string().contains("--val-fraction"), "{e}");
    let e = ds.split(&Selection::ValSplit("test".into())).unwrap_err();
    assert!(matches!(e, SelectError::NoSplits) && e.to_string().contains("--val-fraction"), "{e}");

    let sel = |seed| Selection::ValFraction { fraction: 0.2, seed };
    let (train, val) = ds.split(&sel(3)).unwrap();
    let per_class = |idx: &[usize]| {
        let mut c = [0; 3];
        idx.iter().for_each(|&i| c[ds.items[i].label] += 1);
        c
    };
    // round(0.2 * 10) = 2, round(0.2 * 5) = 1, a class of one clip stays in training.
    assert_eq!(per_class(&val), [2, 1, 0]);
    assert_eq!(per_class(&train), [8, 4, 1]);
    let mut all: Vec<usize> = train.iter().chain(&val).copied().collect();
    all.sort();
    assert_eq!(all, (0..16).collect::<Vec<_>>(), "a partition");
    assert_eq!(ds.split(&sel(3)).unwrap(), (train.clone(), val.clone()), "same seed, same split");
    let others: Vec<Vec<usize>> = (4..10).map(|s| ds.split(&sel(s)).unwrap().1).collect();
    assert!(others.iter().any(|v| *v != val), "the seed changes which clips are held out");
    // A tiny fraction still holds out one clip of each class that has two or more.
    assert_eq!(per_class(&ds.split(&Selection::ValFraction { fraction: 0.01, seed: 0 }).unwrap().1), [1, 1, 0]);
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

// ---------------------------------------------------------------------------------------------
// Augmentations

use wavnet::data::augment::{self as aug, Biquad, FilterKind};

fn db(p: f64) -> f64 {
    10.0 * p.log10()
}

#[test]
fn gain_polarity_shift_are_exact() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let x = sine(440.0, 16000, 0.5, 0.25);
    for _ in 0..20 {
        let mut y = x.clone();
        let g = aug::random_gain(&mut y, &mut rng, Range::new(-6.0, 6.0));
        assert!((-6.0..=6.0).contains(&g));
        let measured = db(aug::power(&y) / aug::power(&x));
        assert!((measured - g as f64).abs() < 1e-3, "asked {g} dB, measured {measured}");
        assert_eq!(y.len(), x.len());
    }
    let mut y = x.clone();
    aug::invert_polarity(&mut y);
    assert!(x.iter().zip(&y).all(|(a, b)| *a == -*b));
    let mut y = x.clone();
    aug::time_shift(&mut y, 100);
    assert_eq!(&y[100..], &x[..x.len() - 100]);
    assert!(y[..100].iter().all(|v| *v == 0.0));
    let mut y = x.clone();
    aug::time_shift(&mut y, -100);
    assert_eq!(&y[..x.len() - 100], &x[100..]);
    let mut y = x.clone();
    let n = aug::random_shift(&mut y, &mut rng, 0.1);
    assert!(n.unsigned_abs() <= x.len() / 10);
    assert_eq!(y.len(), x.len());
}

#[test]
fn noise_is_added_at_the_requested_snr() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let x = sine(440.0, 16000, 1.0, 0.3);
    for color in [NoiseColor::White, NoiseColor::Pink, NoiseColor::Brown] {
        for snr in [0.0f32, 10.0, 30.0] {
            let mut y = x.clone();
            aug::add_noise(&mut y, &mut rng, color, snr);
            let noise: Vec<f32> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
            let measured = db(aug::power(&x) / aug::power(&noise));
            assert!((measured - snr as f64).abs() < 0.05, "{color:?}: asked {snr} dB, measured {measured}");
        }
    }
    // Colours differ in spectral tilt: low/high band energy ratio white < pink < brown.
    let mut tilt = |c| {
        let n = aug::make_noise(c, 32000, &mut rng);
        let lo: f32 = (1..20).map(|k| dft_mag(&n, 50.0 * k as f32, 16000).powi(2)).sum();
        let hi: f32 = (1..20).map(|k| dft_mag(&n, 5000.0 + 50.0 * k as f32, 16000).powi(2)).sum();
        lo / hi
    };
    let (w, p, b) = (tilt(NoiseColor::White), tilt(NoiseColor::Pink), tilt(NoiseColor::Brown));
    assert!(w < 3.0 && p > 5.0 * w && b > 5.0 * p, "tilts white {w}, pink {p}, brown {b}");
}

#[test]
fn background_mix_and_configured_snr_range() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let x = sine(440.0, 16000, 1.0, 0.3);
    let bg = sine(1234.0, 16000, 0.3, 0.8); // shorter: repeated
    let mut y = x.clone();
    assert!(aug::mix_at_snr(&mut y, &bg, 6.0));
    let added: Vec<f32> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
    assert!((db(aug::power(&x) / aug::power(&added)) - 6.0).abs() < 0.05);
    // Through augment_clip with only background on, SNRs land in the range.
    let mut cfg = AugmentConfig::none();
    cfg.background = Some(aug::ProbRange { p: 1.0, range: Range::new(5.0, 15.0) });
    for _ in 0..20 {
        let mut y = x.clone();
        aug::augment_clip(&mut y, &mut rng, &cfg, 16000, Some(&bg));
        let added: Vec<f32> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
        let snr = db(aug::power(&x) / aug::power(&added));
        assert!((4.95..=15.05).contains(&snr), "snr {snr}");
    }
}

#[test]
fn mixup_targets_sum_to_the_mixed_weights() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let (rows, len, k) = (8, 100, 4);
    let mut x: Vec<f32> = (0..rows * len).map(|i| (i / len) as f32).collect();
    let mut y = vec![0f32; rows * k];
    let weights: Vec<f32> = (0..rows).map(|r| if r % 2 == 0 { 1.0 } else { 0.5 }).collect();
    for r in 0..rows {
        y[r * k + r % k] = weights[r];
    }
    let used = aug::mixup(&mut x, &mut y, rows, &mut rng, 0.4, 1.0);
    let mut mixed = 0;
    for (r, &(j, lam)) in used.iter().enumerate() {
        assert!((0.5..=1.0).contains(&lam));
        let s: f32 = y[r * k..(r + 1) * k].iter().sum();
        let want = lam * weights[r] + (1.0 - lam) * weights[j];
        assert!((s - want).abs() < 1e-5, "row {r}: targets sum {s}, expected {want}");
        let xv = lam * r as f32 + (1.0 - lam) * j as f32;
        assert!(x[r * len..(r + 1) * len].iter().all(|v| (v - xv).abs() < 1e-4));
        if j != r && lam < 1.0 {
            mixed += 1;
        }
    }
    assert!(mixed >= 4, "mixup mixed only {mixed} of {rows} rows");
    for _ in 0..200 {
        let l = aug::beta_sample(&mut rng, 0.2);
        assert!((0.0..=1.0).contains(&l));
    }
}

#[test]
fn eq_filters_attenuate_their_stop_bands() {
    let sr = 16000;
    let lo = sine(200.0, sr, 1.0, 0.5);
    let hi = sine(5000.0, sr, 1.0, 0.5);
    let gain = |b: Biquad, x: &[f32]| {
        let mut y = x.to_vec();
        b.apply(&mut y);
        db(aug::power(&y[4000..]) / aug::power(&x[4000..]))
    };
    let lp = Biquad::design(FilterKind::LowPass, sr, 1000.0, 0.707, 0.0);
    assert!(gain(lp, &lo).abs() < 0.5 && gain(lp, &hi) < -25.0);
    let hp = Biquad::design(FilterKind::HighPass, sr, 1000.0, 0.707, 0.0);
    assert!(gain(hp, &hi).abs() < 0.5 && gain(hp, &lo) < -25.0);
    let bp = Biquad::design(FilterKind::BandPass, sr, 1000.0, 2.0, 0.0);
    let mid = sine(1000.0, sr, 1.0, 0.5);
    assert!(gain(bp, &mid).abs() < 0.5 && gain(bp, &lo) < -10.0 && gain(bp, &hi) < -10.0);
    let pk = Biquad::design(FilterKind::Peaking, sr, 1000.0, 1.0, -12.0);
    assert!((gain(pk, &mid) + 12.0).abs() < 0.5 && gain(pk, &hi).abs() < 1.0);
}

#[test]
fn reverb_speed_and_masks() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let sr = 16000;
    // Reverb: an impulse becomes an exponentially decaying tail; length and RMS preserved.
    let ir = aug::synthetic_ir(&mut rng, sr, 0.5);
    assert_eq!(ir.len(), 8000);
    let e1 = aug::power(&ir[800..1600]);
    let e2 = aug::power(&ir[4800..5600]);
    let decay = db(e1 / e2); // 0.25 s apart -> about 30 dB for RT60 0.5 s
    assert!((decay - 30.0).abs() < 6.0, "decay over 0.25 s: {decay} dB");
    let mut x = vec![0f32; 16000];
    x[1000] = 1.0;
    let x0 = x.clone();
    aug::reverb(&mut x, &mut rng, sr, 0.5, 0.5);
    assert_eq!(x.len(), x0.len());
    assert!((aug::power(&x) - aug::power(&x0)).abs() < 1e-6 * aug::power(&x0).max(1e-12) + 1e-9);
    assert!(x[..1000].iter().all(|v| v.abs() < 1e-5), "reverb before the onset");
    assert!(x[3000..4000].iter().any(|v| v.abs() > 1e-5), "no tail");
    // FFT convolution equals direct convolution.
    let a: Vec<f32> = (0..3000).map(|_| rng.random::<f32>() - 0.5).collect();
    let h: Vec<f32> = (0..100).map(|_| rng.random::<f32>() - 0.5).collect();
    let fast = aug::convolve_same(&a, &h);
    for i in [0usize, 50, 99, 1500, 2999] {
        let direct: f32 = (0..=i.min(99)).map(|j| h[j] * a[i - j]).sum();
        assert!((fast[i] - direct).abs() < 1e-4, "{i}: {} vs {direct}", fast[i]);
    }
    // Speed: 1.25× faster is 1/1.25 as long and the tone 1.25× higher.
    let s = sine(400.0, sr, 1.0, 0.5);
    let f = aug::speed(&s, 1.25);
    assert_eq!(f.len(), 12800);
    let zc = zero_crossing_freq(&f[1000..11000], sr);
    assert!((zc - 500.0).abs() < 5.0, "speed 1.25: {zc} Hz");
    // Time mask zeros at most max_masks spans of at most max_fraction each.
    let mut y = vec![1f32; 10000];
    aug::time_mask(&mut y, &mut rng, 2, 0.1);
    let zeros = y.iter().filter(|v| **v == 0.0).count();
    assert!((1..=2000).contains(&zeros), "{zeros} zeros");
}

#[test]
fn augment_config_json_and_spec() {
    let d = AugmentConfig::default();
    let json = serde_json::to_string(&d).unwrap();
    let back: AugmentConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
    let partial: AugmentConfig = serde_json::from_str(r#"{"mixup": {"p": 1.0, "alpha": 0.2}, "noise": null}"#).unwrap();
    assert_eq!(partial.mixup.as_ref().unwrap().alpha, 0.2);
    assert!(partial.noise.is_none() && partial.speed.is_some() && partial.trim, "missing fields take the default");
    assert!(AugmentConfig::none().is_none() && !d.is_none());
    let s = AugmentConfig::parse_spec("gain=-6:6,noise=white+pink:10:30,mixup=0.2,p=0.8,speed=0.9:1.1,mask=2:0.05").unwrap();
    assert_eq!(s.gain_db.as_ref().unwrap().range, Range::new(-6.0, 6.0));
    assert_eq!(s.gain_db.as_ref().unwrap().p, 0.8);
    assert_eq!(s.noise.as_ref().unwrap().colors, vec![NoiseColor::White, NoiseColor::Pink]);
    assert!(s.reverb.is_none() && s.eq.is_none());
    assert_eq!(AugmentConfig::parse_spec("none").unwrap(), AugmentConfig::none());
    let e = AugmentConfig::parse_spec("gain=6:-6").unwrap_err();
    assert!(e.contains("gain"), "{e}");
    assert!(AugmentConfig::parse_spec("wobble=1").unwrap_err().contains("unknown augmentation"));
    // The default set keeps length and finiteness.
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    for _ in 0..20 {
        let mut x = sine(300.0, 16000, 1.0, 0.5);
        aug::augment_clip(&mut x, &mut rng, &d, 16000, None);
        assert_eq!(x.len(), 16000);
        assert!(x.iter().all(|v| v.is_finite()));
    }
}

// ---------------------------------------------------------------------------------------------
// Loader

use std::sync::Arc;

/// A folders dataset of `per_class` clips in each of 3 classes, lengths varying around 1 s at
/// 8 kHz, plus optionally one broken file.
fn loader_dataset(dir: &Path, per_class: usize, broken: bool) -> Arc<Dataset> {
    for (c, f) in [("low", 200.0), ("mid", 800.0), ("high", 2000.0)] {
        for i in 0..per_class {
            tone_file(&dir.join(c).join(format!("{i}.wav")), f, 0.5 + 0.1 * i as f32);
        }
    }
    if broken {
        std::fs::write(dir.join("mid/broken.wav"), b"RIFF....WAVEfmt garbage").unwrap();
    }
    Arc::new(Dataset::open(dir, &DatasetOptions::default()).unwrap())
}

fn cfg(threads: usize, augment: AugmentConfig) -> LoaderConfig {
    LoaderConfig {
        sample_rate: 8000,
        crop: 4000,
        batch: 4,
        seed: 42,
        augment,
        balanced: false,
        pad: PadMode::Zeros,
        threads: Some(threads),
        cache_bytes: 64 << 20,
        disk_cache: None,
        loss: wavnet::model::Loss::Softmax,
    }
}

#[test]
fn training_batches_are_deterministic_whatever_the_thread_count() {
    let d = tempfile::tempdir().unwrap();
    let ds = loader_dataset(d.path(), 5, false);
    let all: Vec<usize> = (0..ds.items.len()).collect();
    let augment = AugmentConfig {
        mixup: Some(aug::MixupConfig { p: 1.0, alpha: 0.4 }),
        background: Some(aug::ProbRange { p: 0.5, range: Range::new(5.0, 20.0) }),
        ..Default::default()
    };
    let run = |threads| {
        let l = Loader::new(ds.clone(), cfg(threads, augment.clone()));
        (0..2).flat_map(|e| l.train_epoch(&all, e).collect::<Vec<_>>()).collect::<Vec<Batch>>()
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a.len(), 2 * (15 / 4));
    assert_eq!(a, b, "1 and 2 threads disagree");
    for batch in &a {
        assert_eq!(batch.x.len(), 4 * 4000);
        assert_eq!(batch.y.len(), 4 * 3);
        assert_eq!((batch.rows, batch.items.len()), (4, 4));
        for r in 0..4 {
            let s: f32 = batch.y[r * 3..(r + 1) * 3].iter().sum();
            assert!((s - 1.0).abs() < 1e-5, "targets sum {s}");
        }
    }
    // Different epochs and seeds differ.
    assert_ne!(a[0].x, a[3].x);
    let mut c2 = cfg(2, augment.clone());
    c2.seed = 43;
    let other: Vec<Batch> = Loader::new(ds.clone(), c2).train_epoch(&all, 0).collect();
    assert_ne!(other[0].x, a[0].x);
    // Each epoch visits every clip at most once (shuffled, no replacement).
    let plain = Loader::new(ds.clone(), cfg(2, AugmentConfig::none()));
    let mut seen: Vec<usize> = plain.train_epoch(&all, 0).flat_map(|b| b.items).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 12);
}

#[test]
fn balanced_sampling_evens_out_classes() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..20 {
        tone_file(&d.path().join(format!("many/{i}.wav")), 300.0, 0.2);
    }
    tone_file(&d.path().join("few/0.wav"), 900.0, 0.2);
    tone_file(&d.path().join("few/1.wav"), 900.0, 0.2);
    let ds = Arc::new(Dataset::open(d.path(), &DatasetOptions::default()).unwrap());
    let all: Vec<usize> = (0..ds.items.len()).collect();
    let mut c = cfg(2, AugmentConfig::none());
    c.balanced = true;
    c.crop = 800;
    let l = Loader::new(ds.clone(), c);
    let few = ds.labels.iter().position(|s| s == "few").unwrap();
    let mut count = [0usize; 2];
    for e in 0..10 {
        for b in l.train_epoch(&all, e) {
            for &i in &b.items {
                count[(ds.items[i].label == few) as usize] += 1;
            }
        }
    }
    let frac = count[1] as f32 / (count[0] + count[1]) as f32;
    assert!((0.35..0.65).contains(&frac), "balanced fraction of the rare class {frac}");
}

#[test]
fn eval_pass_centre_crops_and_partial_last_batch() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    // A ramp (to locate the crop) and a short clip (to check centring).
    let ramp: Vec<f32> = (0..8000).map(|i| i as f32 / 8000.0).collect();
    std::fs::create_dir_all(r.join("a")).unwrap();
    std::fs::create_dir_all(r.join("b")).unwrap();
    write_wav(&r.join("a/ramp.wav"), &ramp, 8000).unwrap();
    write_wav(&r.join("b/short.wav"), &vec![0.5; 1000], 8000).unwrap();
    for i in 0..3 {
        tone_file(&r.join(format!("b/t{i}.wav")), 500.0, 0.6);
    }
    let ds = Arc::new(Dataset::open(r, &DatasetOptions::default()).unwrap());
    let idx: Vec<usize> = (0..ds.items.len()).collect();
    let l = Loader::new(ds.clone(), cfg(2, AugmentConfig::default())); // augment is ignored in eval
    let batches: Vec<Batch> = l.eval_pass(&idx).collect();
    assert_eq!(batches.len(), 2);
    assert_eq!((batches[0].rows, batches[1].rows), (4, 1));
    assert_eq!(batches[1].x.len(), 4 * 4000);
    assert!(batches[1].x[4000..].iter().all(|v| *v == 0.0) && batches[1].y[3..].iter().all(|v| *v == 0.0));
    let all_items: Vec<usize> = batches.iter().flat_map(|b| b.items.clone()).collect();
    assert_eq!(all_items, idx);
    let pos = |name: &str| ds.items.iter().position(|i| i.path.ends_with(name)).unwrap();
    let row = |i: usize| {
        let k = all_items.iter().position(|&x| x == i).unwrap();
        batches[k / 4].x[(k % 4) * 4000..(k % 4 + 1) * 4000].to_vec()
    };
    let ramp_row = row(pos("a/ramp.wav"));
    assert!((ramp_row[0] - 2000.0 / 8000.0).abs() < 1e-3, "centre crop starts at {}", ramp_row[0]);
    let short_row = row(pos("b/short.wav"));
    assert!(short_row[..1500].iter().all(|v| *v == 0.0) && short_row[2500..].iter().all(|v| *v == 0.0));
    assert!(short_row[1500..2500].iter().all(|v| (v - 0.5).abs() < 1e-3));
    // Same result twice (deterministic) and the label rows are one-hot.
    assert_eq!(l.eval_pass(&idx).collect::<Vec<_>>(), batches);
}

#[test]
fn failures_are_reported_once_and_skipped() {
    let d = tempfile::tempdir().unwrap();
    let ds = loader_dataset(d.path(), 4, true);
    assert_eq!(ds.items.len(), 13);
    let broken = ds.items.iter().position(|i| i.path.ends_with("mid/broken.wav")).unwrap();
    let all: Vec<usize> = (0..ds.items.len()).collect();
    let l = Loader::new(ds.clone(), cfg(2, AugmentConfig::none()));
    let batches: Vec<Batch> = l.train_epoch(&all, 0).collect();
    assert_eq!(batches.len(), 3, "the epoch ended early");
    for b in &batches {
        assert!(!b.items.contains(&broken));
        assert_eq!(b.rows, 4);
    }
    let _ = l.train_epoch(&all, 1).count();
    let eval: Vec<Batch> = l.eval_pass(&all).collect();
    assert_eq!(eval.iter().map(|b| b.rows).sum::<usize>(), 12);
    let f = l.failures();
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].to_string().contains("broken.wav"), "{}", f[0]);
    let pre = l.preload(&all);
    assert_eq!(pre, f);
}

#[test]
fn cache_hits_on_the_second_epoch_and_disk_cache() {
    let d = tempfile::tempdir().unwrap();
    let ds = loader_dataset(d.path(), 4, false);
    let all: Vec<usize> = (0..ds.items.len()).collect();
    let l = Loader::new(ds.clone(), cfg(2, AugmentConfig::none()));
    let _ = l.train_epoch(&all, 0).count();
    let s1 = l.cache_stats();
    assert_eq!((s1.misses, s1.hits, s1.clips), (12, 0, 12));
    assert!(s1.bytes > 12 * 4000 * 4);
    let _ = l.train_epoch(&all, 1).count();
    let s2 = l.cache_stats();
    assert_eq!((s2.misses, s2.hits), (12, 12));
    // A tiny memory bound keeps the cache under it.
    let mut c = cfg(2, AugmentConfig::none());
    c.cache_bytes = 50_000;
    let small = Loader::new(ds.clone(), c);
    let _ = small.train_epoch(&all, 0).count();
    assert!(small.cache_stats().bytes <= 50_000 && small.cache_stats().clips >= 1);
    // Disk cache: a second loader reads decoded clips back, bit-identical batches.
    let cache_dir = d.path().join("decoded");
    let mut c = cfg(2, AugmentConfig::none());
    c.disk_cache = Some(cache_dir.clone());
    let first: Vec<Batch> = Loader::new(ds.clone(), c.clone()).eval_pass(&all).collect();
    assert_eq!(std::fs::read_dir(&cache_dir).unwrap().count(), 12);
    let l2 = Loader::new(ds.clone(), c);
    let second: Vec<Batch> = l2.eval_pass(&all).collect();
    assert_eq!(first, second);
    assert_eq!(l2.cache_stats().disk_hits, 12);
}

#[test]
fn fast_normal_draws_are_standard_normal() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut g = wavnet::data::augment::FastNormal::new(&mut rng);
    let n = 200_000;
    let v: Vec<f64> = (0..n).map(|_| g.sample() as f64).collect();
    let mean = v.iter().sum::<f64>() / n as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
    let kurt = v.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n as f64 / (var * var);
    assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "mean {mean}, var {var}");
    assert!((kurt - 3.0).abs() < 0.1, "kurtosis {kurt} (3 for a normal, 1.8 for a uniform)");
    let within1 = v.iter().filter(|x| x.abs() < 1.0).count() as f64 / n as f64;
    assert!((within1 - 0.6827).abs() < 0.01, "P(|x| < 1) = {within1}");
}

#[test]
fn a_labels_column_with_semicolons_gives_multi_label_clips() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    for n in ["a", "b", "c"] {
        tone_file(&r.join(format!("{n}.wav")), 300.0, 0.2);
    }
    let csv = r.join("m.csv");
    std::fs::write(&csv, "fname,labels\na.wav,dog; siren\nb.wav,siren\nc.wav,bird;dog;bird\n").unwrap();
    let ds = Dataset::open(&csv, &DatasetOptions::default()).unwrap();
    assert_eq!(ds.labels, vec!["bird", "dog", "siren"], "the vocabulary is the union of every label");
    let sets: Vec<Vec<usize>> = ds.items.iter().map(|i| i.labels.clone()).collect();
    assert_eq!(sets, vec![vec![1, 2], vec![2], vec![0, 1]], "labels in row order, duplicates dropped");
    assert!(ds.items.iter().all(|i| i.label == i.labels[0]));
    assert!(ds.is_multi_label());
    // A fixed label list (a model's) rejects a row with any label outside it, naming it.
    let fixed = DatasetOptions { labels: Some(vec!["dog".into(), "siren".into()]), ..Default::default() };
    let ds = Dataset::open(&csv, &fixed).unwrap();
    assert_eq!(ds.items.len(), 2);
    assert!(ds.skipped[0].reason.contains("'bird'"), "{:?}", ds.skipped);

    // Targets: softmax shares the weight among a clip's labels, sigmoid gives each label 1;
    // mixing under sigmoid gives the union of both clips' labels.
    let ds = Arc::new(Dataset::open(&csv, &DatasetOptions::default()).unwrap());
    let all: Vec<usize> = (0..3).collect();
    let mut c = cfg(1, AugmentConfig::none());
    c.batch = 3;
    let soft: Vec<Batch> = Loader::new(ds.clone(), c.clone()).eval_pass(&all).collect();
    assert_eq!(soft[0].y, vec![0.0, 0.5, 0.5, 0.0, 0.0, 1.0, 0.5, 0.5, 0.0]);
    c.loss = wavnet::model::Loss::Sigmoid;
    let hard: Vec<Batch> = Loader::new(ds.clone(), c.clone()).eval_pass(&all).collect();
    assert_eq!(hard[0].y, vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
    c.augment = AugmentConfig { mixup: Some(aug::MixupConfig { p: 1.0, alpha: 0.4 }), ..AugmentConfig::none() };
    let mut mixed_rows = 0;
    for e in 0..4 {
        for b in Loader::new(ds.clone(), c.clone()).train_epoch(&all, e) {
            for r in 0..3 {
                let row = &b.y[r * 3..(r + 1) * 3];
                assert!(row.iter().all(|v| *v == 0.0 || *v == 1.0), "sigmoid targets stay 0/1 under mixup: {row:?}");
                let own = &ds.items[b.items[r]].labels;
                assert!(own.iter().all(|&l| row[l] == 1.0), "a row keeps its own labels");
                if row.iter().filter(|v| **v == 1.0).count() > own.len() {
                    mixed_rows += 1;
                }
            }
        }
    }
    assert!(mixed_rows > 0, "some rows gained their partner's labels");
}

#[test]
fn union_targets_takes_the_elementwise_maximum_of_mixed_rows_only() {
    let y0 = vec![1.0, 0.0, 0.0, /**/ 0.0, 1.0, 0.0, /**/ 0.0, 0.5, 1.0];
    let mut y = vec![9.0; 9]; // what mixup wrote: replaced for mixed rows, kept otherwise
    aug::union_targets(&mut y, &y0, &[(1, 0.7), (1, 1.0), (0, 0.6)], 3);
    assert_eq!(&y[..3], &[1.0, 1.0, 0.0]);
    assert_eq!(&y[3..6], &[9.0, 9.0, 9.0], "a row left alone is untouched");
    assert_eq!(&y[6..], &[1.0, 0.5, 1.0]);
}

// ---------------------------------------------------------------------------------------------
// Between-class learning and crops that hold sound

#[test]
fn bc_coefficient_matches_the_paper() {
    // Equal gains: p = r (the sounds are heard in the ratio of the target).
    for r in [0.1f32, 0.25, 0.5, 0.9] {
        assert!((aug::bc_coefficient(-20.0, -20.0, r) - r).abs() < 1e-6, "r {r}");
    }
    // Hand-computed: g1 = -10 dB, g2 = -30 dB, r = 0.5: p = 1 / (1 + 10^(20/20)) = 1/11.
    assert!((aug::bc_coefficient(-10.0, -30.0, 0.5) - 1.0 / 11.0).abs() < 1e-6);
    // g1 = -30, g2 = -10, r = 0.25: p = 1 / (1 + 10^-1 · 3) = 1/1.3.
    assert!((aug::bc_coefficient(-30.0, -10.0, 0.25) - 1.0 / 1.3).abs() < 1e-6);
    assert_eq!(aug::bc_coefficient(0.0, 0.0, 0.0), 0.0);
    assert_eq!(aug::bc_coefficient(0.0, 0.0, 1.0), 1.0);
    // The mix is (p·x1 + (1−p)·x2) / sqrt(p² + (1−p)²).
    let (a, b) = ([1.0f32, 0.0, 2.0], [0.0f32, 1.0, -1.0]);
    let mut out = [0f32; 3];
    aug::bc_mix(&mut out, &a, &b, 0.25);
    let n = (0.25f32 * 0.25 + 0.75 * 0.75).sqrt();
    for i in 0..3 {
        assert!((out[i] - (0.25 * a[i] + 0.75 * b[i]) / n).abs() < 1e-6);
    }
}

#[test]
fn bc_gain_is_the_loudest_frame_power() {
    let sr = 16000;
    // Silence with one loud 100 ms burst of amplitude 0.5 (power 0.25 → -6.02 dB).
    let mut x = vec![0f32; sr as usize];
    for v in x[8000..9600].iter_mut() {
        *v = 0.5;
    }
    assert!((aug::bc_gain_db(&x, sr) - 10.0 * 0.25f32.log10()).abs() < 0.01);
    assert!((aug::bc_gain_db(&vec![0f32; 1000], sr) + 80.0).abs() < 1e-3, "silence floors at -80 dB");
}

#[test]
fn between_class_mixes_other_classes_with_ratio_targets() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (rows, len, k, sr) = (8, 800, 3, 8000);
    // Row r: a constant r + 1 (distinct gains); class r % 3.
    let x0: Vec<f32> = (0..rows * len).map(|i| 0.01 * ((i / len) as f32 + 1.0)).collect();
    let mut y0 = vec![0f32; rows * k];
    for r in 0..rows {
        y0[r * k + r % k] = 1.0;
    }
    let (mut x, mut y) = (x0.clone(), y0.clone());
    let used = aug::between_class(&mut x, &mut y, rows, &mut rng, sr, 1.0);
    let mut mixed = 0;
    for (i, &(j, r)) in used.iter().enumerate() {
        let (xi, xj) = (&x0[i * len..(i + 1) * len], &x0[j * len..(j + 1) * len]);
        if j == i {
            assert_eq!(&x[i * len..(i + 1) * len], xi);
            continue;
        }
        mixed += 1;
        assert_ne!(i % k, j % k, "row {i} mixed with {j} of its own class");
        assert!((0.0..1.0).contains(&r));
        for c in 0..k {
            let want = r * y0[i * k + c] + (1.0 - r) * y0[j * k + c];
            assert!((y[i * k + c] - want).abs() < 1e-6, "row {i} class {c}: {} vs {want}", y[i * k + c]);
        }
        let p = aug::bc_coefficient(aug::bc_gain_db(xi, sr), aug::bc_gain_db(xj, sr), r);
        let n = (p * p + (1.0 - p) * (1.0 - p)).sqrt();
        let want = (p * xi[0] + (1.0 - p) * xj[0]) / n;
        assert!((x[i * len] - want).abs() < 1e-6);
    }
    assert_eq!(mixed, rows, "with p = 1 every row has a partner of another class");
    // One class only: nothing to mix with.
    let mut y1 = vec![0f32; rows * k];
    for r in 0..rows {
        y1[r * k] = 1.0;
    }
    let mut x1 = x0.clone();
    let used = aug::between_class(&mut x1, &mut y1, rows, &mut rng, sr, 1.0);
    assert!(used.iter().enumerate().all(|(i, &(j, _))| i == j));
    assert_eq!(x1, x0);
}

#[test]
fn trim_silence_cuts_padding_but_not_sound() {
    let mut x = vec![0f32; 1000];
    x.extend(sine(440.0, 8000, 0.5, 0.5));
    x.extend(vec![1e-5f32; 3000]); // codec residue, -94 dB below the peak
    let t = aug::trim_silence(&x);
    assert!(t.len() <= 4000 && t.len() >= 3990, "kept {} samples", t.len());
    assert!(t[0].abs() > 5e-4 && t[t.len() - 1].abs() > 5e-4);
    let silent = vec![0f32; 100];
    assert_eq!(aug::trim_silence(&silent).len(), 100);
    let c = AugmentConfig::parse_spec("trim=1,bc=0.5").unwrap();
    assert!(c.trim && c.bc == Some(aug::BcConfig { p: 0.5 }));
    assert!(c.validate().is_ok());
    let e = AugmentConfig::parse_spec("bc=2").unwrap().validate().unwrap_err();
    assert!(e.contains("bc.p"), "{e}");
}

#[test]
fn trimmed_training_crops_never_land_on_padding() {
    // A clip of 2 s zero padding, 0.3 s of tone, 2 s zero padding; crops of 0.2 s.
    let d = tempfile::tempdir().unwrap();
    let mut x = vec![0f32; 16000];
    x.extend(sine(500.0, 8000, 0.3, 0.5));
    x.extend(vec![0f32; 16000]);
    for c in ["a", "b"] {
        std::fs::create_dir_all(d.path().join(c)).unwrap();
        for i in 0..4 {
            write_wav(&d.path().join(format!("{c}/{i}.wav")), &x, 8000).unwrap();
        }
    }
    let ds = Arc::new(Dataset::open(d.path(), &DatasetOptions::default()).unwrap());
    let all: Vec<usize> = (0..ds.items.len()).collect();
    let silent_crops = |trim: bool| {
        let mut c = cfg(1, AugmentConfig { trim, ..AugmentConfig::none() });
        c.crop = 1600;
        let l = Loader::new(ds.clone(), c);
        let mut silent = 0;
        for e in 0..5 {
            for b in l.train_epoch(&all, e) {
                silent += b.x.chunks(1600).filter(|r| r.iter().all(|v| *v == 0.0)).count();
            }
        }
        silent
    };
    assert_eq!(silent_crops(true), 0, "a trimmed crop held only padding");
    assert!(silent_crops(false) > 10, "untrimmed crops should often be pure padding");
}
