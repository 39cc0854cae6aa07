//! A `log` logger that keeps every record, for the tests of the `log` feature.

use std::sync::{Mutex, Once};

struct Capture;

/// One record: its level, target and text.
pub type Record = (log::Level, String, String);

static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        RECORDS.lock().unwrap().push((
            record.level(),
            record.target().to_string(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

/// Installs the capturing logger for this test binary (once), at every level.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// The records whose text contains `marker`.
pub fn records_with(marker: &str) -> Vec<Record> {
    let all = RECORDS.lock().unwrap();
    all.iter()
        .filter(|r| r.2.contains(marker))
        .cloned()
        .collect()
}
