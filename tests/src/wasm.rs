//! WASM plugin fixtures for the end-to-end tests: the example plugins and hostile modules
//! built from source by `plugins-wasm/build-examples.sh` (never committed binaries), and an
//! HTTP server that collects what the HTTP-posting sink plugin sends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// The directory holding every example and fixture module, built on first use (the build
/// script skips what is up to date). `WEIR_WASM_PLUGINS` (set by `scripts/test`) names it.
pub fn built_plugins() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("WEIR_WASM_PLUGINS")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("weir-wasm-plugins"));
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins-wasm/build-examples.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("run build-examples.sh");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "build-examples.sh failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in text.lines().filter(|l| l.starts_with("SKIPPED")) {
            eprintln!("{line}");
        }
        dir
    })
    .clone()
}

/// Whether the build produced `name` (optional toolchains may be skipped).
pub fn has_plugin(name: &str) -> bool {
    built_plugins().join(format!("{name}.wasm")).exists()
}

/// A `plugin.path` directory under `root` holding copies of `names` (so a test may change
/// them); a name may be `file:alias` to install `file.wasm` as `alias.wasm`.
pub fn plugin_dir(root: &Path, names: &[&str]) -> PathBuf {
    let dir = root.join("plugins");
    std::fs::create_dir_all(&dir).expect("plugin dir");
    for spec in names {
        let (file, alias) = spec.split_once(':').unwrap_or((spec, spec));
        install(&dir, file, alias);
    }
    dir
}

/// Puts `file.wasm` into `dir` as `alias.wasm` atomically (write, then rename).
pub fn install(dir: &Path, file: &str, alias: &str) {
    let from = built_plugins().join(format!("{file}.wasm"));
    let tmp = dir.join(format!(".{alias}.wasm.tmp"));
    std::fs::copy(&from, &tmp).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    std::fs::rename(&tmp, dir.join(format!("{alias}.wasm"))).expect("rename plugin");
}

/// An HTTP/1.1 server on a free loopback port that answers `503` to the first `fail_first`
/// requests and `200` after, keeping the body of every request it accepted.
pub struct Collector {
    pub port: u16,
    bodies: Arc<Mutex<Vec<String>>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    String::from_utf8(body).ok()
}

impl Collector {
    pub fn start(fail_first: usize) -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind collector");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, r, s) = (bodies.clone(), requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let mut stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Some(body) = read_request(&mut stream) else {
                    continue;
                };
                let n = r.fetch_add(1, Ordering::SeqCst);
                let status = if n < fail_first {
                    "503 Service Unavailable"
                } else {
                    b.lock().expect("bodies").push(body);
                    "200 OK"
                };
                let _ = stream.write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        });
        Collector {
            port,
            bodies,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Every NDJSON line of every accepted request, in arrival order.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.bodies
            .lock()
            .expect("bodies")
            .iter()
            .flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>())
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(&l).unwrap_or(serde_json::Value::String(l)))
            .collect()
    }

    /// Requests answered so far, refused ones included.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
