//! The errors of stream reads: a short read at EOF, a line or chunk over the limit.

use std::fmt;
use std::io;

/// [`StreamReader::readexactly`](crate::streams::StreamReader::readexactly) or
/// [`readuntil`](crate::streams::StreamReader::readuntil) met the end of the stream first
/// (asyncio's `IncompleteReadError`). The bytes that did arrive are given back in `partial`;
/// the reader's buffer is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteRead {
    /// Everything read before the end of the stream.
    pub partial: Vec<u8>,
    /// How many bytes were asked for; `None` for `readuntil`, which waited for a separator.
    pub expected: Option<usize>,
}

impl IncompleteRead {
    /// The bytes read before the end of the stream.
    pub fn into_partial(self) -> Vec<u8> {
        self.partial
    }
}

impl fmt::Display for IncompleteRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expected {
            Some(n) => write!(
                f,
                "{} bytes read on a total of {n} expected bytes",
                self.partial.len()
            ),
            None => write!(
                f,
                "{} bytes read on a total of undefined expected bytes",
                self.partial.len()
            ),
        }
    }
}

impl std::error::Error for IncompleteRead {}

/// [`StreamReader::readuntil`](crate::streams::StreamReader::readuntil) would have to buffer
/// more than the reader's limit (asyncio's `LimitOverrunError`). The data stays in the
/// reader's buffer: read `consumed` bytes of it with `read` or `readexactly` to go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitOverrun {
    /// How many bytes of the buffer are to be consumed: up to the separator if it was found,
    /// otherwise what was searched without finding it.
    pub consumed: usize,
    /// Whether the separator was found (past the limit) or not (the buffer outgrew the limit).
    pub found: bool,
}

impl fmt::Display for LimitOverrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.found {
            write!(
                f,
                "separator is found, but chunk is longer than limit ({} bytes); raise it with set_limit",
                self.consumed
            )
        } else {
            write!(
                f,
                "separator is not found, and chunk exceeds the limit ({} bytes searched); raise it with set_limit",
                self.consumed
            )
        }
    }
}

impl std::error::Error for LimitOverrun {}

/// Why a [`StreamReader`](crate::streams::StreamReader) read failed: the socket's error, the
/// end of the stream before the data asked for, or a separator past the limit.
///
/// Converts into [`io::Error`] (kinds `UnexpectedEof` and `InvalidData` for the last two,
/// with the typed error inside), so `?` works in functions returning `io::Result`.
#[derive(Debug)]
pub enum ReadError {
    /// The socket failed (`ConnectionReset`, ...).
    Io(io::Error),
    /// The stream ended first; the bytes read are inside.
    IncompleteRead(IncompleteRead),
    /// The separator was not within the limit; the bytes stay in the reader's buffer.
    LimitOverrun(LimitOverrun),
}

impl ReadError {
    /// The bytes read before the end of the stream, for [`ReadError::IncompleteRead`].
    pub fn partial(&self) -> Option<&[u8]> {
        match self {
            ReadError::IncompleteRead(e) => Some(&e.partial),
            _ => None,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::IncompleteRead(e) => e.fmt(f),
            ReadError::LimitOverrun(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            ReadError::IncompleteRead(e) => Some(e),
            ReadError::LimitOverrun(e) => Some(e),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

impl From<IncompleteRead> for ReadError {
    fn from(e: IncompleteRead) -> ReadError {
        ReadError::IncompleteRead(e)
    }
}

impl From<LimitOverrun> for ReadError {
    fn from(e: LimitOverrun) -> ReadError {
        ReadError::LimitOverrun(e)
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        match e {
            ReadError::Io(e) => e,
            ReadError::IncompleteRead(e) => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            ReadError::LimitOverrun(e) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}
