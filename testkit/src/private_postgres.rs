//! A throwaway PostgreSQL cluster of a test's own (`initdb` on a free port), which the test may stop and
//! start to play an outage without disturbing the shared server or any other test. As root, the cluster runs
//! as the `postgres` user, as PostgreSQL requires.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use url::Url;

pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    pub port: u16,
    /// The `postgres` database of the cluster as the superuser `postgres`, over TCP (with its password, on a
    /// cluster that asks for one).
    pub url: Url,
}

impl PrivatePostgres {
    /// Creates and starts a cluster that trusts every login; takes a second or two.
    pub fn start() -> Self {
        Self::initialised(&["-A", "trust"], None)
    }

    /// Creates and starts a cluster whose TCP logins need a password (scram-sha-256), as a production
    /// server's do. Its `url` carries `postgres`'s password, `superuser_password`.
    pub fn start_with_passwords(superuser_password: &str) -> Self {
        Self::initialised(&["--auth-local=trust", "--auth-host=scram-sha-256"], Some(superuser_password))
    }

    fn initialised(auth: &[&str], superuser_password: Option<&str>) -> Self {
        let dir = tempfile::Builder::new().prefix("registry-pg-").tempdir().unwrap();
        if running_as_root() {
            let status = Command::new("chown").args(["postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(status.success(), "chown of the cluster directory failed");
        }
        let data = dir.path().join("data");
        let mut init = run_as_owner(bin("initdb"));
        init.arg("-D").arg(&data).args(auth).args([
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        if let Some(password) = superuser_password {
            let file = dir.path().join("superuser-password");
            std::fs::write(&file, password).unwrap();
            if running_as_root() {
                Command::new("chown").args(["postgres:postgres"]).arg(&file).status().unwrap();
            }
            init.arg(format!("--pwfile={}", file.display()));
        }
        let init = init.output().unwrap();
        assert!(init.status.success(), "initdb failed: {}", String::from_utf8_lossy(&init.stderr));
        let port = free_port();
        let mut url = Url::parse(&format!("postgres://postgres@127.0.0.1:{port}/postgres")).unwrap();
        url.set_password(superuser_password).unwrap();
        let cluster = Self { url, dir, port };
        cluster.start_again();
        cluster
    }

    pub fn storage(&self) -> registry_runtime::config::StorageConfig {
        super::postgres_storage(&self.url)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the stopped cluster on its port and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log");
        let started = run_as_owner(bin("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(&log)
            .args(["-o", &options, "-w", "-t", "30", "start"])
            .output()
            .unwrap();
        assert!(
            started.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&started.stderr),
            // The log is only shown to explain a failure; a missing one shows nothing.
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the cluster at once: connections are cut, as in a crash or a failover.
    pub fn stop(&self) {
        let stopped = run_as_owner(bin("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .unwrap();
        assert!(stopped.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&stopped.stderr));
    }

    /// Waits until the cluster accepts TCP connections (after [`PrivatePostgres::start_again`], for clients).
    pub fn wait_until_accepting(&self, patience: Duration) {
        let deadline = Instant::now() + patience;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "the private cluster does not accept connections");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _stopped =
            run_as_owner(bin("pg_ctl")).arg("-D").arg(self.data()).args(["-m", "immediate", "stop"]).output();
    }
}

/// The newest installed PostgreSQL's binaries (Debian keeps them out of PATH), else PATH.
fn bin(name: &str) -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").into_iter().flatten().flatten();
    let mut dirs: Vec<PathBuf> =
        versions.map(|v| v.path().join("bin")).filter(|d| d.join(name).is_file()).collect();
    dirs.sort_by_key(|d| d.parent().and_then(Path::file_name).and_then(|v| v.to_str()?.parse::<u32>().ok()));
    dirs.pop().map_or_else(|| PathBuf::from(name), |dir| dir.join(name))
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The command, as the `postgres` user when running as root (PostgreSQL refuses to run as root).
fn run_as_owner(program: PathBuf) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
