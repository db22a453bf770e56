//! The fixtures by name, as every command line takes them: one `clap::ValueEnum`
//! shared by `mlx-probe`, `mlx-profile` and the rest, so that a name is spelled and
//! checked in one place.
//!
//! ```
//! use clap::ValueEnum;
//! use mlx_fixtures::catalog::Fixture;
//! use mlx_fixtures::encoder::Preset;
//! assert_eq!(Fixture::from_str("base", false), Ok(Fixture::Base));
//! assert_eq!(Fixture::Base.preset(), Some(Preset::Base));
//! assert_eq!(Fixture::Mlp.preset(), None);
//! assert_eq!(Fixture::Mlp.to_string(), "mlp");
//! ```

use std::fmt;

use crate::encoder::Preset;

/// A fixture model a probe can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fixture {
    /// The tiny encoder (the quick profile's).
    Tiny,
    /// The small encoder.
    Small,
    /// The base encoder, Whisper-base's shapes (about 20 M parameters).
    Base,
    /// The two-layer model with a compiled activation (the manager's fixture).
    Mlp,
}

impl Fixture {
    /// The encoder preset it is, or `None` for the two-layer model.
    pub fn preset(self) -> Option<Preset> {
        match self {
            Fixture::Tiny => Some(Preset::Tiny),
            Fixture::Small => Some(Preset::Small),
            Fixture::Base => Some(Preset::Base),
            Fixture::Mlp => None,
        }
    }

    /// Its name on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self.preset() {
            Some(p) => p.name(),
            None => "mlp",
        }
    }
}

impl fmt::Display for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
