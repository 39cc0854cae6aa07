//! The buffer under a [`StreamReader`]: filling it from the socket, taking bytes out,
//! finding a separator.

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;

use super::StreamReader;
use crate::runtime::Dir;
use crate::streams::conn::{Conn, recv_uninit};

/// How much one read syscall asks for.
pub(super) const READ_SIZE: usize = 64 * 1024;

/// The least capacity of the `Vec` a [`StreamReader::read`] receives into.
const MIN_DIRECT: usize = 64;

/// A `Vec` a read returns is shrunk to its length when larger than this and more than three
/// quarters empty.
const SHRINK_ABOVE: usize = 4096;

/// A buffer whose capacity is given back when it empties past this size.
const KEEP_CAPACITY: usize = 256 * 1024;

thread_local! {
    /// The buffer every read syscall of this thread's streams lands in, before the bytes are
    /// copied where they belong (the returned `Vec`, or a reader's buffer for what is left
    /// over). One per thread, so an idle connection holds no read buffer at all. It is only
    /// borrowed between a syscall and that copy, never across a park.
    pub(super) static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
}

impl StreamReader {
    #[inline]
    pub(super) fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The capacity of the `Vec` the next [`read`](StreamReader::read) on an empty buffer
    /// receives into: half as much again as the reads before received (see
    /// [`learn`](Self::learn)), at least 64 bytes.
    #[inline]
    pub(super) fn direct_capacity(&self) -> usize {
        let last = self.last_read as usize;
        (last + last / 2).clamp(MIN_DIRECT, READ_SIZE)
    }

    /// Records what a read on an empty buffer received (`READ_SIZE` for one that filled its
    /// `Vec`: more may have been waiting): the size to expect grows at once and shrinks by an
    /// eighth a read, so that small and large messages taking turns both fit.
    #[inline]
    fn learn(&mut self, got: usize) {
        let last = self.last_read;
        self.last_read = (got as u32).max(last - last / 8);
    }

    /// `read` on an empty buffer, before EOF, receiving straight into the returned `Vec` of
    /// capacity `cap` (from [`direct_capacity`](Self::direct_capacity), at most the `n` asked
    /// for): no copy. A `Vec` that fills is returned as it is (a short read); the socket
    /// stays marked readable and the next read, sized to `READ_SIZE`, takes the rest. The
    /// `Vec` is allocated only for the syscall and dropped if that finds no data, so a
    /// parked reader holds no memory.
    pub(super) fn read_direct(&mut self, fd: RawFd, cap: usize) -> io::Result<Vec<u8>> {
        let mut out: Vec<u8> = Vec::new();
        let got = self.socket_read(cap, |_, _| {
            if out.capacity() < cap {
                out = Vec::with_capacity(cap);
            }
            match recv_uninit(fd, &mut out.spare_capacity_mut()[..cap]) {
                Ok(got) => {
                    // SAFETY: `recv_uninit` filled the first `got` bytes of the spare
                    // capacity (`got <= cap`, and `cap` was reserved).
                    unsafe { out.set_len(got) };
                    Ok(got)
                }
                Err(e) => {
                    out = Vec::new();
                    Err(e)
                }
            }
        })?;
        if got == 0 {
            self.eof = true;
            return Ok(Vec::new());
        }
        self.learn(if got == cap { READ_SIZE } else { got });
        if cap > SHRINK_ABOVE && got < cap / 4 {
            out.shrink_to_fit();
        }
        Ok(out)
    }

    /// `read(n)` on an empty buffer, before EOF, through the thread's scratch buffer: one
    /// `recv` of `READ_SIZE`, the first `n` bytes copied into the result, the rest kept.
    /// For TLS and pipes, for the first read (nothing learnt yet: the result gets an allocation of its
    /// size) and for an `n` smaller than [`direct_capacity`](Self::direct_capacity), where
    /// receiving only `n` would leave for more syscalls what one can take.
    pub(super) fn read_scratch(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let got = self.socket_read(READ_SIZE, |conn, buf| {
            SCRATCH.with(|s| {
                let s = &mut s.borrow_mut()[..];
                let got = conn.recv(s)?;
                let mine = got.min(n);
                out = s[..mine].to_vec();
                if mine < got {
                    buf.extend_from_slice(&s[mine..got]);
                }
                Ok(got)
            })
        })?;
        if got == 0 {
            self.eof = true;
        }
        self.learn(got);
        Ok(out)
    }

    /// Makes room for the next read of a `readexactly(n)`, growing with what has arrived:
    /// at most doubling what is buffered (and never past `n`), so `n` taken from the wire
    /// (a length prefix) cannot make the reader reserve memory the peer never sends. A large
    /// legitimate message still costs only a logarithmic number of reallocations.
    #[inline]
    pub(super) fn grow_towards(&mut self, n: usize) {
        let missing = n - self.buffered();
        let spare = self.buf.capacity() - self.buf.len();
        if spare < missing.min(READ_SIZE) {
            self.buf
                .reserve_exact(missing.min(self.buf.len().max(READ_SIZE)));
        }
    }

    /// One read of the socket without parking, if it may have data (always when `force`):
    /// `Ok(None)` if it has none, `Ok(Some(0))` (and `eof` set) at the end of the stream.
    #[inline]
    pub(super) fn try_fill(&mut self, force: bool) -> io::Result<Option<usize>> {
        if self.eof || !(force || self.conn.src().is_ready(Dir::Read)) {
            return Ok(None);
        }
        self.check_failed()?;
        let conn = &self.conn;
        let buf = &mut self.buf;
        let r = SCRATCH.with(|s| {
            let s = &mut s.borrow_mut()[..];
            let got = conn.recv(s)?;
            buf.extend_from_slice(&s[..got]);
            Ok::<_, io::Error>(got)
        });
        match r {
            Ok(0) => {
                self.check_failed()?;
                self.eof = true;
                Ok(Some(0))
            }
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.src().clear_ready(Dir::Read);
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(self.read_failed(e)),
        }
    }

    /// One read of the socket, parking until it is readable, appending to the buffer.
    /// Returns the byte count; 0 (and `eof` set) at the end of the stream.
    #[inline]
    pub(super) fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let got = self.socket_read(READ_SIZE, |conn, buf| {
            SCRATCH.with(|s| {
                let s = &mut s.borrow_mut()[..];
                let got = conn.recv(s)?;
                buf.extend_from_slice(&s[..got]);
                Ok(got)
            })
        })?;
        if got == 0 {
            self.eof = true;
        }
        Ok(got)
    }

    /// One socket read of up to `want` bytes through `op` (given the connection and the
    /// buffer), parking while the socket has nothing: the error of an earlier failed read
    /// instead if there was one, and a failure recorded (see `read_failed`).
    #[inline]
    pub(super) fn socket_read(
        &mut self,
        want: usize,
        mut op: impl FnMut(&Conn, &mut Vec<u8>) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.check_failed()?;
        let (conn, buf) = (&self.conn, &mut self.buf);
        match conn.src().read_stream(want, || op(conn, buf)) {
            // The end of the stream, unless the connection under it failed (a bridge's
            // transport lost with an error closes the pipe after recording it).
            Ok(0) => self.check_failed().map(|()| 0),
            Ok(got) => Ok(got),
            Err(e) => Err(self.read_failed(e)),
        }
    }

    /// Takes up to `n` buffered bytes.
    #[inline]
    pub(super) fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buffered());
        if n == self.buffered() {
            return self.take_all();
        }
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.consume_buffered(n);
        out
    }

    #[inline]
    pub(super) fn take_all(&mut self) -> Vec<u8> {
        // Hand the buffer itself over when that wastes little memory (a large readexactly);
        // copy otherwise, so a short line does not carry a large allocation away.
        let out = if self.pos == 0 && self.buf.capacity() <= 2 * self.buf.len() {
            std::mem::take(&mut self.buf)
        } else {
            self.buf[self.pos..].to_vec()
        };
        self.consume_buffered(usize::MAX);
        out
    }

    #[inline]
    pub(super) fn consume_buffered(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        }
    }
}

/// The first position of `needle` (not empty) in `haystack`.
#[inline]
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if let [b] = needle {
        return haystack.iter().position(|x| x == b);
    }
    let first = needle[0];
    let last_start = haystack.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last_start {
        match haystack[i..=last_start].iter().position(|&x| x == first) {
            None => return None,
            Some(j) => {
                i += j;
                if haystack[i..].starts_with(needle) {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn find_matches_naive_search() {
        let hay = b"QWEaaXYaaaZ";
        for needle in [&b"aaa"[..], b"a", b"Z", b"QWE", b"XYaaaZ", b"b", b"aaaa"] {
            let naive = hay.windows(needle.len()).position(|w| w == needle);
            assert_eq!(find(hay, needle), naive, "{needle:?}");
        }
        assert_eq!(find(b"aa", b"aaa"), None);
    }
}
