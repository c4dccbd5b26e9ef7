//! The fuzz targets' properties (`targets`), shared with `tests/properties.rs`, which runs them
//! on stable over the seed corpora and on generated inputs.

/// The runners' command parsers, as keyrot's integration tests read its output with them.
#[path = "../../tests/common/runners.rs"]
pub mod runners;
pub mod targets;
