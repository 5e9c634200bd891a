//! Support for the fault, concurrency and property tests (issue 6): snapshots of an output folder, builds run as child
//! processes with fault-injection points (`STM32MP_IMAGER_FAILPOINT`, see `src/effects/failpoint.rs`), and a private
//! mount namespace for a small tmpfs. Like `common::require`, a missing mechanism fails the test; it never skips.
#![allow(dead_code)]

pub mod model;

use std::{
    collections::BTreeMap,
    fs::{self, File},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use rustix::process::{Pid, Signal};

pub use crate::common::content_digest;
use crate::common::{OsArg, Workspace, imager, make_ext4, make_stm32, text};

/// Prefix of the temporaries the tool leaves only when killed.
pub const TEMP_PREFIX: &str = ".stm32mp-imager.";

/// Panic unless `tool` (from Debian package `package`) is on PATH.
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    assert!(found, "`{tool}` is missing: install the Debian package `{package}`; this test needs it and does not skip");
}

/// What a file is, for "exactly as it was": kernel-kept identity (inode, size, mtime, ctime: any write, truncation or
/// replacement changes one of them) and the SHA-256 of its data extents with their offsets (holes read as zeros are
/// not hashed, so a sparse 4 GiB image costs only its data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub ino: u64,
    pub len: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub data_sha256: String,
}

pub fn fingerprint(path: &Path) -> Fingerprint {
    let m = fs::symlink_metadata(path).unwrap();
    Fingerprint {
        ino: m.ino(),
        len: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
        data_sha256: if m.is_file() { content_digest(path) } else { "(not a file)".into() },
    }
}

/// Every entry of a folder (hidden ones too) with its fingerprint.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Fingerprint> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), fingerprint(&e.path()))
        })
        .collect()
}

/// Every entry of a folder with its content digest only (to compare sets written at different times or places).
pub fn contents(dir: &Path) -> BTreeMap<String, String> {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap()).map(|e| (e.file_name().to_string_lossy().into_owned(), content_digest(&e.path()))).collect()
}

/// Names in `dir` that are this tool's temporaries or journal.
pub fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with(TEMP_PREFIX)).collect()
}

/// Assert that a run failed with `code` and that its output says each of `needles` (case-insensitive).
pub fn assert_failed(out: &Output, code: i32, needles: &[&str]) {
    let all = text(out);
    assert_eq!(out.status.code(), Some(code), "expected exit {code}:\n{all}");
    for n in needles {
        assert!(all.to_lowercase().contains(&n.to_lowercase()), "the message does not say `{n}`:\n{all}");
    }
}

/// A board in `partitions` mode, so the image, the layout and the block map all change when a partition is added.
pub fn board_toml(name: &str, extra_partition: bool, storage_extra: &str) -> String {
    let mut t = format!(
        r#"[board]
name = "{name}"
soc = "stm32mp15"

[boot]
chain = "trusted"
fsbl = "tf-a.stm32"
ssbl = "u-boot.stm32"

[storage]
media = "sdcard"
image = "sdcard.img"
{storage_extra}

[flash]
layout = "flash.tsv"
mode = "partitions"

[[partition]]
name = "rootfs"
image = "rootfs.ext4"
bootable = true
"#
    );
    if extra_partition {
        t.push_str("\n[[partition]]\nname = \"data\"\nsize = \"1M\"\n");
    }
    t
}

/// Small real inputs: TF-A and U-Boot from mkimage, a `rootfs_size` ext4 from mke2fs holding `rootfs_data` bytes.
pub fn small_inputs(ws: &Workspace, rootfs_size: u64, rootfs_data: usize) {
    let i = ws.images();
    make_stm32(&i.join("tf-a.stm32"), 90_000, "0x2ffc2500");
    make_stm32(&i.join("u-boot.stm32"), 300_000, "0xc0100000");
    make_ext4(&i.join("rootfs.ext4"), rootfs_size, rootfs_data);
}

/// `build BOARD --images images/ --output OUT` as a command, with `failpoint` (`POINT:ACTION`) when given.
pub fn build_cmd(ws: &Workspace, board: &Path, out: &Path, failpoint: Option<&str>) -> Command {
    let mut c = imager();
    c.args([OsArg::from("build"), board.into(), "--images".into(), ws.images().into(), "--output".into(), out.into()]);
    c.env_remove("STM32MP_IMAGER_FAILPOINT");
    if let Some(f) = failpoint {
        c.env("STM32MP_IMAGER_FAILPOINT", f);
    }
    c
}

pub fn run(mut c: Command) -> Output {
    c.output().expect("run stm32mp-imager")
}

/// Start a build in the background (stdout and stderr to files under `log`, read them with [`logs`]).
pub fn spawn(mut c: Command, log: &Path) -> Child {
    c.stdout(File::create(log.with_extension("stdout")).unwrap()).stderr(File::create(log.with_extension("stderr")).unwrap()).stdin(Stdio::null());
    c.spawn().expect("spawn stm32mp-imager")
}

/// stdout + stderr of a spawned build.
pub fn logs(log: &Path) -> String {
    format!(
        "{}{}",
        fs::read_to_string(log.with_extension("stdout")).unwrap_or_default(),
        fs::read_to_string(log.with_extension("stderr")).unwrap_or_default()
    )
}

/// The state letter of a process (`R`, `S`, `T` stopped, `Z`...).
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next())
}

/// Wait until `log` says `marker` (panics if `child` exits first, or after a minute). Polls the log file: the
/// marker is the event waited for, never a guess of how long something takes.
pub fn wait_for_marker(child: &mut Child, log: &Path, marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !logs(log).contains(marker) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the build exited ({status}) before saying `{marker}`:\n{}", logs(log));
        }
        assert!(Instant::now() < deadline, "the build did not say `{marker}` in a minute:\n{}", logs(log));
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether another process holds the lock a build takes on its output folder (an exclusive `flock` on the folder).
pub fn folder_locked(dir: &Path) -> bool {
    let f = File::open(dir).unwrap();
    match f.try_lock() {
        Ok(()) => {
            f.unlock().unwrap();
            false
        }
        Err(fs::TryLockError::WouldBlock) => true,
        Err(fs::TryLockError::Error(e)) => panic!("cannot test the lock of {}: {e}", dir.display()),
    }
}

/// Wait until `child` has stopped itself at its failpoint (panics if it exits or takes a minute).
pub fn wait_stopped(child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the build exited ({status}) instead of stopping at its failpoint:\n{}", logs(log));
        }
        if proc_state(child.id()) == Some('T') {
            return;
        }
        assert!(Instant::now() < deadline, "the build did not reach its failpoint in a minute:\n{}", logs(log));
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn signal(child: &Child, sig: Signal) {
    if let Err(e) = rustix::process::kill_process(Pid::from_child(child), sig) {
        panic!("kill({}, {sig:?}) failed: {e}", child.id());
    }
}

/// How to get a private mount namespace to mount a tmpfs in, without touching the machine's mounts: `unshare -Urm`
/// (user + mount namespace; works unprivileged where user namespaces are enabled, and as root) or, as root,
/// `unshare -m`. Panics (the test fails, it does not skip) when neither works.
pub fn mount_namespace() -> Vec<&'static str> {
    require_tool("unshare", "util-linux");
    let probe = tempfile::tempdir().unwrap();
    let mut tried = String::new();
    for args in [vec!["-Urm"], vec!["-m"]] {
        let out = Command::new("unshare")
            .args(&args)
            .args(["sh", "-c", "mount -t tmpfs -o size=64k tmpfs \"$0\" && touch \"$0/x\""])
            .arg(probe.path())
            .output()
            .expect("run unshare");
        if out.status.success() {
            return args;
        }
        tried.push_str(&format!("unshare {}: {}", args.join(" "), text(&out)));
    }
    panic!("cannot mount a tmpfs in a private mount namespace (needs user namespaces or root):\n{tried}");
}

/// Run a build whose output folder `out` is a fresh tmpfs of `size` bytes (and `inodes` inodes when given), first
/// filled with a copy of `prev` (sparse). Everything happens in a private mount namespace; the folder's content
/// after the build is copied to `result/after` so the test can look at it. Returns the build's output.
pub fn build_on_tmpfs(ns: &[&str], ws: &Workspace, board: &Path, prev: &Path, size: u64, inodes: Option<u64>, result: &Path) -> Output {
    let _ = fs::remove_dir_all(result);
    fs::create_dir_all(result).unwrap();
    let out = ws.root().join("tmpfs-out");
    fs::create_dir_all(&out).unwrap();
    let script = r#"
        out=$1 prev=$2 size=$3 inodes=$4 imager=$5 board=$6 images=$7 result=$8
        opts="size=$size"
        [ -z "$inodes" ] || opts="$opts,nr_inodes=$inodes"
        mount -t tmpfs -o "$opts" tmpfs "$out"
        cp -a --sparse=always "$prev"/. "$out"/
        set +e
        "$imager" build "$board" --images "$images" --output "$out" > "$result/stdout" 2> "$result/stderr"
        echo $? > "$result/rc"
        set -e
        mkdir "$result/after"
        cp -a --sparse=always "$out"/. "$result/after"/
    "#;
    let status = Command::new("unshare")
        .args(ns)
        .args(["sh", "-euc", script, "sh"])
        .arg(&out)
        .arg(prev)
        .arg(size.to_string())
        .arg(inodes.map(|n| n.to_string()).unwrap_or_default())
        .arg(env!("CARGO_BIN_EXE_stm32mp-imager"))
        .arg(board)
        .arg(ws.images())
        .arg(result)
        .env_remove("STM32MP_IMAGER_FAILPOINT")
        .status()
        .expect("run unshare");
    assert!(status.success(), "the tmpfs harness failed ({status})");
    let code: i32 = fs::read_to_string(result.join("rc")).unwrap().trim().parse().unwrap();
    Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(code << 8),
        stdout: fs::read(result.join("stdout")).unwrap(),
        stderr: fs::read(result.join("stderr")).unwrap(),
    }
}

/// Bytes allocated to the files of a folder (what they take on a tmpfs).
pub fn allocated(dir: &Path) -> u64 {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().blocks() * 512).sum()
}

/// Copy a folder's files (sparse) into a new folder.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    let status = Command::new("cp").arg("-a").arg("--sparse=always").arg(format!("{}/.", from.display())).arg(to).status().unwrap();
    assert!(status.success());
}

pub fn path_list(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}
