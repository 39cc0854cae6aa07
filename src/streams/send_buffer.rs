//! The bytes a connection has accepted and not yet sent, with the water marks that flow
//! control compares them against: one type under both the stream writer and the protocols'
//! transport.

/// A buffer whose capacity is given back when it empties past this size (or past twice the
/// high-water mark, if that is larger).
const KEEP_CAPACITY: usize = 256 * 1024;

/// Unsent bytes (`buf[pos..]`) and the water marks; `#[repr(C)]`, so that `buf` and `pos`
/// come first, among the writer's hot bytes (see `writer::buffer::State`).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct SendBuffer {
    buf: Vec<u8>,
    pos: usize,
    /// Above this many unsent bytes, writers are asked to pause.
    pub(crate) high: usize,
    /// At or below this many, they may resume.
    pub(crate) low: usize,
}

impl SendBuffer {
    /// The bytes at its start that a write and a drain read: the `Vec` and `pos`.
    #[cfg(test)]
    pub(crate) const HOT_BYTES: usize = std::mem::size_of::<Vec<u8>>() + 8;

    /// An empty buffer with the high-water mark `high` and the low one a quarter of it
    /// (asyncio's defaults).
    pub(crate) fn new(high: usize) -> SendBuffer {
        SendBuffer {
            buf: Vec::new(),
            pos: 0,
            high,
            low: high / 4,
        }
    }

    /// How many bytes wait to be sent.
    #[inline]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes that wait to be sent, oldest first.
    #[inline]
    pub(crate) fn unsent(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Queues `data` behind what is unsent. The sent prefix is dropped first once it is at
    /// least half the buffer, so a connection that is always a little behind does not grow
    /// the buffer without bound.
    pub(crate) fn append(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Marks the first `n` unsent bytes as sent; an emptied buffer gives a large capacity
    /// back.
    pub(crate) fn consumed(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.buf.capacity() > KEEP_CAPACITY.max(2 * self.high) {
                self.buf = Vec::new();
            }
        }
    }

    /// Drops every unsent byte and the memory that held them (an abort, a failure).
    pub(crate) fn discard(&mut self) {
        self.buf = Vec::new();
        self.pos = 0;
    }

    /// Sets the water marks (`low` capped at `high`).
    pub(crate) fn set_limits(&mut self, high: usize, low: usize) {
        self.high = high;
        self.low = low.min(high);
    }
}

#[cfg(test)]
mod tests {
    use super::SendBuffer;

    #[test]
    fn the_vec_and_pos_come_first() {
        assert_eq!(std::mem::offset_of!(SendBuffer, buf), 0);
        assert_eq!(
            std::mem::offset_of!(SendBuffer, pos) + 8,
            SendBuffer::HOT_BYTES
        );
    }

    #[test]
    fn unsent_bytes_keep_their_order_through_partial_sends_and_compaction() {
        let mut b = SendBuffer::new(16);
        b.append(b"hello ");
        b.consumed(4);
        b.append(b"world");
        assert_eq!(b.unsent(), b"o world");
        b.consumed(3);
        b.append(b"!");
        assert_eq!(b.unsent(), b"orld!");
        assert_eq!(b.buffered(), 5);
        b.consumed(5);
        assert_eq!(b.buffered(), 0);
        assert_eq!(b.unsent(), b"");
    }

    #[test]
    fn a_sent_prefix_of_half_the_buffer_is_dropped_before_appending() {
        let mut b = SendBuffer::new(16);
        b.append(&[1; 100]);
        b.consumed(60);
        b.append(&[2; 10]);
        assert_eq!(b.pos, 0, "the sent 60 of 100 were dropped");
        assert_eq!(b.buffered(), 50);
    }

    #[test]
    fn an_emptied_large_buffer_gives_its_memory_back() {
        let mut b = SendBuffer::new(16);
        b.append(&vec![0; 1 << 20]);
        b.consumed(1 << 20);
        assert_eq!(b.buf.capacity(), 0);
        b.append(&[0; 100]);
        b.consumed(100);
        assert!(b.buf.capacity() >= 100, "a small buffer keeps its memory");
    }

    #[test]
    fn low_water_mark_is_capped_at_the_high_one() {
        let mut b = SendBuffer::new(64);
        assert_eq!((b.high, b.low), (64, 16));
        b.set_limits(10, 50);
        assert_eq!((b.high, b.low), (10, 10));
    }
}
