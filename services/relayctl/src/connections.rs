//! `connections apply|list|get|delete`: the mapper's connections registry.

use std::path::Path;

use relay_contracts::mapper_admin::{
    ApplyConnectionsRequest, ApplyConnectionsResponse, ChangeAction, Connection, ConnectionChange,
    DeleteConnectionRequest, GetConnectionRequest, ListConnectionsRequest, ValidationError,
};
use serde::Serialize;

use crate::cli::ConnectionsCommand;
use crate::client::Mapper;
use crate::output::{self, Console, yes_no};
use crate::{Context, EX_DATAERR};

pub(crate) async fn run(
    con: &mut Console,
    ctx: &Context,
    command: &ConnectionsCommand,
) -> anyhow::Result<i32> {
    match command {
        ConnectionsCommand::Apply { file, dry_run } => apply(con, ctx, file, *dry_run).await,
        ConnectionsCommand::List => list(con, ctx).await,
        ConnectionsCommand::Get { key } => get(con, ctx, key).await,
        ConnectionsCommand::Delete { key } => delete(con, ctx, key).await,
    }
}

async fn apply(
    con: &mut Console,
    ctx: &Context,
    file: &Path,
    dry_run: bool,
) -> anyhow::Result<i32> {
    let file_name = file.to_string_lossy().into_owned();
    let yaml = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {file_name}: {e}"))?;
    let mut m = ctx.mapper().await?;
    let resp = m
        .client
        .apply_connections(ApplyConnectionsRequest {
            file_name: file_name.clone(),
            yaml,
            dry_run,
        })
        .await
        .map_err(|s| m.explain(&s))?
        .into_inner();
    if ctx.json {
        con.json(&ApplyJson::new(&resp, dry_run))?;
    }
    if !resp.errors.is_empty() {
        if !ctx.json {
            con.eprint(&render_validation_errors(&resp.errors, &file_name))?;
            con.eprint(&format!(
                "{file_name}: {} — nothing was applied",
                plural(resp.errors.len(), "error")
            ))?;
        }
        return Ok(EX_DATAERR);
    }
    let changed = resp
        .changes
        .iter()
        .any(|c| c.action() != ChangeAction::Unchanged);
    if !ctx.json {
        let color = ctx.color.enabled(con.out_tty);
        con.print(&render_changes(&resp, dry_run, color))?;
    }
    if changed && !dry_run && !resp.applied {
        anyhow::bail!("{}: the changes were validated but not stored", m.name());
    }
    Ok(0)
}

async fn list(con: &mut Console, ctx: &Context) -> anyhow::Result<i32> {
    let mut m = ctx.mapper().await?;
    let connections = m
        .client
        .list_connections(ListConnectionsRequest {})
        .await
        .map_err(|s| m.explain(&s))?
        .into_inner()
        .connections;
    if ctx.json {
        let rows: Vec<_> = connections.iter().map(ConnectionJson::from).collect();
        con.json(&rows)?;
    } else if connections.is_empty() {
        con.print("no connections (add some with `relayctl connections apply -f FILE`)")?;
    } else {
        con.print(&render_connections(&connections))?;
    }
    Ok(0)
}

async fn get(con: &mut Console, ctx: &Context, key: &str) -> anyhow::Result<i32> {
    let mut m = ctx.mapper().await?;
    let conn = m
        .client
        .get_connection(GetConnectionRequest { key: key.into() })
        .await
        .map_err(|s| not_found_or(&m, key, &s))?
        .into_inner();
    if ctx.json {
        con.json(&ConnectionJson::from(&conn))?;
    } else {
        con.print(&conn.yaml)?;
    }
    Ok(0)
}

async fn delete(con: &mut Console, ctx: &Context, key: &str) -> anyhow::Result<i32> {
    let mut m = ctx.mapper().await?;
    let deleted = m
        .client
        .delete_connection(DeleteConnectionRequest { key: key.into() })
        .await
        .map_err(|s| not_found_or(&m, key, &s))?
        .into_inner()
        .deleted;
    if !deleted {
        return Err(no_such_connection(key));
    }
    if ctx.json {
        con.json(&serde_json::json!({ "key": key, "deleted": true }))?;
    } else {
        con.print(&format!("{key} deleted"))?;
    }
    Ok(0)
}

fn not_found_or(m: &Mapper, key: &str, s: &tonic::Status) -> anyhow::Error {
    match s.code() {
        tonic::Code::NotFound => no_such_connection(key),
        _ => m.explain(s),
    }
}

fn no_such_connection(key: &str) -> anyhow::Error {
    anyhow::anyhow!("connection {key:?} does not exist (see `relayctl connections list`)")
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// One line per error, `file:line:column: message` (`file: message` without a position), for
/// editors and CI annotations to jump to.
pub(crate) fn render_validation_errors(errors: &[ValidationError], file_name: &str) -> String {
    let mut out = String::new();
    for e in errors {
        let file = if e.file.is_empty() {
            file_name
        } else {
            &e.file
        };
        if e.line == 0 {
            out.push_str(&format!("{file}: {}\n", e.message));
        } else {
            out.push_str(&format!("{file}:{}:{}: {}\n", e.line, e.column, e.message));
        }
    }
    out
}

fn verb(action: ChangeAction) -> &'static str {
    match action {
        ChangeAction::Create => "created",
        ChangeAction::Update => "configured",
        ChangeAction::Unchanged => "unchanged",
        ChangeAction::Unspecified => "changed",
    }
}

/// kubectl-style: one line per connection (`gumroad.demo created`, `bmc.demo configured` and
/// its diff, `x unchanged`), then whether anything was stored.
pub(crate) fn render_changes(
    resp: &ApplyConnectionsResponse,
    dry_run: bool,
    color: bool,
) -> String {
    let mut out = String::new();
    let (mut created, mut configured, mut unchanged) = (0, 0, 0);
    for c in &resp.changes {
        let action = c.action();
        match action {
            ChangeAction::Create => created += 1,
            ChangeAction::Update | ChangeAction::Unspecified => configured += 1,
            ChangeAction::Unchanged => unchanged += 1,
        }
        out.push_str(&c.key);
        out.push(' ');
        out.push_str(verb(action));
        if dry_run && action != ChangeAction::Unchanged {
            out.push_str(" (dry run)");
        }
        out.push('\n');
        if action == ChangeAction::Update && !c.diff.is_empty() {
            out.push_str(&output::diff(&c.diff, "    ", color));
        }
    }
    let counts = [
        (created, if dry_run { "to create" } else { "created" }),
        (
            configured,
            if dry_run {
                "to configure"
            } else {
                "configured"
            },
        ),
        (unchanged, "unchanged"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect::<Vec<_>>()
    .join(", ");
    if resp.changes.is_empty() {
        out.push_str("no connections in the file: nothing to apply\n");
    } else if created + configured == 0 {
        out.push_str(&format!("nothing to apply: {counts}\n"));
    } else if dry_run {
        out.push_str(&format!("dry run: nothing applied ({counts})\n"));
    } else if resp.applied {
        out.push_str(&format!("applied: {counts}\n"));
    } else {
        out.push_str(&format!("NOT applied: {counts}\n"));
    }
    out
}

/// The `connections list` table.
pub(crate) fn render_connections(connections: &[Connection]) -> String {
    let mut table = output::table([
        "key", "source", "name", "location", "enabled", "rules", "playbook", "revision",
    ]);
    for c in connections {
        table.add_row(vec![
            c.key.clone(),
            c.source.clone(),
            c.name.clone(),
            c.location_id.clone(),
            yes_no(c.enabled).to_owned(),
            c.rules.to_string(),
            c.playbook.clone(),
            c.revision.to_string(),
        ]);
    }
    table.to_string()
}

/// `Connection` as JSON (field names as in the proto).
#[derive(Debug, Serialize)]
pub(crate) struct ConnectionJson<'a> {
    key: &'a str,
    source: &'a str,
    name: &'a str,
    location_id: &'a str,
    enabled: bool,
    rules: u32,
    playbook: &'a str,
    yaml: &'a str,
    revision: u64,
}

impl<'a> From<&'a Connection> for ConnectionJson<'a> {
    fn from(c: &'a Connection) -> Self {
        Self {
            key: &c.key,
            source: &c.source,
            name: &c.name,
            location_id: &c.location_id,
            enabled: c.enabled,
            rules: c.rules,
            playbook: &c.playbook,
            yaml: &c.yaml,
            revision: c.revision,
        }
    }
}

/// `connections apply --json`: the response, and whether it was a dry run.
#[derive(Debug, Serialize)]
struct ApplyJson<'a> {
    errors: Vec<ErrorJson<'a>>,
    changes: Vec<ChangeJson<'a>>,
    applied: bool,
    dry_run: bool,
}

#[derive(Debug, Serialize)]
struct ErrorJson<'a> {
    file: &'a str,
    line: u32,
    column: u32,
    message: &'a str,
}

#[derive(Debug, Serialize)]
struct ChangeJson<'a> {
    key: &'a str,
    action: &'static str,
    diff: &'a str,
}

impl<'a> ApplyJson<'a> {
    fn new(resp: &'a ApplyConnectionsResponse, dry_run: bool) -> Self {
        Self {
            errors: resp
                .errors
                .iter()
                .map(|e| ErrorJson {
                    file: &e.file,
                    line: e.line,
                    column: e.column,
                    message: &e.message,
                })
                .collect(),
            changes: resp.changes.iter().map(ChangeJson::from).collect(),
            applied: resp.applied,
            dry_run,
        }
    }
}

impl<'a> From<&'a ConnectionChange> for ChangeJson<'a> {
    fn from(c: &'a ConnectionChange) -> Self {
        Self {
            key: &c.key,
            action: match c.action() {
                ChangeAction::Create => "create",
                ChangeAction::Update => "update",
                ChangeAction::Unchanged => "unchanged",
                ChangeAction::Unspecified => "unspecified",
            },
            diff: &c.diff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, action: ChangeAction, diff: &str) -> ConnectionChange {
        ConnectionChange {
            key: key.into(),
            action: action.into(),
            diff: diff.into(),
        }
    }

    fn response(applied: bool) -> ApplyConnectionsResponse {
        ApplyConnectionsResponse {
            errors: vec![],
            changes: vec![
                change("gumroad.demo", ChangeAction::Create, ""),
                change(
                    "bmc.demo",
                    ChangeAction::Update,
                    "--- bmc.demo (stored)\n+++ bmc.demo (new)\n@@ -1,2 +1,2 @@\n source: bmc\n-enabled: true\n+enabled: false\n",
                ),
                change("thrivecart.shop", ChangeAction::Unchanged, ""),
            ],
            applied,
        }
    }

    #[test]
    fn changes_kubectl_style() {
        assert_eq!(
            render_changes(&response(true), false, false),
            "\
gumroad.demo created
bmc.demo configured
    --- bmc.demo (stored)
    +++ bmc.demo (new)
    @@ -1,2 +1,2 @@
     source: bmc
    -enabled: true
    +enabled: false
thrivecart.shop unchanged
applied: 1 created, 1 configured, 1 unchanged
"
        );
    }

    #[test]
    fn dry_run_says_so() {
        let out = render_changes(&response(false), true, false);
        assert!(
            out.starts_with("gumroad.demo created (dry run)\nbmc.demo configured (dry run)\n"),
            "{out}"
        );
        assert!(out.contains("thrivecart.shop unchanged\n"), "{out}");
        assert!(
            out.ends_with("dry run: nothing applied (1 to create, 1 to configure, 1 unchanged)\n"),
            "{out}"
        );
    }

    #[test]
    fn coloured_diff_only_when_asked() {
        assert!(!render_changes(&response(true), false, false).contains('\x1b'));
        let out = render_changes(&response(true), false, true);
        assert!(
            out.contains("    \x1b[31m-enabled: true\x1b[0m\n"),
            "{out:?}"
        );
        assert!(
            out.contains("    \x1b[32m+enabled: false\x1b[0m\n"),
            "{out:?}"
        );
    }

    #[test]
    fn nothing_to_apply() {
        let resp = ApplyConnectionsResponse {
            errors: vec![],
            changes: vec![
                change("a.x", ChangeAction::Unchanged, ""),
                change("b.y", ChangeAction::Unchanged, ""),
            ],
            applied: false,
        };
        assert_eq!(
            render_changes(&resp, false, false),
            "a.x unchanged\nb.y unchanged\nnothing to apply: 2 unchanged\n"
        );
        let empty = ApplyConnectionsResponse::default();
        assert_eq!(
            render_changes(&empty, false, false),
            "no connections in the file: nothing to apply\n"
        );
    }

    #[test]
    fn validation_errors_as_file_line_column() {
        let errors = vec![
            ValidationError {
                file: "conns.yaml".into(),
                line: 7,
                column: 9,
                message: "unknown step `add_tag` (did you mean `add_tags`?)".into(),
            },
            ValidationError {
                file: String::new(),
                line: 12,
                column: 3,
                message: "duplicate connection gumroad.demo".into(),
            },
            ValidationError {
                file: "conns.yaml".into(),
                line: 0,
                column: 0,
                message: "no `connections` list".into(),
            },
        ];
        assert_eq!(
            render_validation_errors(&errors, "./conns.yaml"),
            "\
conns.yaml:7:9: unknown step `add_tag` (did you mean `add_tags`?)
./conns.yaml:12:3: duplicate connection gumroad.demo
conns.yaml: no `connections` list
"
        );
    }

    #[test]
    fn connections_table() {
        let table = render_connections(&[Connection {
            key: "gumroad.demo".into(),
            source: "gumroad".into(),
            name: "demo".into(),
            location_id: "loc-1".into(),
            enabled: true,
            rules: 2,
            playbook: "default".into(),
            yaml: "source: gumroad\n".into(),
            revision: 14,
        }]);
        for header in [
            "key", "source", "name", "location", "enabled", "rules", "playbook", "revision",
        ] {
            assert!(table.contains(header), "{table}");
        }
        let cells = output::row_cells(&table, "gumroad.demo");
        assert_eq!(
            cells,
            [
                "gumroad.demo",
                "gumroad",
                "demo",
                "loc-1",
                "yes",
                "2",
                "default",
                "14"
            ]
        );
    }
}
