//! The one error type of the sandbox, and its single mapping to the outside world: GHL's
//! NestJS-style error bodies (`{statusCode, message, error?, meta?}`, README §5).
//!
//! Where GHL's wording is known (spec schemas, observed bodies) it is reproduced exactly; where
//! it is not, the variant's doc comment says so.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Shorthand for results whose error is the sandbox [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

use crate::store::MatchField;

/// Everything that can go wrong, on the GHL API and on the control endpoints.
///
/// Variants are sorted by name. Each maps to exactly one status code and body
/// ([`Error::status`], [`IntoResponse`]).
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// A GHL-side bad request with a string message, e.g. upsert without email and phone:
    /// 400 `{"statusCode":400,"message":"...","error":"Bad Request"}`.
    #[error("bad request: {0}")]
    BadRequest(String),

    /// A control-endpoint request the sandbox cannot act on (bad JSON, invalid fault spec,
    /// location id or token already taken). Same 400 shape as [`Error::BadRequest`].
    #[error("invalid control request: {0}")]
    Control(String),

    /// `POST /contacts/` (or an update that would make two contacts share an email or phone)
    /// on a location that does not allow duplicates: 400 with `meta` (observed, integrator
    /// findings B.7).
    #[error("the location does not allow duplicated contacts (existing contact {contact_id})")]
    DuplicateContact {
        /// The existing contact's id.
        contact_id: String,
        /// The existing contact's display name, if it has one.
        contact_name: Option<String>,
        /// The field both contacts share.
        matching_field: MatchField,
    },

    /// An OAuth access token that expired (by time or forced through the control API): 401
    /// `{"statusCode":401,"message":"Invalid JWT"}` (observed, highlevel-api-docs issue #213).
    #[error("the access token has expired")]
    ExpiredToken,

    /// The token belongs to another location: 403 (observed, n8n issue #11353).
    #[error("the token does not have access to this location")]
    Forbidden,

    /// A response status chosen by an injected fault (`POST /_sandbox/faults`).
    #[error("injected fault: {status}")]
    Injected {
        /// The status to answer.
        status: StatusCode,
        /// Overrides the default message for that status.
        message: Option<String>,
    },

    /// `POST /oauth/token` with an unknown client id or a wrong secret: 401.
    #[error("invalid client credentials")]
    InvalidClient,

    /// Missing, malformed or unknown bearer token: 401 (spec `UnauthorizedDTO`).
    #[error("invalid token")]
    InvalidToken,

    /// A `Version` header outside the accepted set: 401 `"version header is invalid"`.
    /// Not in GHL's docs; observed by third-party live probes (see the crate docs).
    #[error("version header is invalid")]
    InvalidVersion,

    /// Malformed JSON body: 400. Express reports the V8 parser message, which the sandbox
    /// cannot reproduce; it says what serde found instead.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),

    /// No `Version` header: 401 `"version header was not found."`. Not in GHL's docs;
    /// observed by third-party live probes.
    #[error("version header was not found")]
    MissingVersion,

    /// A resource (contact, location) that does not exist: 404 `{"statusCode":404,"message":...}`
    /// (v3 `NotFoundDTO` shape; v2 declares no 404).
    #[error("{0}")]
    NotFound(String),

    /// The body is larger than the sandbox accepts: 413, as Express' body-parser answers.
    #[error("request entity too large")]
    PayloadTooLarge,

    /// Over the burst or daily budget: 429 with the Node SDK's wording (GHL documents no body).
    #[error("rate limit exceeded")]
    RateLimited,

    /// No route for this method and path: NestJS' 404 `"Cannot <METHOD> <path>"`.
    #[error("Cannot {method} {path}")]
    RouteNotFound {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },

    /// A token of the wrong class for the endpoint: an agency token on a location endpoint, or
    /// a location token on an agency one. 401 `"The token is not authorized for this scope."`
    /// (observed, highlevel-api-docs issue #319).
    #[error("the token is not authorized for this scope")]
    ScopeNotAuthorized,

    /// A Shift4Shop REST error: its status and `[{"Key": key, "Message": message}]`.
    #[error("shift4shop {status}: {message}")]
    Shift4Shop {
        /// HTTP status.
        status: StatusCode,
        /// The `Key` of the error record (`Error`, or the field at fault).
        key: String,
        /// The `Message`.
        message: String,
    },

    /// A business rule answered with 422 and a string message, e.g. create without any of
    /// email, phone, firstName, lastName (observed).
    #[error("unprocessable: {0}")]
    Unprocessable(String),

    /// Body validation failed: 422 with `message` as an array of class-validator style
    /// messages (`"property foo should not exist"`, `"email must be an email"`).
    #[error("validation failed: {}", .0.join(", "))]
    Validation(Vec<String>),
}

impl Error {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_)
            | Self::Control(_)
            | Self::DuplicateContact { .. }
            | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Injected { status, .. } => *status,
            Self::ExpiredToken
            | Self::InvalidClient
            | Self::InvalidToken
            | Self::InvalidVersion
            | Self::MissingVersion
            | Self::ScopeNotAuthorized => StatusCode::UNAUTHORIZED,
            Self::Shift4Shop { status, .. } => *status,
            Self::NotFound(_) | Self::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unprocessable(_) | Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The JSON body GHL sends for this error.
    pub fn body(&self) -> Value {
        let status = self.status().as_u16();
        match self {
            Self::BadRequest(m) | Self::Control(m) => bad_request(m),
            Self::MalformedJson(m) => bad_request(&format!("Malformed JSON body: {m}")),
            Self::DuplicateContact {
                contact_id,
                contact_name,
                matching_field,
            } => json!({
                "statusCode": status,
                "message": "This location does not allow duplicated contacts.",
                "meta": {
                    "contactId": contact_id,
                    "contactName": contact_name,
                    "matchingField": matching_field.as_str(),
                },
            }),
            Self::Forbidden => json!({
                "statusCode": status,
                "message": "The token does not have access to this location.",
                "error": "Forbidden",
            }),
            Self::ExpiredToken => json!({ "statusCode": status, "message": "Invalid JWT" }),
            Self::Injected { status, message } => injected_body(*status, message.as_deref()),
            Self::InvalidClient => unauthorized("Invalid client credentials"),
            Self::InvalidToken => unauthorized("Invalid token: access token is invalid"),
            Self::InvalidVersion => unauthorized("version header is invalid"),
            Self::MissingVersion => unauthorized("version header was not found."),
            Self::NotFound(m) => json!({ "statusCode": status, "message": m }),
            Self::PayloadTooLarge => json!({
                "statusCode": status,
                "message": "request entity too large",
                "error": "Payload Too Large",
            }),
            Self::RateLimited => rate_limited(),
            Self::RouteNotFound { method, path } => json!({
                "statusCode": status,
                "message": format!("Cannot {method} {path}"),
                "error": "Not Found",
            }),
            Self::ScopeNotAuthorized => unauthorized("The token is not authorized for this scope."),
            Self::Shift4Shop { key, message, .. } => json!([{ "Key": key, "Message": message }]),
            Self::Unprocessable(m) => json!({
                "statusCode": status,
                "message": m,
                "error": "Unprocessable Entity",
            }),
            Self::Validation(messages) => json!({
                "statusCode": status,
                "message": messages,
                "error": "Unprocessable Entity",
            }),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

fn bad_request(message: &str) -> Value {
    json!({ "statusCode": 400, "message": message, "error": "Bad Request" })
}

fn unauthorized(message: &str) -> Value {
    json!({ "statusCode": 401, "message": message, "error": "Unauthorized" })
}

fn rate_limited() -> Value {
    json!({ "statusCode": 429, "message": "Too Many Requests - Rate limit exceeded" })
}

/// The body of an injected fault: GHL's own body where the sandbox knows it, otherwise NestJS'
/// default `{statusCode, message: <reason>, error: <reason>}`.
fn injected_body(status: StatusCode, message: Option<&str>) -> Value {
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut body = match status.as_u16() {
        401 => unauthorized("Invalid token: access token is invalid"),
        429 => rate_limited(),
        // NestJS' default for an unhandled exception.
        500 => json!({ "statusCode": 500, "message": "Internal server error" }),
        code => json!({ "statusCode": code, "message": reason, "error": reason }),
    };
    if let (Some(m), Some(obj)) = (message, body.as_object_mut()) {
        obj.insert("message".into(), Value::String(m.to_owned()));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_bodies_are_exact() {
        assert_eq!(
            Error::InvalidToken.body(),
            json!({"statusCode":401,"message":"Invalid token: access token is invalid","error":"Unauthorized"})
        );
        assert_eq!(
            Error::Forbidden.body(),
            json!({"statusCode":403,"message":"The token does not have access to this location.","error":"Forbidden"})
        );
        assert_eq!(
            Error::Validation(vec!["property foo should not exist".into()]).body(),
            json!({"statusCode":422,"message":["property foo should not exist"],"error":"Unprocessable Entity"})
        );
        assert_eq!(
            Error::RateLimited.body(),
            json!({"statusCode":429,"message":"Too Many Requests - Rate limit exceeded"})
        );
        let dup = Error::DuplicateContact {
            contact_id: "abc".into(),
            contact_name: Some("Jo Doe".into()),
            matching_field: MatchField::Email,
        };
        assert_eq!(dup.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            dup.body(),
            json!({"statusCode":400,"message":"This location does not allow duplicated contacts.",
                   "meta":{"contactId":"abc","contactName":"Jo Doe","matchingField":"email"}})
        );
    }

    #[test]
    fn injected_faults_use_ghl_like_bodies() {
        let e = Error::Injected {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: None,
        };
        assert_eq!(
            e.body(),
            json!({"statusCode":503,"message":"Service Unavailable","error":"Service Unavailable"})
        );
        let e = Error::Injected {
            status: StatusCode::BAD_GATEWAY,
            message: Some("upstream down".into()),
        };
        assert_eq!(e.body()["message"], "upstream down");
        let e = Error::Injected {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: None,
        };
        assert_eq!(e.body(), Error::RateLimited.body());
    }
}
