//! The one inference path every consumer shares (`wavnet tag`, `wavnet eval`, validation during
//! training, `wavnet serve`): a clip is cut into windows of the model's length, each window gets
//! class probabilities, and the clip's scores are the mean of its windows' probabilities.
//!
//! How a clip is cut is a [`ClipPolicy`]: every window at a hop over the whole clip (the
//! default, `--eval-crops 0`), or N evenly spaced crops (`--eval-crops N`, 1 = the centre crop).
//! The same rules hold everywhere:
//! - a clip shorter than the window is one window, the clip centred in zeros (or tiled with
//!   [`PadMode::Repeat`]);
//! - windows start at 0, hop, 2·hop, … and the last window ends exactly at the clip's end (no
//!   zero tail when the clip is at least a window long);
//! - digital silence at a clip's start and end is cut first ([`clip_windows`]; training crops
//!   skip it too, `trim=1`): zero padding carries no information, and windows of it only dilute
//!   the clip's score (measured on ESC-10: +1 to +4 points for every model, README "Results");
//! - files are read whole up to [`TRIM_LIMIT_S`] and trimmed like an in-memory clip; longer
//!   files are streamed ([`StreamWindows`]) untrimmed, with the same windows [`cut`] makes.
//!
//! Shape legend: N windows, L samples per window (the model's length), K classes.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;

use crate::data::augment::sound_bounds;
use crate::data::loader::crop_or_pad;
use crate::data::{audio, AudioError, ClipCutter, Dataset, Loader, PadMode};
use crate::device::Device;
use crate::io::{load_model, ModelFile};
use crate::metrics::probabilities;
use crate::model::Model;

/// How a clip is cut into model windows for clip-level scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ClipPolicy {
    /// Every window over the whole clip, `hop` samples apart; the last ends at the clip's end.
    Windows { hop: usize },
    /// `n` evenly spaced crops from the clip's start to its end (1 = the centre crop).
    Crops(usize),
}

impl ClipPolicy {
    /// The policy `--eval-crops N` names: 0 = every window at `hop` samples, N >= 1 = N crops.
    pub fn from_eval_crops(n: usize, hop: usize) -> ClipPolicy {
        if n == 0 {
            ClipPolicy::Windows { hop: hop.max(1) }
        } else {
            ClipPolicy::Crops(n)
        }
    }

    /// Half the window: the default hop of `eval`, validation and `tag`.
    pub fn default_hop(win: usize) -> usize {
        (win / 2).max(1)
    }
}

/// Start sample of each window of `win` samples over a clip of `n` samples (`n > win`; a
/// shorter clip is the single window at 0). Increasing, no duplicates, the last is `n - win`
/// for [`ClipPolicy::Windows`].
pub fn window_starts(n: usize, win: usize, policy: ClipPolicy) -> Vec<usize> {
    if n <= win {
        return vec![0];
    }
    let last = n - win;
    match policy {
        ClipPolicy::Windows { hop } => {
            let mut s = vec![0];
            let mut p = 0;
            while p < last {
                p = (p + hop.max(1)).min(last);
                s.push(p);
            }
            s
        }
        ClipPolicy::Crops(0 | 1) => vec![last / 2],
        ClipPolicy::Crops(c) => {
            let mut s: Vec<usize> = (0..c).map(|i| ((i as u64 * last as u64 + (c as u64 - 1) / 2) / (c as u64 - 1)) as usize).collect();
            s.dedup();
            s
        }
    }
}

/// One window of a clip: samples `[start, end)` of the clip (`end - start < L` only for a clip
/// shorter than the window, which `x` holds centred) and the window itself, `x` (L).
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub start: usize,
    pub end: usize,
    pub x: Vec<f32>,
}

/// The windows of an in-memory clip under `policy`.
pub fn cut(clip: &[f32], win: usize, policy: ClipPolicy, pad: PadMode) -> Vec<Window> {
    let n = clip.len();
    if n <= win {
        return vec![Window { start: 0, end: n, x: crop_or_pad(clip, win, pad, None) }];
    }
    window_starts(n, win, policy).into_iter().map(|s| Window { start: s, end: s + win, x: clip[s..s + win].to_vec() }).collect()
}

/// The windows of a clip under `policy` after its leading and trailing digital silence is cut
/// ([`sound_bounds`]); `start`/`end` stay in the clip's own samples. The clip-level rule shared
/// by validation, `eval`, `tag` and `serve`.
pub fn clip_windows(clip: &[f32], win: usize, policy: ClipPolicy, pad: PadMode) -> Vec<Window> {
    let (a, b) = sound_bounds(clip);
    let mut w = cut(&clip[a..b], win, policy, pad);
    for x in &mut w {
        x.start += a;
        x.end += a;
    }
    w
}

/// Files up to this long (seconds) are decoded whole and trimmed as [`clip_windows`] does;
/// longer ones are streamed window by window in bounded memory, untrimmed.
pub const TRIM_LIMIT_S: usize = 120;

/// [`ClipPolicy::Windows`] over a stream of sample chunks (a file being decoded), in memory
/// independent of its length: the same windows [`cut`] makes of the whole clip. An error from
/// the source is yielded once and ends the iteration.
pub struct StreamWindows<I> {
    src: Option<I>,
    win: usize,
    hop: usize,
    pad: PadMode,
    /// Samples `[buf_start, buf_start + buf.len())` of the clip.
    buf: Vec<f32>,
    buf_start: usize,
    /// Start of the next regular window (a multiple of `hop`).
    next: usize,
    last_start: Option<usize>,
    total: usize,
    finished: bool,
}

impl<I> StreamWindows<I> {
    pub fn new(src: I, win: usize, hop: usize, pad: PadMode) -> StreamWindows<I> {
        StreamWindows {
            src: Some(src),
            win: win.max(1),
            hop: hop.max(1),
            pad,
            buf: Vec::new(),
            buf_start: 0,
            next: 0,
            last_start: None,
            total: 0,
            finished: false,
        }
    }

    /// Samples read so far (the clip's length once the iteration has ended).
    pub fn total(&self) -> usize {
        self.total
    }

    /// Keeps what the next regular window and a final window ending at the clip's end need.
    fn trim(&mut self) {
        let end = self.buf_start + self.buf.len();
        let keep = self.next.min(end.saturating_sub(self.win));
        if keep > self.buf_start {
            self.buf.drain(..keep - self.buf_start);
            self.buf_start = keep;
        }
    }
}

impl<I, E> Iterator for StreamWindows<I>
where
    I: Iterator<Item = Result<Vec<f32>, E>>,
{
    type Item = Result<Window, E>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.finished {
                return None;
            }
            let end = self.buf_start + self.buf.len();
            if end >= self.next + self.win {
                let (s, o) = (self.next, self.next - self.buf_start);
                let w = Window { start: s, end: s + self.win, x: self.buf[o..o + self.win].to_vec() };
                self.last_start = Some(s);
                self.next += self.hop;
                self.trim();
                return Some(Ok(w));
            }
            let Some(src) = self.src.as_mut() else {
                // The clip has ended: a short clip's one window, or the window ending at the end.
                self.finished = true;
                let n = self.total;
                if n == 0 {
                    return None;
                }
                if n < self.win {
                    return Some(Ok(Window { start: 0, end: n, x: crop_or_pad(&self.buf, self.win, self.pad, None) }));
                }
                if self.last_start == Some(n - self.win) {
                    return None;
                }
                let o = n - self.win - self.buf_start;
                return Some(Ok(Window { start: n - self.win, end: n, x: self.buf[o..o + self.win].to_vec() }));
            };
            match src.next() {
                Some(Ok(chunk)) => {
                    self.total += chunk.len();
                    self.buf.extend_from_slice(&chunk);
                    self.trim();
                }
                Some(Err(e)) => {
                    self.src = None;
                    self.finished = true;
                    return Some(Err(e));
                }
                None => self.src = None,
            }
        }
    }
}

/// Eval-mode probabilities (N, K) of N <= `model.batch` windows of `model.len` samples each
/// (rows past N are zeros; eval-mode BatchNorm keeps rows independent).
pub fn forward_windows<D: Device>(model: &Model<D>, windows: &[&[f32]]) -> Vec<f32> {
    let (b, l, k) = (model.batch, model.len, model.cfg.classes);
    assert!(windows.len() <= b, "{} windows for a batch of {b}", windows.len());
    let mut x = vec![0.0; b * l]; // (B, L)
    for (r, w) in windows.iter().enumerate() {
        x[r * l..(r + 1) * l].copy_from_slice(w);
    }
    model.forward(&x, false, 0);
    let mut p = probabilities(&model.logits(), k, model.cfg.loss);
    p.truncate(windows.len() * k);
    p
}

/// Mean over the windows of per-window probabilities (N, K): the clip's scores (K).
pub fn clip_scores(window_probs: &[f32], k: usize) -> Vec<f32> {
    let n = window_probs.len() / k;
    let mut s = vec![0f32; k];
    for row in window_probs.chunks(k) {
        for (a, v) in s.iter_mut().zip(row) {
            *a += v;
        }
    }
    s.iter_mut().for_each(|v| *v /= n.max(1) as f32);
    s
}

/// Clip-level probabilities (N clips, K) for the clips `indices` of `ds` under `policy`, and
/// their label sets; clips that fail to load are left out of both. The loader's batch must be the
/// model's and its crop the model's length. `indices` must not repeat an index back to back.
pub fn predict<D: Device>(
    model: &Model<D>, loader: &Loader, ds: &Dataset, indices: &[usize], policy: ClipPolicy,
) -> (Vec<f32>, Vec<Vec<usize>>) {
    let k = model.cfg.classes;
    let (win, pad) = (loader.config().crop, loader.config().pad);
    let cutter: ClipCutter = Arc::new(move |c: &[f32]| clip_windows(c, win, policy, pad).into_iter().map(|w| w.x).collect());
    let mut probs = Vec::with_capacity(indices.len() * k);
    let mut labels = Vec::with_capacity(indices.len());
    let mut cur: Option<(usize, Vec<f32>)> = None; // (clip, its window probabilities so far)
    for batch in loader.eval_windows(indices, cutter) {
        let rows: Vec<&[f32]> = batch.x.chunks(win).take(batch.rows).collect();
        let p = forward_windows(model, &rows);
        for (r, &item) in batch.items.iter().enumerate() {
            match &mut cur {
                Some((i, wp)) if *i == item => wp.extend_from_slice(&p[r * k..(r + 1) * k]),
                _ => {
                    if let Some((i, wp)) = cur.take() {
                        probs.extend(clip_scores(&wp, k));
                        labels.push(ds.items[i].labels.clone());
                    }
                    cur = Some((item, p[r * k..(r + 1) * k].to_vec()));
                }
            }
        }
    }
    if let Some((i, wp)) = cur {
        probs.extend(clip_scores(&wp, k));
        labels.push(ds.items[i].labels.clone());
    }
    (probs, labels)
}

/// Loads a model file onto a device for inference: `batch` windows per pass of `len` samples
/// each (`None`: the model's training crop).
pub fn load_for_inference<D: Device>(dev: D, path: &Path, batch: usize, len: Option<usize>) -> Result<(Model<D>, Vec<String>)> {
    model_for_inference(dev, load_model(path)?, path, batch, len)
}

/// [`load_for_inference`] from a model file already read (`path` names it in messages).
pub fn model_for_inference<D: Device>(dev: D, f: ModelFile, path: &Path, batch: usize, len: Option<usize>) -> Result<(Model<D>, Vec<String>)> {
    let len = len.unwrap_or_else(|| f.cfg.crop());
    let model = Model::new(dev, f.cfg, &f.values, batch, len).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((model, f.labels))
}

/// Per-window probabilities of one window: samples `[start, end)` and `probs` (K).
#[derive(Clone, Debug, PartialEq)]
pub struct WindowScores {
    pub start: usize,
    pub end: usize,
    pub probs: Vec<f32>,
}

/// What inference found in one file: its length in samples (at the model's rate), the
/// per-window probabilities in time order, and the clip's scores (K) under the policy.
#[derive(Clone, Debug, PartialEq)]
pub struct FileScores {
    pub samples: usize,
    pub windows: Vec<WindowScores>,
    pub clip: Vec<f32>,
}

/// Where a file's windows come from: streamed at a hop, or cut from the whole decoded clip.
type Chunks = Box<dyn Iterator<Item = Result<Vec<f32>, AudioError>>>;

enum Source {
    Stream(StreamWindows<Chunks>),
    Whole(std::vec::IntoIter<Window>, usize),
}

impl Source {
    /// Reads up to [`TRIM_LIMIT_S`] of the file: a file that ends within it is cut whole
    /// ([`clip_windows`]); a longer one ([`ClipPolicy::Windows`] only) streams on from there.
    fn open(path: &Path, sr: u32, win: usize, policy: ClipPolicy) -> Result<Source, AudioError> {
        Ok(match policy {
            ClipPolicy::Windows { hop } => {
                let mut stream = audio::open_stream(path, sr)?;
                let limit = TRIM_LIMIT_S * sr as usize;
                let mut head = Vec::new();
                let mut ended = false;
                while head.len() <= limit {
                    match stream.next() {
                        Some(Ok(chunk)) => head.extend_from_slice(&chunk),
                        Some(Err(e)) => return Err(e),
                        None => {
                            ended = true;
                            break;
                        }
                    }
                }
                if ended {
                    Source::Whole(clip_windows(&head, win, policy, PadMode::Zeros).into_iter(), head.len())
                } else {
                    let chunks: Chunks = Box::new(std::iter::once(Ok(head)).chain(stream));
                    Source::Stream(StreamWindows::new(chunks, win, hop, PadMode::Zeros))
                }
            }
            ClipPolicy::Crops(_) => {
                let clip = audio::load_audio(path, sr)?;
                Source::Whole(clip_windows(&clip, win, policy, PadMode::Zeros).into_iter(), clip.len())
            }
        })
    }

    fn next(&mut self) -> Option<Result<Window, AudioError>> {
        match self {
            Source::Stream(s) => s.next(),
            Source::Whole(it, _) => it.next().map(Ok),
        }
    }

    fn total(&self) -> usize {
        match self {
            Source::Stream(s) => s.total(),
            Source::Whole(_, n) => *n,
        }
    }
}

/// Runs the model over `files` in order, batching windows across files, and calls `done` once
/// per file, in order, with its scores or the reason it failed. `policy` decides the windows
/// (and so both the per-window timeline and the clip scores).
pub fn infer_files<D: Device>(
    model: &Model<D>, files: &[PathBuf], policy: ClipPolicy, mut done: impl FnMut(usize, Result<FileScores, String>) -> Result<()>,
) -> Result<()> {
    let (sr, win, b, k) = (model.cfg.sample_rate, model.len, model.batch, model.cfg.classes);
    let mut results: Vec<Option<Result<FileScores, String>>> = (0..files.len()).map(|_| None).collect();
    let mut pending: Vec<(usize, usize, usize, Vec<f32>)> = Vec::with_capacity(b); // (file, start, end, window)
    let mut next_out = 0;
    let flush = |pending: &mut Vec<(usize, usize, usize, Vec<f32>)>, results: &mut [Option<Result<FileScores, String>>]| {
        if pending.is_empty() {
            return;
        }
        let rows: Vec<&[f32]> = pending.iter().map(|p| &p.3[..]).collect();
        let p = forward_windows(model, &rows);
        for (r, (f, start, end, _)) in pending.iter().enumerate() {
            if let Some(Ok(fs)) = &mut results[*f] {
                fs.windows.push(WindowScores { start: *start, end: *end, probs: p[r * k..(r + 1) * k].to_vec() });
            }
        }
        pending.clear();
    };
    for (fi, path) in files.iter().enumerate() {
        results[fi] = Some(Ok(FileScores { samples: 0, windows: Vec::new(), clip: Vec::new() }));
        match Source::open(path, sr, win, policy) {
            Ok(mut src) => {
                while let Some(w) = src.next() {
                    match w {
                        Ok(w) => {
                            pending.push((fi, w.start, w.end, w.x));
                            if pending.len() == b {
                                flush(&mut pending, &mut results);
                            }
                        }
                        Err(e) => {
                            pending.retain(|p| p.0 != fi);
                            results[fi] = Some(Err(e.reason()));
                            break;
                        }
                    }
                }
                if let Some(Ok(fs)) = &mut results[fi] {
                    fs.samples = src.total();
                }
            }
            Err(e) => results[fi] = Some(Err(e.reason())),
        }
        // Every file before the oldest pending window is complete: hand it over.
        let complete = pending.first().map(|p| p.0).unwrap_or(fi + 1);
        while next_out < complete {
            done(next_out, finish(results[next_out].take().expect("a result"), k))?;
            next_out += 1;
        }
    }
    flush(&mut pending, &mut results);
    while next_out < files.len() {
        done(next_out, finish(results[next_out].take().expect("a result"), k))?;
        next_out += 1;
    }
    Ok(())
}

/// A stretch of consecutive windows in which one class reaches its threshold: samples
/// `[start, end)` (first window's start to last window's end), the class, and the highest
/// probability of the class over the stretch.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub start: usize,
    pub end: usize,
    pub class: usize,
    pub confidence: f32,
}

/// Merges consecutive windows (in time order) whose probability of a class is at least that
/// class's threshold into segments, sorted by start, then class.
pub fn segments(windows: &[WindowScores], thresholds: &[f32]) -> Vec<Segment> {
    let mut out = Vec::new();
    for (c, &thr) in thresholds.iter().enumerate() {
        let mut open: Option<Segment> = None;
        for w in windows {
            let p = w.probs[c];
            if p >= thr {
                match &mut open {
                    Some(g) => {
                        g.end = g.end.max(w.end);
                        g.confidence = g.confidence.max(p);
                    }
                    None => open = Some(Segment { start: w.start, end: w.end, class: c, confidence: p }),
                }
            } else if let Some(g) = open.take() {
                out.push(g);
            }
        }
        out.extend(open);
    }
    out.sort_by(|a, b| a.start.cmp(&b.start).then(a.class.cmp(&b.class)));
    out
}

fn finish(r: Result<FileScores, String>, k: usize) -> Result<FileScores, String> {
    let mut fs = r?;
    if fs.windows.is_empty() {
        return Err("no audio to tag".into());
    }
    let probs: Vec<f32> = fs.windows.iter().flat_map(|w| w.probs.iter().copied()).collect();
    fs.clip = clip_scores(&probs, k);
    Ok(fs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_windows_skip_the_silence_at_both_ends_and_keep_clip_times() {
        // 100 zeros, 30 samples of sound, 50 zeros; windows of 8 at hop 4.
        let mut clip = vec![0f32; 100];
        clip.extend((0..30).map(|i| 0.5 + 0.01 * i as f32));
        clip.extend(vec![0f32; 50]);
        let w = clip_windows(&clip, 8, ClipPolicy::Windows { hop: 4 }, PadMode::Zeros);
        let starts: Vec<usize> = w.iter().map(|w| w.start).collect();
        assert_eq!(starts, [100, 104, 108, 112, 116, 120, 122]);
        assert!(w.iter().all(|w| w.end == w.start + 8 && w.x == clip[w.start..w.end]));
        // A short sound in long padding is one window, the sound centred.
        let mut short = vec![0f32; 40];
        short.extend([1.0, -1.0, 1.0]);
        short.extend(vec![0f32; 40]);
        let w = clip_windows(&short, 8, ClipPolicy::Crops(3), PadMode::Zeros);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].start, w[0].end), (40, 43));
        assert_eq!(w[0].x, [0.0, 0.0, 1.0, -1.0, 1.0, 0.0, 0.0, 0.0]);
        // Nothing to trim: the same windows as `cut`.
        let plain: Vec<f32> = (0..20).map(|i| 1.0 + i as f32).collect();
        assert_eq!(clip_windows(&plain, 8, ClipPolicy::Windows { hop: 4 }, PadMode::Zeros), cut(&plain, 8, ClipPolicy::Windows { hop: 4 }, PadMode::Zeros));
    }

    #[test]
    fn windows_cover_the_clip_and_the_last_ends_at_its_end() {
        let p = ClipPolicy::Windows { hop: 4 };
        assert_eq!(window_starts(10, 8, p), [0, 2]);
        assert_eq!(window_starts(16, 8, p), [0, 4, 8]);
        assert_eq!(window_starts(17, 8, p), [0, 4, 8, 9]);
        assert_eq!(window_starts(8, 8, p), [0]);
        assert_eq!(window_starts(3, 8, p), [0]);
        assert_eq!(window_starts(30, 8, ClipPolicy::Windows { hop: 20 }), [0, 20, 22]);
        assert_eq!(window_starts(20, 8, ClipPolicy::Crops(1)), [6]);
        assert_eq!(window_starts(20, 8, ClipPolicy::Crops(3)), [0, 6, 12]);
        assert_eq!(window_starts(9, 8, ClipPolicy::Crops(5)), [0, 1]);
    }

    #[test]
    fn short_clips_are_centred_and_long_ones_have_no_zero_tail() {
        let clip: Vec<f32> = (1..=5).map(|v| v as f32).collect();
        let w = cut(&clip, 9, ClipPolicy::Windows { hop: 4 }, PadMode::Zeros);
        assert_eq!(w, [Window { start: 0, end: 5, x: vec![0., 0., 1., 2., 3., 4., 5., 0., 0.] }]);
        let long: Vec<f32> = (1..=11).map(|v| v as f32).collect();
        let w = cut(&long, 4, ClipPolicy::Windows { hop: 4 }, PadMode::Zeros);
        assert_eq!(w.iter().map(|w| (w.start, w.end)).collect::<Vec<_>>(), [(0, 4), (4, 8), (7, 11)]);
        assert!(w.iter().all(|w| w.x.iter().all(|v| *v != 0.0)), "no zero tail");
        assert_eq!(w[2].x, [8., 9., 10., 11.]);
    }

    #[test]
    fn streamed_windows_equal_the_in_memory_cut_for_any_chunking() {
        for n in [1usize, 5, 9, 10, 17, 40, 101] {
            let clip: Vec<f32> = (0..n).map(|i| (i + 1) as f32).collect();
            for (win, hop) in [(9, 4), (9, 9), (4, 7), (10, 3)] {
                let want = cut(&clip, win, ClipPolicy::Windows { hop }, PadMode::Zeros);
                for chunk in [1, 3, 8, 64] {
                    let src = clip.chunks(chunk).map(|c| Ok::<_, ()>(c.to_vec()));
                    let mut sw = StreamWindows::new(src, win, hop, PadMode::Zeros);
                    let got: Vec<Window> = sw.by_ref().map(|w| w.unwrap()).collect();
                    assert_eq!(got, want, "n {n} win {win} hop {hop} chunk {chunk}");
                    assert_eq!(sw.total(), n);
                    assert!(sw.buf.len() <= win + chunk, "bounded buffer");
                }
            }
        }
    }

    #[test]
    fn a_source_error_ends_the_stream_once() {
        let src = vec![Ok(vec![1.0; 10]), Err("bad"), Ok(vec![1.0; 10])].into_iter();
        let got: Vec<_> = StreamWindows::new(src, 4, 4, PadMode::Zeros).collect();
        assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
        assert!(got.last().unwrap().is_err());
    }

    #[test]
    fn consecutive_windows_over_the_threshold_merge_into_segments() {
        let w = |start: usize, p: [f32; 2]| WindowScores { start, end: start + 4, probs: p.to_vec() };
        let ws = [w(0, [0.9, 0.1]), w(2, [0.7, 0.3]), w(4, [0.2, 0.8]), w(6, [0.6, 0.4]), w(8, [0.5, 0.5])];
        let g = segments(&ws, &[0.5, 0.5]);
        let seg = |start, end, class, confidence| Segment { start, end, class, confidence };
        assert_eq!(g, [seg(0, 6, 0, 0.9), seg(4, 8, 1, 0.8), seg(6, 12, 0, 0.6), seg(8, 12, 1, 0.5)]);
        // Per-class thresholds: class 1 needs 0.85, class 0 0.65.
        assert_eq!(segments(&ws, &[0.65, 0.85]), [seg(0, 6, 0, 0.9)]);
        assert!(segments(&ws, &[1.1, 1.1]).is_empty());
    }

    #[test]
    fn clip_scores_are_the_window_mean() {
        assert_eq!(clip_scores(&[0.2, 0.8, 0.6, 0.4], 2), [0.4, 0.6]);
    }
}
