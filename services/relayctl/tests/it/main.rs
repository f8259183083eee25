//! relayctl against an in-process admin port over real gRPC (see `fake`): arguments in,
//! stdout/stderr/exit code out.

#![allow(clippy::unwrap_used)]

mod admin;
mod connections;
mod dlq;
mod fake;
mod locations;
mod preview;
mod replay;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Parser as _;

pub(crate) use fake::{FakeAdminPort, TOKEN};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// One relayctl run.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs relayctl with `args`, as `main` would, with the given token against `url` as the
/// `mapper` service.
pub(crate) async fn relayctl_with(url: &str, token: &str, args: &[&str]) -> Run {
    let service = format!("mapper={url}");
    let mut all = vec!["relayctl", "--service", &service, "--token", token];
    all.extend_from_slice(args);
    let cli = relayctl::Cli::try_parse_from(all).unwrap();
    let (out, err) = (Buf::default(), Buf::default());
    let mut con = relayctl::Console::new(out.clone(), err.clone());
    let code = match relayctl::run_with(cli, &mut con).await {
        Ok(code) => code,
        Err(e) => {
            writeln!(err.clone(), "relayctl: {e:#}").unwrap();
            relayctl::exit_code(&e)
        }
    };
    Run {
        code,
        stdout: out.text(),
        stderr: err.text(),
    }
}

pub(crate) async fn relayctl(port: &FakeAdminPort, args: &[&str]) -> Run {
    relayctl_with(&port.url, TOKEN, args).await
}

/// A file with `contents` in a fresh directory (kept alive by the returned guard).
pub(crate) fn file(name: &str, contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

/// A URL where nothing listens.
pub(crate) async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn completions() {
    let port = FakeAdminPort::start().await;
    for shell in ["bash", "zsh", "fish"] {
        let run = relayctl(&port, &["completions", shell]).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains("relayctl"), "{shell}: {}", run.stdout);
        assert!(run.stdout.contains("connections"), "{shell}");
        assert!(run.stdout.contains("replay"), "{shell}");
    }
}
