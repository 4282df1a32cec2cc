//! Configuration parsing benchmark (issue 10): the time and peak memory of
//! `hotplugd::config::parse_main_file` (and of `load` on `/dev/zero`) for adversarial inputs under
//! the 1 MiB file limit, and for the largest ordinary configuration.
//!
//! Each case runs in a process of its own (this program started again with the case's name), so
//! that its peak resident memory (`VmHWM` of `/proc/self/status`, less the process's own before
//! the case) is its own. A case that runs past 60 s or above 6 GiB of address space is stopped
//! and shown as such (`ulimit -v` of the child).
//!
//! Run: `cargo bench -p hotplugd --bench config_bounds`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CASES: &[(&str, &str)] = &[
    (
        "ordinary-1mib",
        "1 MiB of ordinary machines (6 800 machines, no aliases)",
    ),
    (
        "alias-20000",
        "512 KB: one 330 KB matcher anchored, reused 20 000 times",
    ),
    (
        "laughs",
        "700 B: 9 levels of 10 aliases each (10^9 scalars expanded)",
    ),
    (
        "big-scalar",
        "1 MiB: a 1 MiB scalar anchored, reused 8 times",
    ),
    (
        "under-budget-nodes",
        "aliases expanding to just under the node budget",
    ),
    (
        "under-budget-bytes",
        "aliases expanding to just under the scalar-byte budget",
    ),
    (
        "under-budget-merge",
        "merge keys of an alias, to just under the node budget",
    ),
    ("deep-flow-64000", "64 000 nested [ and their ]"),
    ("deep-flow-unclosed", "64 000 nested [ never closed"),
    ("deep-block-1000", "1 000 nested block sequences"),
    ("dev-zero", "config::load(\"/dev/zero\")"),
];

fn ordinary() -> String {
    let mut text = String::from("interval: 5s\nmachines:\n");
    let mut i = 0;
    while text.len() < 1_000_000 {
        let _ = write!(
            text,
            "  vm{i}:\n    devices:\n    - vendor-id: 0x046d\n      product-id: 0x0825\n      \
             udev:\n        env:\n        - name: ID_USB_SERIAL_SHORT\n          equals: 'A{i}'\n"
        );
        i += 1;
    }
    text
}

fn alias_bomb() -> String {
    let mut text =
        String::from("machines:\n  vm:\n    devices:\n    - &m\n      udev:\n        env:\n");
    let entry = format!("        - {{name: A, equals: {}}}\n", "x".repeat(300));
    while text.len() < 330_000 {
        text.push_str(&entry);
    }
    for _ in 0..20_000 {
        text.push_str("    - *m\n");
    }
    text
}

fn laughs() -> String {
    let mut text = String::from("machines:\n  vm:\n    devices:\n    - udev:\n        tags: &l0 [");
    text.push_str(&["aaaaaaaa"; 10].join(", "));
    text.push_str("]\n");
    for level in 1..10 {
        let aliases = vec![format!("*l{}", level - 1); 10].join(", ");
        let _ = writeln!(text, "    - udev:\n        tags: &l{level} [{aliases}]");
    }
    text
}

fn big_scalar() -> String {
    let mut text = format!(
        "machines:\n  vm:\n    devices:\n    - port: &p {}\n",
        "x".repeat(1_000_000)
    );
    for _ in 0..8 {
        text.push_str("    - port: *p\n");
    }
    text
}

/// A matcher of 10 nodes, aliased until the expanded document is just under the node budget.
fn under_budget_nodes() -> String {
    let mut text = String::from(
        "machines:\n  vm:\n    devices:\n    - &m {vendor-id: 1, udev: {tags: [a, b, c]}}\n",
    );
    for _ in 0..(hotplugd::config::MAX_NODES / 10 - 10) {
        text.push_str("    - *m\n");
    }
    text
}

/// A matcher with 30 KB of scalars, aliased until just under the scalar-byte budget.
fn under_budget_bytes() -> String {
    let big = "x".repeat(30_000);
    let mut text =
        format!("machines:\n  vm:\n    devices:\n    - &m {{udev: {{env: [{{name: A, equals: {big}}}]}}}}\n");
    for _ in 0..(hotplugd::config::MAX_SCALAR_BYTES / 30_000 - 2) {
        text.push_str("    - *m\n");
    }
    text
}

/// Matchers merging an anchored matcher of 12 nodes (`<<: *m`, the path that builds a `Value`,
/// applies the merges and writes the document out again), to just under the node budget.
fn under_budget_merge() -> String {
    let mut text = String::from(
        "machines:\n  vm:\n    devices:\n    - &m {vendor-id: 1, udev: {tags: [a, b, c, d]}}\n",
    );
    for bus in 0..(hotplugd::config::MAX_NODES / 16) {
        let _ = writeln!(text, "    - {{<<: *m, bus: {}}}", bus % 100 + 1);
    }
    text
}

fn text_of(case: &str) -> String {
    match case {
        "ordinary-1mib" => ordinary(),
        "alias-20000" => alias_bomb(),
        "laughs" => laughs(),
        "big-scalar" => big_scalar(),
        "under-budget-nodes" => under_budget_nodes(),
        "under-budget-bytes" => under_budget_bytes(),
        "under-budget-merge" => under_budget_merge(),
        "deep-flow-64000" => format!("machines: {}{}\n", "[".repeat(64_000), "]".repeat(64_000)),
        "deep-flow-unclosed" => format!("machines: {}\n", "[".repeat(64_000)),
        "deep-block-1000" => {
            let mut text = String::from("machines:\n");
            for level in 0..1000 {
                let _ = writeln!(text, "{}- ", " ".repeat(level + 1));
            }
            text
        }
        _ => String::new(),
    }
}

/// `VmHWM` of this process, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Runs one case in this process and prints `seconds peak-KiB bytes outcome`.
fn run_case(case: &str) {
    let text = text_of(case);
    let before = peak_kib();
    let start = Instant::now();
    let outcome = if case == "dev-zero" {
        hotplugd::config::load(Path::new("/dev/zero")).map(|_| ())
    } else {
        hotplugd::config::parse_main_file(&text, Path::new("config.yml")).map(|_| ())
    };
    let elapsed = start.elapsed();
    let peak = peak_kib().saturating_sub(before);
    let mut outcome = match outcome {
        Ok(()) => "accepted".to_owned(),
        Err(error) => error.to_string(),
    };
    if outcome.len() > 90 {
        outcome.truncate(90);
        outcome.push('…');
    }
    println!(
        "{:.4} {peak} {} {outcome}",
        elapsed.as_secs_f64(),
        text.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--case") {
        run_case(&args[at + 1]);
        return;
    }
    let me = std::env::current_exe().expect("the bench knows its path");
    println!("configuration parsing: each case in its own process (60 s and 6 GiB at most)");
    println!(
        "{:<20} {:>9} {:>10} {:>12}  outcome",
        "case", "bytes", "time s", "peak MiB"
    );
    for (case, what) in CASES {
        let started = Instant::now();
        let output = Command::new("timeout")
            .arg("60")
            .arg("sh")
            .arg("-c")
            .arg("ulimit -v 6291456; exec \"$0\" --case \"$1\"")
            .arg(&me)
            .arg(case)
            .output()
            .expect("the case runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut fields = stdout.trim().splitn(4, ' ');
        match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(time), Some(peak), Some(bytes), Some(outcome)) if output.status.success() => {
                let peak: f64 = peak.parse().unwrap_or(0.0);
                println!(
                    "{case:<20} {bytes:>9} {time:>10} {:>12.1}  {outcome}",
                    peak / 1024.0
                );
            }
            _ => {
                let waited = started.elapsed();
                let why = if waited >= Duration::from_secs(59) {
                    "stopped after 60 s".to_owned()
                } else {
                    format!(
                        "failed after {:.1} s: {}",
                        waited.as_secs_f64(),
                        String::from_utf8_lossy(&output.stderr)
                            .lines()
                            .next()
                            .unwrap_or("")
                    )
                };
                println!("{case:<20} {:>9} {:>10} {:>12}  {why}", "", "-", "-");
            }
        }
        println!("  ({what})");
    }
}
