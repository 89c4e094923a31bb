//! Errors that point into a file: `path:line:col: message`, then a hint.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A position in a text file, 1-based, as editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Location {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column in characters, starting at 1.
    pub col: usize,
}

impl Location {
    /// The location of byte offset `offset` in `text` (clamped to the text's end, and moved back to
    /// the start of the character it falls in).
    pub fn of_offset(text: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(text, offset);
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Location { line, col }
    }

    /// The location where `span` starts in `text`.
    pub fn of_span(text: &str, span: &Range<usize>) -> Location {
        Location::of_offset(text, span.start)
    }
}

/// `offset` clamped to `text`'s length and moved back to a character boundary.
fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Answers "which line and column is byte offset N" in O(log lines), for validators that locate
/// many values in one file (locating each from scratch would be quadratic in the file's size).
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset where each line starts; the first is 0.
    line_starts: Vec<usize>,
    /// `chars_before[i]`: how many characters start before byte `i` (one entry per byte, plus one).
    chars_before: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> LineIndex<'a> {
        let mut line_starts = vec![0];
        let mut chars_before = Vec::with_capacity(text.len() + 1);
        let mut chars = 0;
        for (i, b) in text.bytes().enumerate() {
            chars_before.push(chars);
            // Count the bytes that start a character (everything but UTF-8 continuation bytes).
            if b & 0xC0 != 0x80 {
                chars += 1;
            }
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        chars_before.push(chars);
        LineIndex {
            text,
            line_starts,
            chars_before,
        }
    }

    /// The location of byte offset `offset` (clamped, as [`Location::of_offset`]).
    pub(crate) fn location(&self, offset: usize) -> Location {
        let offset = floor_char_boundary(self.text, offset);
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = line
            .checked_sub(1)
            .and_then(|i| self.line_starts.get(i))
            .copied()
            .unwrap_or(0);
        let chars = |i: usize| self.chars_before.get(i).copied().unwrap_or(0);
        Location {
            line: line.max(1),
            col: chars(offset).saturating_sub(chars(start)) + 1,
        }
    }

    /// An error at byte span `span` (or at 1:1 when the span is unknown).
    pub(crate) fn error(
        &self,
        file: &Path,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> SourceError {
        SourceError {
            file: file.to_path_buf(),
            at: span.map_or(Location { line: 1, col: 1 }, |s| self.location(s.start)),
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

/// At most this many errors are reported for one file; the rest are summed up in one more line.
const MAX_REPORTED_ERRORS: usize = 100;

/// Sorts `errors` by position and keeps the first [`MAX_REPORTED_ERRORS`], adding a last entry
/// that says how many were left out, so a hostile file cannot make the report arbitrarily long.
pub(crate) fn sorted_and_capped(mut errors: Vec<SourceError>) -> Vec<SourceError> {
    errors.sort_by_key(|e| (e.at.line, e.at.col));
    if errors.len() > MAX_REPORTED_ERRORS {
        let left_out = errors.len() - MAX_REPORTED_ERRORS;
        errors.truncate(MAX_REPORTED_ERRORS + 1);
        if let Some(last) = errors.last_mut() {
            last.message = format!(
                "{left_out} more errors from here on are not shown (only the first {MAX_REPORTED_ERRORS} are)"
            );
            last.hint = Some("fix the errors above and check the file again".into());
        }
    }
    errors
}

/// An error in an input file, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The file the error is in.
    pub file: PathBuf,
    /// Where in the file.
    pub at: Location,
    /// What is wrong, in lower case, with the user's input in backticks.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl SourceError {
    /// An error at byte span `span` of `text`, read from `file`.
    pub fn at_span(
        file: &Path,
        text: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> SourceError {
        let at = span.map_or(Location { line: 1, col: 1 }, |s| {
            Location::of_span(text, &s)
        });
        SourceError {
            file: file.to_path_buf(),
            at,
            message: message.into(),
            hint,
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.at.line,
            self.at.col,
            Escaped(&self.message)
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", Escaped(hint))?;
        }
        Ok(())
    }
}

/// Shows control characters (which messages may quote from an untrusted file) as escapes, so a
/// file cannot move the cursor, recolour or rewrite what the terminal shows.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for SourceError {}

/// Turns a TOML deserialisation error into a [`SourceError`], keeping serde's message but dropping
/// the toml crate's own rendering of the snippet (we print `file:line:col` instead).
pub(crate) fn from_toml(file: &Path, text: &str, err: &toml::de::Error) -> SourceError {
    let message = err.message().trim().to_owned();
    let hint = toml_hint(&message);
    SourceError::at_span(file, text, err.span(), message, hint)
}

fn toml_hint(message: &str) -> Option<String> {
    let hint = if message.starts_with("unknown field") {
        "remove the key or fix its spelling; the accepted keys are listed above (keys written after \
         a `[table]` header belong to that table)"
    } else if message.starts_with("missing field") {
        "add the field; see the format reference in README.md"
    } else if message.starts_with("invalid value") || message.contains(" as i128") {
        "check the value's range: counts and limits are positive whole numbers"
    } else if message.contains("invalid type") {
        "check the value's type (string, integer, array or table)"
    } else if message.starts_with("wanted string") {
        "write the value as a quoted string, e.g. `\"pypi\"`"
    } else if message.starts_with("unknown variant") {
        "use one of the values listed above"
    } else if message.contains("duplicate") {
        "each key and table may appear only once; remove or merge the repeated one"
    } else if message.contains("recursion") {
        "nest arrays and tables less deeply"
    } else {
        "this is not valid TOML (https://toml.io): check the quotes, `=`, brackets and commas here"
    };
    Some(hint.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_line_and_column() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(Location::of_offset(text, 0), Location { line: 1, col: 1 });
        assert_eq!(Location::of_offset(text, 6), Location { line: 2, col: 1 });
        // `=` after a two-byte character is the fourth character of line 2.
        assert_eq!(Location::of_offset(text, 10), Location { line: 2, col: 4 });
        assert_eq!(Location::of_offset(text, 999), Location { line: 3, col: 1 });
        // An offset inside `é` means the character itself.
        assert_eq!(Location::of_offset(text, 8), Location { line: 2, col: 2 });
    }

    #[test]
    fn line_index_agrees_with_of_offset() {
        let text = "a = 1\nbé = 2\n\n  ü\u{1F600}x\r\nlast";
        let index = LineIndex::new(text);
        for offset in 0..text.len() + 3 {
            assert_eq!(
                index.location(offset),
                Location::of_offset(text, offset),
                "{offset}"
            );
        }
        assert_eq!(LineIndex::new("").location(5), Location { line: 1, col: 1 });
    }

    #[test]
    fn control_characters_are_escaped_when_shown() {
        let e = SourceError {
            file: "m.toml".into(),
            at: Location { line: 2, col: 3 },
            message: "`\u{1b}[2J` is bad".into(),
            hint: Some("no\rpe".into()),
        };
        assert_eq!(
            e.to_string(),
            "m.toml:2:3: `\\u{1b}[2J` is bad\n  hint: no\\rpe"
        );
    }

    #[test]
    fn long_reports_are_capped() {
        let errors = (0..250)
            .rev()
            .map(|i| SourceError {
                file: "m.toml".into(),
                at: Location {
                    line: i + 1,
                    col: 1,
                },
                message: format!("e{i}"),
                hint: None,
            })
            .collect();
        let shown = sorted_and_capped(errors);
        assert_eq!(shown.len(), MAX_REPORTED_ERRORS + 1);
        assert_eq!(shown.first().map(|e| e.at.line), Some(1));
        assert!(
            shown
                .last()
                .is_some_and(|e| e.message.starts_with("150 more errors"))
        );
    }
}
