//! A small text classifier on MLX: hashed tokens, an embedding table, mean pooling
//! and a two-layer head with a compiled activation (so the first call JIT-compiles a
//! kernel, as real models do). Its weights are generated once, deterministically,
//! and written as safetensors on first use; every load reads that file.
//!
//! This crate is the example of a user's project: it knows nothing of our fixtures,
//! marks its own start-up phases with `mlx_manager::marks`, builds its model through
//! `mlx_manager::Manager`, and benchmarks itself with `mlx_profiler::bench`.

use std::collections::HashMap;
use std::path::PathBuf;

use mlx_rs::transforms::compile::compile;
use mlx_rs::{Array, ops};

/// Tokens in the hashed vocabulary.
pub const VOCAB: usize = 4096;
/// Embedding width.
pub const DIM: usize = 128;
/// Hidden width of the head.
pub const HIDDEN: usize = 256;
/// The classes: what a support inbox sorts messages into.
pub const CLASSES: [&str; 4] = ["billing", "bug", "feature", "other"];

/// Errors of the classifier.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Where the weights live: `$CLASSIFIER_WEIGHTS_DIR`, else
/// `~/.cache/classifier-app`, else the temporary directory.
pub fn weights_dir() -> PathBuf {
    std::env::var_os("CLASSIFIER_WEIGHTS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/classifier-app"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("classifier-app"))
}

/// `n` deterministic values in [-scale, scale) (a 64-bit LCG): the same weights on
/// every machine.
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// The weights file, written on first use (under a unique temporary name, then
/// renamed: concurrent first runs never read half a file).
pub fn weights_file() -> Result<PathBuf, Error> {
    let dir = weights_dir();
    let path = dir.join(format!("classifier-v2-{VOCAB}x{DIM}x{HIDDEN}.safetensors"));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    let arrays = HashMap::from([
        (
            "embed".to_string(),
            Array::from_slice(&values(VOCAB * DIM, 1, 3.0), &[VOCAB as i32, DIM as i32]),
        ),
        (
            "w1".to_string(),
            Array::from_slice(&values(DIM * HIDDEN, 2, 0.3), &[DIM as i32, HIDDEN as i32]),
        ),
        (
            "w2".to_string(),
            Array::from_slice(
                &values(HIDDEN * CLASSES.len(), 3, 0.06),
                &[HIDDEN as i32, CLASSES.len() as i32],
            ),
        ),
    ]);
    let tmp = dir.join(format!(".{}.tmp.safetensors", std::process::id()));
    Array::save_safetensors(&arrays, None, &tmp)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Token ids of a text: words hashed (FNV-1a) into the vocabulary.
pub fn tokens(text: &str) -> Vec<i32> {
    text.split_whitespace()
        .map(|w| {
            let h = w
                .to_lowercase()
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                });
            (h % VOCAB as u64) as i32
        })
        .collect()
}

/// The model, its weights loaded and evaluated (safe to hand between threads).
pub struct Classifier {
    embed: Array,
    w1: Array,
    w2: Array,
}

fn gelu(x: &Array) -> Result<Array, mlx_rs::error::Exception> {
    x.multiply(ops::sigmoid(x.multiply(Array::from_f32(1.702))?)?)
}

impl Classifier {
    /// Reads the weights file and evaluates every weight.
    pub fn load() -> Result<Self, Error> {
        let mut w = Array::load_safetensors(weights_file()?)?;
        let mut take = |n: &str| w.remove(n).ok_or_else(|| format!("weights lack {n}"));
        let (embed, w1, w2) = (take("embed")?, take("w1")?, take("w2")?);
        mlx_rs::transforms::eval([&embed, &w1, &w2])?;
        Ok(Classifier { embed, w1, w2 })
    }

    /// The class of each text.
    pub fn classify(&mut self, texts: &[&str]) -> Result<Vec<&'static str>, Error> {
        // Compiled where it is called: mlx-rs's compiled functions are not Send, and
        // the model must be (the manager may build it on another thread).
        let mut act = compile(gelu, None);
        let mut out = Vec::with_capacity(texts.len());
        for t in texts {
            let ids = tokens(t);
            let ids = if ids.is_empty() { vec![0] } else { ids };
            let idx = Array::from_slice(&ids, &[ids.len() as i32]);
            let pooled = self.embed.take_axis(&idx, 0)?.mean_axes(&[0], true)?;
            let h = act(&ops::matmul(&pooled, &self.w1)?)?;
            let logits = ops::matmul(&h, &self.w2)?;
            let best = ops::indexing::argmax_axis(&logits, 1, false)?;
            best.eval()?;
            out.push(CLASSES[best.item_cast::<u32>() as usize % CLASSES.len()]);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_texts_get_the_same_classes_and_tokens_are_stable() {
        assert_eq!(tokens("Refund my  Invoice"), tokens("refund my invoice"));
        let mut c = Classifier::load().unwrap();
        let texts = [
            "the app crashes on start",
            "please add dark mode",
            "invoice is wrong",
        ];
        let a = c.classify(&texts).unwrap();
        assert_eq!(a, c.classify(&texts).unwrap());
        assert!(a.iter().all(|l| CLASSES.contains(l)));
    }
}
