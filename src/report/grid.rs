//! Aligned plain-text columns: the one table style of every report keyrot prints for people
//! (`check`'s and `rotate`'s). Upper-case headers, two spaces between columns, the last column
//! unpadded (a long message only wraps), no trailing spaces.
//!
//! Every cell is an [`inert::field`]: line breaks and other hidden characters are shown as
//! escapes, so a hostile name cannot add a line, move the cursor or paint the log.

use crate::ci::inert;

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// For numbers.
    Right,
}

/// A column: its header (shown upper-case) and alignment.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub align: Align,
}

impl Column {
    pub const fn left(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Left,
        }
    }

    pub const fn right(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Right,
        }
    }
}

/// Ends an ANSI colour.
pub const RESET: &str = "\x1b[0m";

const GAP: &str = "  ";

/// Renders the header line and one line per row. `color_of(row, column)` may wrap a cell in
/// an ANSI colour after padding, so escape codes never count towards the width. Rows shorter
/// than the header leave the last cells empty.
pub fn render(
    columns: &[Column],
    rows: &[Vec<String>],
    color_of: impl Fn(usize, usize) -> Option<&'static str>,
) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|cells| {
            (0..columns.len())
                .map(|i| printable(cells.get(i).map_or("", String::as_str)))
                .collect()
        })
        .collect();
    let headers: Vec<String> = columns.iter().map(|c| c.header.to_uppercase()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for cells in &rows {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    push_line(&mut out, columns, &headers, &widths, |_| None);
    for (index, cells) in rows.iter().enumerate() {
        push_line(&mut out, columns, cells, &widths, |column| {
            color_of(index, column)
        });
    }
    out
}

fn push_line(
    out: &mut String,
    columns: &[Column],
    cells: &[String],
    widths: &[usize],
    color_of: impl Fn(usize) -> Option<&'static str>,
) {
    let mut line = String::new();
    for (index, (cell, &width)) in cells.iter().zip(widths).enumerate() {
        let is_last = index + 1 == cells.len();
        let padded = if is_last {
            cell.clone()
        } else if columns[index].align == Align::Right {
            format!("{cell:>width$}")
        } else {
            format!("{cell:<width$}")
        };
        match color_of(index) {
            Some(code) => line.push_str(&format!("{code}{padded}{RESET}")),
            None => line.push_str(&padded),
        }
        if !is_last {
            line.push_str(GAP);
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// One cell on one line, as [`inert::field`] shows it: line breaks, controls, bidi and
/// zero-width characters become visible escapes, so a cell can neither break its row, move
/// the cursor, paint the log nor hide what it holds. (Command sequences such as `##[` are
/// broken when the whole table goes through [`inert::human`].)
pub fn printable(text: &str) -> String {
    inert::field(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(cells: &[&[&str]]) -> Vec<Vec<String>> {
        cells
            .iter()
            .map(|row| row.iter().map(|c| (*c).to_owned()).collect())
            .collect()
    }

    #[test]
    fn headers_are_upper_case_and_columns_aligned() {
        let columns = [
            Column::left("name"),
            Column::right("days left"),
            Column::left("note"),
        ];
        let text = render(
            &columns,
            &rows(&[&["db", "-3", "long note"], &["a-longer-name", "120", ""]]),
            |_, _| None,
        );
        assert_eq!(
            text,
            "NAME           DAYS LEFT  NOTE\n\
             db                    -3  long note\n\
             a-longer-name        120\n"
        );
    }

    #[test]
    fn colours_wrap_padded_cells_and_control_characters_are_shown_as_escapes() {
        let columns = [Column::left("a"), Column::left("b")];
        let text = render(&columns, &rows(&[&["x\x1b[2J", "y"]]), |row, column| {
            (row == 0 && column == 0).then_some("\x1b[31m")
        });
        assert_eq!(
            text,
            format!("A           B\n\x1b[31mx\\u{{1b}}[2J{RESET}  y\n")
        );
    }
}
