//! Everything a location holds besides contacts and custom fields: contact tasks and notes,
//! appointments, the tag catalogue, businesses, campaigns, workflows and users. Each type is
//! both the stored record and its GHL read shape (camelCase, spec schema names in the docs).

use serde::{Deserialize, Serialize};

/// A contact's task (`TaskSchema`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// 20-character id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Body text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Assigned user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// Due date, ISO 8601 with milliseconds (`2020-10-25T11:00:00.000Z`).
    pub due_date: String,
    /// Whether it is done.
    pub completed: bool,
    /// The contact it belongs to.
    pub contact_id: String,
}

/// A contact's note (`GetNoteSchema`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    /// 20-character id.
    pub id: String,
    /// Body text.
    pub body: String,
    /// Author's user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// ISO 8601 with milliseconds.
    pub date_added: String,
    /// The contact it belongs to.
    pub contact_id: String,
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Hex colour, e.g. `#FFAA00`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Pinned to the top.
    pub pinned: bool,
}

/// An appointment (`GetEventSchema`). The Contacts API only reads them; the sandbox creates
/// them through `POST /_sandbox/locations/{id}/appointments`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Appointment {
    /// 20-character id (generated when empty).
    pub id: String,
    /// Calendar id.
    pub calendar_id: String,
    /// Event status, e.g. `booked`.
    pub status: String,
    /// Title.
    pub title: String,
    /// Assigned user id.
    pub assigned_user_id: String,
    /// Notes.
    pub notes: String,
    /// Start, `YYYY-MM-DD HH:MM:SS` in the location's time zone (as the spec examples).
    pub start_time: String,
    /// End, same layout.
    pub end_time: String,
    /// Meeting address or link.
    pub address: String,
    /// Owning location (set by the sandbox).
    pub location_id: String,
    /// The contact it is for.
    pub contact_id: String,
    /// Calendar group id.
    pub group_id: String,
    /// `confirmed`, `cancelled`, `showed`, ...
    pub appointment_status: String,
    /// Attending user ids.
    pub users: Vec<String>,
    /// ISO 8601 with milliseconds (set by the sandbox).
    pub date_added: String,
    /// ISO 8601 with milliseconds (set by the sandbox).
    pub date_updated: String,
    /// Resource ids (rooms, equipment).
    pub assigned_resources: Vec<String>,
}

/// A tag of the location's catalogue (`LocationTagsSchema`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationTag {
    /// 20-character id.
    pub id: String,
    /// Tag name, lower-case as contacts carry it.
    pub name: String,
    /// Owning location.
    pub location_id: String,
}

/// A business (`BusinessDto`); contacts link to one through `businessId`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Business {
    /// 24-hex id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Website.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Street address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// State.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Postal code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Owning location.
    pub location_id: String,
    /// ISO 8601 with milliseconds.
    pub created_at: String,
    /// ISO 8601 with milliseconds.
    pub updated_at: String,
}

/// A campaign (`campaignsSchema`); contacts are enrolled by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    /// 20-character id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `draft` or `published`.
    pub status: String,
    /// Owning location.
    pub location_id: String,
}

/// A workflow (`WorkflowSchema`); contacts are enrolled by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    /// UUID-shaped id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `draft` or `published`.
    pub status: String,
    /// Version number.
    pub version: u32,
    /// ISO 8601 with milliseconds.
    pub created_at: String,
    /// ISO 8601 with milliseconds.
    pub updated_at: String,
    /// Owning location.
    pub location_id: String,
}

/// A user of the location (enough of `users.json` to resolve `assignedTo`, `userId`, followers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// 20-character id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email.
    pub email: String,
    /// Locations the user can access.
    pub location_ids: Vec<String>,
}

/// A contact's enrolment in a workflow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowEnrollment {
    /// The workflow.
    pub workflow_id: String,
    /// `eventStartTime` as sent, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_start_time: Option<String>,
}

/// What a contact has beside its own fields: tasks, notes and enrolments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactExtras {
    /// Tasks, in creation order.
    pub tasks: Vec<Task>,
    /// Notes, in creation order.
    pub notes: Vec<Note>,
    /// Campaign ids the contact is enrolled in.
    pub campaigns: Vec<String>,
    /// Workflows the contact is enrolled in.
    pub workflows: Vec<WorkflowEnrollment>,
}

/// A user, campaign or workflow to create with a location (`NewLocation`, `LocationSeed`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewNamed {
    /// Id (defaults to one derived from the location and name, stable across resets).
    pub id: Option<String>,
    /// Name (for users: "First Last").
    pub name: String,
    /// Campaign/workflow status (default `published`); for users, the email.
    pub status: Option<String>,
}

impl NewNamed {
    /// A published campaign/workflow, or a user, with this name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// Entities to add to an existing location (`POST /_sandbox/locations/{id}/seed`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocationSeed {
    /// Users.
    pub users: Vec<NewNamed>,
    /// Campaigns.
    pub campaigns: Vec<NewNamed>,
    /// Workflows.
    pub workflows: Vec<NewNamed>,
    /// Appointments (the contact must exist; `id`, `locationId` and dates are filled in).
    pub appointments: Vec<Appointment>,
}

/// Everything a location holds, for `GET /_sandbox/locations/{id}/entities`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationEntities {
    /// The tag catalogue.
    pub tags: Vec<LocationTag>,
    /// Businesses.
    pub businesses: Vec<Business>,
    /// Campaigns.
    pub campaigns: Vec<Campaign>,
    /// Workflows.
    pub workflows: Vec<Workflow>,
    /// Users.
    pub users: Vec<User>,
    /// Appointments.
    pub appointments: Vec<Appointment>,
    /// Tasks, notes and enrolments by contact id (contacts with none are left out).
    pub contact_extras: std::collections::BTreeMap<String, ContactExtras>,
    /// Ids of deleted contacts.
    pub deleted_contacts: Vec<String>,
}
