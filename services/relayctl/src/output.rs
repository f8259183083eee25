//! Where output goes, and the pieces every command's output is made of.

use std::io::{self, IsTerminal as _, Write};

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

/// The process's stdout and stderr (or buffers in tests), and whether each is a terminal.
pub struct Console {
    pub(crate) out: Box<dyn Write>,
    pub(crate) err: Box<dyn Write>,
    /// stdout is a terminal (`--color auto` colours then).
    pub(crate) out_tty: bool,
    /// stderr is a terminal: draw progress bars there.
    pub(crate) err_tty: bool,
}

impl Console {
    pub fn stdio() -> Self {
        Self {
            out_tty: io::stdout().is_terminal(),
            err_tty: io::stderr().is_terminal(),
            out: Box::new(io::stdout()),
            err: Box::new(io::stderr()),
        }
    }

    /// Writes to the given sinks, as if neither were a terminal.
    pub fn new(out: impl Write + 'static, err: impl Write + 'static) -> Self {
        Self {
            out: Box::new(out),
            err: Box::new(err),
            out_tty: false,
            err_tty: false,
        }
    }

    /// Prints `text` to stdout, adding a final newline when it has none.
    pub(crate) fn print(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }

    /// Prints `text` to stderr, adding a final newline when it has none.
    pub(crate) fn eprint(&mut self, text: &str) -> io::Result<()> {
        self.err.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            self.err.write_all(b"\n")?;
        }
        self.err.flush()
    }

    /// Prints `value` as pretty JSON on stdout.
    pub(crate) fn json(&mut self, value: &impl Serialize) -> anyhow::Result<()> {
        self.print(&serde_json::to_string_pretty(value)?)?;
        Ok(())
    }
}

/// An empty table in the house style, with this header.
pub(crate) fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    table
}

pub(crate) fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The cells of the first row of a rendered table that contains `needle`.
#[cfg(test)]
pub(crate) fn row_cells<'a>(table: &'a str, needle: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.contains(needle))
        .map(|row| {
            row.split(['│', '┆'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// ANSI colours for unified diffs.
pub(crate) mod ansi {
    pub(crate) const RED: &str = "\x1b[31m";
    pub(crate) const GREEN: &str = "\x1b[32m";
    pub(crate) const CYAN: &str = "\x1b[36m";
    pub(crate) const BOLD: &str = "\x1b[1m";
    pub(crate) const RESET: &str = "\x1b[0m";
}

/// A unified diff indented by `indent`, coloured when `color`: removals red, additions green,
/// hunk headers cyan, file headers bold.
pub(crate) fn diff(text: &str, indent: &str, color: bool) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let style = if !color {
            None
        } else if line.starts_with("+++") || line.starts_with("---") {
            Some(ansi::BOLD)
        } else if line.starts_with('+') {
            Some(ansi::GREEN)
        } else if line.starts_with('-') {
            Some(ansi::RED)
        } else if line.starts_with("@@") {
            Some(ansi::CYAN)
        } else {
            None
        };
        out.push_str(indent);
        match style {
            Some(s) => {
                out.push_str(s);
                out.push_str(line);
                out.push_str(ansi::RESET);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str =
        "--- stored\n+++ new\n@@ -1,2 +1,2 @@\n source: bmc\n-enabled: true\n+enabled: false\n";

    #[test]
    fn plain_diff_is_indented_only() {
        assert_eq!(
            diff(DIFF, "  ", false),
            "  --- stored\n  +++ new\n  @@ -1,2 +1,2 @@\n   source: bmc\n  -enabled: true\n  +enabled: false\n"
        );
    }

    #[test]
    fn coloured_diff() {
        let d = diff(DIFF, "", true);
        assert!(d.contains("\x1b[31m-enabled: true\x1b[0m\n"), "{d:?}");
        assert!(d.contains("\x1b[32m+enabled: false\x1b[0m\n"), "{d:?}");
        assert!(d.contains("\x1b[36m@@ -1,2 +1,2 @@\x1b[0m\n"), "{d:?}");
        assert!(d.contains("\x1b[1m--- stored\x1b[0m\n"), "{d:?}");
        assert!(d.contains("\n source: bmc\n"), "{d:?}");
    }
}
