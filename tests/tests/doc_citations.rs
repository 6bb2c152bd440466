//! The repository carries its own normative design in `docs/`. This test scans every `.rs`,
//! `.md` and `.sh` file of the repository (not `.git`, not any `target*` directory) and fails,
//! naming file and line, when a design citation does not resolve:
//!
//! * A section citation (the section sign followed by a number, such as 4.7 or 9.1.2) must
//!   match a heading of the cited document whose text starts with that number. The cited
//!   document is named just before the citation on the same line: `checker.md` means
//!   `docs/checker.md`; `REPORT`, `REPORT.md` and `modelcheck.md` mean `docs/modelcheck.md`;
//!   any other `NAME.md` means `docs/NAME.md` (which must exist); no name means
//!   `docs/protocol.md`.
//! * "amendment F1" (or "amendments F1 and F2") must match a heading of `docs/protocol.md`
//!   whose text starts with `F1`.
//! * A link to `NAME.md` or `docs/NAME.md` followed by a fragment must name a file of `docs/`
//!   and an explicit `{#anchor}` on one of its headings.
//! * Inside `docs/`, a same-file link `(#anchor)` must name an explicit anchor of that file, no
//!   anchor may be declared twice, and a numbered heading's anchor must be its number.
//!
//! Only explicit `{#anchor}` markers count as anchors: generated heading slugs change when a
//! heading is reworded, explicit anchors do not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The section sign that opens a section citation.
const SECTION_SIGN: char = '\u{a7}';

/// Words that may stand between a document's name and a section citation without ending the
/// citation list, as in "checker.md (section) 2 and (section) 7" or "(section) 8.2 step 4".
const GLUE_WORDS: [&str; 8] = [
    "and", "or", "to", "step", "steps", "item", "items", "pitfall",
];

/// One citation that does not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Finding {
    /// The file, relative to the repository root.
    file: String,
    /// The 1-based line.
    line: usize,
    /// What is wrong.
    message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// What one docs file offers to citations: its section numbers and its explicit anchors.
#[derive(Clone, Debug, Default)]
struct DocIndex {
    /// The leading numbers of its headings (`4.7`, `9.1.2`, `F1`).
    numbers: BTreeSet<String>,
    /// Its explicit `{#anchor}`s.
    anchors: BTreeSet<String>,
    /// Anchors defined more than once, with the line of the repeat.
    duplicate_anchors: Vec<(usize, String)>,
    /// Numbered headings whose explicit anchor is missing or differs from their number, with
    /// their line: citations by number and links by anchor must name the same section.
    misanchored: Vec<(usize, String)>,
}

/// Every file of `docs/`, by file name (`protocol.md`).
#[derive(Clone, Debug, Default)]
struct Docs {
    files: BTreeMap<String, DocIndex>,
}

impl Docs {
    /// Indexes every `.md` file directly in `dir`.
    fn load(dir: &Path) -> Docs {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir).expect("docs/ exists") {
            let path = entry.expect("readable docs/ entry").path();
            if path.extension().is_some_and(|e| e == "md") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path).expect("docs are UTF-8");
                files.insert(name, index_doc(&text));
            }
        }
        Docs { files }
    }

    /// Indexes in-memory documents (for the tests of the scanner itself).
    fn from_texts(texts: &[(&str, &str)]) -> Docs {
        Docs {
            files: texts
                .iter()
                .map(|(name, text)| ((*name).to_owned(), index_doc(text)))
                .collect(),
        }
    }
}

/// The text of a Markdown ATX heading (`## 4.7 Reads {#4.7}` gives `4.7 Reads {#4.7}`), or
/// `None` if the line is not a heading.
fn heading_text(line: &str) -> Option<&str> {
    let hashes = line.len() - line.trim_start_matches('#').len();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    line[hashes..].strip_prefix(' ').map(str::trim)
}

/// The section number a heading text starts with: dotted digits (`9.1.2`) or an amendment
/// name (`F1`).
fn heading_number(text: &str) -> Option<&str> {
    let first = text.split_whitespace().next()?;
    let dotted = !first.is_empty()
        && first
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let amendment =
        first.len() > 1 && first.starts_with('F') && first[1..].bytes().all(|b| b.is_ascii_digit());
    (dotted || amendment).then_some(first)
}

/// The explicit anchor at the end of a heading text (`{#4.7}` gives `4.7`).
fn explicit_anchor(text: &str) -> Option<&str> {
    let open = text.rfind("{#")?;
    let anchor = text[open + 2..].strip_suffix('}')?;
    (!anchor.is_empty() && !anchor.contains(char::is_whitespace)).then_some(anchor)
}

/// Collects the headings' numbers and anchors, skipping fenced code blocks.
fn index_doc(text: &str) -> DocIndex {
    let mut index = DocIndex::default();
    let mut in_fence = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        let Some(heading) = heading_text(line).filter(|_| !in_fence) else {
            continue;
        };
        if let Some(number) = heading_number(heading) {
            index.numbers.insert(number.to_owned());
            if explicit_anchor(heading) != Some(number) {
                index.misanchored.push((n + 1, number.to_owned()));
            }
        }
        if let Some(anchor) = explicit_anchor(heading) {
            if !index.anchors.insert(anchor.to_owned()) {
                index.duplicate_anchors.push((n + 1, anchor.to_owned()));
            }
        }
    }
    index
}

/// Whether `s`, the text between a document's name and a citation, only continues a list of
/// citations: no words other than [`GLUE_WORDS`].
fn is_glue(s: &str) -> bool {
    s.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .all(|w| GLUE_WORDS.contains(&w))
}

/// Characters of a file path as it appears in prose or code.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// The docs file a document name stands for: `modelcheck/REPORT.md` and `REPORT` give
/// `modelcheck.md`, `docs/checker.md` gives `checker.md`.
fn docs_file_for(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = base.strip_suffix(".md").unwrap_or(base);
    if stem == "REPORT" {
        "modelcheck.md".to_owned()
    } else {
        format!("{stem}.md")
    }
}

/// The document a citation starting after `before` (the rest of its line up to the section
/// sign) refers to: the last document name in `before` if only citation glue follows it,
/// otherwise `protocol.md`.
fn cited_document(before: &str) -> String {
    let mut last: Option<(usize, &str)> = None;
    // Names ending in `.md`.
    for (at, _) in before.match_indices(".md") {
        let end = at + 3;
        if before[end..].chars().next().is_some_and(is_path_char) {
            continue; // `.mdx`, `.md5`, ...
        }
        let start = before[..at]
            .rfind(|c: char| !is_path_char(c))
            .map_or(0, |i| i + before[i..].chars().next().unwrap().len_utf8());
        if start < at && last.is_none_or(|(e, _)| end > e) {
            last = Some((end, &before[start..end]));
        }
    }
    // The model-check report named bare, as in "REPORT (section) 4.2".
    for (at, word) in before.match_indices("REPORT") {
        let end = at + word.len();
        let bounded = !before[..at].ends_with(|c: char| c.is_alphanumeric())
            && !before[end..].starts_with(|c: char| c.is_alphanumeric() || c == '.');
        if bounded && last.is_none_or(|(e, _)| end > e) {
            last = Some((end, word));
        }
    }
    match last {
        Some((end, name)) if is_glue(&before[end..]) => docs_file_for(name),
        _ => "protocol.md".to_owned(),
    }
}

/// The section citations on a line: (cited docs file, section number), in order.
fn section_citations(line: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices(SECTION_SIGN) {
        let rest = &line[at + SECTION_SIGN.len_utf8()..];
        let len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = rest[..len].trim_end_matches('.');
        if number.starts_with(|c: char| c.is_ascii_digit()) {
            found.push((cited_document(&line[..at]), number.to_owned()));
        }
    }
    found
}

/// The amendments a line cites after the word "amendment(s)": `F1`, `F2`, ...
fn amendment_citations(line: &str) -> Vec<String> {
    let lower = line.to_ascii_lowercase();
    let mut found = Vec::new();
    for (at, word) in lower.match_indices("amendment") {
        let mut rest = &line[at + word.len()..];
        rest = rest.strip_prefix('s').unwrap_or(rest);
        loop {
            rest = rest.trim_start_matches(|c: char| {
                c.is_whitespace() || matches!(c, ',' | '/' | '(' | '`' | '*')
            });
            if let Some(after) = rest
                .strip_prefix("and ")
                .or_else(|| rest.strip_prefix("or "))
            {
                rest = after;
                continue;
            }
            let digits = rest
                .strip_prefix('F')
                .map(|r| r.len() - r.trim_start_matches(|c: char| c.is_ascii_digit()).len())
                .unwrap_or(0);
            let end = 1 + digits;
            let bounded = !rest[end.min(rest.len())..].starts_with(|c: char| c.is_alphanumeric());
            if digits == 0 || !bounded {
                break;
            }
            found.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    found
}

/// Links into `docs/` with a fragment on a line: (docs file name, anchor). A path with a
/// directory counts only if its last directory is `docs`; a bare `NAME.md` counts too.
fn doc_links(line: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices(".md#") {
        let start = line[..at]
            .rfind(|c: char| !is_path_char(c))
            .map_or(0, |i| i + line[i..].chars().next().unwrap().len_utf8());
        let path = &line[start..at + 3];
        let rest = &line[at + 4..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(rest.len());
        let anchor = rest[..len].trim_end_matches('.');
        let mut dirs = path.rsplit('/').skip(1);
        let into_docs = match dirs.next() {
            None => true,
            Some(dir) => dir == "docs",
        };
        if into_docs && !anchor.is_empty() {
            let name = path.rsplit('/').next().unwrap_or(path).to_owned();
            found.push((name, anchor.to_owned()));
        }
    }
    found
}

/// Same-file links `](#anchor)` on a line of a Markdown document.
fn same_file_links(line: &str) -> Vec<String> {
    line.match_indices("](#")
        .filter_map(|(at, _)| {
            let rest = &line[at + 3..];
            rest.find(')').map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// Checks every citation in `text`, the contents of `file`. `own_doc` names the docs file
/// `text` is, if it is one, so its same-file links can be checked.
fn check_text(file: &str, text: &str, own_doc: Option<&str>, docs: &Docs) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut report = |message: String| {
            findings.push(Finding {
                file: file.to_owned(),
                line: n + 1,
                message,
            })
        };
        for (doc, number) in section_citations(line) {
            match docs.files.get(&doc) {
                None => report(format!(
                    "cites {SECTION_SIGN}{number} of {doc}, which is not a file of docs/"
                )),
                Some(index) if !index.numbers.contains(&number) => report(format!(
                    "cites {SECTION_SIGN}{number}, but docs/{doc} has no heading numbered {number}"
                )),
                Some(_) => {}
            }
        }
        for amendment in amendment_citations(line) {
            let known = docs
                .files
                .get("protocol.md")
                .is_some_and(|d| d.numbers.contains(&amendment));
            if !known {
                report(format!(
                    "cites amendment {amendment}, but docs/protocol.md has no heading {amendment}"
                ));
            }
        }
        for (doc, anchor) in doc_links(line) {
            match docs.files.get(&doc) {
                None => report(format!("links to docs/{doc}, which does not exist")),
                Some(index) if !index.anchors.contains(&anchor) => report(format!(
                    "links to docs/{doc} at anchor {anchor:?}, which no heading there declares"
                )),
                Some(_) => {}
            }
        }
        if let Some(index) = own_doc.and_then(|d| docs.files.get(d)) {
            for anchor in same_file_links(line) {
                if !index.anchors.contains(&anchor) {
                    report(format!(
                        "links to anchor {anchor:?}, which this file does not declare"
                    ));
                }
            }
        }
    }
    if let Some(index) = own_doc.and_then(|d| docs.files.get(d)) {
        for (line, anchor) in &index.duplicate_anchors {
            findings.push(Finding {
                file: file.to_owned(),
                line: *line,
                message: format!("anchor {anchor:?} is declared twice"),
            });
        }
        for (line, number) in &index.misanchored {
            findings.push(Finding {
                file: file.to_owned(),
                line: *line,
                message: format!("heading {number} must carry the anchor {{#{number}}}"),
            });
        }
    }
    findings
}

/// Every `.rs`, `.md` and `.sh` file under `root`, skipping `.git` and `target*` directories,
/// in path order.
fn source_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable directory") {
            let path = entry.expect("readable entry").path();
            let name = path.file_name().unwrap().to_string_lossy();
            if path.is_dir() {
                if name != ".git" && !name.starts_with("target") {
                    stack.push(path);
                }
            } else if path
                .extension()
                .is_some_and(|e| e == "rs" || e == "md" || e == "sh")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The repository root (this package lives in `tests/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

#[test]
fn every_design_citation_in_the_repository_resolves() {
    let root = repo_root();
    let docs = Docs::load(&root.join("docs"));
    for required in [
        "protocol.md",
        "architecture.md",
        "checker.md",
        "limits.md",
        "modelcheck.md",
    ] {
        assert!(
            docs.files.contains_key(required),
            "docs/{required} is missing"
        );
    }
    let files = source_files(&root);
    let mut findings = Vec::new();
    let mut citations = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).expect("source files are UTF-8");
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let own_doc = rel.strip_prefix("docs/").filter(|name| !name.contains('/'));
        citations += text
            .lines()
            .map(|l| section_citations(l).len())
            .sum::<usize>();
        findings.extend(check_text(&rel, &text, own_doc, &docs));
    }
    // Guards against a scanner that silently finds nothing (a broken walk or parser).
    assert!(files.len() > 100, "only {} files scanned", files.len());
    assert!(citations > 100, "only {citations} section citations found");
    let list: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(
        findings.is_empty(),
        "{} design citations do not resolve:\n{}",
        findings.len(),
        list.join("\n")
    );
}

#[test]
fn the_scanner_reports_a_missing_section_and_a_missing_anchor_against_the_real_docs() {
    let docs = Docs::load(&repo_root().join("docs"));
    let bad_anchor = concat!("docs/durability.md", "#no-such-anchor");
    let text = format!(
        "fine: protocol.md \u{a7}4.7 and docs/durability.md{}\n\
         bad: \u{a7}99.9\n\
         bad: see {bad_anchor}\n",
        "#lazy-persists"
    );
    let findings = check_text("example.rs", &text, None, &docs);
    let lines: Vec<(usize, bool)> = findings
        .iter()
        .map(|f| {
            (
                f.line,
                f.message.contains("99.9") || f.message.contains("no-such-anchor"),
            )
        })
        .collect();
    assert_eq!(lines, vec![(2, true), (3, true)], "{findings:#?}");
}

#[test]
fn the_scanner_reports_every_kind_of_broken_citation() {
    let docs = Docs::from_texts(&[
        (
            "protocol.md",
            "# P\n## 4 Data path {#4}\n### 4.7 Reads {#4.7}\n### F1 Unique Ts {#F1}\n\
             ```\n## 9.9 in a code block {#fenced}\n```\n### 4.8 Wrong anchor {#4.9}\n",
        ),
        (
            "checker.md",
            "# C\n## 2 Unknown outcomes {#2}\n### 2.1 Rules {#rules}\n",
        ),
        ("modelcheck.md", "# M\n### 4.2 Replayer {#4.2}\n"),
    ]);
    let link = |file: &str, anchor: &str| format!("{file}.md#{anchor}");
    let lines = [
        "ok: \u{a7}4.7, protocol.md \u{a7}4 and amendment F1".to_owned(),
        format!(
            "ok: checker.md \u{a7}2 and \u{a7}2.1; REPORT \u{a7}4.2; {}",
            link("docs/checker", "rules")
        ),
        "bad section: \u{a7}9.9 (only in a code block)".to_owned(),
        "bad attribution: checker.md \u{a7}4.7".to_owned(),
        format!("bad amendments: amendments F1 and F{}", 3),
        format!("bad anchor: {}", link("docs/protocol", "fenced")),
        format!("bad file: {}", link("nope", "x")),
        format!("not a docs link: {}", link("sim/README", "anything")),
        "unknown document: durability.md \u{a7}1".to_owned(),
        "a name far before does not count: checker.md says so, see \u{a7}4.7".to_owned(),
        "[ok](#4.7) [bad](#missing)".to_owned(),
    ];
    let findings = check_text("x.md", &lines.join("\n"), Some("protocol.md"), &docs);
    let got: Vec<(usize, &str)> = findings
        .iter()
        .map(|f| (f.line, f.message.as_str()))
        .collect();
    // The last finding is about the docs file itself: its line 8 declares the wrong anchor.
    let expect_lines = [3, 4, 5, 6, 7, 9, 11, 8];
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        expect_lines,
        "{got:#?}"
    );
    assert!(got[0].1.contains("9.9") && got[0].1.contains("protocol.md"));
    assert!(got[1].1.contains("checker.md"));
    assert!(got[2].1.contains("F3") && !got[2].1.contains("F1"));
    assert!(got[3].1.contains("fenced"));
    assert!(got[4].1.contains("nope.md"));
    assert!(got[5].1.contains("durability.md"));
    assert!(got[6].1.contains("missing"));
    assert!(got[7].1.contains("{#4.8}"));
}

#[test]
fn parsing_helpers() {
    assert_eq!(
        heading_text("### 4.7 Reads {#4.7}"),
        Some("4.7 Reads {#4.7}")
    );
    assert_eq!(heading_text("#!/usr/bin/env bash"), None);
    assert_eq!(heading_text("####### too deep"), None);
    assert_eq!(heading_number("9.1.12 Reads {#9.1.12}"), Some("9.1.12"));
    assert_eq!(heading_number("F2 What holds means"), Some("F2"));
    assert_eq!(heading_number("Frames {#frames}"), None);
    assert_eq!(heading_number("4. Not a section"), None);
    assert_eq!(
        explicit_anchor("Lazy persists {#lazy-persists}"),
        Some("lazy-persists")
    );
    assert_eq!(explicit_anchor("No anchor"), None);
    assert_eq!(cited_document("Preprocessing (checker.md "), "checker.md");
    assert_eq!(
        cited_document("(checker.md \u{a7}0.3, \u{a7}2 and "),
        "checker.md"
    );
    assert_eq!(
        cited_document("counter-examples (modelcheck/REPORT.md \u{a7}4.2, "),
        "modelcheck.md"
    );
    assert_eq!(cited_document("/// REPORT "), "modelcheck.md");
    assert_eq!(
        cited_document("(protocol.md \u{a7}8.2 step 4, and "),
        "protocol.md"
    );
    assert_eq!(
        cited_document("see docs/durability.md, then "),
        "protocol.md"
    );
    assert_eq!(
        section_citations("x (\u{a7}4.6, \u{a7}5.5.2). \u{a7}7. \u{a7}x"),
        vec![
            ("protocol.md".to_owned(), "4.6".to_owned()),
            ("protocol.md".to_owned(), "5.5.2".to_owned()),
            ("protocol.md".to_owned(), "7".to_owned()),
        ]
    );
    assert_eq!(amendment_citations("// Amendment F1: above"), vec!["F1"]);
    assert_eq!(amendment_citations("(amendment F2)"), vec!["F2"]);
    assert_eq!(
        amendment_citations("amendments F1 and F2"),
        vec!["F1", "F2"]
    );
    assert_eq!(
        amendment_citations("the amendment Fixes"),
        Vec::<String>::new()
    );
    assert_eq!(
        doc_links(concat!(
            "(docs/durability.md",
            "#threads). and [x](../docs/limits.md",
            "#frames)"
        )),
        vec![
            ("durability.md".to_owned(), "threads".to_owned()),
            ("limits.md".to_owned(), "frames".to_owned()),
        ]
    );
    assert_eq!(doc_links(concat!("adapters/README.md", "#bounds")), vec![]);
    assert_eq!(
        same_file_links("see [4.7](#4.7) and [x](#a-b)."),
        vec!["4.7", "a-b"]
    );
}
