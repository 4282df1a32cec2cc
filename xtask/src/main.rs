//! `cargo xtask generate` writes the man pages and shell completions into `contrib/`;
//! `cargo xtask check` says whether the committed ones are up to date (exit 0) or not (exit 1).
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask generate|check";

fn main() -> ExitCode {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ is inside the repository");
    let task = std::env::args().nth(1);
    let task = match task.as_deref() {
        Some(task @ ("generate" | "check")) => task.to_owned(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = xtask::generate(repo).and_then(|files| match task.as_str() {
        "generate" => xtask::write(repo, &files).map(|()| true),
        _ => {
            let differences = xtask::differences(repo, &files)?;
            for difference in &differences {
                eprintln!("{difference}");
            }
            if !differences.is_empty() {
                eprintln!("xtask: out of date; run `cargo xtask generate` and commit the result");
            }
            Ok(differences.is_empty())
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}
