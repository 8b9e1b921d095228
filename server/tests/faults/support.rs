//! What the fault cases share: the release binaries' paths, child processes that die with the test, config
//! files, and waits for a condition with a bound.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use registry_store::{Store, SyncPhase};
use registry_testkit::name;

/// A binary of this workspace. `registry-api` is this package's; the others are found beside it in the
/// target directory (the workspace build makes them).
pub fn binary(name: &str) -> PathBuf {
    if name == "registry-api" {
        return PathBuf::from(env!("CARGO_BIN_EXE_registry-api"));
    }
    let dir = Path::new(env!("CARGO_BIN_EXE_registry-api")).parent().unwrap();
    let path = dir.join(name);
    assert!(path.is_file(), "{} is not built: build the workspace (cargo build --workspace)", path.display());
    path
}

/// A child process whose stderr goes to a file, killed (SIGKILL) when dropped.
pub struct Process {
    child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn spawn(program: &str, args: &[&str], dir: &Path) -> Self {
        Self::spawn_with(Command::new(binary(program)).args(args), dir, program)
    }

    pub fn spawn_with(command: &mut Command, dir: &Path, label: &str) -> Self {
        let log = dir.join(format!("{label}-{}.log", registry_testkit::free_port()));
        // Many processes run at once: each internal listener takes a free port, unless the test names one.
        const INTERNAL: &str = "REGISTRY_SERVER__INTERNAL_ADDRESS";
        if !command.get_envs().any(|(key, _)| key == INTERNAL) {
            command.env(INTERNAL, "127.0.0.1:0");
        }
        let child = command
            // The fault suite's loads come from one address: the rate limits' own tests (api) turn them on.
            .env("REGISTRY_RATE_LIMITS__ENABLED", "false")
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "text")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as an orchestrator does.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success());
    }

    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// The exit code, once the process has exited within `patience`; `None` if it is still running.
    pub fn exit_within(&mut self, patience: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `registry-api serve --config config` on `port`, run through `wrapper` (e.g. `prlimit …`) when given.
pub fn spawn_api_on(config: &Path, dir: &Path, port: u16, extra: &[&str], wrapper: &[&str]) -> Process {
    let api = binary("registry-api").display().to_string();
    let address = format!("127.0.0.1:{port}");
    let mut args: Vec<&str> = wrapper.to_vec();
    args.extend([api.as_str(), "serve", "--config", config.to_str().unwrap(), "--address", &address]);
    args.extend(extra);
    Process::spawn_with(Command::new(args[0]).args(&args[1..]), dir, "registry-api")
}

/// `registry-api serve` on a free port; the process and its base URL, without waiting for it.
pub fn spawn_api(config: &Path, dir: &Path, extra: &[&str]) -> (Process, String) {
    let port = registry_testkit::free_port();
    (spawn_api_on(config, dir, port, extra, &[]), format!("http://127.0.0.1:{port}"))
}

/// `program` (`registry-api serve` or `registry-worker run`) on `config`, with its internal listener on a
/// free port (and, for the API, its public one on another): the process, the public base URL (empty for the
/// worker) and the internal listener's base URL.
pub fn spawn_with_internal(program: &str, config: &Path, dir: &Path) -> (Process, String, String) {
    let (port, internal) = (registry_testkit::free_port(), registry_testkit::free_port());
    let mut command = Command::new(binary(program));
    let base = if program == "registry-api" {
        command.args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--address",
            &format!("127.0.0.1:{port}"),
        ]);
        format!("http://127.0.0.1:{port}")
    } else {
        command.args(["run", "--config", config.to_str().unwrap()]);
        String::new()
    };
    command.env("REGISTRY_SERVER__INTERNAL_ADDRESS", format!("127.0.0.1:{internal}"));
    (Process::spawn_with(&mut command, dir, program), base, format!("http://127.0.0.1:{internal}"))
}

/// Waits until the API, or an internal listener, at `base` answers `/readiness` with 200.
pub async fn until_ready(base: &str) {
    until("the API is ready", Duration::from_secs(30), || async {
        client().get(format!("{base}/readiness")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
}

/// Asks the API at `base` for a sync of `registry` under the request id `request_id`; the answer's status.
pub async fn ask_sync(base: &str, registry: &str, request_id: &str) -> u16 {
    let url = format!("{base}/extension/v0/registries/{registry}/sync");
    client().post(url).header("x-request-id", request_id).send().await.unwrap().status().as_u16()
}

/// `registry-worker run --config config`.
pub fn spawn_worker(config: &Path, dir: &Path) -> Process {
    Process::spawn("registry-worker", &["run", "--config", config.to_str().unwrap()], dir)
}

/// An HTTP client for 127.0.0.1: no proxy, a 30 s bound, and the TLS provider reqwest is built without.
pub fn client() -> reqwest::Client {
    if rustls::crypto::ring::default_provider().install_default().is_err() {
        // Installed already by another test of this process.
    }
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap()
}

pub fn write_config(dir: &Path, file: &str, yaml: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A registry file of `count` servers.
pub fn catalogue(dir: &Path, count: usize) -> PathBuf {
    let servers: Vec<_> = (0..count)
        .map(|i| serde_json::json!({"name": format!("io.example/tool-{i}"), "description": "d", "version": "1.0.0"}))
        .collect();
    let path = dir.join("registry.json");
    std::fs::write(&path, serde_json::json!(servers).to_string()).unwrap();
    path
}

/// `registry-admin` with a config, as an operator runs it; its output, which must say it succeeded.
pub fn admin(args: &[&str], config: &Path) -> String {
    let output =
        Command::new(binary("registry-admin")).args(args).arg("--config").arg(config).output().unwrap();
    assert!(output.status.success(), "registry-admin {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Polls `check` every 50 ms until it holds, for at most `patience`; how long it took.
pub async fn until<F: Future<Output = bool>>(
    what: &str,
    patience: Duration,
    mut check: impl FnMut() -> F,
) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < patience, "{what}: not within {patience:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// The last successful sync of a registry, if any (database errors count as none yet).
pub async fn last_success(store: &Store, registry: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let status = store.sync_status(&name(registry)).await.ok().flatten()?;
    (status.phase == SyncPhase::Complete).then_some(status.last_success_at).flatten()
}

/// A TCP server on 127.0.0.1 that accepts connections and never answers: a hung source.
pub struct HangingServer {
    pub base: String,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HangingServer {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(stream);
            }
        });
        Self { base, accepted }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}
