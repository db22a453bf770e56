//! `classifier-app`: classifies a few support messages, marking its start-up phases
//! for `mlx-profile run` (free when no profiler listens).

use anyhow::Context;
use classifier_app::Classifier;
use mlx_manager::{Manager, config::Preset, marks};

const MESSAGES: [&str; 4] = [
    "I was charged twice for my subscription",
    "the app crashes when I open settings",
    "please add an export to csv",
    "thanks for the quick help",
];

fn main() -> anyhow::Result<()> {
    // With COLDSTART_KERNEL_CACHE set, MLX compiles into a private view of that cache,
    // and the manager publishes what it compiled when it is dropped at the end of main:
    // the next run loads the kernels instead of compiling them.
    // SAFETY: first thing in main, before any thread of ours or MLX call (OpenBLAS's
    // workers, started when the library loaded, wait idle and read no environment).
    unsafe { mlx_manager::kernel_cache::use_from_env() }
        .context("setting up the kernel cache COLDSTART_KERNEL_CACHE names")?;
    let texts: Vec<String> = std::env::args().skip(1).collect();
    let texts: Vec<&str> = if texts.is_empty() {
        MESSAGES.to_vec()
    } else {
        texts.iter().map(String::as_str).collect()
    };
    marks::mark("args");
    // The manager marks its own work (factory, warm-up) as phases of this program.
    let manager = Manager::builder(Classifier::load)
        .preset(Preset::Balanced)
        .warm_up(|c: &mut Classifier| c.classify(&["warm up"]).map(drop))
        .build();
    let mut model = manager.get().context("loading the classifier")?;
    marks::mark("model_ready");
    let labels = model
        .classify(&texts)
        .map_err(|e| anyhow::anyhow!("classifying: {e}"))?;
    marks::mark("first_batch");
    for (t, l) in texts.iter().zip(labels) {
        println!("{l:>8}  {t}");
    }
    Ok(())
}
