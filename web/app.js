// wavnet's page: send audio to POST /api/tag, draw the waveform and the tags over time, list
// the top tags and the segments, and offer the segments as Audacity/Raven/CSV downloads.
// Recordings are decoded and resampled to the model's rate here and sent as 16-bit WAV.
"use strict";

const $ = (id) => document.getElementById(id);
let model = null;      // GET /api/model
let recorder = null;   // MediaRecorder while recording
window.wavnet = { lastUpload: null, lastReport: null };

function setState(state, msg) {
  document.body.dataset.state = state;
  $("status").textContent = msg || "";
}

function showError(msg) {
  $("error").hidden = false;
  $("error").textContent = msg;
  setState("error", "");
}

async function init() {
  try {
    const r = await fetch("/api/model");
    model = await r.json();
    $("model").textContent = `${model.name}: ${model.classes.length} labels, ${model.sample_rate} Hz, ` +
      `${model.window} s windows every ${model.hop} s`;
    setState("ready", "");
  } catch (e) {
    showError("cannot reach the server: " + e);
  }
}

// Decodes audio bytes in the browser (for the waveform and for recordings); null if it cannot.
async function decode(bytes, rate) {
  try {
    const ctx = new OfflineAudioContext(1, 1, rate || 44100);
    return await ctx.decodeAudioData(bytes.slice(0));
  } catch (e) {
    return null;
  }
}

// Mono samples of `buf` at `rate` (the browser's resampler).
async function resample(buf, rate) {
  const n = Math.max(1, Math.ceil(buf.duration * rate));
  const ctx = new OfflineAudioContext(1, n, rate);
  const src = ctx.createBufferSource();
  src.buffer = buf;
  src.connect(ctx.destination);
  src.start();
  const out = await ctx.startRendering();
  return out.getChannelData(0);
}

// 16-bit PCM mono WAV.
function wav(samples, rate) {
  const b = new ArrayBuffer(44 + samples.length * 2);
  const v = new DataView(b);
  const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  str(0, "RIFF"); v.setUint32(4, 36 + samples.length * 2, true); str(8, "WAVE");
  str(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  str(36, "data"); v.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + i * 2, Math.round(s * 32767), true);
  }
  return b;
}

async function tag(bytes, name, samplesForWave) {
  $("error").hidden = true;
  setState("busy", `tagging ${name}…`);
  window.wavnet.lastUpload = bytes;
  let resp, body;
  try {
    resp = await fetch("/api/tag?name=" + encodeURIComponent(name), { method: "POST", body: bytes });
    body = await resp.json();
  } catch (e) {
    showError("the server did not answer: " + e);
    return;
  }
  if (!resp.ok) {
    showError(body.error || `error ${resp.status}`);
    return;
  }
  window.wavnet.lastReport = body;
  show(body, samplesForWave);
  await downloads(body);
  setState("done", `${name}: ${body.duration.toFixed(2)} s, ${body.windows.length} windows`);
}

function show(r, samples) {
  $("result").hidden = false;
  $("title").textContent = r.file;
  drawWave(samples);
  drawTimeline(r);
  const top = $("top");
  top.replaceChildren();
  for (const t of r.top) {
    const li = document.createElement("li");
    li.dataset.label = t.label;
    li.dataset.confidence = t.confidence;
    li.textContent = `${t.label} ${t.confidence.toFixed(3)}`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.round(120 * t.confidence)}px`;
    li.appendChild(bar);
    top.appendChild(li);
  }
  const body = $("segments").querySelector("tbody");
  body.replaceChildren();
  for (const s of r.segments) {
    const tr = document.createElement("tr");
    tr.dataset.start = s.start; tr.dataset.end = s.end; tr.dataset.label = s.label; tr.dataset.confidence = s.confidence;
    for (const v of [s.start.toFixed(2), s.end.toFixed(2), s.label, s.confidence.toFixed(3)]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

function drawWave(samples) {
  const c = $("wave"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (!samples || samples.length === 0) {
    g.fillStyle = "#8893a8";
    g.fillText("(no waveform: this browser cannot decode the file; the server tagged it)", 10, c.height / 2);
    return;
  }
  g.fillStyle = "#3a6ff7";
  const step = samples.length / c.width, mid = c.height / 2;
  for (let x = 0; x < c.width; x++) {
    let lo = 0, hi = 0;
    for (let i = Math.floor(x * step); i < Math.min(samples.length, Math.floor((x + 1) * step) + 1); i++) {
      lo = Math.min(lo, samples[i]); hi = Math.max(hi, samples[i]);
    }
    g.fillRect(x, mid - hi * mid, 1, Math.max(1, (hi - lo) * mid));
  }
}

// One row per label; each window shades the stretch nearest its centre by its probability.
function drawTimeline(r) {
  const c = $("timeline"), g = c.getContext("2d");
  const rows = r.classes.length, rowH = 18;
  c.height = rows * rowH;
  g.clearRect(0, 0, c.width, c.height);
  const labels = $("timeline-labels");
  labels.replaceChildren();
  const dur = Math.max(r.duration, 1e-9);
  const centres = r.windows.map((w) => (w.start + w.end) / 2);
  for (let k = 0; k < rows; k++) {
    const d = document.createElement("div");
    d.style.height = `${rowH}px`;
    d.textContent = r.classes[k];
    labels.appendChild(d);
    for (let i = 0; i < r.windows.length; i++) {
      const a = i === 0 ? 0 : (centres[i - 1] + centres[i]) / 2;
      const b = i === r.windows.length - 1 ? dur : (centres[i] + centres[i + 1]) / 2;
      g.fillStyle = `rgba(58, 111, 247, ${r.windows[i].scores[k]})`;
      g.fillRect(a / dur * c.width, k * rowH + 1, Math.max(1, (b - a) / dur * c.width), rowH - 2);
    }
  }
  g.strokeStyle = "rgba(200, 30, 30, 0.9)";
  for (const s of r.segments) {
    const k = r.classes.indexOf(s.label);
    g.strokeRect(s.start / dur * c.width, k * rowH + 1, (s.end - s.start) / dur * c.width, rowH - 2);
  }
}

async function downloads(r) {
  const stem = r.file.replace(/\.[^.]*$/, "");
  for (const [id, fmt, name] of [["dl-audacity", "audacity", `${stem}.labels.txt`], ["dl-raven", "raven", `${stem}.selections.txt`], ["dl-csv", "csv", `${stem}.csv`]]) {
    const resp = await fetch("/api/render?format=" + fmt, { method: "POST", body: JSON.stringify(r) });
    const a = $(id);
    if (a.href.startsWith("blob:")) URL.revokeObjectURL(a.href);
    a.href = URL.createObjectURL(await resp.blob());
    a.download = name;
  }
}

async function tagFile(file) {
  const bytes = await file.arrayBuffer();
  const buf = await decode(bytes, model ? model.sample_rate : 44100);
  $("dl-recording").hidden = true;
  await tag(bytes, file.name, buf ? buf.getChannelData(0) : null);
}

$("file").addEventListener("change", (e) => { if (e.target.files.length) tagFile(e.target.files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) tagFile(e.dataTransfer.files[0]);
});

$("record").addEventListener("click", async () => {
  $("error").hidden = true;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, autoGainControl: false, noiseSuppression: false, channelCount: 1 },
    });
  } catch (e) {
    showError("no microphone: " + e.message + " (allow the page to use it, or choose a file)");
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    $("record").classList.remove("on");
    const recorded = await new Blob(chunks, { type: recorder.mimeType }).arrayBuffer();
    const buf = await decode(recorded, model.sample_rate);
    if (!buf) {
      showError("this browser could not decode its own recording; choose a file instead");
      return;
    }
    const samples = await resample(buf, model.sample_rate);
    const bytes = wav(samples, model.sample_rate);
    const a = $("dl-recording");
    a.href = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
    a.hidden = false;
    await tag(bytes, "recording.wav", samples);
  };
  recorder.start();
  $("record").classList.add("on");
  $("record").disabled = true;
  $("stop").disabled = false;
  setState("recording", "recording…");
});

$("stop").addEventListener("click", () => {
  $("stop").disabled = true;
  $("record").disabled = false;
  if (recorder && recorder.state !== "inactive") recorder.stop();
});

init();
