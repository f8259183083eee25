//! Glob patterns for rule conditions: `*` (any run of characters, `.` included), `?` (one
//! character), `[abc]`, `[a-z]`, `[!a-z]` (one character in / not in the class), `\x` (a
//! literal `x`). A pattern without wildcards is an exact match.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    One,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled pattern.
#[derive(Clone, Debug)]
pub(crate) struct Glob {
    source: String,
    tokens: Vec<Token>,
    ignore_case: bool,
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Glob {
    /// Compiles `pattern`; `ignore_case` compares letters case-insensitively.
    pub(crate) fn new(pattern: &str, ignore_case: bool) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("an empty pattern matches nothing".to_owned());
        }
        let fold = |c: char| {
            if ignore_case {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                c
            }
        };
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Any) {
                        tokens.push(Token::Any);
                    }
                }
                '?' => tokens.push(Token::One),
                '\\' => match chars.next() {
                    Some(e) => tokens.push(Token::Char(fold(e))),
                    None => return Err(format!("{pattern:?} ends with a lone '\\'")),
                },
                '[' => {
                    let negated = chars.next_if(|c| *c == '!' || *c == '^').is_some();
                    let mut ranges = Vec::new();
                    let mut closed = false;
                    let mut first = true;
                    while let Some(c) = chars.next() {
                        if c == ']' && !first {
                            closed = true;
                            break;
                        }
                        first = false;
                        let lo = if c == '\\' {
                            chars
                                .next()
                                .ok_or_else(|| format!("{pattern:?} ends with a lone '\\'"))?
                        } else {
                            c
                        };
                        let hi = if chars.next_if_eq(&'-').is_some() {
                            match chars.peek() {
                                Some(']') | None => {
                                    // `[a-]`: a literal '-'.
                                    ranges.push(('-', '-'));
                                    lo
                                }
                                Some(_) => chars.next().unwrap_or(lo),
                            }
                        } else {
                            lo
                        };
                        if hi < lo {
                            return Err(format!(
                                "{pattern:?} has the reversed range {lo}-{hi} in a [...] class"
                            ));
                        }
                        ranges.push((lo, hi));
                    }
                    if !closed {
                        return Err(format!("{pattern:?} has an unclosed '[' class"));
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                other => tokens.push(Token::Char(fold(other))),
            }
        }
        Ok(Self {
            source: pattern.to_owned(),
            tokens,
            ignore_case,
        })
    }

    /// Whether the pattern has wildcards (otherwise it is an exact match).
    pub(crate) fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Char(_)))
    }

    fn one(&self, t: &Token, c: char) -> bool {
        match t {
            Token::Char(p) => {
                *p == c || (self.ignore_case && c.to_lowercase().next().is_some_and(|l| l == *p))
            }
            Token::One => true,
            Token::Any => false,
            Token::Class { negated, ranges } => {
                let hit = |c: char| ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
                let found = hit(c)
                    || (self.ignore_case
                        && (c.to_lowercase().any(hit) || c.to_uppercase().any(hit)));
                found != *negated
            }
        }
    }

    /// Whether `text` matches the whole pattern.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut t, mut p) = (0usize, 0usize);
        // Where to resume after the last `*`: (pattern index after it, text index it covers to).
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Any) => {
                    star = Some((p + 1, t));
                    p += 1;
                }
                Some(tok) if self.one(tok, text[t]) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::Any)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p, false).unwrap().matches(t)
    }

    #[test]
    fn wildcards_classes_and_escapes() {
        assert!(m("order.paid", "order.paid"));
        assert!(!m("order.paid", "order.paid2"));
        assert!(m("subscription.*", "subscription.renewed"));
        assert!(!m("subscription.*", "order.paid"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("prod_??", "prod_12"));
        assert!(!m("prod_??", "prod_1"));
        assert!(m("v[0-9]", "v7"));
        assert!(!m("v[!0-9]", "v7"));
        assert!(m("v[!0-9]", "vx"));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
        assert!(m("[a-]", "-"));
        assert!(m("*course*", "The Rust course, 2nd ed."));
        assert!(Glob::new("abc", false).unwrap().is_literal());
        assert!(!Glob::new("a*", false).unwrap().is_literal());
    }

    #[test]
    fn ignoring_case() {
        let g = Glob::new("Rust*", true).unwrap();
        assert!(g.matches("rust for storefronts"));
        assert!(g.matches("RUST"));
        assert!(Glob::new("[a-c]x", true).unwrap().matches("Bx"));
        assert!(!Glob::new("Rust*", false).unwrap().matches("rust"));
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(Glob::new("", false).unwrap_err().contains("empty"));
        assert!(Glob::new("a[bc", false).unwrap_err().contains("unclosed"));
        assert!(Glob::new("a\\", false).unwrap_err().contains("lone"));
        assert!(Glob::new("[z-a]", false).unwrap_err().contains("reversed"));
    }
}
