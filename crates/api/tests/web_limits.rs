//! `web/limits.js` is rendered from `src/limits.rs` (issue 11: every bound declared once, the
//! browser reading the numbers from one file). This test renders it again and fails when the
//! committed file differs, so the two cannot drift; `PARLEY_UPDATE_WEB_LIMITS=1` rewrites it.
//! It also fails when an item of `limits.rs` is missing from the table below, or has no `///`
//! line to become its JSDoc.

use std::path::PathBuf;

use parley_api::limits;

/// Every item of `limits.rs`, by name, with its value (all exact in a JavaScript number).
macro_rules! table {
    ($($name:ident),* $(,)?) => {
        [$((stringify!($name), i128::try_from(limits::$name).expect("fits in i128"))),*]
    };
}

fn values() -> Vec<(&'static str, i128)> {
    table![
        MAX_CIPHERTEXT_BYTES,
        MAX_PLAINTEXT_BYTES,
        TAG_BYTES,
        MAX_COUNTER,
        PUBLIC_KEY_BYTES,
        FIELD_BYTES,
        MAX_PAYLOAD_BYTES,
        IV_BYTES,
        MAC_BYTES,
        NONCE_BYTES,
        KEY_SET_ID_MAX_CHARS,
        USER_ID_CHARS,
        PAGE_DEFAULT,
        PAGE_MAX,
        USERNAME_MIN,
        USERNAME_MAX,
        PASSWORD_MIN_CODE_POINTS,
        PASSWORD_MAX_BYTES,
        CAPTCHA_LENGTH,
        CAPTCHA_TTL_SECS,
        RECOVERY_CODES,
        TOTP_DIGITS,
        TOTP_PERIOD_SECS,
        SECURITY_LOG_MAX,
        CLOCK_ADVANCE_MAX_SECS,
        REGISTRATION_SECS,
        REGISTRATION_MAX_ATTEMPTS,
        ENROLMENT_MAX_ATTEMPTS,
        FACTOR_MAX_FAILURES,
        SESSION_IDLE_SECS,
        SESSION_ABSOLUTE_SECS,
        SESSION_PENDING_SECS,
        MAX_FRAME_BYTES,
        ACK_IDS_MAX,
        BACKLOG_PAGE,
    ]
    .to_vec()
}

/// What `limits.rs` declares, in order: section rules (`// ---- …`) and items with their docs.
enum Line {
    Section(String),
    Item { name: String, doc: Vec<String> },
}

fn parse(source: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut doc: Vec<String> = Vec::new();
    for line in source.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim().to_owned());
            continue;
        }
        let name = line
            .strip_prefix("pub const ")
            .and_then(|rest| rest.split(':').next())
            .or_else(|| {
                line.strip_prefix("pub use parley_protocol::")
                    .and_then(|rest| rest.strip_suffix(';'))
            });
        if let Some(name) = name {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "limits.rs: write one `pub use parley_protocol::NAME;` or `pub const NAME` per line, not `{line}`"
            );
            assert!(!doc.is_empty(), "limits.rs: {name} has no `///` line");
            out.push(Line::Item {
                name: name.to_owned(),
                doc: std::mem::take(&mut doc),
            });
        } else {
            if line.starts_with("// ----") {
                out.push(Line::Section(line.to_owned()));
            }
            doc.clear();
        }
    }
    out
}

fn render() -> String {
    let values = values();
    let lines = parse(include_str!("../src/limits.rs"));
    let mut declared: Vec<&str> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Item { name, .. } => Some(name.as_str()),
            Line::Section(_) => None,
        })
        .collect();
    let mut listed: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
    declared.sort_unstable();
    listed.sort_unstable();
    assert_eq!(
        declared, listed,
        "the table in tests/web_limits.rs must name every item of limits.rs"
    );

    let mut js = String::from(
        "// @ts-check\n\
         // Generated from crates/api/src/limits.rs by crates/api/tests/web_limits.rs; do not edit.\n\
         // To change a bound, change limits.rs and run\n\
         //   PARLEY_UPDATE_WEB_LIMITS=1 cargo test -p parley-api --test web_limits\n\
         /**\n \
         * Every bound of the API and the protocol, declared once (issue 11): the server enforces\n \
         * these numbers and the browser reads them from here.\n \
         */\n",
    );
    const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;
    for line in &lines {
        match line {
            Line::Section(rule) => {
                js.push('\n');
                js.push_str(rule);
                js.push('\n');
            }
            Line::Item { name, doc } => {
                let value = values
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| *v)
                    .expect("listed");
                assert!(
                    value.abs() <= MAX_SAFE_INTEGER,
                    "{name} = {value} is not exact in a JavaScript number"
                );
                js.push('\n');
                if let [one] = doc.as_slice() {
                    js.push_str(&format!("/** {one} */\n"));
                } else {
                    js.push_str("/**\n");
                    for d in doc {
                        js.push_str(&format!(" * {d}\n").replace(" * \n", " *\n"));
                    }
                    js.push_str(" */\n");
                }
                assert!(
                    !doc.iter().any(|d| d.contains("*/")),
                    "{name}: a doc line may not contain */"
                );
                js.push_str(&format!("export const {name} = {value};\n"));
            }
        }
    }
    js
}

#[test]
fn web_limits_js_is_rendered_from_limits_rs() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/limits.js");
    let expected = render();
    if std::env::var_os("PARLEY_UPDATE_WEB_LIMITS").is_some() {
        std::fs::write(&path, &expected).expect("write web/limits.js");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "web/limits.js differs from crates/api/src/limits.rs; run\n  \
         PARLEY_UPDATE_WEB_LIMITS=1 cargo test -p parley-api --test web_limits\n\
         --- expected ---\n{expected}"
    );
}

#[test]
fn the_parser_reads_items_docs_and_sections() {
    let lines = parse("// ---- a ----\n/// One.\n/// Two.\npub const A_B: usize = 1;\n\n/// Lost.\n// x\n/// Three.\npub use parley_protocol::C;\n")
        .into_iter()
        .map(|l| match l {
            Line::Section(s) => s,
            Line::Item { name, doc } => format!("{name}: {}", doc.join("|")),
        })
        .collect::<Vec<_>>();
    assert_eq!(lines, ["// ---- a ----", "A_B: One.|Two.", "C: Three."]);
}
