//! The default playbooks: one rules document per storefront (`services/mapper/playbooks/`),
//! embedded at build time and written in the connection rule language, so users can copy one
//! into their connection and adapt it (with `playbook: none`).
//!
//! They run after a connection's own rules unless the connection says `playbook: none` or one
//! of its rules ends the evaluation with `then: stop`.

use std::sync::OnceLock;

use relay_contracts::Source;
use relay_contracts::connection::{DocError, RulesFile, parse_rules};

const BMC: &str = include_str!("../../playbooks/bmc.yaml");
const GUMROAD: &str = include_str!("../../playbooks/gumroad.yaml");
const THRIVECART: &str = include_str!("../../playbooks/thrivecart.yaml");
const DIGISTORE24: &str = include_str!("../../playbooks/digistore24.yaml");
const SHIFT4SHOP: &str = include_str!("../../playbooks/shift4shop.yaml");

/// The playbook's YAML, as shipped.
pub fn yaml(source: Source) -> &'static str {
    match source {
        Source::Bmc => BMC,
        Source::Gumroad => GUMROAD,
        Source::Thrivecart => THRIVECART,
        Source::Digistore24 => DIGISTORE24,
        Source::Shift4shop => SHIFT4SHOP,
    }
}

/// The playbook's file name, as errors show it (`playbooks/bmc.yaml`).
pub fn file_name(source: Source) -> String {
    format!("playbooks/{source}.yaml")
}

/// The playbook's rules, read once.
pub fn rules(source: Source) -> Result<&'static RulesFile, Vec<DocError>> {
    static PARSED: OnceLock<Vec<Result<RulesFile, Vec<DocError>>>> = OnceLock::new();
    let all = PARSED.get_or_init(|| {
        Source::ALL
            .iter()
            .map(|s| parse_rules(yaml(*s), &file_name(*s)))
            .collect()
    });
    let i = Source::ALL
        .iter()
        .position(|s| *s == source)
        .unwrap_or_default();
    match &all[i] {
        Ok(r) => Ok(r),
        Err(e) => Err(e.clone()),
    }
}
