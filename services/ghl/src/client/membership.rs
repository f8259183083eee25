//! What a contact belongs to or has attached: tags (one contact, or many in bulk), followers,
//! campaigns and workflows.

use reqwest::Method;
use secrecy::SecretString;

use super::{Call, GhlClient, Response};
use crate::error::GhlError;
use crate::types::{
    AddFollowersResponse, AddToCampaign, BulkTagAction, BulkTags, BulkTagsResponse, Followers,
    RemoveFollowersResponse, SucceededResponse, Tags, TagsResponse, WorkflowEnrolment,
};

impl GhlClient {
    /// `POST /contacts/{contactId}/tags` (201; answers with every tag now on the contact).
    pub async fn add_tags(
        &self,
        token: &SecretString,
        contact_id: &str,
        tags: &[String],
    ) -> Result<Response<TagsResponse>, GhlError> {
        let body = Tags {
            tags: tags.to_vec(),
        };
        let call = Call::new("add_tags", Method::POST, &["contacts", contact_id, "tags"])
            .bearer(token)
            .json(&body)?;
        self.send(call).await
    }

    /// `DELETE /contacts/{contactId}/tags` (with a JSON body; answers with the tags left).
    pub async fn remove_tags(
        &self,
        token: &SecretString,
        contact_id: &str,
        tags: &[String],
    ) -> Result<Response<TagsResponse>, GhlError> {
        let body = Tags {
            tags: tags.to_vec(),
        };
        let call = Call::new(
            "remove_tags",
            Method::DELETE,
            &["contacts", contact_id, "tags"],
        )
        .bearer(token)
        .json(&body)?;
        self.send(call).await
    }

    /// `POST /contacts/bulk/tags/update/{type}`: adds or removes tags on many contacts. A 201
    /// even when some contacts failed: check `error_count` and `responses`.
    pub async fn bulk_update_tags(
        &self,
        token: &SecretString,
        action: BulkTagAction,
        body: &BulkTags,
    ) -> Result<Response<BulkTagsResponse>, GhlError> {
        let call = Call::new(
            "bulk_update_tags",
            Method::POST,
            &["contacts", "bulk", "tags", "update", action.as_str()],
        )
        .bearer(token)
        .json(body)?;
        self.send(call).await
    }

    /// `POST /contacts/{contactId}/followers` (201 `{followers, followersAdded}`); followers
    /// are user ids.
    pub async fn add_followers(
        &self,
        token: &SecretString,
        contact_id: &str,
        followers: &[String],
    ) -> Result<Response<AddFollowersResponse>, GhlError> {
        let body = Followers {
            followers: followers.to_vec(),
        };
        let call = Call::new(
            "add_followers",
            Method::POST,
            &["contacts", contact_id, "followers"],
        )
        .bearer(token)
        .json(&body)?;
        self.send(call).await
    }

    /// `DELETE /contacts/{contactId}/followers` (with a JSON body;
    /// `{followers, followersRemoved}`).
    pub async fn remove_followers(
        &self,
        token: &SecretString,
        contact_id: &str,
        followers: &[String],
    ) -> Result<Response<RemoveFollowersResponse>, GhlError> {
        let body = Followers {
            followers: followers.to_vec(),
        };
        let call = Call::new(
            "remove_followers",
            Method::DELETE,
            &["contacts", contact_id, "followers"],
        )
        .bearer(token)
        .json(&body)?;
        self.send(call).await
    }

    /// `POST /contacts/{contactId}/campaigns/{campaignId}` (with the required empty body; 201
    /// `{succeded}`).
    pub async fn add_to_campaign(
        &self,
        token: &SecretString,
        contact_id: &str,
        campaign_id: &str,
    ) -> Result<Response<SucceededResponse>, GhlError> {
        let call = Call::new(
            "add_to_campaign",
            Method::POST,
            &["contacts", contact_id, "campaigns", campaign_id],
        )
        .bearer(token)
        .json(&AddToCampaign {})?;
        self.send(call).await
    }

    /// `DELETE /contacts/{contactId}/campaigns/{campaignId}` (`{succeded}`).
    pub async fn remove_from_campaign(
        &self,
        token: &SecretString,
        contact_id: &str,
        campaign_id: &str,
    ) -> Result<Response<SucceededResponse>, GhlError> {
        let call = Call::new(
            "remove_from_campaign",
            Method::DELETE,
            &["contacts", contact_id, "campaigns", campaign_id],
        );
        self.send(call.bearer(token)).await
    }

    /// `DELETE /contacts/{contactId}/campaigns/removeAll` (`{succeded}`).
    pub async fn remove_from_all_campaigns(
        &self,
        token: &SecretString,
        contact_id: &str,
    ) -> Result<Response<SucceededResponse>, GhlError> {
        let call = Call::new(
            "remove_from_all_campaigns",
            Method::DELETE,
            &["contacts", contact_id, "campaigns", "removeAll"],
        );
        self.send(call.bearer(token)).await
    }

    /// `POST /contacts/{contactId}/workflow/{workflowId}` (`{succeded}`), optionally starting
    /// at `event_start_time` (a date-time with offset, `2021-06-23T03:30:00+01:00`). GHL
    /// queues the enrolment.
    pub async fn add_to_workflow(
        &self,
        token: &SecretString,
        contact_id: &str,
        workflow_id: &str,
        event_start_time: Option<&str>,
    ) -> Result<Response<SucceededResponse>, GhlError> {
        let body = WorkflowEnrolment {
            event_start_time: event_start_time.map(str::to_owned),
        };
        let call = Call::new(
            "add_to_workflow",
            Method::POST,
            &["contacts", contact_id, "workflow", workflow_id],
        )
        .bearer(token)
        .json(&body)?;
        self.send(call).await
    }

    /// `DELETE /contacts/{contactId}/workflow/{workflowId}` (with the required, here empty,
    /// `CreateWorkflowDto` body; `{succeded}`).
    pub async fn remove_from_workflow(
        &self,
        token: &SecretString,
        contact_id: &str,
        workflow_id: &str,
    ) -> Result<Response<SucceededResponse>, GhlError> {
        let call = Call::new(
            "remove_from_workflow",
            Method::DELETE,
            &["contacts", contact_id, "workflow", workflow_id],
        )
        .bearer(token)
        .json(&WorkflowEnrolment::default())?;
        self.send(call).await
    }
}
