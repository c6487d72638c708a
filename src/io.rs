//! The model file: one `.safetensors` file with PyTorch layouts and readable names
//! (`front.mu`, `body.0.conv1.weight`, ...) and metadata holding the config, sample rate,
//! labels and a training summary, so it loads in Python with `safetensors` alone.
//! Checkpoints add the AdamW moments (`optim.m.<name>`, `optim.v.<name>`) and the training
//! state (`wavnet.train_state`).
use std::borrow::Cow;
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

/// What to pass instead of a file that is not a model.
const GET_A_MODEL: &str = "pass a model file written by `wavnet train` (OUT/best.safetensors), or `default` for the \
     built-in model; to get one, train with `wavnet train --data DATA --out runs/NAME` (see the README's example)";

/// Reads the bytes of a model file (`default`: the built-in model's, see [`crate::builtin`]);
/// a missing path, a folder or an unreadable file gets a message saying what to pass instead.
pub fn read_model_bytes(path: &Path) -> Result<Cow<'static, [u8]>> {
    if crate::builtin::is_builtin(path) {
        return Ok(Cow::Borrowed(crate::builtin::BYTES));
    }
    if path.is_dir() {
        let inside = ["best.safetensors", "last.safetensors"].iter().map(|f| path.join(f)).find(|p| p.is_file());
        match inside {
            Some(p) => bail!("{}: is a folder; pass the model file inside it: {}", path.display(), p.display()),
            None => bail!("{}: is a folder, not a model file; {GET_A_MODEL}", path.display()),
        }
    }
    match std::fs::read(path) {
        Ok(b) => Ok(Cow::Owned(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("{}: no such model file; {GET_A_MODEL}", path.display()),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read the model file", path.display())),
    }
}

/// Reads every tensor of a safetensors file (f32, or f64 converted to f32).
pub fn read_safetensors(path: &Path) -> Result<TensorFile> {
    let bytes = read_model_bytes(path)?;
    let not_st = |e: safetensors::SafeTensorError| {
        anyhow::anyhow!("{}: not a safetensors model file ({e}); {GET_A_MODEL}", path.display())
    };
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(not_st)?;
    let st = SafeTensors::deserialize(&bytes).map_err(not_st)?;
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
    /// The running sum of `--average-last` (tensor name -> sum of its values over the epochs
    /// averaged so far; the count is in the train state), present in checkpoints of such runs.
    pub average_sum: BTreeMap<String, Vec<f32>>,
    /// Free-form JSON: training summary (`wavnet.summary`) and resume state (`wavnet.train_state`).
    pub summary: serde_json::Value,
    pub train_state: Option<serde_json::Value>,
}

/// Saves a model (and with `train_state`, its optimizer state and the `--average-last` running
/// sum `average_sum`: a checkpoint).
pub fn save_model<D: Device>(
    path: &Path, model: &Model<D>, labels: &[String], summary: &serde_json::Value, train_state: Option<&serde_json::Value>,
    average_sum: &BTreeMap<String, Vec<f32>>,
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
        for (name, sum) in average_sum {
            let shape = model.tensors.iter().find(|t| &t.spec.name == name).expect("tensor").spec.shape.clone();
            tensors.push((format!("average.{name}"), shape, sum.clone()));
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
    let damaged = |what: &str| format!("{}: damaged model file ({what}); {GET_A_MODEL}", path.display());
    let cfg: Config = serde_json::from_str(get("wavnet.config")?).with_context(|| damaged("unreadable `wavnet.config`"))?;
    let labels: Vec<String> = serde_json::from_str(get("labels")?).with_context(|| damaged("unreadable `labels`"))?;
    if labels.len() != cfg.classes {
        bail!(damaged(&format!("{} labels for {} classes", labels.len(), cfg.classes)));
    }
    cfg.validate().map_err(|e| anyhow::anyhow!(damaged(&format!("model config: {e}"))))?;
    let summary = f.metadata.get("wavnet.summary").and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    let train_state = f.metadata.get("wavnet.train_state").and_then(|s| serde_json::from_str(s).ok());
    let mut values = BTreeMap::new();
    let mut ms: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let mut vs: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let mut average_sum = BTreeMap::new();
    for (name, (_, v)) in f.tensors {
        if let Some(n) = name.strip_prefix("optim.m.") {
            ms.insert(n.to_string(), v);
        } else if let Some(n) = name.strip_prefix("optim.v.") {
            vs.insert(n.to_string(), v);
        } else if let Some(n) = name.strip_prefix("average.") {
            average_sum.insert(n.to_string(), v);
        } else {
            values.insert(name, v);
        }
    }
    let moments = ms.into_iter().filter_map(|(n, m)| vs.remove(&n).map(|v| (n, (m, v)))).collect();
    Ok(ModelFile { cfg, labels, values, moments, average_sum, summary, train_state })
}

/// What `wavnet info --model` prints: labels, sample rate, crop, size and the training summary
/// stored in the file.
pub fn describe_model(path: &Path, f: &ModelFile) -> String {
    use std::fmt::Write;
    let c = &f.cfg;
    let mut o = String::new();
    let kind = if f.train_state.is_some() { "checkpoint with the optimizer state (for --resume)" } else { "model" };
    let _ = writeln!(o, "{}: wavnet {kind}", crate::builtin::display(path));
    let _ = writeln!(o, "labels ({}): {}", f.labels.len(), f.labels.join(", "));
    let _ = writeln!(o, "sample rate: {} Hz", c.sample_rate);
    let _ = writeln!(o, "crop: {} s ({} samples; `tag` cuts longer files into windows of this length)", c.crop_seconds, c.crop());
    let channels: Vec<String> = c.channels.iter().map(usize::to_string).collect();
    let _ = writeln!(
        o,
        "parameters: {} ({} Gabor filters of {} taps, hop {}, {}-{} Hz; conv channels {} x {}; dropout {})",
        c.parameter_count(),
        c.filters,
        c.taps,
        c.hop,
        c.fmin,
        c.fmax,
        channels.join("-"),
        c.convs_per_block,
        c.dropout
    );
    let s = &f.summary;
    if !s.is_object() {
        let _ = writeln!(o, "training summary: none stored");
        return o;
    }
    let get = |k: &str| s.get(k).filter(|v| !v.is_null()).map(show_value);
    let or = |k: &str| get(k).unwrap_or_else(|| "?".into());
    let _ = writeln!(
        o,
        "trained on: {} ({} train / {} validation clips{})",
        or("data"),
        or("train_clips"),
        or("val_clips"),
        match s.get("selection").and_then(|v| serde_json::from_value::<crate::data::Selection>(v.clone()).ok()) {
            Some(crate::data::Selection::All) => ", no validation".to_string(),
            Some(sel) => format!(", validation: {sel}"),
            None => String::new(),
        }
    );
    if let Some(r) = get("recipe") {
        let _ = writeln!(o, "recipe: {r}");
    }
    if let Some(c) = get("command") {
        let _ = writeln!(o, "command: {c}");
    }
    let _ = writeln!(
        o,
        "training: {} of {} epochs, batch {}, lr {}, weight decay {}, seed {}, on {}{}",
        or("epochs_done"),
        or("epochs"),
        or("batch"),
        or("lr"),
        or("weight_decay"),
        or("seed"),
        or("device"),
        get("seconds").and_then(|v| v.parse::<f64>().ok()).map(|v| format!(", {v:.1} s")).unwrap_or_default()
    );
    let history: Vec<crate::train::EpochLog> = s.get("history").and_then(|h| serde_json::from_value(h.clone()).ok()).unwrap_or_default();
    let held = s.get("best_epoch").and_then(|v| v.as_u64()).map(|e| e as usize).or_else(|| history.last().map(|l| l.epoch));
    if let Some(l) = held.and_then(|e| history.iter().find(|l| l.epoch == e)) {
        let val = match (l.val_accuracy, l.val_map3, l.val_loss) {
            (Some(a), Some(m), Some(v)) => format!("val acc {:.2} %, MAP@3 {m:.4}, val loss {v:.4}", 100.0 * a),
            _ => "no validation".into(),
        };
        let _ = writeln!(o, "this file holds epoch {}: train loss {:.4}, {val}", l.epoch, l.train_loss);
    }
    if let Some(b) = crate::train::best_epoch(&history).filter(|b| b.val_accuracy.is_some()) {
        let _ = writeln!(o, "best validation epoch: {} ({:.2} %)", b.epoch, 100.0 * b.val_accuracy.unwrap_or(0.0));
    }
    // Anything else recorded (settings added later) as key: value.
    let known = [
        "data", "recipe", "command", "train_clips", "val_clips", "selection", "epochs_done", "epochs", "batch", "lr", "weight_decay", "seed", "device",
        "seconds", "history", "best_epoch",
    ];
    if let Some(map) = s.as_object() {
        for (k, v) in map.iter().filter(|(k, _)| !known.contains(&k.as_str())) {
            let text = match serde_json::from_value::<crate::data::AugmentConfig>(v.clone()) {
                Ok(a) if k == "augment" && a.is_none() => "none".to_string(),
                Ok(a) if k == "augment" && a == crate::data::AugmentConfig::default() => "default".to_string(),
                _ => show_value(v),
            };
            let _ = writeln!(o, "{k}: {text}");
        }
    }
    o
}

/// A summary value as text: strings bare, whole numbers as they are, other numbers as the f32
/// they were saved from (0.003, not 0.003000000026077032), anything else as JSON.
fn show_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_f64() => format!("{}", n.as_f64().unwrap_or(f64::NAN) as f32),
        _ => v.to_string(),
    }
}
