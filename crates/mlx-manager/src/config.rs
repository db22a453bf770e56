//! Strategies, presets and the configuration that combines them.

use std::time::Duration;

use crate::kernel_cache::KernelCache;

/// How instances are handed to callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// A fresh instance for every `get()`, dropped with its handle (nothing reused).
    Fresh,
    /// One instance per manager, handed to every caller in turn (serialised access:
    /// a handle holds the instance exclusively until dropped).
    Shared,
    /// Up to `size` instances, each checked out exclusively and returned when its
    /// handle drops; a caller waits up to `checkout_timeout` for one to come back.
    Pooled {
        /// Most instances alive at once.
        size: usize,
        /// How long `get()` waits when all are checked out.
        checkout_timeout: Duration,
    },
}

/// A manager configuration: each strategy switchable on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerConfig {
    /// How instances are shared.
    pub sharing: Sharing,
    /// Build (and warm up) the first instance on a background thread as soon as the
    /// manager exists, so the first `get()` waits only for what is left.
    pub prewarm: bool,
    /// Touch nothing of MLX until the first `get()` (ignored with `prewarm`).
    /// When false and not pre-warming, the first instance is built in the constructor.
    pub lazy: bool,
    /// MLX buffer-cache limit in bytes while the manager lives (restored on drop);
    /// `None` leaves MLX's own setting alone.
    pub cache_limit: Option<usize>,
    /// Where MLX keeps the kernels it compiles, set when the manager is built, before
    /// its first factory call (see [`KernelCache`] for when that is sound). The
    /// presets take [`KernelCache::FromEnv`]: `COLDSTART_KERNEL_CACHE` decides.
    pub kernel_cache: KernelCache,
}

/// The presets. Each one's choices are documented on its variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Pre-warm + a pool of 2 reused instances; MLX's buffer cache left at its
    /// default (buffers are reused across calls: fastest, most memory).
    Aggressive,
    /// Lazy + one shared instance; buffer cache capped at 1 GiB.
    Balanced,
    /// A fresh instance for every `get()`, nothing reused or pre-built: what a suite
    /// without a manager does, and the baseline the other presets are measured
    /// against. MLX's cache setting is left alone so the baseline is the plain one.
    Conservative,
}

/// The default pool checkout timeout.
pub const DEFAULT_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(60);

impl Preset {
    /// This preset's configuration.
    ///
    /// ```
    /// use mlx_manager::config::{Preset, Sharing};
    /// assert_eq!(Preset::Balanced.config().sharing, Sharing::Shared);
    /// assert!(Preset::Aggressive.config().prewarm);
    /// ```
    pub fn config(self) -> ManagerConfig {
        match self {
            Preset::Aggressive => ManagerConfig {
                sharing: Sharing::Pooled {
                    size: 2,
                    checkout_timeout: DEFAULT_CHECKOUT_TIMEOUT,
                },
                prewarm: true,
                lazy: false,
                cache_limit: None,
                kernel_cache: KernelCache::FromEnv,
            },
            Preset::Balanced => ManagerConfig {
                sharing: Sharing::Shared,
                prewarm: false,
                lazy: true,
                cache_limit: Some(1 << 30),
                kernel_cache: KernelCache::FromEnv,
            },
            Preset::Conservative => ManagerConfig {
                sharing: Sharing::Fresh,
                prewarm: false,
                lazy: true,
                cache_limit: None,
                kernel_cache: KernelCache::FromEnv,
            },
        }
    }

    /// `aggressive`, `balanced` or `conservative`: the name in variables, benchmark
    /// ids and reports (written out, so that renaming a variant cannot rename them).
    ///
    /// ```
    /// use mlx_manager::config::Preset;
    /// for p in [Preset::Aggressive, Preset::Balanced, Preset::Conservative] {
    ///     assert_eq!(Preset::parse(p.name()), Some(p));
    /// }
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Preset::Aggressive => "aggressive",
            Preset::Balanced => "balanced",
            Preset::Conservative => "conservative",
        }
    }

    /// Parses `aggressive`, `balanced` or `conservative` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "aggressive" => Some(Preset::Aggressive),
            "balanced" => Some(Preset::Balanced),
            "conservative" => Some(Preset::Conservative),
            _ => None,
        }
    }
}

/// The strategy names [`ManagerConfig::from_strategies`] takes.
pub const STRATEGY_NAMES: &str = "none, or a comma-separated list of lazy, shared, pooled, prewarm (prewarm with shared or pooled)";

impl ManagerConfig {
    /// No strategy at all: a fresh instance for every `get()`, nothing pre-warmed,
    /// MLX's buffer cache left alone; not lazy, so a throwaway instance is built as
    /// soon as the manager exists (MLX and the weights are loaded before the first
    /// `get()`, which then builds its own). The point each strategy is measured from.
    pub fn none() -> Self {
        ManagerConfig {
            sharing: Sharing::Fresh,
            prewarm: false,
            lazy: false,
            cache_limit: None,
            kernel_cache: KernelCache::FromEnv,
        }
    }

    /// [`ManagerConfig::none`] with the named strategies turned on, so that each can
    /// be measured alone: `none`, or a comma-separated list of `lazy`, `shared` (one
    /// shared instance), `pooled` (a pool of 2, as [`Preset::Aggressive`] keeps) and
    /// `prewarm`, in any case and order. An error saying what is wrong for an unknown
    /// or empty name, `none` beside another name, `shared` with `pooled`, or `prewarm`
    /// without `shared` or `pooled` (fresh instances would pre-warm one nobody gets).
    ///
    /// ```
    /// use mlx_manager::config::{ManagerConfig, Preset, Sharing};
    /// let lazy = ManagerConfig::from_strategies("lazy").unwrap();
    /// assert_eq!(lazy, Preset::Conservative.config()); // lazy alone is conservative
    /// let shared = ManagerConfig::from_strategies("shared").unwrap();
    /// assert_eq!((shared.sharing, shared.lazy), (Sharing::Shared, false));
    /// let err = ManagerConfig::from_strategies("shared,pooled").unwrap_err();
    /// assert!(err.contains("exclude each other"), "{err}");
    /// ```
    pub fn from_strategies(list: &str) -> Result<Self, String> {
        let names: Vec<String> = list
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .collect();
        let mut config = ManagerConfig::none();
        if names == ["none"] {
            return Ok(config);
        }
        for name in &names {
            match name.as_str() {
                "lazy" => config.lazy = true,
                "prewarm" => config.prewarm = true,
                "shared" | "pooled" if config.sharing != Sharing::Fresh => {
                    return Err("`shared` and `pooled` exclude each other".into());
                }
                "shared" => config.sharing = Sharing::Shared,
                "pooled" => {
                    config.sharing = Sharing::Pooled {
                        size: 2,
                        checkout_timeout: DEFAULT_CHECKOUT_TIMEOUT,
                    };
                }
                "none" => return Err("`none` cannot be combined with a strategy".into()),
                "" => return Err("an empty strategy name".into()),
                other => return Err(format!("`{other}` is not a strategy")),
            }
        }
        if config.prewarm && config.sharing == Sharing::Fresh {
            return Err(
                "`prewarm` needs `shared` or `pooled`: fresh instances would pre-warm one \
                 that no `get()` receives"
                    .into(),
            );
        }
        Ok(config)
    }
}

impl From<Preset> for ManagerConfig {
    fn from(p: Preset) -> Self {
        p.config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_strategy_alone_turns_on_one_field() {
        let none = ManagerConfig::none();
        assert_eq!(ManagerConfig::from_strategies(" NONE "), Ok(none.clone()));
        let lazy = ManagerConfig::from_strategies("lazy").unwrap();
        assert_eq!((lazy.lazy, lazy.sharing), (true, Sharing::Fresh));
        let pooled = ManagerConfig::from_strategies("pooled").unwrap();
        assert_eq!(pooled.sharing, Preset::Aggressive.config().sharing);
        assert!(!pooled.lazy && !pooled.prewarm && pooled.cache_limit.is_none());
        // Pre-warm added to pooled-only is the aggressive preset exactly.
        assert_eq!(
            ManagerConfig::from_strategies("pooled, prewarm"),
            Ok(Preset::Aggressive.config())
        );
        let balanced_uncapped = ManagerConfig::from_strategies("Shared,lazy").unwrap();
        assert_eq!(
            balanced_uncapped,
            ManagerConfig {
                cache_limit: None,
                ..Preset::Balanced.config()
            }
        );
    }

    #[test]
    fn nonsense_and_contradictions_are_refused_with_the_reason() {
        for (bad, why) in [
            ("", "empty"),
            ("fast", "`fast` is not a strategy"),
            ("lazy,", "empty"),
            ("none,lazy", "`none` cannot be combined"),
            ("lazy,none", "`none` cannot be combined"),
            ("shared,pooled", "exclude each other"),
            ("pooled,shared", "exclude each other"),
            ("shared,shared", "exclude each other"),
            ("lazy;shared", "`lazy;shared` is not a strategy"),
            ("prewarm", "`prewarm` needs `shared` or `pooled`"),
            ("lazy,prewarm", "`prewarm` needs `shared` or `pooled`"),
        ] {
            let err = ManagerConfig::from_strategies(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
