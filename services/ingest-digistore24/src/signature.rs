//! Digistore24's `sha_sign` (reference/storefronts/digistore24.md §2, Digistore24's own
//! `digistore_signature()` and the ds24-skills `vectors.json`):
//!
//! 1. take the POSTed parameters, decoded exactly once;
//! 2. drop `sha_sign` and `SHASIGN`;
//! 3. sort the keys by byte order (PHP `SORT_STRING`);
//! 4. skip every parameter whose value is empty (`"0"` is not empty);
//! 5. concatenate `KEY=VALUE` + passphrase for every remaining pair (no separators);
//! 6. SHA-512 over the UTF-8 bytes, upper-case hex.
//!
//! The key-case variant (`convert_keys_to_uppercase` in the official helper) sorts by, and
//! writes, the upper-cased keys. Live accounts sign with the original case; both are accepted.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// The parameter carrying the signature, in the two spellings Digistore24 uses.
pub const SIGNATURE_KEYS: [&str; 2] = ["sha_sign", "SHASIGN"];

/// Length of a SHA-512 digest in bytes.
const DIGEST_LEN: usize = 64;

/// Which key spelling a signature was computed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCase {
    /// The keys as sent (what live accounts use).
    Original,
    /// `strtoupper` of every key, sorted by the upper-cased key.
    Upper,
}

fn is_signature_key(key: &str) -> bool {
    SIGNATURE_KEYS.contains(&key)
}

/// The raw SHA-512 digest of `params` under `passphrase`.
fn digest<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    passphrase: &str,
    case: KeyCase,
) -> [u8; DIGEST_LEN] {
    let mut pairs: Vec<(String, &str)> = params
        .into_iter()
        .filter(|(k, _)| !is_signature_key(k))
        .map(|(k, v)| {
            let key = match case {
                KeyCase::Original => k.to_owned(),
                // PHP 8's `strtoupper` is ASCII-only.
                KeyCase::Upper => k.to_ascii_uppercase(),
            };
            (key, v)
        })
        .collect();
    // Stable, like PHP's `array_multisort`: keys equal after upper-casing keep their order.
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut hasher = Sha512::new();
    for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        hasher.update(key.as_bytes());
        hasher.update(b"=");
        hasher.update(value.as_bytes());
        hasher.update(passphrase.as_bytes());
    }
    hasher.finalize().into()
}

/// The `sha_sign` Digistore24 sends for `params` (upper-case hex). Signature parameters in
/// `params` are ignored, as the algorithm requires.
pub fn sign<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    passphrase: &str,
    case: KeyCase,
) -> String {
    hex::encode_upper(digest(params, passphrase, case))
}

/// Why a delivery's signature was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SignatureError {
    /// No `sha_sign`/`SHASIGN` parameter, or an empty one.
    Missing,
    /// Not 128 hex digits.
    Malformed,
    /// No configured passphrase produces it (or no passphrase is configured).
    Mismatch,
}

/// Checks `params` (the decoded body, in body order) against each passphrase, original key case
/// first, then upper-cased keys. Compares in constant time; hex case does not matter.
pub(crate) fn verify(
    params: &[(String, String)],
    secrets: &[SecretString],
) -> Result<(), SignatureError> {
    let presented = params
        .iter()
        .find(|(k, _)| is_signature_key(k))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or(SignatureError::Missing)?;
    let presented = hex::decode(presented).map_err(|_| SignatureError::Malformed)?;
    if presented.len() != DIGEST_LEN {
        return Err(SignatureError::Malformed);
    }
    let pairs = || params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let mut matched = false;
    // Fail closed: an empty passphrase is no passphrase and never verifies anything.
    for secret in secrets.iter().filter(|s| !s.expose_secret().is_empty()) {
        for case in [KeyCase::Original, KeyCase::Upper] {
            let expected = digest(pairs(), secret.expose_secret(), case);
            // Keep going after a match so timing does not reveal which secret or case matched.
            matched |= bool::from(expected.ct_eq(presented.as_slice()));
        }
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digistore24's published vectors (`ds24-skills` `skills/ds24-ipn/scripts/vectors.json`,
    /// passphrase `s3cret-passphrase`). Never recomputed here: a failing vector means the signer
    /// is wrong.
    const PASSPHRASE: &str = "s3cret-passphrase";

    fn check(params: &[(&str, &str)], case: KeyCase, expected: &str) {
        assert_eq!(sign(params.iter().copied(), PASSPHRASE, case), expected);
        // And the verifier accepts it, in either hex case, through either key spelling.
        let mut owned: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| !is_signature_key(k))
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        owned.push(("sha_sign".into(), expected.to_ascii_lowercase()));
        assert_eq!(verify(&owned, &[SecretString::from(PASSPHRASE)]), Ok(()));
        owned.pop();
        owned.push(("SHASIGN".into(), expected.to_owned()));
        assert_eq!(verify(&owned, &[SecretString::from(PASSPHRASE)]), Ok(()));
    }

    #[test]
    fn vector_minimal() {
        check(
            &[("order_id", "ORD-1"), ("product_id", "42")],
            KeyCase::Original,
            "9A23DE2603A33D17D935908580B5DB90C452DE8E68556E2A4AD96F1C3EC3BFD2EE3AE47B819B96286812224FBCED943D0ACF48C8C20CA57570E2263B6ABAF099",
        );
    }

    #[test]
    fn vector_unsorted_input() {
        check(
            &[
                ("amount", "47.00"),
                ("product_id", "42"),
                ("order_id", "ORD-1"),
            ],
            KeyCase::Original,
            "D10912B7772A60B4CCA3F9B1BF1D5AE5E32D75FC75FCBC44BFD265D7890B07C3ACA99F1C6DB50A69AF4762A5C4C1812A4CF7C388367F93682F846AE74E685025",
        );
    }

    #[test]
    fn vector_empty_values_skipped() {
        check(
            &[("order_id", "ORD-1"), ("note", ""), ("product_id", "42")],
            KeyCase::Original,
            "9A23DE2603A33D17D935908580B5DB90C452DE8E68556E2A4AD96F1C3EC3BFD2EE3AE47B819B96286812224FBCED943D0ACF48C8C20CA57570E2263B6ABAF099",
        );
    }

    #[test]
    fn vector_sha_sign_excluded() {
        check(
            &[
                ("order_id", "ORD-1"),
                ("product_id", "42"),
                ("sha_sign", "DEADBEEF"),
            ],
            KeyCase::Original,
            "9A23DE2603A33D17D935908580B5DB90C452DE8E68556E2A4AD96F1C3EC3BFD2EE3AE47B819B96286812224FBCED943D0ACF48C8C20CA57570E2263B6ABAF099",
        );
    }

    #[test]
    fn vector_uppercase_keys() {
        check(
            &[("order_id", "ORD-1"), ("product_id", "42")],
            KeyCase::Upper,
            "650DFA85696C764CF5276397D48D5F1E7D1D0D42D2836E459CAE83A36814DF67E90C59A508B73D98280400758A65381D09BFA36D7F575345639D24F269A666A2",
        );
    }

    #[test]
    fn vector_utf8_value() {
        check(
            &[
                ("order_id", "ORD-2"),
                ("buyer_first_name", "Jörg"),
                ("buyer_last_name", "Müller-Straße"),
            ],
            KeyCase::Original,
            "2F30138F4508E37C322DF849C4421E0F2B876FD065762B3257253B6BB22256F10BE479F442E3AE5B0922A3FE12A32355AB41B830481F2B4835F92A1B05E604B5",
        );
    }

    #[test]
    fn vector_special_chars() {
        check(
            &[
                ("order_id", "ORD-3"),
                ("custom", "m:abc+def/ghi=jkl"),
                ("buyer_email", "a+b@example.de"),
            ],
            KeyCase::Original,
            "A3696FD825F03952BBA847F87B5622BE370CBC312406E58647E809D90BCF613368AB228EC45C69B25D9A7EF8F4288BF08E5B66A774A3C49E5FC3FCCB189CE192",
        );
    }

    #[test]
    fn vector_realistic_payment() {
        // The original eight-vector file (digistore-io mirror) has `purchase_id` in this vector;
        // the newer copy dropped it (IPNs carry no `purchase_id`) and the expected value with it.
        check(
            &[
                ("event", "on_payment"),
                ("order_id", "AB12CD34"),
                ("product_id", "512345"),
                ("product_name", "Basis Monatlich"),
                ("amount", "47.00"),
                ("currency", "EUR"),
                ("buyer_email", "kunde@example.de"),
                ("billing_type", "subscription"),
                ("pay_sequence_no", "1"),
                ("purchase_id", "PID-99"),
            ],
            KeyCase::Original,
            "311EEF3ADD521A7A9ECA00DB122055DAE85BDFC15CD7371748D42E0233D93FAEA80A58E9056BCBF8BB495B1A19F27D5E471714435FFDD87DC7C29D0BEE076B5D",
        );
        check(
            &[
                ("event", "on_payment"),
                ("order_id", "AB12CD34"),
                ("product_id", "512345"),
                ("product_name", "Basis Monatlich"),
                ("amount", "47.00"),
                ("currency", "EUR"),
                ("buyer_email", "kunde@example.de"),
                ("billing_type", "subscription"),
                ("pay_sequence_no", "1"),
            ],
            KeyCase::Original,
            "D2FD7DA37489365229E9E1BCFAB6E6F55CD88EDFFDAA90AD046926A042D45E2E9D0C968F3B430DC0025A90F11556770F3F7C221CFD5EE797F044FD88CCDCFB93",
        );
    }

    #[test]
    fn vector_captured_on_payment() {
        // The 173-key live `on_payment` from the newer vectors file: the real key set,
        // including `address_street` < `address_street2` < `address_street_name`.
        check(
            crate::fixtures::CAPTURED_ON_PAYMENT,
            KeyCase::Original,
            "5BBAABE2C68C6ABF0AA6ACC9B8387C7CC6D319FF016D3A49FE365F2A05D440F204CC85BA9D3E0FD50DB28AE569D6E1D53249D97A4A46B94C8BA2ED3053CA89AC",
        );
    }

    #[test]
    fn the_key_case_variants_differ_and_do_not_cross() {
        let params = [("order_id", "ORD-1"), ("product_id", "42")];
        let upper = sign(params, PASSPHRASE, KeyCase::Upper);
        let original = sign(params, PASSPHRASE, KeyCase::Original);
        assert_ne!(upper, original);
        // Signing `ORDER_ID=...` as original-case keys equals the upper-case variant.
        assert_eq!(
            sign(
                [("ORDER_ID", "ORD-1"), ("PRODUCT_ID", "42")],
                PASSPHRASE,
                KeyCase::Original
            ),
            upper
        );
    }

    #[test]
    fn refusals() {
        let secrets = [SecretString::from(PASSPHRASE)];
        let mut params = vec![("order_id".to_owned(), "ORD-1".to_owned())];
        assert_eq!(verify(&params, &secrets), Err(SignatureError::Missing));
        params.push(("sha_sign".into(), String::new()));
        assert_eq!(verify(&params, &secrets), Err(SignatureError::Missing));
        params.pop();
        params.push(("sha_sign".into(), "XYZ".into()));
        assert_eq!(verify(&params, &secrets), Err(SignatureError::Malformed));
        params.pop();
        params.push(("sha_sign".into(), "ABCD".into()));
        assert_eq!(verify(&params, &secrets), Err(SignatureError::Malformed));
        params.pop();
        let good = sign(
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            PASSPHRASE,
            KeyCase::Original,
        );
        params.push(("sha_sign".into(), good));
        assert_eq!(verify(&params, &secrets), Ok(()));
        // No passphrase configured, or an empty one: never a bypass.
        assert_eq!(verify(&params, &[]), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(&params, &[SecretString::from("")]),
            Err(SignatureError::Mismatch)
        );
    }
}
