//! What `--version` prints: the version, the git commit of the build (when built from a git
//! checkout), the libvirt library the process runs against, and the cargo features built in.
//!
//! ```
//! let text = hotplugd::version::describe("0.1.0", Some("f58c064e2c1a"), Ok("9.0.0"), &[]);
//! assert_eq!(
//!     text,
//!     "0.1.0\ngit commit: f58c064e2c1a\nlibvirt library: 9.0.0\nfeatures: none"
//! );
//! ```

use std::sync::OnceLock;

/// The git commit of the build (12 hex digits), when it was built from a git checkout.
pub const GIT_COMMIT: Option<&str> = option_env!("HOTPLUGD_GIT_COMMIT");

/// The cargo features of the build.
pub fn features() -> Vec<&'static str> {
    env!("HOTPLUGD_FEATURES")
        .split(',')
        .filter(|feature| !feature.is_empty())
        .collect()
}

/// The text after the program's name that `--version` prints, computed once per process (it
/// asks the libvirt library loaded now for its version).
pub fn long_version() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let library = libvirt_sync::library_version().map_err(|error| error.to_string());
        describe(
            env!("CARGO_PKG_VERSION"),
            GIT_COMMIT,
            library.as_deref().map_err(String::as_str),
            &features(),
        )
    })
}

/// The `--version` text from its parts; `libvirt` is the library's version, or why it is unknown.
pub fn describe(
    version: &str,
    commit: Option<&str>,
    libvirt: Result<&str, &str>,
    features: &[&str],
) -> String {
    let mut text = version.to_owned();
    if let Some(commit) = commit {
        text.push_str("\ngit commit: ");
        text.push_str(commit);
    }
    match libvirt {
        Ok(library) => text.push_str(&format!("\nlibvirt library: {library}")),
        Err(why) => text.push_str(&format!("\nlibvirt library: unknown ({why})")),
    }
    if features.is_empty() {
        text.push_str("\nfeatures: none");
    } else {
        text.push_str(&format!("\nfeatures: {}", features.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_commit_and_with_features_and_an_unknown_library() {
        assert_eq!(
            describe("1.2.3", None, Err("no library"), &["libvirt", "mock"]),
            "1.2.3\nlibvirt library: unknown (no library)\nfeatures: libvirt, mock"
        );
    }
}
