//! Batch preparation: decoding (cached in memory, optionally on disk), cropping/padding,
//! augmentation and mixup, done by a rayon pool on a producer thread that stays a few batches
//! ahead of the consumer (bounded channel).
//!
//! Determinism: every random choice for a training row comes from an RNG seeded by
//! `(seed, epoch, position in the epoch)`, the epoch order from `(seed, epoch)` and batch-level
//! mixup from `(seed, epoch, batch)`, so batches are identical whatever the thread count.
//! Files that fail to decode are recorded once ([`Loader::failures`]) and skipped: in a training
//! epoch the row is refilled with another clip drawn from the row's own RNG; in an evaluation
//! pass the following clips move up.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::audio::load_audio;
use super::augment::{augment_clip, between_class, mixup, speed, trim_silence, union_targets, AugmentConfig};
use super::dataset::{Dataset, Problem};
use crate::model::Loss;

/// How a clip shorter than the crop is filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PadMode {
    /// The clip sits in zeros: at a random offset in training, centred in evaluation.
    #[default]
    Zeros,
    /// The clip is tiled: from a random phase in training, from its start in evaluation.
    Repeat,
}

/// Loader settings.
#[derive(Clone, Debug)]
pub struct LoaderConfig {
    pub sample_rate: u32,
    /// Samples per example.
    pub crop: usize,
    pub batch: usize,
    pub seed: u64,
    pub augment: AugmentConfig,
    /// Draw classes uniformly (then a clip of the class uniformly), instead of shuffling.
    pub balanced: bool,
    pub pad: PadMode,
    /// Worker threads (`None` = one per core).
    pub threads: Option<usize>,
    /// Bound on the bytes of decoded clips kept in memory (0 = no cache).
    pub cache_bytes: usize,
    /// Folder for decoded clips (raw f32), keyed by path, size, mtime and sample rate.
    pub disk_cache: Option<PathBuf>,
    /// The loss the targets are for. Softmax: a clip's weight is shared among its labels (rows
    /// sum to the weight) and mixing blends rows. Sigmoid (multi-label): each label's target is
    /// the weight (multi-hot) and mixing two clips gives the union of their labels.
    pub loss: Loss,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            sample_rate: 16000,
            crop: 16000,
            batch: 32,
            seed: 0,
            augment: AugmentConfig::default(),
            balanced: false,
            pad: PadMode::Zeros,
            threads: None,
            cache_bytes: 512 << 20,
            disk_cache: None,
            loss: Loss::Softmax,
        }
    }
}

/// A batch: `x` is (batch, crop) row-major; `y` is (batch, K) soft targets: for the softmax loss
/// rows sum to the item's weight (mixup blends rows and weights); for the sigmoid loss each of
/// the item's labels has the weight (mixup takes the union). See [`LoaderConfig::loss`]. Only the first `rows` rows are valid (the last
/// evaluation batch may be partial; the rest is zero).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub rows: usize,
    /// Dataset indices of the valid rows.
    pub items: Vec<usize>,
}

/// Decoded-clip cache counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Clips held in memory now.
    pub clips: usize,
    /// Bytes of samples held now.
    pub bytes: usize,
    pub hits: u64,
    pub misses: u64,
    /// Clips read back from the disk cache.
    pub disk_hits: u64,
}

#[derive(Default)]
struct Cache {
    map: HashMap<usize, Arc<Vec<f32>>>,
    order: VecDeque<usize>,
    bytes: usize,
}

struct Inner {
    ds: Arc<Dataset>,
    cfg: LoaderConfig,
    pool: rayon::ThreadPool,
    cache: Mutex<Cache>,
    hits: AtomicU64,
    misses: AtomicU64,
    disk_hits: AtomicU64,
    failed: Mutex<BTreeMap<usize, Problem>>,
}

/// Prepares batches from a dataset; see the module docs.
pub struct Loader {
    inner: Arc<Inner>,
}

/// Batches from a producer thread. Dropping it stops the producer at its next batch.
pub struct BatchIter {
    rx: Receiver<Batch>,
    handle: Option<JoinHandle<()>>,
}

impl Iterator for BatchIter {
    type Item = Batch;
    fn next(&mut self) -> Option<Batch> {
        match self.rx.recv() {
            Ok(b) => Some(b),
            Err(_) => {
                if let Some(h) = self.handle.take() {
                    if let Err(p) = h.join() {
                        std::panic::resume_unwind(p);
                    }
                }
                None
            }
        }
    }
}

/// Cuts one decoded clip into model windows of exactly `crop` samples each.
pub type ClipCutter = Arc<dyn Fn(&[f32]) -> Vec<Vec<f32>> + Send + Sync>;

/// Batches prepared ahead of the consumer.
const PREFETCH: usize = 3;

fn mix(a: u64, b: u64, c: u64, d: u64) -> u64 {
    // splitmix64 over the words.
    let mut h = 0x9E37_79B9_7F4A_7C15u64;
    for w in [a, b, c, d] {
        h ^= w;
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h = z ^ (z >> 31);
    }
    h
}

const TAG_ORDER: u64 = 1;
const TAG_ROW: u64 = 2;
const TAG_BATCH: u64 = 3;
const TAG_BC: u64 = 4;

/// Cut or pad `clip` to `len` samples. `rng` = `Some` for a random placement (training),
/// `None` for the deterministic one (evaluation: centre crop, centred in zeros, tiled from 0).
pub fn crop_or_pad(clip: &[f32], len: usize, pad: PadMode, rng: Option<&mut StdRng>) -> Vec<f32> {
    let n = clip.len();
    if n >= len {
        let off = match rng {
            Some(r) if n > len => r.random_range(0..=n - len),
            Some(_) => 0,
            None => (n - len) / 2,
        };
        return clip[off..off + len].to_vec();
    }
    let mut out = vec![0f32; len];
    if n == 0 {
        return out;
    }
    match pad {
        PadMode::Zeros => {
            let off = match rng {
                Some(r) => r.random_range(0..=len - n),
                None => (len - n) / 2,
            };
            out[off..off + n].copy_from_slice(clip);
        }
        PadMode::Repeat => {
            let phase = match rng {
                Some(r) => r.random_range(0..n),
                None => 0,
            };
            for (i, v) in out.iter_mut().enumerate() {
                *v = clip[(phase + i) % n];
            }
        }
    }
    out
}

impl Inner {
    fn disk_path(&self, idx: usize) -> Option<PathBuf> {
        let dir = self.cfg.disk_cache.as_ref()?;
        let p = &self.ds.items[idx].path;
        let meta = std::fs::metadata(p).ok()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()).hash(&mut h);
        meta.len().hash(&mut h);
        meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).hash(&mut h);
        self.cfg.sample_rate.hash(&mut h);
        Some(dir.join(format!("{:016x}.f32", h.finish())))
    }

    fn read_disk(path: &Path) -> Option<Vec<f32>> {
        let bytes = std::fs::read(path).ok()?;
        if bytes.is_empty() || bytes.len() % 4 != 0 {
            return None;
        }
        Some(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn write_disk(path: &Path, x: &[f32]) {
        let Some(dir) = path.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let ok = (|| -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            for v in x {
                f.write_all(&v.to_le_bytes())?;
            }
            f.flush()?;
            Ok(())
        })();
        if ok.is_ok() {
            let _ = std::fs::rename(&tmp, path);
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// The decoded clip, or `None` when the file is unusable (recorded in `failed`).
    fn clip(&self, idx: usize) -> Option<Arc<Vec<f32>>> {
        if self.failed.lock().unwrap().contains_key(&idx) {
            return None;
        }
        if let Some(c) = self.cache.lock().unwrap().map.get(&idx) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Some(c.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let disk = self.disk_path(idx);
        let from_disk = disk.as_deref().and_then(Self::read_disk);
        let samples = match from_disk {
            Some(x) => {
                self.disk_hits.fetch_add(1, Ordering::Relaxed);
                x
            }
            None => match load_audio(&self.ds.items[idx].path, self.cfg.sample_rate) {
                Ok(x) => {
                    if let Some(d) = &disk {
                        Self::write_disk(d, &x);
                    }
                    x
                }
                Err(e) => {
                    self.failed
                        .lock()
                        .unwrap()
                        .entry(idx)
                        .or_insert_with(|| Problem::new(self.ds.items[idx].path.clone(), e.reason()));
                    return None;
                }
            },
        };
        let clip = Arc::new(samples);
        let size = clip.len() * 4;
        if size <= self.cfg.cache_bytes {
            let mut c = self.cache.lock().unwrap();
            if !c.map.contains_key(&idx) {
                while c.bytes + size > self.cfg.cache_bytes {
                    let Some(old) = c.order.pop_front() else { break };
                    if let Some(v) = c.map.remove(&old) {
                        c.bytes -= v.len() * 4;
                    }
                }
                c.map.insert(idx, clip.clone());
                c.order.push_back(idx);
                c.bytes += size;
            }
        }
        Some(clip)
    }

    /// The target row of an item (see [`LoaderConfig::loss`]).
    fn one_hot(&self, idx: usize, y: &mut [f32]) {
        let it = &self.ds.items[idx];
        let v = match self.cfg.loss {
            Loss::Softmax => it.weight / it.labels.len().max(1) as f32,
            Loss::Sigmoid => it.weight,
        };
        for &l in &it.labels {
            y[l] = v;
        }
    }

    /// Training row at `pos` of the epoch: (dataset index, samples) or `None` if nothing loads.
    fn train_row(&self, order: &[usize], pool: &[usize], epoch: usize, pos: usize) -> Option<(usize, Vec<f32>)> {
        let cfg = &self.cfg;
        let mut rng = StdRng::seed_from_u64(mix(cfg.seed, epoch as u64, pos as u64, TAG_ROW));
        let mut idx = order[pos];
        let mut clip = self.clip(idx);
        let mut tries = 0;
        while clip.is_none() && tries < 32 && !pool.is_empty() {
            idx = pool[rng.random_range(0..pool.len())];
            clip = self.clip(idx);
            tries += 1;
        }
        let clip = clip?;
        let aug = &cfg.augment;
        let clip: &[f32] = if aug.trim { trim_silence(&clip) } else { &clip };
        let mut x = match &aug.speed {
            Some(s) if rng.random::<f32>() < s.p => {
                let f = s.range.sample(&mut rng).clamp(0.25, 4.0);
                let src_len = ((cfg.crop as f32) * f).round().max(1.0) as usize;
                let seg = crop_or_pad(clip, src_len, cfg.pad, Some(&mut rng));
                let mut y = speed(&seg, f);
                y.resize(cfg.crop, 0.0);
                y
            }
            _ => crop_or_pad(clip, cfg.crop, cfg.pad, Some(&mut rng)),
        };
        let bg = match &aug.background {
            Some(_) if !pool.is_empty() => {
                let j = pool[rng.random_range(0..pool.len())];
                if j != idx {
                    self.clip(j).map(|c| crop_or_pad(&c, cfg.crop, PadMode::Repeat, Some(&mut rng)))
                } else {
                    None
                }
            }
            _ => None,
        };
        augment_clip(&mut x, &mut rng, aug, cfg.sample_rate, bg.as_deref());
        Some((idx, x))
    }
}

impl Loader {
    pub fn new(ds: Arc<Dataset>, cfg: LoaderConfig) -> Loader {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads.unwrap_or(0))
            .thread_name(|i| format!("wavnet-loader-{i}"))
            .build()
            .unwrap_or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool"));
        Loader {
            inner: Arc::new(Inner {
                ds,
                cfg,
                pool,
                cache: Mutex::new(Cache::default()),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                disk_hits: AtomicU64::new(0),
                failed: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.inner.cfg
    }

    /// The epoch's order of dataset indices (shuffled, or class-balanced draws), from
    /// `(seed, epoch)`.
    pub fn epoch_order(&self, indices: &[usize], epoch: usize) -> Vec<usize> {
        let mut rng = StdRng::seed_from_u64(mix(self.inner.cfg.seed, epoch as u64, 0, TAG_ORDER));
        if self.inner.cfg.balanced {
            let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for &i in indices {
                by_class.entry(self.inner.ds.items[i].label).or_default().push(i);
            }
            let classes: Vec<&Vec<usize>> = by_class.values().collect();
            if classes.is_empty() {
                return Vec::new();
            }
            (0..indices.len())
                .map(|_| {
                    let c = classes[rng.random_range(0..classes.len())];
                    c[rng.random_range(0..c.len())]
                })
                .collect()
        } else {
            let mut o = indices.to_vec();
            for i in (1..o.len()).rev() {
                let j = rng.random_range(0..=i);
                o.swap(i, j);
            }
            o
        }
    }

    /// Training epoch: shuffled (or class-balanced) order from `(seed, epoch)`, random crops,
    /// augmentation, mixup; `indices.len() / batch` full batches (the last partial one is
    /// dropped). Prepared ahead of the consumer by the loader's pool.
    pub fn train_epoch(&self, indices: &[usize], epoch: usize) -> BatchIter {
        let inner = self.inner.clone();
        let pool: Arc<Vec<usize>> = Arc::new(indices.to_vec());
        let order = Arc::new(self.epoch_order(indices, epoch));
        let (tx, rx) = sync_channel(PREFETCH);
        let handle = std::thread::Builder::new()
            .name("wavnet-train-batches".into())
            .spawn(move || {
                let b = inner.cfg.batch.max(1);
                let crop = inner.cfg.crop;
                let k = inner.ds.labels.len();
                for bi in 0..order.len() / b {
                    let rows: Vec<Option<(usize, Vec<f32>)>> = inner.pool.install(|| {
                        (0..b).into_par_iter().map(|r| inner.train_row(&order, &pool, epoch, bi * b + r)).collect()
                    });
                    let mut batch = Batch { x: vec![0.0; b * crop], y: vec![0.0; b * k], rows: b, items: Vec::with_capacity(b) };
                    for (r, row) in rows.into_iter().enumerate() {
                        match row {
                            Some((idx, x)) => {
                                batch.x[r * crop..(r + 1) * crop].copy_from_slice(&x);
                                inner.one_hot(idx, &mut batch.y[r * k..(r + 1) * k]);
                                batch.items.push(idx);
                            }
                            // Nothing loadable at all: a silent row with zero target weight.
                            None => batch.items.push(order[bi * b + r]),
                        }
                    }
                    if let Some(bc) = &inner.cfg.augment.bc {
                        let mut rng = StdRng::seed_from_u64(mix(inner.cfg.seed, epoch as u64, bi as u64, TAG_BC));
                        let y0 = batch.y.clone();
                        let pairs = between_class(&mut batch.x, &mut batch.y, b, &mut rng, inner.cfg.sample_rate, bc.p);
                        if inner.cfg.loss == Loss::Sigmoid {
                            union_targets(&mut batch.y, &y0, &pairs, k);
                        }
                    }
                    if let Some(m) = &inner.cfg.augment.mixup {
                        let mut rng = StdRng::seed_from_u64(mix(inner.cfg.seed, epoch as u64, bi as u64, TAG_BATCH));
                        let y0 = batch.y.clone();
                        let pairs = mixup(&mut batch.x, &mut batch.y, b, &mut rng, m.alpha, m.p);
                        if inner.cfg.loss == Loss::Sigmoid {
                            union_targets(&mut batch.y, &y0, &pairs, k);
                        }
                    }
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
            })
            .expect("spawn the batch thread");
        BatchIter { rx, handle: Some(handle) }
    }

    /// Evaluation pass in `indices` order: centre crops (short clips centred in zeros, or tiled
    /// with [`PadMode::Repeat`]), no augmentation; the last batch may be partial. Unloadable
    /// clips are skipped (see [`Loader::failures`]).
    pub fn eval_pass(&self, indices: &[usize]) -> BatchIter {
        let (crop, pad) = (self.inner.cfg.crop, self.inner.cfg.pad);
        self.eval_windows(indices, Arc::new(move |c: &[f32]| vec![crop_or_pad(c, crop, pad, None)]))
    }

    /// Evaluation pass in `indices` order where each clip becomes the windows `cut` makes of it
    /// (each `crop` samples long; see `crate::infer::cut`): a clip's windows are consecutive rows,
    /// possibly spanning batches, and `items` repeats its dataset index once per window. No
    /// augmentation; the last batch may be partial; unloadable clips are skipped.
    pub fn eval_windows(&self, indices: &[usize], cut: ClipCutter) -> BatchIter {
        let inner = self.inner.clone();
        let indices = indices.to_vec();
        let (tx, rx) = sync_channel(PREFETCH);
        let handle = std::thread::Builder::new()
            .name("wavnet-eval-batches".into())
            .spawn(move || {
                let b = inner.cfg.batch.max(1);
                let crop = inner.cfg.crop;
                let k = inner.ds.labels.len();
                let mut pending: VecDeque<(usize, Vec<f32>)> = VecDeque::new();
                let make = |rows: Vec<(usize, Vec<f32>)>| {
                    let mut batch = Batch { x: vec![0.0; b * crop], y: vec![0.0; b * k], rows: rows.len(), items: Vec::with_capacity(rows.len()) };
                    for (r, (idx, x)) in rows.into_iter().enumerate() {
                        batch.x[r * crop..(r + 1) * crop].copy_from_slice(&x);
                        inner.one_hot(idx, &mut batch.y[r * k..(r + 1) * k]);
                        batch.items.push(idx);
                    }
                    batch
                };
                for chunk in indices.chunks(b) {
                    let rows: Vec<Option<(usize, Vec<Vec<f32>>)>> =
                        inner.pool.install(|| chunk.par_iter().map(|&i| inner.clip(i).map(|c| (i, cut(&c)))).collect());
                    for (i, ws) in rows.into_iter().flatten() {
                        pending.extend(ws.into_iter().map(|w| (i, w)));
                    }
                    while pending.len() >= b {
                        let rows: Vec<_> = pending.drain(..b).collect();
                        if tx.send(make(rows)).is_err() {
                            return;
                        }
                    }
                }
                if !pending.is_empty() {
                    let rows: Vec<_> = pending.drain(..).collect();
                    let _ = tx.send(make(rows));
                }
            })
            .expect("spawn the batch thread");
        BatchIter { rx, handle: Some(handle) }
    }

    /// Files that failed to load so far, each once, in dataset order.
    pub fn failures(&self) -> Vec<Problem> {
        self.inner.failed.lock().unwrap().values().cloned().collect()
    }

    /// Decode every listed file (in parallel), filling the caches; returns the failures among
    /// them.
    pub fn preload(&self, indices: &[usize]) -> Vec<Problem> {
        let inner = &self.inner;
        inner.pool.install(|| {
            indices.par_iter().for_each(|&i| {
                let _ = inner.clip(i);
            })
        });
        let failed = inner.failed.lock().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        indices.iter().filter(|i| seen.insert(**i)).filter_map(|i| failed.get(i).cloned()).collect()
    }

    pub fn cache_stats(&self) -> CacheStats {
        let c = self.inner.cache.lock().unwrap();
        CacheStats {
            clips: c.map.len(),
            bytes: c.bytes,
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
            disk_hits: self.inner.disk_hits.load(Ordering::Relaxed),
        }
    }
}
