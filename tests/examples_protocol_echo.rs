//! `examples/protocol_echo.rs`: its self-check (both styles, 50 clients each) must pass, and
//! its two servers, run with `--serve`, must give one plain client the same answers.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{KillOnDrop, build_example, output_within};

const LIMIT: Duration = Duration::from_secs(180);

#[test]
fn protocol_echo_self_check_passes_in_both_styles() {
    let out = output_within(&mut Command::new(build_example("protocol_echo")), LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("protocol: 50 clients, 0 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("coroutine: 50 clients, 0 failed"),
        "{stdout}"
    );
}

/// Starts the example's server in one style; returns the guard that stops it and its address.
fn serve(extra: &[&str]) -> (KillOnDrop, String) {
    let mut child = Command::new(build_example("protocol_echo"))
        .args(["--serve", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("protocol_echo starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("it prints where it serves");
    let addr = line
        .trim()
        .strip_prefix("serving on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (KillOnDrop(child), addr)
}

/// A blocking client: lines in pieces, a last line without its newline, then EOF.
fn talk(addr: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    for piece in ["abc\nприв", "ет\n", "x y z\n", "no newline"] {
        s.write_all(piece.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    got
}

#[test]
fn protocol_and_coroutine_servers_answer_one_client_alike() {
    let (_p, paddr) = serve(&[]);
    let (_c, caddr) = serve(&["--coroutine"]);
    let from_protocol = talk(&paddr);
    let from_coroutine = talk(&caddr);
    assert_eq!(
        String::from_utf8_lossy(&from_protocol),
        "ABC\nПРИВЕТ\nX Y Z\nNO NEWLINE"
    );
    assert_eq!(from_protocol, from_coroutine);
}
