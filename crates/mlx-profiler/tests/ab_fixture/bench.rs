// A bench executable of a throw-away project, written for the A/B gate's end-to-end
// test: it speaks the bench protocol by hand (no dependencies, so the project builds
// in seconds), and its one benchmark spins for WORK steps an iteration. The test
// commits one WORK and changes it in the working tree: a real code change.
use std::io::{BufRead, Write};
use std::time::Instant;

const WORK: u64 = 20_000;
const EXTRA: &str = "";

fn work(n: u64) -> u64 {
    let mut x = 1u64;
    for i in 0..n {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

// Every batch runs inside this function, exported unmangled: the gate's instruction
// counting tells callgrind to count only inside it.
#[no_mangle]
#[inline(never)]
pub extern "Rust" fn coldstart_counted_batch(iters: u64) -> u128 {
    let t = Instant::now();
    for _ in 0..iters {
        work(WORK);
    }
    t.elapsed().as_nanos().max(1)
}

// How many CPUs this process may run on (the gate pins its servers to one).
#[cfg(target_os = "linux")]
fn cpus_allowed() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(list) = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")) else {
        return 0;
    };
    list.trim()
        .split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

#[cfg(not(target_os = "linux"))]
fn cpus_allowed() -> u64 {
    0
}

fn number(line: &str, key: &str) -> u64 {
    line.split(&format!("\"{key}\":"))
        .nth(1)
        .map(|r| r.chars().take_while(|c| c.is_ascii_digit()).collect::<String>())
        .and_then(|d| d.parse().ok())
        .unwrap_or(1)
}

fn main() {
    if std::env::var_os("COLDSTART_BENCH_SERVE").is_none() {
        return;
    }
    if std::env::var_os("FIXTURE_CRASH").is_some() {
        std::process::exit(9);
    }
    let env = r#"{"os":"linux","arch":"x86_64","backend":"cpu","cpu":"test","cores":2,"mlx":"0","mlx_rs":"0","blas":"none","fixture_weights":"00","mode":"quick"}"#;
    let mut benches = String::from(r#"{"id":"synth/work","unit":"nanoseconds","unbatched":false}"#);
    if !EXTRA.is_empty() {
        benches.push_str(&format!(r#",{{"id":"synth/{EXTRA}","unit":"nanoseconds","unbatched":false}}"#));
    }
    let mut out = std::io::stdout();
    writeln!(
        out,
        r#"{{"protocol":"mlx-coldstart-bench","version":1,"group":"synth","mode":"quick","environment":{env},"benchmarks":[{benches}]}}"#
    )
    .unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let (iters, repeats) = if line.contains("\"prepare\"") {
            (1, 1)
        } else {
            (number(&line, "iters"), number(&line, "repeats"))
        };
        let each: Vec<String> = (0..repeats)
            .map(|_| format!("{}", coldstart_counted_batch(iters)))
            .collect();
        let total: u128 = each.iter().map(|e| e.parse::<u128>().unwrap()).sum();
        writeln!(
            out,
            r#"{{"ok":true,"ns":{total},"each_ns":[{}],"metrics":{{"steps":{WORK},"cpus":{}}}}}"#,
            each.join(","),
            cpus_allowed()
        )
        .unwrap();
        out.flush().unwrap();
    }
}
