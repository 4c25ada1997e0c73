//! Password rules of NIST SP 800-63B §5.1.1 (requirements A1, A3): how a password is normalized,
//! how long it may be, and which choices are refused because attackers try them first.
//!
//! Everything here is pure and synchronous so that registration, password change, reset and the
//! strength meter (`/api/password/check`) apply exactly the same rules. The remote breach check
//! (Pwned Passwords) lives in [`super::breach`]; callers combine both.
//!
//! Design choices, each traceable to §5.1.1.2:
//! - **No composition rules.** Nothing here asks for digits, capitals or symbols, and the messages
//!   never do either (5.1.1.2-no-composition). A password is refused only because it is too short,
//!   too long, or *predictable*: on a breached/common list, a single dictionary word, repetitive,
//!   sequential, or built from the user's or the service's name (5.1.1.2-blocklist-check).
//! - **Whole-password comparisons.** A password is refused when it *is* a weak value, possibly with
//!   a small addition at the start or end (`sunshine1`, `monkey2024!`) — never merely because a
//!   weak value occurs somewhere inside it. `correct horse battery staple` and `bookkeeper
//!   committee` are accepted.
//! - **Every reason, with a why.** [`local_rejections`] returns every reason that applies, each
//!   with a message that says why and asks for a different password (5.1.1.2-blocklist-advise,
//!   5.1.1.2-blocklist-reason).
//! - **Bounded work.** zxcvbn's matcher grows steeply with length on inputs full of look-alike
//!   characters (≈ 0.15–0.7 s for 64–100 such characters, measured), so it only ever sees short
//!   strings; see [`ZXCVBN_PATTERN_MAX_CHARS`] and [`STRENGTH_MAX_CHARS`].

//!
//! The checks, one file each: [`common_list`] (the offline breached/common list),
//! [`patterns`] (dictionary words, repetition, runs and keyboard walks, each also behind a
//! small addition) and [`context`] (the username, the service's and the site's names).

mod common_list;
mod context;
mod patterns;

use unicode_normalization::UnicodeNormalization;

use context::{context_rejection, domain_labels};
use patterns::Weakness;

pub use common_list::offline_list_len;

/// Upper bound in UTF-8 bytes after normalization. It exists only to bound hashing and matching
/// work; 1024 bytes hold at least 256 code points (4 bytes each at most), far beyond the 64 that
/// §5.1.1.2 asks us to permit. Passwords are never truncated (5.1.1.2-no-truncation).
pub use parley_api::limits::PASSWORD_MAX_BYTES as MAX_BYTES;
/// §5.1.1.1: at least 8 characters, each Unicode code point counting as one (5.1.1.2-codepoint-length).
pub use parley_api::limits::PASSWORD_MIN_CODE_POINTS as MIN_CODE_POINTS;

/// The service's name: a context-specific word (§5.1.1.2, "the name of the service").
pub const SERVICE_NAME: &str = "parley";

/// zxcvbn's pattern checks ("one dictionary word", "one keyboard walk") only run on strings of at
/// most this many code points. The longest entry in zxcvbn's dictionaries has 23 characters, so a
/// longer string cannot be a single dictionary word; straight keyboard rows and alphabetic or
/// numeric runs of any length are caught by this module's own run detection.
pub const ZXCVBN_PATTERN_MAX_CHARS: usize = 24;

/// The strength meter rates at most this many leading code points. Rating a prefix can only
/// under-estimate (a prefix is never harder to guess than the whole), and every password that is
/// not made of obvious patterns already reaches the top score well within 32 characters.
pub const STRENGTH_MAX_CHARS: usize = 32;

/// Reason codes of the `password_rejected` error (docs/api.md). `breached` comes from the remote
/// check and `mismatch` from the confirmation field; both are produced by callers.
pub mod code {
    pub const TOO_SHORT: &str = "too_short";
    pub const TOO_LONG: &str = "too_long";
    pub const BREACHED: &str = "breached";
    pub const COMMON: &str = "common";
    pub const DICTIONARY_WORD: &str = "dictionary_word";
    pub const REPETITIVE: &str = "repetitive";
    pub const SEQUENTIAL: &str = "sequential";
    pub const CONTEXT_SPECIFIC: &str = "context_specific";
    pub const MISMATCH: &str = "mismatch";
}

/// NFKC normalization (UAX #15), applied to every password before it is checked, hashed or
/// compared (5.1.1.2-normalize), so that `café` typed with a precomposed or a combining accent, or
/// `ﬁ` versus `fi`, are the same password. Nothing else: no trimming, case folding, truncation
/// or space collapsing — every other character the user typed counts.
///
/// NFKC can lengthen a string (up to 18× for a few compatibility characters); callers bound the raw
/// input with the HTTP body limit, and [`MAX_BYTES`] applies to the normalized result.
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

/// One reason a password is refused (the one type: `AppError::PasswordRejected` carries it).
pub use crate::core::error::Rejection;

/// Every password message is written here.
impl Rejection {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
        }
    }

    /// The rejection for a password found by the Pwned Passwords check ([`super::breach`]), kept
    /// here so that every password message is written in one place.
    pub fn breached(count: u64) -> Self {
        Rejection::new(
            code::BREACHED,
            format!(
                "This password has appeared in {count} known data breaches, so attackers try it \
                 first. Please choose a different one."
            ),
        )
    }

    /// The rejection when the password and its confirmation differ.
    pub fn mismatch() -> Self {
        Rejection::new(code::MISMATCH, "The two passwords do not match.")
    }
}

/// Who is choosing the password, for the context-specific check (§5.1.1.2: "context-specific words,
/// such as the name of the service, the username, and derivatives thereof").
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The account's username; may be empty (the strength meter before a name is typed).
    pub username: &'a str,
    /// The site's domain, e.g. `chat.example.org`; may carry a `:port`.
    pub domain: &'a str,
}

/// Every local reason to refuse `password`, which must already be [`normalize`]d: `too_short`,
/// `too_long`, `common`, `dictionary_word`, `repetitive`, `sequential`, `context_specific` — each
/// code at most once, in that order. An empty vector means the password is acceptable locally (the
/// caller still runs the remote breach check).
///
/// A password over [`MAX_BYTES`] gets `too_long` alone: it is refused anyway, and analysing
/// arbitrarily long input would only be work for an attacker to trigger.
pub fn local_rejections(password: &str, ctx: &Context) -> Vec<Rejection> {
    if password.len() > MAX_BYTES {
        return vec![Rejection::new(
            code::TOO_LONG,
            format!(
                "This password is longer than {MAX_BYTES} bytes (as UTF-8). Please choose a \
                 shorter one."
            ),
        )];
    }
    let mut out = Vec::new();
    let length = password.chars().count();
    if length < MIN_CODE_POINTS {
        out.push(Rejection::new(
            code::TOO_SHORT,
            format!(
                "This password has {length} character{}; passwords need at least \
                 {MIN_CODE_POINTS} (every letter, space or emoji counts as one). Please choose a \
                 longer one.",
                if length == 1 { "" } else { "s" }
            ),
        ));
    }
    if password.is_empty() {
        return out;
    }

    let lower = password.to_lowercase();
    let weak = Weakness::of(&lower);
    if weak.common_exact {
        out.push(Rejection::new(
            code::COMMON,
            "This password appears in a list of commonly used or breached passwords. Please \
             choose a different one.",
        ));
    } else if weak.common_affixed {
        out.push(Rejection::new(
            code::COMMON,
            "This password is a commonly used or breached password with only a small addition \
             at the start or end (such as “1” or “!”), which attackers try early. Please choose a \
             different one.",
        ));
    }
    if weak.dictionary {
        out.push(Rejection::new(
            code::DICTIONARY_WORD,
            "This password is a single dictionary word or well-known password (perhaps \
             reversed, with look-alike substitutions such as “@” for “a”, or with a small \
             addition such as “1” or “!”), which attackers try first. Please choose a different \
             one.",
        ));
    }
    if weak.repetitive {
        out.push(Rejection::new(
            code::REPETITIVE,
            "This password repeats one character or a short group of characters (like \
             “aaaaaaaa” or “abcabcabc”), which is easy to guess. Please choose a different one.",
        ));
    }
    if weak.sequential {
        out.push(Rejection::new(
            code::SEQUENTIAL,
            "This password is a run of consecutive characters or neighbouring keyboard keys \
             (like “12345678”, “abcd1234” or “qwertyuiop”), which is easy to guess. Please \
             choose a different one.",
        ));
    }
    if let Some(rejection) = context_rejection(&lower, ctx) {
        out.push(rejection);
    }
    out
}

/// Strength-meter feedback (5.1.1.2-guidance).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Strength {
    /// zxcvbn's score: 0 (guessable in ≤ 10³ tries) to 4 (more than 10¹⁰).
    pub score: u8,
    pub warning: Option<String>,
    pub suggestions: Vec<String>,
}

/// zxcvbn's estimate for `password` (already normalized), with the username, the service name and
/// the domain's labels as user inputs so that passwords built on them rate low even in l33t or
/// reversed forms. Only the first [`STRENGTH_MAX_CHARS`] code points are rated, which bounds the
/// CPU time (≈ 30 ms worst case, typically < 1 ms).
pub fn strength(password: &str, ctx: &Context) -> Strength {
    let rated: String = password.chars().take(STRENGTH_MAX_CHARS).collect();
    let mut inputs: Vec<&str> = Vec::new();
    if !ctx.username.is_empty() {
        inputs.push(ctx.username);
    }
    inputs.push(SERVICE_NAME);
    inputs.extend(domain_labels(ctx.domain));
    let entropy = zxcvbn::zxcvbn(&rated, &inputs);
    let feedback = entropy.feedback();
    Strength {
        score: entropy.score().into(),
        warning: feedback.and_then(|f| f.warning()).map(|w| w.to_string()),
        suggestions: feedback
            .map(|f| f.suggestions().iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::common_list::{COMMON_PASSWORDS_GZ, is_common};
    use super::context::site_words;
    use super::*;
    use std::collections::HashSet;
    use std::io::Read;

    const CTX: Context<'static> = Context {
        username: "alice",
        domain: "chat.example.org",
    };

    fn codes(password: &str, ctx: &Context) -> Vec<&'static str> {
        local_rejections(&normalize(password), ctx)
            .into_iter()
            .map(|r| r.code)
            .collect()
    }

    /// §5.1.1.2-blocklist-check: the exact list from the verification checklist.
    #[test]
    fn the_checklist_blocklist_is_rejected() {
        for password in [
            "password",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
            "aaaaaaaa",
            "abcd1234",
            "1234abcd",
            "password1",
            "parley123",
            "alice123",
        ] {
            let found = codes(password, &CTX);
            assert!(!found.is_empty(), "{password:?} must be rejected");
            assert!(!found.contains(&code::TOO_SHORT), "{password:?}: {found:?}");
        }
    }

    #[test]
    fn each_pattern_gets_its_own_code() {
        let cases: &[(&str, &str)] = &[
            ("password", code::COMMON),
            ("password", code::DICTIONARY_WORD),
            ("password1", code::COMMON),
            ("iloveyou1", code::DICTIONARY_WORD),
            ("sunshine1", code::COMMON),
            ("monkey2024!", code::COMMON),
            ("p@ssw0rd", code::DICTIONARY_WORD),
            ("drowssap", code::DICTIONARY_WORD),
            ("lighthouse2024", code::DICTIONARY_WORD),
            ("aaaaaaaa", code::REPETITIVE),
            ("abababab", code::REPETITIVE),
            ("123123123", code::REPETITIVE),
            ("abcabcab", code::REPETITIVE),
            ("passwordpassword", code::REPETITIVE),
            ("aaaabbbb", code::REPETITIVE),
            ("12345678", code::SEQUENTIAL),
            ("abcdefgh", code::SEQUENTIAL),
            ("87654321", code::SEQUENTIAL),
            ("zyxwvuts", code::SEQUENTIAL),
            ("abcd1234", code::SEQUENTIAL),
            ("1234abcd", code::SEQUENTIAL),
            ("qwertyuiop", code::SEQUENTIAL),
            ("asdfghjkl", code::SEQUENTIAL),
            ("poiuytrewq", code::SEQUENTIAL),
            ("!@#$%^&*", code::SEQUENTIAL),
            ("abc123xyz", code::SEQUENTIAL),
            ("qazwsxedc", code::COMMON),
            ("wsxcderfv", code::SEQUENTIAL),
            ("йцукенгш", code::SEQUENTIAL),
            ("parley123", code::CONTEXT_SPECIFIC),
            ("Parley2026!", code::CONTEXT_SPECIFIC),
            ("PARLEYPARLEY", code::CONTEXT_SPECIFIC),
            ("yelrap2026", code::CONTEXT_SPECIFIC),
            ("alice123", code::CONTEXT_SPECIFIC),
            ("alice2024", code::CONTEXT_SPECIFIC),
            ("Alicepassword", code::CONTEXT_SPECIFIC),
            ("example-2024", code::CONTEXT_SPECIFIC),
        ];
        for (password, expected) in cases {
            let found = codes(password, &CTX);
            assert!(
                found.contains(expected),
                "{password:?}: expected {expected}, got {found:?}"
            );
        }
    }

    /// 5.1.1.2-no-composition, -ascii-space, -unicode, -max-length-64.
    #[test]
    fn good_passwords_are_accepted() {
        let printable: String = (' '..='~').collect();
        let every_ascii = format!("  {} and {}  ", &printable[..40], &printable[40..]);
        let accepted = [
            "correct horse battery staple".to_string(),
            "bookkeeper committee".to_string(),
            "pässwörd-пароль-密码-😀".to_string(),
            "😀😁😂🤣😃😄😅😆".to_string(),
            "alice-walks-seven-ridges".to_string(),
            "parley-is-where-we-meet-at-dawn".to_string(),
            "Tr0ub4dor&3 is not my password".to_string(),
            "vN7#qL2!xR9$mK4@pW6%tZ8^bH3&jD5*".to_string(),
            // 64 and 128 code points, random-looking.
            "k3VpX9qLmR2wTz7bYf4NcJ8hUa6sDe1GoQ5iWn0tBv3MxKr9LpZy2HcFj7SdAg4E".to_string(),
            "k3VpX9qLmR2wTz7bYf4NcJ8hUa6sDe1GoQ5iWn0tBv3MxKr9LpZy2HcFj7SdAg4E\
             Hq8Tb1Wm5Rx0Nz3Pc7Ly2Vk6Fs9Dj4Ga1Ue8Io5Yt2Mw7Qb0Kh3Xn6Zr9Cp4Sf1J"
                .to_string(),
            every_ascii,
            // Random strings that looser pattern rules used to refuse (see `Weakness::core`,
            // `Shape::keyboard_walk`, `is_sequential`).
            "4{73fTFf".to_string(),
            "(TH@d3'4".to_string(),
            "zIL7A6^&".to_string(),
            "-opQz'=`".to_string(),
            "%]-ablLi".to_string(),
            "@ 5hgFRF".to_string(),
            "akdsawer".to_string(),
            "2414833856".to_string(),
            "758628649626".to_string(),
        ];
        for password in &accepted {
            let found = codes(password, &CTX);
            assert!(
                found.is_empty(),
                "{password:?} must be accepted, got {found:?}"
            );
        }
        assert_eq!(accepted[8].chars().count(), 64);
        assert_eq!(accepted[9].chars().count(), 128);
    }

    /// 5.1.1.2-codepoint-length and the byte ceiling.
    #[test]
    fn length_counts_code_points_and_bytes_are_bounded() {
        assert_eq!(
            codes("😀😀😀😀", &CTX),
            vec![code::TOO_SHORT, code::REPETITIVE]
        );
        assert!(!codes("😀😀😀😀😀😀😀😀", &CTX).contains(&code::TOO_SHORT));
        assert!(codes("Xk9#mQ2", &CTX).contains(&code::TOO_SHORT));
        assert!(codes("Xk9#mQ2v", &CTX).is_empty());
        assert!(codes("", &CTX).contains(&code::TOO_SHORT));

        let at_limit = "é".repeat(MAX_BYTES / 2);
        assert!(!codes(&at_limit, &CTX).contains(&code::TOO_LONG));
        let over = format!("{at_limit}x");
        assert_eq!(codes(&over, &CTX), vec![code::TOO_LONG]);
        // 256 four-byte code points fit.
        let emoji: String = ('\u{1F600}'..='\u{1F64F}').cycle().take(256).collect();
        assert!(!codes(&emoji, &CTX).contains(&code::TOO_LONG));
    }

    /// 5.1.1.2-normalize: NFKC, nothing else.
    #[test]
    fn normalization_is_nfkc_only() {
        assert_eq!(normalize("cafe\u{301}"), "caf\u{e9}");
        assert_eq!(normalize("\u{FB01}"), "fi");
        assert_eq!(normalize("  Two  Spaces  "), "  Two  Spaces  ");
        let long = "x".repeat(5000);
        assert_eq!(normalize(&long), long);
    }

    /// 5.1.1.2-blocklist-advise / -reason / -no-composition: every message explains and asks
    /// for another password, and none asks for a kind of character.
    #[test]
    fn messages_say_why_and_never_demand_character_classes() {
        let mut seen = HashSet::new();
        for password in [
            "",
            "password",
            "monkey2024!",
            "p@ssw0rd",
            "aaaaaaaa",
            "abcd1234",
            "alice123",
            &"x".repeat(2000),
        ] {
            for r in local_rejections(password, &CTX) {
                let m = r.message.to_lowercase();
                assert!(m.contains("please choose"), "{m}");
                for demand in ["must contain", "include a", "uppercase", "digit", "symbol"] {
                    assert!(!m.contains(demand), "{m}");
                }
                seen.insert(r.code);
            }
        }
        assert_eq!(seen.len(), 7, "{seen:?}");
        assert!(
            Rejection::breached(3)
                .message
                .contains("3 known data breaches")
        );
    }

    #[test]
    fn context_words_need_to_be_the_main_content() {
        let bob = Context {
            username: "ann",
            domain: "localhost",
        };
        assert!(codes("planning a big trip", &bob).is_empty());
        assert!(codes("ann12345", &bob).contains(&code::CONTEXT_SPECIFIC));
        // Short usernames and localhost are not context words.
        let al = Context {
            username: "al",
            domain: "localhost:8443",
        };
        assert!(codes("al-9f3K!x", &al).is_empty());
        assert!(!codes("localhost1", &al).contains(&code::CONTEXT_SPECIFIC));
        assert_eq!(site_words("chat.example.org:8443"), vec!["chat", "example"]);
        assert_eq!(site_words("www.parley.example"), vec!["parley"]);
        assert!(site_words("127.0.0.1").is_empty());
        assert!(site_words("[::1]:8443").is_empty());
    }

    #[test]
    fn offline_list_is_embedded_normalized_and_sorted() {
        let text = {
            let mut t = String::new();
            flate2::read::GzDecoder::new(COMMON_PASSWORDS_GZ)
                .read_to_string(&mut t)
                .unwrap();
            t
        };
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), offline_list_len());
        assert!(offline_list_len() > 50_000, "{}", offline_list_len());
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        for line in &lines {
            assert_eq!(normalize(&line.to_lowercase()), *line);
        }
        for p in [
            "password",
            "password1",
            "iloveyou",
            "qwertyuiop",
            "123456789",
        ] {
            assert!(is_common(p), "{p}");
        }
        assert!(!is_common("correct horse battery staple"));
    }

    #[test]
    fn strength_meter_uses_context_and_is_bounded() {
        let weak = strength("alice2024", &CTX);
        assert!(weak.score <= 1, "{weak:?}");
        assert!(weak.warning.is_some() || !weak.suggestions.is_empty());
        let strong = strength("correct horse battery staple", &CTX);
        assert_eq!(strong.score, 4);
        let p4rl3y = strength("p4rl3y", &CTX);
        assert!(p4rl3y.score <= 1, "{p4rl3y:?}");
        // Adversarial input full of l33t characters stays fast.
        let nasty = "4@8(<{[1!|0$5+7%2".repeat(60);
        let start = std::time::Instant::now();
        let _ = strength(&nasty, &CTX);
        let _ = local_rejections(&nasty, &CTX);
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
