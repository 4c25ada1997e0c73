//! The offline breached/common list: the first, offline line of defence against a password
//! attackers try first.

use std::collections::HashSet;
use std::io::Read;
use std::sync::LazyLock;

/// Number of entries in the embedded offline list. Calling it loads the list, so startup code can
/// use it to pay the (≈ 10 ms) decompression up front and log the count early.
pub fn offline_list_len() -> usize {
    COMMON_PASSWORDS.len()
}

/// The union of Django's and zxcvbn-ts's common-password lists, NFKC-normalized, lower-cased, one
/// per line: see `data/PROVENANCE.md`. It is the fallback when Pwned Passwords is unreachable and a
/// first, offline line of defence when it is not.
pub(super) static COMMON_PASSWORDS_GZ: &[u8] =
    include_bytes!("../../../data/common-passwords.txt.gz");

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

pub(super) fn is_common(lower: &str) -> bool {
    COMMON_PASSWORDS.contains(lower)
}
