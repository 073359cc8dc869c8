//! The Markdown a step appends to `$GITHUB_STEP_SUMMARY`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// A short Markdown section: a heading, then lines, tables and code blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    markdown: String,
}

/// Escapes a table cell: pipes would end the cell and line breaks the row.
pub fn table_cell(text: &str) -> String {
    text.replace('|', "\\|").replace("\r\n", "<br>").replace('\n', "<br>")
}

impl Summary {
    pub fn new(heading: &str) -> Self {
        Self { markdown: format!("### {heading}\n\n") }
    }

    pub fn line(&mut self, text: &str) -> &mut Self {
        self.markdown.push_str(text);
        self.markdown.push_str("\n\n");
        self
    }

    /// A two-column table of names and values; values are shown as code.
    pub fn facts(&mut self, rows: &[(&str, String)]) -> &mut Self {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|(name, value)| vec![(*name).to_owned(), format!("`{}`", value.replace('`', "'"))])
            .collect();
        self.table(&["", ""], &rows)
    }

    pub fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) -> &mut Self {
        let header: Vec<String> = headers.iter().map(|h| table_cell(h)).collect();
        self.markdown.push_str(&format!("| {} |\n", header.join(" | ")));
        self.markdown.push_str(&format!("|{}\n", " --- |".repeat(headers.len())));
        for row in rows {
            let cells: Vec<String> = row.iter().map(|cell| table_cell(cell)).collect();
            self.markdown.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        self.markdown.push('\n');
        self
    }

    /// A fenced block that no line of `lines` can close early.
    pub fn code_block(&mut self, lines: &[String]) -> &mut Self {
        let longest_run = lines.iter().map(|line| longest_backtick_run(line)).max().unwrap_or(0);
        let fence = "`".repeat(longest_run.max(2) + 1);
        self.markdown.push_str(&format!("{fence}\n"));
        for line in lines {
            self.markdown.push_str(line);
            self.markdown.push('\n');
        }
        self.markdown.push_str(&format!("{fence}\n\n"));
        self
    }

    pub fn markdown(&self) -> &str {
        &self.markdown
    }

    pub fn append_to(&self, path: &Path) -> std::io::Result<()> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        file.write_all(self.markdown.as_bytes())
    }
}

fn longest_backtick_run(line: &str) -> usize {
    line.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_facts_tables_and_code() {
        let mut summary = Summary::new("build-jar: built app.jar");
        summary
            .line("Built with **maven**.")
            .facts(&[("artifact", "target/a|b.jar".into()), ("sha256", "ab`c".into())])
            .table(&["check", "status"], &[vec!["/health".into(), "200\nOK".into()]])
            .code_block(&["error: ``` here".into()]);
        insta::assert_snapshot!(summary.markdown(), @r"
        ### build-jar: built app.jar

        Built with **maven**.

        |  |  |
        | --- | --- |
        | artifact | `target/a\|b.jar` |
        | sha256 | `ab'c` |

        | check | status |
        | --- | --- |
        | /health | 200<br>OK |

        ````
        error: ``` here
        ````
        ");
    }
}
