//! Seed 004's janus example: OS threads and coroutines pass 300 items through two
//! `ThreadQueue`s, both ways, and every one comes back.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{build_example, output_within};

#[test]
fn janus_example_relays_every_request_between_threads_and_coroutines() {
    let out = output_within(
        &mut Command::new(build_example("janus")),
        Duration::from_secs(180),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("3 threads put 300 requests; 2 threads took 300 replies, sum 8955050"),
        "{stdout}"
    );
    // Every worker coroutine took part, and together they answered every request.
    let line = stdout
        .lines()
        .find(|l| l.starts_with("4 coroutines answered"))
        .expect(&stdout);
    let counts: Vec<usize> = line[line.find('[').unwrap() + 1..line.find(']').unwrap()]
        .split(", ")
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 300, "{line}");
    assert!(counts.iter().all(|&c| c > 0), "{line}");
}
