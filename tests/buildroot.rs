//! Buildroot mode end to end: the binary runs as Buildroot runs a post-image script, in a faithful environment.
//!
//! Each test builds a fake Buildroot output tree in a temporary folder: `BR2_CONFIG` derived from a shipped defconfig
//! (its lines are valid `.config` lines; `$(BR2_EXTERNAL_STM32MP_IMAGER_PATH)` is expanded and the
//! `BR2_EXTERNAL_*` lines Buildroot adds are prepended; symbols a defconfig leaves out read as "not set", as in a real
//! `.config`), a `TARGET_DIR` with `boot/extlinux/extlinux.conf`, and a `BINARIES_DIR` whose inputs are made by the
//! real tools: `mkimage -T stm32image` (u-boot-tools) for TF-A and U-Boot, `mke2fs -d TARGET_DIR` (e2fsprogs) for
//! `rootfs.ext2`, with the `rootfs.ext4 -> rootfs.ext2` symlink Buildroot makes. The environment is the one
//! Buildroot's Makefile exports; the current folder is a stand-in for Buildroot's top folder. `sgdisk -v` (gdisk)
//! checks the image and `shellcheck` the shim. A missing oracle fails the test (scripts/test.sh installs them).

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::SystemTime,
};

const BIN: &str = env!("CARGO_BIN_EXE_stm32mp-imager");
const REPO: &str = env!("CARGO_MANIFEST_DIR");
const DK2_PARTUUID: &str = "E91C4E10-16E6-4C0E-BD0E-77BECF4A3582";
const EV1_PARTUUID: &str = "491F6117-415D-4F53-88C9-6E0DE54DEAC6";

fn tree() -> PathBuf {
    Path::new(REPO).join("buildroot-external")
}

/// Run an oracle; a missing tool is a failure that says how to get it.
fn oracle(tool: &str, package: &str, args: &[&str]) -> Output {
    match Command::new(tool).args(args).output() {
        Ok(o) => o,
        Err(e) => panic!("oracle `{tool}` cannot run ({e}): install the Debian package {package} (scripts/test.sh does)"),
    }
}

fn oracle_ok(tool: &str, package: &str, args: &[&str]) -> String {
    let o = oracle(tool, package, args);
    assert!(o.status.success(), "{tool} {args:?} failed: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Board {
    Dk2,
    Ev1,
}

impl Board {
    fn name(self) -> &'static str {
        match self {
            Board::Dk2 => "stm32mp157c-dk2",
            Board::Ev1 => "stm32mp157c-ev1",
        }
    }
    fn defconfig(self) -> PathBuf {
        tree().join("configs").join(format!("{}_imager_trusted_defconfig", self.name().replace('-', "_")))
    }
    fn image(self) -> &'static str {
        match self {
            Board::Dk2 => "sdcard.img",
            Board::Ev1 => "emmc.img",
        }
    }
    fn rootfs_number(self) -> u32 {
        match self {
            Board::Dk2 => 4,
            Board::Ev1 => 2,
        }
    }
    fn partuuid(self) -> &'static str {
        match self {
            Board::Dk2 => DK2_PARTUUID,
            Board::Ev1 => EV1_PARTUUID,
        }
    }
}

/// A Buildroot output tree in a temporary folder.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// Stand-in for Buildroot's top folder (the script's current folder).
    top: PathBuf,
    images: PathBuf,
    target: PathBuf,
    host: PathBuf,
    config: PathBuf,
    board: Board,
}

impl World {
    /// The shipped defconfig and overlay of `board`, inputs made by the real tools.
    fn new(board: Board) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let top = root.join("buildroot");
        let out = top.join("output");
        let w = World {
            top: top.clone(),
            images: out.join("images"),
            target: out.join("target"),
            host: out.join("host"),
            config: out.join(".config"),
            root,
            _tmp: tmp,
            board,
        };
        for d in [&w.images, &w.target.join("etc"), &w.host.join("bin"), &out.join("build"), &out.join("staging")] {
            fs::create_dir_all(d).unwrap();
        }
        w.write_config(&derived_config(board));
        // TARGET_DIR as the overlay leaves it.
        let overlay = tree().join("board").join(board.name()).join("overlay/boot/extlinux/extlinux.conf");
        w.write_extlinux(&fs::read_to_string(overlay).unwrap());
        fs::write(w.target.join("etc/hostname"), "buildroot\n").unwrap();
        w.make_inputs();
        w
    }

    fn write_config(&self, text: &str) {
        fs::write(&self.config, text).unwrap();
    }

    fn edit_config(&self, from: &str, to: &str) {
        let text = fs::read_to_string(&self.config).unwrap();
        assert!(text.contains(from), "the derived .config has no `{from}`");
        self.write_config(&text.replacen(from, to, 1));
    }

    fn write_extlinux(&self, text: &str) {
        let dir = self.target.join("boot/extlinux");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("extlinux.conf"), text).unwrap();
    }

    fn set_root(&self, root: &str) {
        let text = fs::read_to_string(self.target.join("boot/extlinux/extlinux.conf")).unwrap();
        let line = text.lines().find(|l| l.trim_start().starts_with("append")).unwrap().to_string();
        self.write_extlinux(&text.replace(&line, &format!("  append {root} rootwait")));
    }

    /// TF-A and U-Boot with real STM32 headers, rootfs.ext2 made from TARGET_DIR, rootfs.ext4 -> rootfs.ext2.
    fn make_inputs(&self) {
        let work = self.root.join("payloads");
        fs::create_dir_all(&work).unwrap();
        let stm32 = |payload_len: usize, load: &str, out: &str| {
            let payload = work.join(format!("{out}.bin"));
            fs::write(&payload, b"stm32mp-imager test payload, not firmware\n".repeat(payload_len / 43 + 1)).unwrap();
            let dest = self.images.join(out);
            oracle_ok(
                "mkimage",
                "u-boot-tools",
                &["-T", "stm32image", "-a", load, "-e", load, "-d", payload.to_str().unwrap(), dest.to_str().unwrap()],
            );
        };
        stm32(48 * 1024, "0x2ffc2500", &format!("tf-a-{}.stm32", self.board.name()));
        stm32(128 * 1024, "0xc0100000", "u-boot.stm32");
        let ext2 = self.images.join("rootfs.ext2");
        oracle_ok("mke2fs", "e2fsprogs", &["-q", "-F", "-t", "ext4", "-d", self.target.to_str().unwrap(), ext2.to_str().unwrap(), "8M"]);
        std::os::unix::fs::symlink("rootfs.ext2", self.images.join("rootfs.ext4")).unwrap();
    }

    /// The environment Buildroot's Makefile exports to a post-image script.
    fn env(&self) -> BTreeMap<String, String> {
        let out = self.top.join("output");
        let s = |p: &Path| p.display().to_string();
        let path = format!("{}:{}:{}", s(&self.host.join("bin")), s(&self.host.join("sbin")), std::env::var("PATH").unwrap_or_default());
        [
            ("PATH", path),
            ("BR2_CONFIG", s(&self.config)),
            ("HOST_DIR", s(&self.host)),
            ("TARGET_DIR", s(&self.target)),
            ("STAGING_DIR", s(&out.join("staging"))),
            ("BINARIES_DIR", s(&self.images)),
            ("BUILD_DIR", s(&out.join("build"))),
            ("BASE_DIR", s(&out)),
            ("CONFIG_DIR", s(&out)),
            ("O", s(&out)),
            ("BR2_DL_DIR", s(&self.top.join("dl"))),
            ("PARALLEL_JOBS", "2".into()),
            ("BR2_VERSION", "2026.08-rc1".into()),
            ("BR2_EXTERNAL_NAMES", "STM32MP_IMAGER".into()),
            ("BR2_EXTERNAL_STM32MP_IMAGER_PATH", s(&tree())),
            ("BR2_EXTERNAL_STM32MP_IMAGER_DESC", "stm32mp-imager: STM32MP1 GPT images and flash layouts".into()),
            ("BR2_EXTERNAL_STM32MP_IMAGER_VERSION", "".into()),
            ("TZ", "UTC".into()),
            ("LANG", "C".into()),
            ("LC_ALL", "C".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Run `program` with Buildroot's argv (`$1` = BINARIES_DIR, then `args`), environment and current folder.
    fn run_program(&self, program: &Path, prefix: &[&str], args: &[&str], env: &BTreeMap<String, String>) -> Run {
        let before = snapshot(&self.root, &self.images);
        let watched_before = snapshot(&tree(), Path::new("/nonexistent"));
        let out = Command::new(program).args(prefix).arg(&self.images).args(args).env_clear().envs(env).current_dir(&self.top).output().unwrap();
        let after = snapshot(&self.root, &self.images);
        assert_eq!(before, after, "something outside BINARIES_DIR was written");
        assert_eq!(watched_before, snapshot(&tree(), Path::new("/nonexistent")), "the BR2_EXTERNAL tree was written");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn run_with(&self, args: &[&str], env: &BTreeMap<String, String>) -> Run {
        self.run_program(Path::new(BIN), &["buildroot-post-image"], args, env)
    }

    /// Run as the shipped defconfig does: `--board NAME` from BR2_ROOTFS_POST_SCRIPT_ARGS.
    fn run(&self) -> Run {
        let args = post_script_args(self.board);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run_with(&args, &self.env())
    }

    fn artifact(&self, name: &str) -> PathBuf {
        self.images.join(name)
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit status\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
    fn assert_problem(&self, severity: &str, code: &str) -> &Run {
        let tag = format!("{severity}[{code}]");
        assert!(self.stderr.contains(&tag), "no `{tag}` in stderr:\n{}", self.stderr);
        self
    }
    fn assert_stderr(&self, text: &str) -> &Run {
        assert!(self.stderr.contains(text), "no `{text}` in stderr:\n{}", self.stderr);
        self
    }
    fn assert_no_problems(&self) -> &Run {
        assert!(!self.stderr.contains("warning[") && !self.stderr.contains("error["), "unexpected problems:\n{}", self.stderr);
        self
    }
}

/// Files and folders under `root` (outside `skip`) with size and modification time.
fn snapshot(root: &Path, skip: &Path) -> BTreeMap<PathBuf, (u64, Option<SystemTime>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path == skip {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            out.insert(path.clone(), (meta.len(), meta.modified().ok()));
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// A `.config` derived from a shipped defconfig, as described at the top of this file.
fn derived_config(board: Board) -> String {
    let defconfig = fs::read_to_string(board.defconfig()).unwrap();
    let tree = tree().display().to_string();
    format!(
        "#\n# Automatically generated file; DO NOT EDIT.\n# Buildroot 2026.08-rc1 Configuration\n#\nBR2_EXTERNAL_NAMES=\"STM32MP_IMAGER\"\nBR2_EXTERNAL_STM32MP_IMAGER_PATH=\"{tree}\"\n{}",
        defconfig.replace("$(BR2_EXTERNAL_STM32MP_IMAGER_PATH)", &tree)
    )
}

/// A string symbol of a defconfig.
fn defconfig_value(board: Board, key: &str) -> Option<String> {
    let text = fs::read_to_string(board.defconfig()).unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}=")).map(|v| v.trim_matches('"').to_string()))
}

/// The words Buildroot passes after BINARIES_DIR for a shipped defconfig.
fn post_script_args(board: Board) -> Vec<String> {
    let args = defconfig_value(board, "BR2_ROOTFS_POST_SCRIPT_ARGS").unwrap_or_default();
    let image_args = defconfig_value(board, "BR2_ROOTFS_POST_IMAGE_SCRIPT_ARGS").unwrap_or_default();
    args.split_whitespace().chain(image_args.split_whitespace()).map(String::from).collect()
}

fn check_built(w: &World, run: &Run) {
    let b = w.board;
    let image = w.artifact(b.image());
    let layout = w.artifact("flash.tsv");
    let bmap = w.artifact(&format!("{}.bmap", b.image()));
    for p in [&image, &layout, &bmap] {
        assert!(p.is_file(), "{} missing", p.display());
        let size = fs::metadata(p).unwrap().len();
        // The summary: each artifact, its size, and how to flash.
        let line = run.stdout.lines().find(|l| l.trim_start().starts_with(&p.display().to_string())).unwrap_or_else(|| {
            panic!("summary does not list {}:\n{}", p.display(), run.stdout);
        });
        assert!(line.contains(&format!("({size} bytes)")), "size of {} not in `{line}`", p.display());
    }
    assert!(run.stdout.contains(&format!("STM32_Programmer_CLI -c port=usb1 -w {}", layout.display())), "{}", run.stdout);
    // Plain lines: no bar redrawn with carriage returns or cursor movements.
    assert!(!run.stderr.contains('\r') && !run.stderr.contains('\u{1b}'), "terminal control characters in:\n{}", run.stderr);
    let verify = oracle_ok("sgdisk", "gdisk", &["-v", image.to_str().unwrap()]);
    assert!(verify.contains("No problems found"), "sgdisk -v:\n{verify}");
    let info = oracle_ok("sgdisk", "gdisk", &["-i", &b.rootfs_number().to_string(), image.to_str().unwrap()]);
    assert!(info.contains("Partition name: 'rootfs'"), "{info}");
    assert!(info.contains(&format!("Partition unique GUID: {}", b.partuuid())), "{info}");
    let tsv = fs::read_to_string(&layout).unwrap();
    assert!(tsv.contains(&format!("tf-a-{}.stm32", b.name())) && tsv.contains("u-boot.stm32"), "{tsv}");
}

#[test]
fn dk2_defconfig_ends_with_a_ready_sd_card_image() {
    let w = World::new(Board::Dk2);
    let run = w.run();
    run.assert_code(0).assert_no_problems();
    check_built(&w, &run);
    assert!(run.stdout.contains(&format!("bmaptool copy {} /dev/sdX", w.artifact("sdcard.img").display())), "{}", run.stdout);
}

#[test]
fn ev1_defconfig_ends_with_a_ready_emmc_image() {
    let w = World::new(Board::Ev1);
    let run = w.run();
    run.assert_code(0).assert_no_problems();
    check_built(&w, &run);
    let tsv = fs::read_to_string(w.artifact("flash.tsv")).unwrap();
    assert!(tsv.contains("boot1") && tsv.contains("boot2"), "{tsv}");
    assert!(!run.stdout.contains("bmaptool"), "no card to write for an eMMC:\n{}", run.stdout);
}

#[test]
fn the_shim_runs_the_host_tool_with_buildroots_arguments() {
    let w = World::new(Board::Dk2);
    std::os::unix::fs::symlink(BIN, w.host.join("bin/stm32mp-imager")).unwrap();
    let script = defconfig_value(Board::Dk2, "BR2_ROOTFS_POST_IMAGE_SCRIPT")
        .unwrap()
        .replace("$(BR2_EXTERNAL_STM32MP_IMAGER_PATH)", &tree().display().to_string());
    assert_eq!(Path::new(&script), tree().join("board/common/post-image.sh"));
    let args = post_script_args(Board::Dk2);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = w.run_program(Path::new(&script), &[], &args, &w.env());
    run.assert_code(0).assert_no_problems();
    check_built(&w, &run);
    oracle_ok("shellcheck", "shellcheck", &[&script]);
    let text = fs::read_to_string(&script).unwrap();
    assert!(text.starts_with("#!/bin/sh\n") && text.contains("exec \"${tool}\" buildroot-post-image \"$@\""), "{text}");
}

#[test]
fn defconfigs_wire_the_host_package_the_shim_and_a_board_that_exists() {
    let mk = fs::read_to_string(tree().join("package/stm32mp-imager/stm32mp-imager.mk")).unwrap();
    assert!(mk.contains(&format!("STM32MP_IMAGER_VERSION = {}\n", env!("CARGO_PKG_VERSION"))), "package version differs from Cargo.toml");
    for b in [Board::Dk2, Board::Ev1] {
        let text = fs::read_to_string(b.defconfig()).unwrap();
        assert!(text.lines().any(|l| l == "BR2_PACKAGE_HOST_STM32MP_IMAGER=y"), "{b:?}");
        assert!(text.lines().any(|l| l == "BR2_DOWNLOAD_FORCE_CHECK_HASHES=y"), "{b:?}");
        assert_eq!(post_script_args(b), ["--board", b.name()]);
        assert!(Path::new(REPO).join("board").join(format!("{}.toml", b.name())).is_file());
        let overlay = defconfig_value(b, "BR2_ROOTFS_OVERLAY").unwrap().replace("$(BR2_EXTERNAL_STM32MP_IMAGER_PATH)", &tree().display().to_string());
        assert!(Path::new(&overlay).join("boot/extlinux/extlinux.conf").is_file(), "{overlay}");
    }
}

#[test]
fn tfa_without_usb_programmer_is_refused_with_the_line_to_write() {
    let w = World::new(Board::Dk2);
    w.edit_config(" STM32MP_USB_PROGRAMMER=1", "");
    let run = w.run();
    run.assert_code(1)
        .assert_problem("error", "buildroot::no_usb_programmer")
        .assert_stderr("Boot interface 6 not supported")
        .assert_stderr("Start operation failed at partition 0x01")
        .assert_stderr("help: write `BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=\"STM32MP_USE_STM32IMAGE=1 AARCH32_SP=sp_min DTB_FILE_NAME=stm32mp157c-dk2.dtb STM32MP_SDMMC=1 E=0 STM32MP_USB_PROGRAMMER=1\"`")
        .assert_stderr("nothing was written");
    assert!(!w.artifact("sdcard.img").exists() && !w.artifact("flash.tsv").exists());
    // The location is the .config line.
    let line =
        fs::read_to_string(&w.config).unwrap().lines().position(|l| l.starts_with("BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=")).unwrap()
            + 1;
    run.assert_stderr(&format!("{}:{line}:", w.config.display()));
}

#[test]
fn sd_target_without_sdmmc_is_refused() {
    let w = World::new(Board::Dk2);
    w.edit_config("STM32MP_SDMMC=1 ", "");
    w.run().assert_code(1).assert_problem("error", "buildroot::no_sdmmc").assert_stderr("STM32MP_SDMMC=1");
    assert!(!w.artifact("sdcard.img").exists());
}

#[test]
fn emmc_target_without_emmc_is_refused() {
    let w = World::new(Board::Ev1);
    w.edit_config("STM32MP_EMMC=1", "STM32MP_SDMMC=1");
    w.run().assert_code(1).assert_problem("error", "buildroot::no_emmc").assert_stderr("STM32MP_EMMC=1");
    assert!(!w.artifact("emmc.img").exists());
}

#[test]
fn uboot_spl_as_first_stage_is_refused() {
    let w = World::new(Board::Dk2);
    w.edit_config("BR2_TARGET_ARM_TRUSTED_FIRMWARE=y\n", "# BR2_TARGET_ARM_TRUSTED_FIRMWARE is not set\nBR2_TARGET_UBOOT_SPL=y\n");
    w.run().assert_code(1).assert_problem("error", "buildroot::spl_first_stage").assert_stderr("STM32CubeProgrammer needs TF-A");
    assert!(!w.artifact("sdcard.img").exists());
}

#[test]
fn tfa_built_for_another_device_tree_is_refused() {
    let w = World::new(Board::Dk2);
    w.edit_config("DTB_FILE_NAME=stm32mp157c-dk2.dtb", "DTB_FILE_NAME=stm32mp157c-ev1.dtb");
    w.run().assert_code(1).assert_problem("error", "buildroot::dtb_mismatch").assert_stderr("DTB_FILE_NAME=stm32mp157c-dk2.dtb");
    assert!(!w.artifact("sdcard.img").exists());
}

#[test]
fn root_on_the_wrong_partition_is_refused_with_the_partuuid_that_works() {
    let w = World::new(Board::Dk2);
    w.set_root("root=/dev/mmcblk0p2");
    w.run()
        .assert_code(1)
        .assert_problem("error", "buildroot::wrong_root")
        .assert_stderr("partition 2")
        .assert_stderr(&format!("root=PARTUUID={}", DK2_PARTUUID.to_lowercase()))
        .assert_stderr(&format!("{}:4:", w.target.join("boot/extlinux/extlinux.conf").display()));
    assert!(!w.artifact("sdcard.img").exists());
}

#[test]
fn root_with_another_partuuid_is_refused() {
    let w = World::new(Board::Ev1);
    w.set_root(&format!("root=PARTUUID={DK2_PARTUUID}"));
    w.run().assert_code(1).assert_problem("error", "buildroot::wrong_root").assert_stderr(&format!("root=PARTUUID={}", EV1_PARTUUID.to_lowercase()));
}

#[test]
fn root_by_device_name_passes_with_the_planned_partition_and_warns_on_an_unusual_index() {
    let w = World::new(Board::Dk2);
    w.set_root("root=/dev/mmcblk0p4");
    w.run().assert_code(0).assert_no_problems();
    let w = World::new(Board::Ev1);
    w.set_root("root=/dev/mmcblk0p2");
    let run = w.run();
    run.assert_code(0).assert_problem("warning", "buildroot::root_mmcblk_index").assert_stderr("mmcblk1");
    check_built(&w, &run);
}

#[test]
fn missing_extlinux_is_a_warning() {
    let w = World::new(Board::Dk2);
    fs::remove_file(w.target.join("boot/extlinux/extlinux.conf")).unwrap();
    w.run().assert_code(0).assert_problem("warning", "buildroot::no_extlinux");
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let w = World::new(Board::Dk2);
    w.edit_config(" STM32MP_USB_PROGRAMMER=1", "");
    w.edit_config("STM32MP_SDMMC=1 ", "");
    w.set_root("root=/dev/mmcblk0p1");
    w.run()
        .assert_code(1)
        .assert_problem("error", "buildroot::no_usb_programmer")
        .assert_problem("error", "buildroot::no_sdmmc")
        .assert_problem("error", "buildroot::wrong_root")
        .assert_stderr("STM32MP_USB_PROGRAMMER=1 STM32MP_SDMMC=1\"`")
        .assert_stderr("3 errors (listed above)");
    // With an input missing there is no plan, so root= cannot be checked; the rest is still reported together.
    fs::remove_file(w.images.join("u-boot.stm32")).unwrap();
    w.run()
        .assert_code(1)
        .assert_problem("error", "input::missing")
        .assert_problem("error", "buildroot::no_usb_programmer")
        .assert_problem("error", "buildroot::no_sdmmc")
        .assert_stderr("3 errors (listed above)");
}

#[test]
fn environment_and_arguments_are_checked() {
    let w = World::new(Board::Dk2);
    let mut env = w.env();
    env.remove("BR2_CONFIG");
    w.run_with(&["--board", "stm32mp157c-dk2"], &env).assert_code(1).assert_problem("error", "buildroot::missing_env").assert_stderr("BR2_CONFIG");
    w.run_with(&[], &w.env()).assert_code(1).assert_problem("error", "buildroot::no_board");
    w.run_with(&["--board", "nope"], &w.env()).assert_code(1).assert_problem("error", "buildroot::board_not_found").assert_stderr("nope.toml");
    let mut env = w.env();
    env.insert("BINARIES_DIR".into(), w.target.display().to_string());
    w.run_with(&["--board", "stm32mp157c-dk2"], &env).assert_code(1).assert_problem("error", "buildroot::not_binaries_dir");
    assert!(!w.artifact("sdcard.img").exists());
    // Usage errors are clap's.
    let out = Command::new(BIN).arg("buildroot-post-image").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A missing images folder is an I/O error.
    let out = Command::new(BIN)
        .args(["buildroot-post-image", w.root.join("missing").to_str().unwrap(), "--board", "stm32mp157c-dk2"])
        .env_clear()
        .env("BR2_CONFIG", &w.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_board_path_and_other_scripts_words_are_accepted() {
    let w = World::new(Board::Dk2);
    let custom = w.top.join("my-board.toml");
    fs::copy(Path::new(REPO).join("board/stm32mp157c-dk2.toml"), &custom).unwrap();
    // Relative to Buildroot's top folder, the current folder; a post-build script's word is ignored with a warning.
    let run = w.run_with(&["--for-post-build", "--board=my-board.toml", "--no-bmap"], &w.env());
    run.assert_code(0).assert_problem("warning", "buildroot::unknown_arg");
    assert!(w.artifact("sdcard.img").is_file() && !w.artifact("sdcard.img.bmap").exists());
    assert!(run.stdout.contains("dd if="), "{}", run.stdout);
}
