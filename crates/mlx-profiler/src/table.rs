//! The one Markdown table renderer of the profiler and xtask's reports (profile,
//! comparison, calibration, kernel-cache race), on comfy-table, so that cells are
//! padded into aligned columns the same way everywhere. Two reports still write their
//! rows by hand: mlx-manager's suite profile (the manager must not depend on the
//! profiler) and the manager-claims document.
//!
//! ```
//! use mlx_profiler::table::MarkdownTable;
//! let mut t = MarkdownTable::new(["benchmark", "median"]);
//! t.row(["warm/forward", "41.0 µs"]);
//! assert_eq!(t.render(), "\
//! | benchmark    | median  |
//! |--------------|---------|
//! | warm/forward | 41.0 µs |
//! ");
//! ```

use comfy_table::{Table, presets::ASCII_MARKDOWN};

/// A Markdown table under construction.
pub struct MarkdownTable {
    table: Table,
}

impl MarkdownTable {
    /// A table with these column headers.
    pub fn new<S: ToString>(header: impl IntoIterator<Item = S>) -> Self {
        let mut table = Table::new();
        table.load_preset(ASCII_MARKDOWN);
        table.set_header(header.into_iter().map(|h| h.to_string()));
        MarkdownTable { table }
    }

    /// Appends a row (as many cells as headers).
    pub fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        self.table
            .add_row(cells.into_iter().map(|c| c.to_string()).collect::<Vec<_>>());
        self
    }

    /// The table's Markdown, ending in a newline.
    pub fn render(&self) -> String {
        format!("{}\n", self.table)
    }
}
