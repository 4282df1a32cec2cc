//! One configuration file's text, as the typed parse and the error positions read it.

use std::borrow::Cow;
use std::path::Path;

use hotplug_match::RulePath;
use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::bounds;
use super::locate::locate;
use super::{ConfigError, Position};

/// The text of a file, ready for the typed parse: it passed the pre-scan of [`bounds`], so
/// serde_yaml's cost on it is bounded.
///
/// serde_yaml does not apply YAML merge keys (`<<: *anchor`) while deserializing, but Go's YAML
/// parser does, so the original daemon accepted them. A document that uses them is read with the
/// merges applied and written back as YAML; positions in that text are not the file's, so errors
/// then give the path without line and column.
pub(crate) struct Document<'t> {
    file: &'t Path,
    text: Cow<'t, str>,
    merged: bool,
}

impl<'t> Document<'t> {
    pub(crate) fn new(file: &'t Path, text: &'t str) -> Result<Document<'t>, ConfigError> {
        let scanned = bounds::check(text).map_err(|refusal| ConfigError::Limit {
            file: file.to_owned(),
            position: refusal.position,
            reason: one_line(&refusal.reason),
        })?;
        let merged = Some(text)
            .filter(|_| scanned.may_merge)
            .and_then(|text| serde_yaml::from_str::<Value>(text).ok())
            .filter(has_merge_key)
            .and_then(|mut value| value.apply_merge().ok().map(|()| value))
            .and_then(|value| serde_yaml::to_string(&value).ok());
        Ok(match merged {
            Some(merged) => Document {
                file,
                text: Cow::Owned(merged),
                merged: true,
            },
            None => Document {
                file,
                text: Cow::Borrowed(text),
                merged: false,
            },
        })
    }

    /// The typed parse; a failure is a [`ConfigError::Parse`] with serde_yaml's message (its
    /// position apart, without the ` at line L column C` it appends).
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        serde_yaml::from_str(&self.text).map_err(|error| {
            let mut message = error.to_string();
            let position = error.location().map(|location| Position {
                line: location.line(),
                column: location.column(),
            });
            if let Some(position) = position {
                let suffix = format!(" at line {} column {}", position.line, position.column);
                if let Some(start) = message.find(&suffix) {
                    message.replace_range(start..start + suffix.len(), "");
                }
            }
            ConfigError::Parse {
                file: self.file.to_owned(),
                position: position.filter(|_| !self.merged),
                message: one_line(&message),
            }
        })
    }

    /// The first key written without a value (`deny:`, `vendor-id:`, `udev: ~`), in document
    /// order. No key of the configuration takes null: a key without a value is what a file cut
    /// short in the middle of writing ends with, and reading it as "not given" would drop a rule
    /// or widen a matcher, so the readers refuse it. Call it after the typed parse succeeded (its
    /// errors, such as an unknown key, say more); the text then parses. Keys for which
    /// `handled` holds are passed over: the caller gives their nulls a message of its own.
    pub(crate) fn key_without_value(
        &self,
        handled: &dyn Fn(&RulePath) -> bool,
    ) -> Option<RulePath> {
        let value = serde_yaml::from_str::<Value>(&self.text).ok()?;
        first_null_value(&value, RulePath::root(), handled)
    }

    /// Where the value at `path` is, when the text is the file's.
    pub(crate) fn position(&self, path: &RulePath) -> Option<Position> {
        if self.merged {
            None
        } else {
            locate(&self.text, path)
        }
    }

    /// A [`ConfigError::Invalid`] about the value at `path`.
    pub(crate) fn invalid(&self, path: RulePath, reason: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            position: self.position(&path),
            path: one_line(&path.to_string()),
            reason,
        }
    }

    /// The file.
    pub(crate) fn file(&self) -> &Path {
        self.file
    }
}

/// `text` with control characters escaped (`\n`), since keys and values quoted in messages may
/// hold them and an error is one line.
pub(crate) fn one_line(text: &str) -> String {
    if !text.contains(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn first_null_value(
    value: &Value,
    at: RulePath,
    handled: &dyn Fn(&RulePath) -> bool,
) -> Option<RulePath> {
    match value {
        Value::Mapping(mapping) => mapping.iter().find_map(|(key, value)| {
            let at = at.clone().key(key.as_str()?);
            if !value.is_null() {
                first_null_value(value, at, handled)
            } else if handled(&at) {
                None
            } else {
                Some(at)
            }
        }),
        Value::Sequence(sequence) => sequence
            .iter()
            .enumerate()
            .find_map(|(index, value)| first_null_value(value, at.clone().index(index), handled)),
        Value::Tagged(tagged) => first_null_value(&tagged.value, at, handled),
        _ => None,
    }
}

fn has_merge_key(value: &Value) -> bool {
    match value {
        Value::Mapping(mapping) => mapping
            .iter()
            .any(|(key, value)| key.as_str() == Some("<<") || has_merge_key(value)),
        Value::Sequence(sequence) => sequence.iter().any(has_merge_key),
        Value::Tagged(tagged) => has_merge_key(&tagged.value),
        _ => false,
    }
}
