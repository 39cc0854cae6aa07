//! Unit tests of the timers: firing order, cancelling and compaction, bulk expiry.

use super::*;
use std::time::Duration;

#[test]
fn fire_in_deadline_then_scheduling_order() {
    let mut t = Timers::new();
    let now = Instant::now();
    t.add(now + Duration::from_millis(2), "c");
    t.add(now + Duration::from_millis(1), "a");
    t.add(now + Duration::from_millis(1), "b");
    let mut out = Vec::new();
    t.expire(now + Duration::from_millis(5), &mut out, |_| {});
    assert_eq!(out, ["a", "b", "c"]);
}

#[test]
fn cancelled_timer_never_fires_and_heap_compacts() {
    let mut t = Timers::new();
    let now = Instant::now();
    let ids: Vec<_> = (0..5000)
        .map(|i| t.add(now + Duration::from_secs(i), i))
        .collect();
    for id in &ids[..4000] {
        assert!(t.cancel(*id).is_some());
    }
    assert!(t.cancel(ids[0]).is_none());
    assert!(t.heap.len() < 5000, "compaction ran");
    assert_eq!(t.len(), 1000);
    assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(4000)));
    let mut out = Vec::new();
    t.expire(now + Duration::from_secs(10_000), &mut out, |_| {});
    assert_eq!(
        out,
        (4000..5000).collect::<Vec<u64>>(),
        "still in order after compaction"
    );
}

#[test]
fn many_timers_fire_by_deadline_then_seq() {
    // Pseudo-random deadlines with many ties, some cancelled: the order must be exactly
    // (deadline, scheduling order), as a sort gives it.
    let mut t = Timers::new();
    let now = Instant::now();
    let (mut expected, ids) = add_random(&mut t, now, 0x9E37_79B9_7F4A_7C15, 20_000, 500);
    for id in ids.iter().step_by(3) {
        assert!(t.cancel(*id).is_some());
    }
    expected.retain(|&(_, i)| i % 3 != 0);
    expected.sort();
    let mut out = Vec::new();
    t.expire(now + Duration::from_micros(250), &mut out, |_| {});
    expire_the_rest(&mut t, now, out, &expected);
}

#[test]
fn a_mass_expiry_keeps_deadline_then_scheduling_order_and_the_rest_pending() {
    // Most of a big heap due at once (the bulk path), with ties, cancelled timers among
    // the due and the pending ones, and new timers added after it: every timer fires
    // exactly once, in (deadline, scheduling order).
    let mut t = Timers::new();
    let now = Instant::now();
    // Four in five due at 800 µs.
    let (mut expected, ids) = add_random(&mut t, now, 0x2545_F491_4F6C_DD1D, 30_000, 1000);
    assert!(t.many_due(At::of(now + Duration::from_micros(800))));
    for id in ids.iter().step_by(5) {
        assert!(t.cancel(*id).is_some());
    }
    expected.retain(|&(_, i)| i % 5 != 0);
    let mut out = Vec::new();
    t.expire(now + Duration::from_micros(800), &mut out, |_| {});
    let later = now + Duration::from_micros(900);
    t.add(later, 30_000);
    expected.push((later, 30_000));
    expected.sort();
    expire_the_rest(&mut t, now, out, &expected);
}

#[test]
fn deadlines_before_the_epoch_and_far_away_keep_their_order() {
    let mut t = Timers::new();
    let base = epoch();
    let far = base + Duration::from_secs(400 * 365 * 24 * 3600);
    t.add(far, "far");
    if let Some(early) = base.checked_sub(Duration::from_millis(2)) {
        t.add(base, "epoch");
        t.add(early, "early");
        assert_eq!(t.next_deadline(), Some(early), "exact below the epoch");
    }
    let mut out = Vec::new();
    t.expire(base + Duration::from_secs(1), &mut out, |_| {});
    assert!(out.is_empty() || out == ["early", "epoch"]);
    assert!(
        t.next_deadline()
            .is_some_and(|d| d > base + Duration::from_secs(1))
    );
    assert!(t.replace_with(TimerId { key: 0, seq: 1 }, || "later"));
    assert!(!t.replace_with(TimerId { key: 0, seq: 2 }, || "no"));
}

/// Adds `n` timers `0..n` at pseudo-random deadlines (xorshift from `seed`) within
/// `spread_us` µs of `now`, with many ties; returns `(deadline, value)` in scheduling order
/// and the timers' ids.
fn add_random(
    t: &mut Timers<u64>,
    now: Instant,
    seed: u64,
    n: u64,
    spread_us: u64,
) -> (Vec<(Instant, u64)>, Vec<TimerId>) {
    let mut x = seed;
    let mut added = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = now + Duration::from_micros(x % spread_us);
        ids.push(t.add(at, i));
        added.push((at, i));
    }
    (added, ids)
}

/// Expires everything still in `t`, appends it to `out` (what fired before) and checks
/// that all of it fired exactly in the order of `expected` (sorted `(deadline, value)`
/// pairs of the timers not cancelled).
fn expire_the_rest(
    t: &mut Timers<u64>,
    now: Instant,
    mut out: Vec<u64>,
    expected: &[(Instant, u64)],
) {
    let mut rest = Vec::new();
    t.expire(now + Duration::from_secs(1), &mut rest, |_| {});
    out.extend(rest);
    let want: Vec<u64> = expected.iter().map(|&(_, i)| i).collect();
    assert_eq!(out, want);
    assert_eq!(t.len(), 0);
}
