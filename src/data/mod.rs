//! Reading audio and datasets, augmentation, and the batch loader.
//!
//! * [`audio`]: decode any symphonia-readable file to mono `f32` at a chosen rate, whole or
//!   streamed, with clear per-file errors.
//! * [`dataset`]: class folders, CSV manifests and the FSDKaggle2018 layout.
//! * [`augment`]: waveform augmentations, each a pure function of samples and an RNG.
//! * [`loader`]: parallel, deterministic, cached batch preparation.

pub mod audio;
pub mod augment;
pub mod dataset;
pub mod loader;

pub use audio::{
    is_audio_path, load_audio, open_stream, resample, window_count, windows, write_wav, AudioError, AudioStream,
    Windows, AUDIO_EXTENSIONS,
};
pub use augment::{AugmentConfig, NoiseColor, Range};
pub use dataset::{DataError, Dataset, DatasetOptions, Item, Layout, Problem, SelectError, Selection};
pub use loader::{Batch, BatchIter, CacheStats, ClipCutter, Loader, LoaderConfig, PadMode};
