//! The rule engine: what happens in GHL for each storefront event, per connection.
//!
//! A connection ([`ConnectionSpec`], from the YAML users apply) has ordered rules, and unless it
//! says `playbook: none`, its storefront's default playbook ([`playbooks`]) runs after them,
//! written in the same language. [`compile`] validates everything once (patterns, kinds,
//! amounts, step parameters, template syntax, the time zone) and compiles every template;
//! [`CompiledConnection::plans`] then maps events, purely: the live handler, preview and replay
//! all call it, and the same event always gives the same plans.
//!
//! # Evaluation
//!
//! - Rules are tried in order (the connection's, then the playbook's). A rule matches when all
//!   its `match` conditions hold; it then renders its contact spec and steps. `then: continue`
//!   (the default) goes on with the next rule, so rules add up (a generic rule and a
//!   per-product rule both contribute); `then: stop` ends the evaluation, the playbook's rules
//!   included (how a connection overrides or silences the playbook for some events).
//! - `for_each: product` renders the steps once per product the rule's product conditions
//!   accept, with `product` set to it (per-product tags on a multi-item order).
//! - The matched rules' outputs become one [`ContactPlan`] per contact: rules that identify the
//!   contact the same way share a plan, which upserts once (first), then runs every other step
//!   in rule order; adjacent tag steps are merged. Rules identifying it differently (an
//!   external-id rule beside an email rule) produce separate plans.
//! - No rule matched (or every step rendered to nothing): no plan, and that is not an error.
//!   An event that cannot be mapped (no identity for the contact, a template failing at
//!   render, a due date that is no date) is a [`MapError`]: the handler dead-letters it with
//!   the reason, and it can be redriven once the rule is fixed.
//!
//! # Ids
//!
//! A plan's id is derived from the event id and the ids of the rules that made it (a rule's id
//! is its name, else its position), so a redelivered or replayed event gives identical plans.
//! Task and note keys are templates; by default a key is unique to (rule, step, event), and a
//! task completed by a later event uses a key both events can compute (the BMC playbook's
//! `bmc-membership-{{ subscription.id }}-...`).
//!
//! # Template context
//!
//! The event's fields at the top level (`customer.email`, `order.total`, `subscription.id`,
//! `attributes.offer_code`, `occurred_at`, `kind`, `test`, ...) and as `event`; `connection`
//! (`name`, `source`, `location_id`, `timezone`, `key`); `vars` (the connection's
//! `defaults.vars`); `products` (the order's items, else the products named in the
//! attributes: `{id, name, quantity, amount}`), `product` (the first product the rule's
//! conditions accept, or the current one under `for_each`), and `rule` (`id`, `name`). Relay's
//! filters: `money`, `date`, `add_days`, `add_months`, `slug` (see `services/mapper/RULES.md`).

mod compile;
mod eval;
mod glob;
pub mod playbooks;
mod template;

use std::fmt;

use jiff::tz::TimeZone;
use relay_contracts::connection::{DocError, SourceLoc, parse_connections};
use relay_contracts::{ConnectionSpec, EventKind, Source, Token};

use crate::config::ConnectionRoute;

pub use compile::compile;

/// A connection whose rules are compiled and ready to map events.
pub struct CompiledConnection {
    key: String,
    source: Source,
    name: Token,
    location_id: Token,
    enabled: bool,
    timezone: Option<String>,
    tz: TimeZone,
    own_rules: usize,
    rules: Vec<compile::Rule>,
    defaults: compile::CompiledDefaults,
    env: minijinja::Environment<'static>,
}

impl fmt::Debug for CompiledConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledConnection")
            .field("key", &self.key)
            .field("location_id", &self.location_id)
            .field("enabled", &self.enabled)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl CompiledConnection {
    /// `<source>.<name>`.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn source(&self) -> Source {
        self.source
    }

    pub fn name(&self) -> &Token {
        &self.name
    }

    pub fn location_id(&self) -> &Token {
        &self.location_id
    }

    /// A disabled connection maps nothing.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Rules evaluated per event: the connection's, then the playbook's.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The connection's own rules (the playbook's not counted).
    pub fn own_rule_count(&self) -> usize {
        self.own_rules
    }
}

/// A rule or connection that does not compile. `index` is the rule's position in the
/// connection's `rules` (or in the playbook, for `playbook` errors).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    /// `rules[2] "vip"`, `playbook bmc rules[0] "donor"`; `None` for the connection itself.
    pub rule: Option<String>,
    pub index: Option<usize>,
    pub name: Option<String>,
    /// Where in the YAML, when it was read from YAML.
    pub loc: SourceLoc,
    pub message: String,
}

impl RuleError {
    /// The error as a document error of `file` (`file:line:column: rules[2] "vip": ...`).
    pub fn to_doc_error(&self, file: &str) -> DocError {
        let message = match &self.rule {
            Some(rule) => format!("{rule}: {}", self.message),
            None => self.message.clone(),
        };
        DocError::new(file, self.loc, message)
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.loc.is_known() {
            write!(f, "line {}, column {}: ", self.loc.line, self.loc.column)?;
        }
        if let Some(rule) = &self.rule {
            write!(f, "{rule}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// An event the rules matched but cannot map: permanent (dead-lettered with this reason).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// A rendered value is not what the step needs (a due date that is no date, ...).
    #[error("{rule}: {what} {value:?} is not valid: {reason}")]
    InvalidValue {
        rule: String,
        what: String,
        value: String,
        reason: String,
    },
    /// The event lacks what the rule identifies the contact by.
    #[error("{rule}: event {event_id} ({kind}) has no {identity} to identify the contact")]
    NoIdentity {
        rule: String,
        event_id: String,
        kind: EventKind,
        identity: String,
    },
    /// A template failed while rendering this event.
    #[error("{rule}: {template}: {message}")]
    Template {
        rule: String,
        template: String,
        message: String,
    },
}

/// Reads and compiles a connections document: every error (YAML, duplicate connections, rules)
/// with its file, line and column. The document is valid only if every connection compiles.
pub fn compile_file(yaml: &str, file: &str) -> Result<Vec<CompiledConnection>, Vec<DocError>> {
    let doc = parse_connections(yaml, file)?;
    let mut compiled = Vec::new();
    let mut errors = Vec::new();
    for spec in &doc.connections {
        match compile(spec) {
            Ok(c) => compiled.push(c),
            Err(es) => errors.extend(es.iter().map(|e| {
                let mut d = e.to_doc_error(file);
                if d.line == 0 {
                    d.line = spec.loc.line;
                    d.column = spec.loc.column;
                }
                d.message = format!("connection {}: {}", spec.key(), d.message);
                d
            })),
        }
    }
    if errors.is_empty() {
        Ok(compiled)
    } else {
        Err(errors)
    }
}

/// The connection a static route of the mapper's configuration stands for: no rules of its
/// own, its storefront's default playbook.
pub fn route_spec(route: &ConnectionRoute) -> ConnectionSpec {
    ConnectionSpec::new(route.source, route.name.clone(), route.location_id.clone())
}

/// Compiles a static route of the mapper's configuration (see [`route_spec`]).
pub fn compile_route(route: &ConnectionRoute) -> Result<CompiledConnection, Vec<RuleError>> {
    compile(&route_spec(route))
}

#[cfg(test)]
mod tests;
