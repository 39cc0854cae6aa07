//! The [`Transport`](crate::protocols::Transport) methods of a connection: writes that never
//! park, `write_eof`, `close`/`abort`, reading and flow control, addresses.

use std::io;
use std::net::{Shutdown, SocketAddr};

use super::Conn;
use super::state::Eof;
use crate::protocols::TransportOps;
use crate::protocols::proto::StreamProto;
use crate::protocols::rt;
use crate::streams::AnyStream;

impl<P: StreamProto> TransportOps for Conn<P> {
    fn write(&self, data: &[u8]) {
        let sock = self.sock.borrow();
        let mut st = self.st.borrow_mut();
        if st.closing || st.lost || st.eof != Eof::No || sock.is_none() {
            st.dropped += 1;
            return;
        }
        if data.is_empty() {
            return;
        }
        let mut data = data;
        if st.buffered() == 0 && !st.write_armed {
            let s = sock.as_ref().expect("checked above");
            match s.send(data) {
                Ok(n) if n == data.len() => return,
                Ok(n) => {
                    data = &data[n..];
                    rt::not_writable(s.src());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => rt::not_writable(s.src()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    drop((st, sock));
                    return self.force_close(Some(e));
                }
            }
        }
        st.out.append(data);
        let flow = st.flow_change();
        drop((st, sock));
        self.arm(true);
        self.flow(flow);
    }

    fn writelines(&self, chunks: &mut dyn Iterator<Item = &[u8]>) {
        // One buffer, one send: cheaper than a send per chunk.
        let mut joined = Vec::new();
        for c in chunks {
            joined.extend_from_slice(c);
        }
        self.write(&joined);
    }

    fn write_eof(&self) {
        let sock = self.sock.borrow();
        let mut st = self.st.borrow_mut();
        if st.closing || st.eof != Eof::No {
            return;
        }
        let Some(s) = sock.as_ref() else { return };
        if st.buffered() > 0 {
            st.eof = Eof::Pending;
            return;
        }
        st.eof = Eof::Sent;
        let r = s.shutdown(Shutdown::Write);
        drop((st, sock));
        if let Err(e) = r {
            self.force_close(Some(e));
        }
    }

    fn close(&self) {
        let mut st = self.st.borrow_mut();
        if st.closing {
            return;
        }
        st.closing = true;
        let flushed = st.buffered() == 0;
        drop(st);
        if flushed {
            self.schedule_lost(None);
        }
    }

    fn abort(&self) {
        self.force_close(None);
    }

    fn is_closing(&self) -> bool {
        let st = self.st.borrow();
        st.closing || st.lost
    }

    fn pause_reading(&self) {
        self.st.borrow_mut().read_paused = true;
    }

    fn resume_reading(&self) {
        self.st.borrow_mut().read_paused = false;
        self.arm(false);
    }

    fn is_reading(&self) -> bool {
        let st = self.st.borrow();
        st.is_reading() && !st.lost
    }

    fn set_write_buffer_limits(&self, high: usize, low: usize) {
        let mut st = self.st.borrow_mut();
        st.out.set_limits(high, low);
        let flow = st.flow_change();
        drop(st);
        self.flow(flow);
    }

    fn write_buffer_limits(&self) -> (usize, usize) {
        let st = self.st.borrow();
        (st.out.high, st.out.low)
    }

    fn write_buffer_size(&self) -> usize {
        self.st.borrow().buffered()
    }

    fn dropped_writes(&self) -> u64 {
        self.st.borrow().dropped
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        let sock = self.sock.borrow();
        sock.as_ref().map_or_else(
            || Err(io::ErrorKind::NotConnected.into()),
            AnyStream::peer_addr,
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        let sock = self.sock.borrow();
        sock.as_ref().map_or_else(
            || Err(io::ErrorKind::NotConnected.into()),
            AnyStream::local_addr,
        )
    }
}
