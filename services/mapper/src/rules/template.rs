//! The template engine: one sandboxed minijinja environment per connection (no loader, no
//! filesystem, bounded by fuel), with Relay's filters. Templates are compiled once, when the
//! connection is compiled; rendering an event only evaluates them.
//!
//! Filters (besides minijinja's builtins: `default`, `upper`, `join`, `map`, `round`, ...):
//!
//! - `money`: minor units as `CUR 49.00` (`{{ order.total | money }}`,
//!   `{{ attributes.amount_minor | money(attributes.currency) }}`); the currency's decimals
//!   (JPY none, KWD three).
//! - `date(format="%Y-%m-%d", tz=None)`: an RFC 3339 time, a unix timestamp or a date, shown
//!   in the connection's time zone (or `tz`) with a strftime format.
//! - `add_days(n)`, `add_months(n)`: calendar arithmetic in the connection's time zone; the
//!   result is an RFC 3339 time (UTC).
//! - `slug`: lower case, runs of anything but letters and digits become one `-` (tags).
//!
//! Missing values render as nothing (`{{ order.coupon }}` without an order is empty), and the
//! filters pass them through as nothing, so optional data never fails a rendering; values of
//! the wrong type do.

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

/// Instructions one rendering may execute: far more than any sensible template needs, few
/// enough that a runaway loop stops in microseconds.
pub(crate) const FUEL: u64 = 50_000;

/// A template as compiled: plain text needs no rendering.
#[derive(Clone, Debug)]
pub(crate) enum Tmpl {
    Literal(String),
    Template {
        /// What it is registered under in the connection's environment.
        name: String,
        /// Where it is in its rule, for messages (`steps[1].create_task.title`).
        path: String,
    },
}

impl Tmpl {
    pub(crate) fn literal(&self) -> Option<&str> {
        match self {
            Tmpl::Literal(s) => Some(s),
            Tmpl::Template { .. } => None,
        }
    }

    pub(crate) fn path(&self) -> &str {
        match self {
            Tmpl::Literal(_) => "",
            Tmpl::Template { path, .. } => path,
        }
    }
}

/// Whether `source` has template syntax at all.
pub(crate) fn is_template(source: &str) -> bool {
    source.contains("{{") || source.contains("{%") || source.contains("{#")
}

/// A connection's environment, with Relay's filters bound to its time zone.
pub(crate) fn environment(tz: TimeZone) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(64);
    // Block tags on their own lines leave no blank lines behind (multi-line notes in YAML).
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    let tz = Arc::new(tz);
    env.add_filter("money", money);
    env.add_filter("slug", |v: &Value| -> Value { Value::from(slug(&text(v))) });
    {
        let tz = tz.clone();
        env.add_filter(
            "date",
            move |v: &Value, format: Option<&str>, zone: Option<&str>| -> Result<Value, Error> {
                let Some(t) = instant(v, &tz)? else {
                    return Ok(Value::from(""));
                };
                let zone = match zone {
                    Some(name) => jiff::tz::db().get(name).map_err(|e| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!("time zone {name:?}: {e}"),
                        )
                    })?,
                    None => (*tz).clone(),
                };
                let z = t.to_zoned(zone);
                jiff::fmt::strtime::format(format.unwrap_or("%Y-%m-%d"), &z)
                    .map(Value::from)
                    .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("date: {e}")))
            },
        );
    }
    {
        let tz = tz.clone();
        env.add_filter(
            "add_days",
            move |v: &Value, n: i64| -> Result<Value, Error> {
                shift(v, &tz, n.days(), "add_days")
            },
        );
    }
    env.add_filter(
        "add_months",
        move |v: &Value, n: i64| -> Result<Value, Error> {
            shift(v, &tz, n.months(), "add_months")
        },
    );
    env
}

/// A value's text: nothing for missing values.
fn text(v: &Value) -> String {
    if v.is_undefined() || v.is_none() {
        String::new()
    } else {
        v.to_string()
    }
}

/// `add_days` / `add_months`: calendar arithmetic in the connection's zone.
fn shift(v: &Value, tz: &TimeZone, span: jiff::Span, name: &str) -> Result<Value, Error> {
    let Some(t) = instant(v, tz)? else {
        return Ok(Value::from(""));
    };
    let z: Zoned = t.to_zoned(tz.clone());
    z.checked_add(span)
        .map(|z| Value::from(z.timestamp().to_string()))
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("{name}: {e}")))
}

/// An instant from a template value: RFC 3339 text, a date-time without offset or a date (in
/// `tz`), or unix seconds. `None` for missing values and empty text.
fn instant(v: &Value, tz: &TimeZone) -> Result<Option<Timestamp>, Error> {
    if v.is_undefined() || v.is_none() {
        return Ok(None);
    }
    if let Some(secs) = v.as_i64() {
        return Timestamp::from_second(secs)
            .map(Some)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("{secs}: {e}")));
    }
    let Some(s) = v.as_str() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("expected a date or time, got {v}"),
        ));
    };
    parse_instant(s, tz).map_err(|e| Error::new(ErrorKind::InvalidOperation, e))
}

/// Parses what a template produced as a time: RFC 3339, a date-time without offset or a date
/// (midnight) in `tz`, or unix seconds. `None` for empty text.
pub(crate) fn parse_instant(s: &str, tz: &TimeZone) -> Result<Option<Timestamp>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(Some(t));
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s.parse().map_err(|_| format!("{s:?} is not a time"))?;
        return Timestamp::from_second(secs)
            .map(Some)
            .map_err(|e| e.to_string());
    }
    let civil = s
        .parse::<jiff::civil::DateTime>()
        .or_else(|_| {
            s.parse::<jiff::civil::Date>()
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })
        .map_err(|_| format!("{s:?} is not an RFC 3339 time, a date-time or a date"))?;
    tz.to_timestamp(civil).map(Some).map_err(|e| e.to_string())
}

/// ISO 4217 currencies without minor units, and with three decimals.
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
const THREE_DECIMAL: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// `CUR 49.00` for `minor` units of `currency`.
pub(crate) fn format_money(minor: i64, currency: &str) -> String {
    let currency = currency.trim().to_ascii_uppercase();
    let exp = if ZERO_DECIMAL.contains(&currency.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&currency.as_str()) {
        3
    } else {
        2
    };
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exp == 0 {
        return format!("{currency} {sign}{abs}");
    }
    let unit = 10u64.pow(exp);
    format!(
        "{currency} {sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = exp as usize
    )
}

/// `{{ order.total | money }}` (a `{minor, currency}` object) or
/// `{{ minor | money(currency) }}`.
fn money(v: &Value, currency: Option<&Value>) -> Result<Value, Error> {
    if v.is_undefined() || v.is_none() {
        return Ok(Value::from(""));
    }
    let (minor, own_currency) = match v.get_attr("minor") {
        Ok(m) if !m.is_undefined() => (m, v.get_attr("currency").ok()),
        _ => (v.clone(), None),
    };
    let minor = minor
        .as_i64()
        .or_else(|| minor.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("money: {v} is not an amount in minor units"),
            )
        })?;
    let currency = currency
        .filter(|c| !c.is_undefined() && !c.is_none())
        .or(own_currency.as_ref().filter(|c| !c.is_undefined()))
        .and_then(|c| c.as_str().map(str::to_owned))
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::MissingArgument,
                "money needs a currency: money(\"EUR\") or a {minor, currency} amount",
            )
        })?;
    Ok(Value::from(format_money(minor, &currency)))
}

/// Lower case; every run of characters other than letters and digits becomes one `-`.
pub(crate) fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use minijinja::context;

    fn render(tz: &str, src: &str, ctx: Value) -> Result<String, Error> {
        let tz = jiff::tz::db().get(tz).unwrap();
        environment(tz).render_str(src, ctx)
    }

    #[test]
    fn money_formats_minor_units_with_the_currencys_decimals() {
        let ctx = context! { order => context! { total => context! { minor => 4900, currency => "EUR" } } };
        assert_eq!(
            render("UTC", "{{ order.total | money }}", ctx.clone()).unwrap(),
            "EUR 49.00"
        );
        assert_eq!(
            render(
                "UTC",
                "{{ order.total.minor | money(order.total.currency) }}",
                ctx
            )
            .unwrap(),
            "EUR 49.00"
        );
        assert_eq!(format_money(5, "usd"), "USD 0.05");
        assert_eq!(format_money(-1250, "USD"), "USD -12.50");
        assert_eq!(format_money(1500, "JPY"), "JPY 1500");
        assert_eq!(format_money(1500, "KWD"), "KWD 1.500");
        assert_eq!(
            render("UTC", "{{ '4900' | money('usd') }}", context! {}).unwrap(),
            "USD 49.00"
        );
        assert_eq!(
            render("UTC", "[{{ order.total | money }}]", context! {}).unwrap(),
            "[]",
            "missing amounts render as nothing"
        );
        assert!(render("UTC", "{{ 4900 | money }}", context! {}).is_err());
        assert!(render("UTC", "{{ 'abc' | money('EUR') }}", context! {}).is_err());
    }

    #[test]
    fn dates_in_the_connection_zone() {
        let ctx = context! { t => "2026-03-14T23:30:00Z" };
        assert_eq!(
            render("UTC", "{{ t | date }}", ctx.clone()).unwrap(),
            "2026-03-14"
        );
        assert_eq!(
            render(
                "Europe/Berlin",
                "{{ t | date('%d.%m.%Y %H:%M') }}",
                ctx.clone()
            )
            .unwrap(),
            "15.03.2026 00:30"
        );
        assert_eq!(
            render(
                "Europe/Berlin",
                "{{ t | date('%H:%M', 'America/New_York') }}",
                ctx.clone()
            )
            .unwrap(),
            "19:30"
        );
        assert_eq!(
            render(
                "UTC",
                "{{ 1700000000 | date('%Y-%m-%dT%H:%M') }}",
                context! {}
            )
            .unwrap(),
            "2023-11-14T22:13"
        );
        assert_eq!(
            render("UTC", "{{ t | add_days(2) }}", ctx.clone()).unwrap(),
            "2026-03-16T23:30:00Z"
        );
        // Calendar days across the DST change keep the local time.
        assert_eq!(
            render(
                "Europe/Berlin",
                "{{ '2026-03-28T12:00:00+01:00' | add_days(1) }}",
                context! {}
            )
            .unwrap(),
            "2026-03-29T10:00:00Z"
        );
        assert_eq!(
            render(
                "UTC",
                "{{ '2026-03-31T08:00:00Z' | add_months(-1) | date('%Y-%m-%d') }}",
                context! {}
            )
            .unwrap(),
            "2026-02-28"
        );
        assert_eq!(
            render("UTC", "[{{ missing | date }}]", context! {}).unwrap(),
            "[]"
        );
        assert!(render("UTC", "{{ 'soon' | date }}", context! {}).is_err());
        assert!(render("UTC", "{{ t | date('%') }}", ctx.clone()).is_err());
        assert!(render("UTC", "{{ t | date('%Y', 'Mars/Olympus') }}", ctx).is_err());
    }

    #[test]
    fn slugs_for_tags() {
        assert_eq!(
            slug("Mobile & Universal App Pro"),
            "mobile-universal-app-pro"
        );
        assert_eq!(slug("  --Rust for Storefronts!  "), "rust-for-storefronts");
        assert_eq!(slug("Kündigung 2026"), "kündigung-2026");
        assert_eq!(slug("$69/Month Club"), "69-month-club");
        assert_eq!(slug(""), "");
    }

    #[test]
    fn fuel_bounds_runaway_templates() {
        let err = render(
            "UTC",
            "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
            context! {},
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutOfFuel);
    }

    #[test]
    fn instants_from_text() {
        let utc = TimeZone::UTC;
        let berlin = jiff::tz::db().get("Europe/Berlin").unwrap();
        assert_eq!(
            parse_instant("2026-03-14", &berlin)
                .unwrap()
                .unwrap()
                .to_string(),
            "2026-03-13T23:00:00Z"
        );
        assert_eq!(
            parse_instant("2026-03-14T09:00:00", &utc)
                .unwrap()
                .unwrap()
                .to_string(),
            "2026-03-14T09:00:00Z"
        );
        assert_eq!(
            parse_instant("1700000000", &utc)
                .unwrap()
                .unwrap()
                .to_string(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(parse_instant("  ", &utc).unwrap(), None);
        assert!(parse_instant("tomorrow", &utc).is_err());
    }
}
