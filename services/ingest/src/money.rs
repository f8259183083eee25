//! Decimal amounts in major units (as storefronts send them) → integer minor units, exactly.

/// ISO 4217 currencies without minor units.
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
/// ISO 4217 currencies with three decimals.
const THREE_DECIMAL: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// Number of minor-unit digits of `currency` (2 unless known otherwise).
pub fn exponent(currency: &str) -> u32 {
    let c = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&c.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&c.as_str()) {
        3
    } else {
        2
    }
}

/// Parses `"12.5"`, `"12.50"`, `"-3"`, `"1,234.00"` into minor units of `currency` without going
/// through floating point. Extra precision beyond the currency's is rounded half away from zero.
pub fn to_minor(amount: &str, currency: &str) -> Option<i64> {
    let s = amount.trim().replace(',', "");
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.to_owned()),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s.as_str(), ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let exp = exponent(currency) as usize;
    let mut digits: String = frac.chars().take(exp).collect();
    while digits.len() < exp {
        digits.push('0');
    }
    let round_up = frac.chars().nth(exp).is_some_and(|c| c >= '5');
    let int_part: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_part: i64 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let mut minor = int_part
        .checked_mul(10_i64.checked_pow(exp as u32)?)?
        .checked_add(frac_part)?;
    if round_up {
        minor = minor.checked_add(1)?;
    }
    Some(if neg { -minor } else { minor })
}

/// Same as [`to_minor`] for a JSON value that is a number or a numeric string.
pub fn json_to_minor(v: &serde_json::Value, currency: &str) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => to_minor(&n.to_string(), currency),
        serde_json::Value::String(s) => to_minor(s, currency),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_exactly() {
        assert_eq!(to_minor("5", "USD"), Some(500));
        assert_eq!(to_minor("5.5", "usd"), Some(550));
        assert_eq!(to_minor("0.29", "EUR"), Some(29));
        assert_eq!(to_minor("1,234.56", "USD"), Some(123_456));
        assert_eq!(to_minor("-3.10", "USD"), Some(-310));
        assert_eq!(to_minor("1000", "JPY"), Some(1000));
        assert_eq!(to_minor("1.2345", "KWD"), Some(1235));
        assert_eq!(to_minor("2.005", "USD"), Some(201));
        assert_eq!(to_minor("abc", "USD"), None);
        assert_eq!(to_minor("", "USD"), None);
        assert_eq!(json_to_minor(&serde_json::json!(4.99), "USD"), Some(499));
    }
}
