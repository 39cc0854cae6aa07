//! The web_app example served for real and asked with a real HTTP client: curl when the machine
//! has it, else a std-only client. The example is built fresh in this test's profile.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn std_get(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn web_app_answers_get_with_the_gathered_json() {
    let bin = common::example::build_example("web_app");
    let mut child = Command::new(bin)
        .args(["--serve", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _guard = Kill(child);
    // "serving on http://127.0.0.1:PORT/ (Ctrl+C to stop)"
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the example prints its URL");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();

    let t0 = Instant::now();
    let curl = Command::new("curl")
        .args(["-s", "-i", "--max-time", "20", url])
        .output();
    let response = match curl {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        other => {
            println!("curl is not available ({other:?}); asking with a std client");
            std_get(&addr)
        }
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("application/json"), "{response}");
    assert!(response.contains("\"primes\":17984"), "{response}");
    assert!(response.contains("\"db\":42"), "{response}");
    assert!(response.contains("\"slow\":\"ok\""), "{response}");
    assert!(t0.elapsed() < Duration::from_secs(20));

    // Unknown paths get a 404, and the server keeps serving.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /nope HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 404"));
    assert!(std_get(&addr).starts_with("HTTP/1.1 200"));
}
