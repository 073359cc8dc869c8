//! A real Prometheus (Debian's `prometheus` package) for the analysis tests: started on a
//! free loopback port with a temporary configuration and storage, scraping loopback
//! targets every second; stopped when dropped.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{ChildGuard, command_works, free_port, http_get, prerequisite};

/// Whether the `prometheus` binary runs (apt-get install prometheus; scripts/install-deps.sh).
pub fn prometheus_ready() -> bool {
    prerequisite("prometheus (apt-get install prometheus)", command_works("prometheus", &["--version"]))
}

/// A running Prometheus.
#[derive(Debug)]
pub struct Prometheus {
    pub port: u16,
    _child: ChildGuard,
    dir: StateDir,
}

/// Prometheus's configuration, storage and log, removed when dropped.
#[derive(Debug)]
struct StateDir(std::path::PathBuf);

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (`127.0.0.1:PORT`, path /metrics) as the job
    /// `app` every second; `None` (skipped) without the binary. Returns once it is ready.
    pub fn start(targets: &[String]) -> Option<Self> {
        if !prometheus_ready() {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("slipway-prometheus-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let dir = StateDir(dir);
        let quoted: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n    static_configs:\n      - targets: [{}]\n",
            quoted.join(", ")
        );
        let config_path = dir.0.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.0.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.0.join("prometheus.log")).map(Stdio::from).unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .unwrap();
        let prometheus = Self { port, _child: ChildGuard(child), dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http_get(port, "/-/ready").is_ok_and(|(status, _)| status == 200) {
            assert!(Instant::now() < deadline, "Prometheus not ready in 30s: {}", prometheus.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(prometheus)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(Path::new(&self.dir.0).join("prometheus.log")).unwrap_or_default()
    }

    /// The raw answer of an instant query.
    pub fn query(&self, query: &str) -> String {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        http_get(self.port, &format!("/api/v1/query?query={encoded}")).map(|(_, body)| body).unwrap_or_default()
    }

    /// Waits until `query` gives a non-empty vector (the targets were scraped), up to `timeout`.
    pub fn wait_for(&self, query: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let answer = self.query(query);
            if answer.contains("\"result\":[{") {
                return;
            }
            assert!(Instant::now() < deadline, "{query} gave no series within {timeout:?}: {answer}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
