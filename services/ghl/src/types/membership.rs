//! Tags, followers, campaign and workflow enrolment of contacts.

use serde::{Deserialize, Serialize};

/// `TagsDTO` (add and remove tags).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tags {
    pub tags: Vec<String>,
}

/// `{tags}`: every tag the contact has after the change.
#[derive(Clone, Debug, Deserialize)]
pub struct TagsResponse {
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The `{type}` of `POST /contacts/bulk/tags/update/{type}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkTagAction {
    Add,
    Remove,
}

impl BulkTagAction {
    /// The path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
        }
    }
}

/// `UpdateTagsDTO` (`POST /contacts/bulk/tags/update/{type}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkTags {
    /// Contact ids.
    pub contacts: Vec<String>,
    pub tags: Vec<String>,
    pub location_id: String,
    /// With [`BulkTagAction::Remove`] only: remove every tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_all_tags: Option<bool>,
}

/// One contact's outcome in a bulk tag update. The spec declares strings; GHL's example (and
/// the sandbox) answer objects.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum BulkTagOutcome {
    Detail {
        #[serde(rename = "contactId", default)]
        contact_id: Option<String>,
        #[serde(default)]
        message: Option<String>,
        /// `success` or `error`.
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(flatten)]
        extra: serde_json::Map<String, serde_json::Value>,
    },
    Text(String),
}

impl BulkTagOutcome {
    /// Whether this contact failed.
    pub fn is_error(&self) -> bool {
        matches!(self, Self::Detail { kind: Some(k), .. } if k == "error")
    }
}

/// `UpdateTagsResponseDTO`. It is a 201 even when some contacts failed: check `error_count`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkTagsResponse {
    /// `succeded` on the wire (sic).
    #[serde(rename = "succeded", alias = "succeeded", default)]
    pub succeeded: bool,
    #[serde(default)]
    pub error_count: u64,
    #[serde(default)]
    pub responses: Vec<BulkTagOutcome>,
}

/// `FollowersDTO`: user ids.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Followers {
    pub followers: Vec<String>,
}

/// `CreateAddFollowersSuccessfulResponseDto`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddFollowersResponse {
    /// Every follower now.
    #[serde(default)]
    pub followers: Vec<String>,
    #[serde(default)]
    pub followers_added: Vec<String>,
}

/// `DeleteFollowersSuccessfulResponseDto`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveFollowersResponse {
    /// The followers left.
    #[serde(default)]
    pub followers: Vec<String>,
    #[serde(default)]
    pub followers_removed: Vec<String>,
}

/// `AddContactToCampaignDto`: an empty object, and a required one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AddToCampaign {}

/// `CreateWorkflowDto`: the body of adding to and removing from a workflow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowEnrolment {
    /// When the workflow starts for the contact: a date-time with offset
    /// (`2021-06-23T03:30:00+01:00`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_start_time: Option<String>,
}
