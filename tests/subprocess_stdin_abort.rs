//! Aborting a child's stdin while a flush waits for room in the pipe lets go of the pipe: no
//! fd is left behind. One test alone in this file, since it counts the process's open fds.

use corio::subprocess::{Command, Stdio};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn aborting_a_stdin_with_a_pending_flush_leaves_no_fd_behind() {
    corio::run(|| {
        // Warm up what opens fds once (the loop's poller, the reaper thread).
        Command::new("true").spawn().unwrap().wait().unwrap();
        let before = open_fds();
        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        // Far more than a pipe holds: the rest waits in a flush armed on the pipe.
        stdin.write(&vec![0u8; 1024 * 1024]);
        corio::yield_now();
        assert!(stdin.write_buffer_size() > 0, "the flush waits for room");
        stdin.abort();
        drop(stdin);
        child.kill().unwrap();
        child.wait().unwrap();
        drop(child);
        for _ in 0..3 {
            corio::yield_now();
        }
        assert_eq!(open_fds(), before, "the pipe's fd was closed");
    });
}
