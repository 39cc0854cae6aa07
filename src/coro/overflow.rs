//! Stack overflow reporting: a SIGSEGV/SIGBUS handler that recognises a fault in the guard
//! of the running coroutine's stack, names the task and its stack size on stderr, and aborts.
//! Any other fault goes to the handler that was installed before (Rust's own, which reports
//! overflows of thread stacks, or the default action).

use std::sync::Once;
use std::sync::OnceLock;

use super::{RUNNING, StackInfo};

/// The handlers that were in place before ours, to chain to.
static PREVIOUS: OnceLock<(libc::sigaction, libc::sigaction)> = OnceLock::new();
static INSTALL: Once = Once::new();

/// Installs the handler once per process and makes sure this thread has an alternate signal
/// stack (the overflowed stack cannot host the handler).
pub(super) fn install() {
    INSTALL.call_once(|| {
        // SAFETY: sigaction with a zeroed-then-filled struct; the handler only does
        // async-signal-safe work (reads a thread-local pointer, write(2), abort(2), or chains).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut old_segv: libc::sigaction = std::mem::zeroed();
            let mut old_bus: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGSEGV, std::ptr::null(), &mut old_segv);
            libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old_bus);
            let _ = PREVIOUS.set((old_segv, old_bus));
            libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut());
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
    ALTSTACK.with(|a| a.ensure());
}

/// An alternate signal stack this module mapped for the current thread, if it had none.
struct AltStack {
    mapped: std::cell::Cell<(usize, usize)>,
    /// The thread was checked (one `sigaltstack` query per thread, not per coroutine).
    checked: std::cell::Cell<bool>,
}

thread_local! {
    static ALTSTACK: AltStack = const {
        AltStack { mapped: std::cell::Cell::new((0, 0)), checked: std::cell::Cell::new(false) }
    };
}

impl AltStack {
    fn ensure(&self) {
        if self.checked.replace(true) {
            return;
        }
        // SAFETY: querying the current alternate stack writes into `old` only.
        unsafe {
            let mut old: libc::stack_t = std::mem::zeroed();
            libc::sigaltstack(std::ptr::null(), &mut old);
            if old.ss_flags & libc::SS_DISABLE == 0 {
                return; // the thread has one (Rust's runtime makes one for its threads)
            }
            let size = libc::SIGSTKSZ.max(64 * 1024);
            let p = libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return;
            }
            let st = libc::stack_t {
                ss_sp: p,
                ss_flags: 0,
                ss_size: size,
            };
            libc::sigaltstack(&st, std::ptr::null_mut());
            self.mapped.set((p as usize, size));
        }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let (p, size) = self.mapped.get();
        if p != 0 {
            // SAFETY: disable the alternate stack we installed, then unmap our own mapping.
            unsafe {
                let st = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&st, std::ptr::null_mut());
                libc::munmap(p as *mut libc::c_void, size);
            }
        }
    }
}

/// A tiny formatter into a fixed buffer: no allocation inside a signal handler.
struct Msg {
    buf: [u8; 512],
    len: usize,
}

impl Msg {
    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    fn num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    // The running coroutine, or the one that resumed it (whose stack the resume code runs on
    // before and after the switch).
    let running = RUNNING.with(|c| c.get());
    let resumer = if running.is_null() {
        std::ptr::null()
    } else {
        // SAFETY: RUNNING points at the StackInfo of the coroutine being resumed on this
        // thread, which lives in its task or generator, alive while it runs.
        unsafe { (*running).resumer.get() }
    };
    // A generator running on top of the task is not in RUNNING: its guard is found in the
    // list of this thread's live generators.
    let generator = super::typed::guarding(addr).map_or(std::ptr::null(), |s| s as *const _);
    for p in [running, resumer, generator] {
        if p.is_null() {
            continue;
        }
        // SAFETY: the running coroutine and its resumer are being resumed on this thread;
        // each StackInfo lives in its task or generator, which is alive while it runs (and a
        // live generator's is at the top of its stack, mapped until it ends).
        let s: &StackInfo = unsafe { &*p };
        // Rust probes each page of big frames, so the first fault of an overflow lands in the
        // guard; code that does not probe is caught too while its frame is smaller than the
        // guard (64 KiB by default, see `stack.rs`).
        if addr >= s.guard_lo && addr < s.guard_hi {
            let mut m = Msg {
                buf: [0; 512],
                len: 0,
            };
            if s.label.is_null() {
                m.push(b"\ncorio: a generator overflowed its coroutine stack of ");
                m.num(s.size as u64);
                m.push(
                    b" bytes; give it more with Generator::with_stack_size \
                         (debug builds need several times more than release). Aborting.\n",
                );
            } else {
                // SAFETY: a task's label lives in its header, which outlives its coroutine
                // (`Coro::new`'s contract), and the coroutine is being resumed; the name is
                // only read (ptr and length), never freed here.
                let label = unsafe { &*s.label };
                m.push(b"\ncorio: task '");
                let name = label.name.as_bytes();
                m.push(if name.is_empty() { b"<unnamed>" } else { name });
                m.push(b"' (id ");
                m.num(label.id);
                m.push(b") overflowed its coroutine stack of ");
                m.num(s.size as u64);
                m.push(b" bytes; give it more with corio::Builder::stack_size or \
                         EventLoopBuilder::stack_size (debug builds need several times more than release). Aborting.\n");
            }
            // SAFETY: write(2) and abort(2) are async-signal-safe.
            unsafe {
                libc::write(2, m.buf.as_ptr().cast(), m.len);
                libc::abort();
            }
        }
    }
    chain(sig, info, ctx);
}

fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some((segv, bus)) = PREVIOUS.get() else {
        return reset_default(sig);
    };
    let prev = if sig == libc::SIGBUS { bus } else { segv };
    let h = prev.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        return reset_default(sig);
    }
    // SAFETY: `prev` is the action that was installed before ours, with the calling
    // convention its flags declare.
    unsafe {
        if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(h);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
            f(sig);
        }
    }
}

/// Restores the default action; returning re-runs the faulting instruction, which then kills
/// the process the usual way.
fn reset_default(sig: libc::c_int) {
    // SAFETY: installing SIG_DFL is async-signal-safe and has no preconditions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &action, std::ptr::null_mut());
    }
}
