//! The built-in rule: the minimal Buy Me a Coffee playbook (a paid donation upserts the donor by
//! email and tags them `donor`). The configurable rule engine will take this place.

use relay_contracts::event::StorefrontEvent;
use relay_contracts::ids::PlanId;
use relay_contracts::plan::{ContactFields, ContactPlan, ContactSpec, Lookup, Step};
use relay_contracts::version::V1;
use relay_contracts::{EventKind, Source};

use crate::config::ConnectionRoute;

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("event {event_id} ({kind}) has neither an email nor a phone to identify the contact")]
    NoIdentity { event_id: String, kind: EventKind },
}

/// The plans for `event` under the built-in rule (empty when nothing should happen).
pub fn default_plan(
    event: &StorefrontEvent,
    route: &ConnectionRoute,
) -> Result<Vec<ContactPlan>, RuleError> {
    let tags: Vec<String> = match (event.source, event.kind) {
        (Source::Bmc, EventKind::OrderPaid) => vec!["donor".to_owned()],
        // Until per-connection playbooks land: a buyer or subscriber of another storefront is
        // upserted and tagged `<source>-customer`.
        (
            Source::Gumroad | Source::Thrivecart | Source::Digistore24 | Source::Shift4shop,
            EventKind::OrderPaid
            | EventKind::SubscriptionStarted
            | EventKind::SubscriptionRenewed
            | EventKind::CustomerCreated
            | EventKind::CustomerUpdated,
        ) => vec![format!("{}-customer", event.source)],
        _ => return Ok(Vec::new()),
    };
    let c = &event.customer;
    if c.email.is_none() && c.phone.is_none() {
        return Err(RuleError::NoIdentity {
            event_id: event.id.to_string(),
            kind: event.kind,
        });
    }
    let plan = ContactPlan {
        v: V1,
        id: PlanId::derive(&[event.id.as_str(), "default", "0"]),
        location_id: route.location_id.clone(),
        connection: format!("{}/{}", event.source, event.connection),
        source_event_id: event.id.clone(),
        contact: ContactSpec {
            lookup: Lookup::EmailOrPhone,
            fields: ContactFields {
                email: c.email.clone(),
                phone: c.phone.clone(),
                first_name: c.first_name.clone(),
                last_name: c.last_name.clone(),
                company_name: c.company.clone(),
                source: Some(format!("relay {}", event.source)),
                ..Default::default()
            },
            custom_fields: Default::default(),
        },
        steps: vec![Step::UpsertContact, Step::AddTags { tags }],
    };
    Ok(vec![plan])
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_contracts::Token;
    use relay_contracts::event::Customer;
    use relay_contracts::ids::EventId;
    use time::OffsetDateTime;

    fn event(kind: EventKind, email: Option<&str>) -> StorefrontEvent {
        StorefrontEvent {
            v: V1,
            id: EventId::derive(&["bmc", "demo", "1"]),
            source: Source::Bmc,
            connection: Token::parse("demo").unwrap(),
            kind,
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            received_at: OffsetDateTime::UNIX_EPOCH,
            idempotency_key: "1".into(),
            test: false,
            source_event: "donation.created".into(),
            customer: Customer {
                email: email.map(str::to_owned),
                ..Default::default()
            },
            order: None,
            subscription: None,
            message: None,
            attributes: Default::default(),
            raw: None,
        }
    }

    fn route() -> ConnectionRoute {
        ConnectionRoute {
            source: Source::Bmc,
            name: Token::parse("demo").unwrap(),
            location_id: Token::parse("demo-location").unwrap(),
        }
    }

    #[test]
    fn donation_upserts_and_tags_donor_with_a_stable_plan_id() {
        let e = event(EventKind::OrderPaid, Some("a@b.c"));
        let plans = default_plan(&e, &route()).unwrap();
        assert_eq!(plans.len(), 1);
        assert_eq!(
            plans[0].steps,
            vec![
                Step::UpsertContact,
                Step::AddTags {
                    tags: vec!["donor".into()]
                }
            ]
        );
        assert_eq!(plans[0].location_id.as_str(), "demo-location");
        assert_eq!(
            plans[0].id,
            default_plan(&e, &route()).unwrap()[0].id,
            "replays give the same plan id"
        );
    }

    #[test]
    fn other_storefronts_tag_their_customers() {
        let mut e = event(EventKind::OrderPaid, Some("a@b.c"));
        e.source = Source::Gumroad;
        let plans = default_plan(&e, &route()).unwrap();
        assert_eq!(
            plans[0].steps[1],
            Step::AddTags {
                tags: vec!["gumroad-customer".into()]
            }
        );
        e.kind = EventKind::OrderRefunded;
        assert!(default_plan(&e, &route()).unwrap().is_empty());
    }

    #[test]
    fn other_kinds_plan_nothing_and_missing_identity_is_an_error() {
        assert!(
            default_plan(
                &event(EventKind::SubscriptionCancelled, Some("a@b.c")),
                &route()
            )
            .unwrap()
            .is_empty()
        );
        assert!(default_plan(&event(EventKind::OrderPaid, None), &route()).is_err());
    }
}
