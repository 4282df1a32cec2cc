//! The pre-scan that bounds what parsing a configuration file may cost, before serde_yaml sees it.
//!
//! serde_yaml (libyaml's scanner and its own alias replay) has no limits of its own that hold the
//! cost of a 1 MiB file down: 64 000 nested `[` take its scanner half a minute (every token looks
//! at every open flow level), and a document whose anchors are reused 20 000 times is expanded in
//! full, gigabytes of it. So each file is first read once by saphyr-parser, a YAML event parser
//! whose cost is linear in the text (its flow levels are capped at 255), and refused with the
//! file, line and column of the first event that breaks a limit:
//! * [`MAX_DEPTH`] collections open at once (a configuration needs 8: down to an `env` entry);
//! * [`MAX_NODES`] nodes in the document with every alias expanded (a node is a scalar, a
//!   sequence or a mapping; an alias counts as all the nodes of what it names);
//! * [`MAX_SCALAR_BYTES`] bytes of scalars with every alias expanded.
//!
//! Expansion is counted, never done: a running total of expanded nodes, and for each anchor the
//! total its node added, so an alias adds its anchor's size in constant time.
//!
//! saphyr-parser reads YAML 1.2, libyaml YAML 1.1 (as Go's parser, whose format this is). Where
//! saphyr-parser finds a syntax error before any limit is broken, libyaml may still read the
//! file, so serde_yaml gets the last word, with its own message, when the text cannot be costly
//! whatever its structure: at most [`FALLBACK_MAX_ALIASES`] `*` and [`FALLBACK_MAX_FLOWS`] `[` or
//! `{` characters in it. Otherwise saphyr-parser's error is the answer.
//!
//! ```
//! use hotplugd::config::parse_main_file;
//! use std::path::Path;
//!
//! let deep = format!("machines: {}", "[".repeat(64_000));
//! let error = parse_main_file(&deep, Path::new("config.yml")).unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "config.yml:1:266: collections nested deeper than 32 levels"
//! );
//! ```

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use super::Position;

/// The most collections open at once.
pub const MAX_DEPTH: usize = 32;
/// The most nodes of a document with its aliases expanded: a configuration of 1 000 machines has
/// about 15 000, a 1 MiB one of ordinary machines 100 000 (only text denser than any configuration,
/// such as a 1 MiB flow list of one-letter scalars, has more without aliases).
pub const MAX_NODES: usize = 250_000;
/// The most bytes of scalars of a document with its aliases expanded (4 MiB).
pub const MAX_SCALAR_BYTES: usize = 4 << 20;
/// After a syntax error of the pre-scan, serde_yaml still reads a text with at most this many `*`.
pub const FALLBACK_MAX_ALIASES: usize = 4;
/// After a syntax error of the pre-scan, serde_yaml still reads a text with at most this many
/// `[` and `{`.
pub const FALLBACK_MAX_FLOWS: usize = 64;

/// Why a text is refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Where.
    pub(crate) position: Position,
    /// What: a broken limit, or the pre-scan's syntax error.
    pub(crate) reason: String,
}

/// What the pre-scan learnt of a text it let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// Whether a plain `<<` (a merge key, where it is a mapping key) may be in it; `false` only
    /// when the scan read the whole text.
    pub(crate) may_merge: bool,
}

/// What one anchored node added to the totals.
#[derive(Debug, Clone, Copy)]
struct Size {
    nodes: usize,
    scalar_bytes: usize,
}

/// The running totals of a document with its aliases expanded.
#[derive(Default)]
struct Totals {
    nodes: usize,
    scalar_bytes: usize,
    /// Open collections: their anchor (0 for none) and the totals before them.
    open: Vec<(usize, Size)>,
    /// Every anchor seen complete.
    anchors: HashMap<usize, Size>,
    /// Whether a plain `<<` was seen.
    merge_key: bool,
}

impl Totals {
    fn now(&self) -> Size {
        Size {
            nodes: self.nodes,
            scalar_bytes: self.scalar_bytes,
        }
    }

    fn add(&mut self, size: Size) -> Result<(), String> {
        self.nodes = self.nodes.saturating_add(size.nodes);
        self.scalar_bytes = self.scalar_bytes.saturating_add(size.scalar_bytes);
        if self.nodes > MAX_NODES {
            return Err(format!(
                "the document has more than {MAX_NODES} nodes, aliases expanded"
            ));
        }
        if self.scalar_bytes > MAX_SCALAR_BYTES {
            return Err(format!(
                "the document's scalars exceed {MAX_SCALAR_BYTES} bytes, aliases expanded"
            ));
        }
        Ok(())
    }

    fn event(&mut self, event: &Event<'_>) -> Result<(), String> {
        match event {
            Event::Scalar(value, style, anchor, _) => {
                self.merge_key |= *style == ScalarStyle::Plain && value == "<<";
                let size = Size {
                    nodes: 1,
                    scalar_bytes: value.len(),
                };
                self.add(size)?;
                if *anchor != 0 {
                    self.anchors.insert(*anchor, size);
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let before = self.now();
                self.add(Size {
                    nodes: 1,
                    scalar_bytes: 0,
                })?;
                self.open.push((*anchor, before));
                if self.open.len() > MAX_DEPTH {
                    return Err(format!("collections nested deeper than {MAX_DEPTH} levels"));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, before)) = self.open.pop() {
                    if anchor != 0 {
                        let size = Size {
                            nodes: self.nodes - before.nodes,
                            scalar_bytes: self.scalar_bytes - before.scalar_bytes,
                        };
                        self.anchors.insert(anchor, size);
                    }
                }
            }
            Event::Alias(anchor) => {
                // An alias inside the node it names (`&a [*a]`) has no size yet: it would be
                // infinite.
                let size = *self
                    .anchors
                    .get(anchor)
                    .ok_or_else(|| "an alias refers to a node that contains it".to_owned())?;
                self.add(size)?;
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
        Ok(())
    }
}

/// Checks `text` against the limits; `Ok` when serde_yaml may parse it.
pub(crate) fn check(text: &str) -> Result<Scanned, Refusal> {
    let mut totals = Totals::default();
    for item in Parser::new_from_str(text) {
        match item {
            Ok((event, span)) => totals.event(&event).map_err(|reason| Refusal {
                position: start(&span),
                reason,
            })?,
            Err(error) if cheap_whatever_its_structure(text) => {
                log::debug!(
                    "the YAML pre-scan stopped at a syntax error ({error}); serde_yaml decides"
                );
                return Ok(Scanned { may_merge: true });
            }
            Err(error) => return Err(syntax_error(&error)),
        }
    }
    Ok(Scanned {
        may_merge: totals.merge_key,
    })
}

fn start(span: &Span) -> Position {
    Position {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// saphyr-parser's error; its own cap on flow levels (255, which its scanner can reach before
/// the parser hands over the 33rd collection) reads as the depth limit.
fn syntax_error(error: &ScanError) -> Refusal {
    let reason = if error.info() == "recursion limit exceeded" {
        format!("collections nested deeper than {MAX_DEPTH} levels")
    } else {
        error.info().to_owned()
    };
    Refusal {
        position: Position {
            line: error.marker().line(),
            column: error.marker().col() + 1,
        },
        reason,
    }
}

/// Whether serde_yaml's cost for `text` is bounded without knowing its structure: few aliases
/// (at most 4 expansions of at most the whole text each) and few flow collections (libyaml's
/// scanner is quadratic in their depth only).
fn cheap_whatever_its_structure(text: &str) -> bool {
    let count = |wanted: &[u8]| text.bytes().filter(|byte| wanted.contains(byte)).count();
    count(b"*") <= FALLBACK_MAX_ALIASES && count(b"[{") <= FALLBACK_MAX_FLOWS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> Option<(usize, usize, String)> {
        check(text)
            .err()
            .map(|r| (r.position.line, r.position.column, r.reason))
    }

    #[test]
    fn ordinary_documents_pass() {
        for text in [
            "",
            "# nothing\n",
            "machines: {}\n",
            "machines:\n  vm:\n    devices:\n    - &m {vendor-id: 0x046d}\n    - *m\n",
            "a: &x [1, 2]\nb: {<<: *x}\n",
        ] {
            assert_eq!(refusal(text), None, "{text:?}");
        }
        let may_merge = |text| check(text).expect("passes").may_merge;
        assert!(may_merge("a: &x {b: 1}\nc: {<<: *x}\n"));
        assert!(!may_merge("a: '<<'\nb: [1, 2]\n"));
    }

    #[test]
    fn depth_counts_block_and_flow_collections_alike() {
        let at_limit = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(refusal(&at_limit), None);
        let over = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            refusal(&over),
            Some((1, 33, "collections nested deeper than 32 levels".into()))
        );
        let mut block = String::new();
        for level in 0..=MAX_DEPTH {
            block.push_str(&" ".repeat(level));
            block.push_str("- \n");
        }
        assert_eq!(
            refusal(&block).map(|(line, _, reason)| (line, reason)),
            Some((33, "collections nested deeper than 32 levels".into()))
        );
    }

    #[test]
    fn aliases_count_as_what_they_name_without_being_expanded() {
        // Each level holds ten aliases of the one before: 10^6 scalars from 7 short lines.
        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..7 {
            let before = level - 1;
            let aliases = vec![format!("*a{before}"); 10].join(", ");
            laughs.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
        }
        let (line, _, reason) = refusal(&laughs).expect("refused");
        assert_eq!(line, 6);
        assert_eq!(
            reason,
            "the document has more than 250000 nodes, aliases expanded"
        );

        let big = "x".repeat(1 << 20);
        let text = format!("a: &big {big}\nb: [*big, *big, *big, *big]\n");
        assert_eq!(
            refusal(&text),
            Some((
                2,
                17,
                "the document's scalars exceed 4194304 bytes, aliases expanded".into()
            ))
        );
    }

    #[test]
    fn syntax_errors_go_to_serde_yaml_only_when_the_text_is_cheap_anyway() {
        // A block mapping entry that is indented wrongly: libyaml's message is kept.
        let bad = "machines:\n  vm:\n    devices:\n    - bus: 1\n   - bus: 2\n";
        assert_eq!(refusal(bad), None);
        let costly = format!("{bad}x: [{}]\n", "*a, ".repeat(5));
        let (line, column, reason) = refusal(&costly).expect("refused");
        assert_eq!((line, column), (5, 4));
        assert!(reason.contains("did not find expected key"), "{reason}");
    }
}
