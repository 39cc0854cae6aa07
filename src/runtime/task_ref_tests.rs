//! Layout tests of the task header.

use super::Header;
use std::mem::{offset_of, size_of};

#[test]
fn hot_header_fields_fill_the_first_line() {
    // What every park, wake and resume touches stays within the first 64 bytes, and the
    // coroutine comes right after it.
    assert_eq!(offset_of!(Header, coro), 64);
    assert!(offset_of!(Header, registry_key) < 64);
    assert!(
        offset_of!(Header, label) > offset_of!(Header, std_waker),
        "cold fields last"
    );
}

#[test]
fn the_header_stays_within_320_bytes() {
    // A million parked tasks keep a million headers: each 16 bytes is a glibc size class
    // of the task's cell (16 MB per million tasks).
    assert!(size_of::<Header>() <= 320, "{} bytes", size_of::<Header>());
}
