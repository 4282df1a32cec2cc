//! Parsing benchmark (issue 10): `UdevRecord::parse` and `Uevent::parse` of records from 5 000 to
//! 1 000 000 lines, to show that the parsers are linear in the size of their input.
//!
//! The record: `E:ID_PROPERTY_<i>=value-<i>` lines (every property distinct, the case that made
//! the old property list quadratic) with a `G:tag-<i>` line after every fourth. The uevent file:
//! `KEY_<i>=<i>` lines. Each size is parsed 5 times after a warm-up run; the table gives the
//! median and the time per line.
//!
//! Run: `cargo bench -p udev-db --bench record`.

use std::fmt::Write;
use std::hint::black_box;
use std::time::{Duration, Instant};

use udev_db::{UdevRecord, Uevent};

const SIZES: [usize; 8] = [
    5_000, 10_000, 20_000, 40_000, 100_000, 250_000, 500_000, 1_000_000,
];
const RUNS: usize = 5;

fn record(lines: usize) -> String {
    let mut text = String::new();
    for i in 0..lines {
        if i % 5 == 4 {
            let _ = writeln!(text, "G:tag-{i}");
        } else {
            let _ = writeln!(text, "E:ID_PROPERTY_{i}=value-{i}");
        }
    }
    text
}

fn uevent(lines: usize) -> String {
    let mut text = String::new();
    for i in 0..lines {
        let _ = writeln!(text, "KEY_{i}={i}");
    }
    text
}

fn median(mut work: impl FnMut()) -> Duration {
    work();
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn main() {
    println!("parsing benchmark: median of {RUNS} runs after a warm-up run");
    println!(
        "{:>9} {:>10} | {:>12} {:>9} | {:>12} {:>9}",
        "lines", "bytes", "record ms", "ns/line", "uevent ms", "ns/line"
    );
    for lines in SIZES {
        let record_text = record(lines);
        let uevent_text = uevent(lines);
        let record_time = median(|| {
            black_box(UdevRecord::parse(black_box(record_text.as_bytes())));
        });
        let uevent_time = median(|| {
            black_box(Uevent::parse(black_box(uevent_text.as_bytes())));
        });
        let per_line = |time: Duration| time.as_nanos() as f64 / lines as f64;
        println!(
            "{lines:>9} {:>10} | {:>12.2} {:>9.0} | {:>12.2} {:>9.0}",
            record_text.len(),
            record_time.as_secs_f64() * 1e3,
            per_line(record_time),
            uevent_time.as_secs_f64() * 1e3,
            per_line(uevent_time),
        );
    }
}
