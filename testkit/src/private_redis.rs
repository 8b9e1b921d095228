//! A throwaway `redis-server` of a test's own on a free port, which the test may kill to play an outage
//! without disturbing the shared Redis that other tests use.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use url::Url;

use crate::free_port;

pub struct PrivateRedis {
    server: Option<Child>,
    pub url: Url,
}

impl PrivateRedis {
    /// Starts a server without persistence and waits until it accepts connections.
    pub fn start() -> Self {
        let port = free_port();
        let server = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed for the Redis fault tests: apt-get install redis-server");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { server: Some(server), url: Url::parse(&format!("redis://127.0.0.1:{port}")).unwrap() }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.kill().ok();
            server.wait().ok();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
