//! The evaluation-policy ablation of the README's "Results": clip-level accuracy of one model on
//! one fold of a manifest under each way of scoring a clip from windows of the model's length:
//! the centre crop; every window at 50 % hop over the whole clip (untrimmed); the same after
//! cutting leading/trailing digital silence (what `wavnet eval`, validation and `tag` do); 10
//! evenly spaced crops of the trimmed clip; windows at 25 % hop; the whole clip in one pass
//! (the model's global pooling takes any length), untrimmed and trimmed. cpu device.
//!
//!   cargo run --release --example eval_policy -- MODEL.safetensors MANIFEST.csv FOLD
use std::path::Path;
use wavnet::cpu::CpuDevice;
use wavnet::data::audio::load_audio;
use wavnet::data::augment::trim_silence;
use wavnet::data::loader::crop_or_pad;
use wavnet::data::PadMode;
use wavnet::io::load_model;
use wavnet::metrics::softmax_rows;
use wavnet::model::Model;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let f = load_model(Path::new(&a[1])).unwrap();
    let man = Path::new(&a[2]);
    let fold = &a[3];
    let root = man.parent().unwrap();
    let mut rdr = csv::Reader::from_path(man).unwrap();
    let hdr = rdr.headers().unwrap().clone();
    let (fi, li, oi) = (hdr.iter().position(|h| h == "fname").unwrap(), hdr.iter().position(|h| h == "label").unwrap(), hdr.iter().position(|h| h == "fold").unwrap());
    let crop = f.cfg.crop();
    let k = f.cfg.classes;
    let model = Model::new(CpuDevice::new(), f.cfg.clone(), &f.values, 16, crop).unwrap();
    let pols = ["centre", "win50", "trim-win50", "trim-10crops", "trim-win75"];
    let mut correct = vec![0usize; pols.len() + 2];
    let mut n = 0;
    let run = |rows: &[Vec<f32>]| -> Vec<f32> {
        let mut acc = vec![0f32; k];
        for ch in rows.chunks(16) {
            let mut x = vec![0f32; 16 * crop];
            for (r, w) in ch.iter().enumerate() {
                x[r * crop..(r + 1) * crop].copy_from_slice(w);
            }
            model.forward(&x, false, 0);
            let p = softmax_rows(&model.logits(), k);
            for r in 0..ch.len() {
                for c in 0..k {
                    acc[c] += p[r * k + c];
                }
            }
        }
        acc
    };
    let wins = |x: &[f32], hop: usize| -> Vec<Vec<f32>> {
        if x.len() <= crop {
            return vec![crop_or_pad(x, crop, PadMode::Zeros, None)];
        }
        let mut v = Vec::new();
        let mut s = 0;
        loop {
            if s + crop >= x.len() {
                v.push(x[x.len() - crop..].to_vec());
                break;
            }
            v.push(x[s..s + crop].to_vec());
            s += hop;
        }
        v
    };
    let ncrops = |x: &[f32], n: usize| -> Vec<Vec<f32>> {
        if x.len() <= crop {
            return vec![crop_or_pad(x, crop, PadMode::Zeros, None)];
        }
        (0..n).map(|i| { let off = (x.len() - crop) * i / (n - 1); x[off..off + crop].to_vec() }).collect()
    };
    let argmax = |p: &[f32]| p.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        if &rec[oi] != fold.as_str() { continue; }
        let Some(label) = f.labels.iter().position(|l| l == &rec[li]) else { continue };
        let x = load_audio(&root.join(&rec[fi]), f.cfg.sample_rate).unwrap();
        let t = trim_silence(&x).to_vec();
        let sets: Vec<Vec<Vec<f32>>> = vec![
            vec![crop_or_pad(&x, crop, PadMode::Zeros, None)],
            wins(&x, crop / 2),
            wins(&t, crop / 2),
            ncrops(&t, 10),
            wins(&t, crop / 4),
        ];
        for (i, s) in sets.iter().enumerate() {
            if argmax(&run(s)) == label { correct[i] += 1; }
        }
        // whole clip in one pass (untrimmed, trimmed)
        for (j, w) in [&x, &t].iter().enumerate() {
            let len = w.len().max(crop);
            let m = Model::new(CpuDevice::new(), f.cfg.clone(), &f.values, 1, len).unwrap();
            m.forward(&crop_or_pad(w, len, PadMode::Zeros, None), false, 0);
            if argmax(&m.logits()) == label { correct[pols.len() + j] += 1; }
        }
        n += 1;
    }
    let mut names: Vec<&str> = pols.to_vec();
    names.push("whole");
    names.push("trim-whole");
    let row: Vec<String> = names.iter().zip(&correct).map(|(p, c)| format!("{p} {:.2}", 100.0 * *c as f64 / n as f64)).collect();
    println!("{} clips: {}", n, row.join("  "));
}
