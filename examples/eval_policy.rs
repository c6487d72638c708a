//! The evaluation-policy ablation of the README's "Results": clip-level accuracy of one model on
//! one fold of a manifest under each way of scoring a clip from windows of the model's length:
//! the centre crop; every window at 50 % hop over the whole clip (untrimmed); the same after
//! cutting leading/trailing digital silence (what `wavnet eval`, validation and `tag` do); 10
//! evenly spaced crops of the trimmed clip; windows at 25 % hop; the whole clip in one pass
//! (the model's global pooling takes any length), untrimmed and trimmed. The windows and
//! scores are `wavnet::infer`'s own, so the default row is exactly what `wavnet eval` reports.
//! cpu device.
//!
//!   cargo run --release --example eval_policy -- MODEL.safetensors MANIFEST.csv FOLD
use std::path::Path;

use wavnet::cpu::CpuDevice;
use wavnet::data::audio::load_audio;
use wavnet::data::loader::crop_or_pad;
use wavnet::data::PadMode;
use wavnet::infer::{clip_scores, clip_windows, cut, forward_windows, ClipPolicy, Window};
use wavnet::io::load_model;
use wavnet::model::Model;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 4 {
        eprintln!("usage: eval_policy MODEL.safetensors MANIFEST.csv FOLD");
        std::process::exit(2);
    }
    let f = load_model(Path::new(&a[1])).unwrap_or_else(|e| panic!("{}: {e:#}", a[1]));
    let man = Path::new(&a[2]);
    let root = man.parent().unwrap_or(Path::new("."));
    let mut rdr = csv::Reader::from_path(man).unwrap_or_else(|e| panic!("{}: {e}", a[2]));
    let hdr = rdr.headers().expect("a CSV header").clone();
    let col = |name: &str| hdr.iter().position(|h| h == name).unwrap_or_else(|| panic!("{}: no `{name}` column", a[2]));
    let (fi, li, oi) = (col("fname"), col("label"), col("fold"));
    let (win, k, batch) = (f.cfg.crop(), f.cfg.classes, 16);
    let model = Model::new(CpuDevice::new(), f.cfg.clone(), &f.values, batch, win).expect("the model");
    let half = ClipPolicy::Windows { hop: ClipPolicy::default_hop(win) };
    // Mean window probability of a clip (what `wavnet eval` computes), argmax.
    let predict = |ws: Vec<Window>| -> usize {
        let mut probs = Vec::with_capacity(ws.len() * k);
        for chunk in ws.chunks(batch) {
            let rows: Vec<&[f32]> = chunk.iter().map(|w| &w.x[..]).collect();
            probs.extend(forward_windows(&model, &rows));
        }
        argmax(&clip_scores(&probs, k))
    };
    let names = ["centre", "win50", "trim-win50", "trim-10crops", "trim-win25", "whole", "trim-whole"];
    let mut correct = [0usize; 7];
    let mut n = 0;
    for rec in rdr.records() {
        let rec = rec.expect("a CSV row");
        if rec[oi] != a[3] {
            continue;
        }
        let Some(label) = f.labels.iter().position(|l| l == &rec[li]) else { continue };
        let x = load_audio(&root.join(&rec[fi]), f.cfg.sample_rate).unwrap_or_else(|e| panic!("{e}"));
        let got = [
            predict(cut(&x, win, ClipPolicy::Crops(1), PadMode::Zeros)),
            predict(cut(&x, win, half, PadMode::Zeros)),
            predict(clip_windows(&x, win, half, PadMode::Zeros)),
            predict(clip_windows(&x, win, ClipPolicy::Crops(10), PadMode::Zeros)),
            predict(clip_windows(&x, win, ClipPolicy::Windows { hop: (win / 4).max(1) }, PadMode::Zeros)),
            whole(&f, &x),
            whole(&f, wavnet::data::augment::trim_silence(&x)),
        ];
        for (c, g) in correct.iter_mut().zip(got) {
            *c += (g == label) as usize;
        }
        n += 1;
    }
    let row: Vec<String> = names.iter().zip(&correct).map(|(p, c)| format!("{p} {:.2}", 100.0 * *c as f64 / n.max(1) as f64)).collect();
    println!("{n} clips: {}", row.join("  "));
}

/// The whole clip in one pass (a model as long as the clip; global pooling takes any length).
fn whole(f: &wavnet::io::ModelFile, x: &[f32]) -> usize {
    let len = x.len().max(f.cfg.crop());
    let m = Model::new(CpuDevice::new(), f.cfg.clone(), &f.values, 1, len).expect("the model");
    m.forward(&crop_or_pad(x, len, PadMode::Zeros, None), false, 0);
    argmax(&m.logits())
}

fn argmax(p: &[f32]) -> usize {
    p.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
}
