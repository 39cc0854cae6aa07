//! Every example that checks its own work is run here, built by cargo for this test, and must
//! exit with status 0: `echo` (100 clients compare every echoed byte), `hello`,
//! `producer_consumer` and `web_app` (their asserts and response checks), and the
//! `echo_server` + `echo_client` pair (the client compares each line and exits non-zero on a
//! difference, which is checked against a server that answers wrongly).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{KillOnDrop, build_example, output_within};

/// Far above what any of them takes (a few seconds in a debug build).
const LIMIT: Duration = Duration::from_secs(180);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Builds and runs `name` with `args`; fails the test unless it exits with status 0.
fn run_ok(name: &str, args: &[&str]) -> Output {
    let out = output_within(Command::new(build_example(name)).args(args), LIMIT);
    assert!(
        out.status.success(),
        "example {name} exited with {}:\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

#[test]
fn echo_example_gets_every_byte_back_for_a_hundred_clients() {
    let out = run_ok("echo", &[]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("100 clients got every byte back") && stdout.contains(", 0 failed"),
        "{stdout}"
    );
}

#[test]
fn hello_example_runs_its_asserts_to_the_end() {
    let out = run_ok("hello", &[]);
    assert!(
        text(&out.stdout).trim_end().ends_with("done"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn producer_consumer_example_processes_every_job_within_the_limit() {
    let out = run_ok("producer_consumer", &[]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("30 jobs") && stdout.contains("checksum 30135 ok"),
        "{stdout}"
    );
}

#[test]
fn web_app_example_answers_fifty_concurrent_clients() {
    let out = run_ok("web_app", &[]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("50 answered 200 with the gathered JSON"),
        "{stdout}"
    );
}

/// Starts `echo_server` on a free port; returns the guard that stops it and its address.
fn start_echo_server() -> (KillOnDrop, String) {
    let mut child = Command::new(build_example("echo_server"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("echo_server starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("echo_server prints where it serves");
    // It goes on printing a line per client: keep reading, so it never meets a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    // "serving on 127.0.0.1:PORT"
    let addr = line
        .trim()
        .strip_prefix("serving on ")
        .unwrap_or_else(|| panic!("unexpected first line from echo_server: {line:?}"))
        .to_string();
    (KillOnDrop(child), addr)
}

#[test]
fn echo_client_gets_its_lines_back_from_echo_server() {
    let (_server, addr) = start_echo_server();
    let out = run_ok("echo_client", &[&addr, "one", "two words", "three"]);
    let stdout = text(&out.stdout);
    for l in ["echo: one\n", "echo: two words\n", "echo: three\n"] {
        assert!(stdout.contains(l), "{stdout}");
    }
}

#[test]
fn echo_client_exits_non_zero_when_an_echo_differs() {
    // A server that answers every line in upper case: not an echo.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut w = s.try_clone().unwrap();
        for line in BufReader::new(s).lines() {
            let Ok(line) = line else { break };
            if w.write_all(format!("{}\n", line.to_uppercase()).as_bytes())
                .is_err()
            {
                break;
            }
        }
    });
    let out = output_within(
        Command::new(build_example("echo_client")).args([&addr, "same", "lower"]),
        LIMIT,
    );
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("2 of 2 lines did not come back as sent"),
        "{stderr}"
    );
}
