//! Signals and the ordered shutdown sequence.
//!
//! Services stop in a fixed order (STYLE.md §10): intake stops (HTTP stops accepting, consumers
//! stop pulling and finish in-flight work), then NATS is flushed, then the admin endpoint and
//! health go, then telemetry. Each service's `run` follows it with two tokens: `intake` and
//! `admin`.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error.message = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error.message = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received Ctrl-C, shutting down"),
        () = term => tracing::info!("received SIGTERM, shutting down"),
    }
}

/// A token cancelled on the first signal; call from `main` and pass it to the service's `run`.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        signal().await;
        t.cancel();
    });
    token
}

/// Waits for `fut` at most `timeout`, logging what was cut short.
pub async fn with_deadline<F: std::future::Future>(
    what: &str,
    timeout: Duration,
    fut: F,
) -> Option<F::Output> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::warn!(what, ?timeout, "shutdown step timed out");
            None
        }
    }
}
