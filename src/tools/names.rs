//! `gregor tool-names`: every tool's script name, one a line, so the image
//! build links each name (with and without `.sh`) to the binary from the
//! binary itself instead of a hand-kept list that misses new tools.

/// No flags.
#[derive(Debug, clap::Args)]
pub struct NamesArgs {}

/// The script names of [`super::TOOLS`], in table order.
pub fn run(_: &NamesArgs) -> Result<Vec<String>, String> {
    Ok(super::TOOLS
        .iter()
        .filter_map(|t| t.script.map(str::to_string))
        .collect())
}
