//! Seed 000: the upper-casing server in five forms. Each example runs in its bounded mode
//! (serves, checks itself with the shared client, exits 0), and in `--serve` mode against the
//! same shared client run from this test. The blocking form must keep a second client waiting
//! while the first is connected; the other four must answer it at once.

mod common;

#[path = "../examples/common/upper_client.rs"]
mod upper_client;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{KillOnDrop, build_example, output_within};

const LIMIT: Duration = Duration::from_secs(180);

/// The five forms, and whether each serves one client at a time.
const FORMS: [(&str, bool); 5] = [
    ("upper_blocking", true),
    ("upper_busy_poll", false),
    ("upper_poll", false),
    ("upper_callbacks", false),
    ("upper_coroutines", false),
];

/// Runs `name` in its bounded mode; returns its stdout after checking the common lines.
fn run_check_mode(name: &str) -> String {
    let out = output_within(&mut Command::new(build_example(name)), LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} exited with {}:\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("check passed: 10 clients, 28 lines came back upper-cased"),
        "{name}:\n{stdout}"
    );
    let connected = stdout
        .lines()
        .filter(|l| l.starts_with("connected by "))
        .count();
    assert_eq!(connected, upper_client::CLIENTS, "{name}:\n{stdout}");
    stdout
}

#[test]
fn blocking_server_keeps_a_second_client_waiting_until_the_first_leaves() {
    let stdout = run_check_mode("upper_blocking");
    let waits = stdout
        .find("check: client b gets no answer while client a is connected")
        .expect(&stdout);
    let answered = stdout
        .find("check: client b is answered once client a has left")
        .expect(&stdout);
    assert!(waits < answered, "{stdout}");
}

#[test]
fn busy_polling_server_answers_clients_at_once_and_counts_its_empty_tries() {
    let stdout = run_check_mode("upper_busy_poll");
    assert!(
        stdout.contains("check: client b is answered while client a is still connected"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("server: "))
        .expect(&stdout);
    // "server: N tries, M of them found nothing to do": at least the first accept found none.
    let words: Vec<&str> = line.split_whitespace().collect();
    let tries: u64 = words[1].parse().expect(line);
    let empty: u64 = words[3].parse().expect(line);
    assert!(empty >= 1 && empty < tries, "{line}");
}

#[test]
fn poll_server_answers_clients_at_once_and_wakes_only_when_something_is_ready() {
    let stdout = run_check_mode("upper_poll");
    assert!(
        stdout.contains("check: client b is answered while client a is still connected"),
        "{stdout}"
    );
    assert!(stdout.contains("server: woke up "), "{stdout}");
}

#[test]
fn callback_server_on_the_corio_loop_answers_clients_at_once() {
    let stdout = run_check_mode("upper_callbacks");
    assert!(
        stdout.contains("check: client b is answered while client a is still connected"),
        "{stdout}"
    );
    // Clients a and b leave before the crowd is answered, so the loop has seen both go (the
    // crowd's last clients may leave after the check has ended the program).
    let gone = stdout
        .lines()
        .filter(|l| l.starts_with("disconnected by "))
        .count();
    assert!(gone >= 2, "on_disconnect ran {gone} times:\n{stdout}");
}

#[test]
fn coroutine_server_on_corio_streams_answers_clients_at_once() {
    let stdout = run_check_mode("upper_coroutines");
    assert!(
        stdout.contains("check: client b is answered while client a is still connected"),
        "{stdout}"
    );
}

/// Starts `name --serve 127.0.0.1:0`; returns the guard that stops it and its address.
fn serve(name: &str) -> (KillOnDrop, SocketAddr) {
    let mut child = Command::new(build_example(name))
        .args(["--serve", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("the server prints where it serves");
    // It goes on printing a line per client: keep reading, so it never meets a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let addr = line
        .trim()
        .strip_prefix("serving on ")
        .and_then(|rest| rest.strip_suffix(" until Ctrl+C"))
        .unwrap_or_else(|| panic!("unexpected first line from {name}: {line:?}"))
        .parse()
        .expect("an address");
    (KillOnDrop(child), addr)
}

#[test]
fn every_form_passes_the_shared_client_in_serve_mode() {
    for (name, one_at_a_time) in FORMS {
        let (_server, addr) = serve(name);
        let lines = upper_client::check(addr, one_at_a_time)
            .unwrap_or_else(|e| panic!("{name} --serve: {e}"));
        assert_eq!(lines, 28, "{name}");
    }
}

#[test]
fn shared_client_tells_a_concurrent_server_from_a_one_at_a_time_server() {
    // Checked as a one-at-a-time server, a server that answers b at once fails the check.
    let (_server, addr) = serve("upper_poll");
    let err = upper_client::check(addr, true).expect_err("the poll server answers b at once");
    assert!(
        err.contains("client b was answered while client a was connected"),
        "{err}"
    );
}
