//! A real Qdrant 1.16.3 server that a test owns: started with
//! `../shared/tools/qdrant/start.sh` on free loopback ports with its storage
//! in a temp dir, stopped and started again on the same ports and storage.
//!
//! The directory holding `start.sh` is `MCP_TEST_QDRANT_DIR` when set,
//! otherwise `shared/tools/qdrant` beside the repository's checkout (where
//! the development and CI machines keep it; no registry ships the server).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::tempdir::TempDir;

/// The directory of `start.sh`. Panics naming both places when it is absent.
pub fn tools_dir() -> PathBuf {
    let dir = match std::env::var_os("MCP_TEST_QDRANT_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/tools/qdrant"),
    };
    assert!(
        dir.join("start.sh").is_file(),
        "no Qdrant start.sh in {}: set MCP_TEST_QDRANT_DIR to the directory of \
         shared/tools/qdrant/start.sh (the real Qdrant 1.16.3 kept beside the repository)",
        dir.display()
    );
    dir
}

pub struct QdrantServer {
    pub grpc_port: u16,
    pub http_port: u16,
    storage: TempDir,
    child: Option<Child>,
}

fn free_ports() -> (u16, u16) {
    // Both listeners are held until both ports are known, so they differ.
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let (a, b) = (bind(), bind());
    let port = |l: &std::net::TcpListener| l.local_addr().expect("local addr").port();
    (port(&a), port(&b))
}

impl QdrantServer {
    /// Starts a server on free ports with empty storage; returns once it is ready.
    pub async fn start() -> Self {
        let (grpc_port, http_port) = free_ports();
        let mut server = Self {
            grpc_port,
            http_port,
            storage: TempDir::new(),
            child: None,
        };
        server.restart().await;
        server
    }

    /// The gRPC URL the platform's `QDRANT_URL` takes.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// Starts it (again) on the same ports and storage, and waits until `/readyz` answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "Qdrant is already running");
        let script = tools_dir().join("start.sh");
        let child = Command::new("bash")
            .arg(&script)
            .args([self.grpc_port.to_string(), self.http_port.to_string()])
            .arg(&self.storage.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));
        self.child = Some(child);
        let ready = format!("http://127.0.0.1:{}/readyz", self.http_port);
        let client = reqwest::Client::new();
        let what = format!("Qdrant answers {ready} (started by {})", script.display());
        crate::poll_until(&what, Duration::from_secs(60), async || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "Qdrant exited during start-up ({status}): {}",
                    script.display()
                );
            }
            client
                .get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
    }

    /// Stops it (start.sh execs the server, so the child is Qdrant itself)
    /// and waits until its gRPC port no longer accepts connections.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let addr = format!("127.0.0.1:{}", self.grpc_port);
        crate::poll_until(
            "the stopped Qdrant's port is closed",
            Duration::from_secs(10),
            async || tokio::net::TcpStream::connect(&addr).await.is_err(),
        )
        .await;
    }
}

impl Drop for QdrantServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
