use super::*;

const LIB: &str = "mlx/0.32.2/cpu/libk.so";
const SRC: &str = "mlx/0.32.2/cpu/k.cpp";

/// A whole ELF file: this test binary.
fn whole_elf() -> Vec<u8> {
    std::fs::read(std::env::current_exe().unwrap()).unwrap()
}

fn write(root: &Path, rel: &str, body: &[u8]) {
    let f = root.join(rel);
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(f, body).unwrap();
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

#[test]
fn publishing_never_replaces_and_leaves_no_temporaries() {
    let d = tempfile::tempdir().unwrap();
    let (from, to) = (d.path().join("from"), d.path().join("to"));
    let elf = whole_elf();
    write(&from, LIB, &elf);
    write(&from, SRC, b"source");
    write(&from, "stray.txt", b"x");
    let p = publish_dir(&from, &to).unwrap();
    assert_eq!((p.new, p.kept), (2, 0));
    assert_eq!(p.bytes, elf.len() as u64 + 6);
    write(&from, SRC, b"rewritten");
    let p = publish_dir(&from, &to).unwrap();
    assert_eq!((p.new, p.kept), (0, 2));
    assert_eq!(std::fs::read(to.join(SRC)).unwrap(), b"source");
    assert_eq!(names_in(&to.join("mlx/0.32.2/cpu")), ["k.cpp", "libk.so"]);
    assert!(!to.join("stray.txt").exists());

    let copy = d.path().join("copy");
    assert_eq!(copy_dir(&to, &copy).unwrap(), 2);
    assert_eq!(std::fs::read(copy.join(LIB)).unwrap(), elf);
}

#[test]
fn a_library_still_being_written_and_a_lone_source_are_not_published() {
    let d = tempfile::tempdir().unwrap();
    let (from, to) = (d.path().join("from"), d.path().join("to"));
    let elf = whole_elf();
    // The linker has written the first half: the section headers are missing.
    write(&from, LIB, &elf[..elf.len() / 2]);
    write(&from, SRC, b"source");
    write(
        &from,
        "mlx/0.32.2/cpu/other.cpp",
        b"a source whose compile failed",
    );
    let p = publish_dir(&from, &to).unwrap();
    assert_eq!(p.new, 0);
    assert_eq!(p.incomplete, [LIB, SRC, "mlx/0.32.2/cpu/other.cpp"], "{p}");
    assert!(p.to_string().contains("3 left out as incomplete"), "{p}");
    assert!(!to.join(LIB).exists() && !to.join(SRC).exists());
    // Once whole, both go.
    write(&from, LIB, &elf);
    let p = publish_dir(&from, &to).unwrap();
    assert_eq!((p.new, p.incomplete.len()), (2, 1));
}

#[test]
fn whole_elf_files_are_told_from_cut_ones() {
    let elf = whole_elf();
    let header = &elf[..64];
    assert!(elf_is_whole(header, elf.len() as u64));
    assert!(!elf_is_whole(header, elf.len() as u64 - 1));
    assert!(!elf_is_whole(&[0u8; 64], 1 << 20));
    assert!(!elf_is_whole(&header[..16], elf.len() as u64));
}

/// The shared cache of the view tests: a CPU kernel and its source, a CUDA module
/// (PTX, names, source, cubin), a module whose PTX is missing, and the driver's cache.
fn shared_cache(root: &Path) {
    write(root, LIB, &whole_elf());
    write(root, SRC, b"source");
    for (rel, body) in [
        ("ptx/m.ptx", "ptx"),
        ("ptx/m.txt", "k\tmangled"),
        ("ptx/m.cu", "cuda source"),
        ("ptx/m.cubin", "cubin"),
        ("ptx/half.txt", "names of a module without its ptx"),
        ("ptx/lone.ptx", "a module without its names"),
        ("nv/index", "driver index"),
        ("nv/1/4/abc", "entry"),
    ] {
        write(root, rel, body.as_bytes());
    }
}

#[test]
fn a_view_links_what_mlx_only_reads_and_copies_or_leaves_the_rest() {
    let d = tempfile::tempdir().unwrap();
    let (shared, private) = (d.path().join("shared"), d.path().join("private"));
    shared_cache(&shared);
    std::fs::create_dir(&private).unwrap();
    let view = View::open(&shared, &private, ViewKind::Links).unwrap();
    let is_link = |rel: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(private.join(rel))
            .map(|m| m.file_type().is_symlink() || m.nlink() > 1)
            .ok()
    };
    for linked in [LIB, "ptx/m.ptx", "ptx/m.txt"] {
        assert_eq!(is_link(linked), Some(true), "{linked}");
    }
    for copied in ["ptx/m.cubin", "nv/index", "nv/1/4/abc"] {
        assert_eq!(is_link(copied), Some(false), "{copied}");
    }
    // Sources MLX only writes, and a module's PTX or names without the other, are not
    // there at all: MLX writes them with a truncating open, which a link would carry
    // into the cache, and fails on a PTX without its names.
    for absent in [SRC, "ptx/m.cu", "ptx/half.txt", "ptx/lone.ptx"] {
        assert_eq!(is_link(absent), None, "{absent}");
    }
    assert_eq!((view.linked(), view.copied), (3, 3));
    assert_eq!(
        std::fs::read(private.join(LIB)).unwrap(),
        std::fs::read(shared.join(LIB)).unwrap()
    );
    // Nothing of the program's own is published back; links are not files of its own.
    let p = publish_new(&private, &shared, &view).unwrap();
    assert_eq!((p.new, p.kept), (0, 3), "the copies are there already: {p}");
    assert!(view.written_through().is_empty());

    let copies = d.path().join("copies");
    std::fs::create_dir(&copies).unwrap();
    let all = View::open(&shared, &copies, ViewKind::Copies).unwrap();
    assert_eq!((all.linked(), all.copied), (0, 10));
}

#[test]
fn a_linker_replacing_a_linked_library_leaves_the_shared_one_alone() {
    let d = tempfile::tempdir().unwrap();
    let (shared, private) = (d.path().join("shared"), d.path().join("private"));
    shared_cache(&shared);
    std::fs::create_dir(&private).unwrap();
    let before = std::fs::read(shared.join(LIB)).unwrap();
    let view = View::open(&shared, &private, ViewKind::Links).unwrap();
    // What GNU ld does with its output path: unlink what is there, write a new file.
    std::fs::remove_file(private.join(LIB)).unwrap();
    std::fs::write(private.join(LIB), b"a new library").unwrap();
    assert_eq!(std::fs::read(shared.join(LIB)).unwrap(), before);
    assert!(view.written_through().is_empty());
}

#[test]
fn a_write_through_a_link_is_caught_and_a_rename_is_not() {
    let d = tempfile::tempdir().unwrap();
    let (shared, private) = (d.path().join("shared"), d.path().join("private"));
    shared_cache(&shared);
    std::fs::create_dir(&private).unwrap();
    let view = View::open(&shared, &private, ViewKind::Links).unwrap();
    // An import's repair: a whole new file renamed over the old one.
    place(&shared.join("ptx/m.txt"), &shared.join("ptx/m.ptx"), true).unwrap();
    assert!(view.written_through().is_empty());
    // A program truncating a linked file: the shared one is written in place.
    std::fs::write(private.join(LIB), b"truncated").unwrap();
    assert_eq!(view.written_through(), [shared.join(LIB)]);
}

#[test]
fn a_view_of_a_missing_cache_is_empty() {
    let d = tempfile::tempdir().unwrap();
    let view = View::open(&d.path().join("none"), d.path(), ViewKind::Links).unwrap();
    assert_eq!((view.linked(), view.copied), (0, 0));
    assert!(
        publish_dir(d.path(), &d.path().join("none"))
            .unwrap()
            .eq(&Published::default())
    );
    assert!(
        !d.path().join("none").exists(),
        "nothing to publish: no lock"
    );
}

#[test]
fn across_filesystems_the_view_copies_and_never_links_symbolically() {
    // /dev/shm is a tmpfs: another filesystem than the test's temporary directory
    // wherever that is not a tmpfs too.
    let Ok(shm) = tempfile::tempdir_in("/dev/shm") else {
        eprintln!("no /dev/shm here: the copy fallback is not exercised");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata(shm.path()).unwrap().dev() == std::fs::metadata(d.path()).unwrap().dev() {
        eprintln!("/dev/shm and the temporary directory share a filesystem: not exercised");
        return;
    }
    shared_cache(shm.path());
    let view = View::open(shm.path(), d.path(), ViewKind::Links).unwrap();
    assert_eq!((view.linked(), view.copied), (0, 6));
    let m = std::fs::symlink_metadata(d.path().join(LIB)).unwrap();
    assert!(m.file_type().is_file() && m.nlink() == 1);
    std::fs::write(d.path().join(LIB), b"into the copy").unwrap();
    assert_eq!(std::fs::read(shm.path().join(LIB)).unwrap(), whole_elf());
}

#[test]
fn a_file_removed_from_the_cache_stays_whole_in_the_view_and_nothing_is_written_back() {
    let d = tempfile::tempdir().unwrap();
    let (shared, private) = (d.path().join("shared"), d.path().join("private"));
    shared_cache(&shared);
    std::fs::create_dir(&private).unwrap();
    let view = View::open(&shared, &private, ViewKind::Links).unwrap();
    std::fs::remove_file(shared.join(LIB)).unwrap();
    // The view's name still holds the whole file: nothing dangles.
    assert_eq!(std::fs::read(private.join(LIB)).unwrap(), whole_elf());
    // A linker writing its output there replaces the view's entry only.
    std::fs::remove_file(private.join(LIB)).unwrap();
    std::fs::write(private.join(LIB), b"new").unwrap();
    assert!(!shared.join(LIB).exists());
    assert!(view.written_through().is_empty());
}

#[test]
fn views_live_in_the_cache_outside_its_layout_and_stale_ones_go() {
    let d = tempfile::tempdir().unwrap();
    let shared = d.path().join("shared");
    shared_cache(&shared);
    // A view left by a process that no longer runs (no pid is this large).
    let stale = shared.join(VIEWS_DIR).join("2147483646-dead");
    write(&stale, LIB, b"left over");
    let dir = view_dir(&shared).unwrap();
    assert!(dir.path().starts_with(shared.join(VIEWS_DIR)));
    assert!(!stale.exists(), "the dead process's view is removed");
    let view = View::open(&shared, dir.path(), ViewKind::Links).unwrap();
    assert_eq!(view.linked(), 3);
    // Views are never part of the cache's files.
    let rels: Vec<String> = layout::files(&shared)
        .unwrap()
        .into_iter()
        .map(|(f, _)| f.rel)
        .collect();
    assert!(rels.iter().all(|r| !r.contains(VIEWS_DIR)), "{rels:?}");
    let kept = dir.path().to_path_buf();
    drop(dir);
    assert!(!kept.exists());
}

#[test]
fn hard_links_are_not_published_back_and_a_relink_keeps_the_shared_file() {
    let d = tempfile::tempdir().unwrap();
    let (shared, private) = (d.path().join("shared"), d.path().join("private"));
    shared_cache(&shared);
    std::fs::create_dir(&private).unwrap();
    let view = View::open(&shared, &private, ViewKind::Links).unwrap();
    write(&private, "mlx/0.32.2/cpu/libnew.so", &whole_elf());
    let p = publish_new(&private, &shared, &view).unwrap();
    // The new kernel, and the copies (already there); never the links.
    assert_eq!((p.new, p.kept), (1, 3), "{p}");
}

#[test]
fn a_cut_library_in_the_cache_is_left_out_and_replaced_when_compiled_again() {
    let d = tempfile::tempdir().unwrap();
    let (shared, private) = (d.path().join("shared"), d.path().join("private"));
    let elf = whole_elf();
    write(&shared, LIB, &elf[..elf.len() / 3]);
    std::fs::create_dir(&private).unwrap();
    let view = View::open(&shared, &private, ViewKind::Links).unwrap();
    // MLX would load it and die: not in the view, so MLX compiles it.
    assert!(!private.join(LIB).exists());
    assert_eq!(view.broken.iter().collect::<Vec<_>>(), [LIB]);
    write(&private, LIB, &elf);
    let p = publish_new(&private, &shared, &view).unwrap();
    assert_eq!(
        (p.new, p.repaired.clone()),
        (0, vec![LIB.to_string()]),
        "{p}"
    );
    assert_eq!(std::fs::read(shared.join(LIB)).unwrap(), elf);
}
