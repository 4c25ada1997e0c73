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

use std::collections::HashSet;
use std::io::Read;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;
use zxcvbn::matching::patterns::MatchPattern;

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

/// At most this many characters of "small addition" (ASCII digits, punctuation, spaces) at the start
/// and end of a password are looked through when deciding whether it is a weak value
/// (`password1`, `monkey2024!`, `  qwerty  `).
const MAX_AFFIX_CHARS: usize = 6;
/// The part left after removing such an addition must have at least this many code points to be
/// judged on its own; shorter remainders say nothing reliable.
const MIN_CORE_CHARS: usize = 4;
/// A repeated unit up to this long makes a password repetitive whatever the unit is (`abcabcabc`).
const SHORT_UNIT_CHARS: usize = 4;
/// A context word (username, service or site name) shorter than this is ignored: a two-letter
/// username would otherwise match inside unrelated words.
const MIN_USERNAME_CHARS: usize = 3;
const MIN_DOMAIN_LABEL_CHARS: usize = 4;

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
        Rejection::new(
            code::MISMATCH,
            "The two passwords do not match.",
        )
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

/// Number of entries in the embedded offline list. Calling it loads the list, so startup code can
/// use it to pay the (≈ 10 ms) decompression up front and log the count early.
pub fn offline_list_len() -> usize {
    COMMON_PASSWORDS.len()
}

// ---------------------------------------------------------------------------------------------
// The offline breached/common list

/// The union of Django's and zxcvbn-ts's common-password lists, NFKC-normalized, lower-cased, one
/// per line: see `data/PROVENANCE.md`. It is the fallback when Pwned Passwords is unreachable and a
/// first, offline line of defence when it is not.
static COMMON_PASSWORDS_GZ: &[u8] = include_bytes!("../../data/common-passwords.txt.gz");

static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let mut text = String::new();
    flate2::read::GzDecoder::new(COMMON_PASSWORDS_GZ)
        .read_to_string(&mut text)
        .expect("the embedded password list is valid gzip'ed UTF-8 (checked by a unit test)");
    let set: HashSet<String> = text.lines().map(str::to_owned).collect();
    tracing::info!(
        "offline breached-password list: {} entries (Django + zxcvbn-ts, BSD-3-Clause/MIT)",
        set.len()
    );
    set
});

fn is_common(lower: &str) -> bool {
    COMMON_PASSWORDS.contains(lower)
}

// ---------------------------------------------------------------------------------------------
// Pattern analysis

/// What makes a (lower-cased) string a weak password, looking at it whole and, when it has a small
/// addition at either end, at what is left without it.
#[derive(Debug, Default, Clone, Copy)]
struct Weakness {
    common_exact: bool,
    common_affixed: bool,
    dictionary: bool,
    repetitive: bool,
    sequential: bool,
}

impl Weakness {
    fn of(lower: &str) -> Weakness {
        let mut weak = Weakness::whole(lower);
        if let Some(core) = core_without_affix(lower) {
            let inner = Weakness::core(core);
            weak.common_affixed = inner.common_exact;
            weak.dictionary |= inner.dictionary;
            weak.repetitive |= inner.repetitive;
            weak.sequential |= inner.sequential;
        }
        weak
    }

    fn whole(lower: &str) -> Weakness {
        let shape = Shape::of(lower);
        Weakness {
            common_exact: is_common(lower),
            common_affixed: false,
            dictionary: shape.dictionary,
            repetitive: is_repetitive(lower),
            sequential: shape.keyboard_walk || is_sequential(lower),
        }
    }

    /// The checks applied to what is left after removing a small addition. Short strings match
    /// loose patterns by chance (a random `th@d` reads as l33t "thad"), so only the strict ones
    /// count here: exact list entries, plain (non-l33t) dictionary words, short repeated units and
    /// runs — measured on random passwords, the looser checks refused a few per thousand.
    fn core(lower: &str) -> Weakness {
        Weakness {
            common_exact: is_common(lower),
            common_affixed: false,
            dictionary: Shape::of(lower).plain_dictionary,
            repetitive: periodic_unit(lower).is_some_and(|unit| unit <= SHORT_UNIT_CHARS),
            sequential: is_sequential(lower),
        }
    }

    fn any(&self) -> bool {
        self.common_exact
            || self.common_affixed
            || self.dictionary
            || self.repetitive
            || self.sequential
    }
}

/// A "small addition": what people tack on to satisfy composition rules or to make an old
/// password "new" (`1`, `!`, `2024`, spaces).
fn is_affix_char(c: char) -> bool {
    c.is_ascii_digit() || c.is_ascii_punctuation() || c == ' '
}

/// `s` without a leading and trailing run of affix characters, if together they are at most
/// [`MAX_AFFIX_CHARS`] long and what remains is the larger part, with at least
/// [`MIN_CORE_CHARS`] code points.
fn core_without_affix(s: &str) -> Option<&str> {
    let core = s.trim_matches(is_affix_char);
    let core_chars = core.chars().count();
    let removed = s.chars().count() - core_chars;
    let small_addition = removed > 0 && removed <= MAX_AFFIX_CHARS && removed < core_chars;
    (small_addition && core_chars >= MIN_CORE_CHARS).then_some(core)
}

/// What zxcvbn's best match sequence says about a whole string.
#[derive(Debug, Default, Clone, Copy)]
struct Shape {
    /// One dictionary match covers it all, including l33t and reversed forms (`p@ssw0rd`,
    /// `drowssap`).
    dictionary: bool,
    /// The same without l33t substitutions.
    plain_dictionary: bool,
    /// One keyboard-walk match on a full keyboard covers it all (`wsxcderfv`). Keypad walks are
    /// left out: nearly every digit neighbours every other on a keypad, so random PINs would match.
    keyboard_walk: bool,
}

impl Shape {
    fn of(lower: &str) -> Shape {
        if lower.is_empty() || lower.chars().count() > ZXCVBN_PATTERN_MAX_CHARS {
            return Shape::default();
        }
        // No user inputs here: context words are judged by `context_rejection`.
        let entropy = zxcvbn::zxcvbn(lower, &[]);
        match entropy.sequence() {
            [only] => match &only.pattern {
                MatchPattern::Dictionary(d) => Shape {
                    dictionary: true,
                    plain_dictionary: !d.l33t,
                    keyboard_walk: false,
                },
                MatchPattern::Spatial(s) => Shape {
                    keyboard_walk: !s.graph.contains("keypad"),
                    ..Shape::default()
                },
                _ => Shape::default(),
            },
            _ => Shape::default(),
        }
    }
}

/// One character or a short group repeated (`aaaaaaaa`, `abababab`, `123123123`, also a trailing
/// partial repeat such as `abcabcab`), a weak group repeated (`passwordpassword`), or a string of at
/// most two distinct characters (`aaaabbbb`). A strong phrase typed twice is *not* repetitive:
/// repeating only doubles the work an attacker does for the phrase.
fn is_repetitive(lower: &str) -> bool {
    let chars: Vec<char> = lower.chars().collect();
    let n = chars.len();
    if n < 2 {
        return false;
    }
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() <= 2 && n >= 3 {
        return true;
    }
    let Some(period) = periodic_unit(lower) else {
        return false;
    };
    if period <= SHORT_UNIT_CHARS {
        return true;
    }
    let unit: String = chars[..period].iter().collect();
    let weak = Weakness::whole(&unit);
    weak.common_exact || weak.dictionary || weak.sequential
}

/// The smallest period of `s` that repeats at least twice (`abcabcab` → 3), if any.
fn periodic_unit(s: &str) -> Option<usize> {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    (1..=n / 2).find(|&p| (p..n).all(|i| chars[i] == chars[i - p]))
}

/// Keyboard rows (lower-case, unshifted and shifted) for QWERTY, QWERTZ, AZERTY and Russian
/// ЙЦУКЕН layouts. Neighbours in a row, either direction, continue a run.
const KEYBOARD_ROWS: &[&str] = &[
    "`1234567890-=",
    "~!@#$%^&*()_+",
    "qwertyuiop[]\\",
    "qwertyuiop{}|",
    "asdfghjkl;'",
    "asdfghjkl:\"",
    "zxcvbnm,./",
    "zxcvbnm<>?",
    "qwertzuiopü",
    "yxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "йцукенгшщзхъ",
    "фывапролджэ",
    "ячсмитьбю",
];

/// How one character may follow another in a run.
#[derive(Clone, Copy)]
enum Step {
    /// Next (`+1`) or previous (`-1`) code point, both letters or both digits: `abcd`, `4321`.
    CodePoint(i8),
    /// Next or previous key in a keyboard row: `qwer`, `lkjh`, `!@#$`.
    Row(usize, i8),
}

impl Step {
    fn all() -> impl Iterator<Item = Step> {
        [Step::CodePoint(1), Step::CodePoint(-1)]
            .into_iter()
            .chain((0..KEYBOARD_ROWS.len()).flat_map(|r| [Step::Row(r, 1), Step::Row(r, -1)]))
    }

    fn follows(self, a: char, b: char) -> bool {
        match self {
            Step::CodePoint(d) => {
                let same_class =
                    (a.is_alphabetic() && b.is_alphabetic()) || (a.is_numeric() && b.is_numeric());
                same_class && (b as i64 - a as i64) == i64::from(d)
            }
            Step::Row(r, d) => {
                let row = KEYBOARD_ROWS[r];
                match (
                    row.chars().position(|c| c == a),
                    row.chars().position(|c| c == b),
                ) {
                    (Some(i), Some(j)) => j as i64 - i as i64 == i64::from(d),
                    _ => false,
                }
            }
        }
    }
}

/// Splits `chars` greedily into maximal runs (each the longest run starting at that point under
/// any single [`Step`]) and returns their lengths.
fn run_lengths(chars: &[char]) -> Vec<usize> {
    let mut lengths = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let best = Step::all()
            .map(|step| {
                1 + chars[i..]
                    .windows(2)
                    .take_while(|w| step.follows(w[0], w[1]))
                    .count()
            })
            .max()
            .unwrap_or(1);
        lengths.push(best);
        i += best;
    }
    lengths
}

/// Made of one to three runs of at least three consecutive characters or keys — entirely
/// (`12345678`, `87654321`, `abcd1234`, `qwertyuiop`, `abc123xyz`), or but for at most two other
/// characters when the runs are substantial (`abcdefg1`, `qwerty12`): at least six characters in
/// runs, one of them at least four long. (Two three-key runs plus two stray characters, as in
/// `akdsawer`, turn up in random strings too often to refuse.)
fn is_sequential(lower: &str) -> bool {
    let chars: Vec<char> = lower.chars().collect();
    let runs: Vec<usize> = run_lengths(&chars)
        .into_iter()
        .filter(|&len| len >= 3)
        .collect();
    if !(1..=3).contains(&runs.len()) {
        return false;
    }
    let covered: usize = runs.iter().sum();
    let others = chars.len() - covered;
    let longest = runs.iter().copied().max().unwrap_or(0);
    others == 0 || (others <= 2 && covered >= 6 && longest >= 4)
}

// ---------------------------------------------------------------------------------------------
// Context-specific words

/// What a context word is, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Username,
    Service,
    Site,
}

/// The site's name parts that are worth refusing: every label but the top-level domain, skipping
/// `www`, `localhost`, numeric labels (IP addresses) and labels shorter than four characters
/// (`chat.example.org` gives `chat`, `example`).
fn site_words(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain_labels(domain).collect();
    let keep = if labels.len() > 1 {
        labels.len() - 1
    } else {
        labels.len()
    };
    labels[..keep]
        .iter()
        .map(|l| l.to_lowercase())
        .filter(|l| {
            l.chars().count() >= MIN_DOMAIN_LABEL_CHARS
                && l != "localhost"
                && l != "www"
                && !l.chars().all(|c| c.is_ascii_digit())
        })
        .collect()
}

/// The non-empty labels of a domain, without a `:port` (an IPv6 literal yields hex groups, which
/// the callers' filters drop as too short or numeric).
fn domain_labels(domain: &str) -> impl Iterator<Item = &str> {
    let host = match domain.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) && !host.contains(':') => {
            host
        }
        _ => domain,
    };
    host.split(['.', ':', '[', ']']).filter(|l| !l.is_empty())
}

/// Refuses a password whose main content is the username, the service's name or the site's name:
/// one that contains such a word (case-insensitively, also reversed) and whose *remainder* — the
/// password with every occurrence removed — would not be acceptable on its own, because it is
/// shorter than [`MIN_CODE_POINTS`] or is itself common, a dictionary word, repetitive or
/// sequential. So `parley123`, `Parley2026!`, `alice2024` and `alicepassword` are refused, while a
/// passphrase that merely includes the name (`alice-walks-seven-ridges`) is not.
///
/// l33t spellings of context words (`p4rl3y`) are left to the strength meter, which passes the
/// same words to zxcvbn.
fn context_rejection(lower: &str, ctx: &Context) -> Option<Rejection> {
    let mut words: Vec<(String, Source)> = Vec::new();
    let username = ctx.username.to_lowercase();
    if username.chars().count() >= MIN_USERNAME_CHARS {
        words.push((username, Source::Username));
    }
    words.push((SERVICE_NAME.to_string(), Source::Service));
    words.extend(
        site_words(ctx.domain)
            .into_iter()
            .map(|w| (w, Source::Site)),
    );
    // Each word forwards and reversed; the longest first so that a word containing another is
    // removed whole.
    let mut variants: Vec<(String, Source)> = words
        .iter()
        .flat_map(|(w, s)| [(w.clone(), *s), (w.chars().rev().collect(), *s)])
        .collect();
    variants.sort_by_key(|(w, _)| std::cmp::Reverse(w.chars().count()));
    variants.dedup_by(|a, b| a.0 == b.0);

    let mut remainder = lower.to_string();
    let mut found: Vec<Source> = Vec::new();
    for (word, source) in &variants {
        if remainder.contains(word.as_str()) {
            remainder = remainder.replace(word.as_str(), "");
            found.push(*source);
        }
    }
    if found.is_empty() {
        return None;
    }
    let main_content =
        remainder.chars().count() < MIN_CODE_POINTS || Weakness::of(&remainder).any();
    if !main_content {
        return None;
    }
    found.sort_unstable();
    found.dedup();
    let names: Vec<&str> = found
        .iter()
        .map(|s| match s {
            Source::Username => "your username",
            Source::Service => "the name of this service (“Parley”)",
            Source::Site => "this site's address",
        })
        .collect();
    Some(Rejection::new(
        code::CONTEXT_SPECIFIC,
        format!(
            "This password is mostly {}, which is among the first things attackers try. Please \
             choose a different one.",
            names.join(" and ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

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
