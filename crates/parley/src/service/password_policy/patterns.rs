//! Pattern checks: a dictionary word (zxcvbn), one character or a short group repeated, runs of
//! consecutive characters or keyboard keys — on the whole password and on what is left without
//! a small addition at either end.

use zxcvbn::matching::patterns::MatchPattern;

use super::ZXCVBN_PATTERN_MAX_CHARS;
use super::common_list::is_common;

/// At most this many characters of "small addition" (ASCII digits, punctuation, spaces) at the start
/// and end of a password are looked through when deciding whether it is a weak value
/// (`password1`, `monkey2024!`, `  qwerty  `).
const MAX_AFFIX_CHARS: usize = 6;
/// The part left after removing such an addition must have at least this many code points to be
/// judged on its own; shorter remainders say nothing reliable.
const MIN_CORE_CHARS: usize = 4;
/// A repeated unit up to this long makes a password repetitive whatever the unit is (`abcabcabc`).
const SHORT_UNIT_CHARS: usize = 4;

/// What makes a (lower-cased) string a weak password, looking at it whole and, when it has a small
/// addition at either end, at what is left without it.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Weakness {
    pub(super) common_exact: bool,
    pub(super) common_affixed: bool,
    pub(super) dictionary: bool,
    pub(super) repetitive: bool,
    pub(super) sequential: bool,
}

impl Weakness {
    pub(super) fn of(lower: &str) -> Weakness {
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

    pub(super) fn any(&self) -> bool {
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
