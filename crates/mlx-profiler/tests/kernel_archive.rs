//! Kernel archives: every case import must refuse, each with a crafted archive (built
//! here with the tar crate, headers written byte by byte where the crate itself
//! would refuse), and the manifests of other machines, edited here.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use mlx_profiler::exit;
use mlx_profiler::kernel_cache::archive::{self, Imported};
use mlx_profiler::kernel_cache::machine::{self, Machine};
use mlx_profiler::kernel_cache::manifest::{
    FileEntry, MANIFEST_FORMAT, MANIFEST_SCHEMA_VERSION, Manifest, sha256_of,
};
use mlx_profiler::kernel_cache::{CacheError, layout::Contents};
use mlx_profiler::provenance::Provenance;

/// One tar entry as written: the raw name, its type, data and link target.
struct Entry {
    name: Vec<u8>,
    kind: tar::EntryType,
    data: Vec<u8>,
    link: Option<&'static [u8]>,
}

fn file(name: &str, data: &[u8]) -> Entry {
    Entry {
        name: name.as_bytes().to_vec(),
        kind: tar::EntryType::Regular,
        data: data.to_vec(),
        link: None,
    }
}

/// A gzip-compressed tar of `entries`, names and link targets copied into the
/// header as they are (no checks: that is what is being tested).
fn tar_gz(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(e.kind);
        h.set_size(e.data.len() as u64);
        h.set_mode(0o644);
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..e.name.len()].copy_from_slice(&e.name);
        if let Some(l) = e.link {
            gnu.linkname[..l.len()].copy_from_slice(l);
        }
        h.set_cksum();
        b.append(&h, &e.data[..]).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn here() -> Machine {
    Machine::detect().unwrap()
}

fn kernel() -> String {
    format!("mlx/{}/cpu/libk.so", here().mlx_version)
}

/// The start of an ELF shared object for the ELF machine number `machine` (what
/// import reads of a CPU kernel's own header).
fn elf_for(machine: u16) -> Vec<u8> {
    let mut h = vec![0x7f, b'E', b'L', b'F', 2, 1, 1];
    h.resize(16, 0);
    h.extend(3u16.to_le_bytes()); // ET_DYN
    h.extend(machine.to_le_bytes());
    h.resize(64, 0);
    h
}

/// A kernel's bytes as this machine's compiler would start them.
fn elf() -> Vec<u8> {
    elf_for(match std::env::consts::ARCH {
        "aarch64" => 183,
        _ => 62,
    })
}

/// A manifest for `files` as this machine made them.
fn manifest(made: &Machine, files: &[(&str, &[u8])]) -> Manifest {
    Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        format: MANIFEST_FORMAT.into(),
        provenance: Provenance::fixed("2026-11-26T00:00:00Z"),
        machine: made.clone(),
        key: made.key(),
        nvrtc: vec![],
        files: files
            .iter()
            .map(|(p, d)| FileEntry {
                path: p.to_string(),
                size: d.len() as u64,
                sha256: sha256_of(*d).unwrap().0,
            })
            .collect(),
    }
}

fn manifest_entry(m: &Manifest) -> Entry {
    file("manifest.json", &serde_json::to_vec(m).unwrap())
}

/// Writes `bytes` as an archive and imports it into a new cache directory.
fn import(bytes: &[u8]) -> (tempfile::TempDir, Result<Imported, CacheError>) {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("k.tar.gz");
    std::fs::write(&path, bytes).unwrap();
    let r = archive::import(&path, &d.path().join("cache"), &here());
    (d, r)
}

/// Imports `bytes`, expects a refusal with `code` whose message contains `says`, and
/// nothing written.
fn refused(bytes: &[u8], code: u8, says: &str) {
    let (d, r) = import(bytes);
    let e = r.expect_err("import should refuse");
    let msg = e.to_string();
    assert_eq!(e.exit_code(), code, "{msg}");
    assert!(msg.contains(says), "expected {says:?} in: {msg}");
    assert!(msg.contains("nothing was written"), "{msg}");
    assert!(
        !d.path().join("cache").exists(),
        "the refused import left files"
    );
}

fn good_archive() -> Vec<u8> {
    let k = kernel();
    let m = manifest(&here(), &[(&k, &elf())]);
    tar_gz(&[manifest_entry(&m), file(&k, &elf())])
}

#[test]
fn a_good_archive_imports_and_a_corrupt_file_in_the_cache_is_replaced() {
    let (d, r) = import(&good_archive());
    let done = r.unwrap();
    assert_eq!((done.published.new, done.published.kept), (1, 0));
    let cache = d.path().join("cache");
    assert_eq!(std::fs::read(cache.join(kernel())).unwrap(), elf());
    // Nothing else: no staging directory, no temporary, only the lock beside.
    let mut top: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, [".coldstart-lock", "mlx"]);

    // The same file again: kept.
    let again = archive::import(&d.path().join("k.tar.gz"), &cache, &here()).unwrap();
    assert_eq!((again.published.new, again.published.kept), (0, 1));
    assert!(again.published.repaired.is_empty());
    // A file of other content under the same name: corrupt, replaced and reported
    // (it was kept silently before).
    std::fs::write(cache.join(kernel()), b"mine").unwrap();
    let again = archive::import(&d.path().join("k.tar.gz"), &cache, &here()).unwrap();
    assert_eq!(again.published.repaired, vec![kernel()]);
    assert!(again.published.to_string().contains("corrupt and replaced"));
    assert_eq!(std::fs::read(cache.join(kernel())).unwrap(), elf());
}

#[test]
fn sizes_that_wrap_around_do_not_slip_under_the_cap() {
    let k = kernel();
    let other = format!("mlx/{}/cpu/libother.so", here().mlx_version);
    let mut m = manifest(&here(), &[(&k, &elf()), (&other, &elf())]);
    m.files[0].size = u64::MAX - 5;
    m.files[1].size = 10;
    refused(
        &tar_gz(&[manifest_entry(&m), file(&k, &elf()), file(&other, &elf())]),
        exit::INTEGRITY,
        "over this import's limits",
    );
}

#[test]
fn a_manifest_over_the_limits_is_refused_before_anything_is_written() {
    // A 100 GB file declared: refused from the manifest alone.
    let k = kernel();
    let mut m = manifest(&here(), &[(&k, &elf())]);
    m.files[0].size = 100 << 30;
    refused(
        &tar_gz(&[manifest_entry(&m), file(&k, &elf())]),
        exit::INTEGRITY,
        "over this import's limits",
    );
    // Too many files for the limit given.
    let other = format!("mlx/{}/cpu/libother.so", here().mlx_version);
    let m = manifest(&here(), &[(&k, &elf()), (&other, &elf())]);
    let bytes = tar_gz(&[manifest_entry(&m), file(&k, &elf()), file(&other, &elf())]);
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("k.tar.gz");
    std::fs::write(&path, &bytes).unwrap();
    let cache = d.path().join("cache");
    let one = archive::ImportLimits {
        max_files: 1,
        ..Default::default()
    };
    let e = archive::import_with(&path, &cache, &here(), one, None).unwrap_err();
    assert!(e.to_string().contains("2 files"), "{e}");
    assert!(!cache.exists());
    // Within the defaults it imports.
    archive::import_with(&path, &cache, &here(), Default::default(), None).unwrap();
}

#[test]
fn a_publish_that_fails_part_way_takes_back_what_it_added() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let mine = cache.join(format!("mlx/{}/cpu/libmine.so", here().mlx_version));
    std::fs::create_dir_all(mine.parent().unwrap()).unwrap();
    std::fs::write(&mine, elf()).unwrap();
    let (a, b) = (
        format!("mlx/{}/cpu/liba.so", here().mlx_version),
        format!("mlx/{}/cpu/libb.so", here().mlx_version),
    );
    let m = manifest(&here(), &[(&a, &elf()), (&b, &elf())]);
    let path = d.path().join("k.tar.gz");
    std::fs::write(
        &path,
        tar_gz(&[manifest_entry(&m), file(&a, &elf()), file(&b, &elf())]),
    )
    .unwrap();
    // The first new file lands, then publishing fails.
    let e = archive::import_with(&path, &cache, &here(), Default::default(), Some(1)).unwrap_err();
    assert!(e.to_string().contains("injected failure"), "{e}");
    assert!(
        !cache.join(&a).exists(),
        "the file added first was taken back"
    );
    assert!(!cache.join(&b).exists());
    assert_eq!(std::fs::read(&mine).unwrap(), elf(), "the cache as it was");
    // A cache the import itself created keeps no kernel (only the publishers' lock).
    let fresh = d.path().join("fresh");
    archive::import_with(&path, &fresh, &here(), Default::default(), Some(1)).unwrap_err();
    let left: Vec<_> = std::fs::read_dir(&fresh)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, [".coldstart-lock"]);
}

#[test]
fn a_symbolic_link_out_of_the_cache_is_not_written_through() {
    let d = tempfile::tempdir().unwrap();
    let (cache, outside) = (d.path().join("cache"), d.path().join("outside"));
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, cache.join("mlx")).unwrap();
    let path = d.path().join("k.tar.gz");
    std::fs::write(&path, good_archive()).unwrap();
    let e = archive::import(&path, &cache, &here()).unwrap_err();
    assert_eq!(e.exit_code(), exit::INPUT, "{e}");
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing outside"
    );
    // A link that stays inside the cache is fine.
    std::fs::remove_file(cache.join("mlx")).unwrap();
    std::fs::create_dir_all(cache.join("real")).unwrap();
    std::os::unix::fs::symlink(cache.join("real"), cache.join("mlx")).unwrap();
    archive::import(&path, &cache, &here()).unwrap();
    assert!(
        cache
            .join("real")
            .join(kernel().trim_start_matches("mlx/"))
            .is_file()
    );
}

#[test]
fn a_kernel_built_for_another_machine_is_refused_whatever_the_manifest_claims() {
    // The manifest says this machine; the library's own header says aarch64 (or
    // x86_64 on an aarch64 machine).
    let k = kernel();
    let foreign = elf_for(if std::env::consts::ARCH == "aarch64" {
        62
    } else {
        183
    });
    let m = manifest(&here(), &[(&k, &foreign)]);
    refused(
        &tar_gz(&[manifest_entry(&m), file(&k, &foreign)]),
        exit::MISMATCH,
        "arch: the kernels were made for",
    );
    // Not ELF at all.
    let m = manifest(&here(), &[(&k, b"#!/bin/sh\n")]);
    refused(
        &tar_gz(&[manifest_entry(&m), file(&k, b"#!/bin/sh\n")]),
        exit::MISMATCH,
        "not ELF",
    );
}

#[test]
fn export_then_import_round_trips() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("c");
    let k = cache.join(kernel());
    std::fs::create_dir_all(k.parent().unwrap()).unwrap();
    std::fs::write(&k, elf()).unwrap();
    std::fs::write(cache.join("program-temp.txt"), b"not a kernel").unwrap();
    let out = d.path().join("out.tar.gz");
    let e = archive::export(&cache, &out, &here()).unwrap();
    assert_eq!(e.manifest.files.len(), 1);
    assert_eq!(e.manifest.key, here().key());
    let read = archive::manifest_of(&out).unwrap();
    assert_eq!(read.files, e.manifest.files);
    let i = archive::import(&out, &d.path().join("i"), &here()).unwrap();
    assert_eq!(i.published.new, 1);
    assert!(!d.path().join("i/program-temp.txt").exists());
}

#[test]
fn absolute_paths_are_refused() {
    let m = manifest(&here(), &[]);
    refused(
        &tar_gz(&[manifest_entry(&m), file("/tmp/evil.so", b"x")]),
        exit::INTEGRITY,
        "absolute path",
    );
}

#[test]
fn parent_components_are_refused() {
    let m = manifest(&here(), &[]);
    let climb = format!("mlx/{}/cpu/../../../../evil.so", here().mlx_version);
    refused(
        &tar_gz(&[manifest_entry(&m), file(&climb, b"x")]),
        exit::INTEGRITY,
        "`..`",
    );
}

#[test]
fn links_and_devices_are_refused() {
    let m = manifest(&here(), &[]);
    for (kind, says) in [
        (tar::EntryType::Symlink, "symbolic link"),
        (tar::EntryType::Link, "hard link"),
        (tar::EntryType::Char, "character device"),
        (tar::EntryType::Block, "block device"),
        (tar::EntryType::Fifo, "FIFO"),
    ] {
        let e = Entry {
            name: kernel().into_bytes(),
            kind,
            data: vec![],
            link: Some(b"/etc/passwd"),
        };
        refused(&tar_gz(&[manifest_entry(&m), e]), exit::INTEGRITY, says);
    }
}

#[test]
fn files_outside_the_layout_are_refused() {
    let m = manifest(&here(), &[]);
    refused(
        &tar_gz(&[manifest_entry(&m), file("bin/run-me.sh", b"#!/bin/sh")]),
        exit::INTEGRITY,
        "outside the kernel cache layout",
    );
    // Listed in the manifest: the manifest itself is refused.
    let listed = manifest(&here(), &[("bin/run-me.sh", b"#!/bin/sh")]);
    refused(
        &tar_gz(&[manifest_entry(&listed), file("bin/run-me.sh", b"#!/bin/sh")]),
        exit::INTEGRITY,
        "outside the kernel cache layout",
    );
    // A kernel of another MLX version than the manifest's.
    let other = "mlx/0.0.1/cpu/libk.so";
    refused(
        &tar_gz(&[manifest_entry(&m), file(other, b"x")]),
        exit::INTEGRITY,
        "not listed in the manifest",
    );
}

#[test]
fn hash_and_size_mismatches_are_refused() {
    let k = kernel();
    let m = manifest(&here(), &[(&k, b"kernel")]);
    refused(
        &tar_gz(&[manifest_entry(&m), file(&k, b"kernem")]),
        exit::INTEGRITY,
        "SHA-256",
    );
    refused(
        &tar_gz(&[manifest_entry(&m), file(&k, b"kernel!")]),
        exit::INTEGRITY,
        "bytes, the manifest says 6",
    );
}

#[test]
fn unlisted_missing_and_repeated_files_are_refused() {
    let k = kernel();
    let listed = manifest(&here(), &[(&k, b"kernel")]);
    let empty = manifest(&here(), &[]);
    refused(
        &tar_gz(&[manifest_entry(&empty), file(&k, b"kernel")]),
        exit::INTEGRITY,
        "not listed in the manifest",
    );
    refused(
        &tar_gz(&[manifest_entry(&listed)]),
        exit::INTEGRITY,
        "listed in the manifest but not in the archive",
    );
    refused(
        &tar_gz(&[
            manifest_entry(&listed),
            file(&k, b"kernel"),
            file(&k, b"kernel"),
        ]),
        exit::INTEGRITY,
        "appears twice",
    );
}

#[test]
fn truncated_and_foreign_archives_are_refused() {
    let good = good_archive();
    for cut in [good.len() - 4, good.len() / 2, 30] {
        let (d, r) = import(&good[..cut]);
        let e = r.expect_err("a truncated archive must be refused");
        assert_eq!(e.exit_code(), exit::INTEGRITY, "cut at {cut}: {e}");
        assert!(!d.path().join("cache").exists());
    }
    let k = kernel();
    refused(
        &tar_gz(&[file(&k, b"kernel")]),
        exit::INTEGRITY,
        "not the manifest",
    );
    refused(b"plain text", exit::INTEGRITY, "cannot be read");
}

#[test]
fn manifests_of_other_machines_are_refused_naming_the_field() {
    let k = kernel();
    let here = here();
    let cases: [(Machine, &str); 4] = [
        (
            Machine {
                mlx_version: "0.31.0".into(),
                ..here.clone()
            },
            "mlx_version",
        ),
        (
            Machine {
                cpu_isa: [here.cpu_isa.clone(), vec!["avx10_fake".into()]].concat(),
                ..here.clone()
            },
            "cpu_isa",
        ),
        (
            Machine {
                compiler: Some("g++ (GCC) 99.1.0".into()),
                ..here.clone()
            },
            "compiler",
        ),
        (
            Machine {
                arch: "riscv64".into(),
                ..here.clone()
            },
            "arch",
        ),
    ];
    for (made, field) in cases {
        // The kernel path follows the manifest's MLX version, as an export makes it.
        let path = k.replace(&here.mlx_version, &made.mlx_version);
        let m = manifest(&made, &[(&path, b"kernel")]);
        let bytes = tar_gz(&[manifest_entry(&m), file(&path, b"kernel")]);
        let (_d, r) = import(&bytes);
        let e = r.expect_err("another machine's archive must be refused");
        assert_eq!(e.exit_code(), exit::MISMATCH, "{e}");
        let msg = e.to_string();
        assert!(msg.starts_with("refused the archive"), "{msg}");
        assert!(
            msg.contains(&format!("{field}: the kernels were made for")),
            "{msg}"
        );
        assert!(
            msg.contains("mlx-profile cache warm"),
            "no fix named: {msg}"
        );
    }
}

#[test]
fn another_compute_capability_is_refused() {
    // A CUDA machine's manifest with its compute capability edited: checked with the
    // same function import uses, this machine being a CUDA one.
    let gpu = Machine {
        backend: "cuda".into(),
        compute_capability: Some("9.0".into()),
        ..here()
    };
    let made = Machine {
        compute_capability: Some("8.0".into()),
        ..gpu.clone()
    };
    let ptx = Contents::of([("ptx/Cf4_1.ptx", 700_000)]);
    let m = machine::check(&made, &ptx, &gpu).unwrap_err();
    assert_eq!(m.field, "compute_capability");
    assert_eq!((m.archive.as_str(), m.here.as_str()), ("8.0", "9.0"));
    assert!(machine::check(&gpu, &ptx, &gpu).is_ok());
}

#[test]
fn refusing_leaves_an_existing_cache_as_it_was() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let mine = cache.join(kernel());
    std::fs::create_dir_all(mine.parent().unwrap()).unwrap();
    std::fs::write(&mine, b"mine").unwrap();
    let k = kernel();
    let other = format!("mlx/{}/cpu/libother.so", here().mlx_version);
    let m = manifest(&here(), &[(&other, &elf()), (&k, b"kernel")]);
    // The first file is fine, the second damaged: neither may land.
    let bytes = tar_gz(&[
        manifest_entry(&m),
        file(&other, &elf()),
        file(&k, b"kernex"),
    ]);
    let path = d.path().join("k.tar.gz");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&bytes).unwrap();
    let e = archive::import(&path, &cache, &here()).unwrap_err();
    assert_eq!(e.exit_code(), exit::INTEGRITY);
    assert!(!Path::new(&cache.join(&other)).exists());
    assert_eq!(std::fs::read(&mine).unwrap(), b"mine");
    let left: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["mlx"], "no staging directory stays behind");
}

fn mlx_profile() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("mlx-profile").unwrap();
    c.env_remove("COLDSTART_KERNEL_CACHE")
        .env_remove("MLX_DISABLE_COMPILE");
    c
}

#[test]
fn the_cli_warms_exports_imports_and_reports() {
    use predicates::prelude::*;
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let (cache, copy) = (d.path().join("cache"), d.path().join("copy"));
    // Stands in for an MLX program: one kernel (an ELF header for this machine, which
    // status reads), and a temporary file of its own.
    let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1];
    elf.resize(18, 0);
    let e_machine: u16 = if cfg!(target_arch = "aarch64") {
        183
    } else {
        62
    };
    elf.extend(e_machine.to_le_bytes());
    // Whole, as a linker leaves it: one section header, at the end (a cut library is
    // not published).
    elf.resize(128, 0);
    elf[0x28..0x30].copy_from_slice(&64u64.to_le_bytes());
    elf[0x34..0x36].copy_from_slice(&64u16.to_le_bytes());
    elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
    elf[0x3c..0x3e].copy_from_slice(&1u16.to_le_bytes());
    let head = d.path().join("elf-head");
    std::fs::write(&head, &elf).unwrap();
    let program = d.path().join("program.sh");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\nk=\"$TMPDIR/mlx/{}/cpu\"\nmkdir -p \"$k\"\ncat '{}' > \"$k/libk.so\"\necho x > \"$TMPDIR/scratch.txt\"\nexit ${{FAIL:-0}}\n",
            here().mlx_version,
            head.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |args: &[&str]| {
        let mut c = mlx_profile();
        c.args(args);
        c
    };
    let cache_s = cache.to_str().unwrap();
    let program_s = program.to_str().unwrap();

    // A program that fails publishes nothing (exit 4).
    run(&["cache", "warm", "--dir", cache_s, "--", program_s])
        .env("FAIL", "3")
        .assert()
        .code(i32::from(exit::PROGRAM))
        .stderr(predicate::str::contains("exited with code 3"));
    assert!(!cache.join(kernel()).exists());

    run(&["cache", "warm", "--dir", cache_s, "--", program_s])
        .assert()
        .success();
    assert_eq!(std::fs::read(cache.join(kernel())).unwrap(), elf);
    assert!(!cache.join("scratch.txt").exists());
    run(&["cache", "status", "--dir", cache_s])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("1 CPU kernels")
                .and(predicate::str::contains("fits this machine: yes")),
        );

    let out = d.path().join("k.tar.gz");
    let out_s = out.to_str().unwrap();
    run(&["cache", "export", "--dir", cache_s, "--out", out_s])
        .assert()
        .success();
    run(&["cache", "status", out_s]).assert().success();
    run(&["cache", "import", out_s, "--dir", copy.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 new files"));
    assert_eq!(std::fs::read(copy.join(kernel())).unwrap(), elf);

    // Refusals through the CLI: their exit codes.
    let k = kernel();
    let m = manifest(&here(), &[(&k, b"kernel")]);
    std::fs::write(&out, tar_gz(&[manifest_entry(&m), file(&k, b"kernex")])).unwrap();
    run(&["cache", "import", out_s, "--dir", copy.to_str().unwrap()])
        .assert()
        .code(i32::from(exit::INTEGRITY));
    let old = Machine {
        mlx_version: "0.31.0".into(),
        ..here()
    };
    let path = k.replace(&here().mlx_version, "0.31.0");
    let m = manifest(&old, &[(&path, b"kernel")]);
    std::fs::write(&out, tar_gz(&[manifest_entry(&m), file(&path, b"kernel")])).unwrap();
    run(&["cache", "import", out_s, "--dir", cache_s])
        .assert()
        .code(i32::from(exit::MISMATCH))
        .stderr(predicate::str::contains(
            "mlx_version: the kernels were made for 0.31.0",
        ));
    run(&["cache", "status", out_s])
        .assert()
        .code(i32::from(exit::MISMATCH))
        .stdout(predicate::str::contains(
            "fits this machine: no, mlx_version",
        ));
}

#[test]
fn mlx_disable_compile_set_to_off_is_warned_about_once() {
    use predicates::prelude::*;
    let out = mlx_profile()
        .args(["cache", "status", "--key"])
        .env("MLX_DISABLE_COMPILE", "0")
        .assert()
        .success()
        .stdout(predicate::str::contains(here().key()))
        .get_output()
        .stderr
        .clone();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("MLX_DISABLE_COMPILE").count(), 2, "{text}");
    assert_eq!(text.lines().count(), 1, "warned more than once: {text}");
}
