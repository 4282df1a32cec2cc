//! Log setup: `log` records go to stderr through `simple_logger`.
//!
//! The level is `info` (each attach and detach, each new failure), `debug` with `-v` or when
//! `WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG` is set to anything (the original daemon's switch: every
//! device found, with its properties and tags), `warn` with `-q`. Under systemd (`JOURNAL_STREAM`
//! set) lines carry no timestamp, since the journal adds its own.

use log::LevelFilter;

/// The original daemon's debug switch; any value turns debug logging on.
pub const DEBUG_VARIABLE: &str = "WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG";

/// The level the flags and the environment ask for.
pub fn level(verbose: bool, quiet: bool, debug_variable_set: bool) -> LevelFilter {
    if verbose || debug_variable_set {
        LevelFilter::Debug
    } else if quiet {
        LevelFilter::Warn
    } else {
        LevelFilter::Info
    }
}

/// Installs the logger. Calling it twice does nothing the second time.
pub fn init(verbose: bool, quiet: bool) {
    let level = level(verbose, quiet, std::env::var_os(DEBUG_VARIABLE).is_some());
    let under_journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let mut logger = simple_logger::SimpleLogger::new()
        .with_level(level)
        .with_colors(false);
    logger = if under_journal {
        logger.without_timestamps()
    } else {
        logger.with_utc_timestamps()
    };
    // The only failure is a logger installed already, which is then the one in use.
    let _ = logger.init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_or_the_original_variable_turn_debug_on() {
        assert_eq!(level(false, false, false), LevelFilter::Info);
        assert_eq!(level(true, false, false), LevelFilter::Debug);
        assert_eq!(level(false, false, true), LevelFilter::Debug);
        assert_eq!(
            level(false, true, true),
            LevelFilter::Debug,
            "the variable wins over -q"
        );
        assert_eq!(level(false, true, false), LevelFilter::Warn);
    }
}
