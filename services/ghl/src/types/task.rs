//! A contact's tasks (`TaskSchema` and its DTOs).

use serde::{Deserialize, Serialize};

/// `CreateTaskParams` (`POST /contacts/{contactId}/tasks`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTask {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// ISO 8601, e.g. `2020-10-25T11:00:00Z`.
    pub due_date: String,
    pub completed: bool,
    /// User id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
}

/// `UpdateTaskBody` (`PUT /contacts/{contactId}/tasks/{taskId}`): only what is set changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTask {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
}

/// `UpdateTaskStatusParams` (`PUT /contacts/{contactId}/tasks/{taskId}/completed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TaskCompletion {
    pub completed: bool,
}

/// `TaskSchema`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub assigned_to: Option<String>,
    /// ISO 8601.
    #[serde(default)]
    pub due_date: Option<String>,
    #[serde(default)]
    pub completed: bool,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `TaskByIsSuccessfulResponseDto` (sic): `{task}`.
#[derive(Clone, Debug, Deserialize)]
pub struct TaskResponse {
    pub task: Task,
}

/// `TasksListSuccessfulResponseDto`: `{tasks}`.
#[derive(Clone, Debug, Deserialize)]
pub struct TasksResponse {
    #[serde(default)]
    pub tasks: Vec<Task>,
}
