//! The process-wide half of signal handling: the one C handler per signal, and the table of
//! loops' wake-up pipes it writes to.
//!
//! Ground rules. The C handler only reads atomics and calls `write(2)`, both async-signal-safe;
//! it never allocates, locks or runs user code. Each watched signal has up to [`MAX_LOOPS`]
//! slots holding the write end of a watching loop's pipe (`-1` when free); the handler writes
//! the signal's number, one byte, into every pipe it finds. A loop that stops watching frees
//! its slot, and before it closes its pipe waits ([`quiesce`]) until no handler is running,
//! so a handler never writes into a closed (or reused) fd. Installing and restoring the
//! disposition (`sigaction`) is done under a mutex, outside any signal handler: the first loop
//! to watch a signal installs the handler and keeps the disposition it replaced; the last one
//! to stop watching puts that disposition back.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// Signal numbers are below this (Linux's `_NSIG` is 65).
const NSIG: usize = 65;

/// How many loops may watch the same signal at once.
pub(super) const MAX_LOOPS: usize = 16;

/// The write ends of the watching loops' pipes, per signal.
static SLOTS: [[AtomicI32; MAX_LOOPS]; NSIG] =
    [const { [const { AtomicI32::new(-1) }; MAX_LOOPS] }; NSIG];

/// How many C handlers are running right now, on any thread.
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Per signal: how many loops watch it and the disposition the handler replaced.
static STATE: Mutex<[Option<(usize, libc::sigaction)>; NSIG]> = Mutex::new([const { None }; NSIG]);

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: `__errno_location` returns this thread's errno slot; saving and restoring it
    // keeps the interrupted code's errno intact across our `write`.
    let errno = unsafe { *libc::__errno_location() };
    IN_HANDLER.fetch_add(1, Ordering::SeqCst);
    if let Some(slots) = usize::try_from(sig).ok().and_then(|s| SLOTS.get(s)) {
        let byte = sig as u8;
        for slot in slots {
            let fd = slot.load(Ordering::SeqCst);
            if fd >= 0 {
                // SAFETY: `fd` is a pipe's write end that its loop keeps open until
                // `quiesce` has seen this handler finish; `byte` lives across the call. A full
                // pipe (EAGAIN) loses nothing the loop needs: it has bytes to read already.
                unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
            }
        }
    }
    IN_HANDLER.fetch_sub(1, Ordering::SeqCst);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Checks that `sig` is a signal a loop may handle.
pub(super) fn check(sig: i32) -> io::Result<usize> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {sig} cannot be handled by an event loop: {why}"),
        )
    };
    let s = usize::try_from(sig)
        .ok()
        .filter(|&s| s > 0 && s < NSIG)
        .ok_or_else(|| bad("not a signal number"))?;
    match sig {
        libc::SIGKILL | libc::SIGSTOP => Err(bad("the kernel does not let it be caught")),
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE => Err(bad(
            "it reports a fault of the thread that raised it and cannot wait for the loop",
        )),
        _ => Ok(s),
    }
}

/// Makes the C handler write `sig` into `fd`, installing the handler if no loop watched
/// `sig` yet.
pub(super) fn subscribe(sig: i32, fd: i32) -> io::Result<()> {
    let s = check(sig)?;
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(slot) = SLOTS[s].iter().find(|slot| {
        slot.compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }) else {
        return Err(io::Error::other(format!(
            "more than {MAX_LOOPS} event loops watch signal {sig}"
        )));
    };
    match &mut state[s] {
        Some((n, _)) => *n += 1,
        none => match install(sig) {
            Ok(old) => *none = Some((1, old)),
            Err(e) => {
                slot.store(-1, Ordering::SeqCst);
                return Err(e);
            }
        },
    }
    Ok(())
}

/// Undoes [`subscribe`]; the last loop to leave puts the old disposition back.
pub(super) fn unsubscribe(sig: i32, fd: i32) {
    let Ok(s) = check(sig) else { return };
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(slot) = SLOTS[s]
        .iter()
        .find(|slot| slot.load(Ordering::SeqCst) == fd)
    else {
        return;
    };
    slot.store(-1, Ordering::SeqCst);
    if let Some((n, old)) = &mut state[s] {
        *n -= 1;
        if *n == 0 {
            // SAFETY: `old` is the disposition `sigaction` gave back when we installed ours.
            unsafe { libc::sigaction(sig, old, std::ptr::null_mut()) };
            state[s] = None;
        }
    }
}

/// Waits until no C handler runs, so that a pipe no slot names any more can be closed.
pub(super) fn quiesce() {
    while IN_HANDLER.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
}

fn install(sig: i32) -> io::Result<libc::sigaction> {
    // SAFETY: zeroed `sigaction` structs are valid (empty mask, no flags); the handler is an
    // `extern "C" fn(c_int)`, which is what `sa_sigaction` holds without `SA_SIGINFO`.
    unsafe {
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        new.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigemptyset(&mut new.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, &new, &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(old)
    }
}
