//! How GHL's answers map to `GhlError`: 404, 422, the duplicate 400, 401, 429 with its
//! headers, 5xx, timeouts and resets.

use std::time::Duration;

use relay_ghl::GhlError;
use relay_ghl::types::{CreateContact, CustomFieldInput, UpsertContact};
use relay_sandbox::{FaultKind, FaultSpec, NewLocation, RateLimitConfig};
use secrecy::SecretString;

use crate::helpers::Ghl;

const NOBODY: &str = "AAAAAAAAAAAAAAAAAAAA";

#[tokio::test]
async fn an_unknown_contact_is_a_permanent_404() {
    let ghl = Ghl::start().await;
    let err = ghl
        .client
        .get_contact(&ghl.token, NOBODY)
        .await
        .expect_err("404");
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.status(), Some(404));
    assert!(!err.is_transient());
    assert!(err.to_string().contains("Contact not found"), "{err}");
}

#[tokio::test]
async fn validation_failures_are_permanent_422s() {
    let ghl = Ghl::start().await;
    let anonymous = CreateContact {
        location_id: ghl.location().into(),
        city: Some("Nowhere".into()),
        ..CreateContact::default()
    };
    let err = ghl
        .client
        .create_contact(&ghl.token, &anonymous)
        .await
        .expect_err("422");
    assert_eq!(err.status(), Some(422), "{err}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("Contacts without email"), "{err}");

    // The message array of a validation error is joined.
    let unknown_field = UpsertContact {
        location_id: ghl.location().into(),
        email: Some("cf@example.com".into()),
        custom_fields: vec![CustomFieldInput::by_key("contact.no_such_field", "x")],
        ..UpsertContact::default()
    };
    let err = ghl
        .client
        .upsert_contact(&ghl.token, &unknown_field)
        .await
        .expect_err("422");
    assert_eq!(err.status(), Some(422), "{err}");
    assert!(err.to_string().contains("no_such_field"), "{err}");
}

#[tokio::test]
async fn a_refused_duplicate_names_the_existing_contact() {
    let ghl = Ghl::start().await;
    let body = CreateContact {
        location_id: ghl.location().into(),
        email: Some("once@example.com".into()),
        ..CreateContact::default()
    };
    let first = ghl
        .client
        .create_contact(&ghl.token, &body)
        .await
        .expect("first create")
        .body
        .contact
        .id;
    let err = ghl
        .client
        .create_contact(&ghl.token, &body)
        .await
        .expect_err("duplicate");
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.duplicate_contact_id(), Some(first.as_str()));
    assert!(!err.is_transient());
    let GhlError::Api { meta, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(message, "This location does not allow duplicated contacts.");
    assert_eq!(
        meta.as_ref().map(|m| &m["matchingField"]),
        Some(&"email".into())
    );

    // Other errors name no duplicate.
    let other = ghl
        .client
        .get_contact(&ghl.token, NOBODY)
        .await
        .expect_err("404");
    assert_eq!(other.duplicate_contact_id(), None);
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized() {
    let ghl = Ghl::start().await;
    let wrong = SecretString::from("pit-not-a-token");
    let err = ghl
        .client
        .get_contact(&wrong, NOBODY)
        .await
        .expect_err("401");
    assert!(err.is_unauthorized(), "{err}");
    assert!(!err.is_transient());
    assert!(!err.is_not_found());
    let ok = ghl
        .client
        .get_contact(&ghl.token, NOBODY)
        .await
        .expect_err("404");
    assert!(!ok.is_unauthorized());
}

#[tokio::test]
async fn over_the_burst_budget_is_a_transient_429_with_the_window() {
    let ghl = Ghl::start().await;
    ghl.state
        .add_location(NewLocation {
            rate_limit: Some(RateLimitConfig {
                burst_max: 2,
                burst_interval: Duration::from_secs(60),
                daily_max: 1000,
                ..RateLimitConfig::default()
            }),
            ..NewLocation::new("tight", "pit-tight")
        })
        .expect("location");
    let token = SecretString::from("pit-tight");
    let first = ghl
        .client
        .get_location(&token, "tight")
        .await
        .expect("first");
    assert_eq!(first.rate_limit.max, Some(2));
    assert_eq!(first.rate_limit.remaining, Some(1));
    assert_eq!(first.rate_limit.interval, Some(Duration::from_secs(60)));
    assert_eq!(first.rate_limit.daily_limit, Some(1000));
    assert_eq!(first.rate_limit.daily_remaining, Some(999));
    ghl.client
        .get_location(&token, "tight")
        .await
        .expect("second");

    let err = ghl
        .client
        .get_location(&token, "tight")
        .await
        .expect_err("429");
    assert!(err.is_rate_limited(), "{err}");
    assert!(err.is_transient());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    let limits = err.rate_limit().expect("rate-limit headers");
    assert_eq!((limits.max, limits.remaining), (Some(2), Some(0)));
}

#[tokio::test]
async fn a_slow_answer_is_a_transient_timeout() {
    let ghl = Ghl::start().await;
    ghl.state
        .inject_fault(FaultSpec {
            delay_ms: Some(5_000),
            count: Some(1),
            path_prefix: Some("/contacts".into()),
            ..FaultSpec::default()
        })
        .expect("fault");
    let impatient = ghl.client_with_timeout(Duration::from_millis(300));
    let err = impatient
        .get_contact(&ghl.token, NOBODY)
        .await
        .expect_err("timeout");
    assert!(
        matches!(err, GhlError::Transport { timeout: true, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(err.status(), None);
}

#[tokio::test]
async fn resets_and_5xx_are_transient() {
    let ghl = Ghl::start().await;
    ghl.state
        .inject_fault(FaultSpec {
            kind: Some(FaultKind::Reset),
            count: Some(1),
            ..FaultSpec::default()
        })
        .expect("reset fault");
    let err = ghl
        .client
        .get_contact(&ghl.token, NOBODY)
        .await
        .expect_err("reset");
    assert!(
        matches!(err, GhlError::Transport { timeout: false, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());

    ghl.state
        .inject_fault(FaultSpec {
            status: Some(503),
            count: Some(1),
            ..FaultSpec::default()
        })
        .expect("503 fault");
    let err = ghl
        .client
        .get_contact(&ghl.token, NOBODY)
        .await
        .expect_err("503");
    assert_eq!(err.status(), Some(503));
    assert!(err.is_transient());
    assert!(!err.is_rate_limited());
}

#[tokio::test]
async fn a_missing_id_is_refused_before_sending() {
    let ghl = Ghl::start().await;
    let before = ghl.state.requests().len();
    let err = ghl
        .client
        .get_task(&ghl.token, "", "task")
        .await
        .expect_err("no contact id");
    assert!(matches!(err, GhlError::Request { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(ghl.state.requests().len(), before);
}
