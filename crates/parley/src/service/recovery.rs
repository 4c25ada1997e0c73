//! Recovery codes (look-up secrets, §5.1.2): ten codes of 16 characters from a 32-symbol
//! alphabet (80 bits each, from the OS CSPRNG), shown once as `xxxx-xxxx-xxxx-xxxx` and stored
//! only as peppered Argon2id hashes. Each works once.

/// No `i`, `l`, `o`, `1`: nothing a person could misread. 32 symbols = 5 bits each.
const ALPHABET: &[u8; 32] = b"023456789abcdefghjkmnpqrstuvwxyz";
pub use parley_api::limits::RECOVERY_CODES as COUNT;
const LEN: usize = 16;

pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let bytes = super::crypto::random_bytes::<LEN>();
            let chars: String = bytes
                .iter()
                .map(|b| ALPHABET[(b & 31) as usize] as char)
                .collect();
            format!(
                "{}-{}-{}-{}",
                &chars[0..4],
                &chars[4..8],
                &chars[8..12],
                &chars[12..16]
            )
        })
        .collect()
}

/// The canonical form that is hashed: lower case, separators and spaces removed.
pub fn canonical(input: &str) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    (s.len() == LEN && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_80_bits_and_are_distinct() {
        let codes = generate();
        assert_eq!(codes.len(), 10);
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(set.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 19);
            assert!(canonical(c).is_some());
        }
        assert_eq!(ALPHABET.len(), 32);
        assert!(32f64.powi(16).log2() >= 80.0);
    }

    #[test]
    fn canonical_form() {
        assert_eq!(
            canonical(" ABCD-efgh-JKMN-pqrs ").as_deref(),
            Some("abcdefghjkmnpqrs")
        );
        assert_eq!(canonical("abcd-efgh-jkmn-pqr"), None);
        assert_eq!(
            canonical("abcd-efgh-jkmn-pqri"),
            None,
            "i is not in the alphabet"
        );
    }
}
