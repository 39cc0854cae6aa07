//! The crate's examples, built by cargo for the test that runs them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Builds the example `name` with cargo, in the profile and target directory this test binary
/// was built in, and returns the path of its binary. Cargo rebuilds it if any source changed,
/// so a test never runs a stale example, and a test run alone (`cargo test --test X`) builds
/// what it needs.
///
/// # Panics
///
/// If cargo cannot be run or the build fails (its output is in the message).
pub fn build_example(name: &str) -> PathBuf {
    build_example_with_features(name, &[])
}

/// [`build_example`] with the crate's `features` on (for an example's feature-gated flags).
///
/// # Panics
///
/// As [`build_example`].
pub fn build_example_with_features(name: &str, features: &[&str]) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    // <target dir>/<profile dir>/deps/<test binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    let target_dir = profile_dir
        .parent()
        .expect("the profile directory lives in the target directory");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = Command::new(cargo)
        .args(["build", "--quiet", "--example", name, "--profile", profile])
        .args(["--features", &features.join(",")])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .expect("cargo can be run to build the example");
    assert!(
        out.status.success(),
        "cargo build --example {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = profile_dir.join("examples").join(name);
    assert!(bin.exists(), "cargo built {name}, but {bin:?} is not there");
    bin
}

/// Kills and reaps a child process when dropped (a server the test started).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` to its end with its output captured, killing it and failing the test if it runs
/// longer than `limit`.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    // Read the pipes on threads, so a chatty program cannot block on a full pipe.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} ran longer than {limit:?}; stderr so far:\n{}",
                String::from_utf8_lossy(&err.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}
