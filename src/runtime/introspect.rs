//! Looking at a loop's tasks from inside: [`tasks`]-style snapshots (each live task, its
//! state, what it waits on, who awaits it), their rendering as a tree of who awaits whom, and
//! the deadlock report built from them.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::panic::Location;
use std::time::Duration;

use super::core::Core;
use super::task_ref::{Header, State};
use crate::error::DeadlockReport;

/// Where a live task stands, as [`tasks`](crate::task::tasks) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// In the ready queue.
    Scheduled,
    /// Running now (the caller of [`tasks`](crate::task::tasks) is this task).
    Running,
    /// Parked, waiting for something.
    Parked,
}

/// A live task, as [`tasks`](crate::task::tasks) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id.
    pub id: u64,
    /// The task's name (`Task-<id>` if none was given).
    pub name: String,
    /// Where it stands.
    pub state: TaskState,
    /// What a parked task waits on (`"sleep"`, `"join"`, `"future"`, `"read"`, `"lock"`,
    /// `"queue get"`, `"gather"`, `"task group"`, `"executor"`, …); empty when it is not
    /// parked.
    pub waiting_on: &'static str,
    /// `true` if a parked task waits on the outside world (a socket or fd, an executor job,
    /// a `ThreadQueue`, a foreign std future); `false` for a *durable* wait, which only
    /// another task of the loop or a timer can end.
    pub external: bool,
    /// Where the awaited primitive (`Lock`, `Event`, `Queue`, `Future`, …) was made.
    pub created_at: Option<&'static Location<'static>>,
    /// The task holding the awaited `Lock` (or the last permit of a `Semaphore`), by id.
    pub held_by: Option<u64>,
    /// `true` when the awaited `Lock` (or a `Semaphore`'s last permit) is held, but by no
    /// live task: the guard outlived the task that took it — stored somewhere, leaked with
    /// `mem::forget`, or kept alive by a reference cycle (an `Rc` cycle) that is never
    /// dropped. `held_by` is `None` then.
    pub held_by_ended: bool,
    /// The tasks this one waits for (a join, a gather, a `wait`, a task group), by id.
    pub awaits: Vec<u64>,
    /// The tasks waiting for this one, by id.
    pub awaited_by: Vec<u64>,
    /// Where the task was spawned.
    pub spawned_at: &'static Location<'static>,
    /// How long ago it was spawned, by the loop's clock (as of the loop's last look at it).
    pub age: Duration,
    /// Usable bytes of its coroutine stack.
    pub stack_size: usize,
    /// Debug mode (`CORIO_DEBUG=1`): the backtrace captured where it parked.
    pub park_backtrace: Option<String>,
}

/// Every live task of `core`, in spawn order.
pub(crate) fn snapshot(core: &Core) -> Vec<TaskInfo> {
    let now = core.now();
    let live = core.all_tasks();
    let ids: HashSet<u64> = live.iter().map(|t| t.header().id()).collect();
    let mut all: Vec<TaskInfo> = live
        .iter()
        .filter_map(|t| info(core, t.header(), now, &ids))
        .collect();
    all.sort_by_key(|i| i.id);
    let index: HashMap<u64, usize> = all.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    for i in 0..all.len() {
        for awaited in all[i].awaits.clone() {
            if let Some(&j) = index.get(&awaited) {
                let by = all[i].id;
                all[j].awaited_by.push(by);
            }
        }
    }
    all
}

fn info(core: &Core, h: &Header, now: std::time::Instant, ids: &HashSet<u64>) -> Option<TaskInfo> {
    let state = match h.state.get() {
        State::Scheduled => TaskState::Scheduled,
        State::Running => TaskState::Running,
        State::Parked => TaskState::Parked,
        State::Done => return None,
    };
    let wait = if state == TaskState::Parked {
        // SAFETY: the task is parked, so the frame that stored the pointer is suspended and
        // still borrows the target (see `wait_target.rs`).
        Some(unsafe { &*h.waiting_on.get() }.describe())
    } else {
        None
    };
    let wait = wait.unwrap_or_default();
    Some(TaskInfo {
        id: h.id(),
        name: h.display_name(),
        state,
        waiting_on: wait.kind,
        external: state == TaskState::Parked && h.external.get(),
        created_at: wait.created,
        held_by: wait.holder.filter(|id| ids.contains(id)),
        held_by_ended: wait.holder.is_some_and(|id| !ids.contains(&id)),
        awaits: wait.awaits,
        awaited_by: Vec::new(),
        spawned_at: h.spawned_at,
        age: now.saturating_duration_since(h.spawned),
        stack_size: h.stack_size(),
        park_backtrace: if state == TaskState::Parked {
            core.park_trace_text(h.registry_key.get())
        } else {
            None
        },
    })
}

/// Renders tasks as an indented tree of who awaits whom: a task waiting for others (a join,
/// a gather, a task group) is followed by them, one level deeper.
pub(crate) fn render(tasks: &[TaskInfo]) -> String {
    let by_id: HashMap<u64, &TaskInfo> = tasks.iter().map(|t| (t.id, t)).collect();
    let mut out = String::new();
    let mut shown = std::collections::HashSet::new();
    let roots = tasks.iter().filter(|t| t.awaited_by.is_empty());
    for t in roots {
        render_one(t, 0, &by_id, &mut shown, &mut out);
    }
    // Tasks only awaited inside a cycle (two tasks joining each other) have no root.
    for t in tasks {
        if !shown.contains(&t.id) {
            render_one(t, 0, &by_id, &mut shown, &mut out);
        }
    }
    out
}

fn render_one(
    t: &TaskInfo,
    depth: usize,
    by_id: &HashMap<u64, &TaskInfo>,
    shown: &mut std::collections::HashSet<u64>,
    out: &mut String,
) {
    let indent = "  ".repeat(depth);
    if !shown.insert(t.id) {
        let _ = writeln!(out, "{indent}task '{}' (id {}, see above)", t.name, t.id);
        return;
    }
    let _ = write!(
        out,
        "{indent}task '{}' (id {}, spawned at {}) ",
        t.name, t.id, t.spawned_at
    );
    match t.state {
        TaskState::Running => out.push_str("is running"),
        TaskState::Scheduled => out.push_str("is ready to run"),
        TaskState::Parked => describe_wait(t, by_id, out),
    }
    out.push('\n');
    if let Some(bt) = &t.park_backtrace {
        for line in bt.lines() {
            let _ = writeln!(out, "{indent}  | {line}");
        }
    }
    for id in &t.awaits {
        if *id == t.id {
            continue;
        }
        if let Some(child) = by_id.get(id) {
            render_one(child, depth + 1, by_id, shown, out);
        }
    }
}

fn describe_wait(t: &TaskInfo, by_id: &HashMap<u64, &TaskInfo>, out: &mut String) {
    let name_of = |id: u64| match by_id.get(&id) {
        Some(o) => format!("task '{}' (id {id})", o.name),
        None => format!("task id {id}"),
    };
    if t.waiting_on == "join" && t.awaits == [t.id] {
        out.push_str("waits for its own end: it joins itself");
        return;
    }
    let _ = write!(out, "waits for {}", display_kind(t.waiting_on));
    if let Some(at) = t.created_at {
        let _ = write!(out, " ({at})");
    }
    if let Some(h) = t.held_by {
        if h == t.id {
            out.push_str(" held by itself");
        } else {
            let _ = write!(out, " held by {}", name_of(h));
        }
    } else if t.held_by_ended {
        out.push_str(
            " held by no live task: its guard outlived the task that took it \
             (stored, leaked, or kept alive by a reference cycle that is never dropped)",
        );
    }
    if t.waiting_on == "join"
        && let Some(&id) = t.awaits.first()
    {
        let _ = write!(out, " of {}", name_of(id));
    }
    if t.external {
        out.push_str(" (external)");
    }
}

/// A wait's kind as a report shows it: primitives by their type's name.
fn display_kind(kind: &str) -> &str {
    match kind {
        "lock" => "Lock",
        "event" => "Event",
        "condition" => "Condition",
        "semaphore" => "Semaphore",
        "barrier" => "Barrier",
        "future" => "Future",
        "queue get" => "Queue get",
        "queue put" => "Queue put",
        "queue join" => "Queue join",
        "thread queue get" => "ThreadQueue get",
        "thread queue put" => "ThreadQueue put",
        "task group" => "TaskGroup",
        "executor" => "an executor job",
        other => other,
    }
}

/// The cycles of "waits for" among `tasks` (a join, a gather, a lock's holder), each once,
/// starting from its smallest id.
fn cycles(tasks: &[TaskInfo]) -> Vec<Vec<u64>> {
    let edges: HashMap<u64, Vec<u64>> = tasks
        .iter()
        .map(|t| {
            let mut to = t.awaits.clone();
            to.extend(t.held_by);
            (t.id, to)
        })
        .collect();
    let mut found: Vec<Vec<u64>> = Vec::new();
    let mut done = std::collections::HashSet::new();
    for t in tasks {
        let mut path = Vec::new();
        walk(t.id, &edges, &mut path, &mut done, &mut found);
    }
    found
}

fn walk(
    id: u64,
    edges: &HashMap<u64, Vec<u64>>,
    path: &mut Vec<u64>,
    done: &mut std::collections::HashSet<u64>,
    found: &mut Vec<Vec<u64>>,
) {
    if let Some(i) = path.iter().position(|&p| p == id) {
        let mut cycle = path[i..].to_vec();
        let min = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
        cycle.rotate_left(min);
        if !found.contains(&cycle) {
            found.push(cycle);
        }
        return;
    }
    if done.contains(&id) {
        return;
    }
    path.push(id);
    for &next in edges.get(&id).map_or(&[][..], Vec::as_slice) {
        walk(next, edges, path, done, found);
    }
    path.pop();
    done.insert(id);
}

/// The report for a deadlock of `core`: every live task, as a tree.
pub(crate) fn deadlock_report(core: &Core) -> DeadlockReport {
    let tasks = snapshot(core);
    let mut text = String::from(
        "deadlock: every task is blocked and nothing outside the loop can wake one \
         (no timer, socket, executor job, thread or LoopHandle)\n",
    );
    text.push_str(&render(&tasks));
    for cycle in cycles(&tasks) {
        let names: Vec<String> = cycle
            .iter()
            .map(|id| {
                let t = tasks
                    .iter()
                    .find(|t| t.id == *id)
                    .expect("a task of the list");
                format!("task '{}' (id {})", t.name, t.id)
            })
            .collect();
        let _ = writeln!(text, "cycle: {} -> {}", names.join(" -> "), names[0]);
    }
    DeadlockReport {
        text: text.trim_end().to_string(),
        blocked: tasks.iter().map(|t| t.id).collect(),
    }
}
