//! Child processes with their pipes as streams (asyncio's `asyncio.subprocess`:
//! `create_subprocess_exec`, `create_subprocess_shell`, `Process`).
//!
//! ```
//! use corio::subprocess::{Command, Stdio};
//! corio::run(|| {
//!     let mut child = Command::new("tr")
//!         .arg("a-z")
//!         .arg("A-Z")
//!         .stdin(Stdio::piped())
//!         .stdout(Stdio::piped())
//!         .spawn()
//!         .unwrap();
//!     let out = child.communicate(Some(b"hello")).unwrap();
//!     assert_eq!(out.stdout, b"HELLO");
//!     assert_eq!(child.returncode(), Some(0));
//! });
//! ```
//!
//! A [`Command`] is std's [`std::process::Command`] (same builder methods), spawned the same
//! way (`posix_spawn` or `fork`/`exec`, which return once the child runs its program, as
//! asyncio's spawn does) but on a thread of the loop's default executor, so the loop runs
//! its other tasks while the kernel starts the child; the [`Process`] it gives back turns
//! each piped stdio into a non-blocking stream registered with the running loop, and waits
//! for the exit on a pidfd (Linux 5.3+). Nothing here installs a `SIGCHLD` handler, so
//! children that other code spawns are left alone.
//!
//! Pipes are real pipes. Writing to the stdin of a child that has closed it gives `EPIPE`,
//! which raises `SIGPIPE` unless the program ignores it; Rust programs ignore it by default
//! (std does so before `main`), so the write just fails with `BrokenPipe`.

mod process;
mod reaper;
mod spawn;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

pub use std::process::{ExitStatus, Output, Stdio};

pub use process::Process;

use crate::streams::{pipe_reader, pipe_writer};

/// A child process to start (asyncio's `create_subprocess_exec` arguments, std's
/// `Command` builder). Stdio is inherited unless set, as in both.
pub struct Command {
    /// Shared with the executor thread that starts the child (and that may still hold it
    /// after a cancelled spawn), so the builder is never moved out and lost.
    inner: Arc<Mutex<std::process::Command>>,
    program: OsString,
}

impl Command {
    /// A command that runs `program` (looked up in `PATH` when it has no `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            inner: Arc::new(Mutex::new(std::process::Command::new(program.as_ref()))),
            program: program.as_ref().to_owned(),
        }
    }

    fn inner(&self) -> MutexGuard<'_, std::process::Command> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner().arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner().args(args);
        self
    }

    /// Sets an environment variable of the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.inner().env(key, val);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner().env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what [`env`](Self::env) adds).
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner().env_clear();
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner().current_dir(dir);
        self
    }

    /// The child's stdin: `Stdio::piped()` gives [`Process::stdin`].
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner().stdin(cfg);
        self
    }

    /// The child's stdout: `Stdio::piped()` gives [`Process::stdout`].
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner().stdout(cfg);
        self
    }

    /// The child's stderr: `Stdio::piped()` gives [`Process::stderr`].
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner().stderr(cfg);
        self
    }

    /// Starts the child on the running loop. Called from a coroutine, the `fork`/`exec`
    /// runs on a thread of the loop's default executor and the coroutine parks until the
    /// child runs its program (or fails to), so the loop's other tasks go on meanwhile (from
    /// a loop callback, which cannot park, it runs on the loop's thread).
    ///
    /// # Errors
    ///
    /// When the program cannot be started; the message names it (`cannot run
    /// "no-such-program": No such file or directory`), the kind is the OS error's
    /// (`NotFound`, `PermissionDenied`). Outside a running loop, an error that says so. When
    /// the kernel has no pidfds (before Linux 5.3) the child is killed and reaped, and the
    /// error says what is missing.
    ///
    /// # Cancel safety
    ///
    /// A task cancelled while its child starts leaves no child behind: the child is killed
    /// and reaped once it has started (asyncio kills it too). The `Command` is unchanged.
    pub fn spawn(&mut self) -> io::Result<Process> {
        if !crate::runtime::is_running_here() {
            return Err(io::Error::other(
                "no running event loop: start subprocesses inside corio::run or a task",
            ));
        }
        let mut child = spawn::spawn(&self.inner, &self.program)?;
        let pid = child.pid;
        let pidfd = child.take_pidfd();
        let streams = (|| {
            Ok::<_, io::Error>((
                child.stdin.take().map(pipe_writer).transpose()?,
                child.stdout.take().map(pipe_reader).transpose()?,
                child.stderr.take().map(pipe_reader).transpose()?,
            ))
        })();
        drop(child);
        let made = streams.and_then(|(i, o, e)| Process::new(pid, pidfd, i, o, e));
        if made.is_err() {
            // The pidfd went down with the failure; a new one for the reaper.
            if let Ok(fd) = process::pidfd_open(pid) {
                reaper::adopt(pid, fd);
            }
        }
        made
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner().fmt(f)
    }
}

/// Starts `program` with `args`, its stdin, stdout and stderr piped (asyncio's
/// `create_subprocess_exec(program, *args, stdin=PIPE, stdout=PIPE, stderr=PIPE)`). For other
/// stdio settings use [`Command`].
///
/// ```
/// corio::run(|| {
///     let mut p = corio::subprocess::create_subprocess_exec("echo", ["hi"]).unwrap();
///     assert_eq!(p.stdout.as_mut().unwrap().readline().unwrap(), b"hi\n");
///     assert!(p.wait().unwrap().success());
/// });
/// ```
///
/// # Errors
///
/// As [`Command::spawn`].
pub fn create_subprocess_exec<I, S>(program: impl AsRef<OsStr>, args: I) -> io::Result<Process>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Runs `cmd` with `/bin/sh -c`, its stdio piped (asyncio's `create_subprocess_shell`).
/// Quoting is the caller's job, as in asyncio.
///
/// # Errors
///
/// As [`Command::spawn`].
pub fn create_subprocess_shell(cmd: &str) -> io::Result<Process> {
    create_subprocess_exec("/bin/sh", ["-c", cmd])
}
