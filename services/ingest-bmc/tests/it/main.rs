//! The binary's configuration errors: non-zero exit (64) with the offending key named.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relay-ingest-bmc"));
    cmd.args(args).env_clear().env("PATH", "/usr/bin:/bin");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const TOKEN: (&str, &str) = ("RELAY_ADMIN_TOKEN", "t");

#[test]
fn unknown_key_in_the_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bmc.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[nats]\nurll = \"nats://x\"\n",
    )
    .unwrap();
    let out = run(
        &["--config", file.to_str().unwrap(), "--dump-config"],
        &[TOKEN],
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("urll"), "{}", stderr(&out));
}

#[test]
fn bad_url_is_named() {
    let out = run(
        &["--set", "nats.url=http://127.0.0.1:4222", "--dump-config"],
        &[TOKEN],
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("nats.url"), "{}", stderr(&out));
    let out = run(
        &["--dump-config"],
        &[TOKEN, ("RELAY_TELEMETRY__OTLP_ENDPOINT", "not a url")],
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out)
            .to_lowercase()
            .contains("telemetry.otlp_endpoint"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_secrets_are_named() {
    let out = run(&["--dump-config"], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("admin.token") && stderr(&out).contains("RELAY_ADMIN_TOKEN"),
        "{}",
        stderr(&out)
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bmc.toml");
    std::fs::write(
        &file,
        "[connections.demo]\nsecret = \"env:RELAY_DEMO_SECRET\"\n",
    )
    .unwrap();
    let out = run(
        &["--config", file.to_str().unwrap(), "--dump-config"],
        &[TOKEN],
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("connections.demo.secret"),
        "{}",
        stderr(&out)
    );

    // A secret pasted in place of a reference is refused without echoing it.
    std::fs::write(
        &file,
        "[connections.demo]\nsecret = \"hunter2-is-my-secret\"\n",
    )
    .unwrap();
    let out = run(
        &["--config", file.to_str().unwrap(), "--dump-config"],
        &[TOKEN],
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(
        !stderr(&out).contains("hunter2-is-my-secret"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_valid_config_dumps_and_exits_zero_without_secret_values() {
    let out = run(
        &["--dump-config", "--set", "connections.demo.secret=env:S"],
        &[TOKEN, ("S", "very-secret-value")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("env:S") && !stdout.contains("very-secret-value"),
        "{stdout}"
    );
    assert!(stdout.contains("127.0.0.1:8085"), "{stdout}");
}
