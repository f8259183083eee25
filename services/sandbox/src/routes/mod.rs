//! Route handlers: the simulated GHL API (`contacts`) and the sandbox's own endpoints
//! (`control`).

use axum::http::{Method, Uri};

use crate::error::Error;

pub(crate) mod contacts;
pub(crate) mod control;

/// Unknown route or method: NestJS' 404 `"Cannot <METHOD> <path>"`.
pub(crate) async fn not_found(method: Method, uri: Uri) -> Error {
    Error::RouteNotFound {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
