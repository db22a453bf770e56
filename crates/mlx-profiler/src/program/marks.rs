//! The marks file a profiled program writes through `mlx_manager::marks`: read and
//! checked, so that a program that writes garbage, an unknown version, a phase twice,
//! out of order, or thousands of phases gets a message naming the line, never a
//! report built on it. Format: `docs/formats/marks.md`.
//!
//! ```
//! use mlx_profiler::program::marks::parse;
//! let text = concat!(
//!     r#"{"protocol":"mlx-coldstart-marks","version":1,"pid":7}"#, "\n",
//!     r#"{"name":"load","end_ns":100,"start_ns":null,"rss_bytes":4096,"pid":7,"thread":"main"}"#, "\n",
//! );
//! let m = parse(text).unwrap();
//! assert_eq!(m.marks[0].name, "load");
//! assert!(parse("not json").unwrap_err().to_string().contains("line 1"));
//! ```

use serde::Deserialize;

/// Protocol name and version, as the client writes them (one definition).
pub use mlx_manager::marks::{MARKS_PROTOCOL, MARKS_VERSION};
/// The most marks a profile takes: more is a program marking in a loop.
pub const MAX_MARKS: usize = 1000;
/// The longest phase name.
pub const MAX_NAME: usize = 200;

/// One phase a program marked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The phase's name.
    pub name: String,
    /// When it began (`CLOCK_MONOTONIC` ns), for a span; `None`: at the previous mark.
    pub start_ns: Option<u64>,
    /// When it ended.
    pub end_ns: u64,
    /// The process's resident memory then, bytes.
    pub rss_bytes: u64,
    /// The thread that marked it.
    pub thread: String,
}

/// A marks file, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// The process whose marks these are (the first to write a header).
    pub pid: u32,
    /// Its marks, in the order they ended.
    pub marks: Vec<Mark>,
    /// Other processes (children of the program) that marked too; their marks are
    /// left out.
    pub other_processes: usize,
}

/// What is wrong with a marks file, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of the marks: {problem}")]
pub struct MarksError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

#[derive(Deserialize)]
struct Header {
    protocol: String,
    version: u32,
    pid: u32,
}

#[derive(Deserialize)]
struct Record {
    name: String,
    end_ns: u64,
    #[serde(default)]
    start_ns: Option<u64>,
    #[serde(default)]
    rss_bytes: u64,
    pid: u32,
    #[serde(default)]
    thread: String,
}

fn shown(line: &str) -> String {
    let head: String = line.chars().take(80).collect();
    if head.len() < line.len() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

/// Reads a marks file's text. An empty text is a program that marked nothing.
pub fn parse(text: &str) -> Result<Marks, MarksError> {
    let mut out = Marks::default();
    let mut main: Option<u32> = None;
    let mut others = std::collections::BTreeSet::new();
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |problem: String| MarksError {
            line: line_no,
            problem,
        };
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| err(format!("not JSON ({e}): {}", shown(line))))?;
        if value.get("protocol").is_some() {
            let h: Header = serde_json::from_value(value)
                .map_err(|e| err(format!("not a marks header ({e}): {}", shown(line))))?;
            if h.protocol != MARKS_PROTOCOL {
                return Err(err(format!(
                    "protocol {:?}, expected {MARKS_PROTOCOL:?}",
                    h.protocol
                )));
            }
            if h.version != MARKS_VERSION {
                return Err(err(format!(
                    "marks version {}, this profiler reads version {MARKS_VERSION}: use \
                     mlx-manager and mlx-profiler of one release",
                    h.version
                )));
            }
            match main {
                None => {
                    main = Some(h.pid);
                    out.pid = h.pid;
                }
                Some(p) if p != h.pid => {
                    others.insert(h.pid);
                }
                Some(_) => {}
            }
            continue;
        }
        let Some(pid) = main else {
            return Err(err(format!(
                "a mark before the header (the first line must name the protocol): {}",
                shown(line)
            )));
        };
        let r: Record = serde_json::from_value(value)
            .map_err(|e| err(format!("not a mark ({e}): {}", shown(line))))?;
        if r.pid != pid {
            others.insert(r.pid);
            continue;
        }
        if r.name.is_empty()
            || r.name.chars().count() > MAX_NAME
            || r.name.chars().any(char::is_control)
        {
            return Err(err(format!(
                "phase name {} must be 1 to {MAX_NAME} printable characters",
                shown(&r.name)
            )));
        }
        if let Some(first) = seen.insert(r.name.clone(), line_no) {
            return Err(err(format!(
                "phase {:?} marked twice (lines {first} and {line_no}); give each phase its own name",
                r.name
            )));
        }
        if let Some(prev) = out.marks.last().filter(|p| r.end_ns < p.end_ns) {
            return Err(err(format!(
                "phase {:?} ends before the previous one ({:?}): the marks are out of order",
                r.name, prev.name
            )));
        }
        if r.start_ns.is_some_and(|s| s > r.end_ns) {
            return Err(err(format!("phase {:?} starts after it ends", r.name)));
        }
        if out.marks.len() == MAX_MARKS {
            return Err(err(format!(
                "more than {MAX_MARKS} phases: mark phases of start-up, not iterations of a loop"
            )));
        }
        out.marks.push(Mark {
            name: r.name,
            start_ns: r.start_ns,
            end_ns: r.end_ns,
            rss_bytes: r.rss_bytes,
            thread: r.thread,
        });
    }
    out.other_processes = others.len();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#"{"protocol":"mlx-coldstart-marks","version":1,"pid":7}"#;

    fn rec(name: &str, end: u64, pid: u32) -> String {
        format!(
            r#"{{"name":"{name}","end_ns":{end},"start_ns":null,"rss_bytes":1,"pid":{pid},"thread":"main"}}"#
        )
    }

    fn text(lines: &[String]) -> String {
        let mut s = HEAD.to_string();
        for l in lines {
            s.push('\n');
            s.push_str(l);
        }
        s
    }

    #[test]
    fn every_kind_of_bad_input_names_its_line_and_problem() {
        let cases: Vec<(String, &str)> = vec![
            ("garbage".into(), "line 1 of the marks: not JSON"),
            (
                r#"{"protocol":"mlx-coldstart-marks","version":9,"pid":7}"#.into(),
                "version 9",
            ),
            (
                r#"{"protocol":"other","version":1,"pid":7}"#.into(),
                "protocol \"other\"",
            ),
            (rec("a", 1, 7), "before the header"),
            (
                text(&[rec("a", 5, 7), rec("a", 6, 7)]),
                "line 3 of the marks: phase \"a\" marked twice (lines 2 and 3)",
            ),
            (text(&[rec("a", 5, 7), rec("b", 4, 7)]), "out of order"),
            (text(&[rec("", 5, 7)]), "printable"),
            (
                text(&["{\"name\":1}".into()]),
                "line 2 of the marks: not a mark",
            ),
            (
                text(&[r#"{"name":"s","end_ns":5,"start_ns":9,"pid":7}"#.into()]),
                "starts after it ends",
            ),
        ];
        for (t, needle) in cases {
            let e = parse(&t).unwrap_err().to_string();
            assert!(e.contains(needle), "{t}\n=> {e}");
        }
    }

    #[test]
    fn thousands_of_phases_are_refused() {
        let lines: Vec<String> = (0..=MAX_MARKS)
            .map(|i| rec(&format!("p{i}"), i as u64, 7))
            .collect();
        let e = parse(&text(&lines)).unwrap_err();
        assert_eq!(e.line, MAX_MARKS + 2);
        assert!(e.problem.contains("more than 1000"));
    }

    #[test]
    fn other_processes_are_counted_and_left_out() {
        let t = text(&[
            rec("a", 1, 7),
            r#"{"protocol":"mlx-coldstart-marks","version":1,"pid":8}"#.into(),
            rec("a", 2, 8),
            rec("b", 3, 7),
        ]);
        let m = parse(&t).unwrap();
        assert_eq!(m.pid, 7);
        assert_eq!(
            m.marks.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(m.other_processes, 1);
        assert_eq!(parse("").unwrap(), Marks::default());
    }
}
