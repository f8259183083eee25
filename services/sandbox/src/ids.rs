//! GHL-shaped identifiers: 20 alphanumeric characters, like Firestore document ids
//! (contacts-endpoints.md §7).

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of contact, location and custom-field ids.
pub(crate) const ID_LEN: usize = 20;

/// A fresh random id. 62^20 ≈ 2^119, so the 80 random bits of a ULID and its lowest
/// timestamp bits all survive the reduction.
pub(crate) fn random_id() -> String {
    encode(u128::from(ulid::Ulid::new()))
}

/// A stable id derived from `parts` (FNV-1a, 128 bits), so seeded data keeps its ids across
/// restarts and resets.
pub(crate) fn derived_id(parts: &[&str]) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013B;
    let mut hash = OFFSET;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u128::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    encode(hash)
}

/// A fresh 24-character lower-case hex id, like GHL's business ids (Mongo object ids).
pub(crate) fn hex24() -> String {
    let n = u128::from(ulid::Ulid::new());
    format!("{:024x}", n & ((1u128 << 96) - 1))
}

/// A stable UUID-shaped id, like GHL's workflow ids (`78559bb3-b920-461e-b010-7b2a2816d2a9`),
/// derived from `parts`.
pub(crate) fn derived_uuid(parts: &[&str]) -> String {
    let h = derived_id(parts);
    let hex: String = h.bytes().map(|b| format!("{:x}", b % 16)).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &format!("{hex}{hex}")[20..32]
    )
}

/// A fresh opaque secret (tokens, codes), `prefix` followed by 40 alphanumerics.
pub(crate) fn secret(prefix: &str) -> String {
    format!("{prefix}{}{}", random_id(), random_id())
}

fn encode(mut n: u128) -> String {
    let mut out = [0u8; ID_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// Whether `s` looks like a GHL id (20 ASCII alphanumerics).
pub(crate) fn is_ghl_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_20_alphanumerics_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| is_ghl_id(id)), "{ids:?}");
    }

    #[test]
    fn other_id_shapes() {
        let h = hex24();
        assert!(
            h.len() == 24 && h.bytes().all(|b| b.is_ascii_hexdigit()),
            "{h}"
        );
        for u in [derived_uuid(&["x"]), derived_uuid(&["a", "b"])] {
            let lens: Vec<usize> = u.split('-').map(str::len).collect();
            assert_eq!(lens, [8, 4, 4, 4, 12], "{u}");
        }
        assert_eq!(derived_uuid(&["a"]), derived_uuid(&["a"]));
        assert!(secret("rt-").starts_with("rt-") && secret("").len() == 40);
    }

    #[test]
    fn derived_ids_are_stable() {
        let a = derived_id(&["demo-location", "contact.gumroad_customer_id"]);
        assert_eq!(
            a,
            derived_id(&["demo-location", "contact.gumroad_customer_id"])
        );
        assert_ne!(a, derived_id(&["demo-location", "contact.other"]));
        assert_ne!(derived_id(&["ab", "c"]), derived_id(&["a", "bc"]));
        assert!(is_ghl_id(&a));
    }
}
