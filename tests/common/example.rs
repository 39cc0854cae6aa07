//! Examples run by tests, built fresh for each run.

use std::path::PathBuf;
use std::process::Command;

/// Builds the example `name` with this test binary's profile and target directory and returns
/// the path of its binary.
///
/// `cargo test --all-targets` builds the examples too, and then this costs one fresh check;
/// but `cargo test --test NAME` does not, and a binary left in `target/` by an earlier build
/// would be stale. The profile is read from where this test binary lives
/// (`<target dir>/<profile dir>/deps/`), so `cargo test --release` tests the release example.
pub fn build_example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in <target>/<profile>/deps");
    let target_dir = profile_dir.parent().expect("a profile dir has a parent");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(p) => p,
        None => panic!("no profile in {}", profile_dir.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "--example", name, "--profile", profile])
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo build --example {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = profile_dir.join("examples").join(name);
    assert!(bin.exists(), "{} was not built", bin.display());
    bin
}
