//! Validation and compilation of a connection's rules (and its playbook's).

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use relay_contracts::connection::{
    AttributeTest, ContactField, Defaults, ForEach, Identity, Located, Playbook, RuleSpec,
    SourceLoc, StepSpec, Text, Then,
};
use relay_contracts::plan::Step;
use relay_contracts::{ConnectionSpec, EventKind, Source};
use serde_json::Value;

use super::glob::Glob;
use super::template::{self, Tmpl};
use super::{CompiledConnection, RuleError, playbooks};

/// Tasks without a `due` are due this many days after the event unless the connection says.
pub(crate) const DEFAULT_TASK_DUE_DAYS: i64 = 1;

pub(crate) struct CompiledDefaults {
    pub(crate) identity: IdentityC,
    pub(crate) tags: Vec<Tmpl>,
    pub(crate) fields: Vec<(ContactField, Tmpl)>,
    pub(crate) custom_fields: Vec<(String, Tmpl)>,
    pub(crate) assigned_to: Option<Tmpl>,
    pub(crate) task_due_days: i64,
    pub(crate) vars: serde_json::Map<String, Value>,
}

pub(crate) struct Rule {
    /// Stable id: part of plan ids and default step keys.
    pub(crate) id: String,
    /// For messages: `rules[2] "vip"`.
    pub(crate) label: String,
    pub(crate) name: Option<String>,
    pub(crate) then: Then,
    pub(crate) per_product: bool,
    pub(crate) matcher: Matcher,
    pub(crate) identity: Option<IdentityC>,
    pub(crate) fields: Vec<(ContactField, Tmpl)>,
    pub(crate) custom_fields: Vec<(String, Tmpl)>,
    pub(crate) steps: Vec<StepC>,
}

#[derive(Clone)]
pub(crate) enum IdentityC {
    EmailOrPhone,
    Email,
    Phone,
    ExternalId { field: String, value: Tmpl },
}

#[derive(Default)]
pub(crate) struct Matcher {
    pub(crate) sources: Option<Vec<Source>>,
    pub(crate) kinds: Option<Vec<EventKind>>,
    pub(crate) source_events: Option<Vec<Glob>>,
    pub(crate) product_ids: Option<Vec<Glob>>,
    pub(crate) product_names: Option<Vec<Glob>>,
    pub(crate) amount: Option<(Option<i64>, Option<i64>)>,
    pub(crate) currencies: Option<Vec<String>>,
    pub(crate) test: Option<bool>,
    pub(crate) attributes: Vec<(Vec<String>, AttrTest)>,
    pub(crate) when: Option<Tmpl>,
}

pub(crate) enum AttrTest {
    Equals(Value),
    OneOf(Vec<Value>),
    Exists(bool),
    Glob(Glob),
}

pub(crate) enum StepC {
    Fixed(Step),
    AddTags(Vec<Tmpl>),
    RemoveTags(Vec<Tmpl>),
    AddFollowers(Vec<Tmpl>),
    RemoveFollowers(Vec<Tmpl>),
    CreateTask {
        key: Option<Tmpl>,
        title: Tmpl,
        body: Option<Tmpl>,
        due: Option<Tmpl>,
        assigned_to: Option<Tmpl>,
    },
    UpdateTask {
        key: Tmpl,
        title: Option<Tmpl>,
        body: Option<Tmpl>,
        due: Option<Tmpl>,
    },
    CompleteTask(Tmpl),
    DeleteTask(Tmpl),
    CreateNote {
        key: Option<Tmpl>,
        body: Tmpl,
    },
    UpdateNote {
        key: Tmpl,
        body: Tmpl,
    },
    DeleteNote(Tmpl),
    AddToCampaign(Tmpl),
    RemoveFromCampaign(Tmpl),
    AddToWorkflow {
        workflow_id: Tmpl,
        event_start_time: Option<Tmpl>,
    },
    RemoveFromWorkflow(Tmpl),
}

/// Which rule is being compiled, for ids, template names and errors.
#[derive(Clone)]
struct RuleCtx {
    /// `None` for the connection's defaults.
    index: Option<usize>,
    name: Option<String>,
    label: Option<String>,
    loc: SourceLoc,
}

struct Compiler {
    env: minijinja::Environment<'static>,
    tz: TimeZone,
    source: Source,
    errors: Vec<RuleError>,
}

/// Validates and compiles a connection: its defaults, its rules and (unless `playbook: none`)
/// its storefront's default playbook. All problems are reported, each with its rule and
/// place.
pub fn compile(spec: &ConnectionSpec) -> Result<CompiledConnection, Vec<RuleError>> {
    let mut errors = Vec::new();
    let tz = match &spec.timezone {
        None => TimeZone::UTC,
        Some(name) => match jiff::tz::db().get(name) {
            Ok(tz) => tz,
            Err(e) => {
                errors.push(RuleError {
                    rule: None,
                    index: None,
                    name: None,
                    loc: name.loc,
                    message: format!("timezone {:?} is not an IANA time zone: {e}", name.value),
                });
                TimeZone::UTC
            }
        },
    };
    let mut c = Compiler {
        env: template::environment(tz.clone()),
        tz: tz.clone(),
        source: spec.source,
        errors,
    };
    let defaults = c.defaults(&spec.defaults);

    let mut rules = Vec::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, r) in spec.rules.iter().enumerate() {
        let ctx = RuleCtx {
            index: Some(i),
            name: r.name.clone(),
            label: Some(label("rules", i, r.name.as_deref())),
            loc: r.loc,
        };
        if let Some(name) = r.name.as_deref() {
            if name.trim().is_empty() {
                c.error(&ctx, r.loc, "a rule's name must not be empty");
            } else if let Some(first) = names.insert(name, i) {
                c.error(
                    &ctx,
                    r.loc,
                    format!(
                        "the name {name:?} is also rules[{first}]'s: rule names must be unique"
                    ),
                );
            }
        }
        let id = match r.name.as_deref() {
            Some(name) => format!("rules/{name}"),
            None => format!("rules/#{i}"),
        };
        if let Some(rule) = c.rule(r, id, ctx) {
            rules.push(rule);
        }
    }
    let own_rules = rules.len();

    if spec.playbook == Playbook::Default {
        match playbooks::rules(spec.source) {
            Ok(book) => {
                for (i, r) in book.rules.iter().enumerate() {
                    let ctx = RuleCtx {
                        index: Some(i),
                        name: r.name.clone(),
                        label: Some(label(
                            &format!("playbook {} rules", spec.source),
                            i,
                            r.name.as_deref(),
                        )),
                        loc: r.loc,
                    };
                    let id = format!(
                        "playbook/{}/{}",
                        spec.source,
                        r.name.clone().unwrap_or_else(|| format!("#{i}"))
                    );
                    if let Some(rule) = c.rule(r, id, ctx) {
                        rules.push(rule);
                    }
                }
            }
            Err(es) => c.errors.extend(es.into_iter().map(|e| RuleError {
                rule: Some(format!("playbook {}", spec.source)),
                index: None,
                name: None,
                loc: SourceLoc {
                    line: e.line,
                    column: e.column,
                },
                message: e.to_string(),
            })),
        }
    }

    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    Ok(CompiledConnection {
        key: spec.key(),
        source: spec.source,
        name: spec.name.clone(),
        location_id: spec.location_id.clone(),
        enabled: spec.enabled,
        timezone: spec.timezone.as_ref().map(|t| t.value.clone()),
        tz,
        own_rules,
        rules,
        defaults,
        env: c.env,
    })
}

fn label(list: &str, i: usize, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{list}[{i}] {n:?}"),
        None => format!("{list}[{i}]"),
    }
}

impl Compiler {
    fn error(&mut self, ctx: &RuleCtx, loc: SourceLoc, message: impl Into<String>) {
        self.errors.push(RuleError {
            rule: ctx.label.clone(),
            index: ctx.index,
            name: ctx.name.clone(),
            loc: if loc.is_known() { loc } else { ctx.loc },
            message: message.into(),
        });
    }

    /// Compiles one template; `path` names it in errors (`steps[1].create_task.title`).
    fn tmpl(&mut self, ctx: &RuleCtx, path: &str, text: &Text) -> Tmpl {
        if !template::is_template(&text.value) {
            return Tmpl::Literal(text.value.clone());
        }
        let name = match &ctx.label {
            Some(label) => format!("{label}.{path}"),
            None => path.to_owned(),
        };
        let added = self
            .env
            .add_template_owned(name.clone(), text.value.clone())
            .and_then(|()| self.dry_run(&name));
        match added {
            Ok(()) => Tmpl::Template {
                name,
                path: path.to_owned(),
            },
            Err(e) => {
                self.error(ctx, text.loc, format!("{path}: {}", describe(&e)));
                // Reported once: later checks see the (non-empty) source.
                Tmpl::Literal(text.value.clone())
            }
        }
    }

    /// Renders a new template without data: filters, tests and functions are only looked up
    /// when they run, so this catches a misspelt one on every path taken with no data.
    fn dry_run(&self, name: &str) -> Result<(), minijinja::Error> {
        use minijinja::ErrorKind::{UnknownFilter, UnknownFunction, UnknownMethod, UnknownTest};
        match self.env.get_template(name)?.render(minijinja::context! {}) {
            Err(e)
                if matches!(
                    e.kind(),
                    UnknownFilter | UnknownTest | UnknownFunction | UnknownMethod
                ) =>
            {
                Err(e)
            }
            _ => Ok(()),
        }
    }

    /// A template that must not be empty when it is plain text.
    fn required(&mut self, ctx: &RuleCtx, path: &str, text: &Text) -> Tmpl {
        let t = self.tmpl(ctx, path, text);
        if t.literal().is_some_and(|s| s.trim().is_empty()) {
            self.error(ctx, text.loc, format!("{path} must not be empty"));
        }
        t
    }

    /// A time: checked now when it is plain text.
    fn time(&mut self, ctx: &RuleCtx, path: &str, text: &Text) -> Tmpl {
        let t = self.tmpl(ctx, path, text);
        if !template::is_template(&text.value)
            && let Some(s) = t.literal()
            && let Err(e) = template::parse_instant(s, &self.tz)
        {
            self.error(ctx, text.loc, format!("{path}: {e}"));
        }
        t
    }

    fn list(&mut self, ctx: &RuleCtx, path: &str, items: &[Text], loc: SourceLoc) -> Vec<Tmpl> {
        if items.is_empty() {
            self.error(ctx, loc, format!("{path} needs at least one entry"));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, t)| self.required(ctx, &format!("{path}[{i}]"), t))
            .collect()
    }

    fn identity(&mut self, ctx: &RuleCtx, path: &str, id: &Located<Identity>) -> IdentityC {
        match &id.value {
            Identity::EmailOrPhone => IdentityC::EmailOrPhone,
            Identity::Email => IdentityC::Email,
            Identity::Phone => IdentityC::Phone,
            Identity::ExternalId { field, value } => {
                if field.trim().is_empty() {
                    self.error(
                        ctx,
                        id.loc,
                        format!("{path}: external_id needs a field key"),
                    );
                }
                let value = match value {
                    Some(v) => self.required(ctx, &format!("{path}.external_id.value"), v),
                    None => self.tmpl(
                        ctx,
                        &format!("{path}.external_id.value"),
                        &Text::from("{{ customer.external_id }}"),
                    ),
                };
                IdentityC::ExternalId {
                    field: field.trim().to_owned(),
                    value,
                }
            }
        }
    }

    fn fields(
        &mut self,
        ctx: &RuleCtx,
        path: &str,
        fields: &BTreeMap<ContactField, Text>,
    ) -> Vec<(ContactField, Tmpl)> {
        fields
            .iter()
            .map(|(f, t)| {
                let name = serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (*f, self.tmpl(ctx, &format!("{path}.{name}"), t))
            })
            .collect()
    }

    fn custom_fields(
        &mut self,
        ctx: &RuleCtx,
        path: &str,
        fields: &BTreeMap<String, Text>,
    ) -> Vec<(String, Tmpl)> {
        fields
            .iter()
            .map(|(k, t)| {
                if k.trim().is_empty() {
                    self.error(ctx, t.loc, format!("{path}: a custom field key is empty"));
                }
                (
                    k.trim().to_owned(),
                    self.tmpl(ctx, &format!("{path}.{k}"), t),
                )
            })
            .collect()
    }

    fn defaults(&mut self, d: &Defaults) -> CompiledDefaults {
        let ctx = RuleCtx {
            index: None,
            name: None,
            label: None,
            loc: SourceLoc::UNKNOWN,
        };
        let identity = match &d.identity {
            Some(id) => self.identity(&ctx, "defaults.identity", id),
            None => IdentityC::EmailOrPhone,
        };
        let tags = d
            .tags
            .iter()
            .enumerate()
            .map(|(i, t)| self.required(&ctx, &format!("defaults.tags[{i}]"), t))
            .collect();
        let fields = self.fields(&ctx, "defaults.fields", &d.fields);
        let custom_fields = self.custom_fields(&ctx, "defaults.custom_fields", &d.custom_fields);
        let assigned_to = d
            .assigned_to
            .as_ref()
            .map(|t| self.required(&ctx, "defaults.assigned_to", t));
        let task_due_days = match &d.task_due_in_days {
            None => DEFAULT_TASK_DUE_DAYS,
            Some(n) if (0..=3650).contains(&n.value) => n.value,
            Some(n) => {
                self.error(
                    &ctx,
                    n.loc,
                    format!(
                        "defaults.task_due_in_days must be between 0 and 3650 (is {})",
                        n.value
                    ),
                );
                DEFAULT_TASK_DUE_DAYS
            }
        };
        CompiledDefaults {
            identity,
            tags,
            fields,
            custom_fields,
            assigned_to,
            task_due_days,
            vars: d.vars.clone(),
        }
    }

    fn rule(&mut self, r: &RuleSpec, id: String, ctx: RuleCtx) -> Option<Rule> {
        let errors_before = self.errors.len();
        let matcher = self.matcher(&ctx, r);
        let identity = r
            .contact
            .identity
            .as_ref()
            .map(|i| self.identity(&ctx, "contact.identity", i));
        let fields = self.fields(&ctx, "contact.fields", &r.contact.fields);
        let custom_fields =
            self.custom_fields(&ctx, "contact.custom_fields", &r.contact.custom_fields);
        if r.steps.is_empty() && r.then == Then::Continue {
            self.error(
                &ctx,
                r.loc,
                "this rule does nothing: give it steps, or `then: stop` to skip the events it matches",
            );
        }
        let steps = r
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| self.step(&ctx, i, s))
            .collect();
        if !r.enabled || self.errors.len() > errors_before {
            return None;
        }
        Some(Rule {
            id,
            label: ctx.label.clone().unwrap_or_default(),
            name: r.name.clone(),
            then: r.then,
            per_product: r.for_each == Some(ForEach::Product),
            matcher,
            identity,
            fields,
            custom_fields,
            steps,
        })
    }

    fn globs(
        &mut self,
        ctx: &RuleCtx,
        path: &str,
        patterns: &[String],
        loc: SourceLoc,
        ignore_case: bool,
    ) -> Vec<Glob> {
        if patterns.is_empty() {
            self.error(ctx, loc, format!("{path} needs at least one pattern"));
        }
        patterns
            .iter()
            .filter_map(|p| match Glob::new(p, ignore_case) {
                Ok(g) => Some(g),
                Err(e) => {
                    self.error(ctx, loc, format!("{path}: bad pattern: {e}"));
                    None
                }
            })
            .collect()
    }

    fn matcher(&mut self, ctx: &RuleCtx, r: &RuleSpec) -> Matcher {
        let m = &r.matches;
        let mut out = Matcher {
            test: m.test,
            ..Matcher::default()
        };
        if let Some(sources) = &m.source {
            let list = sources.as_slice().to_vec();
            if !list.contains(&self.source) {
                self.error(
                    ctx,
                    sources.loc,
                    format!(
                        "match.source can never hold: this connection's source is {}",
                        self.source
                    ),
                );
            }
            out.sources = Some(list);
        }
        if let Some(kinds) = &m.kind {
            let mut found = Vec::new();
            for p in kinds.as_slice() {
                let g = match Glob::new(p, false) {
                    Ok(g) => g,
                    Err(e) => {
                        self.error(ctx, kinds.loc, format!("match.kind: bad pattern: {e}"));
                        continue;
                    }
                };
                let hits: Vec<EventKind> = EventKind::ALL
                    .iter()
                    .copied()
                    .filter(|k| g.matches(k.as_str()))
                    .collect();
                if hits.is_empty() {
                    let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                    let what = if g.is_literal() {
                        "is not an event kind"
                    } else {
                        "matches no event kind"
                    };
                    self.error(
                        ctx,
                        kinds.loc,
                        format!("match.kind: {p:?} {what} (kinds: {})", known.join(", ")),
                    );
                }
                found.extend(hits);
            }
            if kinds.as_slice().is_empty() {
                self.error(ctx, kinds.loc, "match.kind needs at least one kind");
            }
            out.kinds = Some(found);
        }
        if let Some(p) = &m.source_event {
            out.source_events =
                Some(self.globs(ctx, "match.source_event", p.as_slice(), p.loc, false));
        }
        if let Some(p) = &m.product_id {
            out.product_ids = Some(self.globs(ctx, "match.product_id", p.as_slice(), p.loc, false));
        }
        if let Some(p) = &m.product_name {
            out.product_names =
                Some(self.globs(ctx, "match.product_name", p.as_slice(), p.loc, true));
        }
        if let Some(a) = &m.amount {
            match (a.min, a.max) {
                (None, None) => self.error(ctx, a.loc, "match.amount needs a min, a max or both"),
                (Some(lo), Some(hi)) if lo > hi => self.error(
                    ctx,
                    a.loc,
                    format!("match.amount: min {lo} is greater than max {hi}"),
                ),
                _ => {}
            }
            out.amount = Some((a.min, a.max));
        }
        if let Some(c) = &m.currency {
            let mut list = Vec::new();
            for code in c.as_slice() {
                if code.len() != 3 || !code.chars().all(|ch| ch.is_ascii_alphabetic()) {
                    self.error(
                        ctx,
                        c.loc,
                        format!("match.currency: {code:?} is not an ISO 4217 code (EUR, USD, ...)"),
                    );
                }
                list.push(code.to_ascii_uppercase());
            }
            if list.is_empty() {
                self.error(ctx, c.loc, "match.currency needs at least one currency");
            }
            out.currencies = Some(list);
        }
        for (path, test) in &m.attributes {
            let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
            if segments.iter().any(|s| s.trim().is_empty()) {
                self.error(
                    ctx,
                    test.loc,
                    format!("match.attributes: {path:?} is not a dotted path (`a.b.0`)"),
                );
                continue;
            }
            let compiled = match &test.value {
                AttributeTest::Equals(v) => AttrTest::Equals(v.clone()),
                AttributeTest::Exists(b) => AttrTest::Exists(*b),
                AttributeTest::OneOf(vs) => {
                    if vs.is_empty() {
                        self.error(
                            ctx,
                            test.loc,
                            format!("match.attributes.{path}: `in` needs at least one value"),
                        );
                    }
                    AttrTest::OneOf(vs.clone())
                }
                AttributeTest::Glob(p) => match Glob::new(p, false) {
                    Ok(g) => AttrTest::Glob(g),
                    Err(e) => {
                        self.error(
                            ctx,
                            test.loc,
                            format!("match.attributes.{path}: bad pattern: {e}"),
                        );
                        continue;
                    }
                },
            };
            out.attributes.push((segments, compiled));
        }
        if let Some(when) = &m.when {
            if let Err(e) = self.env.compile_expression_owned(when.value.clone()) {
                self.error(ctx, when.loc, format!("match.when: {}", describe(&e)));
            } else {
                let wrapped = Text::at(
                    format!("{{% if ({}) %}}1{{% endif %}}", when.value),
                    when.loc,
                );
                out.when = Some(self.tmpl(ctx, "match.when", &wrapped));
            }
        }
        out
    }

    fn step(&mut self, ctx: &RuleCtx, i: usize, s: &Located<StepSpec>) -> StepC {
        let path = format!("steps[{i}].{}", s.action());
        let p = |field: &str| format!("{path}.{field}");
        match &s.value {
            StepSpec::UpsertContact => StepC::Fixed(Step::UpsertContact),
            StepSpec::CreateContact => StepC::Fixed(Step::CreateContact),
            StepSpec::UpdateContact => StepC::Fixed(Step::UpdateContact),
            StepSpec::DeleteContact => StepC::Fixed(Step::DeleteContact),
            StepSpec::FindContact => StepC::Fixed(Step::FindContact),
            StepSpec::RemoveFromAllCampaigns => StepC::Fixed(Step::RemoveFromAllCampaigns),
            StepSpec::AddTags(tags) => StepC::AddTags(self.list(ctx, &path, tags, s.loc)),
            StepSpec::RemoveTags(tags) => StepC::RemoveTags(self.list(ctx, &path, tags, s.loc)),
            StepSpec::AddFollowers(f) => StepC::AddFollowers(self.list(ctx, &path, f, s.loc)),
            StepSpec::RemoveFollowers(f) => StepC::RemoveFollowers(self.list(ctx, &path, f, s.loc)),
            StepSpec::CreateTask(t) => StepC::CreateTask {
                key: t.key.as_ref().map(|k| self.required(ctx, &p("key"), k)),
                title: self.required(ctx, &p("title"), &t.title),
                body: t.body.as_ref().map(|b| self.tmpl(ctx, &p("body"), b)),
                due: t.due.as_ref().map(|d| self.time(ctx, &p("due"), d)),
                assigned_to: t
                    .assigned_to
                    .as_ref()
                    .map(|a| self.tmpl(ctx, &p("assigned_to"), a)),
            },
            StepSpec::UpdateTask(t) => {
                if t.title.is_none() && t.body.is_none() && t.due.is_none() {
                    self.error(
                        ctx,
                        s.loc,
                        format!("{path} changes nothing: give it a title, body or due"),
                    );
                }
                StepC::UpdateTask {
                    key: self.required(ctx, &p("key"), &t.key),
                    title: t.title.as_ref().map(|x| self.tmpl(ctx, &p("title"), x)),
                    body: t.body.as_ref().map(|x| self.tmpl(ctx, &p("body"), x)),
                    due: t.due.as_ref().map(|x| self.time(ctx, &p("due"), x)),
                }
            }
            StepSpec::CompleteTask(k) => StepC::CompleteTask(self.required(ctx, &p("key"), &k.key)),
            StepSpec::DeleteTask(k) => StepC::DeleteTask(self.required(ctx, &p("key"), &k.key)),
            StepSpec::DeleteNote(k) => StepC::DeleteNote(self.required(ctx, &p("key"), &k.key)),
            StepSpec::CreateNote(n) => StepC::CreateNote {
                key: n.key.as_ref().map(|k| self.required(ctx, &p("key"), k)),
                body: self.required(ctx, &p("body"), &n.body),
            },
            StepSpec::UpdateNote(n) => StepC::UpdateNote {
                key: self.required(ctx, &p("key"), &n.key),
                body: self.required(ctx, &p("body"), &n.body),
            },
            StepSpec::AddToCampaign(c) => {
                StepC::AddToCampaign(self.required(ctx, &p("campaign_id"), &c.campaign_id))
            }
            StepSpec::RemoveFromCampaign(c) => {
                StepC::RemoveFromCampaign(self.required(ctx, &p("campaign_id"), &c.campaign_id))
            }
            StepSpec::AddToWorkflow(w) => StepC::AddToWorkflow {
                workflow_id: self.required(ctx, &p("workflow_id"), &w.workflow_id),
                event_start_time: w
                    .event_start_time
                    .as_ref()
                    .map(|t| self.time(ctx, &p("event_start_time"), t)),
            },
            StepSpec::RemoveFromWorkflow(w) => {
                if let Some(t) = &w.event_start_time {
                    self.error(
                        ctx,
                        t.loc,
                        format!("{path}: event_start_time applies to add_to_workflow only"),
                    );
                }
                StepC::RemoveFromWorkflow(self.required(ctx, &p("workflow_id"), &w.workflow_id))
            }
        }
    }
}

/// A minijinja error as one line: kind, detail and the template line when not the first.
pub(crate) fn describe(e: &minijinja::Error) -> String {
    let mut s = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line().filter(|l| *l > 1) {
        s.push_str(&format!(" (template line {line})"));
    }
    s
}
