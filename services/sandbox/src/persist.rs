//! Optional persistence (`SandboxConfig::data_file`): the store is read from a JSON file at
//! start and written back periodically after changes and at shutdown, so a local stack keeps
//! its locations, contacts, OAuth tokens and Shift4Shop customers across restarts. Without the
//! option nothing touches the disk and the sandbox starts in milliseconds.
//!
//! Writes are atomic: the JSON goes to `<file>.tmp` in the same directory, is flushed to disk,
//! then renamed over the file, so a crash leaves the old file or the new one, never half of
//! one.
//!
//! What counts as a change: every request that can write (any method but `GET` and `HEAD`,
//! the two searches aside) and every [`SandboxState`] method that writes marks the state; the
//! writer saves when the mark moved since its last save.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::SandboxState;

/// Whether a request can change saved state.
pub(crate) fn may_write(method: &axum::http::Method, path: &str) -> bool {
    let read = matches!(
        *method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    !read && path != "/contacts/search" && !path.ends_with("/tasks/search")
}

/// The file's content, or `None` when it does not exist.
pub(crate) fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `bytes`: a temporary file beside it, flushed, then renamed over it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    // Make the rename itself durable (best effort: not every platform opens directories).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Saves the state to `path`; returns the change mark the saved state includes.
pub(crate) async fn save(state: &SandboxState, path: &Path) -> io::Result<u64> {
    let mark = state.change_mark();
    let bytes = state.saved_bytes()?;
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
        .await
        .map_err(io::Error::other)??;
    Ok(mark)
}

/// Saves every `every` while the state changes, until `stop`; returns the mark last saved
/// (`saved` when nothing was), for the final save.
pub(crate) async fn run(
    state: SandboxState,
    path: PathBuf,
    every: Duration,
    mut saved: Option<u64>,
    stop: CancellationToken,
) -> Option<u64> {
    loop {
        tokio::select! {
            () = stop.cancelled() => return saved,
            () = tokio::time::sleep(every) => {}
        }
        if saved == Some(state.change_mark()) {
            continue;
        }
        match save(&state, &path).await {
            Ok(mark) => saved = Some(mark),
            Err(e) => tracing::error!(
                error.message = %e,
                path = %path.display(),
                "cannot save the sandbox state"
            ),
        }
    }
}
