//! Plain-text tables and JSON printing.

use std::io::Write;

use serde::Serialize;

/// Prints `value` as pretty JSON followed by a newline.
pub fn json(value: &impl Serialize) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)
}

/// A table with a header row, printed with columns padded to their widest cell.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells print empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |out: &mut dyn Write, cells: &[String]| -> std::io::Result<()> {
            let mut text = String::new();
            for (i, w) in widths.iter().enumerate().take(columns) {
                let cell = cells.get(i).map_or("", String::as_str);
                if i + 1 == columns {
                    text.push_str(cell);
                } else {
                    text.push_str(&format!("{cell:<w$}  "));
                }
            }
            writeln!(out, "{}", text.trim_end())
        };
        line(out, &self.header)?;
        for row in &self.rows {
            line(out, row)?;
        }
        Ok(())
    }
}
