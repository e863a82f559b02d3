//! Writes the seed corpora of the fuzz targets: `cargo run --example
//! fuzz_seeds -- fuzz/corpus` (see fuzz/README.md). Seeds are made by the
//! broker's own writers, so regenerate them after a change of file format.

fn main() -> std::io::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".to_string());
    gregor::fuzzing::seeds::write_all(std::path::Path::new(&root))
}
