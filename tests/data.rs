//! Tests of the `data` module: formats, layouts, bad input, augmentations, loader, streaming.
//! Real-audio tests read `../shared/data` (or $WAVNET_DATA) in place and fail when it is missing.

use std::path::{Path, PathBuf};

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
