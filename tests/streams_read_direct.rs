//! `StreamReader::read` on an empty buffer receives straight into the `Vec` it returns, sized
//! after the last read: a message larger than that still arrives whole over successive reads,
//! `read(n)` never returns more than `n` and a small `n` still takes in what one syscall
//! brings, the returned `Vec` is not much larger than what it holds, and a reader parked in
//! `read` holds no read buffer (counted by this binary's allocator, per thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use corio::net::UnixStream;
use corio::streams::{self, StreamReader, StreamWriter};

/// Counts the bytes each thread holds allocated (what it allocated minus what it freed).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn add_live(d: isize) {
    let _ = LIVE.try_with(|l| l.set(l.get() + d));
}

fn live() -> isize {
    LIVE.with(Cell::get)
}

// SAFETY: every call is forwarded to `System` unchanged; the counter is a const-initialised
// thread-local `Cell` (no allocation, no lock), updated with `try_with` so that a call during
// the thread's teardown is not counted rather than failing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add_live(layout.size() as isize);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add_live(-(layout.size() as isize));
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add_live(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A reader, its writer, and the raw socket at the other end.
fn pair() -> (StreamReader, StreamWriter, UnixStream) {
    let (a, peer) = UnixStream::pair().unwrap();
    let (reader, writer) = streams::split(a);
    (reader, writer, peer)
}

/// `len` bytes of a pattern that shows where each byte came from.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

#[test]
fn a_message_larger_than_the_last_read_arrives_whole_over_successive_reads() {
    corio::run(|| {
        let (mut reader, _w, peer) = pair();
        peer.write_all(&pattern(64, 1)).unwrap();
        assert_eq!(reader.read(64 * 1024).unwrap(), pattern(64, 1));
        let big = pattern(150_000, 2);
        let sender = corio::spawn(move || {
            peer.write_all(&big).unwrap();
            peer
        });
        let mut got = Vec::new();
        while got.len() < 150_000 {
            let part = reader.read(64 * 1024).unwrap();
            assert!(
                !part.is_empty() && part.len() <= 64 * 1024,
                "{}",
                part.len()
            );
            got.extend_from_slice(&part);
        }
        assert_eq!(got, pattern(150_000, 2));
        drop(sender.join().unwrap());
        assert_eq!(
            reader.read(64 * 1024).unwrap(),
            b"",
            "EOF once the peer is gone"
        );
    });
}

#[test]
fn read_returns_at_most_n_and_a_small_n_keeps_the_rest_of_one_syscall_buffered() {
    corio::run(|| {
        let (mut reader, _w, peer) = pair();
        for seed in 0..3 {
            peer.write_all(&pattern(4096, seed)).unwrap();
            assert_eq!(reader.read(64 * 1024).unwrap(), pattern(4096, seed));
        }
        // The reader now expects about 4 KiB; a read of 10 bytes takes the whole message off
        // the socket in one syscall and keeps what it does not return.
        peer.write_all(&pattern(4096, 9)).unwrap();
        assert_eq!(reader.read(10).unwrap(), pattern(4096, 9)[..10]);
        assert_eq!(reader.buffer(), &pattern(4096, 9)[10..]);
        assert_eq!(reader.read(100_000).unwrap(), pattern(4096, 9)[10..]);
        // A read asking for less than the message and more than 64 bytes.
        peer.write_all(&pattern(3000, 5)).unwrap();
        assert_eq!(reader.read(1000).unwrap(), pattern(3000, 5)[..1000]);
        assert_eq!(reader.read(5000).unwrap(), pattern(3000, 5)[1000..]);
    });
}

#[test]
fn the_vec_a_read_returns_is_not_much_larger_than_its_bytes() {
    corio::run(|| {
        let (mut reader, _w, peer) = pair();
        for (i, len) in [64, 100_000, 10, 4096, 65_536, 1, 3000, 20, 70_000, 64]
            .into_iter()
            .enumerate()
        {
            let msg = pattern(len, i as u8);
            peer.write_all(&msg).unwrap();
            let mut got = Vec::new();
            while got.len() < len {
                let part = reader.read(64 * 1024).unwrap();
                assert!(
                    part.capacity() <= (4 * part.len()).max(4096),
                    "{} bytes in a Vec of {}",
                    part.len(),
                    part.capacity()
                );
                got.extend_from_slice(&part);
            }
            assert_eq!(got, msg);
        }
    });
}

#[test]
fn a_reader_parked_in_read_holds_no_read_buffer() {
    corio::run(|| {
        let (mut reader, _w, peer) = pair();
        // A message that fills the `Vec` of the read that takes it (one of 96 bytes after
        // one of 64) leaves the socket marked readable and the next read sized for a large
        // one: that read makes a `recv` that finds nothing, then parks. It may not keep its
        // `Vec` while parked.
        peer.write_all(&pattern(64, 0)).unwrap();
        assert_eq!(reader.read(64 * 1024).unwrap().len(), 64);
        peer.write_all(&pattern(96, 0)).unwrap();
        assert_eq!(reader.read(64 * 1024).unwrap().len(), 96);
        let before = live();
        let parked = corio::spawn(move || reader.read(64 * 1024).unwrap());
        for _ in 0..3 {
            corio::yield_now();
        }
        let held = live() - before;
        assert!(!parked.is_done(), "the read is parked");
        assert!(
            held < 16 * 1024,
            "a parked reader holds {held} bytes more than before it parked"
        );
        peer.write_all(b"wake").unwrap();
        assert_eq!(parked.join().unwrap(), b"wake");
    });
}
