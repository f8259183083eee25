//! `preview`: the plans an event would produce under a connection's rules.

use std::fmt::Write as _;
use std::path::Path;

use relay_contracts::mapper_admin::PreviewRequest;
use serde_json::Value;

use crate::cli::PreviewArgs;
use crate::output::Console;
use crate::{Context, DataError};

pub(crate) async fn run(
    con: &mut Console,
    ctx: &Context,
    args: &PreviewArgs,
) -> anyhow::Result<i32> {
    let event_json = read(&args.event)?;
    // Catch a wrong file here, with its name, rather than as the server's parse error.
    if let Err(e) = serde_json::from_str::<Value>(&event_json) {
        return Err(DataError(format!("{}: not valid JSON: {e}", args.event.display())).into());
    }
    let connection_yaml = args.rules.as_deref().map(read).transpose()?;
    let mut m = ctx.mapper().await?;
    let plans_json = m
        .client
        .preview(PreviewRequest {
            connection: args.connection.clone().unwrap_or_default(),
            event_json,
            connection_yaml: connection_yaml.unwrap_or_default(),
        })
        .await
        .map_err(|s| m.explain(&s))?
        .into_inner()
        .plans_json;
    let plans = plans_json
        .iter()
        .map(|p| serde_json::from_str::<Value>(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: returned a plan that is not JSON: {e}", m.name()))?;
    if ctx.json {
        con.json(&plans)?;
    } else {
        con.print(&render_plans(&plans))?;
    }
    Ok(0)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// A readable summary of ContactPlans: per plan its id, location, lookup, the contact's fields,
/// then its steps one per line.
pub(crate) fn render_plans(plans: &[Value]) -> String {
    if plans.is_empty() {
        return "no plans: the event matches no rule (it would be acknowledged and counted as \
                unmatched)\n"
            .into();
    }
    let mut out = String::new();
    for (i, plan) in plans.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_plan(&mut out, plan);
    }
    out
}

fn render_plan(out: &mut String, plan: &Value) {
    let str_of = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    let _ = write!(out, "plan {}", str_of(&plan["id"]));
    let _ = write!(out, "  location {}", str_of(&plan["location_id"]));
    if let Some(c) = plan["connection"].as_str() {
        let _ = write!(out, "  connection {c}");
    }
    out.push('\n');
    let contact = &plan["contact"];
    let _ = writeln!(out, "  lookup   {}", lookup(&contact["lookup"]));
    let fields = pairs(&contact["fields"]);
    if !fields.is_empty() {
        let _ = writeln!(out, "  contact  {fields}");
    }
    let custom = pairs(&contact["custom_fields"]);
    if !custom.is_empty() {
        let _ = writeln!(out, "  custom   {custom}");
    }
    match plan["steps"].as_array() {
        Some(steps) if !steps.is_empty() => {
            let _ = writeln!(out, "  steps");
            for (n, step) in steps.iter().enumerate() {
                let _ = writeln!(out, "    {}. {}", n + 1, render_step(step));
            }
        }
        _ => {
            let _ = writeln!(out, "  no steps");
        }
    }
}

/// `email_or_phone`, `id abc123`, `external_id gumroad_customer_id=c-1`.
fn lookup(l: &Value) -> String {
    match (l["by"].as_str(), &l["value"]) {
        (Some("external_id"), v) if v.is_object() => format!(
            "external_id {}={}",
            v["field_key"].as_str().unwrap_or("?"),
            scalar(&v["value"])
        ),
        (Some(by), Value::Null) => by.to_owned(),
        (Some(by), v) => format!("{by} {}", scalar(v)),
        (None, _) => l.to_string(),
    }
}

/// The fields that matter first in a step, in this order; the rest follow alphabetically.
const STEP_FIELD_ORDER: &[&str] = &[
    "key",
    "title",
    "tags",
    "campaign_id",
    "workflow_id",
    "followers",
    "due_date",
    "assigned_to",
    "body",
];

/// `create_task key=due title="Monthly contribution due" due_date=2026-12-01T00:00:00Z`.
fn render_step(step: &Value) -> String {
    let Some(obj) = step.as_object() else {
        return step.to_string();
    };
    let mut out = obj
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let mut keys: Vec<&String> = obj.keys().filter(|k| *k != "action").collect();
    keys.sort_by_key(|k| {
        (
            STEP_FIELD_ORDER
                .iter()
                .position(|o| o == k)
                .unwrap_or(STEP_FIELD_ORDER.len()),
            k.as_str(),
        )
    });
    for k in keys {
        let _ = write!(out, " {k}={}", scalar(&obj[k.as_str()]));
    }
    out
}

/// `k=v k2="two words"`, for an object's entries.
fn pairs(v: &Value) -> String {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", scalar(v)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// A value on one line: bare words as they are, other strings quoted, lists in brackets.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s)
            if !s.is_empty()
                && s.chars().all(|c| {
                    !c.is_whitespace()
                        && !c.is_control()
                        && !matches!(c, '"' | '=' | ',' | '[' | ']')
                }) =>
        {
            s.clone()
        }
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(scalar).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plan() -> Value {
        json!({
            "v": 1,
            "id": "pln_01JDX",
            "location_id": "demo-location",
            "connection": "bmc/demo",
            "source_event_id": "evt_01JDX",
            "contact": {
                "lookup": { "by": "email_or_phone" },
                "fields": { "email": "ann@example.com", "first_name": "Ann" },
                "custom_fields": { "bmc_supporter_id": 42 }
            },
            "steps": [
                { "action": "upsert_contact" },
                { "action": "add_tags", "tags": ["donor", "monthly member"] },
                {
                    "action": "create_task",
                    "title": "Monthly contribution due",
                    "due_date": "2026-12-01T00:00:00Z",
                    "key": "membership-due"
                },
                { "action": "create_note", "key": "msg", "body": "Thanks!\nKeep going" }
            ]
        })
    }

    #[test]
    fn plan_summary() {
        assert_eq!(
            render_plans(&[plan()]),
            "\
plan pln_01JDX  location demo-location  connection bmc/demo
  lookup   email_or_phone
  contact  email=ann@example.com first_name=Ann
  custom   bmc_supporter_id=42
  steps
    1. upsert_contact
    2. add_tags tags=[donor, \"monthly member\"]
    3. create_task key=membership-due title=\"Monthly contribution due\" due_date=2026-12-01T00:00:00Z
    4. create_note key=msg body=\"Thanks!\\nKeep going\"
"
        );
    }

    #[test]
    fn lookups() {
        assert_eq!(lookup(&json!({ "by": "email_or_phone" })), "email_or_phone");
        assert_eq!(lookup(&json!({ "by": "id", "value": "c123" })), "id c123");
        assert_eq!(
            lookup(&json!({
                "by": "external_id",
                "value": { "field_key": "gumroad_customer_id", "value": "cus 1" }
            })),
            "external_id gumroad_customer_id=\"cus 1\""
        );
    }

    #[test]
    fn several_plans_and_none() {
        let out = render_plans(&[plan(), plan()]);
        assert_eq!(out.matches("plan pln_01JDX").count(), 2);
        assert!(out.contains("Keep going\"\n\nplan pln_01JDX"), "{out}");
        assert!(render_plans(&[]).starts_with("no plans: the event matches no rule"));
    }

    #[test]
    fn plan_without_steps() {
        let mut p = plan();
        p["steps"] = json!([]);
        p["contact"] = json!({ "lookup": { "by": "id", "value": "c1" } });
        assert_eq!(
            render_plans(&[p]),
            "plan pln_01JDX  location demo-location  connection bmc/demo\n  lookup   id c1\n  no steps\n"
        );
    }
}
