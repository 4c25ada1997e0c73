//! Context checks (§5.1.1.2, "context-specific words, such as the name of the service, the
//! username, and derivatives thereof").

use super::patterns::Weakness;
use super::{Context, MIN_CODE_POINTS, Rejection, SERVICE_NAME, code};

/// A context word (username, service or site name) shorter than this is ignored: a two-letter
/// username would otherwise match inside unrelated words.
const MIN_USERNAME_CHARS: usize = 3;
const MIN_DOMAIN_LABEL_CHARS: usize = 4;

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
pub(super) fn site_words(domain: &str) -> Vec<String> {
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
pub(super) fn domain_labels(domain: &str) -> impl Iterator<Item = &str> {
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
pub(super) fn context_rejection(lower: &str, ctx: &Context) -> Option<Rejection> {
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
