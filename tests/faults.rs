//! Faults during `build` (issue 6): disk full, SIGKILL (at a chosen step of a 4 GiB build and at arbitrary moments),
//! a crash or a failed rename between the renames, inputs that cannot be read or change while being read, an output
//! path that is not a folder. In every case: non-zero exit, a message naming the cause and the file, the previous
//! image, layout and block map exactly as they were (or, once a commit has started, the complete new set after the
//! next run), and no temporary file left after the next run.
mod common;
mod reliability;

use std::{
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::{FileExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use common::*;
use reliability::*;
use rustix::process::{Pid, Signal};

/// A workspace with small real inputs, board A (the previous build, already in `out/`) and board B (one partition
/// more: its image, layout and block map all differ from A's).
struct Scene {
    ws: Workspace,
    a: PathBuf,
    b: PathBuf,
}

fn scene(rootfs_size: u64, rootfs_data: usize, storage_extra: &str) -> Scene {
    let ws = Workspace::new();
    small_inputs(&ws, rootfs_size, rootfs_data);
    let a = ws.board("a.toml", &board_toml("faults", false, storage_extra));
    let b = ws.board("b.toml", &board_toml("faults", true, storage_extra));
    let out = run(build_cmd(&ws, &a, &ws.out(), None));
    assert!(out.status.success(), "the previous build failed: {}", text(&out));
    Scene { ws, a, b }
}

impl Scene {
    /// Build board B into a new folder `name` and return that folder (the reference for "the complete new set").
    fn reference(&self, name: &str, board: &Path) -> PathBuf {
        let dir = self.ws.root().join(name);
        fs::create_dir_all(&dir).unwrap();
        let out = run(build_cmd(&self.ws, board, &dir, None));
        assert!(out.status.success(), "{}", text(&out));
        dir
    }
}

fn round_page(n: u64) -> u64 {
    n.div_ceil(4096) * 4096
}

#[test]
fn disk_full_while_writing_the_image_keeps_the_previous_artifacts() {
    let ns = mount_namespace();
    let s = scene(8 << 20, 2 << 20, "");
    let prev = s.ws.root().join("prev");
    copy_dir(&s.ws.out(), &prev);
    let new = s.reference("new", &s.b);
    // Room for the previous set and half the new image's data: the writer runs out of space in the middle.
    let size = round_page(allocated(&prev) + allocated(&new) / 2);
    let result = s.ws.root().join("result");
    let out = build_on_tmpfs(&ns, &s.ws, &s.b, &prev, size, None, &result);
    assert_failed(&out, 3, &["no space left on device", "sdcard.img", "nothing was replaced"]);
    assert_eq!(contents(&result.join("after")), contents(&prev), "the previous image, layout and block map changed");
}

/// Disk full at every step of a build (image data, layout, block map, journal; inode table full when a temporary is
/// created): each outcome is all or nothing.
#[test]
fn disk_full_at_any_step_is_all_or_nothing() {
    let ns = mount_namespace();
    let s = scene(8 << 20, 2 << 20, "");
    let prev = s.ws.root().join("prev");
    copy_dir(&s.ws.out(), &prev);
    let new = s.reference("new", &s.b);
    let (old_set, new_set) = (contents(&prev), contents(&new));
    let (p, n) = (allocated(&prev), allocated(&new));
    let mut sizes: Vec<(u64, Option<u64>)> = (0..6).map(|k| (round_page(p + n * k / 6), None)).collect();
    sizes.extend((0..8).map(|j| (round_page(p + n) + j * 4096, None)));
    sizes.push((round_page(p + n) + (1 << 20), None));
    // Inodes: the root folder and the previous files, then one more each time (image, layout, block map, the
    // binaries placed next to the layout, journal).
    let (old_files, new_files) = (old_set.len() as u64, new_set.len() as u64);
    sizes.extend((1 + old_files..=2 + old_files + new_files).map(|i| (round_page(p + n) + (1 << 20), Some(i))));
    let (mut failures, mut successes) = (0, 0);
    for (size, inodes) in sizes {
        let result = s.ws.root().join("result");
        let out = build_on_tmpfs(&ns, &s.ws, &s.b, &prev, size, inodes, &result);
        let after = contents(&result.join("after"));
        if out.status.success() {
            assert_eq!(after, new_set, "tmpfs size {size} inodes {inodes:?}: success but not the complete new set");
            successes += 1;
        } else {
            assert_failed(&out, 3, &["no space left on device", "nothing was replaced"]);
            assert_eq!(after, old_set, "tmpfs size {size} inodes {inodes:?}: failed and the previous set changed:\n{}", text(&out));
            failures += 1;
        }
    }
    assert!(failures >= 6 && successes >= 2, "the sweep missed a side: {failures} failures, {successes} successes");
}

#[test]
fn sigkill_in_the_middle_of_a_4_gib_build_keeps_the_previous_artifacts_and_the_next_run_cleans_up() {
    require("sgdisk");
    let ws = Workspace::new();
    let i = ws.images();
    make_stm32(&i.join("tf-a.stm32"), 90_000, "0x2ffc2500");
    make_stm32(&i.join("u-boot.stm32"), 300_000, "0xc0100000");
    // A 3.5 GiB ext4 made by mke2fs into a sparse file: the image is 4 GiB, its data a few MiB.
    make_ext4(&i.join("rootfs.ext4"), 3584 << 20, 4 << 20);
    let a = ws.board("a.toml", &board_toml("big", false, "size = \"4G\""));
    let b = ws.board("b.toml", &board_toml("big", true, "size = \"4G\""));
    let out = run(build_cmd(&ws, &a, &ws.out(), None));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fs::metadata(ws.out().join("sdcard.img")).unwrap().len(), 4 << 30);
    let before = snapshot(&ws.out());

    // Stop the build once the writer has copied the first chunk of the rootfs, then SIGKILL it from here.
    let log = ws.root().join("killed");
    let mut child = spawn(build_cmd(&ws, &b, &ws.out(), Some("writing:stop")), &log);
    wait_stopped(&mut child, &log);
    let temps = leftovers(&ws.out());
    let image_tmp = temps.iter().find(|n| n.starts_with(".stm32mp-imager.sdcard.img.") && n.ends_with(".tmp")).expect("the image temporary");
    assert_eq!(fs::metadata(ws.out().join(image_tmp)).unwrap().len(), 4 << 30, "the writer had sized the image");
    signal(&child, Signal::KILL);
    let status = child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(Signal::KILL.as_raw()));

    let mut after = snapshot(&ws.out());
    let left: Vec<String> = after.keys().filter(|n| n.starts_with(TEMP_PREFIX)).cloned().collect();
    assert!(!left.is_empty(), "a SIGKILLed build leaves its temporaries (nothing can remove them)");
    after.retain(|n, _| !n.starts_with(TEMP_PREFIX));
    assert_eq!(after, before, "the previous image, layout or block map was touched");

    // The next run removes what the killed one left, and builds.
    let out = run(build_cmd(&ws, &b, &ws.out(), None));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(leftovers(&ws.out()), Vec::<String>::new());
    let names: Vec<String> = snapshot(&ws.out()).into_keys().collect();
    // The image, the layout, its block map, and (issue 9) the binaries the layout names, next to it.
    assert_eq!(names, ["flash.tsv", "rootfs.ext4", "sdcard.img", "sdcard.img.bmap", "tf-a.stm32", "u-boot.stm32"]);
    let v = run_ok(Command::new("sgdisk").arg("-v").arg(ws.out().join("sdcard.img")));
    assert!(String::from_utf8_lossy(&v.stdout).contains("No problems found"), "{}", text(&v));
}

/// SIGKILL from outside at moments spread over a whole build (no hook: planning, writing, committing): the folder
/// always holds the whole previous set or the whole new set, and the next run leaves no temporary.
#[test]
fn sigkill_at_any_moment_is_all_or_nothing() {
    let s = scene(16 << 20, 4 << 20, "");
    let prev = s.ws.root().join("prev");
    copy_dir(&s.ws.out(), &prev);
    let new = s.reference("new", &s.b);
    let (old_set, new_set) = (contents(&prev), contents(&new));
    let started = Instant::now();
    let out = run(build_cmd(&s.ws, &s.b, &new, None));
    assert!(out.status.success());
    let full = started.elapsed();
    let mut outcomes = (0, 0);
    // Kills spread over the build's measured duration; the last run is not killed at all (the new set for sure),
    // the first is killed as soon as it is spawned (the previous set for sure): in between, anything but a mix.
    for k in 0..=14u32 {
        let dir = s.ws.root().join(format!("kill{k}"));
        copy_dir(&prev, &dir);
        let log = s.ws.root().join(format!("kill{k}.log"));
        let mut child = spawn(build_cmd(&s.ws, &s.b, &dir, None), &log);
        if k < 14 {
            std::thread::sleep(full * k / 12);
            // Our own child: if it has exited already, it is a zombie until waited for, and this does nothing.
            let _ = rustix::process::kill_process(Pid::from_child(&child), Signal::KILL);
        }
        let status = child.wait().unwrap();
        // A kill between the renames leaves a journal: the next run completes the commit first thing. `locked:kill`
        // stops that run right after its recovery, so what the recovery did is what is seen.
        let recovery = run(build_cmd(&s.ws, &s.b, &dir, Some("locked:kill")));
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&recovery.status), Some(Signal::KILL.as_raw()), "{}", text(&recovery));
        let set = contents(&dir);
        if set == old_set {
            outcomes.0 += 1;
        } else if set == new_set {
            outcomes.1 += 1;
        } else {
            panic!("killed after {:?} ({status}): neither the previous nor the new set: {set:?}", full * k / 12);
        }
    }
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "the kills did not cover both sides: {outcomes:?}");
}

/// The state a crash between two renames leaves (image renamed, layout and block map still temporaries, journal on
/// disk, plus an unrelated stale temporary): the next run completes the commit and removes the rest.
#[test]
fn a_crash_between_renames_is_completed_by_the_next_run() {
    let s = scene(8 << 20, 1 << 20, "");
    let new = s.reference("new", &s.b);
    let out = s.ws.out();
    fs::copy(new.join("sdcard.img"), out.join("sdcard.img")).unwrap();
    fs::copy(new.join("flash.tsv"), out.join(".stm32mp-imager.flash.tsv.AAAAAA.tmp")).unwrap();
    fs::copy(new.join("sdcard.img.bmap"), out.join(".stm32mp-imager.sdcard.img.bmap.BBBBBB.tmp")).unwrap();
    fs::write(out.join(".stm32mp-imager.sdcard.img.CCCCCC.tmp"), b"a killed run's partial image").unwrap();
    fs::write(
        out.join(".stm32mp-imager.journal"),
        ".stm32mp-imager.sdcard.img.DDDDDD.tmp\tsdcard.img\n.stm32mp-imager.flash.tsv.AAAAAA.tmp\tflash.tsv\n.stm32mp-imager.sdcard.img.bmap.BBBBBB.tmp\tsdcard.img.bmap\n",
    )
    .unwrap();
    let recovery = run(build_cmd(&s.ws, &s.a, &out, Some("locked:kill")));
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&recovery.status), Some(Signal::KILL.as_raw()), "{}", text(&recovery));
    assert_eq!(contents(&out), contents(&new));
}

/// A rename that fails in the middle of the commit (here a folder put where the layout goes): the image is already
/// replaced, so the rest of the set must not be deleted; the error says so and the next run completes the commit.
#[test]
fn a_rename_failing_mid_commit_is_rolled_forward_by_the_next_run() {
    let s = scene(8 << 20, 1 << 20, "");
    let new = s.reference("new", &s.b);
    let out = s.ws.out();
    let log = s.ws.root().join("staged");
    let mut child = spawn(build_cmd(&s.ws, &s.b, &out, Some("staged:stop")), &log);
    wait_stopped(&mut child, &log);
    fs::remove_file(out.join("flash.tsv")).unwrap();
    fs::create_dir(out.join("flash.tsv")).unwrap();
    fs::write(out.join("flash.tsv/in-the-way"), b"").unwrap();
    signal(&child, Signal::CONT);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{}", logs(&log));
    let msg = logs(&log);
    assert!(msg.contains("flash.tsv") && msg.contains("the commit did not finish"), "{msg}");
    fs::remove_dir_all(out.join("flash.tsv")).unwrap();
    let recovery = run(build_cmd(&s.ws, &s.a, &out, Some("locked:kill")));
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&recovery.status), Some(Signal::KILL.as_raw()), "{}", text(&recovery));
    assert_eq!(contents(&out), contents(&new), "the next run did not complete the interrupted commit");
}

/// Run the imager as an unprivileged user when we are root (root reads any file whatever its mode).
fn as_unprivileged(ws: &Workspace, mut c: Command) -> Command {
    if !rustix::process::geteuid().is_root() {
        return c;
    }
    require_tool("setpriv", "util-linux");
    for dir in [ws.root(), &ws.images()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The binary may sit under a folder `nobody` cannot enter (a CI clone in a private folder): run a copy.
    let exe = ws.root().join("stm32mp-imager");
    fs::copy(c.get_program(), &exe).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let mut s = Command::new("setpriv");
    s.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(&exe).args(c.get_args());
    s.env_remove("STM32MP_IMAGER_FAILPOINT");
    c = s;
    c
}

#[test]
fn an_input_that_cannot_be_read_stops_the_build_before_anything_is_written() {
    let s = scene(8 << 20, 1 << 20, "");
    let before = snapshot(&s.ws.out());
    let rootfs = s.ws.images().join("rootfs.ext4");
    let target = s.ws.images().join("rootfs.ext2");

    fs::set_permissions(&target, fs::Permissions::from_mode(0o000)).unwrap();
    let out = run(as_unprivileged(&s.ws, build_cmd(&s.ws, &s.b, &s.ws.out(), None)));
    assert_failed(&out, 1, &["permission denied", &rootfs.display().to_string(), "nothing was written"]);
    assert_eq!(snapshot(&s.ws.out()), before);
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();

    fs::rename(&target, s.ws.root().join("rootfs.ext2.away")).unwrap();
    let out = run(build_cmd(&s.ws, &s.b, &s.ws.out(), None));
    assert_failed(&out, 1, &["input::missing", "not found", &rootfs.display().to_string()]);
    assert_eq!(snapshot(&s.ws.out()), before);

    fs::create_dir(&target).unwrap();
    let out = run(build_cmd(&s.ws, &s.b, &s.ws.out(), None));
    assert_failed(&out, 1, &["not a regular file", &rootfs.display().to_string()]);
    assert_eq!(snapshot(&s.ws.out()), before);
}

/// Run board B with `point:stop`, do `meddle` while it is stopped, let it go on; returns its exit code and output.
fn meddle_at(s: &Scene, point: &str, meddle: impl FnOnce()) -> (Option<i32>, String) {
    let log = s.ws.root().join(format!("meddle-{point}"));
    let mut child = spawn(build_cmd(&s.ws, &s.b, &s.ws.out(), Some(&format!("{point}:stop"))), &log);
    wait_stopped(&mut child, &log);
    meddle();
    signal(&child, Signal::CONT);
    let status = child.wait().unwrap();
    (status.code(), logs(&log))
}

fn assert_io_failure(code: Option<i32>, msg: &str, needles: &[&str]) {
    assert_eq!(code, Some(3), "{msg}");
    for n in needles {
        assert!(msg.to_lowercase().contains(&n.to_lowercase()), "the message does not say `{n}`:\n{msg}");
    }
}

#[test]
fn an_input_removed_after_planning_fails_cleanly() {
    let s = scene(8 << 20, 1 << 20, "");
    let before = snapshot(&s.ws.out());
    let (code, msg) = meddle_at(&s, "planned", || fs::remove_file(s.ws.images().join("rootfs.ext2")).unwrap());
    assert_io_failure(code, &msg, &["rootfs.ext4", "no such file", "nothing was replaced"]);
    assert_eq!(snapshot(&s.ws.out()), before);
}

#[test]
fn an_input_that_grows_after_planning_fails_cleanly() {
    let s = scene(8 << 20, 1 << 20, "");
    let before = snapshot(&s.ws.out());
    let rootfs = s.ws.images().join("rootfs.ext2");
    let (code, msg) = meddle_at(&s, "planned", || OpenOptions::new().append(true).open(&rootfs).unwrap().write_all(&[1u8; 4096]).unwrap());
    assert_io_failure(code, &msg, &["rootfs.ext4", "changed while being read", "when planned"]);
    assert_eq!(snapshot(&s.ws.out()), before);
}

#[test]
fn an_input_that_changes_size_while_being_copied_fails_cleanly() {
    let s = scene(8 << 20, 1 << 20, "");
    let before = snapshot(&s.ws.out());
    let rootfs = s.ws.images().join("rootfs.ext2");
    let (code, msg) = meddle_at(&s, "writing", || OpenOptions::new().append(true).open(&rootfs).unwrap().write_all(&[1u8; 4096]).unwrap());
    assert_io_failure(code, &msg, &["rootfs.ext4", "changed while being read", "during the copy"]);
    assert_eq!(snapshot(&s.ws.out()), before);
}

/// Rewrite a few bytes of `path` at `offset` in place (same inode, same size). A file system with a coarse clock may
/// keep the same modification time: it is moved on a second then, so the change is visible for sure (what is tested
/// is that the build notices a changed input, not the clock's resolution).
fn rewrite_in_place(path: &Path, offset: u64) {
    let before = fs::metadata(path).unwrap().modified().unwrap();
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(b"rewritten", offset).unwrap();
    if file.metadata().unwrap().modified().unwrap() == before {
        file.set_modified(before + Duration::from_secs(1)).unwrap();
    }
}

#[test]
fn an_input_rewritten_in_place_while_being_copied_fails_cleanly() {
    let s = scene(8 << 20, 1 << 20, "");
    let before = snapshot(&s.ws.out());
    let rootfs = s.ws.images().join("rootfs.ext2");
    let (code, msg) = meddle_at(&s, "writing", || rewrite_in_place(&rootfs, 2 << 20));
    assert_io_failure(code, &msg, &["rootfs.ext4", "changed while being read"]);
    assert_eq!(snapshot(&s.ws.out()), before);
}

/// Regression: the binaries placed next to the layout were compared with the plan by size only, so one rewritten in
/// place with the same size after the image writer had copied it gave a layout whose U-Boot differs from the
/// image's, both committed, exit 0. The copy next to the layout must be of the file the image writer copied.
#[test]
fn a_placed_binary_rewritten_after_the_image_got_it_fails_cleanly() {
    let s = scene(8 << 20, 1 << 20, "");
    let before = snapshot(&s.ws.out());
    let ssbl = s.ws.images().join("u-boot.stm32");
    // Stopped once the image writer is copying the rootfs: U-Boot (at a lower offset) is in the image already.
    let (code, msg) = meddle_at(&s, "writing", || rewrite_in_place(&ssbl, 4096));
    assert_io_failure(code, &msg, &["u-boot.stm32", "changed while being read", "after it was copied into the image"]);
    assert_eq!(snapshot(&s.ws.out()), before);
}

/// The same, once the first binary next to the layout (TF-A) has been checked and before it is copied: the copy
/// would be of the new bytes, the image holds the old ones.
#[test]
fn a_placed_binary_rewritten_while_it_is_placed_fails_cleanly() {
    let s = scene(8 << 20, 1 << 20, "");
    let before = snapshot(&s.ws.out());
    let fsbl = s.ws.images().join("tf-a.stm32");
    let (code, msg) = meddle_at(&s, "placing", || rewrite_in_place(&fsbl, 4096));
    assert_io_failure(code, &msg, &["tf-a.stm32", "changed while being read", "while its copy next to the layout was made"]);
    assert_eq!(snapshot(&s.ws.out()), before);
}

#[test]
fn an_output_path_that_is_not_a_folder_is_refused() {
    let s = scene(8 << 20, 1 << 20, "");
    let before = snapshot(&s.ws.out());
    let root_before: Vec<String> = fs::read_dir(s.ws.root()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();

    let file = s.ws.out().join("sdcard.img");
    let out = run(build_cmd(&s.ws, &s.b, &file, None));
    assert_failed(&out, 3, &["is not a folder", &file.display().to_string()]);

    // A missing folder whose parent is missing too: refused, nothing created anywhere.
    let missing = s.ws.root().join("no-such-parent").join("no-such-folder");
    let out = run(build_cmd(&s.ws, &s.b, &missing, None));
    assert_failed(&out, 3, &["does not exist", &missing.display().to_string()]);
    assert!(!missing.exists() && !missing.parent().unwrap().exists());

    assert_eq!(snapshot(&s.ws.out()), before);
    let root_after: Vec<String> = fs::read_dir(s.ws.root()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(root_after, root_before, "something was created next to the output folder");

    // A missing folder inside an existing one is created (`--output out` on a fresh checkout), and only it.
    let fresh = s.ws.root().join("fresh-out");
    let out = run(build_cmd(&s.ws, &s.b, &fresh, None));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(fresh.join("sdcard.img").is_file() && fresh.join("flash.tsv").is_file());
    fs::remove_dir_all(&fresh).unwrap();

    // An output whose name is taken by a folder: refused before anything is replaced.
    fs::remove_file(s.ws.out().join("flash.tsv")).unwrap();
    fs::create_dir(s.ws.out().join("flash.tsv")).unwrap();
    let before = snapshot(&s.ws.out());
    let out = run(build_cmd(&s.ws, &s.b, &s.ws.out(), None));
    assert_failed(&out, 3, &["flash.tsv", "would replace the folder", "nothing was replaced"]);
    assert_eq!(snapshot(&s.ws.out()), before);
}

/// A board description or a layout that never ends (`/dev/zero`) was read until memory ran out: now refused after
/// 1 MiB. `inspect` reads only what it needs of a file that is not a layout.
#[test]
fn a_file_that_never_ends_is_refused_promptly() {
    let ws = Workspace::new();
    for sub in ["check", "build", "flash", "inspect"] {
        let log = ws.root().join(format!("zero-{sub}"));
        let mut c = imager();
        c.args([sub, "/dev/zero"]).env_remove("STM32MP_IMAGER_FAILPOINT");
        if sub == "check" || sub == "build" {
            c.arg("--images").arg(ws.images());
        }
        let mut child = spawn(c, &log);
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("`{sub} /dev/zero` still running after 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(1), "{sub}: {}", logs(&log));
        let expected = if sub == "inspect" { "unknown format" } else { "/dev/zero: more than 1048576 bytes" };
        assert!(logs(&log).contains(expected), "{sub}: {}", logs(&log));
    }
}

/// SIGTERM (a cancelled CI job), Ctrl-C or SIGHUP while the image is being written: the build removes its
/// temporaries and exits 130; the previous artifacts are untouched. (Should the signal be handled only once the
/// outputs are in place, the build finishes: every outcome is all or nothing, and none leaves a temporary.)
#[test]
fn sigterm_or_ctrl_c_while_writing_removes_the_temporaries_and_exits_130() {
    let s = scene(96 << 20, 48 << 20, "");
    let prev = s.ws.root().join("prev");
    copy_dir(&s.ws.out(), &prev);
    let new = s.reference("new", &s.b);
    let mut interrupted = 0;
    for sig in [Signal::TERM, Signal::INT, Signal::HUP] {
        let log = s.ws.root().join(format!("sig{}", sig.as_raw()));
        let mut child = spawn(build_cmd(&s.ws, &s.b, &s.ws.out(), Some("writing:stop")), &log);
        wait_stopped(&mut child, &log);
        assert!(!leftovers(&s.ws.out()).is_empty(), "the build had temporaries when the signal came");
        signal(&child, sig);
        signal(&child, Signal::CONT);
        let status = child.wait().unwrap();
        assert_eq!(leftovers(&s.ws.out()), Vec::<String>::new(), "signal {sig:?}: temporaries left:\n{}", logs(&log));
        match status.code() {
            Some(130) => {
                assert!(logs(&log).contains("interrupted: the temporaries were removed; nothing was replaced in"), "{}", logs(&log));
                assert_eq!(contents(&s.ws.out()), contents(&prev), "signal {sig:?}: the previous set changed");
                interrupted += 1;
            }
            Some(0) => {
                assert_eq!(contents(&s.ws.out()), contents(&new), "signal {sig:?}: finished but not the whole new set");
                // Back to the previous set for the next signal.
                for f in path_list(&s.ws.out()) {
                    fs::remove_file(f).unwrap();
                }
                copy_dir(&prev, &s.ws.out());
            }
            other => panic!("signal {sig:?}: exit {other:?}:\n{}", logs(&log)),
        }
    }
    assert!(interrupted > 0, "no signal interrupted the write");
}

/// A build waiting for the folder's lock is interrupted: it exits 130 and leaves the other build's temporaries
/// alone; the other build then finishes.
#[test]
fn an_interrupted_waiting_build_leaves_the_other_build_alone() {
    let s = scene(8 << 20, 1 << 20, "");
    let ref_a = contents(&s.ws.out());
    let log1 = s.ws.root().join("holder");
    let mut holder = spawn(build_cmd(&s.ws, &s.a, &s.ws.out(), Some("writing:stop")), &log1);
    wait_stopped(&mut holder, &log1);
    let temps = leftovers(&s.ws.out());
    assert!(!temps.is_empty());
    let log2 = s.ws.root().join("waiter");
    let mut waiter = spawn(build_cmd(&s.ws, &s.b, &s.ws.out(), None), &log2);
    wait_for_marker(&mut waiter, &log2, "waiting: another build is writing into");
    signal(&waiter, Signal::TERM);
    assert_eq!(waiter.wait().unwrap().code(), Some(130), "{}", logs(&log2));
    assert_eq!(leftovers(&s.ws.out()), temps, "the waiting build removed the other build's temporaries");
    signal(&holder, Signal::CONT);
    assert!(holder.wait().unwrap().success(), "{}", logs(&log1));
    assert_eq!(contents(&s.ws.out()), ref_a);
}
