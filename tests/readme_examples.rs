//! The README's table of examples lists every example in `examples/`, each with the seed it
//! comes from, and the README keeps exactly its two set-up commands.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every example cargo builds: `examples/NAME.rs` and `examples/NAME/main.rs`.
fn examples() -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root().join("examples")).expect("examples/ exists") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.extension().is_some_and(|e| e == "rs") || path.join("main.rs").exists() {
            names.push(name.to_string());
        }
    }
    names.sort();
    names
}

#[test]
fn readme_table_lists_every_example_with_its_seed() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md exists");
    let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `")).collect();
    let names = examples();
    assert!(names.len() >= 15, "{names:?}");
    for name in names {
        let row = rows
            .iter()
            .find(|r| {
                let first = r.split('|').nth(1).unwrap_or_default();
                first.split(", ").any(|n| n.trim() == format!("`{name}`"))
            })
            .unwrap_or_else(|| panic!("README.md's table of examples has no row for `{name}`"));
        let seed = row.split('|').nth(2).unwrap_or_default().trim();
        assert!(
            seed == "—" || (seed.len() == 3 && seed.bytes().all(|b| b.is_ascii_digit())),
            "`{name}`: seed column {seed:?}"
        );
    }
}

#[test]
fn readme_keeps_exactly_its_two_set_up_commands() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md exists");
    let shell: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("```") && l.len() > 3 && !l.starts_with("```rust"))
        .collect();
    assert_eq!(
        shell,
        ["```sh", "```sh"],
        "the README's fenced shell blocks"
    );
    assert!(readme.contains("\ncargo run --release --example echo\n"));
    assert!(readme.contains(
        "\ncargo test --all-targets && cargo test --doc && cargo test --release --all-targets --all-features\n"
    ));
}
