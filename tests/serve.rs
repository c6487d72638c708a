//! `wavnet serve` end to end: headless Chromium, driven through WebDriver (chromedriver),
//! uploads a recording and records one through a fake microphone; the page must show the same
//! top tags and segments as `wavnet tag` on the same audio. Bad uploads get JSON errors and the
//! server keeps serving.
//!
//! Needs Chromium and its driver: `apt-get install -y --no-install-recommends chromium
//! chromium-driver` (`.ci/run` installs them). Without them the test fails and says so;
//! `WAVNET_SKIP_BROWSER_TESTS=1` is the only way to skip it.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use rand::{Rng, SeedableRng};
use wavnet::data::audio::write_wav;
use wavnet::report::FileReport;

const SR: u32 = 16000;

/// Kills a child process when dropped (also when the test panics).
struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|n| std::env::split_paths(&path).map(|d| d.join(n)).find(|p| p.is_file()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wavnet"))
}

/// `n` samples of a 300 Hz tone, a 2500 Hz tone, or noise.
fn sound(class: usize, n: usize, rng: &mut impl Rng) -> Vec<f32> {
    let f = [300.0, 2500.0, 0.0][class];
    let amp = rng.random_range(0.3..0.8f32);
    (0..n)
        .map(|i| {
            let noise = rng.random_range(-1.0..1.0f32);
            if class == 2 { amp * noise } else { amp * (std::f32::consts::TAU * f * i as f32 / SR as f32).sin() + 0.02 * noise }
        })
        .collect()
}

/// Trains a small model on the three generated classes; returns its file.
fn train(dir: &Path) -> PathBuf {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for (c, name) in ["low_tone", "high_tone", "noise"].iter().enumerate() {
        let d = dir.join("train").join(name);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..12 {
            write_wav(&d.join(format!("{i}.wav")), &sound(c, 8000, &mut rng), SR).unwrap();
        }
    }
    let out = dir.join("run");
    let o = std::process::Command::new(bin())
        .args(["train", "--device", "cpu", "--crop", "0.5", "--batch", "8", "--epochs", "5", "--augment", "none", "--quiet", "--data"])
        .arg(dir.join("train"))
        .arg("--out")
        .arg(&out)
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap();
    assert!(o.status.success(), "train: {}", String::from_utf8_lossy(&o.stderr));
    out.join("best.safetensors")
}

fn tag(model: &Path, file: &Path) -> FileReport {
    let o = std::process::Command::new(bin())
        .args(["tag", "--device", "cpu", "--format", "jsonl", "--model"])
        .arg(model)
        .arg(file)
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap();
    assert!(o.status.success(), "tag: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// What the page shows: the top tags (label, confidence) and the segments (start, end, label,
/// confidence).
type Shown = (Vec<(String, f64)>, Vec<(f64, f64, String, f64)>);

/// What the page shows, read from the DOM.
async fn shown(c: &fantoccini::Client) -> Shown {
    let mut top = Vec::new();
    for li in c.find_all(Locator::Css("#top li")).await.unwrap() {
        let label = li.attr("data-label").await.unwrap().unwrap();
        let conf: f64 = li.attr("data-confidence").await.unwrap().unwrap().parse().unwrap();
        top.push((label, conf));
    }
    let mut segs = Vec::new();
    for tr in c.find_all(Locator::Css("#segments tbody tr")).await.unwrap() {
        let a = |k: &'static str| {
            let tr = tr.clone();
            async move { tr.attr(k).await.unwrap().unwrap() }
        };
        segs.push((a("data-start").await.parse().unwrap(), a("data-end").await.parse().unwrap(), a("data-label").await, a("data-confidence").await.parse().unwrap()));
    }
    (top, segs)
}

fn assert_same(what: &str, page: &Shown, r: &FileReport) {
    let top: Vec<(String, f64)> = r.top.iter().map(|t| (t.label.clone(), t.confidence as f64)).collect();
    assert_eq!(page.0.len(), top.len(), "{what}: top tags {:?} vs wavnet tag {top:?}", page.0);
    for (a, b) in page.0.iter().zip(&top) {
        assert!(a.0 == b.0 && (a.1 - b.1).abs() < 1e-6, "{what}: top tags {:?} vs wavnet tag {top:?}", page.0);
    }
    assert_eq!(page.1.len(), r.segments.len(), "{what}: segments {:?} vs wavnet tag {:?}", page.1, r.segments);
    for (a, s) in page.1.iter().zip(&r.segments) {
        assert!(
            (a.0 - s.start).abs() < 1e-9 && (a.1 - s.end).abs() < 1e-9 && a.2 == s.label && (a.3 - s.confidence as f64).abs() < 1e-6,
            "{what}: segment {a:?} vs wavnet tag {s:?}"
        );
    }
}

/// Runs `fetch` in the page and returns (status, JSON body).
async fn fetch(c: &fantoccini::Client, url: &str, body_js: &str) -> (u64, serde_json::Value) {
    let js = format!(
        "const done = arguments[arguments.length - 1];
         fetch('{url}', {{ method: 'POST', body: {body_js} }}).then(r => r.json().then(j => done([r.status, j]))).catch(e => done([0, String(e)]));"
    );
    let v = c.execute_async(&js, vec![]).await.unwrap();
    (v[0].as_u64().unwrap(), v[1].clone())
}

#[test]
fn the_page_shows_what_wavnet_tag_finds_for_an_upload_and_a_recording() {
    if std::env::var("WAVNET_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: WAVNET_SKIP_BROWSER_TESTS=1 (browser test of wavnet serve not run)");
        return;
    }
    let install = "install Chromium and its WebDriver: apt-get install -y --no-install-recommends chromium chromium-driver \
                   (WAVNET_SKIP_BROWSER_TESTS=1 skips this test)";
    let chromium = which(&["chromium", "chromium-browser", "google-chrome"]).unwrap_or_else(|| panic!("no Chromium on PATH: {install}"));
    let driver = which(&["chromedriver"]).unwrap_or_else(|| panic!("no chromedriver on PATH: {install}"));

    let tmp = tempfile::tempdir().unwrap();
    let model = train(tmp.path());
    // A real recording to upload (low tone, high tone, noise, 1 s each), also the fake
    // microphone's input.
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let clip: Vec<f32> = [0, 1, 2].iter().flat_map(|&c| sound(c, SR as usize, &mut rng)).collect();
    let upload = tmp.path().join("three sounds.wav");
    write_wav(&upload, &clip, SR).unwrap();

    let mut server = std::process::Command::new(bin())
        .args(["serve", "--device", "cpu", "--port", "0", "--max-mb", "1", "--model"])
        .arg(&model)
        .env("RAYON_NUM_THREADS", "2")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let server = Kill(server);
    let url = loop {
        let line = lines.next().unwrap_or_else(|| panic!("wavnet serve ended before listening")).unwrap();
        if let Some(i) = line.find("http://") {
            break line[i..].trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});

    let port = free_port();
    let _driver = Kill(std::process::Command::new(&driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "chromedriver did not start on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1200,900".into(),
            "--use-fake-ui-for-media-stream".into(),
            "--use-fake-device-for-media-stream".into(),
            format!("--use-file-for-fake-audio-capture={}", upload.display()),
        ];
        caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": chromium, "args": args }));
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session with headless Chromium");
        let wait = |css: &'static str| {
            let c = c.clone();
            async move {
                c.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("waiting for {css}: {e}"));
            }
        };
        c.goto(&url).await.unwrap();
        wait("body[data-state=ready]").await;

        // Upload a file through the file chooser.
        c.find(Locator::Id("file")).await.unwrap().send_keys(&upload.display().to_string()).await.unwrap();
        wait("body[data-state=done]").await;
        let page = shown(&c).await;
        assert!(!page.0.is_empty());
        assert_same("upload", &page, &tag(&model, &upload));
        if let Ok(p) = std::env::var("WAVNET_SCREENSHOT") {
            std::fs::write(p, c.screenshot().await.unwrap()).unwrap();
        }

        // Record through the fake microphone; the page sends WAV at the model's rate.
        c.execute("document.body.dataset.state = 'test'", vec![]).await.unwrap();
        c.find(Locator::Id("record")).await.unwrap().click().await.unwrap();
        wait("body[data-state=recording]").await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        c.find(Locator::Id("stop")).await.unwrap().click().await.unwrap();
        wait("body[data-state=done]").await;
        let bytes: Vec<u8> = serde_json::from_value(
            c.execute("return Array.from(new Uint8Array(window.wavnet.lastUpload));", vec![]).await.unwrap(),
        )
        .unwrap();
        let sent = tmp.path().join("recording.wav");
        std::fs::write(&sent, &bytes).unwrap();
        let spec = hound::WavReader::open(&sent).unwrap().spec();
        assert_eq!((spec.sample_rate, spec.channels), (SR, 1), "the page sends WAV at the model's rate");
        let r = tag(&model, &sent);
        assert!(r.duration > 1.5, "about 2.5 s recorded, got {} s", r.duration);
        let page = shown(&c).await;
        assert_same("recording", &page, &r);

        // Bad uploads: clear JSON errors, and the server goes on serving.
        let (s, v) = fetch(&c, "/api/tag", "new Uint8Array(0)").await;
        assert_eq!(s, 400, "{v}");
        assert!(v["error"].as_str().unwrap().contains("empty"), "{v}");
        let (s, v) = fetch(&c, "/api/tag?name=notes.txt", "'this is not audio'").await;
        assert_eq!(s, 422, "{v}");
        assert!(v["error"].as_str().unwrap().contains("notes.txt"), "{v}");
        let (s, v) = fetch(&c, "/api/tag", "new Uint8Array(1536 * 1024)").await;
        assert_eq!(s, 413, "{v}");
        assert!(v["error"].as_str().unwrap().contains("--max-mb 1"), "{v}");
        let (s, v) = fetch(&c, "/api/render?format=raven", "'{}'").await;
        assert_eq!(s, 400, "{v}");
        let info: serde_json::Value =
            c.execute_async("const done = arguments[0]; fetch('/api/model').then(r => r.json()).then(done);", vec![]).await.unwrap();
        assert_eq!(info["classes"], serde_json::json!(["high_tone", "low_tone", "noise"]));
        assert_eq!(info["sample_rate"], SR);
        c.close().await.unwrap();
    });
    drop(server);
}
