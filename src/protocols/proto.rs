//! The two kinds of stream protocol behind one internal interface: a [`Protocol`] gets a
//! slice of a per-thread read buffer, a [`BufferedProtocol`] lends its own.

use std::cell::Cell;
use std::io;

use super::{BufferedProtocol, Protocol, Transport};

/// How much one read asks for.
pub(crate) const READ_SIZE: usize = 64 * 1024;

thread_local! {
    /// The buffer every plain protocol's reads land in: one per thread, so an idle
    /// connection holds no read buffer. Taken out for the length of a read and its
    /// `data_received` call (a nested read, which cannot happen from the loop, would make
    /// a buffer of its own).
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A stream protocol the transports can drive: [`Protocol`] types, and [`BufferedProtocol`]
/// types wrapped in [`Buffered`]. Implemented for you; the methods are internal.
pub trait StreamProtocol: sealed::Sealed + 'static {}

impl<P: Protocol> StreamProtocol for P {}
impl<P: BufferedProtocol> StreamProtocol for Buffered<P> {}

/// Wraps a [`BufferedProtocol`] for the functions that take a [`StreamProtocol`]
/// (`create_server(|| Buffered(MyProto::new()), addr)`).
///
/// ```
/// use corio::protocols::{self, BaseProtocol, Buffered, BufferedProtocol};
/// use std::{cell::RefCell, rc::Rc};
///
/// /// Collects what arrives in one fixed buffer, with no copy.
/// struct Collect {
///     buf: [u8; 16],
///     got: Rc<RefCell<Vec<u8>>>,
/// }
///
/// impl BaseProtocol for Collect {}
///
/// impl BufferedProtocol for Collect {
///     fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
///         &mut self.buf
///     }
///     fn buffer_updated(&mut self, n: usize) {
///         self.got.borrow_mut().extend_from_slice(&self.buf[..n]);
///     }
/// }
///
/// corio::run(|| {
///     let (a, b) = corio::net::UnixStream::pair().unwrap();
///     let got = Rc::new(RefCell::new(Vec::new()));
///     let g = got.clone();
///     protocols::connect_accepted_socket(move || Buffered(Collect { buf: [0; 16], got: g }), a)
///         .unwrap();
///     b.write_all(b"zero-copy reads").unwrap();
///     drop(b);
///     while got.borrow().len() < 15 {
///         corio::yield_now();
///     }
///     assert_eq!(*got.borrow(), b"zero-copy reads");
/// });
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Buffered<P>(pub P);

pub(crate) mod sealed {
    use super::*;

    /// The interface a transport drives. `receive` makes one read with `recv` into the
    /// protocol's buffer and delivers it; it returns `(bytes read, buffer length)`, and
    /// `(0, len > 0)` means EOF (not delivered: the transport calls `eof`).
    pub trait Sealed: 'static {
        #[doc(hidden)]
        fn made(&mut self, t: Transport);
        #[doc(hidden)]
        fn receive(
            &mut self,
            recv: &mut dyn FnMut(&mut [u8]) -> io::Result<usize>,
        ) -> io::Result<(usize, usize)>;
        #[doc(hidden)]
        fn eof(&mut self) -> bool;
        #[doc(hidden)]
        fn lost(&mut self, exc: Option<io::Error>);
        #[doc(hidden)]
        fn pause_writing(&mut self);
        #[doc(hidden)]
        fn resume_writing(&mut self);
    }

    impl<P: Protocol> Sealed for P {
        fn made(&mut self, t: Transport) {
            self.connection_made(t)
        }

        #[inline]
        fn receive(
            &mut self,
            recv: &mut dyn FnMut(&mut [u8]) -> io::Result<usize>,
        ) -> io::Result<(usize, usize)> {
            let mut buf = SCRATCH.take();
            if buf.len() < READ_SIZE {
                buf = vec![0; READ_SIZE];
            }
            /// Puts the buffer back, even when `data_received` panics.
            struct Back(Vec<u8>);
            impl Drop for Back {
                fn drop(&mut self) {
                    SCRATCH.set(std::mem::take(&mut self.0));
                }
            }
            let mut back = Back(buf);
            let n = recv(&mut back.0)?;
            if n > 0 {
                self.data_received(&back.0[..n]);
            }
            Ok((n, READ_SIZE))
        }

        fn eof(&mut self) -> bool {
            self.eof_received()
        }

        fn lost(&mut self, exc: Option<io::Error>) {
            self.connection_lost(exc)
        }

        fn pause_writing(&mut self) {
            super::super::BaseProtocol::pause_writing(self)
        }

        fn resume_writing(&mut self) {
            super::super::BaseProtocol::resume_writing(self)
        }
    }

    impl<P: BufferedProtocol> Sealed for Buffered<P> {
        fn made(&mut self, t: Transport) {
            self.0.connection_made(t)
        }

        fn receive(
            &mut self,
            recv: &mut dyn FnMut(&mut [u8]) -> io::Result<usize>,
        ) -> io::Result<(usize, usize)> {
            let buf = self.0.get_buffer(READ_SIZE);
            let want = buf.len();
            if want == 0 {
                return Err(io::Error::other(
                    "BufferedProtocol::get_buffer returned an empty buffer",
                ));
            }
            let n = recv(buf)?;
            if n > 0 {
                self.0.buffer_updated(n);
            }
            Ok((n, want))
        }

        fn eof(&mut self) -> bool {
            self.0.eof_received()
        }

        fn lost(&mut self, exc: Option<io::Error>) {
            self.0.connection_lost(exc)
        }

        fn pause_writing(&mut self) {
            self.0.pause_writing()
        }

        fn resume_writing(&mut self) {
            self.0.resume_writing()
        }
    }
}

pub(crate) use sealed::Sealed as StreamProto;
