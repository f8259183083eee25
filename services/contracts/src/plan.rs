//! `ContactPlan` v1: what to do to one GHL contact, as ordered steps (one GHL action each).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{EventId, PlanId, Token};
use crate::version::{DecodeError, V1, decode};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactPlan {
    pub v: V1,
    /// Derived from (source event id, rule position): replays produce the same id.
    pub id: PlanId,
    pub location_id: Token,
    /// `<source>/<connection>` the event came from.
    pub connection: String,
    pub source_event_id: EventId,
    pub contact: ContactSpec,
    pub steps: Vec<Step>,
}

impl ContactPlan {
    pub const SUPPORTED_VERSIONS: &'static [u64] = &[1];

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode("ContactPlan", Self::SUPPORTED_VERSIONS, bytes)
    }
}

/// How to find the contact, and what it should look like.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactSpec {
    pub lookup: Lookup,
    #[serde(default)]
    pub fields: ContactFields,
    /// Custom field values by field key (`contact.gumroad_customer_id` or bare key).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "value")]
pub enum Lookup {
    /// Match by the plan's email (then phone), as GHL's upsert does.
    #[default]
    EmailOrPhone,
    /// A known GHL contact id.
    Id(String),
    /// An external id stored in a custom field.
    ExternalId { field_key: String, value: String },
}

/// Contact fields GHL accepts on create/upsert (`camelCase` on the wire is the client's job).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One GHL action. Steps that create things carry a `key` unique within the contact, so the
/// writer's step ledger can tell a repeat from a new one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Step {
    UpsertContact,
    CreateContact,
    UpdateContact,
    DeleteContact,
    FindContact,
    AddTags {
        tags: Vec<String>,
    },
    RemoveTags {
        tags: Vec<String>,
    },
    CreateTask {
        key: String,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        /// RFC 3339.
        due_date: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assigned_to: Option<String>,
    },
    UpdateTask {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due_date: Option<String>,
    },
    CompleteTask {
        key: String,
    },
    DeleteTask {
        key: String,
    },
    CreateNote {
        key: String,
        body: String,
    },
    UpdateNote {
        key: String,
        body: String,
    },
    DeleteNote {
        key: String,
    },
    AddToCampaign {
        campaign_id: String,
    },
    RemoveFromCampaign {
        campaign_id: String,
    },
    RemoveFromAllCampaigns,
    AddToWorkflow {
        workflow_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_start_time: Option<String>,
    },
    RemoveFromWorkflow {
        workflow_id: String,
    },
    AddFollowers {
        followers: Vec<String>,
    },
    RemoveFollowers {
        followers: Vec<String>,
    },
}

impl Step {
    /// The action name as it appears on the wire and in results.
    pub fn action(&self) -> &'static str {
        match self {
            Step::UpsertContact => "upsert_contact",
            Step::CreateContact => "create_contact",
            Step::UpdateContact => "update_contact",
            Step::DeleteContact => "delete_contact",
            Step::FindContact => "find_contact",
            Step::AddTags { .. } => "add_tags",
            Step::RemoveTags { .. } => "remove_tags",
            Step::CreateTask { .. } => "create_task",
            Step::UpdateTask { .. } => "update_task",
            Step::CompleteTask { .. } => "complete_task",
            Step::DeleteTask { .. } => "delete_task",
            Step::CreateNote { .. } => "create_note",
            Step::UpdateNote { .. } => "update_note",
            Step::DeleteNote { .. } => "delete_note",
            Step::AddToCampaign { .. } => "add_to_campaign",
            Step::RemoveFromCampaign { .. } => "remove_from_campaign",
            Step::RemoveFromAllCampaigns => "remove_from_all_campaigns",
            Step::AddToWorkflow { .. } => "add_to_workflow",
            Step::RemoveFromWorkflow { .. } => "remove_from_workflow",
            Step::AddFollowers { .. } => "add_followers",
            Step::RemoveFollowers { .. } => "remove_followers",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_round_trips() {
        let plan = ContactPlan {
            v: V1,
            id: PlanId::derive(&["e", "0"]),
            location_id: Token::parse("demo-location").unwrap(),
            connection: "bmc/demo".into(),
            source_event_id: EventId::derive(&["e"]),
            contact: ContactSpec {
                lookup: Lookup::EmailOrPhone,
                fields: ContactFields {
                    email: Some("a@b.c".into()),
                    ..Default::default()
                },
                custom_fields: BTreeMap::new(),
            },
            steps: vec![
                Step::UpsertContact,
                Step::AddTags {
                    tags: vec!["donor".into()],
                },
            ],
        };
        let bytes = serde_json::to_vec(&plan).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["v"], 1);
        assert_eq!(json["steps"][1]["action"], "add_tags");
        assert_eq!(ContactPlan::decode(&bytes).unwrap(), plan);
    }
}
