//! Tests whose prerequisite is missing: a skip that shows, and that fails under CI.
//!
//! libtest captures what a test prints (`println!`, `eprintln!`, even `std::io::stderr()`),
//! so a test that prints "skipped" and returns reads as `ok`. [`skip`] writes its notice with
//! a raw `write(2)` on the process's standard error, past the capture, so it shows in every
//! run; and with `CI` set (`CI=true`, as CI services and `.ci/run` set it) it fails the test
//! instead, since there the prerequisite is to be installed.

/// `true` when the tests run under CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The running test's name (libtest names each test's thread after it).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string()
}

/// Writes `text` to the process's standard error with one raw `write(2)` per chunk, so that
/// libtest's output capture does not swallow it.
pub fn write_stderr_raw(text: &str) {
    let mut bytes = text.as_bytes();
    while !bytes.is_empty() {
        // SAFETY: writes from a live slice to fd 2, which the process keeps open.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return; // stderr closed or failing: nowhere left to say it
        }
        bytes = &bytes[n as usize..];
    }
}

/// Marks the rest of the running test as skipped because a prerequisite is missing. `reason`
/// says what is missing and how to install or enable it.
///
/// Outside CI it prints `SKIPPED <test>: <reason>` past the output capture; the caller then
/// returns. Under CI it panics with the same text: a prerequisite missing there is a failure.
pub fn skip(reason: &str) {
    let name = test_name();
    if in_ci() {
        panic!("{name}: a prerequisite is missing under CI: {reason}");
    }
    write_stderr_raw(&format!("SKIPPED {name}: {reason}\n"));
}
