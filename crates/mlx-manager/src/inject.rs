//! Test-only slowdown knobs, so that the regression gate's detection can be measured
//! on every path it guards instead of asserted. Compiled in only with the `inject`
//! feature (the workspace's benches turn it on); without it every hook is a plain
//! call of its closure.
//!
//! `COLDSTART_INJECT=forward=10%,shared_get=4ns` slows the named paths: a percentage
//! spins for that fraction of the time the path itself just took (for paths long
//! enough to time: `forward`, `weights_load`); a duration (`40ns`, `5us`, `2ms`) spins
//! for that long after it (any path; the only form `process_start` takes). Read once
//! per process; a malformed value panics with a message naming the variable, the
//! value and what it accepts, since a silently ignored knob would make a measurement
//! wrong.
//!
//! ```
//! use mlx_manager::inject::{Knobs, Path, Amount};
//! let k = Knobs::parse("forward=10%,shared_get=40ns").unwrap();
//! assert_eq!(k.get(Path::Forward), Some(Amount::Fraction(0.10)));
//! assert_eq!(k.get(Path::SharedGet), Some(Amount::Delay(std::time::Duration::from_nanos(40))));
//! assert_eq!(k.get(Path::PoolCheckout), None);
//! assert!(Knobs::parse("process_start=10%").is_err());
//! assert!(Knobs::parse("warp=1ms").is_err());
//! ```

use std::time::Duration;

/// The environment variable.
pub const ENV: &str = "COLDSTART_INJECT";

/// A path a knob can slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// A forward pass of the encoder fixture (`mlx_fixtures::encoder::Encoder::forward`).
    Forward,
    /// Reading a fixture's weights file into MLX arrays and evaluating them (encoder
    /// and tiny model; MLX loads lazily, so the read happens in the evaluation).
    WeightsLoad,
    /// A probe process's start, before MLX is initialised.
    ProcessStart,
    /// [`Manager::get`](crate::Manager::get) on a shared instance.
    SharedGet,
    /// [`Manager::get`](crate::Manager::get) on a pool (checkout).
    PoolCheckout,
}

impl Path {
    const ALL: [(Path, &'static str); 5] = [
        (Path::Forward, "forward"),
        (Path::WeightsLoad, "weights_load"),
        (Path::ProcessStart, "process_start"),
        (Path::SharedGet, "shared_get"),
        (Path::PoolCheckout, "pool_checkout"),
    ];

    fn index(self) -> usize {
        Path::ALL
            .iter()
            .position(|(p, _)| *p == self)
            .expect("listed")
    }
}

/// How much a knob slows its path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// This fraction of the time the path took.
    Fraction(f64),
    /// This long, after the path.
    Delay(Duration),
}

/// The knobs of this process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Knobs([Option<Amount>; 5]);

impl Knobs {
    /// Parses `path=amount[,path=amount...]`; the error names the variable, the
    /// value and what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let names: Vec<&str> = Path::ALL.iter().map(|(_, n)| *n).collect();
        let bad = |why: String| {
            format!(
                "{ENV}={text:?}: {why}; expected path=amount pairs separated by commas, paths {names:?}, \
                 amounts like 10% or 40ns, 5us, 2ms"
            )
        };
        let mut k = Knobs::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, amount) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("{part:?} has no '='")))?;
            let (path, _) = Path::ALL
                .iter()
                .find(|(_, n)| *n == name.trim())
                .ok_or_else(|| bad(format!("no path named {name:?}")))?;
            let amount = parse_amount(amount.trim())
                .ok_or_else(|| bad(format!("{amount:?} is not an amount")))?;
            if *path == Path::ProcessStart && matches!(amount, Amount::Fraction(_)) {
                return Err(bad(
                    "process_start cannot time itself: give it a duration".into()
                ));
            }
            k.0[path.index()] = Some(amount);
        }
        Ok(k)
    }

    /// The knob of `path`.
    pub fn get(&self, path: Path) -> Option<Amount> {
        self.0[path.index()]
    }
}

fn parse_amount(s: &str) -> Option<Amount> {
    if let Some(p) = s.strip_suffix('%') {
        let f: f64 = p.trim().parse().ok()?;
        return (f.is_finite() && (0.0..=1000.0).contains(&f))
            .then_some(Amount::Fraction(f / 100.0));
    }
    let (num, scale) = [
        ("ns", 1.0),
        ("us", 1e3),
        ("µs", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
    ]
    .iter()
    .find_map(|(suffix, scale)| s.strip_suffix(suffix).map(|n| (n, *scale)))?;
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0 && v * scale <= 60e9)
        .then(|| Amount::Delay(Duration::from_nanos((v * scale).round() as u64)))
}

#[cfg(feature = "inject")]
mod active {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use super::{Amount, ENV, Knobs};

    pub(super) fn knobs() -> &'static Knobs {
        static KNOBS: OnceLock<Knobs> = OnceLock::new();
        KNOBS.get_or_init(|| match std::env::var(ENV) {
            Ok(v) => Knobs::parse(&v).unwrap_or_else(|e| panic!("{e}")),
            Err(_) => Knobs::default(),
        })
    }

    /// Spin-loop iterations per nanosecond on this machine, measured once: a delay of
    /// a few nanoseconds cannot be timed with a clock that costs tens of them to read.
    fn spins_per_ns() -> f64 {
        static RATE: OnceLock<f64> = OnceLock::new();
        *RATE.get_or_init(|| {
            let n = 2_000_000u64;
            let t = Instant::now();
            spin_iters(n);
            n as f64 / t.elapsed().as_nanos().max(1) as f64
        })
    }

    fn spin_iters(n: u64) {
        for i in 0..n {
            std::hint::black_box(i);
            std::hint::spin_loop();
        }
    }

    pub(super) fn spin(d: Duration) {
        if d < Duration::from_micros(2) {
            spin_iters((d.as_nanos() as f64 * spins_per_ns()).round() as u64);
        } else {
            // On this thread's CPU clock: the delay is work this thread does, as a real
            // regression's would be. Spun on the wall clock, it let the process's other
            // threads (pinned to the same CPU by the gate) do their work inside it, and
            // `process_start=123us` added 78 µs to the probe's start.
            let until = thread_cpu() + d;
            while thread_cpu() < until {
                std::hint::spin_loop();
            }
        }
    }

    /// The CPU time this thread has used.
    pub(super) fn thread_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    pub(super) fn after<T>(amount: Amount, f: impl FnOnce() -> T) -> T {
        match amount {
            Amount::Fraction(x) => {
                let t = Instant::now();
                let out = f();
                spin(t.elapsed().mul_f64(x));
                out
            }
            Amount::Delay(d) => {
                let out = f();
                spin(d);
                out
            }
        }
    }
}

/// Runs `f`, then slows `path` as its knob says (nothing without the `inject`
/// feature or without a knob for `path`).
#[inline]
pub fn around<T>(path: Path, f: impl FnOnce() -> T) -> T {
    #[cfg(feature = "inject")]
    if let Some(a) = active::knobs().get(path) {
        return active::after(a, f);
    }
    #[cfg(not(feature = "inject"))]
    let _ = path;
    f()
}

/// The knobs this process runs with (empty without the `inject` feature).
pub fn current() -> Knobs {
    #[cfg(feature = "inject")]
    return active::knobs().clone();
    #[cfg(not(feature = "inject"))]
    Knobs::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_with_their_units() {
        let k =
            Knobs::parse(" weights_load = 2ms , pool_checkout=1.5us,process_start=0.5s").unwrap();
        assert_eq!(
            k.get(Path::WeightsLoad),
            Some(Amount::Delay(Duration::from_millis(2)))
        );
        assert_eq!(
            k.get(Path::PoolCheckout),
            Some(Amount::Delay(Duration::from_nanos(1500)))
        );
        assert_eq!(
            k.get(Path::ProcessStart),
            Some(Amount::Delay(Duration::from_millis(500)))
        );
        assert_eq!(Knobs::parse("").unwrap(), Knobs::default());
        for bad in [
            "forward",
            "forward=ten%",
            "forward=-1%",
            "forward=5",
            "forward=1h",
            "shared_get=nanms",
        ] {
            let e = Knobs::parse(bad).unwrap_err();
            assert!(e.contains(ENV) && e.contains("forward"), "{bad}: {e}");
        }
    }

    #[cfg(feature = "inject")]
    #[test]
    fn a_delay_spins_at_least_about_that_long() {
        let t = std::time::Instant::now();
        active::after(Amount::Delay(Duration::from_millis(3)), || ());
        assert!(t.elapsed() >= Duration::from_millis(3));
    }

    /// A delay is the calling thread's own work even when another thread shares its CPU
    /// (the gate pins a benchmark's process to one): spun on the wall clock, the
    /// competitor took about half of it.
    #[cfg(all(feature = "inject", target_os = "linux"))]
    #[test]
    fn a_delay_is_the_threads_own_cpu_time_when_another_thread_shares_its_cpu() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Barrier};
        // One CPU this process may use (a runner's cpuset need not hold CPU 0).
        // SAFETY: a zeroed cpu_set_t is a valid empty set that sched_getaffinity fills.
        let cpu = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
                0
            );
            (0..libc::CPU_SETSIZE as usize)
                .find(|&c| libc::CPU_ISSET(c, &set))
                .expect("a CPU")
        };
        let pin = move || {
            // SAFETY: as above; 0 is the calling thread.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                assert_eq!(
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
                    0
                );
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(Barrier::new(2));
        let competitor = {
            let (stop, ready) = (stop.clone(), ready.clone());
            std::thread::spawn(move || {
                pin();
                ready.wait();
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        };
        let d = Duration::from_millis(20);
        let used = std::thread::spawn(move || {
            pin();
            ready.wait();
            let before = active::thread_cpu();
            active::after(Amount::Delay(d), || ());
            active::thread_cpu() - before
        })
        .join()
        .unwrap();
        stop.store(true, Ordering::Relaxed);
        competitor.join().unwrap();
        assert!(
            used >= d,
            "the delay used {used:?} of this thread's CPU, not {d:?}"
        );
    }
}
