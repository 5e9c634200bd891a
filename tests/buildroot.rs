//! Buildroot mode end to end: the binary runs as Buildroot runs a post-image script, in a faithful environment.
//!
//! `BR2_CONFIG` is a real `.config`: `tests/fixtures/buildroot/configs/` holds the ones Buildroot e991fa0716 wrote
//! for every defconfig of `buildroot-external/` and for Buildroot's own `stm32mp157c_dk2_defconfig` and
//! `stm32mp135f_dk_defconfig` with the three lines `docs/buildroot.md` tells a user to add (`remake.sh` there remakes
//! them; the lines that set a symbol are kept). Each test builds a Buildroot output tree in a temporary folder: that
//! `.config` (the tree's path substituted), a `TARGET_DIR` with the defconfig's `boot/extlinux/extlinux.conf`, and a
//! `BINARIES_DIR` whose inputs are made by the real tools: `mkimage -T stm32image` (u-boot-tools) for STM32MP15 TF-A
//! and U-Boot, the committed STM32MP13 TF-A sample (header v2.0, U-Boot's mkimage), `fiptool` for `fip.bin`,
//! `mke2fs -d TARGET_DIR` (e2fsprogs) for `rootfs.ext2`, with the `rootfs.ext4 -> rootfs.ext2` symlink Buildroot makes.
//! The environment is the one Buildroot's Makefile exports; the current folder is a stand-in for Buildroot's top
//! folder. `sgdisk -v` (gdisk) checks the image and `shellcheck` the shim. A missing oracle fails the test
//! (scripts/test.sh installs them).

mod common;

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
/// What the fixtures have in place of the tree's absolute path.
const TREE_PLACEHOLDER: &str = "@BR2_EXTERNAL_STM32MP_IMAGER_PATH@";

fn tree() -> PathBuf {
    Path::new(REPO).join("buildroot-external")
}

fn fixtures() -> PathBuf {
    Path::new(REPO).join("tests/fixtures/buildroot/configs")
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
enum Chain {
    /// TF-A v2.7 (STM32IMAGE) loads `u-boot.stm32` from `ssbl`.
    Trusted,
    /// TF-A BL2 loads `fip.bin` from `fip`.
    Fip,
}

/// A configuration: one of the tree's defconfigs, or one of Buildroot's with the documented lines.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setup {
    Dk2Trusted,
    Ev1Trusted,
    Dk2Fip,
    Ev1Fip,
    Mp135Fip,
    UpstreamDk2,
    UpstreamMp135,
}

impl Setup {
    const ALL: [Setup; 7] =
        [Setup::Dk2Trusted, Setup::Ev1Trusted, Setup::Dk2Fip, Setup::Ev1Fip, Setup::Mp135Fip, Setup::UpstreamDk2, Setup::UpstreamMp135];

    /// The fixture's file stem: the defconfig's name without `_defconfig`, or `upstream-<Buildroot's name>`.
    fn fixture(self) -> &'static str {
        match self {
            Setup::Dk2Trusted => "stm32mp157c_dk2_imager_trusted",
            Setup::Ev1Trusted => "stm32mp157c_ev1_imager_trusted",
            Setup::Dk2Fip => "stm32mp157c_dk2_imager",
            Setup::Ev1Fip => "stm32mp157c_ev1_imager",
            Setup::Mp135Fip => "stm32mp135f_dk_imager",
            Setup::UpstreamDk2 => "upstream-stm32mp157c_dk2",
            Setup::UpstreamMp135 => "upstream-stm32mp135f_dk",
        }
    }
    fn upstream(self) -> bool {
        matches!(self, Setup::UpstreamDk2 | Setup::UpstreamMp135)
    }
    /// The tree's defconfig, for the tree's setups.
    fn defconfig(self) -> Option<PathBuf> {
        (!self.upstream()).then(|| tree().join("configs").join(format!("{}_defconfig", self.fixture())))
    }
    /// The board description named in `--board`.
    fn board(self) -> &'static str {
        match self {
            Setup::Dk2Trusted => "stm32mp157c-dk2",
            Setup::Ev1Trusted => "stm32mp157c-ev1",
            Setup::Dk2Fip | Setup::UpstreamDk2 => "stm32mp157c-dk2-fip",
            Setup::Ev1Fip => "stm32mp157c-ev1-fip",
            Setup::Mp135Fip | Setup::UpstreamMp135 => "stm32mp135f-dk",
        }
    }
    /// TF-A's DTB_FILE_NAME without `.dtb`; TF-A writes `tf-a-<dtb>.stm32`.
    fn dtb(self) -> &'static str {
        match self {
            Setup::Dk2Trusted | Setup::Dk2Fip | Setup::UpstreamDk2 => "stm32mp157c-dk2",
            Setup::Ev1Trusted | Setup::Ev1Fip => "stm32mp157c-ev1",
            Setup::Mp135Fip | Setup::UpstreamMp135 => "stm32mp135f-dk",
        }
    }
    fn tfa(self) -> String {
        format!("tf-a-{}.stm32", self.dtb())
    }
    fn chain(self) -> Chain {
        match self {
            Setup::Dk2Trusted | Setup::Ev1Trusted => Chain::Trusted,
            _ => Chain::Fip,
        }
    }
    fn emmc(self) -> bool {
        matches!(self, Setup::Ev1Trusted | Setup::Ev1Fip)
    }
    fn image(self) -> &'static str {
        if self.emmc() { "emmc.img" } else { "sdcard.img" }
    }
    /// GPT number of `rootfs`: after fsbl1, fsbl2 and ssbl/fip on an SD card; after ssbl/fip on an eMMC (TF-A is in
    /// the boot partitions).
    fn rootfs_number(self) -> u32 {
        if self.emmc() { 2 } else { 4 }
    }
    fn partuuid(self) -> &'static str {
        if self.emmc() { EV1_PARTUUID } else { DK2_PARTUUID }
    }
    /// TARGET_DIR/boot/extlinux/extlinux.conf as the defconfig's overlay leaves it. Buildroot's own overlays (not
    /// here: they are in the Buildroot tree) hold `root=/dev/mmcblk0p4`.
    fn extlinux(self, config: &str) -> String {
        if self.upstream() {
            return format!(
                "label {0}-buildroot\n  kernel /boot/zImage\n  devicetree /boot/{0}.dtb\n  append root=/dev/mmcblk0p4 rootwait\n",
                self.dtb()
            );
        }
        let overlay =
            config_value(config, "BR2_ROOTFS_OVERLAY").unwrap().replace("$(BR2_EXTERNAL_STM32MP_IMAGER_PATH)", &tree().display().to_string());
        fs::read_to_string(Path::new(&overlay).join("boot/extlinux/extlinux.conf")).unwrap()
    }
}

/// The fixture `.config` of a setup as Buildroot wrote it, with this tree's path.
fn real_config(setup: Setup) -> String {
    let path = fixtures().join(format!("{}.config", setup.fixture()));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (tests/fixtures/buildroot/remake.sh makes it)", path.display()));
    text.replace(TREE_PLACEHOLDER, &tree().display().to_string())
}

/// A string or bool symbol of a `.config` or defconfig, unquoted.
fn config_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}=")).map(|v| v.trim_matches('"').to_string()))
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
    setup: Setup,
}

impl World {
    /// The real `.config` and the overlay of `setup`, inputs made by the real tools.
    fn new(setup: Setup) -> World {
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
            setup,
        };
        for d in [&w.images, &w.target.join("etc"), &w.host.join("bin"), &out.join("build"), &out.join("staging")] {
            fs::create_dir_all(d).unwrap();
        }
        let config = real_config(setup);
        w.write_config(&config);
        w.write_extlinux(&setup.extlinux(&config));
        fs::write(w.target.join("etc/hostname"), "buildroot\n").unwrap();
        w.make_inputs();
        w
    }

    fn write_config(&self, text: &str) {
        fs::write(&self.config, text).unwrap();
    }

    fn edit_config(&self, from: &str, to: &str) {
        let text = fs::read_to_string(&self.config).unwrap();
        assert!(text.contains(from), "the .config has no `{from}`");
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

    /// What Buildroot leaves in BINARIES_DIR for the image: TF-A (`tf-a-<dtb>.stm32`, with a real STM32 header),
    /// `u-boot.stm32` (trusted chain) or `fip.bin` (FIP chain), rootfs.ext2 made from TARGET_DIR and
    /// rootfs.ext4 -> rootfs.ext2.
    fn make_inputs(&self) {
        let tfa = self.images.join(self.setup.tfa());
        if self.setup.dtb().starts_with("stm32mp13") {
            // Header v2.0: Debian's mkimage makes only v1, so the committed sample (U-Boot's mkimage, samples/).
            fs::copy(Path::new(REPO).join("samples/tf-a-stm32mp135f-dk-sdcard.stm32"), &tfa).unwrap();
        } else {
            common::make_stm32(&tfa, 180 * 1024, "0x2ffc2500");
        }
        match self.setup.chain() {
            Chain::Trusted => common::make_stm32(&self.images.join("u-boot.stm32"), 128 * 1024, "0xc0100000"),
            Chain::Fip => common::make_fip(&self.images.join("fip.bin")),
        }
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

    /// Run as the `.config` says: `--board NAME` from BR2_ROOTFS_POST_SCRIPT_ARGS.
    fn run(&self) -> Run {
        let args = post_script_args(&fs::read_to_string(&self.config).unwrap());
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

/// The words Buildroot passes after BINARIES_DIR for a `.config`.
fn post_script_args(config: &str) -> Vec<String> {
    let args = config_value(config, "BR2_ROOTFS_POST_SCRIPT_ARGS").unwrap_or_default();
    let image_args = config_value(config, "BR2_ROOTFS_POST_IMAGE_SCRIPT_ARGS").unwrap_or_default();
    args.split_whitespace().chain(image_args.split_whitespace()).map(String::from).collect()
}

/// The image, its `.bmap` and `flash.tsv` are written and listed with their sizes; `sgdisk -v` is clean; rootfs is
/// the planned partition with U-Boot's PARTUUID; the layout names the boot files.
fn check_built(w: &World, run: &Run) {
    let s = w.setup;
    let image = w.artifact(s.image());
    let layout = w.artifact("flash.tsv");
    let bmap = w.artifact(&format!("{}.bmap", s.image()));
    for p in [&image, &bmap] {
        assert!(p.is_file(), "{} missing", p.display());
        let size = fs::metadata(p).unwrap().len();
        // The summary: each artifact, its size, and how to flash.
        let line = run.stdout.lines().find(|l| l.trim_start().starts_with(&p.display().to_string())).unwrap_or_else(|| {
            panic!("summary does not list {}:\n{}", p.display(), run.stdout);
        });
        assert!(line.contains(&format!("({size} bytes)")), "size of {} not in `{line}`", p.display());
    }
    // Plain lines: no bar redrawn with carriage returns or cursor movements.
    assert!(!run.stderr.contains('\r') && !run.stderr.contains('\u{1b}'), "terminal control characters in:\n{}", run.stderr);
    let verify = oracle_ok("sgdisk", "gdisk", &["-v", image.to_str().unwrap()]);
    assert!(verify.contains("No problems found"), "sgdisk -v:\n{verify}");
    let info = oracle_ok("sgdisk", "gdisk", &["-i", &s.rootfs_number().to_string(), image.to_str().unwrap()]);
    assert!(info.contains("Partition name: 'rootfs'"), "{info}");
    assert!(info.contains(&format!("Partition unique GUID: {}", s.partuuid())), "{info}");
    // The layout is written when TF-A can serve line 0x01 (the .config as it is now, tests edit it): built with
    // STM32MP_USB_PROGRAMMER=1, which TF-A has from v2.6 on.
    let config = fs::read_to_string(&w.config).unwrap();
    let tfa_vars = config_value(&config, "BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES").unwrap_or_default();
    let version = config_value(&config, "BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION").unwrap_or_default();
    let before_v2_6 = ["v2.0", "v2.1", "v2.2", "v2.3", "v2.4", "v2.5"].contains(&version.as_str());
    if tfa_vars.split_whitespace().any(|v| v == "STM32MP_USB_PROGRAMMER=1") && !before_v2_6 {
        assert!(layout.is_file(), "{} missing", layout.display());
        let dir = layout.parent().unwrap().display();
        assert!(run.stdout.contains(&format!("cd {dir} && STM32_Programmer_CLI -c port=usb1 -w flash.tsv")), "{}", run.stdout);
        let tsv = fs::read_to_string(&layout).unwrap();
        let second = match s.chain() {
            Chain::Trusted => "u-boot.stm32",
            Chain::Fip => "fip.bin",
        };
        assert!(tsv.contains(&s.tfa()) && tsv.contains(second), "{tsv}");
    }
    if s.emmc() {
        assert!(!run.stdout.contains("bmaptool"), "no card to write for an eMMC:\n{}", run.stdout);
    } else {
        assert!(run.stdout.contains(&format!("bmaptool copy {} /dev/sdX", image.display())), "{}", run.stdout);
    }
}

/// Post-image with a setup's real `.config`: exit 0, no problem, every artifact.
fn ends_ready(setup: Setup) -> World {
    let w = World::new(setup);
    let run = w.run();
    run.assert_code(0).assert_no_problems();
    check_built(&w, &run);
    w
}

#[test]
fn dk2_trusted_defconfig_ends_with_a_ready_sd_card_image() {
    let w = ends_ready(Setup::Dk2Trusted);
    assert!(fs::read_to_string(w.artifact("flash.tsv")).unwrap().contains("ssbl"));
}

#[test]
fn ev1_trusted_defconfig_ends_with_a_ready_emmc_image() {
    let w = ends_ready(Setup::Ev1Trusted);
    let tsv = fs::read_to_string(w.artifact("flash.tsv")).unwrap();
    assert!(tsv.contains("boot1") && tsv.contains("boot2"), "{tsv}");
}

#[test]
fn dk2_fip_defconfig_ends_with_a_ready_sd_card_image() {
    ends_ready(Setup::Dk2Fip);
}

#[test]
fn ev1_fip_defconfig_ends_with_a_ready_emmc_image() {
    let w = ends_ready(Setup::Ev1Fip);
    let tsv = fs::read_to_string(w.artifact("flash.tsv")).unwrap();
    assert!(tsv.contains("boot1") && tsv.contains("boot2"), "TF-A goes to the eMMC boot partitions:\n{tsv}");
}

#[test]
fn mp135_fip_defconfig_ends_with_a_ready_sd_card_image() {
    ends_ready(Setup::Mp135Fip);
}

/// Buildroot's own defconfig with the host package and the shim: TF-A has no USB programmer support, which only
/// matters for flashing, so make does not fail: the image and its .bmap are written, and the problem says what to add.
fn upstream_ends_in_artifacts(setup: Setup) {
    let w = World::new(setup);
    let run = w.run();
    run.assert_code(0).assert_problem("warning", "buildroot::no_usb_programmer").assert_stderr("STM32MP_USB_PROGRAMMER=1");
    assert!(!run.stderr.contains("error["), "{}", run.stderr);
    check_built(&w, &run);
    assert!(!w.artifact("flash.tsv").exists());
    // The summary names the layout and the exact line: Buildroot's variables with STM32MP_USB_PROGRAMMER=1 added.
    let config = fs::read_to_string(&w.config).unwrap();
    let vars = config_value(&config, "BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES").unwrap();
    assert!(run.stdout.contains("flash.tsv was not written: flashing over USB would fail"), "{}", run.stdout);
    let fix = format!("to flash over USB: write `BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=\"{vars} STM32MP_USB_PROGRAMMER=1\"`");
    assert!(run.stdout.contains(&fix), "no `{fix}` in:\n{}", run.stdout);
}

#[test]
fn buildroots_dk2_defconfig_with_the_host_package_ends_in_artifacts() {
    upstream_ends_in_artifacts(Setup::UpstreamDk2);
}

#[test]
fn buildroots_mp135_defconfig_with_the_host_package_ends_in_artifacts() {
    upstream_ends_in_artifacts(Setup::UpstreamMp135);
}

#[test]
fn the_shim_runs_the_host_tool_with_buildroots_arguments() {
    let w = World::new(Setup::Dk2Fip);
    std::os::unix::fs::symlink(BIN, w.host.join("bin/stm32mp-imager")).unwrap();
    let config = fs::read_to_string(&w.config).unwrap();
    let script =
        config_value(&config, "BR2_ROOTFS_POST_IMAGE_SCRIPT").unwrap().replace("$(BR2_EXTERNAL_STM32MP_IMAGER_PATH)", &tree().display().to_string());
    assert_eq!(Path::new(&script), tree().join("board/common/post-image.sh"));
    let args = post_script_args(&config);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = w.run_program(Path::new(&script), &[], &args, &w.env());
    run.assert_code(0).assert_no_problems();
    check_built(&w, &run);
    oracle_ok("shellcheck", "shellcheck", &[&script]);
    let text = fs::read_to_string(&script).unwrap();
    assert!(text.starts_with("#!/bin/sh\n") && text.contains("exec \"${tool}\" buildroot-post-image \"$@\""), "{text}");
}

#[test]
fn the_shim_names_the_option_when_the_host_tool_is_missing() {
    let w = World::new(Setup::Dk2Fip);
    let script = tree().join("board/common/post-image.sh");
    let args = post_script_args(&fs::read_to_string(&w.config).unwrap());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // No host/bin/stm32mp-imager: the package is not enabled.
    let run = w.run_program(&script, &[], &args, &w.env());
    run.assert_code(1).assert_stderr("BR2_PACKAGE_HOST_STM32MP_IMAGER=y").assert_stderr(&w.host.join("bin/stm32mp-imager").display().to_string());
    let mut env = w.env();
    env.remove("HOST_DIR");
    w.run_program(&script, &[], &args, &env).assert_code(1).assert_stderr("HOST_DIR is not set");
    assert!(!w.artifact("sdcard.img").exists());
}

/// Buildroot e991fa0716's defconfig names: the tree must not shadow any (nor future ones: hence `_imager`).
const BUILDROOT_STM32_DEFCONFIGS: &[&str] = &[
    "stm32f429_disco_xip",
    "stm32f469_disco_sd",
    "stm32f469_disco_xip",
    "stm32f746_disco_sd",
    "stm32f769_disco_sd",
    "stm32h747_disco_sd",
    "stm32mp135f_dk",
    "stm32mp157a_dk1",
    "stm32mp157c_dk2",
    "stm32mp157c_odyssey",
];

/// The tree's defconfig names, without `_defconfig`.
fn tree_defconfigs() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(tree().join("configs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .map(|n| n.strip_suffix("_defconfig").unwrap_or_else(|| panic!("configs/{n} is not a *_defconfig")).to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn no_defconfig_shadows_one_of_buildroots() {
    let names = tree_defconfigs();
    for n in &names {
        assert!(!BUILDROOT_STM32_DEFCONFIGS.contains(&n.as_str()), "{n}_defconfig would replace Buildroot's own");
        assert!(n.contains("_imager"), "{n}_defconfig: the tree's defconfig names carry `_imager`, which no Buildroot board uses");
    }
    let mut covered: Vec<String> = Setup::ALL.iter().filter(|s| !s.upstream()).map(|s| s.fixture().to_string()).collect();
    covered.sort();
    assert_eq!(names, covered, "every defconfig of the tree has a setup (and a fixture .config) here");
}

/// Each defconfig line is in the `.config` Buildroot made of it: a symbol Kconfig does not know, or whose
/// dependencies fail, is dropped silently, and this catches it. A stale fixture fails here too.
#[test]
fn every_defconfig_loads_in_buildroot_as_written() {
    for s in Setup::ALL.iter().filter(|s| !s.upstream()) {
        let defconfig = fs::read_to_string(s.defconfig().unwrap()).unwrap();
        let config = fs::read_to_string(fixtures().join(format!("{}.config", s.fixture()))).unwrap();
        let set: Vec<&str> = config.lines().filter(|l| !l.starts_with('#')).collect();
        for line in defconfig.lines() {
            if let Some(sym) = line.strip_prefix("# ").and_then(|l| l.strip_suffix(" is not set")) {
                assert!(!set.iter().any(|l| l.starts_with(&format!("{sym}="))), "{s:?}: {sym} is set in the .config");
            } else if line.starts_with("BR2_") {
                assert!(set.contains(&line), "{s:?}: `{line}` is not in the .config Buildroot made (tests/fixtures/buildroot/remake.sh remakes it)");
            }
        }
        for line in ["BR2_PACKAGE_HOST_STM32MP_IMAGER=y", "BR2_PACKAGE_HOST_RUSTC=y", "BR2_DOWNLOAD_FORCE_CHECK_HASHES=y"] {
            assert!(set.contains(&line), "{s:?}: {line}");
        }
        assert_eq!(post_script_args(&config), ["--board", s.board()], "{s:?}");
        let tfa_vars = config_value(&config, "BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES").unwrap();
        let medium = if s.emmc() { "STM32MP_EMMC=1" } else { "STM32MP_SDMMC=1" };
        for var in ["STM32MP_USB_PROGRAMMER=1", medium, &format!("DTB_FILE_NAME={}.dtb", s.dtb())] {
            assert!(tfa_vars.split_whitespace().any(|w| w == var), "{s:?}: TF-A without {var}: {tfa_vars}");
        }
        let overlay =
            config_value(&config, "BR2_ROOTFS_OVERLAY").unwrap().replace("$(BR2_EXTERNAL_STM32MP_IMAGER_PATH)", &tree().display().to_string());
        let extlinux = fs::read_to_string(Path::new(&overlay).join("boot/extlinux/extlinux.conf")).unwrap();
        assert!(extlinux.contains(&format!("devicetree /boot/{}.dtb", s.dtb())), "{s:?}: {extlinux}");
        assert!(extlinux.contains(&format!("root=PARTUUID={} ", s.partuuid().to_lowercase())), "{s:?}: {extlinux}");
    }
}

/// The FIP defconfigs track Buildroot's: TF-A LTS 2.12, U-Boot as BL33 with the same versions as Buildroot's
/// defconfigs (the upstream fixtures); the trusted ones build TF-A "v2.7".
#[test]
fn fip_defconfigs_track_buildroots_and_trusted_ones_take_its_v2_7_patches() {
    let upstream_dk2 = real_config(Setup::UpstreamDk2);
    let upstream_mp135 = real_config(Setup::UpstreamMp135);
    for (ours, theirs) in [(Setup::Dk2Fip, &upstream_dk2), (Setup::Ev1Fip, &upstream_dk2), (Setup::Mp135Fip, &upstream_mp135)] {
        let ours_config = real_config(ours);
        for key in [
            "BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION",
            "BR2_TARGET_ARM_TRUSTED_FIRMWARE_FIP",
            "BR2_TARGET_ARM_TRUSTED_FIRMWARE_BL32_OPTEE",
            "BR2_TARGET_ARM_TRUSTED_FIRMWARE_UBOOT_AS_BL33",
            "BR2_TARGET_ARM_TRUSTED_FIRMWARE_IMAGES",
            "BR2_TARGET_UBOOT_VERSION",
            "BR2_TARGET_UBOOT_BOARD_DEFCONFIG",
            "BR2_LINUX_KERNEL_VERSION",
            "BR2_TARGET_OPTEE_OS_VERSION",
            "BR2_TOOLCHAIN_EXTERNAL_BOOTLIN_ARMV7_EABIHF_GLIBC_STABLE",
        ] {
            assert_eq!(config_value(&ours_config, key), config_value(theirs, key), "{ours:?}: {key}");
        }
        assert_eq!(config_value(&ours_config, "BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION").as_deref(), Some("lts-v2.12.1"));
    }
    for s in [Setup::Dk2Trusted, Setup::Ev1Trusted] {
        let config = real_config(s);
        // The version string Buildroot's boot/arm-trusted-firmware/v2.7/ patches (binutils >= 2.39) are chosen by.
        assert_eq!(config_value(&config, "BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION").as_deref(), Some("v2.7"), "{s:?}");
        assert_eq!(config_value(&config, "BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_VERSION").as_deref(), Some("y"), "{s:?}");
    }
}

/// Buildroot checks every download against the hash files of the package and of the global patch dir
/// (`BR2_DOWNLOAD_FORCE_CHECK_HASHES=y`, which also cancels the custom-version exemption): every custom version has a
/// line, and no TF-A hash file exists without a line for v2.7's git tarball (it would make that download fail).
#[test]
fn every_custom_version_has_its_hash_in_the_global_patch_dir() {
    let patches = tree().join("board/stm32mp1/patches");
    let hashes = |pkg: &str| fs::read_to_string(patches.join(pkg).join(format!("{pkg}.hash"))).unwrap_or_default();
    for s in Setup::ALL.iter().filter(|s| !s.upstream()) {
        let config = real_config(*s);
        assert_eq!(config_value(&config, "BR2_GLOBAL_PATCH_DIR").as_deref(), Some("$(BR2_EXTERNAL_STM32MP_IMAGER_PATH)/board/stm32mp1/patches"));
        let mut wanted = vec![
            ("uboot", format!("u-boot-{}.tar.bz2", config_value(&config, "BR2_TARGET_UBOOT_VERSION").unwrap())),
            ("linux", format!("linux-{}.tar.xz", config_value(&config, "BR2_LINUX_KERNEL_VERSION").unwrap())),
            ("linux-headers", format!("linux-{}.tar.xz", config_value(&config, "BR2_LINUX_KERNEL_VERSION").unwrap())),
        ];
        if let Some(v) = config_value(&config, "BR2_TARGET_OPTEE_OS_VERSION") {
            wanted.push(("optee-os", format!("optee-os-{v}.tar.gz")));
            if config_value(&config, "BR2_PACKAGE_OPTEE_CLIENT").is_some() {
                wanted.push(("optee-client", format!("optee-client-{v}.tar.gz")));
            }
        }
        for (pkg, file) in wanted {
            assert!(
                hashes(pkg).lines().any(|l| l.starts_with("sha256 ") && l.ends_with(&format!("  {file}"))),
                "{s:?}: no sha256 of {file} in {pkg}/{pkg}.hash"
            );
        }
    }
    let tfa = patches.join("arm-trusted-firmware");
    if tfa.exists() {
        let text = hashes("arm-trusted-firmware");
        assert!(
            text.contains("arm-trusted-firmware-v2.7-git4.tar.gz"),
            "{}: a TF-A hash file without v2.7's line fails the trusted defconfigs' download",
            tfa.display()
        );
        assert!(
            fs::read_dir(&tfa).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".patch")),
            "Buildroot's own v2.7 patches apply"
        );
    }
}

/// Buildroot's defconfigs with the lines of docs/buildroot.md, as the fixtures were made: the lines in the guide are
/// the ones in the fixtures.
#[test]
fn the_guide_gives_the_lines_the_upstream_fixtures_were_made_with() {
    let guide = fs::read_to_string(Path::new(REPO).join("docs/buildroot.md")).unwrap();
    for s in [Setup::UpstreamDk2, Setup::UpstreamMp135] {
        let config = fs::read_to_string(fixtures().join(format!("{}.config", s.fixture()))).unwrap();
        for key in ["BR2_PACKAGE_HOST_STM32MP_IMAGER", "BR2_ROOTFS_POST_IMAGE_SCRIPT", "BR2_ROOTFS_POST_SCRIPT_ARGS"] {
            let line = config.lines().find(|l| l.starts_with(&format!("{key}="))).unwrap();
            assert!(guide.contains(line), "docs/buildroot.md lacks `{line}` ({s:?})");
        }
        assert!(config.contains("BR2_TARGET_ARM_TRUSTED_FIRMWARE_LATEST_LTS_2_12_VERSION=y"), "{s:?}");
        assert!(!config.contains("STM32MP_USB_PROGRAMMER"), "{s:?}: Buildroot's own TF-A has no USB programmer support");
        assert!(config.lines().any(|l| l == "BR2_PACKAGE_HOST_RUSTC=y"), "{s:?}");
    }
}

/// No USB programmer support in TF-A only affects flashing: make does not fail, the image and its .bmap are written,
/// the layout is not (an earlier one is removed: it no longer matches the image), and the summary gives the line.
#[test]
fn tfa_without_usb_programmer_writes_the_image_and_says_what_to_add_for_flashing() {
    let w = World::new(Setup::Dk2Trusted);
    w.run().assert_code(0);
    assert!(w.artifact("flash.tsv").is_file());
    w.edit_config(" STM32MP_USB_PROGRAMMER=1", "");
    let run = w.run();
    let fix = "write `BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=\"STM32MP_USE_STM32IMAGE=1 AARCH32_SP=sp_min DTB_FILE_NAME=stm32mp157c-dk2.dtb STM32MP_SDMMC=1 E=0 STM32MP_USB_PROGRAMMER=1\"`";
    run.assert_code(0)
        .assert_problem("warning", "buildroot::no_usb_programmer")
        .assert_stderr("Boot interface 6 not supported")
        .assert_stderr("Start operation failed at partition 0x01")
        .assert_stderr(&format!("help: {fix}"));
    assert!(!run.stderr.contains("error["), "{}", run.stderr);
    check_built(&w, &run);
    assert!(!w.artifact("flash.tsv").exists(), "a layout whose line 0x01 cannot work is not left in BINARIES_DIR");
    assert!(run.stdout.contains("flash.tsv was not written: flashing over USB would fail"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("to flash over USB: {fix}")), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("removed {}", w.artifact("flash.tsv").display())), "{}", run.stdout);
    assert!(!run.stdout.contains("STM32_Programmer_CLI"), "{}", run.stdout);
    // The location is the .config line.
    let line =
        fs::read_to_string(&w.config).unwrap().lines().position(|l| l.starts_with("BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=")).unwrap()
            + 1;
    run.assert_stderr(&format!("{}:{line}:", w.config.display()));
}

/// The trusted chain needs a BL2 that loads U-Boot's .stm32 from `ssbl`: TF-A v2.7 without STM32MP_USE_STM32IMAGE=1,
/// or any TF-A from v2.8 on, loads a FIP from `fip`, and the board would stop in TF-A.
#[test]
fn trusted_chain_with_a_tfa_that_loads_a_fip_is_refused() {
    let w = World::new(Setup::Dk2Trusted);
    w.edit_config("STM32MP_USE_STM32IMAGE=1 ", "");
    let line = |key: &str| fs::read_to_string(&w.config).unwrap().lines().position(|l| l.starts_with(key)).unwrap() + 1;
    let run = w.run();
    run.assert_code(1)
        .assert_problem("error", "buildroot::chain_mismatch")
        .assert_stderr(&format!("{}:{}:", w.config.display(), line("BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=")))
        .assert_stderr("STM32MP_USE_STM32IMAGE=1\"`");
    assert!(!w.artifact("sdcard.img").exists());
    let w = World::new(Setup::Dk2Trusted);
    w.edit_config("BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"v2.7\"", "BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"lts-v2.12.1\"");
    let run = w.run();
    run.assert_code(1)
        .assert_problem("error", "buildroot::chain_mismatch")
        .assert_stderr(&format!("{}:{}:", w.config.display(), line("BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=")))
        .assert_stderr("BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_VERSION_VALUE=\"v2.7\"")
        .assert_stderr("1 error");
    assert!(!w.artifact("sdcard.img").exists());
}

/// The FIP chain needs a BL2 that loads a FIP: v2.7 with STM32MP_USE_STM32IMAGE=1 loads U-Boot's .stm32 from `ssbl`.
#[test]
fn fip_chain_with_a_tfa_that_loads_ssbl_is_refused() {
    let w = World::new(Setup::Dk2Fip);
    w.edit_config("BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"lts-v2.12.1\"", "BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"v2.7\"");
    w.edit_config("STM32MP_SDMMC=1 ", "STM32MP_SDMMC=1 STM32MP_USE_STM32IMAGE=1 ");
    w.run().assert_code(1).assert_problem("error", "buildroot::chain_mismatch").assert_stderr("(without STM32MP_USE_STM32IMAGE)");
    assert!(!w.artifact("sdcard.img").exists());
    // TF-A v2.12 ignores the variable.
    let w = World::new(Setup::Dk2Fip);
    w.edit_config("STM32MP_SDMMC=1 ", "STM32MP_SDMMC=1 STM32MP_USE_STM32IMAGE=1 ");
    w.run().assert_code(0).assert_no_problems();
}

/// TF-A v2.5 has no USB programmer path: flashing stops at 0x01 whatever the variables say, so no layout, and the help
/// asks for a newer TF-A, not for a variable that cannot help.
#[test]
fn tfa_before_v2_6_writes_no_layout_and_asks_for_a_newer_tfa() {
    let w = World::new(Setup::Dk2Trusted);
    w.edit_config("BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_VERSION_VALUE=\"v2.7\"", "BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_VERSION_VALUE=\"v2.5\"");
    w.edit_config("BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"v2.7\"", "BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"v2.5\"");
    let run = w.run();
    run.assert_code(0).assert_problem("warning", "buildroot::no_usb_programmer").assert_stderr("help: upgrade TF-A to v2.7");
    assert!(!run.stderr.contains("error["), "{}", run.stderr);
    check_built(&w, &run);
    assert!(!w.artifact("flash.tsv").exists());
}

#[test]
fn sd_target_without_sdmmc_is_refused() {
    let w = World::new(Setup::Dk2Trusted);
    w.edit_config("STM32MP_SDMMC=1 ", "");
    w.run().assert_code(1).assert_problem("error", "buildroot::no_sdmmc").assert_stderr("STM32MP_SDMMC=1");
    assert!(!w.artifact("sdcard.img").exists());
}

#[test]
fn emmc_target_without_emmc_is_refused() {
    let w = World::new(Setup::Ev1Trusted);
    w.edit_config("STM32MP_EMMC=1", "STM32MP_SDMMC=1");
    w.run().assert_code(1).assert_problem("error", "buildroot::no_emmc").assert_stderr("STM32MP_EMMC=1");
    assert!(!w.artifact("emmc.img").exists());
}

#[test]
fn uboot_spl_as_first_stage_is_refused() {
    let w = World::new(Setup::Dk2Trusted);
    w.edit_config("BR2_TARGET_ARM_TRUSTED_FIRMWARE=y\n", "# BR2_TARGET_ARM_TRUSTED_FIRMWARE is not set\nBR2_TARGET_UBOOT_SPL=y\n");
    w.run().assert_code(1).assert_problem("error", "buildroot::spl_first_stage").assert_stderr("STM32CubeProgrammer needs TF-A");
    assert!(!w.artifact("sdcard.img").exists());
}

#[test]
fn tfa_built_for_another_device_tree_is_refused() {
    let w = World::new(Setup::Dk2Trusted);
    w.edit_config("DTB_FILE_NAME=stm32mp157c-dk2.dtb", "DTB_FILE_NAME=stm32mp157c-ev1.dtb");
    w.run().assert_code(1).assert_problem("error", "buildroot::dtb_mismatch").assert_stderr("DTB_FILE_NAME=stm32mp157c-dk2.dtb");
    assert!(!w.artifact("sdcard.img").exists());
}

#[test]
fn root_on_the_wrong_partition_is_refused_with_the_partuuid_that_works() {
    let w = World::new(Setup::Dk2Trusted);
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
    let w = World::new(Setup::Ev1Trusted);
    w.set_root(&format!("root=PARTUUID={DK2_PARTUUID}"));
    w.run().assert_code(1).assert_problem("error", "buildroot::wrong_root").assert_stderr(&format!("root=PARTUUID={}", EV1_PARTUUID.to_lowercase()));
}

#[test]
fn root_by_device_name_passes_with_the_planned_partition_and_warns_on_an_unusual_index() {
    let w = World::new(Setup::Dk2Trusted);
    w.set_root("root=/dev/mmcblk0p4");
    w.run().assert_code(0).assert_no_problems();
    let w = World::new(Setup::Ev1Trusted);
    w.set_root("root=/dev/mmcblk0p2");
    let run = w.run();
    run.assert_code(0).assert_problem("warning", "buildroot::root_mmcblk_index").assert_stderr("mmcblk1");
    check_built(&w, &run);
}

/// A/B: only the label that boots (`default`, else the first) must mount `rootfs`; another label may name any partition
/// of the image (here `rootfs_b`, partition 5), and one naming no partition of it is only a warning.
#[test]
fn another_label_may_boot_another_partition_of_the_image() {
    let w = World::new(Setup::Dk2Fip);
    let board = w.top.join("ab.toml");
    let text = fs::read_to_string(Path::new(REPO).join("board/stm32mp157c-dk2-fip.toml")).unwrap();
    fs::write(&board, format!("{text}\n[[partition]]\nname = \"rootfs_b\"\nimage = \"rootfs.ext4\"\n")).unwrap();
    let conf = |default: &str, b: &str| {
        format!(
            "{default}label a\n  kernel /boot/zImage\n  append root=/dev/mmcblk0p4 rootwait\nlabel b\n  kernel /boot/zImage\n  append {b} rootwait\n"
        )
    };
    let run = |default: &str, b: &str| {
        w.write_extlinux(&conf(default, b));
        w.run_with(&["--board=ab.toml"], &w.env())
    };
    let ok = run("default a\n", "root=/dev/mmcblk0p5");
    ok.assert_code(0);
    assert!(!ok.stderr.contains("buildroot::"), "{}", ok.stderr);
    let info = oracle_ok("sgdisk", "gdisk", &["-i", "5", w.artifact("sdcard.img").to_str().unwrap()]);
    assert!(info.contains("Partition name: 'rootfs_b'"), "{info}");
    let partuuid = info.lines().find_map(|l| l.strip_prefix("Partition unique GUID: ")).unwrap().trim().to_lowercase();
    let by_partuuid = run("", &format!("root=PARTUUID={partuuid}"));
    by_partuuid.assert_code(0);
    assert!(!by_partuuid.stderr.contains("buildroot::"), "{}", by_partuuid.stderr);
    // The label that boots must name rootfs.
    run("default b\n", "root=/dev/mmcblk0p5")
        .assert_code(1)
        .assert_problem("error", "buildroot::wrong_root")
        .assert_stderr("`rootfs_b`, partition 5");
    // Another label naming no partition of the image: a warning, the image is written.
    fs::remove_file(w.artifact("sdcard.img")).unwrap();
    let run = run("default a\n", "root=/dev/mmcblk0p9");
    run.assert_code(0)
        .assert_problem("warning", "buildroot::wrong_root")
        .assert_stderr(&format!("`rootfs_b` (partition 5, root=PARTUUID={partuuid})"));
    assert!(w.artifact("sdcard.img").is_file());
}

#[test]
fn missing_extlinux_is_a_warning() {
    let w = World::new(Setup::Dk2Trusted);
    fs::remove_file(w.target.join("boot/extlinux/extlinux.conf")).unwrap();
    w.run().assert_code(0).assert_problem("warning", "buildroot::no_extlinux");
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let w = World::new(Setup::Dk2Trusted);
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

/// Beside an error of the description or its inputs nothing is written, so the flashing-only problem is an error too,
/// not a warning saying the image is written.
#[test]
fn a_flashing_only_problem_beside_a_missing_input_is_an_error() {
    let w = World::new(Setup::UpstreamDk2);
    fs::remove_file(w.images.join("fip.bin")).unwrap();
    let run = w.run();
    run.assert_code(1)
        .assert_problem("error", "input::missing")
        .assert_problem("error", "buildroot::no_usb_programmer")
        .assert_stderr("2 errors (listed above)");
    assert!(!run.stderr.contains("warning[buildroot::no_usb_programmer]") && !run.stderr.contains("the image is)"), "{}", run.stderr);
    assert!(!w.artifact("sdcard.img").exists());
}

#[test]
fn environment_and_arguments_are_checked() {
    let w = World::new(Setup::Dk2Trusted);
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
    let w = World::new(Setup::Dk2Trusted);
    let custom = w.top.join("my-board.toml");
    fs::copy(Path::new(REPO).join("board/stm32mp157c-dk2.toml"), &custom).unwrap();
    // Relative to Buildroot's top folder, the current folder; a post-build script's word is ignored with a warning.
    let run = w.run_with(&["--for-post-build", "--board=my-board.toml", "--no-bmap"], &w.env());
    run.assert_code(0).assert_problem("warning", "buildroot::unknown_arg");
    assert!(w.artifact("sdcard.img").is_file() && !w.artifact("sdcard.img.bmap").exists());
    assert!(run.stdout.contains("dd if="), "{}", run.stdout);
}
