//! The serving examples stop gracefully on SIGINT/SIGTERM: they stop accepting, let open
//! connections finish within a grace period, print a summary and exit 0. Each test sends the
//! signal to the example's process.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{KillOnDrop, build_example};

/// Starts an example that prints `serving on ADDR…` first; returns it, its address and the
/// rest of its stdout.
fn start(name: &str, args: &[&str]) -> (KillOnDrop, String, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(build_example(name))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("it prints where it serves");
    let addr = line
        .trim()
        .strip_prefix("serving on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line from {name}: {line:?}"))
        .to_string();
    (KillOnDrop(child), addr, stdout)
}

fn send_signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) with the pid of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Waits (generously) until nothing accepts on `addr` any more.
fn until_refused(addr: &str) {
    let start = Instant::now();
    while TcpStream::connect(addr).is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the server still accepts after the signal"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (generously) for the exit and returns the rest of stdout.
fn finish(mut guard: KillOnDrop, mut stdout: BufReader<std::process::ChildStdout>) -> String {
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}; stdout: {rest}");
            return rest;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no exit; stdout: {rest}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn echo_once(conn: &mut TcpStream, msg: &[u8]) {
    conn.write_all(msg).unwrap();
    let mut back = vec![0; msg.len()];
    conn.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}

#[test]
fn echo_server_on_sigterm_lets_an_open_connection_finish_and_exits_0() {
    let (server, addr, stdout) = start("echo_server", &["127.0.0.1:0"]);
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    echo_once(&mut conn, b"before\n");
    send_signal(&server.0, libc::SIGTERM);
    until_refused(&addr);
    // Accepting has stopped, the open connection goes on within the grace period.
    echo_once(&mut conn, b"during the grace period\n");
    drop(conn);
    let out = finish(server, stdout);
    assert!(
        out.contains("stopped by SIGTERM: 1 open connection, all ended within"),
        "{out}"
    );
}

#[test]
fn echo_serve_mode_stops_on_sigint_and_exits_0() {
    let (server, addr, stdout) = start("echo", &["--serve", "127.0.0.1:0"]);
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    echo_once(&mut conn, b"ping\n");
    drop(conn);
    send_signal(&server.0, libc::SIGINT);
    let out = finish(server, stdout);
    assert!(out.contains("stopped by SIGINT: "), "{out}");
    assert!(out.contains("all ended within"), "{out}");
}

#[test]
fn every_other_serving_example_stops_on_sigterm_and_exits_0() {
    let http = b"GET /nowhere HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n";
    for (name, args, probe) in [
        (
            "hello_server",
            &["--serve", "127.0.0.1:0"][..],
            &b"hi\n"[..],
        ),
        ("upper_coroutines", &["--serve", "127.0.0.1:0"][..], b"hi\n"),
        ("protocol_echo", &["--serve", "127.0.0.1:0"][..], b"hi\n"),
        (
            "protocol_echo",
            &["--serve", "127.0.0.1:0", "--coroutine"][..],
            b"hi\n",
        ),
        ("web_app", &["--serve", "127.0.0.1:0"][..], &http[..]),
    ] {
        let (server, addr, stdout) = start(name, args);
        // An answer shows the loop is serving, so the main coroutine already parks in
        // `serve_until_signal` with the signals watched (it prints before it gets there).
        let addr = addr.trim_start_matches("http://").trim_end_matches('/');
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        conn.write_all(probe).unwrap();
        let mut byte = [0; 1];
        conn.read_exact(&mut byte)
            .unwrap_or_else(|e| panic!("{name} {args:?} did not answer: {e}"));
        drop(conn);
        send_signal(&server.0, libc::SIGTERM);
        let out = finish(server, stdout);
        assert!(
            out.contains("stopped by SIGTERM: "),
            "{name} {args:?} printed no summary: {out}"
        );
    }
}
