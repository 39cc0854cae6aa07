//! The code in docs/GUIDE.md is the examples' own code, never a copy that can drift: every
//! block that follows an include marker must equal, byte for byte, the part of the source file
//! the marker names.
//!
//! A marker is an HTML comment on its own line, followed by a ```rust fence:
//!
//! * `<!-- include: examples/x.rs#NAME -->` takes the lines between `// ANCHOR: NAME` and
//!   `// ANCHOR_END: NAME` in that file (other anchor lines inside are left out);
//! * `<!-- include: examples/x.rs#fn NAME -->` (or `struct`, `enum`, `impl`, `const`) takes
//!   that item, with the doc comments and attributes just above it, down to the closing brace
//!   at its own indentation.
//!
//! After changing an example, `CORIO_BLESS_GUIDE=1 cargo test --test guide_includes` rewrites
//! the guide's blocks from the sources (then read the guide's prose again).

use std::path::Path;

const GUIDE: &str = "docs/GUIDE.md";
const MARKER: &str = "<!-- include: ";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The lines `selector` names in `source`, or why they cannot be found.
fn extract(source: &str, selector: &str) -> Result<String, String> {
    let lines: Vec<&str> = source.lines().collect();
    let is_anchor = |l: &str| {
        let t = l.trim_start();
        t.starts_with("// ANCHOR: ") || t.starts_with("// ANCHOR_END: ")
    };
    let keep = |range: &[&str]| -> String {
        range
            .iter()
            .filter(|l| !is_anchor(l))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    if let Some((kind, name)) = selector.split_once(' ') {
        // An item: `fn NAME`, `struct NAME`, ...
        let opens = |l: &str| {
            let t = l
                .trim_start()
                .strip_prefix("pub ")
                .unwrap_or(l.trim_start());
            t.strip_prefix(kind)
                .and_then(|r| r.strip_prefix(' '))
                .and_then(|r| r.strip_prefix(name))
                .is_some_and(|r| r.starts_with(['(', '<', ' ', ':', ';', '{']))
        };
        let start = lines
            .iter()
            .position(|l| opens(l))
            .ok_or_else(|| format!("no `{kind} {name}`"))?;
        let indent = lines[start].len() - lines[start].trim_start().len();
        let mut first = start;
        while first > 0 {
            let t = lines[first - 1].trim_start();
            if t.starts_with("///") || t.starts_with("#[") {
                first -= 1;
            } else {
                break;
            }
        }
        let close = format!("{}}}", &lines[start][..indent]);
        let end = if lines[start].trim_end().ends_with(';') {
            start
        } else {
            (start..lines.len())
                .find(|&i| lines[i].trim_end() == close)
                .ok_or_else(|| format!("no closing brace for `{kind} {name}`"))?
        };
        Ok(keep(&lines[first..=end]))
    } else {
        let begin = format!("// ANCHOR: {selector}");
        let finish = format!("// ANCHOR_END: {selector}");
        let start = lines
            .iter()
            .position(|l| l.trim() == begin)
            .ok_or_else(|| format!("no `{begin}`"))?;
        let end = lines
            .iter()
            .position(|l| l.trim() == finish)
            .filter(|&e| e > start)
            .ok_or_else(|| format!("no `{finish}` after `{begin}`"))?;
        Ok(keep(&lines[start + 1..end]))
    }
}

/// Checks (or, when blessing, rewrites) every included block of `doc`; returns the problems
/// and the corrected text.
fn check(doc: &str) -> (Vec<String>, String, usize) {
    let mut problems = Vec::new();
    let mut out = String::new();
    let mut included = 0;
    let mut lines = doc.lines().peekable();
    let mut n = 0;
    while let Some(line) = lines.next() {
        n += 1;
        out.push_str(line);
        out.push('\n');
        let Some(spec) = line
            .trim()
            .strip_prefix(MARKER)
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        let at = n;
        let Some((path, selector)) = spec.split_once('#') else {
            problems.push(format!("{GUIDE}:{at}: marker without `#`: {line}"));
            continue;
        };
        if lines.peek().map(|l| l.trim()) != Some("```rust") {
            problems.push(format!(
                "{GUIDE}:{at}: `{spec}` is not followed by a ```rust fence"
            ));
            continue;
        }
        out.push_str(lines.next().unwrap());
        out.push('\n');
        n += 1;
        let mut shown = String::new();
        for l in lines.by_ref() {
            n += 1;
            if l.trim() == "```" {
                break;
            }
            shown.push_str(l);
            shown.push('\n');
        }
        let wanted = match std::fs::read_to_string(root().join(path)) {
            Ok(source) => extract(&source, selector),
            Err(e) => Err(format!("cannot read {path}: {e}")),
        };
        match wanted {
            Ok(code) => {
                included += 1;
                if code != shown {
                    problems.push(format!(
                        "{GUIDE}:{at}: the block differs from {path}#{selector}"
                    ));
                }
                out.push_str(&code);
            }
            Err(e) => {
                problems.push(format!("{GUIDE}:{at}: {path}#{selector}: {e}"));
                out.push_str(&shown);
            }
        }
        out.push_str("```\n");
    }
    (problems, out, included)
}

#[test]
fn guide_code_blocks_match_the_example_files() {
    let path = root().join(GUIDE);
    let doc = std::fs::read_to_string(&path).expect("docs/GUIDE.md exists");
    let (problems, fixed, included) = check(&doc);
    if std::env::var_os("CORIO_BLESS_GUIDE").is_some() && fixed != doc {
        std::fs::write(&path, &fixed).expect("the guide can be rewritten");
        eprintln!("rewrote the included blocks of {GUIDE}");
    } else {
        assert!(
            problems.is_empty(),
            "{}\n(run `CORIO_BLESS_GUIDE=1 cargo test --test guide_includes` after changing an example)",
            problems.join("\n")
        );
    }
    assert!(included >= 10, "only {included} included blocks in {GUIDE}");
}

#[test]
fn a_changed_example_line_is_caught() {
    let source = "fn a() {}\n// ANCHOR: x\nfn b() {\n    1\n}\n// ANCHOR_END: x\n";
    let doc = |body: &str| format!("text\n{MARKER}tests/x.rs#x -->\n```rust\n{body}```\n");
    assert_eq!(extract(source, "x").unwrap(), "fn b() {\n    1\n}\n");
    assert_eq!(extract(source, "fn b").unwrap(), "fn b() {\n    1\n}\n");
    assert!(extract(source, "y").is_err());
    // A marker pointing at a file that is not there is a problem, not a pass.
    let (problems, _, _) = check(&doc("fn b() {\n    2\n}\n"));
    assert_eq!(problems.len(), 1, "{problems:?}");
}
