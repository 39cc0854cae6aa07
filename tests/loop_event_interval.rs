//! `EventLoopBuilder::event_interval`: how many ready steps the loop runs, while work stays
//! ready, before it looks for I/O without blocking. With 1 it looks on every iteration (as
//! asyncio does); by default it lets up to `DEFAULT_EVENT_INTERVAL` steps run first. Counted
//! in loop steps, not time: a socket that is readable before the loop starts is seen after a
//! known number of yields.

use std::cell::Cell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use corio::runtime::{DEFAULT_EVENT_INTERVAL, EventLoopBuilder};

/// Registers a reader on a socket that already holds a byte, then yields until the reader
/// has run; returns how many yields that took.
fn yields_until_readable(builder: EventLoopBuilder) -> u32 {
    builder.run(|| {
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"x").unwrap();
        let seen = Rc::new(Cell::new(false));
        let s = seen.clone();
        corio::runtime::add_reader(&a, move || s.set(true)).unwrap();
        let mut yields = 0;
        while !seen.get() {
            corio::yield_now();
            yields += 1;
            assert!(yields < 10_000, "the reader never ran");
        }
        assert!(corio::runtime::remove_reader(&a));
        yields
    })
}

#[test]
fn event_interval_one_looks_for_io_on_every_iteration() {
    let yields = yields_until_readable(EventLoopBuilder::new().event_interval(1));
    assert!(yields <= 2, "the reader ran after {yields} yields");
}

#[test]
fn event_interval_default_lets_ready_steps_run_first() {
    let yields = yields_until_readable(EventLoopBuilder::new());
    let interval = DEFAULT_EVENT_INTERVAL;
    assert!(
        yields >= interval / 2 && yields <= interval + 2,
        "the reader ran after {yields} yields (interval {interval})"
    );
}

#[test]
fn event_interval_zero_counts_as_one() {
    let yields = yields_until_readable(EventLoopBuilder::new().event_interval(0));
    assert!(yields <= 2, "the reader ran after {yields} yields");
}
