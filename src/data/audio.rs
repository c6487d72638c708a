//! Decoding audio files to mono `f32` at a chosen sample rate.
//!
//! Everything symphonia can read (WAV of any bit depth or float, FLAC, Ogg Vorbis, MP3,
//! AAC/M4A, AIFF, CAF, MKV/WebM audio) is decoded, down-mixed to mono by averaging the
//! channels and resampled with rubato's FFT resampler ([`rubato::FftFixedInOut`]).
//! Output samples are clamped to `[-1, 1]`.
//!
//! Three entry points:
//! * [`load_audio`]: the whole file in memory;
//! * [`open_stream`]: an iterator of resampled chunks, memory independent of file length;
//! * [`windows`]: fixed-size windows with a hop, built on the stream.
//!
//! No input bytes make these functions panic: symphonia is additionally guarded with
//! `catch_unwind`, and a panic inside a decoder becomes [`AudioError::Corrupt`].

use std::fs::File;
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rubato::{FftFixedInOut, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Why a file could not be turned into audio. Every message starts with the file's path.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The path cannot be opened or read (missing, a directory, permissions, I/O error).
    #[error("{}: cannot read: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    /// The file has zero bytes.
    #[error("{}: empty file", .path.display())]
    Empty { path: PathBuf },
    /// No container format recognises the bytes.
    #[error("{}: not an audio file (unrecognised format)", .path.display())]
    NotAudio { path: PathBuf },
    /// The file ends before its header or its declared data does.
    #[error("{}: truncated ({detail})", .path.display())]
    Truncated { path: PathBuf, detail: String },
    /// The container is recognised but its codec (or a feature of it) is not supported.
    #[error("{}: unsupported codec ({detail})", .path.display())]
    UnsupportedCodec { path: PathBuf, detail: String },
    /// The data is malformed beyond what the decoder can skip.
    #[error("{}: corrupt audio data ({detail})", .path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// Decoded samples include NaN or infinity (float WAV).
    #[error("{}: contains NaN/inf samples", .path.display())]
    NonFinite { path: PathBuf },
    /// The file is valid but holds no samples.
    #[error("{}: zero-length audio", .path.display())]
    ZeroLength { path: PathBuf },
    /// Every sample is exactly zero.
    #[error("{}: all-silent audio", .path.display())]
    Silent { path: PathBuf },
    /// The resampler could not be built or run (e.g. a sample rate of zero).
    #[error("{}: cannot resample: {detail}", .path.display())]
    Resample { path: PathBuf, detail: String },
    /// Writing a WAV failed.
    #[error("{}: cannot write: {reason}", .path.display())]
    Write { path: PathBuf, reason: String },
}

impl AudioError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            AudioError::Unreadable { path, .. }
            | AudioError::Empty { path }
            | AudioError::NotAudio { path }
            | AudioError::Truncated { path, .. }
            | AudioError::UnsupportedCodec { path, .. }
            | AudioError::Corrupt { path, .. }
            | AudioError::NonFinite { path }
            | AudioError::ZeroLength { path }
            | AudioError::Silent { path }
            | AudioError::Resample { path, .. }
            | AudioError::Write { path, .. } => path,
        }
    }

    /// The message without the leading `path: `.
    pub fn reason(&self) -> String {
        let full = self.to_string();
        let prefix = format!("{}: ", self.path().display());
        full.strip_prefix(&prefix).map(str::to_string).unwrap_or(full)
    }
}

/// Audio file extensions (lower case) that the dataset readers treat as audio.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "flac", "ogg", "oga", "mp3", "mp2", "m4a", "mp4", "aac", "aif", "aiff", "aifc",
    "caf", "mka", "webm",
];

/// Whether `path` has one of [`AUDIO_EXTENSIONS`] (case-insensitive).
pub fn is_audio_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => "file not found".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::IsADirectory => "is a directory, not a file".into(),
        _ => {
            // ELOOP has no stable ErrorKind: name it.
            if e.raw_os_error() == Some(40) {
                "too many levels of symbolic links (symlink loop)".into()
            } else {
                e.to_string()
            }
        }
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "decoder panicked".into()
    }
}

/// A file read from `offset` on, as its own media source.
struct OffsetFile {
    file: File,
    offset: u64,
    len: u64,
}

impl std::io::Read for OffsetFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl std::io::Seek for OffsetFile {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        use std::io::SeekFrom;
        let pos = match pos {
            SeekFrom::Start(p) => SeekFrom::Start(p.saturating_add(self.offset)),
            other => other,
        };
        let abs = self.file.seek(pos)?;
        if abs < self.offset {
            self.file.seek(SeekFrom::Start(self.offset))?;
            return Err(std::io::Error::new(ErrorKind::InvalidInput, "seek before start"));
        }
        Ok(abs - self.offset)
    }
}

impl symphonia::core::io::MediaSource for OffsetFile {
    fn is_seekable(&self) -> bool {
        true
    }
    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

fn probe(
    path: &Path,
    file: std::io::Result<File>,
    offset: u64,
) -> Result<symphonia::core::probe::ProbeResult, AudioError> {
    use std::io::Seek;
    let mut file = file.map_err(|e| AudioError::Unreadable { path: path.to_path_buf(), reason: io_reason(&e) })?;
    let len = file
        .metadata()
        .map_err(|e| AudioError::Unreadable { path: path.to_path_buf(), reason: io_reason(&e) })?
        .len();
    file.seek(std::io::SeekFrom::Start(offset))
        .map_err(|e| AudioError::Unreadable { path: path.to_path_buf(), reason: io_reason(&e) })?;
    let src = OffsetFile { file, offset, len: len.saturating_sub(offset) };
    let mss = MediaSourceStream::new(Box::new(src), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(&ext.to_ascii_lowercase());
    }
    let fmt_opts = FormatOptions { enable_gapless: true, ..Default::default() };
    symphonia::default::get_probe()
        .format(&hint, mss, &fmt_opts, &MetadataOptions::default())
        .map_err(|e| {
            let path = path.to_path_buf();
            match e {
                SymError::IoError(ref io) if io.kind() == ErrorKind::UnexpectedEof => {
                    if len < 64 || looks_like_audio(&path) {
                        AudioError::Truncated { path, detail: "file ends inside the header".into() }
                    } else {
                        AudioError::NotAudio { path }
                    }
                }
                SymError::IoError(ref io) => AudioError::Unreadable { path, reason: io_reason(io) },
                SymError::Unsupported(what) if what.contains("no suitable format reader") => {
                    AudioError::NotAudio { path }
                }
                SymError::Unsupported(what) => AudioError::UnsupportedCodec { path, detail: what.to_string() },
                other => AudioError::Corrupt { path, detail: format!("bad header: {other}") },
            }
        })
}

/// Whether the file starts with the magic bytes of a container symphonia reads.
fn looks_like_audio(path: &Path) -> bool {
    let head = read_head(path, 12);
    let magic: &[&[u8]] = &[b"RIFF", b"fLaC", b"OggS", b"ID3", b"FORM", b"caff", b"\x1a\x45\xdf\xa3"];
    magic.iter().any(|m| head.starts_with(m))
        || (head.len() >= 8 && &head[4..8] == b"ftyp")
        || (head.len() >= 2 && head[0] == 0xff && head[1] & 0xe0 == 0xe0)
}

fn read_head(path: &Path, n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut buf = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = f.take(n as u64).read_to_end(&mut buf);
    }
    buf
}

/// Offsets worth a second probe for a file that starts with an ID3v2 tag: just past the tag,
/// and the first MPEG frame sync after it.
fn id3_fallback_offsets(path: &Path) -> Vec<u64> {
    let head = read_head(path, 1 << 16);
    if head.len() < 10 || &head[..3] != b"ID3" {
        return Vec::new();
    }
    let size = head[6..10].iter().fold(0u64, |a, &b| (a << 7) | (b & 0x7f) as u64);
    let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
    let after = 10 + size + footer;
    let mut out = vec![after];
    let from = (after as usize).max(10).min(head.len());
    if let Some(i) = head[from..].windows(2).position(|w| w[0] == 0xff && w[1] & 0xe0 == 0xe0 && w[1] & 0x06 != 0) {
        let off = (from + i) as u64;
        if off != after {
            out.push(off);
        }
    }
    out
}

/// Channels or packet sizes beyond these are taken as a corrupt header (and would otherwise
/// make the decoder allocate absurd buffers).
const MAX_CHANNELS: usize = 64;
const MAX_FRAMES_PER_PACKET: u64 = 1 << 22;
/// Consecutive undecodable packets tolerated before giving up on a file.
const MAX_CONSECUTIVE_DECODE_ERRORS: usize = 64;

/// Demuxer + decoder that yields mono packets at the file's own rate.
struct MonoDecoder {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    rate: u32,
    /// Frames the container declares, when it does.
    declared_frames: Option<u64>,
    /// Whether the codec is plain PCM (then the declared length is exact).
    pcm: bool,
    decoded_frames: u64,
    sample_buf: Option<SampleBuffer<f32>>,
    errors_in_a_row: usize,
    done: bool,
}

impl MonoDecoder {
    fn open(path: &Path) -> Result<MonoDecoder, AudioError> {
        let p = path.to_path_buf();
        let meta = std::fs::metadata(path)
            .map_err(|e| AudioError::Unreadable { path: p.clone(), reason: io_reason(&e) })?;
        if meta.is_dir() {
            return Err(AudioError::Unreadable { path: p, reason: "is a directory, not a file".into() });
        }
        let file = File::open(path)
            .map_err(|e| AudioError::Unreadable { path: p.clone(), reason: io_reason(&e) })?;
        if meta.len() == 0 {
            return Err(AudioError::Empty { path: p });
        }
        match catch_unwind(AssertUnwindSafe(|| Self::open_inner(p.clone(), file))) {
            Ok(r) => r,
            Err(panic) => Err(AudioError::Corrupt {
                path: p,
                detail: format!("decoder panicked while reading the header: {}", panic_text(&*panic)),
            }),
        }
    }

    fn open_inner(path: PathBuf, file: File) -> Result<MonoDecoder, AudioError> {
        let probed = match probe(&path, file.try_clone(), 0) {
            Ok(p) => p,
            Err(first) => {
                // Some MP3s carry a broken ID3v2 header (e.g. a size-0 tag written over the
                // first frame) that stops the probe: retry past the tag, then at the first
                // frame sync.
                let mut retried = None;
                for off in id3_fallback_offsets(&path) {
                    if let Ok(p) = probe(&path, file.try_clone(), off) {
                        retried = Some(p);
                        break;
                    }
                }
                match retried {
                    Some(p) => p,
                    None => return Err(first),
                }
            }
        };
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::UnsupportedCodec {
                path: path.clone(),
                detail: "no decodable audio track".into(),
            })?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        if let Some(ch) = params.channels {
            if ch.count() == 0 || ch.count() > MAX_CHANNELS {
                return Err(AudioError::Corrupt {
                    path,
                    detail: format!("implausible channel count {}", ch.count()),
                });
            }
        }
        if let Some(m) = params.max_frames_per_packet {
            if m > MAX_FRAMES_PER_PACKET {
                return Err(AudioError::Corrupt { path, detail: format!("implausible packet size {m}") });
            }
        }
        let rate = match params.sample_rate {
            Some(r) if r > 0 => r,
            _ => {
                return Err(AudioError::Corrupt { path, detail: "missing or zero sample rate".into() });
            }
        };
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| AudioError::UnsupportedCodec { path: path.clone(), detail: e.to_string() })?;
        let pcm = {
            use symphonia::core::codecs::*;
            [
                CODEC_TYPE_PCM_S8, CODEC_TYPE_PCM_U8, CODEC_TYPE_PCM_S16LE, CODEC_TYPE_PCM_S16BE,
                CODEC_TYPE_PCM_S24LE, CODEC_TYPE_PCM_S24BE, CODEC_TYPE_PCM_S32LE, CODEC_TYPE_PCM_S32BE,
                CODEC_TYPE_PCM_F32LE, CODEC_TYPE_PCM_F32BE, CODEC_TYPE_PCM_F64LE, CODEC_TYPE_PCM_F64BE,
                CODEC_TYPE_PCM_U16LE, CODEC_TYPE_PCM_U16BE, CODEC_TYPE_PCM_U24LE, CODEC_TYPE_PCM_U24BE,
                CODEC_TYPE_PCM_U32LE, CODEC_TYPE_PCM_U32BE,
            ]
            .contains(&params.codec)
        };
        Ok(MonoDecoder {
            path,
            format,
            decoder,
            track_id,
            rate,
            declared_frames: params.n_frames,
            pcm,
            decoded_frames: 0,
            sample_buf: None,
            errors_in_a_row: 0,
            done: false,
        })
    }

    /// Next decoded packet as mono samples at `self.rate`; `None` at the end of the stream.
    fn next_mono(&mut self) -> Option<Result<Vec<f32>, AudioError>> {
        if self.done {
            return None;
        }
        let r = catch_unwind(AssertUnwindSafe(|| self.next_mono_inner()));
        let r = match r {
            Ok(r) => r,
            Err(panic) => Some(Err(AudioError::Corrupt {
                path: self.path.clone(),
                detail: format!("decoder panicked: {}", panic_text(&*panic)),
            })),
        };
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }

    fn next_mono_inner(&mut self) -> Option<Result<Vec<f32>, AudioError>> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                    return self.at_end();
                }
                Err(SymError::ResetRequired) => return self.at_end(),
                Err(SymError::IoError(e)) => {
                    return Some(Err(AudioError::Unreadable { path: self.path.clone(), reason: io_reason(&e) }))
                }
                Err(SymError::DecodeError(what)) => {
                    self.errors_in_a_row += 1;
                    if self.errors_in_a_row > MAX_CONSECUTIVE_DECODE_ERRORS {
                        return Some(Err(AudioError::Corrupt { path: self.path.clone(), detail: what.to_string() }));
                    }
                    continue;
                }
                Err(e) => {
                    return Some(Err(AudioError::Corrupt { path: self.path.clone(), detail: e.to_string() }))
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymError::DecodeError(what)) | Err(SymError::Unsupported(what)) => {
                    self.errors_in_a_row += 1;
                    if self.errors_in_a_row > MAX_CONSECUTIVE_DECODE_ERRORS {
                        return Some(Err(AudioError::Corrupt { path: self.path.clone(), detail: what.to_string() }));
                    }
                    continue;
                }
                Err(SymError::IoError(_)) => {
                    // A packet cut short: skip it like a decode error.
                    self.errors_in_a_row += 1;
                    if self.errors_in_a_row > MAX_CONSECUTIVE_DECODE_ERRORS {
                        return Some(Err(AudioError::Truncated {
                            path: self.path.clone(),
                            detail: "packets end early".into(),
                        }));
                    }
                    continue;
                }
                Err(e) => {
                    return Some(Err(AudioError::Corrupt { path: self.path.clone(), detail: e.to_string() }))
                }
            };
            self.errors_in_a_row = 0;
            let spec = *decoded.spec();
            let channels = spec.channels.count().max(1);
            if channels > MAX_CHANNELS {
                return Some(Err(AudioError::Corrupt {
                    path: self.path.clone(),
                    detail: format!("implausible channel count {channels}"),
                }));
            }
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            let need = decoded.capacity() as u64;
            let buf = match &mut self.sample_buf {
                Some(b) if b.capacity() as u64 >= need * channels as u64 => b,
                slot => {
                    *slot = Some(SampleBuffer::<f32>::new(need, spec));
                    slot.as_mut().unwrap()
                }
            };
            buf.copy_interleaved_ref(decoded);
            let inter = buf.samples();
            let frames = inter.len() / channels;
            let mut mono = Vec::with_capacity(frames);
            if channels == 1 {
                mono.extend_from_slice(&inter[..frames]);
            } else {
                let inv = 1.0 / channels as f32;
                for f in 0..frames {
                    let s: f32 = inter[f * channels..(f + 1) * channels].iter().sum();
                    mono.push(s * inv);
                }
            }
            if mono.iter().any(|s| !s.is_finite()) {
                return Some(Err(AudioError::NonFinite { path: self.path.clone() }));
            }
            self.decoded_frames += frames as u64;
            return Some(Ok(mono));
        }
    }

    fn at_end(&mut self) -> Option<Result<Vec<f32>, AudioError>> {
        if let Some(n) = self.declared_frames {
            // PCM lengths are exact (up to 8 frames: symphonia counts AIFF's 8-byte SSND
            // offset/block-size fields as audio); compressed codecs may differ by a few packets
            // (priming, padding, estimated lengths), so only a clear shortfall counts there.
            let tolerance = if self.pcm { 8 } else { (n / 50).max(8192) };
            if self.decoded_frames + tolerance < n {
                return Some(Err(AudioError::Truncated {
                    path: self.path.clone(),
                    detail: format!("header declares {n} frames, file holds {}", self.decoded_frames),
                }));
            }
        }
        None
    }
}

/// Streaming mono resampler around [`FftFixedInOut`], trimmed for its delay and flushed so that
/// `n` input frames give `round(n * out / in)` output frames.
pub(crate) struct StreamResampler {
    inner: Option<FftFixedInOut<f32>>,
    in_rate: u32,
    out_rate: u32,
    pending: Vec<f32>,
    to_skip: usize,
    frames_in: u64,
    frames_out: u64,
}

impl StreamResampler {
    pub(crate) fn new(in_rate: u32, out_rate: u32) -> Result<StreamResampler, String> {
        if in_rate == 0 || out_rate == 0 {
            return Err(format!("sample rates must be positive (got {in_rate} -> {out_rate})"));
        }
        let inner = if in_rate == out_rate {
            None
        } else {
            Some(FftFixedInOut::<f32>::new(in_rate as usize, out_rate as usize, 1024, 1).map_err(|e| e.to_string())?)
        };
        let to_skip = inner.as_ref().map(|r| r.output_delay()).unwrap_or(0);
        Ok(StreamResampler { inner, in_rate, out_rate, pending: Vec::new(), to_skip, frames_in: 0, frames_out: 0 })
    }

    fn expected_out(&self) -> u64 {
        ((self.frames_in as u128 * self.out_rate as u128 + self.in_rate as u128 / 2) / self.in_rate as u128) as u64
    }

    fn emit(to_skip: &mut usize, chunk: &[f32], out: &mut Vec<f32>) {
        let skip = (*to_skip).min(chunk.len());
        *to_skip -= skip;
        out.extend(chunk[skip..].iter().map(|s| s.clamp(-1.0, 1.0)));
    }

    /// Feed input, append whatever output is ready to `out`.
    pub(crate) fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), String> {
        self.frames_in += input.len() as u64;
        let Some(r) = self.inner.as_mut() else {
            out.extend(input.iter().map(|s| s.clamp(-1.0, 1.0)));
            self.frames_out += input.len() as u64;
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let n = r.input_frames_next();
        let mut start = 0;
        let before = out.len();
        while self.pending.len() - start >= n {
            let res = r.process(&[&self.pending[start..start + n]], None).map_err(|e| e.to_string())?;
            start += n;
            let chunk = res.into_iter().next().unwrap_or_default();
            Self::emit(&mut self.to_skip, &chunk, out);
        }
        self.pending.drain(..start);
        self.frames_out += (out.len() - before) as u64;
        Ok(())
    }

    /// Flush at the end of the input: the remaining output, trimmed to the exact length.
    pub(crate) fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), String> {
        let expected = self.expected_out();
        let before = out.len();
        if let Some(r) = self.inner.as_mut() {
            let n = r.input_frames_next();
            let mut produced = self.frames_out;
            let mut rounds = 0;
            while produced < expected && rounds < 64 {
                let take = self.pending.len().min(n);
                let mut block = vec![0.0f32; n];
                block[..take].copy_from_slice(&self.pending[..take]);
                self.pending.drain(..take);
                let res = r.process(&[&block[..]], None).map_err(|e| e.to_string())?;
                let chunk = res.into_iter().next().unwrap_or_default();
                let l0 = out.len();
                Self::emit(&mut self.to_skip, &chunk, out);
                produced += (out.len() - l0) as u64;
                rounds += 1;
            }
        }
        let total = self.frames_out + (out.len() - before) as u64;
        if total > expected {
            let excess = (total - expected) as usize;
            let keep = out.len().saturating_sub(excess).max(before);
            out.truncate(keep);
        }
        self.frames_out = expected.min(total);
        Ok(())
    }
}

/// Resample a whole buffer from `in_rate` to `out_rate` (rubato FFT resampler, delay-compensated,
/// output length `round(len * out_rate / in_rate)`).
pub fn resample(samples: &[f32], in_rate: u32, out_rate: u32) -> Result<Vec<f32>, String> {
    let mut r = StreamResampler::new(in_rate, out_rate)?;
    let mut out = Vec::with_capacity(samples.len() * out_rate as usize / in_rate.max(1) as usize + 16);
    r.push(samples, &mut out)?;
    r.finish(&mut out)?;
    Ok(out)
}

/// A decoded, down-mixed, resampled file read chunk by chunk. Memory use does not grow with
/// the file's length. The concatenation of all chunks equals [`load_audio`]'s result. At the
/// end of a file with no samples, or whose samples are all zero, the stream yields one
/// `Err` ([`AudioError::ZeroLength`] / [`AudioError::Silent`]) after its chunks.
pub struct AudioStream {
    path: PathBuf,
    dec: MonoDecoder,
    rs: StreamResampler,
    sample_rate: u32,
    source_rate: u32,
    max_abs: f32,
    total_in: u64,
    finished: bool,
}

impl AudioStream {
    /// The file's own sample rate.
    pub fn source_rate(&self) -> u32 {
        self.source_rate
    }
    /// The output sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Open `path` for streaming at `sample_rate`.
pub fn open_stream(path: &Path, sample_rate: u32) -> Result<AudioStream, AudioError> {
    let dec = MonoDecoder::open(path)?;
    let rs = StreamResampler::new(dec.rate, sample_rate)
        .map_err(|detail| AudioError::Resample { path: path.to_path_buf(), detail })?;
    Ok(AudioStream {
        path: path.to_path_buf(),
        source_rate: dec.rate,
        dec,
        rs,
        sample_rate,
        max_abs: 0.0,
        total_in: 0,
        finished: false,
    })
}

impl Iterator for AudioStream {
    type Item = Result<Vec<f32>, AudioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let mut out = Vec::new();
        loop {
            match self.dec.next_mono() {
                Some(Ok(mono)) => {
                    self.total_in += mono.len() as u64;
                    for s in &mono {
                        self.max_abs = self.max_abs.max(s.abs());
                    }
                    if let Err(detail) = self.rs.push(&mono, &mut out) {
                        self.finished = true;
                        return Some(Err(AudioError::Resample { path: self.path.clone(), detail }));
                    }
                    if !out.is_empty() {
                        return Some(Ok(out));
                    }
                }
                Some(Err(e)) => {
                    self.finished = true;
                    return Some(Err(e));
                }
                None => {
                    self.finished = true;
                    if self.total_in == 0 {
                        return Some(Err(AudioError::ZeroLength { path: self.path.clone() }));
                    }
                    if self.max_abs == 0.0 {
                        return Some(Err(AudioError::Silent { path: self.path.clone() }));
                    }
                    if let Err(detail) = self.rs.finish(&mut out) {
                        return Some(Err(AudioError::Resample { path: self.path.clone(), detail }));
                    }
                    return if out.is_empty() { None } else { Some(Ok(out)) };
                }
            }
        }
    }
}

/// Decode the whole file at `path` to mono `f32` at `sample_rate`, samples in `[-1, 1]`.
pub fn load_audio(path: &Path, sample_rate: u32) -> Result<Vec<f32>, AudioError> {
    let mut out = Vec::new();
    for chunk in open_stream(path, sample_rate)? {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Streaming fixed-size windows over a file; see [`windows`].
pub struct Windows {
    stream: Option<AudioStream>,
    win: usize,
    hop: usize,
    /// Samples from absolute position `buf_start` on.
    buf: Vec<f32>,
    buf_start: u64,
    /// Start of the next window.
    next_start: u64,
    /// End (exclusive) of the last emitted window, if any.
    last_end: Option<u64>,
    total: u64,
    ended: bool,
}

impl Windows {
    fn take_window(&mut self, start: u64) -> Vec<f32> {
        let mut w = vec![0.0f32; self.win];
        if start >= self.buf_start {
            let off = (start - self.buf_start) as usize;
            if off < self.buf.len() {
                let n = (self.buf.len() - off).min(self.win);
                w[..n].copy_from_slice(&self.buf[off..off + n]);
            }
        }
        self.last_end = Some(start + self.win as u64);
        self.next_start = start + self.hop as u64;
        // Drop samples before the next window.
        if self.next_start > self.buf_start {
            let drop = ((self.next_start - self.buf_start) as usize).min(self.buf.len());
            self.buf.drain(..drop);
            self.buf_start += drop as u64;
        }
        w
    }
}

impl Iterator for Windows {
    type Item = Result<Vec<f32>, AudioError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let buf_end = self.buf_start + self.buf.len() as u64;
            if buf_end >= self.next_start + self.win as u64 && !self.ended {
                let s = self.next_start;
                return Some(Ok(self.take_window(s)));
            }
            if self.ended {
                // Emit the windows that still touch audio: the first one always, then any
                // whose predecessor did not reach the end.
                let s = self.next_start;
                let emit = match self.last_end {
                    None => true,
                    Some(end) => end < self.total && s < self.total,
                };
                if emit {
                    return Some(Ok(self.take_window(s)));
                }
                return None;
            }
            let Some(stream) = self.stream.as_mut() else {
                self.ended = true;
                continue;
            };
            match stream.next() {
                Some(Ok(chunk)) => {
                    self.total += chunk.len() as u64;
                    // Skip samples that fall before the next window (hop > win).
                    let mut chunk = &chunk[..];
                    if self.buf.is_empty() && self.buf_start < self.next_start {
                        let skip = ((self.next_start - self.buf_start) as usize).min(chunk.len());
                        chunk = &chunk[skip..];
                        self.buf_start += skip as u64;
                    }
                    self.buf.extend_from_slice(chunk);
                }
                Some(Err(e)) => {
                    self.stream = None;
                    self.ended = true;
                    self.last_end = Some(u64::MAX);
                    return Some(Err(e));
                }
                None => {
                    self.stream = None;
                    self.ended = true;
                }
            }
        }
    }
}

/// Windows of exactly `win` samples starting every `hop` samples (at 0, hop, 2·hop, …) over the
/// file resampled to `sample_rate`, read as a stream (memory independent of the file's length).
/// Windows are emitted until one reaches the end of the audio; the last one is zero-padded. A
/// file shorter than `win` gives one zero-padded window. When `hop > win`, windows starting
/// before the end are emitted. An error while reading ends the iteration after yielding it.
pub fn windows(
    path: &Path,
    sample_rate: u32,
    win: usize,
    hop: usize,
) -> Result<Windows, AudioError> {
    if win == 0 || hop == 0 {
        return Err(AudioError::Resample {
            path: path.to_path_buf(),
            detail: format!("window and hop must be positive (win={win}, hop={hop})"),
        });
    }
    let stream = open_stream(path, sample_rate)?;
    Ok(Windows {
        stream: Some(stream),
        win,
        hop,
        buf: Vec::new(),
        buf_start: 0,
        next_start: 0,
        last_end: None,
        total: 0,
        ended: false,
    })
}

/// Number of windows [`windows`] yields for `n` samples.
pub fn window_count(n: usize, win: usize, hop: usize) -> usize {
    let mut count = 1;
    let mut start = 0usize;
    while start + win < n && start + hop < n {
        start += hop;
        count += 1;
    }
    count
}

/// Write mono 16-bit PCM WAV (samples clamped to `[-1, 1]`).
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<(), AudioError> {
    let werr = |e: hound::Error| AudioError::Write { path: path.to_path_buf(), reason: e.to_string() };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(werr)?;
    for &s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        w.write_sample(v).map_err(werr)?;
    }
    w.finalize().map_err(werr)?;
    Ok(())
}
