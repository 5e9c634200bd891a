//! The built-in flasher end to end through the real Linux USB stack: `stm32mp-imager flash --via builtin` and
//! `devices` against `stm32mp-emu` boards (ROM, TF-A and U-Boot `stm32prog` written from their sources) attached to
//! a QEMU guest's `vhci_hcd`, through usbcore, the hub driver and usbfs — the kernel a real board would meet.
//!
//! These tests run only in the USB guest: `scripts/usb-vm/suite.sh` (called by `scripts/test.sh`, so by CI) builds
//! them and the emulator on the host, boots one guest with `scripts/usb-vm/run.sh` and runs them there with
//! `STM32MP_USBVM=1` and `STM32MP_EMU` (the emulator's path). Anywhere else each test prints that it tested nothing
//! and passes: `cargo test` on a machine without USB cannot do better, and the script CI runs fails when the guest
//! cannot boot. In the guest a missing `vhci_hcd`, emulator or tool is a failure.
//!
//! Each test makes its inputs (a small ext4 by `mke2fs -d`, the shipped boards built by our own `build` with a small
//! rootfs partition, hand-written layouts for STM32MP13/25), starts one emulator per board on its own vhci port with
//! its own serial number, waits for the emulator's marker lines (never sleeps), flashes, and compares the emulated
//! storage byte for byte with the image (raw mode) or each file at its offset (partitions mode). Tests run in
//! parallel, each on its own port; the `--all` test runs alone (it would take every board on the bus).

use std::{
    fs,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        RwLock,
        mpsc::{self, Receiver, RecvTimeoutError},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

mod common;

use common::{make_ext4, require, run_ok};

const IMAGER: &str = env!("CARGO_BIN_EXE_stm32mp-imager");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Tests take it shared; the `--all` test exclusively (it flashes every board on the bus).
static BUS: RwLock<()> = RwLock::new(());

/// The stage timeout given to `flash` (every wait for the board, every transfer, every poll).
const STAGE_TIMEOUT: &str = "30";
/// A whole `flash` run may take this long before the test kills it and fails.
const FLASH_LIMIT: Duration = Duration::from_secs(240);

/// Records a test's duration in the figures when it ends.
struct Timer {
    test: &'static str,
    t0: Instant,
}

impl Drop for Timer {
    fn drop(&mut self) {
        let outcome = if thread::panicking() { "FAILED" } else { "ok" };
        figure(&format!("time: {} {outcome} in {:.1} s", self.test, self.t0.elapsed().as_secs_f64()));
    }
}

/// In the USB guest, a timer for the test; elsewhere the test says it did nothing (and returns).
fn guest(test: &'static str) -> Option<Timer> {
    if std::env::var_os("STM32MP_USBVM").is_none() {
        eprintln!("usb_vm::{test}: not run: STM32MP_USBVM is not set (scripts/usb-vm/suite.sh runs these tests in the USB guest)");
        return None;
    }
    assert!(
        Path::new("/sys/devices/platform/vhci_hcd.0/attach").exists(),
        "STM32MP_USBVM is set but vhci_hcd is not loaded: run these tests through scripts/usb-vm/suite.sh"
    );
    Some(Timer { test, t0: Instant::now() })
}

fn emulator() -> PathBuf {
    let path = std::env::var_os("STM32MP_EMU")
        .map(PathBuf::from)
        .or_else(|| ["release", "debug"].iter().map(|p| Path::new(REPO).join("target").join(p).join("stm32mp-emu")).find(|p| p.is_file()))
        .expect("STM32MP_EMU is not set and no target/*/stm32mp-emu was built (cargo build -p stm32mp-emu --release)");
    assert!(path.is_file(), "the emulator {} does not exist", path.display());
    path
}

/// Append a measured figure to the suite's figures file (and stderr).
fn figure(line: &str) {
    eprintln!("usb_vm figure: {line}");
    if let Some(dir) = std::env::var_os("STM32MP_USBVM_RESULTS")
        && let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(Path::new(&dir).join("usb_vm-figures.txt"))
    {
        let _ = writeln!(f, "{line}");
    }
}

/// A test's folder, in the guest's tmpfs (the emulated storage is written block by block; 9p is ten times slower).
struct Work {
    dir: tempfile::TempDir,
    name: &'static str,
}

/// Keep what a test leaves for people (the boards' logs, the records, the emulators' markers) in the suite's
/// results folder, `usb_vm/<test>/`, whether it passed or not.
impl Drop for Work {
    fn drop(&mut self) {
        let Some(results) = std::env::var_os("STM32MP_USBVM_RESULTS") else { return };
        let keep = Path::new(&results).join("usb_vm").join(self.name);
        if fs::create_dir_all(&keep).is_err() {
            return;
        }
        for dir in [self.dir.path().to_path_buf(), self.logs()] {
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let small = [".log", ".jsonl", ".markers", ".stderr", ".tsv", ".toml"].iter().any(|x| name.ends_with(x));
                if small && e.path().is_file() {
                    let _ = fs::copy(e.path(), keep.join(&name));
                }
            }
        }
    }
}

impl Work {
    fn new(name: &'static str) -> Work {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() { tempfile::Builder::new().prefix(name).tempdir_in(shm) } else { tempfile::Builder::new().prefix(name).tempdir() };
        Work { dir: dir.expect("a temporary folder"), name }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn logs(&self) -> PathBuf {
        self.path("logs")
    }

    fn sample(&self, name: &str) {
        fs::copy(Path::new(REPO).join("samples").join(name), self.path(name)).unwrap_or_else(|e| panic!("samples/{name}: {e}"));
    }

    /// A 2 MiB ext4 holding 300 KB of files, by `mke2fs -d`.
    fn rootfs(&self) {
        make_ext4(&self.path("rootfs.ext4"), 2 << 20, 300_000);
    }

    /// A shipped board description with a 3 MiB rootfs partition, built by our `build` into this folder.
    fn build(&self, board: &str, samples: &[&str]) -> PathBuf {
        self.build_with(board, samples, &|l: &str| Some(l.to_string()))
    }

    /// [`Work::build`] with each line of the description passed through `edit` (`None` drops it).
    fn build_with(&self, board: &str, samples: &[&str], edit: &dyn Fn(&str) -> Option<String>) -> PathBuf {
        for s in samples {
            self.sample(s);
        }
        self.rootfs();
        let toml = fs::read_to_string(Path::new(REPO).join("board").join(board)).unwrap();
        let small: String = toml
            .lines()
            .filter_map(edit)
            .map(|l| if l.trim_start().starts_with("size = ") { "size = \"3M\"\n".to_string() } else { format!("{l}\n") })
            .collect();
        fs::write(self.path("board.toml"), small).unwrap();
        run_ok(Command::new(IMAGER).arg("build").arg(self.path("board.toml")).arg("--images").arg(self.dir.path()).current_dir(self.dir.path()));
        self.path("flash.tsv")
    }

    /// The flash records written so far.
    fn records(&self) -> Vec<Value> {
        match fs::read_to_string(self.logs().join("flash-records.jsonl")) {
            Ok(t) => t.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad record {l}: {e}"))).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// One emulated board: its process, its marker lines as they come.
struct Emu {
    child: Option<Child>,
    lines: Receiver<String>,
    seen: Vec<String>,
    serial: String,
    name: String,
    /// Where the markers seen are written when it is dropped.
    markers: PathBuf,
}

impl Emu {
    fn start(w: &Work, name: &str, port: u32, serial: &str, args: &[&str]) -> Emu {
        let err = fs::File::create(w.path(&format!("{name}.stderr"))).unwrap();
        let mut child = Command::new(emulator())
            .args(args)
            .args(["--port", &port.to_string(), "--serial", serial, "--timeout", "600"])
            .current_dir(w.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the emulator: {e}"));
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Emu {
            child: Some(child),
            lines: rx,
            seen: Vec::new(),
            serial: serial.to_string(),
            name: format!("{}/{name}", w.name),
            markers: w.path(&format!("{name}.markers")),
        }
    }

    fn dump(&self) -> String {
        self.seen.join("\n")
    }

    /// Read marker lines until one contains `pattern`.
    fn wait(&mut self, pattern: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(pattern) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("{}: no `{pattern}` within {limit:?}; markers:\n{}", self.name, self.dump()),
                Err(RecvTimeoutError::Disconnected) => panic!("{}: the emulator ended before `{pattern}`; markers:\n{}", self.name, self.dump()),
            }
        }
    }

    /// The board's USB path, from sysfs (the device with our serial number).
    fn usb_path(&self) -> String {
        for entry in fs::read_dir("/sys/bus/usb/devices").expect("/sys/bus/usb/devices") {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains(':') || name.starts_with("usb") {
                continue;
            }
            if fs::read_to_string(entry.path().join("serial")).is_ok_and(|s| s.trim() == self.serial) {
                return name;
            }
        }
        panic!("{}: no USB device with serial {} in sysfs; markers:\n{}", self.name, self.serial, self.dump());
    }

    /// Wait, at most `limit`, for the emulator to end; its exit code.
    fn finish(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("{}: the emulator did not end within {limit:?}; markers:\n{}", self.name, self.dump()),
            }
        }
        let status = self.child.take().unwrap().wait().unwrap();
        status.code().unwrap_or(-1)
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        let _ = fs::write(&self.markers, self.dump() + "\n");
    }
}

/// A finished command.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn show(&self) -> String {
        format!("exit {:?} after {:.1} s\n--- stdout\n{}--- stderr\n{}", self.code, self.elapsed.as_secs_f64(), self.stdout, self.stderr)
    }
}

/// Run the imager; killed (and the test failed) after `limit`.
fn imager(args: &[&str], cwd: &Path, limit: Duration) -> Run {
    let t0 = Instant::now();
    let child = Command::new(IMAGER)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("STM32_PROGRAMMER_CLI")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stm32mp-imager");
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    let (done, watch) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if watch.recv_timeout(limit) == Err(RecvTimeoutError::Timeout) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            return true;
        }
        false
    });
    let out = child.wait_with_output().unwrap();
    let _ = done.send(());
    let killed = watchdog.join().unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: t0.elapsed(),
    };
    assert!(!killed, "stm32mp-imager {args:?} did not end within {limit:?}:\n{}", run.show());
    run
}

/// `flash LAYOUT --via builtin` with the test's log folder and the suite's stage timeout.
fn flash(w: &Work, tsv: &Path, extra: &[&str]) -> Run {
    let logs = w.logs();
    let mut args = vec!["flash", tsv.to_str().unwrap(), "--via", "builtin", "--timeout", STAGE_TIMEOUT, "--stagger", "0"];
    args.extend(["--log-dir", logs.to_str().unwrap()]);
    args.extend_from_slice(extra);
    imager(&args, w.dir.path(), FLASH_LIMIT)
}

/// `bytes` of `storage` at `offset` equal `file`, or the first difference.
fn assert_same_at(storage: &Path, offset: u64, file: &Path) {
    let s = fs::read(storage).unwrap_or_else(|e| panic!("{}: {e}", storage.display()));
    let f = fs::read(file).unwrap();
    let at = usize::try_from(offset).unwrap();
    assert!(
        s.len() >= at + f.len(),
        "{} is {:#x} bytes, too short for {} ({:#x} bytes) at {offset:#x}",
        storage.display(),
        s.len(),
        file.display(),
        f.len()
    );
    if let Some(i) = s[at..at + f.len()].iter().zip(&f).position(|(a, b)| a != b) {
        panic!("{} at {:#x} (offset {:#x} into {}) differs from the file", storage.display(), at + i, i, file.display());
    }
}

/// Every partition the layout programs, compared with its file at its offset (`boot1`/`boot2`: the eMMC boot
/// partitions' files; a RawImage at 0x0 is the whole image).
fn assert_layout_written(w: &Work, tsv: &Path, user: &Path, boot: Option<(&Path, &Path)>) -> usize {
    let mut checked = 0;
    for line in fs::read_to_string(tsv).unwrap().lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').filter(|c| !c.is_empty()).collect();
        let (opt, ip, offset, binary) = (cols[0], cols[4], cols[5], cols[6]);
        if ip == "none" || !opt.contains('P') || opt.contains('E') || binary == "none" {
            continue;
        }
        let file = w.path(binary);
        match offset {
            "boot1" => assert_same_at(boot.expect("an eMMC").0, 0, &file),
            "boot2" => assert_same_at(boot.expect("an eMMC").1, 0, &file),
            hex => assert_same_at(user, u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap(), &file),
        }
        checked += 1;
    }
    assert!(checked > 0, "{} programs nothing", tsv.display());
    checked
}

fn size(w: &Work, name: &str) -> u64 {
    fs::metadata(w.path(name)).unwrap().len()
}

/// The record of a successful run: via builtin, each partition in the order sent with its whole bytes, a time, and
/// the board's total. Returns the largest partition's (bytes, seconds).
fn assert_success_record(rec: &Value, expected: &[(&str, u64)], test: &str) -> (u64, f64) {
    assert_eq!(rec["result"], "success", "{rec:#}");
    assert_eq!(rec["via"], "builtin", "{rec:#}");
    assert_eq!(rec["programmer"]["path"], "built-in", "{rec:#}");
    let parts = rec["partitions"].as_array().unwrap();
    let got: Vec<(String, u64)> = parts.iter().map(|p| (p["id"].as_str().unwrap().to_string(), p["bytes_sent"].as_u64().unwrap())).collect();
    let want: Vec<(String, u64)> = expected.iter().map(|(id, b)| ((*id).to_string(), *b)).collect();
    assert_eq!(got, want, "partitions sent, in order, with their bytes: {rec:#}");
    for p in parts {
        assert_eq!(p["complete"], true, "{p}");
        assert!(p["seconds"].as_f64().unwrap() > 0.0, "every partition has its time: {p}");
    }
    assert_eq!(rec["bytes_sent"].as_u64().unwrap(), expected.iter().map(|(_, b)| b).sum::<u64>(), "{rec:#}");
    let biggest = parts.iter().max_by_key(|p| p["bytes_sent"].as_u64().unwrap()).unwrap();
    let (bytes, secs) = (biggest["bytes_sent"].as_u64().unwrap(), biggest["seconds"].as_f64().unwrap());
    #[allow(clippy::cast_precision_loss)]
    let rate = bytes as f64 / 1024.0 / secs;
    figure(&format!(
        "{test}: partition {} ({}) {bytes} bytes in {secs:.3} s = {rate:.0} KiB/s; whole board {:.1} s",
        biggest["id"].as_str().unwrap(),
        biggest["file"].as_str().unwrap(),
        rec["duration_s"].as_f64().unwrap()
    ));
    (bytes, secs)
}

/// A layout's 0x00 payload: the TSV behind a 256-byte STM32 v1 header.
fn layout_bytes(tsv: &Path) -> u64 {
    256 + fs::metadata(tsv).unwrap().len()
}

/// The DK2 FIP board in partitions mode, built small: the shipped `stm32mp157c-dk2-fip.toml` reproduces upstream
/// Buildroot's genimage image (raw mode, TF-A-sized slots, every type Linux); here it keeps the FIP chain with
/// stm32prog's own slots and types (fsbl1/fsbl2 `Binary` 0x04/0x05, fip `FIP` 0x06, rootfs 0x10), as a
/// partitions-mode user writes it.
fn dk2_fip(w: &Work) -> PathBuf {
    w.build_with("stm32mp157c-dk2-fip.toml", &["tf-a-stm32mp157c-dk2.stm32", "fip.bin"], &|line: &str| {
        let key = line.split('=').next().unwrap_or("").trim();
        match key {
            "fsbl_size" | "fip_size" | "fsbl_type" | "fip_type" => None,
            "mode" => Some("mode = \"partitions\"".to_string()),
            _ => Some(line.to_string()),
        }
    })
}

const TFA_DK2: &str = "tf-a-stm32mp157c-dk2.stm32";

/// The DK2 FIP layout's partitions as sent by a new U-Boot after an upstream TF-A.
fn dk2_fip_sent(w: &Work, tsv: &Path, tfa_takes_layout: bool, uboot_takes_layout: bool) -> Vec<(&'static str, u64)> {
    let mut v = vec![("0x01", size(w, TFA_DK2))];
    if tfa_takes_layout {
        v.push(("0x00", layout_bytes(tsv)));
    }
    v.push(("0x03", size(w, "fip.bin")));
    if uboot_takes_layout {
        v.push(("0x00", layout_bytes(tsv)));
    }
    v.extend([("0x04", size(w, TFA_DK2)), ("0x05", size(w, TFA_DK2)), ("0x06", size(w, "fip.bin")), ("0x10", size(w, "rootfs.ext4"))]);
    v
}

fn first_line(run: &Run) -> &str {
    run.stderr.lines().next().unwrap_or("")
}

/// STM32MP157C-DK2, SD card, raw mode (the shipped `stm32mp157c-dk2.toml`, trusted chain: TF-A then u-boot.stm32):
/// ST's TF-A v2.4-stm32mp (layout on 0x00, then the SSBL on 0x03, each STM32 header checked) and U-Boot 2022.10
/// (uses the layout TF-A left in DDR). The whole image goes to 0x10 and must be on the card byte for byte. The
/// board is chosen by serial number.
#[test]
fn dk2_raw_sd_card_st_tfa_v2_4_and_uboot_2022_10() {
    let Some(_timer) = guest("dk2_raw_sd_card_st_tfa_v2_4_and_uboot_2022_10") else { return };
    let _bus = BUS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let w = Work::new("dk2-raw");
    let tsv = w.build("stm32mp157c-dk2.toml", &[TFA_DK2, "u-boot.stm32"]);
    let sd = w.path("sd-card.bin");
    let mut emu = Emu::start(
        &w,
        "emu",
        0,
        "0027000A3338511934383330",
        &["--storage", sd.to_str().unwrap(), "--size", "8M", "--tfa", "st-v2.4-stm32image", "--uboot", "2022.10"],
    );
    emu.wait("emu: configured stage=rom", Duration::from_secs(60));
    let run = flash(&w, &tsv, &["--serial", "0027000A3338511934383330"]);
    assert_eq!(run.code, Some(0), "{}", run.show());
    assert_eq!(first_line(&run), "via builtin: the built-in USB DFU client (--via builtin)");
    emu.wait("emu: done", Duration::from_secs(30));
    assert_eq!(emu.finish(Duration::from_secs(30)), 0, "{}", emu.dump());
    assert_same_at(&sd, 0, &w.path("sdcard.img"));
    let recs = w.records();
    assert_eq!(recs.len(), 1);
    let expected = [("0x01", size(&w, TFA_DK2)), ("0x00", layout_bytes(&tsv)), ("0x03", size(&w, "u-boot.stm32")), ("0x10", size(&w, "sdcard.img"))];
    assert_success_record(&recs[0], &expected, "dk2 raw SD (st-v2.4-stm32image, 2022.10)");
    assert_eq!(recs[0]["board_serial"], "0027000A3338511934383330");
    assert_eq!(recs[0]["partitions"][3]["name"], "sdcard");
    assert!(run.stdout.contains("1 of 1 board flashed"), "{}", run.show());
}

/// STM32MP157C-EV1, eMMC, raw mode (the shipped `stm32mp157c-ev1.toml`): TF-A to the boot1 and boot2 hardware
/// partitions, the user-area image to 0x10. ST's TF-A v2.4 with a u-boot.stm32, then a U-Boot of 2023.01 or later,
/// which asks for the layout again on 0x00.
#[test]
fn ev1_emmc_raw_boot_partitions_and_user_area_new_uboot() {
    let Some(_timer) = guest("ev1_emmc_raw_boot_partitions_and_user_area_new_uboot") else { return };
    let _bus = BUS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let w = Work::new("ev1-emmc");
    let tfa = "tf-a-stm32mp157c-ev1.stm32";
    let tsv = w.build("stm32mp157c-ev1.toml", &[tfa, "u-boot.stm32"]);
    let user = w.path("emmc-user.bin");
    let (boot1, boot2) = (w.path("emmc-boot1.bin"), w.path("emmc-boot2.bin"));
    let mut emu = Emu::start(
        &w,
        "emu",
        1,
        "0027000B3338511934383330",
        &[
            "--medium",
            "emmc",
            "--storage",
            user.to_str().unwrap(),
            "--size",
            "8M",
            "--boot1",
            boot1.to_str().unwrap(),
            "--boot2",
            boot2.to_str().unwrap(),
            "--boot-size",
            "512K",
            "--tfa",
            "st-v2.4-stm32image",
            "--uboot",
            "new",
        ],
    );
    emu.wait("emu: configured stage=rom", Duration::from_secs(60));
    let path = emu.usb_path();
    let run = flash(&w, &tsv, &["--usb-path", &path]);
    assert_eq!(run.code, Some(0), "{}", run.show());
    emu.wait("emu: done", Duration::from_secs(30));
    assert_eq!(emu.finish(Duration::from_secs(30)), 0, "{}", emu.dump());
    assert!(emu.seen.iter().any(|l| l.contains("uboot: partconf mmc=1")), "U-Boot set the boot partition: {}", emu.dump());
    assert_eq!(assert_layout_written(&w, &tsv, &user, Some((&boot1, &boot2))), 3);
    assert_same_at(&user, 0, &w.path("emmc.img"));
    let recs = w.records();
    let l = layout_bytes(&tsv);
    let expected = [
        ("0x01", size(&w, tfa)),
        ("0x00", l),
        ("0x03", size(&w, "u-boot.stm32")),
        ("0x00", l),
        ("0x04", size(&w, tfa)),
        ("0x05", size(&w, tfa)),
        ("0x10", size(&w, "emmc.img")),
    ];
    assert_success_record(&recs[0], &expected, "ev1 raw eMMC (st-v2.4-stm32image, new)");
    assert_eq!(recs[0]["usb"]["path"], path.as_str());
}

/// STM32MP157C-DK2 with a FIP, partitions mode (the shipped `stm32mp157c-dk2-fip.toml`), upstream TF-A (a FIP on
/// 0x03 only) and a new U-Boot. Before flashing, `devices --json` and `flash --dry-run` read the board and leave it
/// at the ROM (the flash that follows starts there).
#[test]
fn dk2_fip_partitions_upstream_tfa_new_uboot_after_devices_and_a_dry_run() {
    let Some(_timer) = guest("dk2_fip_partitions_upstream_tfa_new_uboot_after_devices_and_a_dry_run") else { return };
    let _bus = BUS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let w = Work::new("dk2-fip");
    let tsv = dk2_fip(&w);
    let sd = w.path("sd-card.bin");
    let serial = "0027000C3338511934383330";
    let mut emu = Emu::start(&w, "emu", 2, serial, &["--storage", sd.to_str().unwrap(), "--size", "16M", "--tfa", "upstream", "--uboot", "new"]);
    emu.wait("emu: configured stage=rom", Duration::from_secs(60));
    let path = emu.usb_path();

    // devices --json: the board read over USB.
    let run = imager(&["devices", "--json"], w.dir.path(), Duration::from_secs(60));
    assert_eq!(run.code, Some(0), "{}", run.show());
    let boards: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.show()));
    let board = boards.as_array().unwrap().iter().find(|b| b["dfu"]["serial"] == serial).unwrap_or_else(|| panic!("not listed: {}", run.show()));
    assert_eq!(board["dfu"]["usb_path"], path.as_str(), "{board:#}");
    assert_eq!(board["usb"]["path"], path.as_str(), "{board:#}");
    assert_eq!(board["dfu"]["stage"], "ROM", "{board:#}");
    assert_eq!(board["dfu"]["soc"], "stm32mp15", "{board:#}");
    assert_eq!(board["dfu"]["device_id"], 0x500, "{board:#}");
    let alternates: Vec<(u64, String)> =
        board["dfu"]["alternates"].as_array().unwrap().iter().filter_map(|a| Some((a["phase"].as_u64()?, a["name"].as_str()?.to_string()))).collect();
    assert!(alternates.contains(&(1, "@FSBL /0x01/1*1Me".to_string())), "{alternates:?}");
    assert!(alternates.iter().any(|(p, _)| *p == 0xF1), "the virtual alternate: {alternates:?}");
    let table = imager(&["devices"], w.dir.path(), Duration::from_secs(60));
    let row = table.stdout.lines().find(|l| l.contains(serial)).unwrap_or_else(|| panic!("{}", table.show()));
    assert!(row.contains(&format!(" {path} ")) && row.contains(" ROM ") && row.contains("STM32MP15") && row.contains("FSBL/0x01"), "{row}");

    // flash --dry-run: the job with the planned phases, nothing sent, nothing written.
    let run = imager(
        &["flash", tsv.to_str().unwrap(), "--via", "builtin", "--usb-path", &path, "--dry-run", "--log-dir", w.logs().to_str().unwrap()],
        w.dir.path(),
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(0), "{}", run.show());
    for want in [
        "back end: the built-in USB DFU client (stm32mp-imager ",
        &format!("USB: open the board at USB path {path}, serial {serial} (STM32MP15)"),
        "ROM: 0x01 fsbl-boot ← tf-a-stm32mp157c-dk2.stm32",
        "TF-A: 0x00 the layout (flash.tsv, STM32 header v1.0) when it asks (ST's v2.4 TF-A); 0x03 fip-boot ← fip.bin",
        "U-Boot: 0x06 fip ← fip.bin",
        "U-Boot: 0x10 rootfs ← rootfs.ext4",
    ] {
        assert!(run.stdout.contains(want), "no `{want}` in:\n{}", run.show());
    }
    assert!(!w.logs().exists(), "a dry run writes nothing");

    let run = flash(&w, &tsv, &["--usb-path", &path]);
    assert_eq!(run.code, Some(0), "{}", run.show());
    emu.wait("emu: done", Duration::from_secs(30));
    assert_eq!(emu.finish(Duration::from_secs(30)), 0);
    assert!(emu.seen.iter().any(|l| l.contains("rom: fsbl accepted")), "the flash started at the ROM: {}", emu.dump());
    assert_eq!(assert_layout_written(&w, &tsv, &sd, None), 4);
    let rec = &w.records()[0];
    assert_success_record(rec, &dk2_fip_sent(&w, &tsv, false, true), "dk2 FIP partitions (upstream, new)");
    let sgdisk = Command::new("sgdisk").arg("-v").arg(&sd).output();
    if let Ok(out) = sgdisk {
        assert!(String::from_utf8_lossy(&out.stdout).contains("No problems found"), "the GPT U-Boot wrote: {}", String::from_utf8_lossy(&out.stdout));
    } else {
        require("sgdisk");
    }
}

/// A hand-written SD card layout for a SoC the shipped boards do not cover (the emulator's `--soc`): TF-A's USB
/// build on 0x01, then `boot`, the FIPs TF-A takes as (id, line name, file), then fsbl1, fsbl2, fip-a and rootfs.
/// Flashes it by USB path and checks the storage byte for byte and the record's bytes per partition; returns the run.
fn hand_written_sd(w: &Work, soc: &str, (port, serial): (u32, &str), (usb, sdcard): (&str, &str), boot: &[(&str, &str, &str)]) -> Run {
    for s in [usb, sdcard, "fip.bin"] {
        w.sample(s);
    }
    w.rootfs();
    let mut layout = format!("#Opt\tId\tName\tType\tIP\tOffset\tBinary\n-\t0x01\tfsbl-boot\tBinary\tnone\t0x0\t{usb}\n");
    for (id, name, file) in boot {
        layout += &format!("-\t{id}\t{name}\tFIP\tnone\t0x0\t{file}\n");
    }
    layout += &format!(
        "P\t0x04\tfsbl1\tBinary\tmmc0\t0x00004400\t{sdcard}\nP\t0x05\tfsbl2\tBinary\tmmc0\t0x00044400\t{sdcard}\n\
P\t0x06\tfip-a\tFIP\tmmc0\t0x00084400\tfip.bin\nP\t0x10\trootfs\tSystem\tmmc0\t0x00484400\trootfs.ext4\n"
    );
    let tsv = w.path("flash.tsv");
    fs::write(&tsv, layout).unwrap();
    let sd = w.path("sd-card.bin");
    let mut emu = Emu::start(w, "emu", port, serial, &["--soc", soc, "--storage", sd.to_str().unwrap(), "--size", "16M"]);
    emu.wait("emu: configured stage=rom", Duration::from_secs(60));
    let path = emu.usb_path();
    let run = flash(w, &tsv, &["--usb-path", &path]);
    assert_eq!(run.code, Some(0), "{}", run.show());
    emu.wait("emu: done", Duration::from_secs(30));
    assert_eq!(emu.finish(Duration::from_secs(30)), 0);
    assert_eq!(assert_layout_written(w, &tsv, &sd, None), 4);
    let mut expected = vec![("0x01", size(w, usb))];
    expected.extend(boot.iter().map(|&(id, _, file)| (id, size(w, file))));
    expected.extend([
        ("0x00", layout_bytes(&tsv)),
        ("0x04", size(w, sdcard)),
        ("0x05", size(w, sdcard)),
        ("0x06", size(w, "fip.bin")),
        ("0x10", size(w, "rootfs.ext4")),
    ]);
    assert_success_record(&w.records()[0], &expected, &format!("{soc} (upstream, new)"));
    run
}

/// A hand-written STM32MP13 layout (the shipped boards are MP15): the ROM takes a v2.0 FSBL and waits for GetPhase
/// and DETACH, TF-A re-enumerates and takes only a FIP on 0x03, a new U-Boot asks for the layout.
#[test]
fn mp13_hand_written_layout() {
    let Some(_timer) = guest("mp13_hand_written_layout") else { return };
    let _bus = BUS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let w = Work::new("mp13");
    let tfa = ("tf-a-stm32mp135f-dk-usb.stm32", "tf-a-stm32mp135f-dk-sdcard.stm32");
    let run = hand_written_sd(&w, "mp13", (3, "0027000D3338511934383330"), tfa, &[("0x03", "fip-boot", "fip.bin")]);
    assert!(run.stderr.contains("STM32MP13"), "the SoC read from the FSBL's v2.0 header: {}", run.show());
}

/// A hand-written STM32MP25 layout: TF-A takes the DDR firmware FIP on 0x02 (a FIP made by fiptool, under TF-A's
/// 40 KiB SYSRAM buffer), is detached, comes back and takes the FIP on 0x03; then a new U-Boot.
#[test]
fn mp25_ddr_firmware_on_0x02() {
    let Some(_timer) = guest("mp25_ddr_firmware_on_0x02") else { return };
    let _bus = BUS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let w = Work::new("mp25");
    let ddr = w.path("fip-ddr.bin");
    require("fiptool");
    fs::write(w.path("ddr-fw.payload"), common::payload("ddr firmware", 6000)).unwrap();
    run_ok(Command::new("fiptool").arg("create").arg("--tos-fw").arg(w.path("ddr-fw.payload")).arg(&ddr));
    assert!(fs::metadata(&ddr).unwrap().len() < 0xA000);
    let tfa = ("tf-a-stm32mp257f-dk-usb.stm32", "tf-a-stm32mp257f-dk-optee-sdcard.stm32");
    let boot = [("0x02", "fip-ddr-boot", "fip-ddr.bin"), ("0x03", "fip-boot", "fip.bin")];
    hand_written_sd(&w, "mp25", (4, "0027000E3338511934383330"), tfa, &boot);
}

/// Two boards at once with `--all`: one with ST's TF-A v2.4 taking a FIP and U-Boot 2022.10, one with upstream
/// TF-A and a new U-Boot, on two vhci ports; both flashed in parallel (their runs overlap), each with its log, its
/// record and its storage written.
#[test]
fn two_boards_at_once_with_all() {
    let Some(_timer) = guest("two_boards_at_once_with_all") else { return };
    let _bus = BUS.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let w = Work::new("all");
    let tsv = dk2_fip(&w);
    let (sd_a, sd_b) = (w.path("sd-a.bin"), w.path("sd-b.bin"));
    let (sn_a, sn_b) = ("0027000F3338511934383330", "002700103338511934383330");
    let mut a = Emu::start(&w, "emu-a", 5, sn_a, &["--storage", sd_a.to_str().unwrap(), "--size", "16M", "--tfa", "st-v2.4", "--uboot", "2022.10"]);
    let mut b = Emu::start(&w, "emu-b", 6, sn_b, &["--storage", sd_b.to_str().unwrap(), "--size", "16M", "--tfa", "upstream", "--uboot", "new"]);
    a.wait("emu: configured stage=rom", Duration::from_secs(60));
    b.wait("emu: configured stage=rom", Duration::from_secs(60));
    let run = flash(&w, &tsv, &["--all"]);
    assert_eq!(run.code, Some(0), "{}", run.show());
    assert!(run.stdout.contains("2 of 2 boards flashed"), "{}", run.show());
    for e in [&mut a, &mut b] {
        e.wait("emu: done", Duration::from_secs(30));
        assert_eq!(e.finish(Duration::from_secs(30)), 0);
    }
    assert_eq!(assert_layout_written(&w, &tsv, &sd_a, None), 4);
    assert_eq!(assert_layout_written(&w, &tsv, &sd_b, None), 4);
    let recs = w.records();
    assert_eq!(recs.len(), 2, "{recs:#?}");
    let rec = |sn: &str| recs.iter().find(|r| r["board_serial"] == sn).unwrap_or_else(|| panic!("no record for {sn}: {recs:#?}")).clone();
    let (ra, rb) = (rec(sn_a), rec(sn_b));
    assert_success_record(&ra, &dk2_fip_sent(&w, &tsv, true, false), "board A of --all (st-v2.4, 2022.10)");
    assert_success_record(&rb, &dk2_fip_sent(&w, &tsv, false, true), "board B of --all (upstream, new)");
    for r in [&ra, &rb] {
        assert!(Path::new(r["log"].as_str().unwrap()).is_file(), "{r:#}");
    }
    let span = |r: &Value| (r["started"].as_str().unwrap().to_string(), r["time"].as_str().unwrap().to_string());
    let ((sa, ea), (sb, eb)) = (span(&ra), span(&rb));
    assert!(sa < eb && sb < ea, "the two boards were flashed at the same time: A {sa}..{ea}, B {sb}..{eb}");
    figure(&format!("two boards with --all: {:.1} s for both (A {:.1} s, B {:.1} s)", run.elapsed.as_secs_f64(), ra["duration_s"], rb["duration_s"]));
}

/// A failed run: exit 4, the failure line names the board, the error the stage and the partition, within the
/// bound, and the record says failed at that partition.
fn assert_failed(w: &Work, run: &Run, path: &str, stage: &str, partition: &str, words: &[&str]) -> Value {
    assert_eq!(run.code, Some(4), "{}", run.show());
    assert!(run.elapsed < Duration::from_secs(90), "ended in bounded time: {}", run.show());
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with(&format!("{path} (serial ")))
        .unwrap_or_else(|| panic!("no failure line for {path}: {}", run.show()));
    assert!(line.contains(&format!("stage {stage}")) && line.contains(&format!("phase {partition}")), "{line}");
    for w in words {
        assert!(line.contains(w), "no `{w}` in: {line}");
    }
    assert!(run.stderr.contains(&format!("flashing failed on 1 of 1 boards: {path} (failed)")), "{}", run.show());
    let recs = w.records();
    assert_eq!(recs.len(), 1);
    let r = recs[0].clone();
    assert_eq!(r["result"], "failed", "{r:#}");
    assert_eq!(r["partition"], partition, "{r:#}");
    assert!(r["error"].as_str().unwrap().contains(&format!("stage {stage}")), "{r:#}");
    figure(&format!("{}: failed as expected after {:.1} s", w.name, run.elapsed.as_secs_f64()));
    r
}

/// The ROM refuses the FSBL (dfuERROR after manifestation): the run stops at the ROM, partition 0x01.
#[test]
fn rom_rejects_the_fsbl() {
    let Some(_timer) = guest("rom_rejects_the_fsbl") else { return };
    let _bus = BUS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let w = Work::new("rom-reject");
    let tsv = dk2_fip(&w);
    let sd = w.path("sd-card.bin");
    let mut emu =
        Emu::start(&w, "emu", 7, "002700113338511934383330", &["--storage", sd.to_str().unwrap(), "--size", "16M", "--fault", "rom-reject"]);
    emu.wait("emu: configured stage=rom", Duration::from_secs(60));
    let path = emu.usb_path();
    let run = flash(&w, &tsv, &["--usb-path", &path]);
    let rec = assert_failed(&w, &run, &path, "ROM", "0x01", &["tf-a-stm32mp157c-dk2.stm32"]);
    emu.wait("emu: rom: fsbl rejected", Duration::from_secs(5));
    assert_eq!(rec["partitions"][0]["id"], "0x01");
    assert!(rec["hint"].as_str().unwrap().contains("STM32MP_USB_PROGRAMMER"), "{rec:#}");
}

/// The board drops off the bus 1 MiB into the rootfs: stage U-Boot, partition 0x10, "left the USB bus", the
/// record keeps the bytes acknowledged before it went.
#[test]
fn board_vanishes_in_the_middle_of_a_partition() {
    let Some(_timer) = guest("board_vanishes_in_the_middle_of_a_partition") else { return };
    let _bus = BUS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let w = Work::new("vanish");
    let tsv = dk2_fip(&w);
    let sd = w.path("sd-card.bin");
    let mut emu =
        Emu::start(&w, "emu", 8, "002700123338511934383330", &["--storage", sd.to_str().unwrap(), "--size", "16M", "--fault", "vanish:rootfs:1M"]);
    emu.wait("emu: configured stage=rom", Duration::from_secs(60));
    let path = emu.usb_path();
    let run = flash(&w, &tsv, &["--usb-path", &path]);
    let rec = assert_failed(&w, &run, &path, "U-Boot", "0x10", &["left the USB bus", "rootfs.ext4"]);
    emu.wait("emu: vanished", Duration::from_secs(5));
    assert_eq!(emu.finish(Duration::from_secs(30)), 3);
    let last = rec["partitions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["id"].as_str(), last["complete"].as_bool()), (Some("0x10"), Some(false)), "{rec:#}");
    let sent = last["bytes_sent"].as_u64().unwrap();
    assert!(sent > 0 && sent <= 1 << 20, "bytes acknowledged before the board went: {sent}");
    assert!(rec["bytes_sent"].as_u64().unwrap() > size(&w, "fip.bin"), "{rec:#}");
}

/// U-Boot fails while preparing a partition and answers GetPhase 0xFF with its text: the error carries U-Boot's
/// words and names the partition they name.
#[test]
fn uboot_getphase_error_carries_its_text() {
    let Some(_timer) = guest("uboot_getphase_error_carries_its_text") else { return };
    let _bus = BUS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let w = Work::new("getphase");
    let tsv = dk2_fip(&w);
    let sd = w.path("sd-card.bin");
    let mut emu =
        Emu::start(&w, "emu", 9, "002700133338511934383330", &["--storage", sd.to_str().unwrap(), "--size", "16M", "--fault", "getphase-error:fip"]);
    emu.wait("emu: configured stage=rom", Duration::from_secs(60));
    let path = emu.usb_path();
    let run = flash(&w, &tsv, &["--usb-path", &path]);
    let rec = assert_failed(&w, &run, &path, "U-Boot", "0x06", &["\"fip (0x6): MMC erase failed\"", "GetPhase 0xff"]);
    assert_eq!(rec["programmer_errors"][0], "fip (0x6): MMC erase failed", "{rec:#}");
    emu.wait("emu: uboot: reset requested", Duration::from_secs(5));
}
