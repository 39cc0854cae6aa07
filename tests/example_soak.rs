//! The soak example, run for real: 2,000 echo connections with resets, cancellations,
//! timeouts and slow readers, 20 s under CI (`CI=true`) and 3 s otherwise, in the profile this
//! test was built with. Its own checks (fds, tasks, stacks, RSS, every echoed byte) decide the
//! exit status; this test also reads the printed figures to see that the faults happened.

mod common;

use std::process::Command;

/// The first number after `label` in `text`.
fn number_after(text: &str, label: &str) -> u64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} not printed"));
    text[at + label.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?}"))
}

#[test]
fn soak_echoes_every_byte_and_leaks_nothing_under_faults() {
    let secs = if std::env::var("CI").is_ok_and(|v| v == "true") {
        20
    } else {
        3
    };
    // A fixed seed, so a failure is rerun with the same random choices (the kernel's timing
    // still varies); SOAK_SEED explores others.
    let seed = std::env::var("SOAK_SEED").unwrap_or_else(|_| "1203".into());
    let bin = common::build_example("soak");
    let out = Command::new(bin)
        .args([
            "--secs",
            &secs.to_string(),
            "--conns",
            "2000",
            "--seed",
            &seed,
        ])
        .output()
        .expect("the soak example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}\n{stderr}");
    println!("{all}"); // the figures, for --nocapture
    assert!(out.status.success(), "the soak failed:\n{all}");
    assert!(stdout.contains("soak: PASS"), "{all}");
    for check in ["echo", "fds", "tasks", "stacks", "rss"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("check {check} ")))
            .unwrap_or_else(|| panic!("no {check} check printed:\n{all}"));
        assert!(line.ends_with(" ok"), "{line}\n{all}");
    }
    assert_eq!(number_after(&stdout, "check echo"), 0, "{all}");
    assert!(number_after(&stdout, "traffic") >= 2000, "{all}");
    assert!(number_after(&stdout, "connections (") > 0, "{all}");
    for fault in [
        "resets ",
        "client timeouts ",
        "server cancels seen ",
        "slow readers ",
    ] {
        assert!(
            number_after(&stdout, fault) > 0,
            "no {fault}happened:\n{all}"
        );
    }
    // Sizes span 1 B to 1 MiB in every run of this length.
    assert!(number_after(&stdout, "sizes") <= 8, "{all}");
    assert_eq!(number_after(&stdout, "B to "), 1 << 20, "{all}");
}
