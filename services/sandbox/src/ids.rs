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

fn encode(mut n: u128) -> String {
    let mut out = [0u8; ID_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// Whether `s` looks like a GHL id (20 ASCII alphanumerics).
#[cfg(test)]
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
