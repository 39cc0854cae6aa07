//! Shared test utilities: drop counters, ordered logs, and a way to run one
//! test in a child process to look at what it prints on stderr.

#![allow(dead_code)]

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

/// How many lines of `text` contain every one of `needles`.
pub fn count_lines(text: &[u8], needles: &[&str]) -> usize {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}
