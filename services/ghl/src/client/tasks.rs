//! A contact's tasks.

use reqwest::Method;
use secrecy::SecretString;

use super::{Call, GhlClient, Response};
use crate::error::GhlError;
use crate::types::{
    NewTask, SucceededResponse, TaskCompletion, TaskResponse, TasksResponse, UpdateTask,
};

impl GhlClient {
    /// `GET /contacts/{contactId}/tasks` (`{tasks}`, no paging).
    pub async fn list_tasks(
        &self,
        token: &SecretString,
        contact_id: &str,
    ) -> Result<Response<TasksResponse>, GhlError> {
        let call = Call::new(
            "list_tasks",
            Method::GET,
            &["contacts", contact_id, "tasks"],
        );
        self.send(call.bearer(token)).await
    }

    /// `GET /contacts/{contactId}/tasks/{taskId}`.
    pub async fn get_task(
        &self,
        token: &SecretString,
        contact_id: &str,
        task_id: &str,
    ) -> Result<Response<TaskResponse>, GhlError> {
        let call = Call::new(
            "get_task",
            Method::GET,
            &["contacts", contact_id, "tasks", task_id],
        );
        self.send(call.bearer(token)).await
    }

    /// `POST /contacts/{contactId}/tasks` (201 `{task}`).
    pub async fn create_task(
        &self,
        token: &SecretString,
        contact_id: &str,
        task: &NewTask,
    ) -> Result<Response<TaskResponse>, GhlError> {
        let call = Call::new(
            "create_task",
            Method::POST,
            &["contacts", contact_id, "tasks"],
        )
        .bearer(token)
        .json(task)?;
        self.send(call).await
    }

    /// `PUT /contacts/{contactId}/tasks/{taskId}` (`{task}`).
    pub async fn update_task(
        &self,
        token: &SecretString,
        contact_id: &str,
        task_id: &str,
        update: &UpdateTask,
    ) -> Result<Response<TaskResponse>, GhlError> {
        let call = Call::new(
            "update_task",
            Method::PUT,
            &["contacts", contact_id, "tasks", task_id],
        )
        .bearer(token)
        .json(update)?;
        self.send(call).await
    }

    /// `PUT /contacts/{contactId}/tasks/{taskId}/completed` (`{task}`): marks the task done
    /// (or not done).
    pub async fn complete_task(
        &self,
        token: &SecretString,
        contact_id: &str,
        task_id: &str,
        completed: bool,
    ) -> Result<Response<TaskResponse>, GhlError> {
        let call = Call::new(
            "complete_task",
            Method::PUT,
            &["contacts", contact_id, "tasks", task_id, "completed"],
        )
        .bearer(token)
        .json(&TaskCompletion { completed })?;
        self.send(call).await
    }

    /// `DELETE /contacts/{contactId}/tasks/{taskId}` (`{succeded}`).
    pub async fn delete_task(
        &self,
        token: &SecretString,
        contact_id: &str,
        task_id: &str,
    ) -> Result<Response<SucceededResponse>, GhlError> {
        let call = Call::new(
            "delete_task",
            Method::DELETE,
            &["contacts", contact_id, "tasks", task_id],
        );
        self.send(call.bearer(token)).await
    }
}
