//! [`DeadlockReport`]: what [`RuntimeError::Deadlock`](super::RuntimeError::Deadlock) carries.

use std::fmt;

/// Who waits on what when a loop deadlocks: every task of the loop was durably blocked (only
/// another task of the loop could have woken it) and no timer, external wait or thread could
/// change that.
///
/// Its text names each blocked task (name, id, where it was spawned), what it waits on and
/// where that was made, and for a held `Lock` or `Semaphore` which task holds it, as a tree
/// of who awaits whom (the rendering of [`dump_tasks`](crate::task::dump_tasks)):
///
/// ```text
/// deadlock: every task is blocked and nothing outside the loop can wake one
/// task 'transfer-a' (id 2, spawned at src/bank.rs:40:13) waits for Lock (src/bank.rs:12:20) held by task 'transfer-b' (id 3)
/// ...
/// cycle: task 'transfer-a' (id 2) -> task 'transfer-b' (id 3) -> task 'transfer-a' (id 2)
/// ```
///
/// After the tree, each cycle of tasks waiting for one another (joins, gathers, lock holders)
/// is named once.
///
/// ```
/// let lp = corio::EventLoop::new()?;
/// let err = lp
///     .run_until_complete(|| corio::Event::new().wait())
///     .unwrap_err();
/// let corio::RuntimeError::Deadlock(report) = err else { panic!("{err}") };
/// assert!(report.text().contains("task 'main'"));
/// assert!(report.text().contains("waits for Event"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlockReport {
    pub(crate) text: String,
    pub(crate) blocked: Vec<u64>,
}

impl DeadlockReport {
    /// The report as text, one line per task, indented by who awaits whom.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The ids of the tasks that were blocked, in spawn order.
    pub fn blocked_tasks(&self) -> &[u64] {
        &self.blocked
    }
}

impl fmt::Display for DeadlockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
