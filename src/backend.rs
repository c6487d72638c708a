//! Choosing the device: `--device auto|gpu|cpu`. `auto` takes a hardware GPU adapter when
//! there is one, else the `cpu` device (a software adapter such as llvmpipe is slower than the
//! `cpu` device; `--device gpu` still uses it).
use anyhow::Result;

use crate::cpu::CpuDevice;
use crate::device::Device;
use crate::gpu::GpuDevice;

/// Which device the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceKind {
    /// A hardware GPU if there is one, else `cpu`.
    Auto,
    /// The GPU adapter wgpu finds (hardware first, else a software one such as llvmpipe).
    Gpu,
    /// Plain Rust on the CPU, parallel with rayon.
    Cpu,
}

/// An opened device of either kind (one per run, so the size difference does not matter).
#[allow(clippy::large_enum_variant)]
pub enum AnyDevice {
    Cpu(CpuDevice),
    Gpu(GpuDevice),
}

/// Work that runs on any device: the model and training loop are generic over `Device`.
pub trait DeviceTask {
    type Out;
    fn run<D: Device>(self, dev: D) -> Self::Out;
}

impl AnyDevice {
    /// Opens the device `kind` names; `auto` falls back to `cpu` when no hardware GPU exists.
    pub fn open(kind: DeviceKind) -> Result<AnyDevice> {
        Ok(match kind {
            DeviceKind::Cpu => AnyDevice::Cpu(CpuDevice::new()),
            DeviceKind::Gpu => AnyDevice::Gpu(GpuDevice::new(false)?),
            DeviceKind::Auto => match GpuDevice::new(true) {
                Ok(g) => AnyDevice::Gpu(g),
                Err(_) => AnyDevice::Cpu(CpuDevice::new()),
            },
        })
    }

    pub fn name(&self) -> String {
        match self {
            AnyDevice::Cpu(d) => d.name(),
            AnyDevice::Gpu(d) => d.name(),
        }
    }

    pub fn run<T: DeviceTask>(self, task: T) -> T::Out {
        match self {
            AnyDevice::Cpu(d) => task.run(d),
            AnyDevice::Gpu(d) => task.run(d),
        }
    }
}
