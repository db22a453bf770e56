//! The one trait every output format implements, a profile's or a comparison's: it
//! builds without MLX, as the gate does.

/// A file format for a document: a profile (`export`'s formats, with the `mlx`
/// feature) or a gate's [`Comparison`](crate::gate::verdict::Comparison)
/// (`gate::formats`). One trait, so every writer picks formats the same way.
///
/// ```
/// use mlx_profiler::exporter::Exporter;
/// use mlx_profiler::gate::formats::{json::Json, markdown::Markdown};
/// use mlx_profiler::gate::verdict::Comparison;
/// let formats: [&dyn Exporter<Comparison>; 2] = [&Json, &Markdown];
/// assert_eq!(formats.map(|f| f.extension()), ["json", "md"]);
/// ```
pub trait Exporter<Doc: ?Sized> {
    /// File extension (`json`, `md`).
    fn extension(&self) -> &'static str;
    /// The document in this format.
    fn render(&self, doc: &Doc) -> String;
}
