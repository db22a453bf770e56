//! The encoder fixture: shaped like the speech models MLX apps run (Whisper's
//! encoder). A convolutional front-end over a mel-spectrogram-shaped input (two 1-D
//! convolutions, the second with stride 2), sinusoidal positions, then transformer
//! blocks (layer norm, multi-head attention, layer norm, MLP whose activation is
//! fused through `mlx_rs::transforms::compile`), then a final layer norm.
//!
//! Weights come from the deterministic generator and are written once as a
//! safetensors file in a cache directory, under a name derived from everything that
//! determines them (preset, shapes, seed, generator version); loading them is a real
//! file read.

use mlx_manager::inject;
use std::collections::HashMap;
use std::path::PathBuf;

use mlx_rs::error::Exception;
use mlx_rs::transforms::compile::compile;
use mlx_rs::{Array, fast, ops};

use crate::data;
use crate::error::FixtureError;
use crate::weights_file;

/// Bumped whenever the generator or the layout changes (part of the file name).
const GENERATOR_VERSION: u32 = 1;
const SEED: u64 = 2024;

/// Size presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// For CI: start-up work dominates (d=64, 1 block, 200 frames).
    Tiny,
    /// In between (d=256, 2 blocks, 1000 frames).
    Small,
    /// Shaped like Whisper-base's encoder (d=512, 8 heads, 6 blocks, 3000 frames).
    Base,
}

/// The shapes of a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Mel bins (input channels).
    pub n_mels: usize,
    /// Input frames (the output has half as many).
    pub frames: usize,
    /// Model width.
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Transformer blocks.
    pub layers: usize,
}

impl Preset {
    /// Parses `tiny`, `small` or `base`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tiny" => Some(Preset::Tiny),
            "small" => Some(Preset::Small),
            "base" => Some(Preset::Base),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
            Preset::Base => "base",
        }
    }

    /// Its shapes.
    pub fn config(self) -> Config {
        match self {
            Preset::Tiny => Config {
                n_mels: 80,
                frames: 200,
                d_model: 64,
                heads: 2,
                layers: 1,
            },
            Preset::Small => Config {
                n_mels: 80,
                frames: 1000,
                d_model: 256,
                heads: 4,
                layers: 2,
            },
            Preset::Base => Config {
                n_mels: 80,
                frames: 3000,
                d_model: 512,
                heads: 8,
                layers: 6,
            },
        }
    }
}

/// Every weight of a configuration: name and shape, in a fixed order.
pub fn weight_shapes(c: &Config) -> Vec<(String, Vec<i32>)> {
    let (d, m, f) = (c.d_model as i32, c.n_mels as i32, 4 * c.d_model as i32);
    let mut w = vec![
        ("conv1.weight".to_string(), vec![d, 3, m]),
        ("conv1.bias".into(), vec![d]),
        ("conv2.weight".into(), vec![d, 3, d]),
        ("conv2.bias".into(), vec![d]),
    ];
    for i in 0..c.layers {
        let p = |n: &str| format!("blocks.{i}.{n}");
        for (n, shape) in [
            ("attn_ln.weight", vec![d]),
            ("attn_ln.bias", vec![d]),
            ("attn.query.weight", vec![d, d]),
            ("attn.query.bias", vec![d]),
            ("attn.key.weight", vec![d, d]),
            ("attn.value.weight", vec![d, d]),
            ("attn.value.bias", vec![d]),
            ("attn.out.weight", vec![d, d]),
            ("attn.out.bias", vec![d]),
            ("mlp_ln.weight", vec![d]),
            ("mlp_ln.bias", vec![d]),
            ("mlp1.weight", vec![d, f]),
            ("mlp1.bias", vec![f]),
            ("mlp2.weight", vec![f, d]),
            ("mlp2.bias", vec![d]),
        ] {
            w.push((p(n), shape));
        }
    }
    w.push(("ln_post.weight".into(), vec![d]));
    w.push(("ln_post.bias".into(), vec![d]));
    w
}

/// The generated values of one weight: layer-norm scales near 1, biases small,
/// matrices scaled by 1/sqrt(fan-in) so activations stay in range.
fn generate(name: &str, shape: &[i32], seed: u64) -> Vec<f32> {
    let n: usize = shape.iter().map(|&s| s as usize).product();
    let raw = data::values(n, seed);
    if name.ends_with("ln.weight") || name.ends_with("ln_post.weight") {
        raw.iter().map(|v| 1.0 + 0.1 * v).collect()
    } else if name.ends_with(".bias") {
        raw.iter().map(|v| 0.02 * v).collect()
    } else {
        let fan_in: i32 = if shape.len() == 3 {
            shape[1] * shape[2]
        } else {
            shape[0]
        };
        let scale = 2.0 / (fan_in as f32).sqrt();
        raw.iter().map(|v| v * scale).collect()
    }
}

/// The weights file of a preset, written the first time it is needed.
pub fn weights_file(preset: Preset) -> Result<PathBuf, FixtureError> {
    let c = preset.config();
    // The name is derived from everything that determines the content.
    let key = format!(
        "v{GENERATOR_VERSION}-s{SEED}-m{}-f{}-d{}-h{}-l{}",
        c.n_mels, c.frames, c.d_model, c.heads, c.layers
    );
    let name = format!("encoder-{}-{key}.safetensors", preset.name());
    weights_file::ensure(&name, || {
        weight_shapes(&c)
            .into_iter()
            .enumerate()
            .map(|(i, (name, shape))| {
                let values = generate(&name, &shape, SEED + i as u64);
                (name, Array::from_slice(&values, &shape))
            })
            .collect()
    })
}

/// A mel-spectrogram-shaped input `(1, frames, n_mels)` from the generator.
pub fn input(preset: Preset, seed: u64) -> Array {
    let c = preset.config();
    Array::from_slice(
        &data::values(c.frames * c.n_mels, seed),
        &[1, c.frames as i32, c.n_mels as i32],
    )
}

fn gelu(x: &Array) -> Result<Array, Exception> {
    // The sigmoid approximation of GELU, element-wise: compile fuses it into one kernel.
    x.multiply(ops::sigmoid(x.multiply(Array::from_f32(1.702))?)?)
}

/// A function from one array to one array, as `compile` returns it.
type ArrayFn = Box<dyn FnMut(&Array) -> Result<Array, Exception>>;

/// The encoder with its weights loaded and evaluated.
pub struct Encoder {
    config: Config,
    w: HashMap<String, Array>,
    positions: Array,
    act: ArrayFn,
}

impl Encoder {
    /// Reads the preset's weights file and evaluates every weight.
    pub fn load(preset: Preset) -> Result<Self, FixtureError> {
        let path = weights_file(preset)?;
        // The knob wraps the evaluation too: loading is lazy, the file is read there.
        let w = inject::around(inject::Path::WeightsLoad, || {
            let w = Array::load_safetensors(&path).map_err(|e| FixtureError::Weights {
                path: path.clone(),
                message: e.to_string(),
            })?;
            mlx_rs::transforms::eval(w.values())
                .map_err(FixtureError::mlx("loading encoder weights"))?;
            Ok::<_, FixtureError>(w)
        })?;
        let config = preset.config();
        for (name, shape) in weight_shapes(&config) {
            match w.get(&name) {
                Some(a) if a.shape() == shape.as_slice() => {}
                _ => {
                    return Err(FixtureError::Weights {
                        path,
                        message: format!("tensor {name} is missing or not of shape {shape:?}"),
                    });
                }
            }
        }
        let positions = sinusoids(config.frames / 2, config.d_model);
        positions.eval().map_err(FixtureError::mlx("positions"))?;
        Ok(Encoder {
            config,
            w,
            positions,
            act: Box::new(compile(gelu, None)),
        })
    }

    /// The shapes it was built with.
    pub fn config(&self) -> Config {
        self.config
    }

    fn p(&self, name: &str) -> &Array {
        &self.w[name]
    }

    /// Encodes `(1, frames, n_mels)` into `(1, frames / 2, d_model)` and evaluates it.
    ///
    /// The test-only `forward` knob ([`mlx_manager::inject`]) applies here.
    pub fn forward(&mut self, mel: &Array) -> Result<Array, FixtureError> {
        inject::around(inject::Path::Forward, || self.forward_pass(mel))
    }

    fn forward_pass(&mut self, mel: &Array) -> Result<Array, FixtureError> {
        let e = FixtureError::mlx("encoder forward");
        let c = self.config;
        let conv = |x: &Array, w: &str, b: &str, stride: i32| -> Result<Array, Exception> {
            ops::conv1d(x, &self.w[w], stride, 1, 1, 1)?.add(&self.w[b])
        };
        let x = conv(mel, "conv1.weight", "conv1.bias", 1).map_err(&e)?;
        let x = (self.act)(&x).map_err(&e)?;
        let x = conv(&x, "conv2.weight", "conv2.bias", 2).map_err(&e)?;
        let x = (self.act)(&x).map_err(&e)?;
        let mut x = x.add(&self.positions).map_err(&e)?;
        let (l, h, dh) = (
            c.frames as i32 / 2,
            c.heads as i32,
            (c.d_model / c.heads) as i32,
        );
        for i in 0..c.layers {
            let p = |n: &str| format!("blocks.{i}.{n}");
            let y = fast::layer_norm(
                &x,
                self.p(&p("attn_ln.weight")),
                self.p(&p("attn_ln.bias")),
                1e-5,
            )
            .map_err(&e)?;
            let heads = |a: Array| a.reshape(&[1, l, h, dh])?.transpose_axes(&[0, 2, 1, 3]);
            let q = heads(
                ops::matmul(&y, self.p(&p("attn.query.weight")))
                    .and_then(|a| a.add(self.p(&p("attn.query.bias"))))
                    .map_err(&e)?,
            )
            .map_err(&e)?;
            let k =
                heads(ops::matmul(&y, self.p(&p("attn.key.weight"))).map_err(&e)?).map_err(&e)?;
            let v = heads(
                ops::matmul(&y, self.p(&p("attn.value.weight")))
                    .and_then(|a| a.add(self.p(&p("attn.value.bias"))))
                    .map_err(&e)?,
            )
            .map_err(&e)?;
            let a =
                fast::scaled_dot_product_attention(q, k, v, 1.0 / (dh as f32).sqrt(), None, None)
                    .map_err(&e)?;
            let a = a
                .transpose_axes(&[0, 2, 1, 3])
                .and_then(|a| a.reshape(&[1, l, c.d_model as i32]))
                .map_err(&e)?;
            let a = ops::matmul(&a, self.p(&p("attn.out.weight")))
                .and_then(|a| a.add(self.p(&p("attn.out.bias"))))
                .map_err(&e)?;
            x = x.add(&a).map_err(&e)?;
            let y = fast::layer_norm(
                &x,
                self.p(&p("mlp_ln.weight")),
                self.p(&p("mlp_ln.bias")),
                1e-5,
            )
            .map_err(&e)?;
            let y = ops::matmul(&y, self.p(&p("mlp1.weight")))
                .and_then(|a| a.add(self.p(&p("mlp1.bias"))))
                .map_err(&e)?;
            let y = (self.act)(&y).map_err(&e)?;
            let y = ops::matmul(&y, self.p(&p("mlp2.weight")))
                .and_then(|a| a.add(self.p(&p("mlp2.bias"))))
                .map_err(&e)?;
            x = x.add(&y).map_err(&e)?;
        }
        let out = fast::layer_norm(&x, self.p("ln_post.weight"), self.p("ln_post.bias"), 1e-5)
            .map_err(&e)?;
        out.eval().map_err(&e)?;
        Ok(out)
    }
}

/// Whisper's sinusoidal positions, `(length, channels)`.
fn sinusoids(length: usize, channels: usize) -> Array {
    let half = channels / 2;
    let step = (10_000f64).ln() / (half as f64 - 1.0).max(1.0);
    let mut v = vec![0f32; length * channels];
    for t in 0..length {
        for j in 0..half {
            let angle = t as f64 * (-(j as f64) * step).exp();
            v[t * channels + j] = angle.sin() as f32;
            v[t * channels + half + j] = angle.cos() as f32;
        }
    }
    Array::from_slice(&v, &[length as i32, channels as i32])
}

/// The encoder as a `Send` type, for a manager or a test suite's shared instance:
/// it keeps the evaluated weights only. mlx-rs 0.33's compiled functions are not
/// `Send`, so [`Encoder`] (which keeps its compiled activation) cannot be handed
/// between threads; this one compiles the activation inside every forward pass, so
/// every call traces the activation's graph again (mlx-rs drops a compiled
/// function's cache entry with it). The fused kernel's library is shared: MLX
/// JIT-compiles it on the process's first forward pass (or loads it from its kernel
/// cache) and loads it after that.
pub struct SendEncoder {
    config: Config,
    w: HashMap<String, Array>,
    positions: Array,
}

impl SendEncoder {
    /// Reads the preset's weights file and evaluates every weight, as
    /// [`Encoder::load`] does.
    pub fn load(preset: Preset) -> Result<Self, FixtureError> {
        let Encoder {
            config,
            w,
            positions,
            act: _,
        } = Encoder::load(preset)?;
        Ok(SendEncoder {
            config,
            w,
            positions,
        })
    }

    /// The shapes it was built with.
    pub fn config(&self) -> Config {
        self.config
    }

    /// [`Encoder::forward`] with the activation compiled for this call.
    pub fn forward(&mut self, mel: &Array) -> Result<Array, FixtureError> {
        // Arrays clone as references to the same buffers: nothing is copied.
        let mut encoder = Encoder {
            config: self.config,
            w: self.w.clone(),
            positions: self.positions.clone(),
            act: Box::new(compile(gelu, None)),
        };
        encoder.forward(mel)
    }
}
