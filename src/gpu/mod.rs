//! The `gpu` device: every op as a WGSL compute shader run through wgpu.
//!
//! Layout: `shaders/<op>.wgsl` holds an op's forward and backward entry points; the matching
//! `src/gpu/<op>.rs` checks shapes and records the dispatches. This file owns the wgpu
//! objects, buffers, the pipeline cache and the command recording:
//!
//! - Ops are recorded into one pending `CommandEncoder` (one compute pass per dispatch) and
//!   submitted on `download`, `sync`, `upload` (to keep its write ordered after the pending
//!   work) or when [`RING_SLOTS`] dispatches are pending. Nothing is read back except by
//!   `download`.
//! - Each dispatch's small parameters (sizes, p, seed, lr, ...) go in a 256-byte slot of a
//!   uniform ring buffer, bound with a dynamic offset. The slots are staged on the host and
//!   written with one `queue.write_buffer` just before the submit that uses them.
//! - Pipelines are created on first use and cached for the life of the device, keyed by
//!   (shader, entry point); every pipeline has an explicit, labelled bind-group layout:
//!   binding 0 is the uniform slot, bindings 1.. the storage buffers in argument order.
//! - Benchmarking hooks (`benches/kernels.rs`): [`GpuDevice::time`] measures the dispatches a
//!   closure records (timestamp queries where the adapter has them, else wall clock with the
//!   queue drained), and [`GpuDevice::set_workgroup_size`] compiles an entry point with another
//!   value of its `WG` override constant (the pipeline cache is keyed by (shader, entry, WG)).

mod adamw;
mod batchnorm;
mod conv1d;
mod dropout;
mod filter_mask;
mod filterbank;
mod gabor;
mod globalpool;
mod linear;
mod log_energy;
mod loss;
mod maxpool;
mod relu;
mod window_system;

pub use window_system::private_runtime_dir;

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::device::{AdamW, Device};

/// Size of one uniform slot in bytes (the largest `min_uniform_buffer_offset_alignment`).
const SLOT: usize = 256;
/// Most chunks a split reduction uses (bounds its scratch).
pub(crate) const MAX_CHUNKS: usize = 1024;
/// Uniform slots per ring; the pending work is submitted when they are all used.
pub const RING_SLOTS: usize = 256;
/// Dispatches [`GpuDevice::time`] can time with timestamp queries (two queries each); later
/// dispatches of the same timed closure run untimed.
const TIMER_PAIRS: usize = 1024;

/// Why the gpu device could not be opened. Messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found: install Mesa's Vulkan driver (apt-get install mesa-vulkan-drivers \
         libvulkan1) or use --device cpu"
    )]
    NoAdapter,
    #[error(
        "no hardware GPU adapter found, only software ones ({0}): use --device gpu to run on the \
         software adapter anyway (slow), or --device cpu"
    )]
    NoHardwareAdapter(String),
    #[error("could not open the GPU device on {adapter}: {source}; update the GPU driver or use --device cpu")]
    RequestDevice {
        adapter: String,
        #[source]
        source: wgpu::RequestDeviceError,
    },
}

/// One adapter as `wavnet info` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// True for CPU (software) adapters such as Mesa's llvmpipe / lavapipe.
    pub is_software: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {}", self.name, self.backend, self.device_type)?;
        if !self.driver.is_empty() {
            write!(f, ", driver {}", self.driver)?;
        }
        write!(f, ")")
    }
}

fn summary(info: &wgpu::AdapterInfo) -> AdapterSummary {
    let driver = match (info.driver.is_empty(), info.driver_info.is_empty()) {
        (false, false) => format!("{} {}", info.driver, info.driver_info),
        (false, true) => info.driver.clone(),
        (true, _) => info.driver_info.clone(),
    };
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver,
        is_software: info.device_type == wgpu::DeviceType::Cpu,
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    desc.flags = wgpu::InstanceFlags::from_build_config().with_env();
    wgpu::Instance::new(desc)
}

/// The adapters to choose from. `WGPU_BACKEND` restricts the backends; without it the primary
/// backends (Vulkan, Metal, DX12) are tried first and GL only when they have no adapter (GL is
/// slower to compile shaders and lacks features; initialising it also makes Mesa's EGL print
/// warnings on headless machines).
fn adapters() -> (wgpu::Instance, Vec<wgpu::Adapter>) {
    let try_backends = |b: wgpu::Backends| {
        let inst = instance(b);
        let found = pollster::block_on(inst.enumerate_adapters(b));
        (inst, found)
    };
    if let Some(b) = wgpu::Backends::from_env() {
        return try_backends(b);
    }
    let primary = try_backends(wgpu::Backends::PRIMARY);
    if !primary.1.is_empty() {
        return primary;
    }
    try_backends(wgpu::Backends::SECONDARY)
}

/// Lower is better: discrete > integrated > virtual > other > cpu; then Vulkan/Metal/DX12 > GL.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let t = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let b = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (t, b)
}

/// The adapters `--device gpu` chooses from (see `adapters`), best first.
pub fn list_adapters() -> Vec<AdapterSummary> {
    let mut infos: Vec<wgpu::AdapterInfo> = adapters().1.iter().map(|a| a.get_info()).collect();
    infos.sort_by_key(rank);
    infos.iter().map(summary).collect()
}

/// The gpu device for tests: panics with the install message when no adapter exists, and
/// returns `None` (after a loud line on stderr) when `WAVNET_SKIP_GPU_TESTS=1`.
pub fn test_device() -> Option<GpuDevice> {
    if std::env::var("WAVNET_SKIP_GPU_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: WAVNET_SKIP_GPU_TESTS=1 (gpu test not run)");
        return None;
    }
    match GpuDevice::new(false) {
        Ok(d) => Some(d),
        Err(e) => panic!("{e} (set WAVNET_SKIP_GPU_TESTS=1 to skip the gpu tests)"),
    }
}

/// An f32 tensor on the gpu: a storage buffer and its length in floats.
#[derive(Debug)]
pub struct GpuBuf {
    buffer: wgpu::Buffer,
    len: usize,
}

impl GpuBuf {
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// How a shader sees one storage binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    ReadWrite,
}

/// One entry point of one shader file and its storage bindings (1.., in order).
pub(crate) struct Kernel {
    pub shader: &'static str,
    pub source: &'static str,
    pub entry: &'static str,
    /// Workgroup size: the `WG` override constant of the shader for elementwise-style entry
    /// points; reduction entry points use their own fixed size and ignore it.
    pub wg: u32,
    pub bindings: &'static [Access],
}

/// (shader, entry point, `WG` override constant, other override constants by name).
type PipelineKey = (&'static str, &'static str, u32, Vec<(&'static str, u32)>);

/// A range of a [`GpuBuf`] bound to one storage binding: `len` floats from float `off`.
/// Kernels that run in pieces ([`GpuDevice::pieces`]) bind batch slices of their buffers.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    buf: &'a GpuBuf,
    off: usize,
    len: usize,
}

impl GpuBuf {
    /// The whole buffer.
    pub(crate) fn all(&self) -> View<'_> {
        View { buf: self, off: 0, len: self.len }
    }
    /// The first `len` floats (a scratch buffer may be larger than one call needs).
    pub(crate) fn head(&self, len: usize) -> View<'_> {
        assert!(len <= self.len, "view of {len} floats of a buffer of {}", self.len);
        View { buf: self, off: 0, len }
    }
    /// Samples `b0 .. b0 + nb` of a batch-major buffer holding `per` floats per sample.
    pub(crate) fn rows(&self, (b0, nb): (usize, usize), per: usize) -> View<'_> {
        assert!((b0 + nb) * per <= self.len, "view of samples {b0}..{} x {per} floats past a buffer of {}", b0 + nb, self.len);
        View { buf: self, off: b0 * per, len: nb * per }
    }
}

/// Knobs of the kernels' scheduling. None of them changes what an op computes; split
/// reductions change the order of the float additions (so results move in the last bits), and
/// stay deterministic for a given shape, chunk count and piece size.
#[derive(Clone, Debug, PartialEq)]
pub struct Tuning {
    /// Forward products of the filterbank and conv1d with workgroup shared-memory tiles (the
    /// `*_tiled` entry points); false: the plain register-tile kernels. [`GpuDevice::new`]
    /// picks by adapter class: plain on CPU (software) adapters, tiled on the others.
    pub tiled: bool,
    /// Filterbank tiles: (`FK` rows, `FT` frames, `FJ` taps per shared-memory step); FK and
    /// FT multiples of 4 (each invocation computes a 4 x 4 register tile), FK * FT / 16
    /// invocations per workgroup (<= 256), (FK + FT) * FJ <= 4096 floats of shared memory.
    pub fb_tile: [u32; 3],
    /// Conv1d tiles: (`CO` output channels, `CF` frames, `CI` input channels per step); same
    /// rules, with CO * CI * 3 + CI * (CF + 2) <= 4096 floats of shared memory.
    pub conv_tile: [u32; 3],
    /// Chunks of the split reductions (BatchNorm statistics, conv1d and filterbank weight
    /// gradients); `None`: sized from the problem (see `GpuDevice::reduction_plan`). Tests force 1 and many.
    pub chunks: Option<usize>,
    /// Largest storage binding in bytes that a kernel may use, below the adapter's own limit;
    /// `None`: the adapter's limit. Tests set a small one to prove the piecewise path.
    pub max_binding: Option<u64>,
}

impl Tuning {
    /// The defaults for an adapter of this class: plain kernels on CPU adapters.
    pub fn for_adapter(device_type: wgpu::DeviceType) -> Tuning {
        Tuning {
            tiled: device_type != wgpu::DeviceType::Cpu,
            fb_tile: [32, 32, 16],
            conv_tile: [32, 32, 8],
            chunks: None,
            max_binding: None,
        }
    }
}

struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    /// Host copy of the uniform slots used by the pending work.
    ring_data: Vec<u8>,
    slots_used: usize,
    /// Inside [`GpuDevice::time`] with timestamp queries: timestamp pairs written so far.
    timing: Option<u32>,
}

/// Timestamp queries for [`GpuDevice::time`] (adapters with `Features::TIMESTAMP_QUERY`).
struct Timer {
    /// 2 * TIMER_PAIRS timestamps: (beginning, end) of each timed compute pass.
    queries: wgpu::QuerySet,
    /// QUERY_RESOLVE | COPY_SRC, 8 bytes per timestamp.
    resolve: wgpu::Buffer,
    /// MAP_READ | COPY_DST copy of `resolve`.
    readback: wgpu::Buffer,
}

/// The wgpu device: instance, adapter, device, queue, pipeline cache and pending work.
pub struct GpuDevice {
    _instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    /// Largest storage binding the adapter allows, bytes.
    max_binding: u64,
    /// Largest buffer the adapter allows, bytes.
    max_buffer: u64,
    /// Offsets of storage bindings must be multiples of this, bytes.
    storage_align: u64,
    max_groups_per_dim: usize,
    tuning: Mutex<Tuning>,
    /// Partial sums of the split reductions; grown to the largest size asked for and reused,
    /// so a training loop allocates it during its first step only.
    scratch: Mutex<Option<Arc<GpuBuf>>>,
    ring: wgpu::Buffer,
    modules: Mutex<HashMap<&'static str, Arc<wgpu::ShaderModule>>>,
    /// Keyed by (shader, entry point, WG override).
    pipelines: Mutex<HashMap<PipelineKey, Arc<Pipeline>>>,
    pending: Mutex<Pending>,
    timer: Option<Timer>,
    /// Benchmark overrides of the `WG` constant by entry point ([`GpuDevice::set_workgroup_size`]).
    wg_overrides: Mutex<HashMap<String, u32>>,
}

impl GpuDevice {
    /// Opens the best adapter (discrete > integrated > virtual > cpu). With
    /// `prefer_hardware_only`, only software adapters is an error
    /// ([`GpuError::NoHardwareAdapter`]). `WGPU_BACKEND=vulkan|gl|...` restricts the backends.
    pub fn new(prefer_hardware_only: bool) -> Result<GpuDevice, GpuError> {
        let (inst, mut adapters) = adapters();
        adapters.sort_by_key(|a| rank(&a.get_info()));
        let Some(adapter) = adapters.into_iter().next() else {
            return Err(GpuError::NoAdapter);
        };
        let info = adapter.get_info();
        if prefer_hardware_only && info.device_type == wgpu::DeviceType::Cpu {
            return Err(GpuError::NoHardwareAdapter(summary(&info).to_string()));
        }
        let limits = adapter.limits();
        // Timestamp queries only serve `time` (benchmarks); they change no kernel.
        let features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("wavnet"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|source| GpuError::RequestDevice { adapter: summary(&info).to_string(), source })?;
        let ring = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("uniform ring"),
            size: (SLOT * RING_SLOTS) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        // `required_limits` above asks for the adapter's own limits (not wgpu's defaults), so
        // large batches and long inputs get the card's full binding and buffer sizes.
        let max_binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        let timer = features.contains(wgpu::Features::TIMESTAMP_QUERY).then(|| {
            let bytes = (2 * TIMER_PAIRS * 8) as u64;
            let buffer = |label, usage| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: bytes,
                    usage,
                    mapped_at_creation: false,
                })
            };
            Timer {
                queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("timer"),
                    ty: wgpu::QueryType::Timestamp,
                    count: (2 * TIMER_PAIRS) as u32,
                }),
                resolve: buffer("timer resolve", wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
                readback: buffer("timer readback", wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
            }
        });
        let tuning = Tuning::for_adapter(info.device_type);
        Ok(GpuDevice {
            _instance: inst,
            adapter,
            device,
            queue,
            info,
            max_binding,
            max_buffer: limits.max_buffer_size,
            storage_align: u64::from(limits.min_storage_buffer_offset_alignment),
            tuning: Mutex::new(tuning),
            scratch: Mutex::new(None),
            max_groups_per_dim: limits.max_compute_workgroups_per_dimension as usize,
            ring,
            modules: Mutex::new(HashMap::new()),
            pipelines: Mutex::new(HashMap::new()),
            pending: Mutex::new(Pending {
                encoder: None,
                ring_data: vec![0; SLOT * RING_SLOTS],
                slots_used: 0,
                timing: None,
            }),
            timer,
            wg_overrides: Mutex::new(HashMap::new()),
        })
    }

    /// One line: name, backend, device type, driver.
    pub fn adapter_info(&self) -> String {
        summary(&self.info).to_string()
    }

    /// True on a CPU (software) adapter such as Mesa's lavapipe.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    pub fn adapter(&self) -> &wgpu::Adapter {
        &self.adapter
    }
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// True when [`GpuDevice::time`] uses timestamp queries (else wall clock).
    pub fn has_timestamps(&self) -> bool {
        self.timer.is_some()
    }

    /// Benchmarking: the device time of the dispatches `f` records on this device. With
    /// `Features::TIMESTAMP_QUERY`: from the beginning of the first to the end of the last
    /// timed compute pass (at most 1024 passes are timed; gaps between passes count). Without
    /// it: wall clock from a drained queue to a drained queue (includes submit and poll).
    /// Work enqueued before the call is finished first and not counted.
    pub fn time<F: FnOnce()>(&self, f: F) -> Duration {
        self.sync();
        let Some(t) = &self.timer else {
            let start = Instant::now();
            f();
            self.sync();
            return start.elapsed();
        };
        self.pending.lock().unwrap().timing = Some(0);
        f();
        let mut p = self.pending.lock().unwrap();
        let n = p.timing.take().unwrap_or(0);
        if n == 0 {
            return Duration::ZERO;
        }
        let bytes = u64::from(2 * n) * 8;
        let dev = &self.device;
        let enc = p
            .encoder
            .get_or_insert_with(|| dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ops") }));
        enc.resolve_query_set(&t.queries, 0..2 * n, &t.resolve, 0);
        enc.copy_buffer_to_buffer(&t.resolve, 0, &t.readback, 0, bytes);
        self.flush(&mut p);
        drop(p);
        let slice = t.readback.slice(..bytes);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait();
        rx.recv().expect("map_async callback dropped").expect("cannot map the timer buffer");
        let ticks: Vec<u64> = {
            let view = slice.get_mapped_range().expect("cannot read the mapped timer buffer");
            bytemuck::pod_collect_to_vec::<u8, u64>(&view)
        };
        t.readback.unmap();
        let first = ticks.iter().step_by(2).min().copied().unwrap_or(0);
        let last = ticks.iter().skip(1).step_by(2).max().copied().unwrap_or(0);
        let ns = last.saturating_sub(first) as f64 * f64::from(self.queue.get_timestamp_period());
        Duration::from_nanos(ns as u64)
    }

    /// Benchmarking: compile `entry` with its `WG` override constant set to `wg` (`None`: the
    /// wrapper's default) and rescale its workgroup count to cover the same invocations. Only
    /// for entry points declared `@workgroup_size(WG)` whose invocations are linearised with
    /// `WG` and bounds-checked (checked at dispatch; panics otherwise). Results are unchanged;
    /// only the scheduling differs.
    pub fn set_workgroup_size(&self, entry: &str, wg: Option<u32>) {
        let mut o = self.wg_overrides.lock().unwrap();
        match wg {
            Some(wg) => {
                assert!(wg > 0, "set_workgroup_size: WG must be > 0");
                o.insert(entry.to_string(), wg);
            }
            None => {
                o.remove(entry);
            }
        }
    }

    /// The kernels' scheduling knobs now in force.
    pub fn tuning(&self) -> Tuning {
        self.tuning.lock().unwrap().clone()
    }

    /// Sets the scheduling knobs (benchmarks compare the variants; tests force chunk counts
    /// and piece sizes). Panics on tile sizes the shaders cannot take.
    pub fn set_tuning(&self, t: Tuning) {
        for (what, [a, b, c], shared) in [
            ("fb_tile", t.fb_tile, (t.fb_tile[0] + t.fb_tile[1]) * t.fb_tile[2]),
            ("conv_tile", t.conv_tile, t.conv_tile[0] * t.conv_tile[2] * 3 + t.conv_tile[2] * (t.conv_tile[1] + 2)),
        ] {
            assert!(
                a > 0 && b > 0 && c > 0 && a % 4 == 0 && b % 4 == 0 && a * b / 16 <= 256 && shared <= 4096,
                "set_tuning: {what} {:?} must be multiples of 4 with at most 256 invocations and 4096 floats of \
                 shared memory",
                [a, b, c]
            );
        }
        if let Some(c) = t.chunks {
            assert!(c > 0, "set_tuning: chunks must be > 0");
        }
        if let Some(m) = t.max_binding {
            assert!(m >= 256, "set_tuning: max_binding must be >= 256 bytes");
        }
        *self.tuning.lock().unwrap() = t;
    }

    /// Largest storage binding a kernel may use now, bytes.
    fn binding_limit(&self) -> u64 {
        let t = self.tuning.lock().unwrap();
        t.max_binding.map_or(self.max_binding, |m| m.min(self.max_binding))
    }

    /// Splits a batch of `b` samples into pieces `(b0, nb)` such that the slice of every
    /// batch-major buffer of the call (`per_sample` floats per sample each) fits one storage
    /// binding and starts at an offset the adapter accepts. One piece `(0, b)` when the whole
    /// buffers fit. Pieces hold a multiple of `m` samples, m = the smallest count whose slices
    /// start aligned for every buffer (a power of two, at most alignment / 4).
    pub fn pieces(&self, op: &str, b: usize, per_sample: &[usize]) -> Vec<(usize, usize)> {
        let limit = self.binding_limit();
        let biggest = per_sample.iter().copied().max().unwrap_or(1).max(1) as u64 * 4;
        if biggest * b as u64 <= limit || b == 0 {
            return vec![(0, b)];
        }
        let align = self.storage_align.max(4);
        let m = per_sample.iter().map(|&s| align / gcd(4 * s.max(1) as u64, align)).max().unwrap_or(1);
        let nb = (limit / biggest) / m * m;
        assert!(
            nb > 0,
            "{op}: {m} samples of {biggest} bytes (the smallest aligned piece) exceed the largest storage \
             binding ({limit} bytes) of this adapter; use shorter inputs, or --device cpu"
        );
        (0..b).step_by(nb as usize).map(|b0| (b0, (nb as usize).min(b - b0))).collect()
    }

    /// A scratch buffer of at least `len` floats for partial sums. One buffer serves every
    /// split reduction (each finishes with it before the next dispatch reads it: dispatches run
    /// in order); it grows to the largest size asked for and is then reused.
    pub(crate) fn scratch(&self, len: usize) -> Arc<GpuBuf> {
        let mut s = self.scratch.lock().unwrap();
        if let Some(b) = s.as_ref().filter(|b| b.len >= len) {
            return b.clone();
        }
        let b = Arc::new(self.alloc(len));
        *s = Some(b.clone());
        b
    }

    /// The plan of a split reduction over a batch of `b` samples with `positions` reduced
    /// elements per sample: the batch's pieces ([`GpuDevice::pieces`] for buffers of
    /// `per_sample` floats a sample), each piece's (chunks, elements per chunk, first chunk
    /// row), and the total chunk rows of the partials (`row_floats` floats a row).
    ///
    /// Chunks per piece: enough for about `target` workgroups (or invocations) in all with
    /// `units` per chunk, each of at least `min_chunk` elements, at most [`MAX_CHUNKS`], and
    /// few enough that all partial rows fit one binding; [`Tuning::chunks`] overrides the
    /// first two rules. Every chunk is non-empty. Deterministic: a function of the shape and
    /// the tuning only.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reduction_plan(
        &self, op: &str, b: usize, per_sample: &[usize], positions: usize, units: usize, target: usize,
        min_chunk: usize, row_floats: usize,
    ) -> (Vec<ReductionPiece>, usize) {
        let pieces = self.pieces(op, b, per_sample);
        let fit = (self.binding_limit() / (4 * row_floats.max(1) as u64)) as usize / pieces.len();
        assert!(
            fit > 0,
            "{op}: the partial sums of {} pieces ({row_floats} floats each) exceed the largest storage binding \
             ({} bytes); use shorter inputs, or --device cpu",
            pieces.len(),
            self.binding_limit()
        );
        let forced = self.tuning.lock().unwrap().chunks;
        let mut rows = 0;
        let mut plan = Vec::new();
        for piece in pieces {
            let n = (piece.1 * positions).max(1);
            let want = match forced {
                Some(c) => c.min(n),
                None => target.div_ceil(units.max(1)).min(n.div_ceil(min_chunk)).clamp(1, MAX_CHUNKS),
            };
            let len = n.div_ceil(want.min(fit));
            let chunks = n.div_ceil(len);
            plan.push(ReductionPiece { piece, chunks, len, row0: rows });
            rows += chunks;
        }
        (plan, rows)
    }

    fn module(&self, k: &Kernel) -> Arc<wgpu::ShaderModule> {
        let mut mods = self.modules.lock().unwrap();
        if let Some(m) = mods.get(k.shader) {
            return m.clone();
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let m = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(k.shader),
            source: wgpu::ShaderSource::Wgsl(k.source.into()),
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            panic!("shaders/{}.wgsl does not compile: {e}", k.shader);
        }
        let m = Arc::new(m);
        mods.insert(k.shader, m.clone());
        m
    }

    fn pipeline(&self, k: &Kernel, wg: u32, consts: &[(&'static str, u32)]) -> Arc<Pipeline> {
        let key = (k.shader, k.entry, wg, consts.to_vec());
        if let Some(p) = self.pipelines.lock().unwrap().get(&key) {
            return p.clone();
        }
        let module = self.module(k);
        let mut label = if wg == k.wg {
            format!("{}.wgsl:{}", k.shader, k.entry)
        } else {
            format!("{}.wgsl:{} (WG {wg})", k.shader, k.entry)
        };
        for (name, v) in consts {
            label.push_str(&format!(" {name}={v}"));
        }
        let mut constants: Vec<(&str, f64)> = vec![("WG", wg as f64)];
        constants.extend(consts.iter().map(|&(n, v)| (n, v as f64)));
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: None,
            },
            count: None,
        }];
        for (i, a) in k.bindings.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: *a == Access::Read },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(&label), entries: &entries });
        let pl = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&pl),
            module: &module,
            entry_point: Some(k.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            panic!("cannot create the pipeline {label}: {e}");
        }
        let p = Arc::new(Pipeline { pipeline, layout });
        self.pipelines.lock().unwrap().insert(key, p.clone());
        p
    }

    /// Records one dispatch of `groups` workgroups (laid out in x, then y, each <= 65535;
    /// shaders linearise `wid.y * nwg.x + wid.x` and bounds-check). `params` fills the
    /// uniform slot (at most 64 words).
    pub(crate) fn dispatch(&self, k: &Kernel, bufs: &[&GpuBuf], params: &[u32], groups: usize) {
        let views: Vec<View> = bufs.iter().map(|b| b.all()).collect();
        self.dispatch_views(k, &views, params, groups, &[]);
    }

    /// [`GpuDevice::dispatch`] with buffer ranges (pieces) and override constants besides `WG`.
    /// Each range must fit one storage binding ([`GpuDevice::pieces`] sizes them).
    pub(crate) fn dispatch_views(
        &self, k: &Kernel, bufs: &[View], params: &[u32], groups: usize, consts: &[(&'static str, u32)],
    ) {
        assert_eq!(bufs.len(), k.bindings.len(), "{}: wrong number of buffers", k.entry);
        assert!(params.len() * 4 <= SLOT, "{}: too many parameters", k.entry);
        if groups == 0 {
            return;
        }
        let (wg, groups) = match self.wg_overrides.lock().unwrap().get(k.entry) {
            Some(&wg) if wg != k.wg => {
                let decl = format!("@workgroup_size(WG)\nfn {}(", k.entry);
                assert!(k.source.contains(&decl), "{}: a WG override needs `{decl}` in the shader", k.entry);
                // The wrapper sized `groups` for k.wg; cover at least as many invocations.
                (wg, (groups * k.wg as usize).div_ceil(wg as usize))
            }
            _ => (k.wg, groups),
        };
        let pipe = self.pipeline(k, wg, consts);
        let max = self.max_groups_per_dim;
        let gx = groups.min(max);
        let gy = groups.div_ceil(gx);
        assert!(gy <= max, "{}: {groups} workgroups is too many for one dispatch", k.entry);

        let mut p = self.pending.lock().unwrap();
        if p.slots_used == RING_SLOTS {
            self.flush(&mut p);
        }
        let off = p.slots_used * SLOT;
        p.ring_data[off..off + params.len() * 4].copy_from_slice(bytemuck::cast_slice(params));
        p.slots_used += 1;

        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.ring,
                offset: 0,
                size: NonZeroU64::new(SLOT as u64),
            }),
        }];
        let limit = self.binding_limit();
        for (i, v) in bufs.iter().enumerate() {
            let (off, size) = (v.off as u64 * 4, v.len.max(1) as u64 * 4);
            assert!(
                size <= limit && off.is_multiple_of(self.storage_align) && off + size <= v.buf.buffer.size(),
                "{}: binding {} of {size} bytes at offset {off} exceeds the storage binding limit ({limit} bytes) \
                 or alignment ({}); this op should have run in pieces",
                k.entry,
                i + 1,
                self.storage_align
            );
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &v.buf.buffer,
                    offset: off,
                    size: NonZeroU64::new(size),
                }),
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bg = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(k.entry),
            layout: &pipe.layout,
            entries: &entries,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            panic!("{}.wgsl:{}: cannot bind the buffers: {e}", k.shader, k.entry);
        }
        let timestamp_writes = match (&self.timer, p.timing.as_mut()) {
            (Some(t), Some(n)) if (*n as usize) < TIMER_PAIRS => {
                *n += 1;
                Some(wgpu::ComputePassTimestampWrites {
                    query_set: &t.queries,
                    beginning_of_pass_write_index: Some(2 * (*n - 1)),
                    end_of_pass_write_index: Some(2 * (*n - 1) + 1),
                })
            }
            _ => None,
        };
        let dev = &self.device;
        let enc = p
            .encoder
            .get_or_insert_with(|| dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ops") }));
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(k.entry), timestamp_writes });
        pass.set_pipeline(&pipe.pipeline);
        pass.set_bind_group(0, &bg, &[off as u32]);
        pass.dispatch_workgroups(gx as u32, gy as u32, 1);
    }

    /// Runs `k` over a batch of `b` samples in as many pieces as the binding limit needs
    /// ([`GpuDevice::pieces`]): `bufs` pairs each buffer with its floats per sample (0: bound
    /// whole, e.g. weights); `params(nb)` and `groups(nb)` give a piece of `nb` samples its
    /// uniform slot and workgroup count. For kernels whose samples are independent.
    pub(crate) fn dispatch_pieces(
        &self, op: &str, k: &Kernel, bufs: &[(&GpuBuf, usize)], b: usize, params: impl Fn(usize) -> Vec<u32>,
        groups: impl Fn(usize) -> usize, consts: &[(&'static str, u32)],
    ) {
        let per: Vec<usize> = bufs.iter().map(|&(_, p)| p).filter(|&p| p > 0).collect();
        for piece in self.pieces(op, b, &per) {
            let views: Vec<View> =
                bufs.iter().map(|&(buf, p)| if p == 0 { buf.all() } else { buf.rows(piece, p) }).collect();
            self.dispatch_views(k, &views, &params(piece.1), groups(piece.1), consts);
        }
    }

    /// Submits the pending work (uniform slots first), without waiting for it.
    fn flush(&self, p: &mut Pending) {
        let Some(enc) = p.encoder.take() else {
            p.slots_used = 0;
            return;
        };
        if p.slots_used > 0 {
            self.queue.write_buffer(&self.ring, 0, &p.ring_data[..p.slots_used * SLOT]);
        }
        p.slots_used = 0;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let cb = enc.finish();
        self.queue.submit([cb]);
        if let Some(e) = pollster::block_on(scope.pop()) {
            panic!("gpu command submission failed validation: {e}");
        }
    }

    fn wait(&self) {
        self.device.poll(wgpu::PollType::wait_indefinitely()).expect("gpu device lost while waiting for work");
    }
}

/// One piece of a split reduction ([`GpuDevice::reduction_plan`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReductionPiece {
    /// (first sample, samples).
    pub piece: (usize, usize),
    /// Chunks of this piece, elements per chunk (the last may be shorter), first chunk row.
    pub chunks: usize,
    pub len: usize,
    pub row0: usize,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Workgroups needed for `n` invocations of `wg` each.
pub(crate) fn groups(n: usize, wg: u32) -> usize {
    n.div_ceil(wg as usize)
}

/// Shape check with a message naming the op and the tensor.
pub(crate) fn check_len(op: &str, name: &str, buf: &GpuBuf, want: usize) {
    assert!(buf.len >= want, "{op}: {name} holds {} floats but the shape needs {want}", buf.len);
}

/// A size as a shader u32, checked.
pub(crate) fn u(op: &str, v: usize) -> u32 {
    u32::try_from(v).unwrap_or_else(|_| panic!("{op}: size {v} does not fit in u32"))
}

impl Device for GpuDevice {
    type Buf = GpuBuf;

    fn name(&self) -> String {
        format!("gpu: {} ({:?})", self.info.name, self.info.backend)
    }

    fn alloc(&self, len: usize) -> GpuBuf {
        let size = (len.max(1) * 4) as u64;
        // Buffers may exceed one binding: the ops over batch-major tensors run in pieces.
        assert!(
            size <= self.max_buffer,
            "gpu alloc of {len} floats ({size} bytes) exceeds this adapter's largest buffer ({} bytes); use a \
             smaller batch or shorter inputs, or --device cpu",
            self.max_buffer
        );
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            panic!("gpu out of memory allocating {len} floats: {e}");
        }
        // wgpu zero-initialises new buffers.
        GpuBuf { buffer, len }
    }

    fn len(&self, buf: &GpuBuf) -> usize {
        buf.len
    }

    fn upload(&self, dst: &GpuBuf, src: &[f32]) {
        assert!(src.len() <= dst.len, "upload of {} floats into a buffer of {}", src.len(), dst.len);
        if src.is_empty() {
            return;
        }
        // queue.write_buffer runs before the next submit: submit the pending work first so
        // ops recorded before this upload see the old contents.
        let mut p = self.pending.lock().unwrap();
        self.flush(&mut p);
        self.queue.write_buffer(&dst.buffer, 0, bytemuck::cast_slice(src));
    }

    fn download(&self, src: &GpuBuf) -> Vec<f32> {
        if src.len == 0 {
            return Vec::new();
        }
        let size = (src.len * 4) as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("download staging"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut p = self.pending.lock().unwrap();
            let dev = &self.device;
            let enc = p.encoder.get_or_insert_with(|| {
                dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ops") })
            });
            enc.copy_buffer_to_buffer(&src.buffer, 0, &staging, 0, size);
            self.flush(&mut p);
        }
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait();
        rx.recv().expect("map_async callback dropped").expect("cannot map the download buffer");
        let out = {
            let view = slice.get_mapped_range().expect("cannot read the mapped download buffer");
            bytemuck::pod_collect_to_vec::<u8, f32>(&view)
        };
        staging.unmap();
        out
    }

    fn sync(&self) {
        let mut p = self.pending.lock().unwrap();
        self.flush(&mut p);
        drop(p);
        self.wait();
    }

    fn gabor_forward(&self, kernel: &GpuBuf, mu: &GpuBuf, sigma: &GpuBuf, f: usize, w: usize) {
        gabor::forward(self, kernel, mu, sigma, f, w)
    }
    fn gabor_backward(
        &self, dmu: &GpuBuf, dsigma: &GpuBuf, dkernel: &GpuBuf, mu: &GpuBuf, sigma: &GpuBuf, f: usize, w: usize,
    ) {
        gabor::backward(self, dmu, dsigma, dkernel, mu, sigma, f, w)
    }

    fn filterbank_forward(
        &self, y: &GpuBuf, x: &GpuBuf, kernel: &GpuBuf, b: usize, l: usize, k2: usize, w: usize, h: usize, t: usize,
    ) {
        filterbank::forward(self, y, x, kernel, b, l, k2, w, h, t)
    }
    fn filterbank_backward(
        &self, dkernel: &GpuBuf, dy: &GpuBuf, x: &GpuBuf, b: usize, l: usize, k2: usize, w: usize, h: usize, t: usize,
    ) {
        filterbank::backward(self, dkernel, dy, x, b, l, k2, w, h, t)
    }

    fn log_energy_forward(&self, out: &GpuBuf, y: &GpuBuf, b: usize, f: usize, t: usize) {
        log_energy::forward(self, out, y, b, f, t)
    }
    fn log_energy_backward(&self, dy: &GpuBuf, dout: &GpuBuf, y: &GpuBuf, b: usize, f: usize, t: usize) {
        log_energy::backward(self, dy, dout, y, b, f, t)
    }

    fn batchnorm_forward(
        &self, out: &GpuBuf, mean: &GpuBuf, rstd: &GpuBuf, running_mean: &GpuBuf, running_var: &GpuBuf, x: &GpuBuf,
        weight: &GpuBuf, bias: &GpuBuf, b: usize, c: usize, t: usize, train: bool, momentum: f32, eps: f32,
    ) {
        batchnorm::forward(
            self,
            out,
            mean,
            rstd,
            running_mean,
            running_var,
            x,
            weight,
            bias,
            b,
            c,
            t,
            train,
            momentum,
            eps,
        )
    }
    fn batchnorm_backward(
        &self, dx: &GpuBuf, dweight: &GpuBuf, dbias: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, mean: &GpuBuf, rstd: &GpuBuf,
        weight: &GpuBuf, b: usize, c: usize, t: usize,
    ) {
        batchnorm::backward(self, dx, dweight, dbias, dout, x, mean, rstd, weight, b, c, t)
    }

    fn filter_mask_forward(&self, out: &GpuBuf, x: &GpuBuf, mask: &GpuBuf, b: usize, f: usize, t: usize) {
        filter_mask::forward(self, out, x, mask, b, f, t)
    }
    fn filter_mask_backward(&self, dx: &GpuBuf, dout: &GpuBuf, mask: &GpuBuf, b: usize, f: usize, t: usize) {
        filter_mask::backward(self, dx, dout, mask, b, f, t)
    }

    fn relu_forward(&self, out: &GpuBuf, x: &GpuBuf, n: usize) {
        relu::forward(self, out, x, n)
    }
    fn relu_backward(&self, dx: &GpuBuf, dout: &GpuBuf, out: &GpuBuf, n: usize) {
        relu::backward(self, dx, dout, out, n)
    }

    fn conv1d_forward(&self, out: &GpuBuf, x: &GpuBuf, w: &GpuBuf, b: usize, ci: usize, co: usize, t: usize) {
        conv1d::forward(self, out, x, w, b, ci, co, t)
    }
    fn conv1d_backward(
        &self, dx: &GpuBuf, dw: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, w: &GpuBuf, b: usize, ci: usize, co: usize,
        t: usize,
    ) {
        conv1d::backward(self, dx, dw, dout, x, w, b, ci, co, t)
    }

    fn maxpool_forward(&self, out: &GpuBuf, x: &GpuBuf, b: usize, c: usize, t: usize) {
        maxpool::forward(self, out, x, b, c, t)
    }
    fn maxpool_backward(&self, dx: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, b: usize, c: usize, t: usize) {
        maxpool::backward(self, dx, dout, x, b, c, t)
    }

    fn globalpool_forward(&self, out: &GpuBuf, x: &GpuBuf, b: usize, c: usize, t: usize) {
        globalpool::forward(self, out, x, b, c, t)
    }
    fn globalpool_backward(&self, dx: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, b: usize, c: usize, t: usize) {
        globalpool::backward(self, dx, dout, x, b, c, t)
    }

    fn dropout_forward(&self, out: &GpuBuf, x: &GpuBuf, n: usize, p: f32, seed: u32) {
        dropout::forward(self, out, x, n, p, seed)
    }
    fn dropout_backward(&self, dx: &GpuBuf, dout: &GpuBuf, n: usize, p: f32, seed: u32) {
        dropout::backward(self, dx, dout, n, p, seed)
    }

    fn linear_forward(&self, out: &GpuBuf, x: &GpuBuf, w: &GpuBuf, bias: &GpuBuf, b: usize, c: usize, k: usize) {
        linear::forward(self, out, x, w, bias, b, c, k)
    }
    fn linear_backward(
        &self, dx: &GpuBuf, dw: &GpuBuf, dbias: &GpuBuf, dout: &GpuBuf, x: &GpuBuf, w: &GpuBuf, b: usize, c: usize,
        k: usize,
    ) {
        linear::backward(self, dx, dw, dbias, dout, x, w, b, c, k)
    }

    fn softmax_ce_forward_backward(
        &self, losses: &GpuBuf, dlogits: &GpuBuf, logits: &GpuBuf, targets: &GpuBuf, b: usize, k: usize,
    ) {
        loss::forward_backward(self, &loss::SOFTMAX_CE, losses, dlogits, logits, targets, b, k)
    }

    fn sigmoid_bce_forward_backward(
        &self, losses: &GpuBuf, dlogits: &GpuBuf, logits: &GpuBuf, targets: &GpuBuf, b: usize, k: usize,
    ) {
        loss::forward_backward(self, &loss::SIGMOID_BCE, losses, dlogits, logits, targets, b, k)
    }

    fn adamw_step(&self, param: &GpuBuf, m: &GpuBuf, v: &GpuBuf, grad: &GpuBuf, n: usize, hp: &AdamW) {
        adamw::step(self, param, m, v, grad, n, hp)
    }
}
