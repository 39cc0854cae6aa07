//! A parked coroutine's stack stays where it is, backed and untouched by other tasks, for as
//! long as the coroutine is parked: safe code may lend its locals to other threads across a
//! park. This is the property that rules out copying parked stacks into a shared area (see
//! ARCHITECTURE.md, "Why a parked task keeps its own pages").

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::mpsc;

use corio::ThreadQueue;

const FILL: u8 = 0xBB;
const WRITTEN: u8 = 0xA5;

/// Recurses `depth` frames, each holding 512 bytes of [`FILL`], then yields until `done`;
/// `true` if every frame still holds its bytes on the way back.
fn fill_frames(depth: u32, done: &Cell<bool>, at_bottom: &mut Option<mpsc::Sender<()>>) -> bool {
    let frame = black_box([FILL; 512]);
    let below = if depth == 0 {
        if let Some(tx) = at_bottom.take() {
            tx.send(()).expect("the writer thread waits for this");
        }
        while !done.get() {
            corio::yield_now();
        }
        true
    } else {
        fill_frames(depth - 1, done, at_bottom)
    };
    below && black_box(frame).iter().all(|&b| b == FILL)
}

#[test]
fn a_thread_writes_into_a_parked_coroutines_locals_while_others_run() {
    corio::run(|| {
        let q = ThreadQueue::new(0);
        let done = Rc::new(Cell::new(false));
        let (go_tx, go_rx) = mpsc::channel::<()>();

        // Runs while the main coroutine is parked, with deep frames of its own: on a stack
        // shared by parked tasks these would lie where the main coroutine's locals were.
        let filler = {
            let done = done.clone();
            corio::spawn(move || fill_frames(16, &done, &mut Some(go_tx)))
        };

        let mut local = [0u8; 16 * 1024];
        let addr = local.as_ptr() as usize;
        std::thread::scope(|s| {
            let q2 = q.clone();
            let local = &mut local;
            s.spawn(move || {
                // Only once the filler sits at its deepest, i.e. while the coroutine whose
                // stack holds `local` is parked and another task's frames are live.
                go_rx.recv().expect("the filler reaches its bottom");
                assert_eq!(local.as_ptr() as usize, addr);
                local.fill(WRITTEN);
                q2.blocking_put(()).unwrap();
            });
            q.get().unwrap();
        });
        done.set(true);

        assert_eq!(local.as_ptr() as usize, addr);
        assert!(
            local.iter().all(|&b| b == WRITTEN),
            "the thread's writes reached the parked coroutine's local"
        );
        assert!(
            filler.join().unwrap(),
            "the filler's frames were not overwritten"
        );
    });
}
