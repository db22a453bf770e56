//! The encoder fixture: shapes, determinism, the weights file, and what its layers
//! guarantee about the output.

use mlx_fixtures::encoder::{self, Encoder, Preset, SendEncoder};

#[test]
fn tiny_encoder_halves_the_frames_and_normalises_each_row() {
    let mut enc = Encoder::load(Preset::Tiny).unwrap();
    let c = enc.config();
    let out = enc.forward(&encoder::input(Preset::Tiny, 1)).unwrap();
    assert_eq!(out.shape(), &[1, (c.frames / 2) as i32, c.d_model as i32]);
    let v = out.as_slice::<f32>();
    assert!(v.iter().all(|x| x.is_finite()));
    // The final layer norm (scales near 1, biases near 0): each row has mean ~0 and
    // variance ~1, whatever the blocks did.
    for row in v.chunks(c.d_model).take(10) {
        let mean = row.iter().sum::<f32>() / row.len() as f32;
        let var = row.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / row.len() as f32;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((0.7..1.3).contains(&var), "variance {var}");
    }
}

#[test]
fn two_instances_give_identical_outputs_and_share_one_file() {
    let a = encoder::weights_file(Preset::Tiny).unwrap();
    let modified = std::fs::metadata(&a).unwrap().modified().unwrap();
    let b = encoder::weights_file(Preset::Tiny).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        std::fs::metadata(&b).unwrap().modified().unwrap(),
        modified,
        "the file was rewritten"
    );
    let x = encoder::input(Preset::Tiny, 7);
    let y1 = Encoder::load(Preset::Tiny).unwrap().forward(&x).unwrap();
    let y2 = Encoder::load(Preset::Tiny).unwrap().forward(&x).unwrap();
    assert_eq!(y1.as_slice::<f32>(), y2.as_slice::<f32>());
    let other = Encoder::load(Preset::Tiny)
        .unwrap()
        .forward(&encoder::input(Preset::Tiny, 8))
        .unwrap();
    assert_ne!(y1.as_slice::<f32>(), other.as_slice::<f32>());
}

#[test]
fn base_preset_is_shaped_like_whisper_base() {
    let c = Preset::Base.config();
    assert_eq!(
        (c.n_mels, c.frames, c.d_model, c.heads, c.layers),
        (80, 3000, 512, 8, 6)
    );
    let params: i64 = encoder::weight_shapes(&c)
        .iter()
        .map(|(_, s)| s.iter().map(|&d| d as i64).product::<i64>())
        .sum();
    // Whisper-base's encoder has about 20 M parameters (without its position table).
    assert!((19_000_000..21_000_000).contains(&params), "{params}");
    assert_eq!(Preset::parse("small"), Some(Preset::Small));
    assert_eq!(Preset::parse("large"), None);
}

#[test]
fn the_send_encoder_computes_what_the_encoder_does_on_another_thread() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let x = encoder::input(Preset::Tiny, 3);
    let want = Encoder::load(Preset::Tiny).unwrap().forward(&x).unwrap();
    let mut model = assert_send(SendEncoder::load(Preset::Tiny).unwrap());
    assert_eq!(model.config(), Preset::Tiny.config());
    // Built here, used there (evaluated weights only), twice: the activation is
    // compiled anew for every call.
    let got = std::thread::spawn(move || {
        let x = encoder::input(Preset::Tiny, 3);
        let first = model.forward(&x).unwrap().as_slice::<f32>().to_vec();
        let second = model.forward(&x).unwrap().as_slice::<f32>().to_vec();
        assert_eq!(first, second);
        first
    })
    .join()
    .unwrap();
    assert_eq!(got, want.as_slice::<f32>());
}
