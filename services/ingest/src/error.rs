use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a delivery failed verification. The message is for logs; the client only sees 401.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("signature header {0} is missing")]
    MissingSignature(&'static str),
    #[error("signature header {0} is malformed")]
    MalformedSignature(&'static str),
    #[error("signature does not match any of the connection's secrets")]
    Mismatch,
}

/// Why a verified delivery could not be normalised.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("field {field} is missing")]
    Missing { field: &'static str },
    #[error("field {field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// The one mapping from ingest failures to HTTP answers.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown connection {0:?}")]
    UnknownConnection(String),
    #[error("invalid connection name: {0}")]
    BadConnectionName(String),
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] VerifyError),
    #[error("malformed delivery: {0}")]
    Malformed(#[from] ParseError),
    #[error("not ready: {0}")]
    Unavailable(String),
}

impl IngestError {
    pub fn outcome(&self) -> &'static str {
        match self {
            IngestError::UnknownConnection(_) | IngestError::BadConnectionName(_) => {
                "unknown_connection"
            }
            IngestError::Unauthorized(_) => "unauthorized",
            IngestError::Malformed(_) => "malformed",
            IngestError::Unavailable(_) => "unavailable",
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            IngestError::UnknownConnection(_) | IngestError::BadConnectionName(_) => {
                (StatusCode::NOT_FOUND, self.to_string())
            }
            // Never say which part of the signature check failed.
            IngestError::Unauthorized(_) => {
                (StatusCode::UNAUTHORIZED, "invalid signature".to_owned())
            }
            IngestError::Malformed(e) => (StatusCode::BAD_REQUEST, e.to_string()),
            IngestError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily unavailable, retry later".to_owned(),
            ),
        };
        let mut resp =
            (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("5"),
            );
        }
        resp
    }
}
