//! The model file: one `.safetensors` file with PyTorch layouts and readable names
//! (`front.mu`, `body.0.conv1.weight`, ...) and metadata holding the config, sample rate,
//! labels and a training summary, so it loads in Python with `safetensors` alone.
//! Checkpoints add the AdamW moments (`optim.m.<name>`, `optim.v.<name>`) and the training
//! state (`wavnet.train_state`).
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::device::Device;
use crate::model::{Config, Model};

/// Tensors of a safetensors file as f32 with their shapes, plus its metadata.
pub struct TensorFile {
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub metadata: HashMap<String, String>,
}

/// Reads every tensor of a safetensors file (f32, or f64 converted to f32).
pub fn read_safetensors(path: &Path) -> Result<TensorFile> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the model file", path.display()))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a safetensors file ({e})", path.display()))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| anyhow::anyhow!("{}: not a safetensors file ({e})", path.display()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let v: Vec<f32> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => bail!("{}: tensor `{name}` has dtype {other:?}; wavnet reads F32 and F64", path.display()),
        };
        tensors.insert(name, (view.shape().to_vec(), v));
    }
    Ok(TensorFile { tensors, metadata: meta.metadata().clone().unwrap_or_default() })
}

/// Writes named f32 tensors and metadata atomically (a temporary file renamed into place, so a
/// killed run never leaves a half-written model).
pub fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)], metadata: HashMap<String, String>) -> Result<()> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> =
        tensors.iter().map(|(n, s, v)| (n.clone(), s.clone(), bytemuck::cast_slice(v).to_vec())).collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let data = safetensors::serialize(views, Some(metadata))?;
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, data).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}

/// A model file read back: architecture, labels, tensor values and optional training state.
pub struct ModelFile {
    pub cfg: Config,
    pub labels: Vec<String>,
    pub values: BTreeMap<String, Vec<f32>>,
    /// AdamW moments, present in checkpoints.
    pub moments: BTreeMap<String, (Vec<f32>, Vec<f32>)>,
    /// Free-form JSON: training summary (`wavnet.summary`) and resume state (`wavnet.train_state`).
    pub summary: serde_json::Value,
    pub train_state: Option<serde_json::Value>,
}

/// Saves a model (and with `train_state`, its optimizer state: a checkpoint).
pub fn save_model<D: Device>(
    path: &Path, model: &Model<D>, labels: &[String], summary: &serde_json::Value, train_state: Option<&serde_json::Value>,
) -> Result<()> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let values = model.values();
    for t in &model.tensors {
        tensors.push((t.spec.name.clone(), t.spec.shape.clone(), values[&t.spec.name].clone()));
    }
    let mut meta = HashMap::new();
    meta.insert("format".into(), "wavnet-1".into());
    meta.insert("wavnet.config".into(), serde_json::to_string(&model.cfg)?);
    meta.insert("sample_rate".into(), model.cfg.sample_rate.to_string());
    meta.insert("labels".into(), serde_json::to_string(labels)?);
    meta.insert("wavnet.summary".into(), summary.to_string());
    if let Some(state) = train_state {
        let mut st = state.clone();
        st["step"] = serde_json::json!(model.step);
        meta.insert("wavnet.train_state".into(), st.to_string());
        for (name, (m, v)) in model.moments() {
            let shape = model.tensors.iter().find(|t| t.spec.name == name).expect("tensor").spec.shape.clone();
            tensors.push((format!("optim.m.{name}"), shape.clone(), m));
            tensors.push((format!("optim.v.{name}"), shape, v));
        }
    }
    write_safetensors(path, &tensors, meta)
}

/// Loads a model file written by `save_model`.
pub fn load_model(path: &Path) -> Result<ModelFile> {
    let f = read_safetensors(path)?;
    let get = |k: &str| {
        f.metadata.get(k).with_context(|| {
            format!("{}: metadata `{k}` is missing: not a wavnet model file (train one with `wavnet train`)", path.display())
        })
    };
    let cfg: Config = serde_json::from_str(get("wavnet.config")?).with_context(|| format!("{}: bad config", path.display()))?;
    let labels: Vec<String> = serde_json::from_str(get("labels")?).with_context(|| format!("{}: bad labels", path.display()))?;
    if labels.len() != cfg.classes {
        bail!("{}: {} labels for {} classes", path.display(), labels.len(), cfg.classes);
    }
    let summary = f.metadata.get("wavnet.summary").and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    let train_state = f.metadata.get("wavnet.train_state").and_then(|s| serde_json::from_str(s).ok());
    let mut values = BTreeMap::new();
    let mut ms: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let mut vs: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for (name, (_, v)) in f.tensors {
        if let Some(n) = name.strip_prefix("optim.m.") {
            ms.insert(n.to_string(), v);
        } else if let Some(n) = name.strip_prefix("optim.v.") {
            vs.insert(n.to_string(), v);
        } else {
            values.insert(name, v);
        }
    }
    let moments = ms.into_iter().filter_map(|(n, m)| vs.remove(&n).map(|v| (n, (m, v)))).collect();
    Ok(ModelFile { cfg, labels, values, moments, summary, train_state })
}
