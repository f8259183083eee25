//! A contact's tasks and notes: create, get, list, update, complete, delete.

use relay_ghl::types::{NewNote, NewTask, UpdateNote, UpdateTask};

use crate::helpers::Ghl;

#[tokio::test]
async fn tasks_are_created_updated_completed_and_deleted() {
    let ghl = Ghl::start().await;
    let contact = ghl.contact("tasks@example.com").await;
    let owner = ghl.entities().users[0].id.clone();
    let new = NewTask {
        title: "Call back".into(),
        body: Some("About the refund".into()),
        due_date: "2026-10-25T11:00:00Z".into(),
        completed: false,
        assigned_to: Some(owner.clone()),
    };
    let created = ghl
        .client
        .create_task(&ghl.token, &contact, &new)
        .await
        .expect("create task");
    assert_eq!(created.status, 201);
    let task = created.body.task;
    assert_eq!(task.title.as_deref(), Some("Call back"));
    assert_eq!(task.contact_id.as_deref(), Some(contact.as_str()));
    assert_eq!(task.assigned_to.as_deref(), Some(owner.as_str()));
    assert!(!task.completed);

    let got = ghl
        .client
        .get_task(&ghl.token, &contact, &task.id)
        .await
        .expect("get task")
        .body
        .task;
    assert_eq!(got.body.as_deref(), Some("About the refund"));
    assert!(
        got.due_date
            .as_deref()
            .is_some_and(|d| d.starts_with("2026-10-25T11:00:00"))
    );

    let update = UpdateTask {
        title: Some("Call back today".into()),
        ..UpdateTask::default()
    };
    ghl.client
        .update_task(&ghl.token, &contact, &task.id, &update)
        .await
        .expect("update task");
    let listed = ghl
        .client
        .list_tasks(&ghl.token, &contact)
        .await
        .expect("list tasks")
        .body
        .tasks;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].title.as_deref(), Some("Call back today"));
    assert_eq!(
        listed[0].body.as_deref(),
        Some("About the refund"),
        "unset stays"
    );

    let done = ghl
        .client
        .complete_task(&ghl.token, &contact, &task.id, true)
        .await
        .expect("complete");
    assert!(done.body.task.completed);
    assert!(
        ghl.client
            .get_task(&ghl.token, &contact, &task.id)
            .await
            .expect("get")
            .body
            .task
            .completed
    );
    assert!(ghl.extras(&contact).tasks[0].completed);

    let deleted = ghl
        .client
        .delete_task(&ghl.token, &contact, &task.id)
        .await
        .expect("delete task");
    assert!(deleted.body.succeeded);
    let err = ghl
        .client
        .get_task(&ghl.token, &contact, &task.id)
        .await
        .expect_err("deleted");
    assert!(err.is_not_found(), "{err}");
    assert!(ghl.extras(&contact).tasks.is_empty());
}

#[tokio::test]
async fn notes_are_created_updated_and_deleted() {
    let ghl = Ghl::start().await;
    let contact = ghl.contact("notes@example.com").await;
    let plain = ghl
        .client
        .create_note(&ghl.token, &contact, "Bought the course")
        .await
        .expect("create note");
    assert_eq!(plain.status, 201);
    assert_eq!(plain.body.note.body.as_deref(), Some("Bought the course"));

    let full = NewNote {
        body: "Refund asked".into(),
        title: Some("Support".into()),
        color: Some("#FFAA00".into()),
        pinned: Some(true),
        user_id: Some(ghl.entities().users[0].id.clone()),
    };
    let note = ghl
        .client
        .create_note_with(&ghl.token, &contact, &full)
        .await
        .expect("create full note")
        .body
        .note;
    let got = ghl
        .client
        .get_note(&ghl.token, &contact, &note.id)
        .await
        .expect("get note")
        .body
        .note;
    assert_eq!(got.title.as_deref(), Some("Support"));
    assert_eq!(got.color.as_deref(), Some("#FFAA00"));
    assert_eq!(got.pinned, Some(true));
    assert_eq!(got.contact_id.as_deref(), Some(contact.as_str()));
    assert!(got.date_added.is_some());

    let update = UpdateNote {
        body: Some("Refund granted".into()),
        pinned: Some(false),
        ..UpdateNote::default()
    };
    ghl.client
        .update_note_with(&ghl.token, &contact, &note.id, &update)
        .await
        .expect("update note");
    let notes = ghl
        .client
        .list_notes(&ghl.token, &contact)
        .await
        .expect("list notes")
        .body
        .notes;
    assert_eq!(notes.len(), 2);
    let updated = notes.iter().find(|n| n.id == note.id).expect("the note");
    assert_eq!(updated.body.as_deref(), Some("Refund granted"));
    assert_eq!(updated.title.as_deref(), Some("Support"), "unset stays");
    assert_eq!(updated.pinned, Some(false));

    // The body-only update leaves the rest alone.
    let rewritten = ghl
        .client
        .update_note(
            &ghl.token,
            &contact,
            &plain.body.note.id,
            "Bought the course twice",
        )
        .await
        .expect("update the body")
        .body
        .note;
    assert_eq!(rewritten.body.as_deref(), Some("Bought the course twice"));

    let deleted = ghl
        .client
        .delete_note(&ghl.token, &contact, &note.id)
        .await
        .expect("delete note");
    assert!(deleted.body.succeeded);
    let err = ghl
        .client
        .get_note(&ghl.token, &contact, &note.id)
        .await
        .expect_err("deleted");
    assert!(err.is_not_found(), "{err}");
    let left: Vec<_> = ghl
        .extras(&contact)
        .notes
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(left, [plain.body.note.id]);
}
