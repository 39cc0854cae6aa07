//! Shared test utilities: drop counters, ordered logs, and a way to run one
//! test in a child process to look at what it prints on stderr; visible skips
//! ([`skip`]), a watchdog for tests that could hang, examples built for the test
//! that runs them, and proof that blocking work runs off the loop's thread.

#![allow(dead_code)]

mod examples;
#[cfg(feature = "log")]
pub mod log_capture;
mod off_loop;
mod overflow;
mod prereq;
mod watchdog;

#[allow(unused_imports)] // each test file uses a few of them
pub use examples::{KillOnDrop, build_example, build_example_with_features, output_within};
#[allow(unused_imports)] // each test file uses a few of them
pub use off_loop::{HeldPool, needs_no_pool, runs_on_the_pool};
#[allow(unused_imports)] // each test file uses a few of them
pub use overflow::recurse;
#[allow(unused_imports)] // each test file uses a few of them
pub use prereq::{in_ci, skip, test_name, write_stderr_raw};
#[allow(unused_imports)] // each test file uses a few of them
pub use watchdog::{LIMIT, Watchdog, watchdog};

use std::cell::{Cell, RefCell};
use std::process::{Command, Output};
use std::rc::Rc;

/// Counts how many of its guards were dropped.
#[derive(Clone, Default)]
pub struct Drops(Rc<Cell<usize>>);

impl Drops {
    pub fn new() -> Drops {
        Drops::default()
    }

    /// A guard that adds one to the count when dropped.
    pub fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }

    pub fn count(&self) -> usize {
        self.0.get()
    }
}

/// Adds one to its [`Drops`] count when dropped (like a `finally` block).
pub struct DropGuard(Rc<Cell<usize>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// An append-only log shared between coroutines and callbacks.
#[derive(Clone)]
pub struct Log<T>(Rc<RefCell<Vec<T>>>);

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log(Rc::new(RefCell::new(Vec::new())))
    }
}

impl<T: Clone> Log<T> {
    pub fn new() -> Log<T> {
        Log::default()
    }

    pub fn push(&self, v: T) {
        self.0.borrow_mut().push(v);
    }

    pub fn get(&self) -> Vec<T> {
        self.0.borrow().clone()
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }
}

/// Installs an exception handler on the running loop that records each report's message,
/// and returns the record.
pub fn collect_reports() -> Log<String> {
    let reports = Log::new();
    let r = reports.clone();
    corio::set_exception_handler(Some(Rc::new(move |c: &corio::ExceptionContext| {
        r.push(c.message.clone())
    })));
    reports
}

/// `true` in the child process started by [`run_child`] with this `key`.
pub fn is_child(key: &str) -> bool {
    std::env::var_os(key).is_some()
}

/// Runs the test `name` of the current test binary alone in a child process, with the
/// environment variable `key` set so that the test does its work there, and returns what the
/// child printed. The child test must return at once when `key` is not set.
pub fn run_child(name: &str, key: &str) -> Output {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let out = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(key, "1")
        .output()
        .expect("the test binary can run itself");
    assert!(
        out.status.success(),
        "child test {name} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "the child ran no test named {name}:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// The message of a panic payload (a `&str` or a `String`).
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("<non-string payload>")
    }
}

/// How many lines of `text` contain every one of `needles`.
pub fn count_lines(text: &[u8], needles: &[&str]) -> usize {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}

/// A small seeded PRNG (xorshift64*): reproducible payloads without a crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// A size between `lo` and `hi` bytes, spread evenly over the powers of two in between
    /// (so small and large payloads are both common, and the total stays moderate).
    pub fn size_log_uniform(&mut self, lo: usize, hi: usize) -> usize {
        let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((a + (b - a) * u).exp() as usize).clamp(lo, hi)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

/// A fresh directory for socket files, removed with everything in it on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "corio-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("a temporary directory can be made");
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// CPU time used by the calling thread (the loop runs on it). The thread's own figure keeps
/// the other tests, which run in parallel threads, out of the measurement.
#[allow(dead_code)]
pub fn thread_cpu_time() -> std::time::Duration {
    #[cfg(target_os = "linux")]
    let who = libc::RUSAGE_THREAD;
    #[cfg(not(target_os = "linux"))]
    let who = libc::RUSAGE_SELF;
    // SAFETY: getrusage writes one rusage into the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(who, &mut ru), 0);
        ru
    };
    let tv = |t: libc::timeval| {
        std::time::Duration::from_secs(t.tv_sec as u64)
            + std::time::Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The echo handler of the streams tests: reads up to 64 KiB at a time and writes it back
/// (draining each time) until EOF, then closes its writer.
pub fn echo(
    mut r: corio::streams::StreamReader,
    w: corio::streams::StreamWriter,
) -> std::io::Result<()> {
    loop {
        let data = r.read(64 * 1024)?;
        if data.is_empty() {
            return w.close();
        }
        w.write(&data);
        w.drain()?;
    }
}
