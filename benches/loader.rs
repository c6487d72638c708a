//! Loader throughput benchmark: how many seconds of audio per second `Loader::train_epoch`
//! delivers, against how many the `cpu` device's training step consumes.
//!
//! Run: `cargo bench --bench loader` (about 1 minute of running on a 2-core machine, plus the build). It reads
//! `../shared/data/esc10` and `../shared/data/urbansound8k` in place and exits with status 1
//! and a message saying so when they are missing.
//!
//! Every batch is 32 x 2 s crops at 16 kHz (64 s of audio). Subsets keep the run short:
//! ESC-10 = every other clip of the manifest (160 of 320 Ogg Vorbis 44.1 kHz 5 s clips, 16 per
//! class, resampled to 16 kHz); UrbanSound8K = 384 clips spread evenly over folds 1-3 (FLAC
//! 16 kHz, up to 4 s, no resampling). Both sizes are whole batches, so one epoch touches every
//! clip. Every file is read once before timing, so "cold" means empty decoded-audio caches,
//! not a cold OS file cache.
//!
//! What each number means ("a/s" = seconds of audio delivered or consumed per wall second):
//! * `cold a/s`: a fresh `Loader` (empty in-memory cache, no disk cache), epoch 0 drained by a
//!   consumer that does nothing: decode + resample + crop (+ augment) of every clip; median of
//!   3 fresh loaders.
//! * `warm a/s`: the same loader once its cache holds every clip of the subset (misses stay 0),
//!   mean over several later epochs: crop (+ augment) only.
//! * `aug`: `none` = `AugmentConfig::none()`; `default` = `AugmentConfig::default()`, printed
//!   as JSON at the top of the output (when written: shift, noise, speed, time mask, mixup).
//! * `thr`: `LoaderConfig.threads` (the loader's own rayon pool; the batch thread is extra).
//! * `consumption`: the cpu device's training rate: `Model<CpuDevice>` with
//!   `Config::wavnet_s(16000, 10)`, batch 32 x 2 s, forward(train) + backward + adamw_step,
//!   rayon's global pool, timed alone after a warm-up step, once before and once after the loader
//!   runs; the faster of the two is used (a shared machine slows one or the other).
//! * `warm/cons`, `cold/cons`: loader rate / consumption. The goal is warm/cons >= 20.
//! * `CPU-ms/batch`: process CPU time (`/proc/self/stat`, all threads, 10 ms ticks) the loader
//!   spends per batch, cold and warm, and that as a share of one model step's CPU time: the
//!   model already uses every core, so this is roughly what prefetching costs the trainer, and
//!   unlike the wall-clock rates it hardly depends on other jobs on a shared machine.
//! * Augmentation costs: each augmentation the default turns on, alone (its default settings), warm,
//!   1 thread, on the UrbanSound8K subset: loader ms per batch minus the `none` figure.
//! * Training loop: ESC-10 subset, default augmentation, loader on 2 threads, a fresh loader
//!   (epoch 0 cold, like `wavnet train`), the same step as above. `wait` = time blocked in
//!   `next()` on the batch iterator, `step` = time in the model step; reported per step for
//!   epoch 0 (cold), for the later (warm) epochs (split into each epoch's first step, when
//!   `train_epoch` starts a new producer with nothing prefetched, and the others) and overall,
//!   with the fraction of wall time
//!   spent waiting, and the in-loop step time against the isolated one (the loader's pool and
//!   the model's pool share the same cores).
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wavnet::cpu::CpuDevice;
use wavnet::data::{AugmentConfig, Dataset, DatasetOptions, Loader, LoaderConfig, PadMode};
use wavnet::device::{hash_u32, Device};
use wavnet::model::{init_tensors, Config, Model};

const SR: u32 = 16000;
const BATCH: usize = 32;
const CROP_S: f32 = 2.0;
const ESC_CLIPS: usize = 160;
const US8K_CLIPS: usize = 384;
/// Warm epochs are repeated until at least this much time has passed (or `WARM_MAX_EPOCHS`).
const WARM_MIN_TIME: Duration = Duration::from_millis(2000);
/// Fresh loaders per cold figure (the median is reported).
const COLD_RUNS: usize = 3;
const WARM_MAX_EPOCHS: usize = 300;
/// Training-loop length: at most this many steps, fewer if one step is slow.
const LOOP_MAX_STEPS: usize = 30;
const LOOP_MIN_STEPS: usize = 10;
const LOOP_BUDGET_S: f64 = 75.0;

fn batch_audio_s() -> f64 {
    BATCH as f64 * CROP_S as f64
}

fn crop() -> usize {
    (CROP_S as f64 * SR as f64).round() as usize
}

struct Set {
    name: &'static str,
    ds: Arc<Dataset>,
    idx: Vec<usize>,
}

/// `n` indices spread evenly over `0..total` (every `total / n`-th item when it divides).
fn spread(total: usize, n: usize) -> Vec<usize> {
    let n = n.min(total);
    (0..n).map(|i| i * total / n).collect()
}

fn open_set(name: &'static str, dir: &Path, n: usize) -> Set {
    let ds = Dataset::open(dir, &DatasetOptions::default())
        .unwrap_or_else(|e| fail(&format!("{}: cannot open the dataset: {e}", dir.display())));
    let idx = spread(ds.items.len(), n);
    // Read every file once so that all cold runs start from the same (warm) OS file cache.
    for &i in &idx {
        black_box(std::fs::read(&ds.items[i].path).map(|b| b.len()).unwrap_or(0));
    }
    Set { name, ds: Arc::new(ds), idx }
}

fn fail(msg: &str) -> ! {
    eprintln!("loader bench: {msg}");
    std::process::exit(1)
}

fn loader(set: &Set, augment: AugmentConfig, threads: usize, seed: u64) -> Loader {
    Loader::new(
        set.ds.clone(),
        LoaderConfig {
            sample_rate: SR,
            crop: crop(),
            batch: BATCH,
            seed,
            augment,
            balanced: false,
            pad: PadMode::Zeros,
            threads: Some(threads),
            cache_bytes: 2 << 30,
            disk_cache: None,
            loss: wavnet::model::Loss::Softmax,
        },
    )
}

/// CPU seconds used by this process so far, all threads (Linux `/proc/self/stat` utime + stime,
/// assuming 100 ticks per second); `None` elsewhere. Unlike wall time it hardly depends on what
/// else runs on a shared machine.
fn cpu_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Drain one epoch; (seconds of audio delivered, elapsed, CPU seconds used).
fn drain(l: &Loader, idx: &[usize], epoch: usize) -> (f64, Duration, f64) {
    let c = cpu_time();
    let t = Instant::now();
    let mut rows = 0usize;
    for b in l.train_epoch(idx, epoch) {
        rows += b.rows;
        black_box(&b.x);
    }
    let el = t.elapsed();
    let cpu = match (c, cpu_time()) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    (rows as f64 * CROP_S as f64, el, cpu)
}

struct Row {
    set: &'static str,
    aug: &'static str,
    threads: usize,
    cold: f64,
    warm: f64,
    warm_epochs: usize,
    /// Loader CPU ms per batch (all its threads), cold (median run) and warm.
    cold_cpu_ms: f64,
    warm_cpu_ms: f64,
}

fn measure(set: &Set, aug_name: &'static str, augment: &AugmentConfig, threads: usize, cold_runs: usize) -> Row {
    // Cold: `cold_runs` fresh loaders (median); the last one is kept for the warm epochs.
    let mut colds = Vec::new();
    let mut kept = None;
    for r in 0..cold_runs.max(1) {
        let l = loader(set, augment.clone(), threads, 1 + r as u64);
        let (audio, el, cpu) = drain(&l, &set.idx, 0);
        colds.push((audio / el.as_secs_f64(), 1e3 * cpu * batch_audio_s() / audio));
        if !l.failures().is_empty() {
            fail(&format!("{}: {} file(s) failed to decode, first: {}", set.name, l.failures().len(), l.failures()[0]));
        }
        kept = Some(l);
    }
    let l = kept.expect("at least one cold run");
    colds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (cold, cold_cpu_ms) = colds[colds.len() / 2];
    let colds: Vec<f64> = colds.iter().map(|c| c.0).collect();
    let after_cold = l.cache_stats();
    // Make sure every clip is cached (a no-op when epoch 0 touched them all).
    let _ = l.preload(&set.idx);
    let before = l.cache_stats();
    let (mut audio, mut el, mut cpu, mut epochs) = (0.0, Duration::ZERO, 0.0, 0);
    while (el < WARM_MIN_TIME || epochs < 2) && epochs < WARM_MAX_EPOCHS {
        let (a, e, c) = drain(&l, &set.idx, 1 + epochs);
        audio += a;
        el += e;
        cpu += c;
        epochs += 1;
    }
    let warm_cpu_ms = 1e3 * cpu * batch_audio_s() / audio;
    let after = l.cache_stats();
    let warm = audio / el.as_secs_f64();
    let warm_misses = after.misses - before.misses;
    // Augmentation with speed re-reads the same clip; background is off, so every row is one hit.
    if warm_misses != 0 {
        println!("  note: {} {} thr {}: {} cache misses in warm epochs", set.name, aug_name, threads, warm_misses);
    }
    eprintln!(
        "  {:<8} aug {:<7} thr {}: cold {:>7.1} a/s (median of {:.1?}; {} clips decoded per epoch), warm {:>8.1} a/s ({} epochs, {:.2} s)",
        set.name,
        aug_name,
        threads,
        cold,
        colds,
        after_cold.misses,
        warm,
        epochs,
        el.as_secs_f64()
    );
    Row { set: set.name, aug: aug_name, threads, cold, warm, warm_epochs: epochs, cold_cpu_ms, warm_cpu_ms }
}

fn model() -> Model<CpuDevice> {
    let mut cfg = Config::wavnet_s(SR, 10);
    cfg.crop_seconds = CROP_S;
    let values = init_tensors(&cfg, 0);
    Model::new(CpuDevice::new(), cfg.clone(), &values, BATCH, cfg.crop())
        .unwrap_or_else(|e| fail(&format!("model: {e}")))
}

fn step(m: &mut Model<CpuDevice>, x: &[f32], y: &[f32], i: u64) {
    m.forward(x, true, hash_u32(i as u32));
    m.backward(y);
    m.adamw_step(1e-3, 1e-2);
    m.dev.sync();
}

/// Seconds per training step of the cpu device, alone (no loader running).
fn consumption() -> (f64, f64, usize, String) {
    let mut m = model();
    let l = crop();
    let mut x = vec![0f32; BATCH * l];
    let mut s = 1u32;
    for v in x.iter_mut() {
        s = hash_u32(s);
        *v = (s as f32 / u32::MAX as f32) * 2.0 - 1.0;
    }
    let mut y = vec![0f32; BATCH * 10];
    for b in 0..BATCH {
        y[b * 10 + b % 10] = 1.0;
    }
    step(&mut m, &x, &y, 0); // warm-up
    let c0 = cpu_time();
    let t = Instant::now();
    let mut n = 0;
    while n < 3 || (n < 10 && t.elapsed() < Duration::from_secs(5)) {
        step(&mut m, &x, &y, 1 + n as u64);
        n += 1;
    }
    let per = t.elapsed().as_secs_f64() / n as f64;
    let cpu_per = match (c0, cpu_time()) {
        (Some(a), Some(b)) => (b - a) / n as f64,
        _ => f64::NAN,
    };
    let loss = m.loss(BATCH);
    if !loss.is_finite() {
        fail(&format!("the benchmark loss is {loss}"));
    }
    (per, cpu_per, n, m.dev.name())
}

#[derive(Default)]
struct Phase {
    steps: usize,
    wait: f64,
    step: f64,
}

impl Phase {
    fn line(&self, label: &str) -> String {
        if self.steps == 0 {
            return format!("{label:<24} (no steps)");
        }
        let n = self.steps as f64;
        format!(
            "{label:<24} {:>3} steps  wait {:>7.1} ms/step  step {:>7.1} ms/step  waiting {:>5.1} % of the time",
            self.steps,
            1e3 * self.wait / n,
            1e3 * self.step / n,
            100.0 * self.wait / (self.wait + self.step)
        )
    }
}

fn main() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let esc_dir = data.join("esc10");
    let us_dir = data.join("urbansound8k");
    for d in [&esc_dir, &us_dir] {
        if !d.join("manifest.csv").is_file() {
            fail(&format!(
                "{} not found: this benchmark needs the real ESC-10 and UrbanSound8K sets in ../shared/data \
                 (see ../shared/data/README.md); nothing was measured",
                d.join("manifest.csv").display()
            ));
        }
    }
    let started = Instant::now();
    let esc = open_set("esc10", &esc_dir, ESC_CLIPS);
    let us = open_set("us8k", &us_dir, US8K_CLIPS);
    println!("# wavnet loader benchmark (cargo bench --bench loader)");
    println!(
        "batch {BATCH} x {CROP_S} s at {SR} Hz (= {:.0} s of audio per batch); a/s = seconds of audio per wall second",
        batch_audio_s()
    );
    println!(
        "subsets: esc10 = {} of {} clips (Ogg Vorbis 44.1 kHz -> 16 kHz, every other manifest row), \
         us8k = {} of {} clips (FLAC 16 kHz, folds 1-3, evenly spread)",
        esc.idx.len(),
        esc.ds.items.len(),
        us.idx.len(),
        us.ds.items.len()
    );
    println!(
        "aug default = AugmentConfig::default() = {}",
        serde_json::to_string(&AugmentConfig::default()).unwrap_or_default()
    );
    println!("cold = fresh loader, empty caches, epoch 0 (files pre-read: OS file cache warm); warm = every clip cached, later epochs");
    println!(
        "machine: {} logical cores (timings on a shared machine: other jobs may be running)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );

    // Measured before and after the loader runs; the faster (least disturbed by other jobs)
    // is the consumption figure.
    let first = consumption();
    eprintln!("measuring loader configurations...");
    let augs: [(&'static str, AugmentConfig); 2] =
        [("none", AugmentConfig::none()), ("default", AugmentConfig::default())];
    let mut rows = Vec::new();
    for set in [&esc, &us] {
        for (name, a) in &augs {
            for threads in [1, 2] {
                rows.push(measure(set, name, a, threads, COLD_RUNS));
            }
        }
    }
    let second = consumption();
    let (step_s, step_cpu, steps, dev) = if second.0 < first.0 { second.clone() } else { first.clone() };
    let cons = batch_audio_s() / step_s;
    println!(
        "\nconsumption: {dev}, wavnet-s train step (forward+backward+adamw) {:.3} s wall, {:.3} CPU-s (mean of {steps}; \
         the faster of two runs: {:.3} s before the loader runs, {:.3} s after) = {cons:.1} s audio/s; \
         goal: warm >= {:.0} a/s (20x)",
        step_s,
        step_cpu,
        first.0,
        second.0,
        20.0 * cons
    );
    println!(
        "\n{:<7} {:<8} {:>3} {:>10} {:>10} {:>10} {:>10} {:>12} {:>10}",
        "set", "aug", "thr", "cold a/s", "warm a/s", "cold/cons", "warm/cons", "warm >= 20x", "warm ep"
    );
    for r in &rows {
        println!(
            "{:<7} {:<8} {:>3} {:>10.1} {:>10.1} {:>10.2} {:>10.2} {:>12} {:>10}",
            r.set,
            r.aug,
            r.threads,
            r.cold,
            r.warm,
            r.cold / cons,
            r.warm / cons,
            if r.warm >= 20.0 * cons { "yes" } else { "NO" },
            r.warm_epochs
        );
    }
    println!(
        "\nloader CPU per batch (process CPU time, all loader threads; 10 ms tick resolution) against one model \
         step's {:.3} CPU-s: the share of the cores the loader takes from the model when both run",
        step_cpu
    );
    for r in &rows {
        println!(
            "  {:<7} aug {:<8} thr {}  warm {:>7.1} CPU-ms/batch = {:>5.1} % of a step   cold {:>7.1} CPU-ms/batch = {:>6.1} % of a step",
            r.set,
            r.aug,
            r.threads,
            r.warm_cpu_ms,
            100.0 * r.warm_cpu_ms / 1e3 / step_cpu,
            r.cold_cpu_ms,
            100.0 * r.cold_cpu_ms / 1e3 / step_cpu
        );
    }

    // Which augmentation costs what: one at a time (with its default probability), warm,
    // 1 thread, on the UrbanSound8K subset (the crop is 2 s whatever the source).
    let d = AugmentConfig::default();
    let none = AugmentConfig::none();
    // Only the augmentations the default turns on (it changes as the project measures them).
    let candidates: Vec<(&'static str, bool, AugmentConfig)> = vec![
        ("gain", d.gain_db.is_some(), AugmentConfig { gain_db: d.gain_db.clone(), ..none.clone() }),
        ("polarity", d.polarity > 0.0, AugmentConfig { polarity: d.polarity, ..none.clone() }),
        ("shift", d.shift.is_some(), AugmentConfig { shift: d.shift.clone(), ..none.clone() }),
        ("noise", d.noise.is_some(), AugmentConfig { noise: d.noise.clone(), ..none.clone() }),
        ("background", d.background.is_some(), AugmentConfig { background: d.background.clone(), ..none.clone() }),
        ("mixup", d.mixup.is_some(), AugmentConfig { mixup: d.mixup.clone(), ..none.clone() }),
        ("bc", d.bc.is_some(), AugmentConfig { bc: d.bc.clone(), ..none.clone() }),
        ("trim", d.trim, AugmentConfig { trim: d.trim, ..none.clone() }),
        ("speed", d.speed.is_some(), AugmentConfig { speed: d.speed.clone(), ..none.clone() }),
        ("time_mask", d.time_mask.is_some(), AugmentConfig { time_mask: d.time_mask.clone(), ..none.clone() }),
        ("eq", d.eq.is_some(), AugmentConfig { eq: d.eq.clone(), ..none.clone() }),
        ("reverb", d.reverb.is_some(), AugmentConfig { reverb: d.reverb.clone(), ..none.clone() }),
    ];
    let mut singles: Vec<(&'static str, AugmentConfig)> = vec![("none", none.clone())];
    singles.extend(candidates.into_iter().filter(|c| c.1).map(|c| (c.0, c.2)));
    eprintln!("measuring augmentations one at a time...");
    let single_rows: Vec<(&str, Row)> = singles.iter().map(|(n, a)| (*n, measure(&us, n, a, 1, 1))).collect();
    let base_ms = 1e3 * batch_audio_s() / single_rows[0].1.warm;
    println!(
        "\nwarm cost of each default augmentation alone (us8k, 1 thread, default p): wall ms per batch of {BATCH}, \
         minus `none`, and that as a share of one model step's CPU time:"
    );
    for (n, r) in &single_rows {
        let ms = 1e3 * batch_audio_s() / r.warm;
        println!(
            "  {:<10} {:>9.1} a/s  {:>7.1} ms/batch  {:>+7.1} ms/batch = {:>5.1} % of a step  ({:>6.1} CPU-ms/batch)",
            n,
            r.warm,
            ms,
            ms - base_ms,
            100.0 * (ms - base_ms) / 1e3 / step_cpu,
            r.warm_cpu_ms
        );
    }

    // A real, short training loop: fresh loader (cold epoch 0), default augmentation, 2 threads.
    let n_steps = ((LOOP_BUDGET_S / step_s) as usize).clamp(LOOP_MIN_STEPS, LOOP_MAX_STEPS);
    let per_epoch = esc.idx.len() / BATCH;
    let l = loader(&esc, AugmentConfig::default(), 2, 7);
    let mut m = model();
    let (mut cold, mut warm_first, mut warm_rest) = (Phase::default(), Phase::default(), Phase::default());
    let t_loop = Instant::now();
    let mut done = 0usize;
    let mut epoch = 0usize;
    'outer: loop {
        let mut it = l.train_epoch(&esc.idx, epoch);
        let mut first = true;
        loop {
            let t = Instant::now();
            let Some(b) = it.next() else { break };
            let wait = t.elapsed().as_secs_f64();
            let t = Instant::now();
            step(&mut m, &b.x, &b.y, done as u64);
            let st = t.elapsed().as_secs_f64();
            let p = match (epoch, first) {
                (0, _) => &mut cold,
                (_, true) => &mut warm_first,
                _ => &mut warm_rest,
            };
            first = false;
            p.steps += 1;
            p.wait += wait;
            p.step += st;
            done += 1;
            if done == n_steps {
                break 'outer;
            }
        }
        epoch += 1;
    }
    let wall = t_loop.elapsed().as_secs_f64();
    let loss = m.loss(BATCH);
    let sum = |ps: &[&Phase]| Phase {
        steps: ps.iter().map(|p| p.steps).sum(),
        wait: ps.iter().map(|p| p.wait).sum(),
        step: ps.iter().map(|p| p.step).sum(),
    };
    let warm = sum(&[&warm_first, &warm_rest]);
    let all = sum(&[&cold, &warm]);
    println!(
        "\ntraining loop: esc10 subset ({} clips, {per_epoch} steps/epoch), default augmentation, loader 2 threads, \
         cpu model ({} rayon threads), {done} steps in {wall:.1} s, final loss {loss:.3}",
        esc.idx.len(),
        rayon::current_num_threads()
    );
    println!("{}", cold.line("  epoch 0 (cold cache)"));
    println!("{}", warm.line("  epochs 1+ (warm)"));
    println!("{}", warm_first.line("    first step of each"));
    println!("{}", warm_rest.line("    other steps"));
    println!("{}", all.line("  all"));
    if warm.steps > 0 {
        println!(
            "  warm step in the loop {:.3} s vs alone {:.3} s ({:+.1} %: loader threads share the cores with the model)",
            warm.step / warm.steps as f64,
            step_s,
            100.0 * (warm.step / warm.steps as f64 / step_s - 1.0)
        );
    }
    println!("  end-to-end {:.1} s audio/s (consumption alone {:.1})", done as f64 * batch_audio_s() / wall, cons);
    println!("\ntotal bench time {:.0} s", started.elapsed().as_secs_f64());
}
