//! Networking: sockets that park the coroutine instead of blocking, and name resolution.

mod lookup;

pub use lookup::lookup_host;
