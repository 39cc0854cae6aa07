//! [`Server::serve_until_signal`]: serve until `SIGINT` or `SIGTERM`, then shut down
//! gracefully.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::Server;
use crate::runtime::signal::{self, SIGINT, SIGTERM};
use crate::runtime::{ReportLevel as Level, emit_report as emit};

/// What [`Server::serve_until_signal`] did; its `Display` is a one-line summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownSummary {
    /// The signal that stopped the server; `None` when it was closed another way.
    pub signal: Option<i32>,
    /// Connections still open when the server stopped accepting.
    pub open_at_close: usize,
    /// Of those, the ones still running when the grace period ran out. Their tasks go on
    /// until the loop ends, which cancels them (at the end of [`corio::run`](crate::run)).
    pub unfinished: usize,
    /// How long the shutdown waited for open connections.
    pub waited: Duration,
}

impl fmt::Display for ShutdownSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.signal {
            Some(sig) => write!(f, "stopped by {}", signal::name(sig))?,
            None => f.write_str("server closed")?,
        }
        let plural = if self.open_at_close == 1 { "" } else { "s" };
        write!(f, ": {} open connection{plural}", self.open_at_close)?;
        if self.unfinished == 0 {
            write!(f, ", all ended within {:.3} s", self.waited.as_secs_f64())
        } else {
            write!(
                f,
                ", {} still open after the {:.3} s grace period",
                self.unfinished,
                self.waited.as_secs_f64()
            )
        }
    }
}

impl Server {
    /// Serves until the process gets `SIGINT` (Ctrl+C) or `SIGTERM`, or the server is closed
    /// another way; then stops accepting, waits up to `grace` for the open connections'
    /// handlers to end, and returns what happened. This is what a service's `main` calls
    /// instead of [`serve_forever`](Self::serve_forever):
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// corio::run(|| -> std::io::Result<()> {
    ///     let server = corio::start_server("127.0.0.1:8888", |_r, _w| ())?;
    ///     let summary = server.serve_until_signal(Duration::from_secs(5))?;
    ///     println!("{summary}"); // stopped by SIGTERM: 2 open connections, all ended within …
    ///     Ok(())
    /// })
    /// .unwrap();
    /// ```
    ///
    /// The signals are watched only until the server stops accepting: a second Ctrl+C during
    /// the grace period gets the signal's former disposition (for a plain program, the end of
    /// the process). The shutdown is reported (at `info` level through the `log` crate with
    /// the feature `log`, else on stderr) when it begins and when it ends.
    ///
    /// It may run beside a task in [`serve_forever`](Self::serve_forever) (which returns when
    /// the signal closes the server), so a program that serves from a task only adds this
    /// call where it waits.
    ///
    /// # Errors
    ///
    /// When the server is closed already, or the signals cannot be watched.
    ///
    /// # Cancel safety
    ///
    /// A cancelled call closes the server (as `serve_forever` does) and stops watching.
    pub fn serve_until_signal(&self, grace: Duration) -> io::Result<ShutdownSummary> {
        if !self.is_serving() {
            return Err(io::Error::other("the server is closed"));
        }
        let got = Rc::new(Cell::new(None));
        let mut watchers = Watchers(Vec::new());
        for sig in [SIGINT, SIGTERM] {
            let (got, server) = (got.clone(), self.share());
            watchers.0.push(crate::spawn(move || {
                signal::wait(sig)?;
                got.set(Some(sig));
                server.close();
                Ok(())
            }));
        }
        // Let the watchers start watching before anything else runs.
        crate::yield_now();
        // A watcher that ended already could not watch its signal: pass its error on.
        if let Some(i) = watchers.0.iter().position(|w| w.done()) {
            let failed = watchers.0.swap_remove(i);
            if let Ok(Err(e)) = failed.join() {
                return Err(e);
            }
        }
        self.wait_stopped();
        drop(watchers);
        let open_at_close = self.active_connections();
        let at = self
            .local_addr()
            .map_or_else(|_| String::new(), |a| format!(" on {a}"));
        if let Some(sig) = got.get() {
            emit(
                Level::Info,
                &format!(
                    "{} received: the server{at} stopped accepting; waiting up to {:.3} s for \
                     {open_at_close} open connection(s)",
                    signal::name(sig),
                    grace.as_secs_f64()
                ),
            );
        }
        let t0 = Instant::now();
        let _ = crate::wait_for(grace, || self.wait_closed());
        let summary = ShutdownSummary {
            signal: got.get(),
            open_at_close,
            unfinished: self.active_connections(),
            waited: t0.elapsed(),
        };
        if summary.signal.is_some() {
            emit(Level::Info, &format!("server{at} {summary}"));
        }
        Ok(summary)
    }
}

/// The signal-watching tasks, cancelled when the shutdown no longer needs them.
struct Watchers(Vec<crate::Task<io::Result<()>>>);

impl Drop for Watchers {
    fn drop(&mut self) {
        for t in &self.0 {
            t.cancel();
        }
    }
}
