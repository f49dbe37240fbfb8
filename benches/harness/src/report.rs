//! Markdown for the report: tables, number formats, and writing a section
//! between its markers into BENCHMARKS.md without touching the rest.

use std::fmt::Write as _;
use std::path::Path;

use crate::stats::Summary;

/// The start marker of section `name`: `<!-- bench:NAME:start -->`.
pub fn start_marker(name: &str) -> String {
    format!("<!-- bench:{name}:start -->")
}

/// The end marker of section `name`.
pub fn end_marker(name: &str) -> String {
    format!("<!-- bench:{name}:end -->")
}

/// Where a section whose markers are missing goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// After the first line equal to this one.
    After(String),
    /// Before the first line equal to this one.
    Before(String),
    /// At the end of the file.
    End,
}

/// `doc` with `body` between the markers of `name`, replacing what was
/// there. Missing markers are added (around `body`) where `place` says, or at
/// the end when that line is not in `doc`. Every other line is kept as it was.
pub fn replace_section(doc: &str, name: &str, body: &str, place: &Place) -> String {
    let start = start_marker(name);
    let end = end_marker(name);
    let mut body = body.trim_end_matches('\n').to_owned();
    body.push('\n');
    let lines: Vec<&str> = doc.lines().collect();
    let start_at = lines.iter().position(|l| *l == start);
    let end_at = start_at.and_then(|s| {
        lines
            .iter()
            .skip(s)
            .position(|l| *l == end)
            .and_then(|i| i.checked_add(s))
    });
    let mut out = String::with_capacity(doc.len().saturating_add(body.len()));
    let push = |out: &mut String, l: &str| {
        out.push_str(l);
        out.push('\n');
    };
    if let (Some(s), Some(e)) = (start_at, end_at) {
        for (i, l) in lines.iter().enumerate() {
            if i == s {
                push(&mut out, l);
                out.push_str(&body);
            } else if i <= s || i >= e {
                push(&mut out, l);
            }
        }
        return out;
    }
    let block = format!("{start}\n{body}{end}\n");
    let anchor = match place {
        Place::After(line) => lines.iter().position(|l| l == line).map(|i| (i, true)),
        Place::Before(line) => lines.iter().position(|l| l == line).map(|i| (i, false)),
        Place::End => None,
    };
    match anchor {
        Some((at, after)) => {
            for (i, l) in lines.iter().enumerate() {
                if i == at && !after {
                    out.push_str(&block);
                    out.push('\n');
                }
                push(&mut out, l);
                if i == at && after {
                    out.push('\n');
                    out.push_str(&block);
                }
            }
        }
        None => {
            out.push_str(doc);
            if !doc.is_empty() && !doc.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
            out.push_str(&block);
        }
    }
    out
}

/// Writes `body` as section `name` of the Markdown file `path` (created with
/// a `# Benchmarks` title when missing).
pub fn write_section(path: &Path, name: &str, body: &str, place: &Place) -> std::io::Result<()> {
    let doc = match std::fs::read_to_string(path) {
        Ok(doc) => doc,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_owned(),
        Err(e) => return Err(e),
    };
    let new = replace_section(&doc, name, body, place);
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, new)?;
    std::fs::rename(&tmp, path)
}

/// A Markdown table: a header, then rows.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles; the first is left-aligned, the
    /// others right-aligned (numbers) unless named in `left`.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| (*s).to_owned()).collect(),
            right: (0..header.len()).map(|i| i > 0).collect(),
            rows: Vec::new(),
        }
    }

    /// Left-aligns column `i`.
    pub fn left(mut self, i: usize) -> Table {
        if let Some(r) = self.right.get_mut(i) {
            *r = false;
        }
        self
    }

    /// Adds a row (missing cells are left empty, extra ones dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The Markdown text, ending with a newline.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "| {} |", self.header.join(" | "));
        let align: Vec<&str> = self
            .right
            .iter()
            .map(|r| if *r { "---:" } else { "---" })
            .collect();
        let _ = writeln!(s, "|{}|", align.join("|"));
        for row in &self.rows {
            let cells: Vec<&str> = (0..self.header.len())
                .map(|i| row.get(i).map_or("", String::as_str))
                .collect();
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
        s
    }
}

/// `x` with `digits` decimals, or `-` when there is none.
pub fn num(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "-".to_owned(),
    }
}

/// `median (min–max)` with `digits` decimals, or `-`.
pub fn spread(s: Option<Summary>, digits: usize) -> String {
    match s {
        Some(s) if s.count > 1 => format!(
            "{:.digits$} ({:.digits$}–{:.digits$})",
            s.median, s.min, s.max
        ),
        Some(s) => format!("{:.digits$}", s.median),
        None => "-".to_owned(),
    }
}

/// The median of a summary, if any.
pub fn med(s: Option<Summary>) -> Option<f64> {
    s.map(|s| s.median)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const DOC: &str = "# Benchmarks\n\nintro\n<!-- bench:http:start -->\nold\nlines\n<!-- bench:http:end -->\n\n## Later\ntext\n";

    #[test]
    fn replaces_between_the_markers_only() {
        let out = replace_section(DOC, "http", "new\n", &Place::End);
        assert_eq!(
            out,
            "# Benchmarks\n\nintro\n<!-- bench:http:start -->\nnew\n<!-- bench:http:end -->\n\n## Later\ntext\n"
        );
        // Idempotent, and a body without a final newline gets one.
        assert_eq!(replace_section(&out, "http", "new", &Place::End), out);
    }

    #[test]
    fn missing_markers_go_after_or_before_a_line() {
        let out = replace_section(
            DOC,
            "counter",
            "c",
            &Place::After("<!-- bench:http:end -->".into()),
        );
        assert_eq!(
            out,
            "# Benchmarks\n\nintro\n<!-- bench:http:start -->\nold\nlines\n<!-- bench:http:end -->\n\n<!-- bench:counter:start -->\nc\n<!-- bench:counter:end -->\n\n## Later\ntext\n"
        );
        let out = replace_section(DOC, "x", "b", &Place::Before("## Later".into()));
        assert!(
            out.ends_with("\n<!-- bench:x:start -->\nb\n<!-- bench:x:end -->\n\n## Later\ntext\n")
        );
        assert!(out.starts_with("# Benchmarks\n\nintro\n<!-- bench:http:start -->\nold\n"));
    }

    #[test]
    fn missing_anchor_appends_at_the_end() {
        let out = replace_section("# B\nx", "s", "b\n", &Place::After("nope".into()));
        assert_eq!(
            out,
            "# B\nx\n\n<!-- bench:s:start -->\nb\n<!-- bench:s:end -->\n"
        );
    }

    #[test]
    fn a_start_without_an_end_is_not_a_section() {
        let doc = "a\n<!-- bench:s:start -->\nb\n";
        let out = replace_section(doc, "s", "n", &Place::End);
        // The lone marker is left alone; a full pair is appended.
        assert!(out.starts_with(doc));
        assert!(out.ends_with("<!-- bench:s:start -->\nn\n<!-- bench:s:end -->\n"));
    }

    #[test]
    fn other_sections_are_untouched() {
        let doc = format!("{DOC}<!-- bench:stores:start -->\ns\n<!-- bench:stores:end -->\n");
        let out = replace_section(&doc, "stores", "t", &Place::End);
        assert!(out.contains("old\nlines\n"));
        assert!(out.ends_with("<!-- bench:stores:start -->\nt\n<!-- bench:stores:end -->\n"));
    }

    #[test]
    fn writes_a_file() {
        let dir = std::env::temp_dir().join(format!("sesh-harness-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("B.md");
        write_section(&path, "s", "one", &Place::End).unwrap();
        write_section(&path, "s", "two", &Place::End).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            text,
            "# Benchmarks\n\n<!-- bench:s:start -->\ntwo\n<!-- bench:s:end -->\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn only_the_section_changes(
            before in "[a-z #\n]{0,40}",
            after in "[a-z #\n]{0,40}",
            old in "[a-z \n]{0,20}",
            new in "[a-z ]{0,20}",
        ) {
            let doc = format!("{before}\n<!-- bench:s:start -->\n{old}\n<!-- bench:s:end -->\n{after}");
            let out = replace_section(&doc, "s", &new, &Place::End);
            let head = format!("{before}\n<!-- bench:s:start -->\n{new}\n<!-- bench:s:end -->\n");
            proptest::prop_assert!(out.starts_with(&head), "{out:?}");
            proptest::prop_assert_eq!(out.lines().skip(head.lines().count()).collect::<Vec<_>>(), after.lines().collect::<Vec<_>>());
        }
    }

    #[test]
    fn tables_and_numbers() {
        let mut t = Table::new(&["a", "b", "c"]).left(1);
        t.row(vec!["x".into(), "y".into()]);
        assert_eq!(t.render(), "| a | b | c |\n|---|---|---:|\n| x | y |  |\n");
        assert_eq!(num(Some(1.234), 2), "1.23");
        assert_eq!(num(None, 2), "-");
        assert_eq!(num(Some(f64::NAN), 2), "-");
        let s = crate::stats::summarize(&[1.0, 2.0, 4.0]);
        assert_eq!(spread(s, 1), "2.0 (1.0–4.0)");
        assert_eq!(spread(crate::stats::summarize(&[3.0]), 1), "3.0");
        assert_eq!(spread(None, 1), "-");
    }
}
