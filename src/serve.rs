//! `wavnet serve`: a self-contained page (HTML/JS/CSS built into the binary, no CDN) and a
//! JSON API over `tiny_http`.
//!
//! - `GET /` the page; `GET /app.js`, `GET /style.css` its parts.
//! - `GET /api/model`: name, classes, sample rate, window and hop (seconds).
//! - `POST /api/tag[?name=FILE]`: the audio file's bytes (any format `tag` reads) -> the same
//!   JSON object as one line of `wavnet tag --format jsonl`.
//! - `POST /api/render?format=csv|audacity|raven`: such an object -> that format's text.
//!
//! Request threads answer the page and read uploads; the model runs on the thread that called
//! [`serve`], one pass at a time, fed through a channel, so the page stays responsive while a
//! clip is tagged. Every error is a JSON object `{"error": "..."}` with a 4xx/5xx status and the
//! server keeps serving.
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::json;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::backend::DeviceTask;
use crate::device::Device;
use crate::infer::{infer_files, model_for_inference, segments, ClipPolicy};
use crate::report::{self, FileReport};
use crate::tag::read_thresholds;

const INDEX_HTML: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const STYLE_CSS: &str = include_str!("../web/style.css");

#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub model: PathBuf,
    pub host: String,
    /// 0 picks a free port (printed on stderr).
    pub port: u16,
    /// Largest upload, MiB.
    pub max_mb: usize,
    pub batch: usize,
    pub top_k: usize,
    pub min_confidence: f32,
    pub thresholds: Option<PathBuf>,
    /// Hop between windows in seconds (`None`: half the window).
    pub hop: Option<f32>,
}

pub struct ServeTask(pub ServeOptions);

impl DeviceTask for ServeTask {
    type Out = Result<()>;
    fn run<D: Device>(self, dev: D) -> Result<()> {
        serve(dev, &self.0)
    }
}

/// A tagging job for the model thread: the uploaded file and where to send the answer.
struct Job {
    path: PathBuf,
    name: String,
    reply: Sender<Result<FileReport, String>>,
}

/// An error answer: a status and a message saying what to do.
fn error(status: u16, msg: impl Into<String>) -> Response<std::io::Cursor<Vec<u8>>> {
    json_response(status, &json!({ "error": msg.into() }))
}

fn json_response(status: u16, v: &serde_json::Value) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(v.to_string().into_bytes()).with_status_code(status).with_header(header("Content-Type", "application/json"))
}

fn header(k: &str, v: &str) -> Header {
    Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("a valid header")
}

fn text(body: &str, ctype: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(body.as_bytes().to_vec()).with_header(header("Content-Type", ctype))
}

/// The value of `key` in a URL's query string (form-urlencoded).
fn query(url: &str, key: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// A safe file extension from an uploaded file's name (a hint for the decoder).
fn extension(name: &str) -> String {
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if !ext.is_empty() && ext.len() <= 5 && ext.chars().all(|c| c.is_ascii_alphanumeric()) {
        format!(".{}", ext.to_ascii_lowercase())
    } else {
        String::new()
    }
}

/// Handles one request on a request thread; model passes go to the model thread through `jobs`.
fn handle(mut req: Request, jobs: &Sender<Job>, model_info: &serde_json::Value, max_bytes: u64, counter: &AtomicU64) {
    let url = req.url().to_string();
    let path = url.split('?').next().unwrap_or("").to_string();
    let method = req.method().clone();
    let resp = match (&method, path.as_str()) {
        (Method::Get, "/") | (Method::Get, "/index.html") => text(INDEX_HTML, "text/html; charset=utf-8"),
        (Method::Get, "/app.js") => text(APP_JS, "text/javascript; charset=utf-8"),
        (Method::Get, "/style.css") => text(STYLE_CSS, "text/css; charset=utf-8"),
        (Method::Get, "/api/model") => json_response(200, model_info),
        (Method::Post, "/api/tag") => tag_upload(&mut req, &url, jobs, max_bytes, counter),
        (Method::Post, "/api/render") => render(&mut req, &url),
        (_, "/" | "/index.html" | "/app.js" | "/style.css" | "/api/model" | "/api/tag" | "/api/render") => {
            error(405, format!("{method} {path}: method not allowed (GET the page and /api/model, POST /api/tag and /api/render)"))
        }
        _ => error(404, format!("{path}: no such page (the page is at /, the API at /api/model, /api/tag, /api/render)")),
    };
    let _ = req.respond(resp);
}

fn tag_upload(req: &mut Request, url: &str, jobs: &Sender<Job>, max_bytes: u64, counter: &AtomicU64) -> Response<std::io::Cursor<Vec<u8>>> {
    let mb = max_bytes / (1 << 20);
    if req.body_length().is_some_and(|n| n as u64 > max_bytes) {
        return error(413, format!("the upload is larger than --max-mb {mb} MiB: send a shorter clip or restart the server with a larger --max-mb"));
    }
    let mut body = Vec::new();
    if let Err(e) = req.as_reader().take(max_bytes + 1).read_to_end(&mut body) {
        return error(400, format!("could not read the upload: {e}"));
    }
    if body.len() as u64 > max_bytes {
        return error(413, format!("the upload is larger than --max-mb {mb} MiB: send a shorter clip or restart the server with a larger --max-mb"));
    }
    if body.is_empty() {
        return error(400, "empty upload: send the audio file's bytes as the request body");
    }
    let name = query(url, "name").unwrap_or_else(|| "upload".into());
    let n = counter.fetch_add(1, Ordering::Relaxed);
    let tmp = std::env::temp_dir().join(format!("wavnet-serve-{}-{n}{}", std::process::id(), extension(&name)));
    if let Err(e) = std::fs::write(&tmp, &body) {
        return error(500, format!("cannot store the upload in {}: {e}", tmp.display()));
    }
    let (tx, rx) = channel();
    let answer = if jobs.send(Job { path: tmp.clone(), name: name.clone(), reply: tx }).is_err() {
        Err("the model thread has stopped; restart wavnet serve".to_string())
    } else {
        rx.recv().unwrap_or_else(|_| Err("the model thread has stopped; restart wavnet serve".into()))
    };
    let _ = std::fs::remove_file(&tmp);
    match answer {
        Ok(r) => json_response(200, &serde_json::to_value(r).expect("a report serialises")),
        Err(why) => error(422, format!("{name}: {why} (send audio: WAV, FLAC, Ogg, MP3, AAC/M4A or AIFF)")),
    }
}

fn render(req: &mut Request, url: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut body = String::new();
    if let Err(e) = req.as_reader().take(64 << 20).read_to_string(&mut body) {
        return error(400, format!("could not read the request: {e}"));
    }
    let r: FileReport = match serde_json::from_str(&body) {
        Ok(r) => r,
        Err(e) => return error(400, format!("the body is not a report from /api/tag: {e}")),
    };
    match query(url, "format").as_deref() {
        Some("csv") => text(&(report::csv_header(r.top.len().max(1)) + &report::csv_row(&r)), "text/csv; charset=utf-8"),
        Some("audacity") => text(&report::audacity(&r), "text/plain; charset=utf-8"),
        Some("raven") => text(&report::raven(&r), "text/plain; charset=utf-8"),
        other => error(400, format!("format {other:?}: give ?format=csv, audacity or raven")),
    }
}

pub fn serve<D: Device>(dev: D, o: &ServeOptions) -> Result<()> {
    let file = crate::io::load_model(&o.model)?;
    let rate = file.cfg.sample_rate;
    let (model, labels) = model_for_inference(dev, file, &o.model, o.batch, None)?;
    if !(0.0..=1.0).contains(&o.min_confidence) {
        anyhow::bail!("--min-confidence {}: give a probability from 0 to 1", o.min_confidence);
    }
    let thresholds = read_thresholds(o.thresholds.as_deref(), &labels, o.min_confidence)?;
    let hop = match o.hop {
        Some(h) if !(h.is_finite() && h * rate as f32 >= 1.0) => anyhow::bail!("--hop {h}: give a positive number of seconds"),
        Some(h) => (h as f64 * rate as f64).round() as usize,
        None => ClipPolicy::default_hop(model.len),
    };
    let policy = ClipPolicy::Windows { hop };
    let model_name = crate::builtin::display(&o.model);
    let info = json!({
        "name": model_name,
        "classes": labels,
        "sample_rate": rate,
        "window": model.len as f64 / rate as f64,
        "hop": hop as f64 / rate as f64,
        "max_mb": o.max_mb,
    });
    let server = Server::http((o.host.as_str(), o.port))
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e} (pick another --port)", o.host, o.port))?;
    let addr = server.server_addr().to_ip().context("a TCP address")?;
    eprintln!("wavnet serve: model {model_name} on {}; open http://{addr}/", model.dev.name());
    let server = Arc::new(server);
    let (jobs_tx, jobs_rx) = channel::<Job>();
    let max_bytes = (o.max_mb as u64) << 20;
    let counter = Arc::new(AtomicU64::new(0));
    for i in 0..4 {
        let (server, jobs, info, counter) = (server.clone(), jobs_tx.clone(), info.clone(), counter.clone());
        std::thread::Builder::new()
            .name(format!("wavnet-http-{i}"))
            .spawn(move || {
                for req in server.incoming_requests() {
                    handle(req, &jobs, &info, max_bytes, &counter);
                }
            })
            .context("cannot start a request thread")?;
    }
    drop(jobs_tx);
    // The model thread: one pass at a time.
    for job in jobs_rx {
        let mut answer = Err("no result".to_string());
        let r = infer_files(&model, std::slice::from_ref(&job.path), policy, |_, r| {
            answer = r.map(|fs| {
                let segs = segments(&fs.windows, &thresholds);
                FileReport::new(job.name.clone(), model_name.clone(), &fs, &segs, &labels, o.top_k, rate)
            });
            Ok(())
        });
        if let Err(e) = r {
            answer = Err(format!("{e:#}"));
        }
        let _ = job.reply.send(answer);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(query("/api/tag?name=my%20clip.mp3&x=1", "name").as_deref(), Some("my clip.mp3"));
        assert_eq!(query("/api/tag?name=a+b", "name").as_deref(), Some("a b"));
        assert_eq!(query("/api/tag", "name"), None);
        assert_eq!(query("/x?name=50%", "name").as_deref(), Some("50%"));
        assert_eq!(extension("clip.MP3"), ".mp3");
        assert_eq!(extension("../../etc/passwd"), "");
        assert_eq!(extension("a.b/c"), "");
    }
}
