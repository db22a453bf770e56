//! Every parser of outside input, fed arbitrary text and damaged versions of valid
//! documents: it returns a value or an error that says where (the file's name, or
//! the line of a marks file), and never panics.
//!
//! Each property runs [`CASES`] cases (proptest's shrinking on a failure); six
//! properties, so 6 × 512 = 3072 inputs a run.

use std::path::Path;

use mlx_fixtures::probe::{PHASES, PhaseMark, ProbeDocument, ProbeOutcome, ProbeReport};
use mlx_profiler::gate::baseline::Baseline;
use mlx_profiler::gate::thresholds::GateThresholds;
use mlx_profiler::grade::Thresholds;
use mlx_profiler::program::marks;
use proptest::prelude::*;

/// Cases per property.
const CASES: u32 = 512;

const BASELINE: &str =
    include_str!("../../../baselines/linux-x86_64-cpu-amd-epyc-2c-mlx0.32.2-openblas-quick.json");
const GATE_THRESHOLDS: &str = include_str!("../../../benches/thresholds.toml");
const GRADE_THRESHOLDS: &str = "\
[cold_start_seconds]
excellent = 0.5
good = 1.0
acceptable = 2.0

[memory_overhead_mib]
excellent = 50
good = 100
acceptable = 200

[test_impact_percent]
excellent = 15
good = 25
acceptable = 50
";
const MARKS: &str = concat!(
    r#"{"protocol":"mlx-coldstart-marks","version":1,"pid":7}"#,
    "\n",
    r#"{"name":"load","end_ns":100,"start_ns":null,"rss_bytes":4096,"pid":7,"thread":"main"}"#,
    "\n",
    r#"{"name":"warm","end_ns":250,"start_ns":120,"rss_bytes":8192,"pid":7,"thread":"w"}"#,
    "\n",
);

fn probe_document() -> String {
    let phases = PHASES
        .iter()
        .enumerate()
        .map(|(i, name)| PhaseMark {
            name: name.to_string(),
            at_ns: 1_000 + i as u64 * 10,
            rss_bytes: 1 << 20,
            mlx_active_bytes: 0,
            mlx_peak_bytes: 0,
            mlx_cache_bytes: 0,
            start_ns: None,
        })
        .collect();
    serde_json::to_string(&ProbeDocument {
        schema_version: mlx_fixtures::probe::PROBE_SCHEMA_VERSION,
        outcome: ProbeOutcome::Ok(ProbeReport {
            fixture: "tiny".into(),
            device: "Device(cpu, 0)".into(),
            pid: 7,
            phases,
            timeline: Vec::new(),
        }),
    })
    .unwrap()
}

/// Text that is arbitrary, or a valid document damaged: cut short, a character
/// replaced, or a span repeated. Damaged documents reach deeper than random text,
/// past the syntax into the checks of the values.
fn damaged(valid: String) -> impl Strategy<Value = String> {
    let len = valid.chars().count().max(1);
    let v1 = valid.clone();
    let v2 = valid.clone();
    let v3 = valid;
    prop_oneof![
        any::<String>(),
        (0..len).prop_map(move |cut| v1.chars().take(cut).collect()),
        (0..len, any::<char>()).prop_map(move |(at, c)| {
            v2.chars()
                .enumerate()
                .map(|(i, x)| if i == at { c } else { x })
                .collect()
        }),
        (0..len, 0..len).prop_map(move |(a, b)| {
            let chars: Vec<char> = v3.chars().collect();
            let (a, b) = (a.min(b), a.max(b));
            let span: String = chars[a..b].iter().collect();
            let mut out: String = chars[..b].iter().collect();
            out.push_str(&span);
            out.extend(&chars[b..]);
            out
        }),
    ]
}

#[test]
fn the_valid_documents_parse() {
    Baseline::parse(BASELINE, Path::new("b.json")).unwrap();
    GateThresholds::parse(GATE_THRESHOLDS, "t.toml").unwrap();
    Thresholds::parse(GRADE_THRESHOLDS, Path::new("g.toml")).unwrap();
    assert_eq!(marks::parse(MARKS).unwrap().marks.len(), 2);
    ProbeDocument::parse(&probe_document()).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn a_baseline_error_names_the_file(text in damaged(BASELINE.to_string())) {
        if let Err(e) = Baseline::parse(&text, Path::new("baselines/x-quick.json")) {
            prop_assert!(e.to_string().contains("baselines/x-quick.json"), "{e}");
        }
    }

    #[test]
    fn a_gate_thresholds_error_names_the_file(text in damaged(GATE_THRESHOLDS.to_string())) {
        if let Err(e) = GateThresholds::parse(&text, "benches/thresholds.toml") {
            prop_assert!(e.to_string().contains("benches/thresholds.toml"), "{e}");
        }
    }

    #[test]
    fn a_grade_thresholds_error_names_the_file(text in damaged(GRADE_THRESHOLDS.to_string())) {
        if let Err(e) = Thresholds::parse(&text, Path::new("grades.toml")) {
            prop_assert!(e.to_string().contains("grades.toml"), "{e}");
        }
    }

    #[test]
    fn a_marks_error_names_a_line_of_the_text(text in damaged(MARKS.to_string())) {
        if let Err(e) = marks::parse(&text) {
            prop_assert!(e.line >= 1 && e.line <= text.lines().count().max(1), "{e}");
            prop_assert!(e.to_string().starts_with(&format!("line {} ", e.line)), "{e}");
        }
    }

    #[test]
    fn a_probe_document_is_read_or_refused_with_a_reason(text in damaged(probe_document())) {
        match ProbeDocument::parse(&text) {
            Ok(doc) => {
                if let ProbeOutcome::Ok(r) = doc.outcome {
                    prop_assert!(PHASES.starts_with(&r.phases.iter().map(|p| p.name.as_str()).collect::<Vec<_>>()));
                    prop_assert!(r.phases.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
                }
            }
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    #[test]
    fn damaged_marks_either_parse_into_ordered_marks_or_fail(text in damaged(MARKS.to_string())) {
        if let Ok(m) = marks::parse(&text) {
            prop_assert!(m.marks.len() <= marks::MAX_MARKS);
            prop_assert!(m.marks.iter().all(|x| x.start_ns.is_none_or(|s| s <= x.end_ns)));
        }
    }
}
