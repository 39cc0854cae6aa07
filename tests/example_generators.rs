//! The generators example runs its demos (send, throw, close, yield_from) and its scheduler of
//! generators over `polling`, which serves the upper-casing echo to several client threads and
//! checks every line; it must exit with status 0. The example binary is built by cargo for
//! this test, so it is never missing or stale.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{build_example, output_within};

#[test]
fn generators_example_serves_every_client_from_a_scheduler_of_generators() {
    let out = output_within(
        &mut Command::new(build_example("generators")),
        Duration::from_secs(180),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exited with {}:\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for part in [
        "average after sending 5: 15",
        "worker caught Interrupt",
        "ticker got GeneratorExit",
        "-> 5 words",
        "5 of 5 clients got all 20 lines back upper-cased",
    ] {
        assert!(stdout.contains(part), "missing {part:?} in:\n{stdout}");
    }
}
