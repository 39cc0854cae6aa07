//! Seed 001: the "Hello from server!" server and the client that opens 20 connections before
//! sending on any. The Rust pair talks to each other, and each side also talks to a Python
//! peer written for this repository (tests/peers/*.py, standard library only) when `python3`
//! is present; where it is missing those tests print `SKIPPED` (and fail under `CI=true`).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{KillOnDrop, build_example, output_within};

const LIMIT: Duration = Duration::from_secs(180);
const CONNECTIONS: usize = 20;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn peer(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

/// `true` if `python3` runs; else the test is skipped (visibly; a failure under CI).
fn have_python() -> bool {
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        found => {
            common::skip(&format!(
                "no python3 to run the Python peer ({}); install it, e.g. apt-get install python3",
                match found {
                    Ok(out) => format!("python3 --version exited with {}", out.status),
                    Err(e) => format!("python3: {e}"),
                }
            ));
            false
        }
    }
}

/// A running server and the lines it prints, read on a thread as they come.
struct Server {
    _child: KillOnDrop,
    addr: String,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `cmd`, whose first line of output is `serving on HOST:PORT`.
    fn start(cmd: &mut Command) -> Server {
        let mut child: Child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let stdout: ChildStdout = child.stdout.take().expect("piped");
        let child = KillOnDrop(child);
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        stdout
            .read_line(&mut first)
            .expect("the server prints where it serves");
        let addr = first
            .trim()
            .strip_prefix("serving on ")
            .unwrap_or_else(|| panic!("unexpected first line from the server: {first:?}"))
            .to_string();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            _child: child,
            addr,
            lines,
        }
    }

    /// Waits (up to a generous limit) until the server has printed the message of each of
    /// the `n` clients, and returns those lines.
    fn received(&self, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        while got.len() < n {
            match self.lines.recv_timeout(LIMIT) {
                Ok(l) if l.starts_with("received from ") => got.push(l),
                Ok(_) => {}
                Err(e) => panic!("the server printed {} of {n} messages: {e}", got.len()),
            }
        }
        got
    }
}

/// Checks that every client number appears in the server's lines exactly once.
fn assert_every_client_seen(lines: &[String]) {
    for i in 0..CONNECTIONS {
        let suffix = format!(": hello from client number {i}");
        let seen = lines.iter().filter(|l| l.ends_with(&suffix)).count();
        assert_eq!(seen, 1, "client {i} in {lines:#?}");
    }
}

/// Checks a client's output: every answer was "Hello from server!".
fn assert_all_answered(stdout: &str) {
    for i in 0..CONNECTIONS {
        assert!(
            stdout.contains(&format!("answer {i}: Hello from server!\n")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("20 connections, every answer was \"Hello from server!\""),
        "{stdout}"
    );
}

#[test]
fn hello_server_check_mode_answers_twenty_connections_opened_first() {
    let out = output_within(&mut Command::new(build_example("hello_server")), LIMIT);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let received: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("received from "))
        .map(String::from)
        .collect();
    assert_every_client_seen(&received);
    assert!(stdout.contains("check passed: 20 connections"), "{stdout}");
}

#[test]
fn seed_blocking_server_stalls_the_twenty_connection_client() {
    let out = output_within(&mut Command::new(build_example("hello_server")), LIMIT);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    // It accepted the first connection and then waited for a message that never came.
    let accepted = stdout
        .lines()
        .filter(|l| l.starts_with("blocking server: new connection"))
        .count();
    assert_eq!(accepted, 1, "{stdout}");
    assert!(!stdout.contains("blocking server: received"), "{stdout}");
    let made: usize = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("blocking server: ")?
                .strip_suffix(" of 20 connections made")
        })
        .expect(&stdout)
        .parse()
        .expect(&stdout);
    assert!(made < 20, "{stdout}");
    assert!(stdout.contains("was not accepted within 2 s"), "{stdout}");
}

#[test]
fn hello_client_is_answered_by_hello_server() {
    let server =
        Server::start(Command::new(build_example("hello_server")).args(["--serve", "127.0.0.1:0"]));
    let out = output_within(
        Command::new(build_example("hello_client")).arg(&server.addr),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_all_answered(&text(&out.stdout));
    assert_every_client_seen(&server.received(CONNECTIONS));
}

#[test]
fn python_client_is_answered_by_hello_server() {
    if !have_python() {
        return;
    }
    let server =
        Server::start(Command::new(build_example("hello_server")).args(["--serve", "127.0.0.1:0"]));
    let (host, port) = server.addr.rsplit_once(':').expect("HOST:PORT");
    let out = output_within(
        Command::new("python3")
            .arg(peer("hello_client.py"))
            .args([host, port]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_all_answered(&text(&out.stdout));
    assert_every_client_seen(&server.received(CONNECTIONS));
}

#[test]
fn hello_client_is_answered_by_a_python_server() {
    if !have_python() {
        return;
    }
    let server = Server::start(
        Command::new("python3")
            .arg(peer("hello_server.py"))
            .arg(CONNECTIONS.to_string()),
    );
    let out = output_within(
        Command::new(build_example("hello_client")).arg(&server.addr),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_all_answered(&text(&out.stdout));
    assert_every_client_seen(&server.received(CONNECTIONS));
}

#[test]
fn hello_client_exits_non_zero_on_a_wrong_answer() {
    // A server that answers every connection with something else.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for _ in 0..CONNECTIONS {
            conns.push(listener.accept().unwrap().0);
        }
        for mut c in conns {
            let mut buf = [0u8; 64];
            let _ = c.read(&mut buf);
            let _ = std::io::Write::write_all(&mut c, b"Goodbye from server!");
        }
    });
    let out = output_within(
        Command::new(build_example("hello_client")).arg(&addr),
        LIMIT,
    );
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("20 of 20 answers were not"),
        "{}",
        text(&out.stderr)
    );
}
