//! The Contacts operations on the store: core CRUD and upsert with GHL's matching rules, tags,
//! tasks, notes, appointments, followers, campaigns, workflows and the two bulk operations.

use serde_json::{Value, json};

use super::{Location, Now, Store};
use crate::contact::{Contact, ContactView, iso_millis};
use crate::dto::{
    BulkBusiness, BulkTags, ContactBody, ContactPatch, CustomFieldInput, NoteInput, Patch, TaskDto,
    TaskInput, TaskSearch,
};
use crate::entities::{Appointment, ContactExtras, Note, Task, WorkflowEnrollment};
use crate::error::{Error, Result};
use crate::ids;
use crate::store::{MatchField, full_field_key};

/// What an upsert did.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UpsertOutcome {
    /// Whether a contact was created (`new` in the response).
    pub(crate) created: bool,
    /// The contact after the write.
    pub(crate) contact: ContactView,
}

fn contact_not_found() -> Error {
    Error::NotFound("Contact not found".into())
}

/// What a contact holds in a list of its own, read and written by id: its tasks and notes.
pub(crate) trait ContactRecord: Clone + serde::Serialize {
    /// The JSON key of one record (`task`).
    const ONE: &'static str;
    /// The JSON key of a list (`tasks`).
    const MANY: &'static str;
    /// What a write body sets.
    type Input;

    /// Reads a create (or, `create` false, an update) body.
    fn parse(body: &[u8], create: bool) -> Result<Self::Input>;
    /// A record with this id for the contact, before a body applies.
    fn new(id: String, contact_id: &str, now: Now) -> Self;
    fn id(&self) -> &str;
    fn apply(&mut self, input: Self::Input);
    /// The contact's list of them.
    fn list(extras: &mut ContactExtras) -> &mut Vec<Self>;
    /// The 404 for an id the contact does not hold.
    fn not_found() -> Error;
}

impl ContactRecord for Task {
    const ONE: &'static str = "task";
    const MANY: &'static str = "tasks";
    type Input = TaskInput;

    fn parse(body: &[u8], create: bool) -> Result<TaskInput> {
        let dto = if create {
            TaskDto::Create
        } else {
            TaskDto::Update
        };
        crate::dto::task_body(body, dto)
    }

    fn new(id: String, contact_id: &str, _: Now) -> Self {
        Self {
            id,
            contact_id: contact_id.to_owned(),
            ..Self::default()
        }
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn apply(&mut self, input: TaskInput) {
        input.apply(self);
    }

    fn list(extras: &mut ContactExtras) -> &mut Vec<Self> {
        &mut extras.tasks
    }

    fn not_found() -> Error {
        Error::NotFound("Task not found".into())
    }
}

impl ContactRecord for Note {
    const ONE: &'static str = "note";
    const MANY: &'static str = "notes";
    type Input = NoteInput;

    fn parse(body: &[u8], create: bool) -> Result<NoteInput> {
        crate::dto::note_body(body, create)
    }

    fn new(id: String, contact_id: &str, now: Now) -> Self {
        Self {
            id,
            contact_id: contact_id.to_owned(),
            date_added: iso_millis(now.utc),
            ..Self::default()
        }
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn apply(&mut self, input: NoteInput) {
        input.apply(self);
    }

    fn list(extras: &mut ContactExtras) -> &mut Vec<Self> {
        &mut extras.notes
    }

    fn not_found() -> Error {
        Error::NotFound("Note not found".into())
    }
}

impl Location {
    /// The oldest contact (by creation) with this lower-cased email or phone, except one.
    fn find_by(&self, field: MatchField, value: &str, except: Option<&str>) -> Option<&Contact> {
        let ids = match field {
            MatchField::Email => self.by_email.get(value),
            MatchField::Phone => self.by_phone.get(value),
        }?;
        ids.iter()
            .filter(|id| Some(id.as_str()) != except)
            .filter_map(|id| self.contacts.get(id))
            .min_by_key(|c| c.seq)
    }

    /// The first contact (oldest first) matching one of the identifying values, trying fields
    /// in the location's priority order. `except` excludes one contact (the one being updated).
    fn find_match(
        &self,
        email_lower: Option<&str>,
        phone: Option<&str>,
        except: Option<&str>,
    ) -> Option<(&Contact, MatchField)> {
        self.match_order.iter().find_map(|&field| {
            let value = match field {
                MatchField::Email => email_lower?,
                MatchField::Phone => phone?,
            };
            self.find_by(field, value, except).map(|c| (c, field))
        })
    }

    fn duplicate_error(contact: &Contact, field: MatchField) -> Error {
        Error::DuplicateContact {
            contact_id: contact.id.clone(),
            contact_name: contact.display_name(),
            matching_field: field,
        }
    }

    /// Resolves `customFields[]` inputs to `(id, value)` through the location's definitions.
    fn resolve_custom_fields(&self, inputs: &[CustomFieldInput]) -> Result<Vec<(String, Value)>> {
        let mut resolved = Vec::with_capacity(inputs.len());
        let mut errors = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            let def = match (&input.id, &input.key) {
                (Some(id), _) => self
                    .custom_fields
                    .iter()
                    .find(|d| d.id == *id)
                    .ok_or_else(|| {
                        format!(
                            "customFields.{i}.id {id} is not a custom field of location {}",
                            self.id
                        )
                    }),
                (None, Some(key)) => {
                    let full = full_field_key(key);
                    self.custom_fields
                        .iter()
                        .find(|d| d.field_key == full)
                        .ok_or_else(|| {
                            format!(
                                "customFields.{i}.key {key} is not a custom field of location {}",
                                self.id
                            )
                        })
                }
                (None, None) => Err(format!(
                    "customFields.{i}: pass either id or key of the custom field"
                )),
            };
            match def {
                Ok(def) => resolved.push((def.id.clone(), input.value.clone())),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(resolved)
        } else {
            Err(Error::Validation(errors))
        }
    }

    fn contact(&self, id: &str) -> Result<&Contact> {
        self.contacts.get(id).ok_or_else(contact_not_found)
    }

    fn unindex_keys(&mut self, id: &str, email: Option<String>, phone: Option<String>) {
        let drop = |map: &mut std::collections::HashMap<String, Vec<String>>, key: String| {
            if let Some(ids) = map.get_mut(&key) {
                ids.retain(|x| x != id);
                if ids.is_empty() {
                    map.remove(&key);
                }
            }
        };
        if let Some(e) = email {
            drop(&mut self.by_email, e);
        }
        if let Some(p) = phone {
            drop(&mut self.by_phone, p);
        }
    }

    pub(super) fn index_keys(&mut self, id: &str) {
        let Some(c) = self.contacts.get(id) else {
            return;
        };
        if let Some(e) = c.email_lower() {
            self.by_email.entry(e).or_default().push(id.to_owned());
        }
        if let Some(p) = c.phone.clone() {
            self.by_phone.entry(p).or_default().push(id.to_owned());
        }
    }

    /// Changes one contact through `f`, keeping the match maps, the tag catalogue and the
    /// search index up to date. Returns `None` when the contact does not exist.
    pub(super) fn write_contact<R>(
        &mut self,
        id: &str,
        now: Now,
        f: impl FnOnce(&mut Contact) -> R,
    ) -> Option<R> {
        let contact = self.contacts.get_mut(id)?;
        let (old_email, old_phone) = (contact.email_lower(), contact.phone.clone());
        let result = f(contact);
        contact.date_updated = now.utc;
        let (new_email, new_phone) = (contact.email_lower(), contact.phone.clone());
        let tags = contact.tags.clone();
        let snapshot = contact.clone();
        if (old_email.as_ref(), old_phone.as_ref()) != (new_email.as_ref(), new_phone.as_ref()) {
            self.unindex_keys(id, old_email, old_phone);
            self.index_keys(id);
        }
        self.register_tags(&tags);
        self.index.put(now.at, self.index_lag, id, Some(snapshot));
        Some(result)
    }

    fn insert(
        &mut self,
        id: String,
        seq: u64,
        patch: ContactPatch,
        custom_fields: Vec<(String, Value)>,
        now: Now,
    ) -> ContactView {
        let mut contact = Contact::new(id.clone(), seq, self.id.clone(), now.utc);
        contact.apply(patch, custom_fields, now.utc);
        let view = contact.view();
        self.register_tags(&contact.tags);
        self.index
            .put(now.at, self.index_lag, &id, Some(contact.clone()));
        self.order.insert(seq, id.clone());
        self.contacts.insert(id.clone(), contact);
        self.index_keys(&id);
        view
    }

    fn remove(&mut self, id: &str, now: Now) -> Option<Contact> {
        let contact = self.contacts.remove(id)?;
        self.order.remove(&contact.seq);
        self.unindex_keys(id, contact.email_lower(), contact.phone.clone());
        self.extras.remove(id);
        self.appointments.retain(|a| a.contact_id != id);
        self.deleted.insert(id.to_owned());
        self.index.put(now.at, self.index_lag, id, None);
        Some(contact)
    }
}

impl Store {
    /// The location holding `contact_id`: 404 when no location does, 403 when it is not the
    /// caller's.
    fn contact_location_mut(&mut self, caller: &str, contact_id: &str) -> Result<&mut Location> {
        let owner = self
            .contact_locations
            .get(contact_id)
            .ok_or_else(contact_not_found)?;
        if owner != caller {
            return Err(Error::Forbidden);
        }
        self.locations.get_mut(caller).ok_or_else(contact_not_found)
    }

    fn fresh_contact_id(&mut self) -> (String, u64) {
        self.next_seq += 1;
        loop {
            let id = ids::random_id();
            if !self.contact_locations.contains_key(&id) {
                return (id, self.next_seq);
            }
        }
    }

    /// `POST /contacts/upsert`.
    pub(crate) fn upsert(
        &mut self,
        caller: &str,
        body: ContactBody,
        now: Now,
    ) -> Result<UpsertOutcome> {
        let mut patch = body.patch;
        let email = patch.email_lower();
        let phone = patch.phone().map(str::to_owned);
        let (id, seq) = self.fresh_contact_id();
        let location = self.caller_location_mut(caller, &body.location_id)?;
        if email.is_none() && phone.is_none() {
            return Err(Error::BadRequest(
                "Pass at least one of number, email query parameter".into(),
            ));
        }
        let custom_fields = location.resolve_custom_fields(&patch.custom_fields)?;
        let force_new = body.create_new_if_duplicate_allowed && location.allow_duplicate_contact;
        let matched = if force_new {
            None
        } else {
            location
                .find_match(email.as_deref(), phone.as_deref(), None)
                .map(|(c, f)| (c.id.clone(), f))
        };
        let Some((existing, field)) = matched else {
            let contact = location.insert(id.clone(), seq, patch, custom_fields, now);
            self.contact_locations.insert(id, caller.to_owned());
            return Ok(UpsertOutcome {
                created: true,
                contact,
            });
        };
        // Spec: when the email matches one contact and the phone another, the first field in
        // the sequence wins and the second is ignored (findings C.11, C.12).
        let taken_by_other = |f: MatchField| match f {
            MatchField::Email => email
                .as_deref()
                .and_then(|e| location.find_by(MatchField::Email, e, Some(&existing))),
            MatchField::Phone => phone
                .as_deref()
                .and_then(|p| location.find_by(MatchField::Phone, p, Some(&existing))),
        };
        if field == MatchField::Email && taken_by_other(MatchField::Phone).is_some() {
            patch.phone = Patch::Keep;
        }
        if field == MatchField::Phone && taken_by_other(MatchField::Email).is_some() {
            patch.email = Patch::Keep;
        }
        // Upsert accepts `gender` but drops it for an existing contact (issue #313).
        patch.gender = Patch::Keep;
        let contact = location
            .write_contact(&existing, now, |c| {
                c.apply(patch, custom_fields, now.utc);
                c.view()
            })
            .ok_or_else(contact_not_found)?;
        Ok(UpsertOutcome {
            created: false,
            contact,
        })
    }

    /// `POST /contacts/`.
    pub(crate) fn create(
        &mut self,
        caller: &str,
        body: ContactBody,
        now: Now,
    ) -> Result<ContactView> {
        let patch = body.patch;
        let (id, seq) = self.fresh_contact_id();
        let location = self.caller_location_mut(caller, &body.location_id)?;
        let identified = [
            &patch.email,
            &patch.phone,
            &patch.first_name,
            &patch.last_name,
        ]
        .iter()
        .any(|p| p.as_set().is_some_and(|s| !s.trim().is_empty()));
        if !identified {
            return Err(Error::Unprocessable(
                "Contacts without email, phone, firstName and lastName are not allowed.".into(),
            ));
        }
        let custom_fields = location.resolve_custom_fields(&patch.custom_fields)?;
        if !location.allow_duplicate_contact
            && let Some((c, f)) =
                location.find_match(patch.email_lower().as_deref(), patch.phone(), None)
        {
            return Err(Location::duplicate_error(c, f));
        }
        let contact = location.insert(id.clone(), seq, patch, custom_fields, now);
        self.contact_locations.insert(id, caller.to_owned());
        Ok(contact)
    }

    /// `GET /contacts/{id}`.
    pub(crate) fn get(&mut self, caller: &str, contact_id: &str) -> Result<ContactView> {
        let location = self.contact_location_mut(caller, contact_id)?;
        Ok(location.contact(contact_id)?.view())
    }

    /// `PUT /contacts/{id}`. On a location that refuses duplicates, taking another contact's
    /// email or phone is refused like a duplicate create (the sandbox's choice: GHL's answer is
    /// not documented).
    pub(crate) fn update(
        &mut self,
        caller: &str,
        contact_id: &str,
        patch: ContactPatch,
        now: Now,
    ) -> Result<ContactView> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location.contact(contact_id)?;
        let custom_fields = location.resolve_custom_fields(&patch.custom_fields)?;
        if !location.allow_duplicate_contact
            && let Some((c, f)) = location.find_match(
                patch.email_lower().as_deref(),
                patch.phone(),
                Some(contact_id),
            )
        {
            return Err(Location::duplicate_error(c, f));
        }
        location
            .write_contact(contact_id, now, |c| {
                c.apply(patch, custom_fields, now.utc);
                c.view()
            })
            .ok_or_else(contact_not_found)
    }

    /// `DELETE /contacts/{id}`.
    pub(crate) fn delete(&mut self, caller: &str, contact_id: &str, now: Now) -> Result<()> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location
            .remove(contact_id, now)
            .ok_or_else(contact_not_found)?;
        self.contact_locations.remove(contact_id);
        Ok(())
    }

    /// `POST /contacts/{id}/tags`: the tags after adding.
    pub(crate) fn add_tags(
        &mut self,
        caller: &str,
        contact_id: &str,
        tags: Vec<String>,
        now: Now,
    ) -> Result<Vec<String>> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location
            .write_contact(contact_id, now, |c| c.add_tags(tags, now.utc))
            .ok_or_else(contact_not_found)
    }

    /// `DELETE /contacts/{id}/tags`: the tags after removing.
    pub(crate) fn remove_tags(
        &mut self,
        caller: &str,
        contact_id: &str,
        tags: &[String],
        now: Now,
    ) -> Result<Vec<String>> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location
            .write_contact(contact_id, now, |c| c.remove_tags(tags, now.utc))
            .ok_or_else(contact_not_found)
    }

    /// `GET /contacts/search/duplicate`: the contact the location's rules match, if any.
    pub(crate) fn find_duplicate(
        &mut self,
        caller: &str,
        location_id: &str,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<ContactView>> {
        let location = self.caller_location_mut(caller, location_id)?;
        let email = email.map(str::to_lowercase);
        Ok(location
            .find_match(email.as_deref(), phone, None)
            .map(|(c, _)| c.view()))
    }

    // ---- tasks and notes --------------------------------------------------------------------

    fn extras_of<'a>(
        &'a mut self,
        caller: &str,
        contact_id: &str,
    ) -> Result<&'a mut crate::entities::ContactExtras> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location.contact(contact_id)?;
        Ok(location.extras.entry(contact_id.to_owned()).or_default())
    }

    fn records_mut<T: ContactRecord>(
        &mut self,
        caller: &str,
        contact_id: &str,
    ) -> Result<&mut Vec<T>> {
        Ok(T::list(self.extras_of(caller, contact_id)?))
    }

    /// `GET /contacts/{id}/tasks` (`/notes`).
    pub(crate) fn records<T: ContactRecord>(
        &mut self,
        caller: &str,
        contact_id: &str,
    ) -> Result<Vec<T>> {
        Ok(self.records_mut::<T>(caller, contact_id)?.clone())
    }

    /// `POST /contacts/{id}/tasks` (`/notes`): a new record with a fresh id, as `input` sets it.
    pub(crate) fn add_record<T: ContactRecord>(
        &mut self,
        caller: &str,
        contact_id: &str,
        input: T::Input,
        now: Now,
    ) -> Result<T> {
        let mut record = T::new(ids::random_id(), contact_id, now);
        record.apply(input);
        self.records_mut(caller, contact_id)?.push(record.clone());
        Ok(record)
    }

    /// `GET /contacts/{id}/tasks/{taskId}` (`/notes/{id}`).
    pub(crate) fn record<T: ContactRecord>(
        &mut self,
        caller: &str,
        contact_id: &str,
        id: &str,
    ) -> Result<T> {
        self.records_mut::<T>(caller, contact_id)?
            .iter()
            .find(|r| r.id() == id)
            .cloned()
            .ok_or_else(T::not_found)
    }

    /// `PUT /contacts/{id}/tasks/{taskId}` (`.../completed`, `/notes/{id}`).
    pub(crate) fn update_record<T: ContactRecord>(
        &mut self,
        caller: &str,
        contact_id: &str,
        id: &str,
        input: T::Input,
    ) -> Result<T> {
        let record = self
            .records_mut::<T>(caller, contact_id)?
            .iter_mut()
            .find(|r| r.id() == id)
            .ok_or_else(T::not_found)?;
        record.apply(input);
        Ok(record.clone())
    }

    /// `DELETE /contacts/{id}/tasks/{taskId}` (`/notes/{id}`).
    pub(crate) fn delete_record<T: ContactRecord>(
        &mut self,
        caller: &str,
        contact_id: &str,
        id: &str,
    ) -> Result<()> {
        let records = self.records_mut::<T>(caller, contact_id)?;
        let before = records.len();
        records.retain(|r| r.id() != id);
        if records.len() == before {
            return Err(T::not_found());
        }
        Ok(())
    }

    /// `POST /locations/{id}/tasks/search`: the location's tasks matching every criterion, by
    /// due date then id (GHL's order is undocumented), paged by `skip` and `limit`.
    pub(crate) fn search_tasks(
        &self,
        caller: &str,
        location_id: &str,
        q: &TaskSearch,
    ) -> Result<Vec<Task>> {
        let location = self.own_location(caller, location_id)?;
        let query = q.query.as_deref().map(str::to_lowercase);
        let wanted = |list: &Option<Vec<String>>, value: Option<&str>| {
            list.as_ref()
                .is_none_or(|l| value.is_some_and(|v| l.iter().any(|x| x == v)))
        };
        let mut tasks: Vec<&Task> = location
            .extras
            .values()
            .flat_map(|e| &e.tasks)
            .filter(|t| wanted(&q.contact_ids, Some(&t.contact_id)))
            .filter(|t| wanted(&q.assigned_to, t.assigned_to.as_deref()))
            .filter(|t| q.completed.is_none_or(|c| t.completed == c))
            .filter(|t| {
                q.business_id.as_deref().is_none_or(|b| {
                    location
                        .contacts
                        .get(&t.contact_id)
                        .is_some_and(|c| c.business_id.as_deref() == Some(b))
                })
            })
            .filter(|t| {
                query.as_deref().is_none_or(|text| {
                    t.title.to_lowercase().contains(text)
                        || t.body
                            .as_deref()
                            .is_some_and(|b| b.to_lowercase().contains(text))
                })
            })
            .collect();
        tasks.sort_by(|a, b| a.due_date.cmp(&b.due_date).then_with(|| a.id.cmp(&b.id)));
        Ok(tasks
            .into_iter()
            .skip(q.skip)
            .take(q.limit)
            .cloned()
            .collect())
    }

    // ---- appointments, followers, campaigns, workflows ---------------------------------------

    /// `GET /contacts/{id}/appointments`.
    pub(crate) fn appointments(
        &mut self,
        caller: &str,
        contact_id: &str,
    ) -> Result<Vec<Appointment>> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location.contact(contact_id)?;
        Ok(location
            .appointments
            .iter()
            .filter(|a| a.contact_id == contact_id)
            .cloned()
            .collect())
    }

    /// `POST /contacts/{id}/followers`: `(all followers, the ones added)`.
    pub(crate) fn add_followers(
        &mut self,
        caller: &str,
        contact_id: &str,
        followers: Vec<String>,
        now: Now,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location
            .write_contact(contact_id, now, |c| {
                let mut added = Vec::new();
                for f in followers {
                    if !c.followers.contains(&f) {
                        c.followers.push(f.clone());
                        added.push(f);
                    }
                }
                (c.followers.clone(), added)
            })
            .ok_or_else(contact_not_found)
    }

    /// `DELETE /contacts/{id}/followers`: `(remaining followers, the ones removed)`.
    pub(crate) fn remove_followers(
        &mut self,
        caller: &str,
        contact_id: &str,
        followers: &[String],
        now: Now,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location
            .write_contact(contact_id, now, |c| {
                let removed: Vec<String> = c
                    .followers
                    .iter()
                    .filter(|f| followers.contains(f))
                    .cloned()
                    .collect();
                c.followers.retain(|f| !followers.contains(f));
                (c.followers.clone(), removed)
            })
            .ok_or_else(contact_not_found)
    }

    /// `POST /contacts/{id}/campaigns/{campaignId}`.
    pub(crate) fn add_to_campaign(
        &mut self,
        caller: &str,
        contact_id: &str,
        campaign_id: &str,
    ) -> Result<()> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location.contact(contact_id)?;
        if !location.campaigns.iter().any(|c| c.id == campaign_id) {
            return Err(Error::NotFound("Campaign not found".into()));
        }
        let extras = location.extras.entry(contact_id.to_owned()).or_default();
        if !extras.campaigns.iter().any(|c| c == campaign_id) {
            extras.campaigns.push(campaign_id.to_owned());
        }
        Ok(())
    }

    /// `DELETE /contacts/{id}/campaigns/{campaignId}` (`None`: every campaign).
    pub(crate) fn remove_from_campaign(
        &mut self,
        caller: &str,
        contact_id: &str,
        campaign_id: Option<&str>,
    ) -> Result<()> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location.contact(contact_id)?;
        if let Some(id) = campaign_id
            && !location.campaigns.iter().any(|c| c.id == id)
        {
            return Err(Error::NotFound("Campaign not found".into()));
        }
        let extras = location.extras.entry(contact_id.to_owned()).or_default();
        extras
            .campaigns
            .retain(|c| campaign_id.is_some_and(|id| c != id));
        Ok(())
    }

    /// `POST /contacts/{id}/workflow/{workflowId}` (enrolling twice keeps one enrolment).
    pub(crate) fn add_to_workflow(
        &mut self,
        caller: &str,
        contact_id: &str,
        workflow_id: &str,
        event_start_time: Option<String>,
    ) -> Result<()> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location.contact(contact_id)?;
        if !location.workflows.iter().any(|w| w.id == workflow_id) {
            return Err(Error::NotFound("Workflow not found".into()));
        }
        let extras = location.extras.entry(contact_id.to_owned()).or_default();
        extras.workflows.retain(|w| w.workflow_id != workflow_id);
        extras.workflows.push(WorkflowEnrollment {
            workflow_id: workflow_id.to_owned(),
            event_start_time,
        });
        Ok(())
    }

    /// `DELETE /contacts/{id}/workflow/{workflowId}`.
    pub(crate) fn remove_from_workflow(
        &mut self,
        caller: &str,
        contact_id: &str,
        workflow_id: &str,
    ) -> Result<()> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location.contact(contact_id)?;
        if !location.workflows.iter().any(|w| w.id == workflow_id) {
            return Err(Error::NotFound("Workflow not found".into()));
        }
        let extras = location.extras.entry(contact_id.to_owned()).or_default();
        extras.workflows.retain(|w| w.workflow_id != workflow_id);
        Ok(())
    }

    // ---- bulk -----------------------------------------------------------------------------

    /// `POST /contacts/bulk/tags/update/{type}`: per-contact results, 201 even when some fail
    /// (`(error count, responses)`).
    pub(crate) fn bulk_tags(
        &mut self,
        caller: &str,
        add: bool,
        body: BulkTags,
        now: Now,
    ) -> Result<(usize, Vec<Value>)> {
        let location = self.caller_location_mut(caller, &body.location_id)?;
        let mut errors = 0;
        let mut responses = Vec::with_capacity(body.contacts.len());
        for contact_id in &body.contacts {
            let failure = if !ids::is_ghl_id(contact_id) {
                Some("contact id is not a valid firebase id")
            } else if location.deleted.contains(contact_id) {
                Some("contact is deleted")
            } else if !location.contacts.contains_key(contact_id) {
                Some("contact does not belong to location")
            } else {
                None
            };
            if let Some(message) = failure {
                errors += 1;
                responses
                    .push(json!({"contactId": contact_id, "message": message, "type": "error"}));
                continue;
            }
            let tags = body.tags.clone();
            let remove_all = body.remove_all_tags;
            let response = location.write_contact(contact_id, now, |c| {
                let old = c.tags.clone();
                if add {
                    c.add_tags(tags, now.utc);
                    let added: Vec<&String> = c.tags.iter().filter(|t| !old.contains(t)).collect();
                    json!({"contactId": c.id, "message": "Tags added successfully", "type": "success",
                           "oldTags": old, "tagsAdded": added})
                } else {
                    let gone: Vec<String> = if remove_all { old.clone() } else { tags };
                    c.remove_tags(&gone, now.utc);
                    let removed: Vec<&String> = old.iter().filter(|t| !c.tags.contains(t)).collect();
                    json!({"contactId": c.id, "message": "Tags removed successfully", "type": "success",
                           "oldTags": old, "tagsRemoved": removed})
                }
            });
            if let Some(r) = response {
                responses.push(r);
            }
        }
        Ok((errors, responses))
    }

    /// `POST /contacts/bulk/business`: the ids that were updated (unknown ids are skipped).
    pub(crate) fn bulk_business(
        &mut self,
        caller: &str,
        body: BulkBusiness,
        now: Now,
    ) -> Result<Vec<String>> {
        let location = self.caller_location_mut(caller, &body.location_id)?;
        if let Some(b) = &body.business_id
            && !location.businesses.iter().any(|x| x.id == *b)
        {
            return Err(Error::BadRequest("Business not found".into()));
        }
        let mut updated = Vec::new();
        for id in body.ids {
            let business = body.business_id.clone();
            if location
                .write_contact(&id, now, |c| c.business_id = business)
                .is_some()
            {
                updated.push(id);
            }
        }
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::dto::{ContactDto, contact_body};
    use crate::store::{DEMO_LOCATION_ID, DEMO_TOKEN, NewLocation};

    const LOC: &str = DEMO_LOCATION_ID;

    fn store() -> Store {
        Store::new(
            true,
            std::time::Duration::ZERO,
            time::OffsetDateTime::now_utc(),
        )
    }

    fn body(v: Value, dto: ContactDto) -> ContactBody {
        contact_body(v.to_string().as_bytes(), dto).unwrap()
    }

    fn upsert(store: &mut Store, v: Value) -> Result<UpsertOutcome> {
        let mut v = v;
        v["locationId"] = json!(LOC);
        store.upsert(LOC, body(v, ContactDto::Upsert), Now::system())
    }

    fn create(store: &mut Store, v: Value) -> Result<ContactView> {
        let mut v = v;
        v["locationId"] = json!(LOC);
        store.create(LOC, body(v, ContactDto::Create), Now::system())
    }

    #[test]
    fn upsert_matches_email_case_insensitively_then_phone() {
        let mut s = store();
        let a = upsert(&mut s, json!({"email": "Jo@Example.com", "tags": ["a"]})).unwrap();
        assert!(a.created);
        assert!(ids::is_ghl_id(&a.contact.id));
        let b = upsert(
            &mut s,
            json!({"email": "jo@example.COM", "firstName": "Jo", "tags": ["b"]}),
        )
        .unwrap();
        assert!(!b.created);
        assert_eq!(b.contact.id, a.contact.id);
        assert_eq!(b.contact.tags, ["b"], "tags replace the set");
        assert_eq!(b.contact.email.as_deref(), Some("jo@example.COM"));

        let p = upsert(&mut s, json!({"phone": "+1 555 010 0000"})).unwrap();
        let q = upsert(
            &mut s,
            json!({"phone": "(555) 010-0000", "lastName": "Roe"}),
        )
        .unwrap();
        assert_eq!(p.contact.id, q.contact.id);
        assert!(!q.created);
    }

    #[test]
    fn match_maps_follow_email_changes() {
        let mut s = store();
        let a = upsert(&mut s, json!({"email": "old@x.io"}))
            .unwrap()
            .contact;
        let now = Now::system();
        let patch = body(json!({"email": "new@x.io"}), ContactDto::Update).patch;
        s.update(LOC, &a.id, patch, now).unwrap();
        let found = s.find_duplicate(LOC, LOC, Some("new@x.io"), None).unwrap();
        assert_eq!(found.map(|c| c.id), Some(a.id.clone()));
        assert_eq!(
            s.find_duplicate(LOC, LOC, Some("old@x.io"), None).unwrap(),
            None
        );
        s.delete(LOC, &a.id, now).unwrap();
        assert_eq!(
            s.find_duplicate(LOC, LOC, Some("new@x.io"), None).unwrap(),
            None
        );
        assert_eq!(s.get(LOC, &a.id).unwrap_err(), contact_not_found());
    }

    #[test]
    fn upsert_ignores_the_second_field_when_it_belongs_to_another_contact() {
        let mut s = store();
        let by_phone = upsert(&mut s, json!({"phone": "+15550100001"}))
            .unwrap()
            .contact;
        let by_email = upsert(&mut s, json!({"email": "e@x.io"})).unwrap().contact;
        let r = upsert(&mut s, json!({"email": "e@x.io", "phone": "+15550100001"})).unwrap();
        assert!(!r.created);
        assert_eq!(r.contact.id, by_email.id);
        assert_eq!(
            r.contact.phone, None,
            "the phone stays with the other contact"
        );
        assert_eq!(
            s.contacts(LOC)
                .unwrap()
                .iter()
                .filter(|c| c.id == by_phone.id)
                .count(),
            1
        );

        // A phone nobody has is written.
        let r = upsert(&mut s, json!({"email": "e@x.io", "phone": "+15550100002"})).unwrap();
        assert_eq!(r.contact.phone.as_deref(), Some("+15550100002"));
    }

    #[test]
    fn upsert_requires_email_or_phone_and_drops_gender_on_update() {
        let mut s = store();
        let e = upsert(&mut s, json!({"firstName": "Only"})).unwrap_err();
        assert_eq!(
            e,
            Error::BadRequest("Pass at least one of number, email query parameter".into())
        );
        upsert(&mut s, json!({"email": "g@x.io", "gender": "female"})).unwrap();
        let r = upsert(&mut s, json!({"email": "g@x.io", "gender": "male"})).unwrap();
        assert_eq!(r.contact.gender.as_deref(), Some("female"));
    }

    #[test]
    fn create_new_if_duplicate_allowed_only_when_the_location_allows() {
        let mut s = store();
        upsert(&mut s, json!({"email": "d@x.io"})).unwrap();
        let r = upsert(
            &mut s,
            json!({"email": "d@x.io", "createNewIfDuplicateAllowed": true}),
        )
        .unwrap();
        assert!(!r.created, "ignored: demo-location refuses duplicates");

        let mut new = NewLocation::new("dups", "pit-dups");
        new.allow_duplicate_contact = true;
        let now = Now::system();
        s.add_location(new, now.utc).unwrap();
        let b = |v: Value| body(v, ContactDto::Upsert);
        s.upsert(
            "dups",
            b(json!({"locationId": "dups", "email": "d@x.io"})),
            now,
        )
        .unwrap();
        let r = s
            .upsert("dups", b(json!({"locationId": "dups", "email": "d@x.io", "createNewIfDuplicateAllowed": true})), now)
            .unwrap();
        assert!(r.created);
        assert_eq!(s.contacts("dups").unwrap().len(), 2);
        // Matching still prefers the oldest.
        let first = s.contacts("dups").unwrap()[0].id.clone();
        let r = s
            .upsert(
                "dups",
                b(json!({"locationId": "dups", "email": "D@x.io"})),
                now,
            )
            .unwrap();
        assert_eq!(r.contact.id, first);
    }

    #[test]
    fn create_refuses_duplicates_with_meta_and_requires_identity() {
        let mut s = store();
        let first = create(
            &mut s,
            json!({"firstName": "Jo", "lastName": "Doe", "phone": "+15550100003"}),
        )
        .unwrap();
        let e = create(
            &mut s,
            json!({"email": "new@x.io", "phone": "555-010-0003"}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::DuplicateContact {
                contact_id: first.id.clone(),
                contact_name: Some("Jo Doe".into()),
                matching_field: MatchField::Phone
            }
        );
        let e = create(&mut s, json!({"name": "Only A Name"})).unwrap_err();
        assert!(matches!(e, Error::Unprocessable(_)), "{e:?}");
        create(&mut s, json!({"firstName": "Jo"})).unwrap();
    }

    #[test]
    fn tokens_only_reach_their_location() {
        let mut s = store();
        let now = Now::system();
        s.add_location(NewLocation::new("other", "pit-other"), now.utc)
            .unwrap();
        let c = create(&mut s, json!({"email": "t@x.io"})).unwrap();
        assert_eq!(s.get("other", &c.id).unwrap_err(), Error::Forbidden);
        assert_eq!(s.get(LOC, "nope").unwrap_err(), contact_not_found());
        let b = body(
            json!({"locationId": LOC, "email": "z@x.io"}),
            ContactDto::Upsert,
        );
        assert_eq!(s.upsert("other", b, now).unwrap_err(), Error::Forbidden);
        assert_eq!(
            s.find_duplicate("other", LOC, Some("t@x.io"), None)
                .unwrap_err(),
            Error::Forbidden
        );
        assert_eq!(
            s.find_duplicate(LOC, LOC, Some("T@X.IO"), None)
                .unwrap()
                .map(|c| c.id),
            Some(c.id)
        );
        assert!(s.location_for_pit(DEMO_TOKEN).is_some());
    }

    #[test]
    fn custom_fields_resolve_by_key_with_or_without_prefix_and_by_id() {
        let mut s = store();
        let cf_id = s.location_view(LOC).unwrap().custom_fields[0].id.clone();
        let r = upsert(
            &mut s,
            json!({"email": "cf@x.io", "customFields": [
                {"key": "gumroad_customer_id", "field_value": "g-1"},
                {"key": "contact.lifetime_value", "fieldValue": 12.5}
            ]}),
        )
        .unwrap();
        assert_eq!(r.contact.custom_fields[0].id, cf_id);
        assert_eq!(r.contact.custom_fields[0].value, json!("g-1"));
        assert_eq!(r.contact.custom_fields[1].value, json!(12.5));

        let r = upsert(
            &mut s,
            json!({"email": "cf@x.io", "customFields": [{"id": cf_id, "value": "g-2"}]}),
        )
        .unwrap();
        assert_eq!(r.contact.custom_fields[0].value, json!("g-2"));
        assert_eq!(r.contact.custom_fields.len(), 2, "other fields are kept");

        let e = upsert(
            &mut s,
            json!({"email": "cf@x.io", "customFields": [{"key": "nope", "value": 1}]}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::Validation(vec![
                "customFields.0.key nope is not a custom field of location demo-location".into()
            ])
        );
    }

    #[test]
    fn update_refuses_taking_another_contacts_email() {
        let mut s = store();
        let a = create(&mut s, json!({"email": "a@x.io"})).unwrap();
        let b = create(&mut s, json!({"email": "b@x.io"})).unwrap();
        let now = Now::system();
        let patch = |v: Value| body(v, ContactDto::Update).patch;
        let e = s
            .update(LOC, &b.id, patch(json!({"email": "A@x.io"})), now)
            .unwrap_err();
        assert!(
            matches!(e, Error::DuplicateContact { ref contact_id, .. } if *contact_id == a.id),
            "{e:?}"
        );
        let v = s
            .update(
                LOC,
                &b.id,
                patch(json!({"email": "b@x.io", "tags": ["x"]})),
                now,
            )
            .unwrap();
        assert_eq!(v.tags, ["x"]);
    }

    #[test]
    fn contact_tags_join_the_location_catalogue() {
        let mut s = store();
        upsert(&mut s, json!({"email": "t@x.io", "tags": ["vip", "buyer"]})).unwrap();
        let names: Vec<String> = s
            .location_tags(LOC, LOC)
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["vip", "buyer"]);
    }

    #[test]
    fn bulk_tags_report_each_contact() {
        let mut s = store();
        let a = upsert(&mut s, json!({"email": "a@x.io", "tags": ["x"]}))
            .unwrap()
            .contact;
        let gone = upsert(&mut s, json!({"email": "g@x.io"})).unwrap().contact;
        let now = Now::system();
        s.delete(LOC, &gone.id, now).unwrap();
        let body = BulkTags {
            location_id: LOC.into(),
            contacts: vec![
                a.id.clone(),
                gone.id.clone(),
                "bad".into(),
                "AAAAAAAAAAAAAAAAAAAA".into(),
            ],
            tags: vec!["y".into()],
            remove_all_tags: false,
        };
        let (errors, responses) = s.bulk_tags(LOC, true, body.clone(), now).unwrap();
        assert_eq!(errors, 3);
        let messages: Vec<&str> = responses
            .iter()
            .map(|r| r["message"].as_str().unwrap())
            .collect();
        assert_eq!(
            messages,
            [
                "Tags added successfully",
                "contact is deleted",
                "contact id is not a valid firebase id",
                "contact does not belong to location"
            ]
        );
        assert_eq!(responses[0]["tagsAdded"], json!(["y"]));
        let all = BulkTags {
            remove_all_tags: true,
            tags: vec![],
            ..body
        };
        let (_, responses) = s.bulk_tags(LOC, false, all, now).unwrap();
        assert_eq!(responses[0]["tagsRemoved"], json!(["x", "y"]));
        assert!(s.get(LOC, &a.id).unwrap().tags.is_empty());
    }
}
