//! Every requirement ID the Rust code cites resolves to a row of docs/ (issue 11): a product
//! requirement (`E1`, `A4`, `T7`, `C3`, `P1`, `X2`, in comments as `(A3)` or in test names as
//! `a3_…`, `t1_t2_…`) must have its row in a table of docs/ (`| E1 | …`, or a range row
//! `| C1–C8 | …`), and a test named after a NIST SP 800-63B row (`r7_2_extend_by_prompt_…`) must
//! name a row that docs/compliance.md lists (`| 7.2-extend-by-prompt | …`) or be cited there by
//! its full name.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The letters of the product requirements (docs/compliance.md, REQUIREMENTS.md).
const KINDS: &[char] = &['E', 'A', 'T', 'C', 'P', 'X'];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                files(&path, ext, out);
            }
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// `E1`, `X6`: a requirement letter and one or two digits.
fn requirement_id(word: &str) -> Option<(char, u32)> {
    let mut chars = word.chars();
    let kind = chars.next().filter(|c| KINDS.contains(c))?;
    let digits = chars.as_str();
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((kind, digits.parse().ok()?))
}

/// The requirement IDs a source file cites: whole words (`(A3)`, `E1–E10`) and the leading
/// IDs of test names (`fn t1_t2_t3_…`).
fn cited_requirements(src: &str) -> BTreeSet<String> {
    let mut cited = BTreeSet::new();
    for word in src.split(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
        if requirement_id(word).is_some() {
            cited.insert(word.to_string());
        }
    }
    for name in test_names(src) {
        for part in name.split('_') {
            match requirement_id(&part.to_uppercase()) {
                Some(_) if part.chars().next().is_some_and(|c| c.is_ascii_lowercase()) => {
                    cited.insert(part.to_uppercase());
                }
                _ => break,
            }
        }
    }
    cited
}

fn test_names(src: &str) -> impl Iterator<Item = &str> {
    src.split("fn ").skip(1).filter_map(|rest| {
        let name = rest
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .next()?;
        (!name.is_empty()).then_some(name)
    })
}

/// Test names that cite a NIST row (`r4_2_1_combo_…`, also after `_and_`), from that point on.
fn cited_nist_rows(src: &str) -> BTreeSet<String> {
    let mut cited = BTreeSet::new();
    for name in test_names(src) {
        let mut at = 0;
        while let Some(i) = name[at..].find('r').map(|i| i + at) {
            let starts = i == 0 || name[..i].ends_with("_and_");
            if starts && name[i + 1..].starts_with(|c: char| c.is_ascii_digit()) {
                cited.insert(name[i..].to_string());
            }
            at = i + 1;
        }
    }
    cited
}

/// The first cell of every table row of a document.
fn first_cells(doc: &str) -> impl Iterator<Item = &str> {
    doc.lines()
        .filter_map(|l| l.strip_prefix('|'))
        .filter_map(|l| l.split('|').next())
        .map(str::trim)
}

/// The requirement IDs with a row: `| E1 |`, or in a range row `| C1–C8 |`.
fn documented_requirements(docs: &str) -> BTreeSet<String> {
    let mut rows = BTreeSet::new();
    for cell in first_cells(docs) {
        let cell = cell.trim_matches('*');
        if let Some((from, to)) = cell.split_once(['–', '-'])
            && let (Some((k1, a)), Some((k2, b))) = (requirement_id(from), requirement_id(to))
            && k1 == k2
        {
            rows.extend((a..=b).map(|n| format!("{k1}{n}")));
        } else if requirement_id(cell).is_some() {
            rows.insert(cell.to_string());
        }
    }
    rows
}

/// NIST rows as test-name prefixes: `| 7.2-extend-by-prompt |` → `r7_2_extend_by_prompt`.
fn documented_nist_rows(docs: &str) -> Vec<String> {
    first_cells(docs)
        .filter(|c| c.starts_with(|ch: char| ch.is_ascii_digit()) && c.contains('-'))
        .map(|c| format!("r{}", c.replace(['.', '-'], "_").to_lowercase()))
        .collect()
}

/// What the sources cite that docs/ does not hold: (file, id).
fn unresolved(sources: &[(String, String)], docs: &str) -> Vec<(String, String)> {
    let rows = documented_requirements(docs);
    let nist = documented_nist_rows(docs);
    let mut missing = Vec::new();
    for (file, src) in sources {
        for id in cited_requirements(src) {
            if !rows.contains(&id) {
                missing.push((file.clone(), id));
            }
        }
        for name in cited_nist_rows(src) {
            // Named after a row (`r7_2_extend_by_prompt_…`), or one test for several rows of a
            // section, cited by its name in the evidence column.
            let resolves = docs.contains(name.as_str())
                || nist.iter().any(|row| {
                    name.strip_prefix(row.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
                });
            if !resolves {
                missing.push((file.clone(), name));
            }
        }
    }
    missing
}

fn docs() -> String {
    let mut paths = Vec::new();
    files(&repo().join("docs"), "md", &mut paths);
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_requirement_id_cited_in_the_code_resolves_to_a_row_in_docs() {
    let mut paths = Vec::new();
    files(&repo().join("crates"), "rs", &mut paths);
    let root = repo();
    let sources: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap_or(p).display().to_string();
            (name, std::fs::read_to_string(p).unwrap())
        })
        .collect();
    assert!(sources.len() > 50, "found the sources: {}", sources.len());
    let docs = docs();
    let rows = documented_requirements(&docs);
    assert!(
        ["E1", "E10", "A8", "T9", "C5", "P2", "X6"]
            .iter()
            .all(|id| rows.contains(*id)),
        "the requirement rows of docs/compliance.md are read: {rows:?}"
    );
    let cited: BTreeSet<String> = sources
        .iter()
        .flat_map(|(_, s)| cited_requirements(s))
        .collect();
    assert!(cited.len() >= 20, "the citations are read: {cited:?}");
    let missing = unresolved(&sources, &docs);
    assert!(
        missing.is_empty(),
        "cited in the code but without a row in docs/: {missing:#?}"
    );
}

/// The check itself: an ID (or a NIST row) that docs/ lacks is reported, in a comment or in a
/// test name; one that it holds is not. (Built at run time so that this file cites none.)
#[test]
fn a_cited_id_missing_from_docs_is_reported() {
    let docs = docs();
    let fake = format!("{}{}", 'A', 12);
    let nist_fake = format!("r{}_9_no_such_row_x", 7);
    let src = format!(
        "// ({fake}) and (E1)\n#[test]\nfn {}_something() {{}}\nfn {nist_fake}() {{}}\n\
         fn r7_2_extend_by_prompt_works() {{}}\nfn t1_t2_real() {{}}",
        fake.to_lowercase()
    );
    let missing = unresolved(&[("fake.rs".into(), src)], &docs);
    let ids: BTreeSet<&str> = missing.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        ids,
        BTreeSet::from([fake.as_str(), nist_fake.as_str()]),
        "{missing:?}"
    );
}
