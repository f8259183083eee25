//! Mapping one event under a compiled connection: match, render, group into plans.

use std::collections::BTreeMap;

use jiff::{Timestamp, ToSpan};
use minijinja::value::{Serde, Value};
use relay_contracts::connection::{ContactField, Then};
use relay_contracts::event::{Money, StorefrontEvent};
use relay_contracts::ids::PlanId;
use relay_contracts::plan::{ContactFields, ContactPlan, ContactSpec, Lookup, Step};
use relay_contracts::version::V1;
use serde::Serialize;
use serde_json::Value as Json;

use super::compile::{AttrTest, IdentityC, Matcher, Rule, StepC, describe};
use super::template::{Tmpl, parse_instant};
use super::{CompiledConnection, MapError};

/// A product of the event, as rules and templates see it.
#[derive(Clone, Debug, Serialize)]
struct Product {
    id: Option<String>,
    name: Option<String>,
    quantity: u32,
    amount: Option<Money>,
}

/// What one matched rule contributes.
struct RuleOutput {
    rule_id: String,
    lookup: Lookup,
    /// The standard mapping with the connection's default fields.
    base: ContactFields,
    /// The rule's own fields (`None`: rendered empty, so unset), applied over every base.
    overrides: Vec<(ContactField, Option<String>)>,
    custom_fields: BTreeMap<String, Json>,
    steps: Vec<Step>,
}

/// The per-event state shared by every rule.
struct EventCtx<'a> {
    event: &'a StorefrontEvent,
    products: Vec<Product>,
    amount: Option<(i64, String)>,
    base: Value,
}

impl CompiledConnection {
    /// The plans `event` produces under this connection's rules, in publish order: empty when
    /// no rule matched (or the connection is disabled). Pure: the same event always gives the
    /// same plans.
    pub fn plans(&self, event: &StorefrontEvent) -> Result<Vec<ContactPlan>, MapError> {
        if !self.enabled {
            return Ok(Vec::new());
        }
        let ctx = self.event_ctx(event);
        let mut outputs: Vec<RuleOutput> = Vec::new();
        for rule in &self.rules {
            let Some(products) = self.matches(rule, &ctx)? else {
                continue;
            };
            if let Some(out) = self.apply(rule, &ctx, &products)? {
                outputs.push(out);
            }
            if rule.then == Then::Stop {
                break;
            }
        }
        if outputs.is_empty() {
            return Ok(Vec::new());
        }
        let mut default_tags = Vec::new();
        for t in &self.defaults.tags {
            let v = self.render("defaults", t, &ctx.base)?;
            if !v.is_empty() && !default_tags.contains(&v) {
                default_tags.push(v);
            }
        }
        Ok(self.group(event, outputs, &default_tags))
    }

    fn event_ctx<'a>(&self, event: &'a StorefrontEvent) -> EventCtx<'a> {
        let products = products(event);
        let amount = match event.order.as_ref().and_then(|o| o.total.as_ref()) {
            Some(m) => Some((m.minor, m.currency.to_ascii_uppercase())),
            None => {
                let minor = event.attributes.get("amount_minor").and_then(Json::as_i64);
                let currency = event
                    .attributes
                    .get("currency")
                    .and_then(Json::as_str)
                    .map(str::to_ascii_uppercase);
                minor.zip(currency)
            }
        };
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        if let Ok(Json::Object(fields)) = serde_json::to_value(event) {
            for (k, v) in fields {
                map.insert(k, Value::from(Serde(v)));
            }
        }
        map.entry("attributes".into())
            .or_insert_with(|| Value::from(BTreeMap::<String, Value>::new()));
        // The event as a whole too (`event.connection` is the connection's name).
        map.insert("event".into(), Value::from(map.clone()));
        map.insert(
            "connection".into(),
            Value::from(Serde(serde_json::json!({
                "name": self.name.as_str(),
                "source": self.source.as_str(),
                "location_id": self.location_id.as_str(),
                "timezone": self.timezone.as_deref().unwrap_or("UTC"),
                "key": self.key,
            }))),
        );
        map.insert("vars".into(), Value::from(Serde(&self.defaults.vars)));
        map.insert("products".into(), Value::from(Serde(&products)));
        EventCtx {
            event,
            products,
            amount,
            base: Value::from(map),
        }
    }

    /// `Some(products the rule's product conditions accept)` when the rule matches.
    fn matches(&self, rule: &Rule, ctx: &EventCtx<'_>) -> Result<Option<Vec<Product>>, MapError> {
        let Some(products) = self.matched_products(rule, ctx) else {
            return Ok(None);
        };
        let Some(when) = &rule.matcher.when else {
            return Ok(Some(products));
        };
        let rctx = rule_ctx(ctx, rule, products.first());
        match self.render_raw(when, &rctx) {
            Ok(s) => Ok((s.trim() == "1").then_some(products)),
            // A runaway condition or one calling what does not exist fails the event (the rule
            // needs fixing); any other error (comparing missing data, say) means the
            // condition does not hold.
            Err(e)
                if matches!(
                    e.kind(),
                    minijinja::ErrorKind::OutOfFuel
                        | minijinja::ErrorKind::UnknownMethod
                        | minijinja::ErrorKind::UnknownFilter
                        | minijinja::ErrorKind::UnknownTest
                        | minijinja::ErrorKind::UnknownFunction
                ) =>
            {
                Err(MapError::Template {
                    rule: rule.label.clone(),
                    template: "match.when".into(),
                    message: describe(&e),
                })
            }
            Err(_) => Ok(None),
        }
    }

    fn matched_products(&self, rule: &Rule, ctx: &EventCtx<'_>) -> Option<Vec<Product>> {
        let m: &Matcher = &rule.matcher;
        let e = ctx.event;
        if m.sources.as_ref().is_some_and(|s| !s.contains(&e.source))
            || m.kinds.as_ref().is_some_and(|k| !k.contains(&e.kind))
            || m.test.is_some_and(|t| t != e.test)
            || m.source_events
                .as_ref()
                .is_some_and(|g| !g.iter().any(|g| g.matches(&e.source_event)))
        {
            return None;
        }
        if let Some((lo, hi)) = m.amount {
            let (minor, _) = ctx.amount.as_ref()?;
            if lo.is_some_and(|lo| *minor < lo) || hi.is_some_and(|hi| *minor > hi) {
                return None;
            }
        }
        if let Some(codes) = &m.currencies {
            let (_, currency) = ctx.amount.as_ref()?;
            if !codes.contains(currency) {
                return None;
            }
        }
        for (path, test) in &m.attributes {
            if !attribute_holds(lookup(&e.attributes, path), test) {
                return None;
            }
        }
        let products: Vec<Product> = if m.product_ids.is_some() || m.product_names.is_some() {
            let accepted: Vec<Product> = ctx
                .products
                .iter()
                .filter(|p| {
                    let id_ok = m.product_ids.as_ref().is_none_or(|globs| {
                        p.id.as_deref()
                            .is_some_and(|id| globs.iter().any(|g| g.matches(id)))
                    });
                    let name_ok = m.product_names.as_ref().is_none_or(|globs| {
                        p.name
                            .as_deref()
                            .is_some_and(|n| globs.iter().any(|g| g.matches(n)))
                    });
                    id_ok && name_ok
                })
                .cloned()
                .collect();
            if accepted.is_empty() {
                return None;
            }
            accepted
        } else {
            ctx.products.clone()
        };
        Some(products)
    }

    fn render_raw(&self, t: &Tmpl, ctx: &Value) -> Result<String, minijinja::Error> {
        match t {
            Tmpl::Literal(s) => Ok(s.clone()),
            Tmpl::Template { name, .. } => self.env.get_template(name)?.render(ctx),
        }
    }

    fn render(&self, rule: &str, t: &Tmpl, ctx: &Value) -> Result<String, MapError> {
        self.render_raw(t, ctx)
            .map(|s| s.trim().to_owned())
            .map_err(|e| MapError::Template {
                rule: rule.to_owned(),
                template: t.path().to_owned(),
                message: describe(&e),
            })
    }

    fn render_opt(
        &self,
        rule: &str,
        t: Option<&Tmpl>,
        ctx: &Value,
    ) -> Result<Option<String>, MapError> {
        match t {
            None => Ok(None),
            Some(t) => Ok(Some(self.render(rule, t, ctx)?).filter(|s| !s.is_empty())),
        }
    }

    fn apply(
        &self,
        rule: &Rule,
        ctx: &EventCtx<'_>,
        products: &[Product],
    ) -> Result<Option<RuleOutput>, MapError> {
        if rule.steps.is_empty() {
            return Ok(None);
        }
        let label = rule.label.as_str();
        let first = rule_ctx(ctx, rule, products.first());

        // The contact: the standard mapping, the connection's defaults, the rule's own.
        let mut base = standard_fields(ctx.event);
        for (field, t) in &self.defaults.fields {
            let v = self.render(label, t, &first)?;
            *field_mut(&mut base, *field) = (!v.is_empty()).then_some(v);
        }
        let mut overrides = Vec::with_capacity(rule.fields.len());
        for (field, t) in &rule.fields {
            let v = self.render(label, t, &first)?;
            overrides.push((*field, (!v.is_empty()).then_some(v)));
        }
        let mut fields = base.clone();
        for (field, v) in &overrides {
            *field_mut(&mut fields, *field) = v.clone();
        }
        let mut custom_fields = BTreeMap::new();
        for (key, t) in self
            .defaults
            .custom_fields
            .iter()
            .chain(&rule.custom_fields)
        {
            let v = self.render(label, t, &first)?;
            if v.is_empty() {
                custom_fields.remove(key);
            } else {
                custom_fields.insert(key.clone(), Json::from(v));
            }
        }
        let no_identity = |identity: &str| MapError::NoIdentity {
            rule: label.to_owned(),
            event_id: ctx.event.id.to_string(),
            kind: ctx.event.kind,
            identity: identity.to_owned(),
        };
        let lookup = match rule.identity.as_ref().unwrap_or(&self.defaults.identity) {
            IdentityC::EmailOrPhone => {
                if fields.email.is_none() && fields.phone.is_none() {
                    return Err(no_identity("email or phone"));
                }
                Lookup::EmailOrPhone
            }
            IdentityC::Email => {
                if fields.email.is_none() {
                    return Err(no_identity("email"));
                }
                Lookup::EmailOrPhone
            }
            IdentityC::Phone => {
                if fields.phone.is_none() {
                    return Err(no_identity("phone"));
                }
                Lookup::EmailOrPhone
            }
            IdentityC::ExternalId { field, value } => {
                let v = self.render(label, value, &first)?;
                if v.is_empty() {
                    return Err(no_identity(&format!("external id (custom field {field})")));
                }
                custom_fields.insert(field.clone(), Json::from(v.clone()));
                Lookup::ExternalId {
                    field_key: field.clone(),
                    value: v,
                }
            }
        };

        // The steps: once, or once per product.
        let iterations: Vec<(Option<usize>, Value)> = if rule.per_product {
            products
                .iter()
                .enumerate()
                .map(|(i, p)| (Some(i), rule_ctx(ctx, rule, Some(p))))
                .collect()
        } else {
            vec![(None, first)]
        };
        let mut steps = Vec::new();
        for (iteration, rctx) in &iterations {
            for (i, step) in rule.steps.iter().enumerate() {
                let default_key = || match iteration {
                    Some(n) => format!("{}:{i}:{n}:{}", rule.id, ctx.event.id),
                    None => format!("{}:{i}:{}", rule.id, ctx.event.id),
                };
                if let Some(s) = self.step(rule, step, rctx, ctx, default_key)? {
                    steps.push(s);
                }
            }
        }
        if steps.is_empty() {
            return Ok(None);
        }
        Ok(Some(RuleOutput {
            rule_id: rule.id.clone(),
            lookup,
            base,
            overrides,
            custom_fields,
            steps,
        }))
    }

    fn list(&self, rule: &str, items: &[Tmpl], ctx: &Value) -> Result<Vec<String>, MapError> {
        let mut out: Vec<String> = Vec::new();
        for t in items {
            let v = self.render(rule, t, ctx)?;
            if !v.is_empty() && !out.contains(&v) {
                out.push(v);
            }
        }
        Ok(out)
    }

    fn step_key(
        &self,
        rule: &str,
        t: Option<&Tmpl>,
        ctx: &Value,
        default: impl FnOnce() -> String,
    ) -> Result<String, MapError> {
        match t {
            None => Ok(default()),
            Some(t) => {
                let k = self.render(rule, t, ctx)?;
                if k.is_empty() {
                    return Err(MapError::InvalidValue {
                        rule: rule.to_owned(),
                        what: "key".into(),
                        value: k,
                        reason: "a task or note key must not be empty".into(),
                    });
                }
                Ok(k)
            }
        }
    }

    /// A rendered time as RFC 3339 UTC; `None` when it rendered empty.
    fn time(
        &self,
        rule: &str,
        what: &str,
        t: &Tmpl,
        ctx: &Value,
    ) -> Result<Option<String>, MapError> {
        let s = self.render(rule, t, ctx)?;
        parse_instant(&s, &self.tz)
            .map(|t| t.map(|t| t.to_string()))
            .map_err(|reason| MapError::InvalidValue {
                rule: rule.to_owned(),
                what: what.to_owned(),
                value: s,
                reason,
            })
    }

    fn step(
        &self,
        rule: &Rule,
        step: &StepC,
        rctx: &Value,
        ctx: &EventCtx<'_>,
        default_key: impl FnOnce() -> String,
    ) -> Result<Option<Step>, MapError> {
        let label = rule.label.as_str();
        let required = |t: &Tmpl| -> Result<Option<String>, MapError> {
            Ok(Some(self.render(label, t, rctx)?).filter(|s| !s.is_empty()))
        };
        Ok(match step {
            StepC::Fixed(s) => Some(s.clone()),
            StepC::AddTags(t) => Some(self.list(label, t, rctx)?)
                .filter(|l| !l.is_empty())
                .map(|tags| Step::AddTags { tags }),
            StepC::RemoveTags(t) => Some(self.list(label, t, rctx)?)
                .filter(|l| !l.is_empty())
                .map(|tags| Step::RemoveTags { tags }),
            StepC::AddFollowers(t) => Some(self.list(label, t, rctx)?)
                .filter(|l| !l.is_empty())
                .map(|followers| Step::AddFollowers { followers }),
            StepC::RemoveFollowers(t) => Some(self.list(label, t, rctx)?)
                .filter(|l| !l.is_empty())
                .map(|followers| Step::RemoveFollowers { followers }),
            StepC::CreateTask {
                key,
                title,
                body,
                due,
                assigned_to,
            } => {
                let Some(title) = required(title)? else {
                    return Ok(None);
                };
                let due_date = match due {
                    Some(t) => self.time(label, "due", t, rctx)?,
                    None => None,
                };
                let due_date = match due_date {
                    Some(d) => d,
                    None => self.default_due(ctx.event),
                };
                let assigned_to = match assigned_to {
                    Some(t) => self.render_opt(label, Some(t), rctx)?,
                    None => None,
                };
                let assigned_to = match assigned_to {
                    Some(a) => Some(a),
                    None => self.render_opt(label, self.defaults.assigned_to.as_ref(), rctx)?,
                };
                Some(Step::CreateTask {
                    key: self.step_key(label, key.as_ref(), rctx, default_key)?,
                    title,
                    body: self.render_opt(label, body.as_ref(), rctx)?,
                    due_date,
                    assigned_to,
                })
            }
            StepC::UpdateTask {
                key,
                title,
                body,
                due,
            } => {
                let title = self.render_opt(label, title.as_ref(), rctx)?;
                let body = self.render_opt(label, body.as_ref(), rctx)?;
                let due_date = match due {
                    Some(t) => self.time(label, "due", t, rctx)?,
                    None => None,
                };
                if title.is_none() && body.is_none() && due_date.is_none() {
                    None
                } else {
                    Some(Step::UpdateTask {
                        key: self.step_key(label, Some(key), rctx, default_key)?,
                        title,
                        body,
                        due_date,
                    })
                }
            }
            StepC::CompleteTask(k) => Some(Step::CompleteTask {
                key: self.step_key(label, Some(k), rctx, default_key)?,
            }),
            StepC::DeleteTask(k) => Some(Step::DeleteTask {
                key: self.step_key(label, Some(k), rctx, default_key)?,
            }),
            StepC::CreateNote { key, body } => match required(body)? {
                None => None,
                Some(body) => Some(Step::CreateNote {
                    key: self.step_key(label, key.as_ref(), rctx, default_key)?,
                    body,
                }),
            },
            StepC::UpdateNote { key, body } => match required(body)? {
                None => None,
                Some(body) => Some(Step::UpdateNote {
                    key: self.step_key(label, Some(key), rctx, default_key)?,
                    body,
                }),
            },
            StepC::DeleteNote(k) => Some(Step::DeleteNote {
                key: self.step_key(label, Some(k), rctx, default_key)?,
            }),
            StepC::AddToCampaign(t) => {
                required(t)?.map(|campaign_id| Step::AddToCampaign { campaign_id })
            }
            StepC::RemoveFromCampaign(t) => {
                required(t)?.map(|campaign_id| Step::RemoveFromCampaign { campaign_id })
            }
            StepC::AddToWorkflow {
                workflow_id,
                event_start_time,
            } => match required(workflow_id)? {
                None => None,
                Some(workflow_id) => {
                    let event_start_time = match event_start_time {
                        Some(t) => self.time(label, "event_start_time", t, rctx)?,
                        None => None,
                    };
                    Some(Step::AddToWorkflow {
                        workflow_id,
                        event_start_time,
                    })
                }
            },
            StepC::RemoveFromWorkflow(t) => {
                required(t)?.map(|workflow_id| Step::RemoveFromWorkflow { workflow_id })
            }
        })
    }

    /// The event's time plus the connection's `task_due_in_days`, in its time zone.
    fn default_due(&self, event: &StorefrontEvent) -> String {
        let at = Timestamp::from_nanosecond(event.occurred_at.unix_timestamp_nanos())
            .unwrap_or(Timestamp::UNIX_EPOCH);
        at.to_zoned(self.tz.clone())
            .checked_add(self.defaults.task_due_days.days())
            .map(|z| z.timestamp())
            .unwrap_or(at)
            .to_string()
    }

    /// One plan per contact: outputs with the same lookup merge, in order of first
    /// appearance. A plan upserts once (first), adds the connection's default tags after its
    /// upsert/create, and merges adjacent tag steps.
    fn group(
        &self,
        event: &StorefrontEvent,
        outputs: Vec<RuleOutput>,
        default_tags: &[String],
    ) -> Vec<ContactPlan> {
        struct Group {
            rule_ids: Vec<String>,
            contact: ContactSpec,
            overrides: Vec<(ContactField, Option<String>)>,
            steps: Vec<Step>,
        }
        let mut groups: Vec<Group> = Vec::new();
        for out in outputs {
            match groups.iter_mut().find(|g| g.contact.lookup == out.lookup) {
                Some(g) => {
                    g.rule_ids.push(out.rule_id);
                    g.overrides.extend(out.overrides);
                    g.contact.custom_fields.extend(out.custom_fields);
                    g.steps.extend(out.steps);
                }
                None => groups.push(Group {
                    rule_ids: vec![out.rule_id],
                    contact: ContactSpec {
                        lookup: out.lookup,
                        fields: out.base,
                        custom_fields: out.custom_fields,
                    },
                    overrides: out.overrides,
                    steps: out.steps,
                }),
            }
        }
        // Every rule's own fields, in rule order, over the standard mapping.
        for g in &mut groups {
            for (field, v) in g.overrides.drain(..) {
                *field_mut(&mut g.contact.fields, field) = v;
            }
        }
        groups
            .into_iter()
            .map(|g| {
                let mut parts: Vec<&str> = vec![event.id.as_str()];
                parts.extend(g.rule_ids.iter().map(String::as_str));
                ContactPlan {
                    v: V1,
                    id: PlanId::derive(&parts),
                    location_id: self.location_id.clone(),
                    connection: format!("{}/{}", self.source, self.name),
                    source_event_id: event.id.clone(),
                    contact: g.contact,
                    steps: arrange(g.steps, default_tags),
                }
            })
            .collect()
    }
}

/// Upsert first (once), default tags after the upsert/create, adjacent tag steps merged.
fn arrange(steps: Vec<Step>, default_tags: &[String]) -> Vec<Step> {
    let upsert = steps.contains(&Step::UpsertContact);
    let mut out: Vec<Step> = Vec::with_capacity(steps.len() + 2);
    if upsert {
        out.push(Step::UpsertContact);
        if !default_tags.is_empty() {
            out.push(Step::AddTags {
                tags: default_tags.to_vec(),
            });
        }
    }
    let mut created = false;
    for s in steps {
        if s == Step::UpsertContact {
            continue;
        }
        let is_create = s == Step::CreateContact;
        push_merged(&mut out, s);
        if is_create && !upsert && !created && !default_tags.is_empty() {
            created = true;
            push_merged(
                &mut out,
                Step::AddTags {
                    tags: default_tags.to_vec(),
                },
            );
        }
    }
    out
}

/// Appends `s`, merging a tag step into the nearest earlier step of the same kind when only
/// tag steps of the other kind with other tags lie between (adding and removing different tags
/// commute), so a plan makes as few tag calls as it can.
fn push_merged(out: &mut Vec<Step>, s: Step) {
    let (adding, new_tags) = match &s {
        Step::AddTags { tags } => (true, tags),
        Step::RemoveTags { tags } => (false, tags),
        _ => {
            out.push(s);
            return;
        }
    };
    for step in out.iter_mut().rev() {
        let (is_add, tags) = match step {
            Step::AddTags { tags } => (true, tags),
            Step::RemoveTags { tags } => (false, tags),
            _ => break,
        };
        if is_add == adding {
            for t in new_tags {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
            return;
        }
        if tags.iter().any(|t| new_tags.contains(t)) {
            break;
        }
    }
    out.push(s);
}

/// The rule-level template context: the event's, plus `product` and `rule`.
fn rule_ctx(ctx: &EventCtx<'_>, rule: &Rule, product: Option<&Product>) -> Value {
    minijinja::context! {
        product => product.map(Serde),
        rule => minijinja::context! { id => rule.id.as_str(), name => rule.name.as_deref() },
        ..ctx.base.clone()
    }
}

/// The order's items, else the products the attributes name (`product_ids`/`product_names`
/// lists, or `product_id`/`product_name`).
fn products(event: &StorefrontEvent) -> Vec<Product> {
    if let Some(order) = &event.order
        && !order.items.is_empty()
    {
        return order
            .items
            .iter()
            .map(|i| Product {
                id: i.product_id.clone(),
                name: i.product_name.clone(),
                quantity: i.quantity,
                amount: i.amount.clone(),
            })
            .collect();
    }
    let text = |v: &Json| match v {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let a = &event.attributes;
    let list = |key: &str| -> Vec<Option<String>> {
        match a.get(key) {
            Some(Json::Array(items)) => items.iter().map(text).collect(),
            _ => Vec::new(),
        }
    };
    let (ids, names) = (list("product_ids"), list("product_names"));
    if !ids.is_empty() || !names.is_empty() {
        return (0..ids.len().max(names.len()))
            .map(|i| Product {
                id: ids.get(i).cloned().flatten(),
                name: names.get(i).cloned().flatten(),
                quantity: 1,
                amount: None,
            })
            .collect();
    }
    let id = a.get("product_id").and_then(text);
    let name = a.get("product_name").and_then(text);
    if id.is_some() || name.is_some() {
        return vec![Product {
            id,
            name,
            quantity: 1,
            amount: None,
        }];
    }
    Vec::new()
}

/// The standard mapping of the event's customer to contact fields.
fn standard_fields(event: &StorefrontEvent) -> ContactFields {
    let c = &event.customer;
    let a = c.address.as_ref();
    let nonempty = |s: &Option<String>| s.as_ref().filter(|s| !s.trim().is_empty()).cloned();
    let first_name = nonempty(&c.first_name);
    let last_name = nonempty(&c.last_name);
    ContactFields {
        email: nonempty(&c.email),
        phone: nonempty(&c.phone),
        name: if first_name.is_none() && last_name.is_none() {
            nonempty(&c.name)
        } else {
            None
        },
        first_name,
        last_name,
        company_name: nonempty(&c.company),
        address1: a.and_then(|a| nonempty(&a.line1)),
        city: a.and_then(|a| nonempty(&a.city)),
        state: a.and_then(|a| nonempty(&a.state)),
        postal_code: a.and_then(|a| nonempty(&a.postal_code)),
        country: a.and_then(|a| nonempty(&a.country)),
        website: None,
        timezone: None,
        source: Some(format!("relay {}", event.source)),
    }
}

fn field_mut(f: &mut ContactFields, field: ContactField) -> &mut Option<String> {
    match field {
        ContactField::Email => &mut f.email,
        ContactField::Phone => &mut f.phone,
        ContactField::FirstName => &mut f.first_name,
        ContactField::LastName => &mut f.last_name,
        ContactField::Name => &mut f.name,
        ContactField::CompanyName => &mut f.company_name,
        ContactField::Address1 => &mut f.address1,
        ContactField::City => &mut f.city,
        ContactField::State => &mut f.state,
        ContactField::PostalCode => &mut f.postal_code,
        ContactField::Country => &mut f.country,
        ContactField::Website => &mut f.website,
        ContactField::Timezone => &mut f.timezone,
        ContactField::Source => &mut f.source,
    }
}

/// The value at a dotted path in the attributes (object keys, array indices).
fn lookup<'a>(attributes: &'a serde_json::Map<String, Json>, path: &[String]) -> Option<&'a Json> {
    let (first, rest) = path.split_first()?;
    let mut v = attributes.get(first)?;
    for seg in rest {
        v = match v {
            Json::Object(m) => m.get(seg)?,
            Json::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

fn attribute_holds(v: Option<&Json>, test: &AttrTest) -> bool {
    match test {
        AttrTest::Exists(want) => v.is_some_and(|v| !v.is_null()) == *want,
        AttrTest::Equals(expected) => v.is_some_and(|v| equals_or_contains(v, expected)),
        AttrTest::OneOf(values) => {
            v.is_some_and(|v| values.iter().any(|x| equals_or_contains(v, x)))
        }
        AttrTest::Glob(g) => match v {
            Some(Json::Array(items)) => items
                .iter()
                .any(|i| scalar_text(i).is_some_and(|t| g.matches(&t))),
            Some(v) => scalar_text(v).is_some_and(|t| g.matches(&t)),
            None => false,
        },
    }
}

fn equals_or_contains(v: &Json, expected: &Json) -> bool {
    match (v, expected) {
        (Json::Array(items), e) if !e.is_array() => items.iter().any(|i| loose_eq(i, e)),
        (v, e) => loose_eq(v, e),
    }
}

fn scalar_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Scalars compare as text (numbers numerically when both read as numbers).
fn loose_eq(a: &Json, b: &Json) -> bool {
    match (scalar_text(a), scalar_text(b)) {
        (Some(x), Some(y)) => {
            x == y
                || matches!(
                    (x.trim().parse::<f64>(), y.trim().parse::<f64>()),
                    (Ok(p), Ok(q)) if p == q
                )
        }
        _ => a == b,
    }
}
