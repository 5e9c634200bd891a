//! `flash`, `devices` and `udev-rules` end to end, against the TEST DOUBLE of `STM32_Programmer_CLI`
//! (`tests/doubles/fake_stm32_programmer_cli.py`), which replays the programmer's published transcripts
//! (`tests/fixtures/programmer/`, each with its source). Nothing here talks to a real programmer or board: what these
//! tests prove is how stm32mp-imager reacts to those output shapes, not how the programmer behaves.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use stm32mp_imager::{
    cancel::Cancel,
    effects::{flash_job, fleet, programmer::CubeProgrammer},
    flash::{
        Event, EventKind, FlashEvent, ResultKind,
        cubeprog::listing::parse_list,
        job::{self, JobOptions},
        select::{self, SelectBy, Selection},
    },
};

mod common;

use common::proc::doomed;

const BIN: &str = env!("CARGO_BIN_EXE_stm32mp-imager");
/// The guide's board.
const GUIDE_SN: &str = "004200343338510534383330";
/// The mailing-list session's board (flashers.md §1.2).
const ML_SN: &str = "0019002C3431511733353431";
const LAYOUT: &str = "#Opt\tId\tName\tType\tIP\tOffset\tBinary\n\
-\t0x01\tfsbl1-boot\tBinary\tnone\t0x0\ttf-a-stm32mp157c-dk2.stm32\n\
-\t0x03\tssbl-boot\tBinary\tnone\t0x0\tu-boot.stm32\n\
P\t0x10\tsdcard\tRawImage\tmmc0\t\t0x0\tsdcard.img\n";
const SDCARD_LEN: u64 = 1 << 20;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn double() -> PathBuf {
    common::require("python3");
    let p = repo().join("tests/doubles/fake_stm32_programmer_cli.py");
    let mut perms = fs::metadata(&p).unwrap().permissions();
    perms.set_mode(0o755);
    fs::set_permissions(&p, perms).unwrap();
    p
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(path).unwrap()))
}

/// A bench: an images folder with the guide's layout (its three files, smaller), a fake sysfs, a scenario.
struct Bench {
    tmp: tempfile::TempDir,
    scenario: serde_json::Map<String, Value>,
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn show(&self) -> String {
        format!("status {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

impl Bench {
    fn new(list: &str) -> Bench {
        let tmp = tempfile::tempdir().unwrap();
        let images = tmp.path().join("images");
        fs::create_dir_all(&images).unwrap();
        fs::write(images.join("flash.tsv"), LAYOUT).unwrap();
        fs::copy(repo().join("samples/tf-a-stm32mp157c-dk2.stm32"), images.join("tf-a-stm32mp157c-dk2.stm32")).unwrap();
        fs::copy(repo().join("samples/u-boot.stm32"), images.join("u-boot.stm32")).unwrap();
        let sd: Vec<u8> = (0..SDCARD_LEN).map(|i| (i % 251) as u8).collect();
        fs::write(images.join("sdcard.img"), sd).unwrap();
        // The fake sysfs matches list_usb_3.txt's buses and addresses (and list_usb_1.txt's first board).
        for (path, bus, dev, serial) in [("3-1", 3, 3, GUIDE_SN), ("3-2", 3, 4, ML_SN), ("1-4", 1, 7, ""), ("1-1", 1, 2, "")] {
            let d = tmp.path().join("sys/bus/usb/devices").join(path);
            fs::create_dir_all(&d).unwrap();
            let product = if path == "1-1" { "374b" } else { "df11" };
            for (k, v) in [("idVendor", "0483"), ("idProduct", product), ("busnum", &bus.to_string()), ("devnum", &dev.to_string())] {
                fs::write(d.join(k), format!("{v}\n")).unwrap();
            }
            if !serial.is_empty() {
                fs::write(d.join("serial"), format!("{serial}\n")).unwrap();
            }
        }
        let calls = tmp.path().join("calls.jsonl");
        let scenario = json!({"list": list, "calls": calls, "delay": 0.001});
        Bench { tmp, scenario: scenario.as_object().unwrap().clone() }
    }

    fn set(mut self, key: &str, value: Value) -> Bench {
        self.scenario.insert(key.to_string(), value);
        self
    }

    fn images(&self) -> PathBuf {
        self.tmp.path().join("images")
    }

    fn layout(&self) -> String {
        self.images().join("flash.tsv").display().to_string()
    }

    fn sysfs(&self) -> String {
        self.tmp.path().join("sys").display().to_string()
    }

    fn scenario_path(&self) -> PathBuf {
        let p = self.tmp.path().join("scenario.json");
        fs::write(&p, serde_json::to_string(&self.scenario).unwrap()).unwrap();
        p
    }

    /// A wrapper script that runs the double with this bench's scenario (for in-process tests).
    fn wrapper(&self) -> PathBuf {
        let p = self.tmp.path().join("STM32_Programmer_CLI");
        fs::write(
            &p,
            format!("#!/bin/sh\nFAKE_STM32_PROGRAMMER_SCENARIO='{}' exec '{}' \"$@\"\n", self.scenario_path().display(), double().display()),
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("FAKE_STM32_PROGRAMMER_SCENARIO", self.scenario_path())
            .env_remove("STM32_PROGRAMMER_CLI")
            .env_remove("NO_COLOR")
            .current_dir(self.tmp.path())
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        let t0 = Instant::now();
        let out = self.command(args).output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: t0.elapsed(),
        }
    }

    fn flash_args(&self, extra: &[&str]) -> Vec<String> {
        let d = double().display().to_string();
        let mut a: Vec<String> = vec!["flash".into(), self.layout(), "--programmer".into(), d, "--sysfs-root".into(), self.sysfs()];
        if !extra.contains(&"--stagger") {
            a.extend(["--stagger".to_string(), "0".to_string()]);
        }
        a.extend(extra.iter().map(|s| (*s).to_string()));
        a
    }

    fn flash(&self, extra: &[&str]) -> Run {
        let a = self.flash_args(extra);
        self.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn devices(&self, extra: &[&str]) -> Run {
        let d = double().display().to_string();
        let sys = self.sysfs();
        let mut a = vec!["devices", "--programmer", d.as_str(), "--sysfs-root", sys.as_str()];
        a.extend_from_slice(extra);
        self.run(&a)
    }

    fn records(&self) -> Vec<Value> {
        let p = self.images().join("flash-logs/flash-records.jsonl");
        match fs::read_to_string(&p) {
            Ok(t) => t.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad record line {l}: {e}"))).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn record(&self, port: &str) -> Value {
        self.records().into_iter().find(|r| r["port"] == port).unwrap_or_else(|| panic!("no record for {port}: {:?}", self.records()))
    }

    fn calls(&self) -> Vec<Value> {
        match fs::read_to_string(self.tmp.path().join("calls.jsonl")) {
            Ok(t) => t.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn flash_calls(&self) -> Vec<Value> {
        self.calls().into_iter().filter(|c| c["argv"].as_array().is_some_and(|a| a.iter().any(|x| x == "-w"))).collect()
    }

    /// Every process the double started (itself and its grandchildren).
    fn double_pids(&self) -> Vec<i32> {
        self.calls().iter().filter_map(|c| c.get("grandchild").or_else(|| c.get("pid")).and_then(Value::as_i64)).map(|p| p as i32).collect()
    }
}

fn assert_all_gone(pids: &[i32]) {
    for &pid in pids {
        assert!(doomed(pid), "process {pid} started by the double is still running");
    }
}

/// Wait until `path` exists and contains `marker` (written by the process under test: an event, not a delay).
fn wait_for_text(path: impl Fn() -> Option<PathBuf>, marker: &str, what: &str) {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(p) = path()
            && fs::read_to_string(&p).is_ok_and(|t| t.contains(marker))
        {
            return;
        }
        assert!(Instant::now() < until, "{what} never happened");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Lines of board `label` in plain output.
fn board_lines<'a>(stderr: &'a str, label: &str) -> Vec<&'a str> {
    let prefix = format!("[{label}] ");
    stderr.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect()
}

fn assert_in_order(lines: &[&str], expected: &[&str]) {
    let mut at = 0;
    for e in expected {
        match lines[at..].iter().position(|l| l.contains(e)) {
            Some(p) => at += p + 1,
            None => panic!("`{e}` missing (or out of order) in:\n{}", lines.join("\n")),
        }
    }
}

fn table_rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .take_while(|l| !l.contains("flashed;"))
        .skip(1)
        .map(|l| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect())
        .collect()
}

#[test]
fn the_guides_success_run_with_reconnect() {
    let b = Bench::new("list_usb_1.txt");
    let r = b.flash(&[]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    // Events, as plain lines, in the programmer's order.
    assert_in_order(
        &board_lines(&r.stderr, "usb1"),
        &[
            "queued: serial 004200343338510534383330, USB 3-1 (bus 003 address 003)",
            "started: ",
            "connected: DFU in HS Mode @Device ID /0x500, @Revision ID /0x0000 (ROM or TF-A)",
            "sending tf-a-stm32mp157c-dk2.stm32 to partition 0x01 (48.2 KiB)",
            "partition 0x01 at 100 %",
            "partition 0x01 started",
            "flash layout sent and started",
            "sending u-boot.stm32 to partition 0x03",
            "device reconnecting",
            "connected: USB download gadget",
            "partition 0x03 started",
            "sending sdcard.img to partition 0x10 (1 MiB)",
            "partition 0x10 at 50 %",
            "partition 0x10 at 100 %",
            "partition 0x10 started",
            "programmer: Flashing service completed successfully",
            "success in ",
        ],
    );
    // The table.
    let rows = table_rows(&r.stdout);
    assert_eq!(r.stdout.lines().next(), Some("serial                    port  usb  result   duration  sent"), "{}", r.show());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][..4], [GUIDE_SN, "usb1", "3-1", "success"]);
    assert_eq!(rows[0][5], "1.2 MiB");
    assert!(r.stdout.contains("1 of 1 board flashed; records appended to "), "{}", r.show());
    // How the programmer was run: the guide's `-c port=usb1` (the only board listed), from the layout's folder.
    let calls = b.calls();
    assert_eq!(calls[0]["argv"], json!(["--version"]));
    assert_eq!(calls[1]["argv"], json!(["-l", "usb"]));
    let flash = b.flash_calls();
    assert_eq!(flash.len(), 1);
    assert_eq!(flash[0]["argv"], json!(["-c", "port=usb1", "-w", "flash.tsv"]));
    assert_eq!(Path::new(flash[0]["cwd"].as_str().unwrap()), fs::canonicalize(b.images()).unwrap());
    // The record.
    let recs = b.records();
    assert_eq!(recs.len(), 1);
    let rec = &recs[0];
    assert_eq!(rec["schema"], 1);
    assert_eq!(rec["result"], "success");
    assert_eq!(rec["board_serial"], GUIDE_SN);
    assert_eq!(rec["port"], "usb1");
    assert_eq!(rec["usb"], json!({"bus": 3, "address": 3, "path": "3-1"}));
    assert_eq!(rec["programmer"]["version"], "2.11.0");
    assert_eq!(rec["exit_status"], 0);
    assert_eq!(rec["error"], Value::Null);
    assert_eq!(rec["layout"]["sha256"], sha256_hex(&b.images().join("flash.tsv")));
    let names: Vec<&str> = rec["binaries"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["tf-a-stm32mp157c-dk2.stm32", "u-boot.stm32", "sdcard.img"]);
    for bin in rec["binaries"].as_array().unwrap() {
        assert_eq!(bin["sha256"], sha256_hex(&b.images().join(bin["name"].as_str().unwrap())), "{bin}");
    }
    let total: u64 = rec["binaries"].as_array().unwrap().iter().map(|x| x["size"].as_u64().unwrap()).sum();
    assert_eq!(rec["bytes_sent"], total);
    assert_eq!(rec["via"], "stm32cubeprogrammer");
    // Each partition: its bytes (the file's size) and its time.
    let parts = rec["partitions"].as_array().unwrap();
    let ids: Vec<&str> = parts.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["0x01", "0x03", "0x10"]);
    let names: Vec<&str> = parts.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fsbl1-boot", "ssbl-boot", "sdcard"]);
    for p in parts {
        let file = b.images().join(p["file"].as_str().unwrap());
        assert_eq!(p["bytes_sent"], fs::metadata(&file).unwrap().len(), "{p}");
        assert_eq!(p["complete"], true, "{p}");
        assert!(p["seconds"].as_f64().unwrap() >= 0.0, "{p}");
    }
    let seconds: f64 = parts.iter().map(|p| p["seconds"].as_f64().unwrap()).sum();
    assert!(seconds <= rec["duration_s"].as_f64().unwrap() + 0.003, "partitions take part of the board's time: {rec}");
    for key in ["time", "started"] {
        let t = rec[key].as_str().unwrap();
        assert!(humantime::parse_rfc3339(t).is_ok(), "{key} = {t} is not RFC 3339");
    }
    // The log: our notes and the programmer's raw lines with timestamps.
    let log = fs::read_to_string(rec["log"].as_str().unwrap()).unwrap();
    assert!(log.starts_with("# stm32mp-imager "), "{log}");
    assert!(log.contains(" out| reconnecting the device ...\n"), "{log}");
    assert!(log.contains(" out\\r| [====="), "redrawn bars are kept: {log}");
    assert!(log.contains(" out| Flashing service completed successfully\n"), "{log}");
    assert!(log.contains("# finished: ") && log.contains("success"), "{log}");
}

#[test]
fn start_failure_at_0x01_exit_1() {
    let b = Bench::new("list_usb_1.txt").set("flash", json!("start_fail_0x01_exit1.txt"));
    let r = b.flash(&[]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    assert_in_order(
        &board_lines(&r.stderr, "usb1"),
        &[
            "sending tf-a-stm32mp157a-dk1.stm32",
            "programmer: Error: Start operation failed at partition 0x01",
            "programmer: Error: TSV flashing service failed",
            "FAILED: at partition 0x01",
        ],
    );
    assert_eq!(table_rows(&r.stdout)[0][3], "failed at 0x01");
    assert!(r.stderr.contains("hint: a start failure at partition 0x01 is typically TF-A built without USB programmer support"), "{}", r.show());
    assert!(r.stderr.contains("error: flashing failed on 1 of 1 boards: usb1 (failed)"), "{}", r.show());
    let rec = b.record("usb1");
    assert_eq!(rec["result"], "failed");
    assert_eq!(rec["partition"], "0x01");
    assert_eq!(rec["exit_status"], 1);
    assert_eq!(rec["programmer_errors"], json!(["Error: Start operation failed at partition 0x01", "Error: TSV flashing service failed"]));
    assert_eq!(
        rec["error"],
        "at partition 0x01: the programmer said \"Error: Start operation failed at partition 0x01\" / \"Error: TSV flashing service failed\" and exited with status 1"
    );
    assert!(rec["hint"].as_str().unwrap().contains("STM32MP_USB_PROGRAMMER=1"));
}

#[test]
fn start_failure_with_exit_status_0_is_a_failure() {
    let b = Bench::new("list_usb_1.txt").set("flash", json!("start_fail_0x01_exit0.txt"));
    let r = b.flash(&[]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    let rec = b.record("usb1");
    assert_eq!(rec["result"], "failed");
    assert_eq!(rec["exit_status"], 0);
    assert_eq!(rec["partition"], "0x01");
    assert!(rec["error"].as_str().unwrap().ends_with("(it exited with status 0 all the same)"), "{rec}");
    assert!(rec["hint"].as_str().unwrap().contains("exited with status 0; it is counted as a failure"), "{rec}");
    // The double wrote these Error lines to stderr: they are read all the same, and logged as such.
    let log = fs::read_to_string(rec["log"].as_str().unwrap()).unwrap();
    assert!(log.contains(" err| Error: TSV flashing service failed\n"), "{log}");
}

#[test]
fn device_vanishing_mid_transfer() {
    let b = Bench::new("list_usb_1.txt").set("flash", json!("vanish_mid_transfer.txt"));
    let r = b.flash(&[]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    let rec = b.record("usb1");
    assert_eq!(rec["result"], "failed");
    assert_eq!(rec["partition"], "0x10");
    assert_eq!(rec["exit_status"], 1);
    assert_eq!(
        rec["error"],
        "the programmer exited with status 1 without \"Flashing service completed successfully\" while sending sdcard.img (partition 0x10) at 37 %"
    );
    assert!(rec["hint"].as_str().unwrap().contains("dropped off USB"), "{rec}");
    let boot: u64 =
        fs::metadata(b.images().join("tf-a-stm32mp157c-dk2.stm32")).unwrap().len() + fs::metadata(b.images().join("u-boot.stm32")).unwrap().len();
    assert_eq!(rec["bytes_sent"], boot + SDCARD_LEN * 37 / 100);
    assert_eq!(table_rows(&r.stdout)[0][3], "failed at 0x10");
    // The partition it stopped in: what of it was sent, and not complete.
    let last = rec["partitions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["id"].as_str(), last["complete"].as_bool()), (Some("0x10"), Some(false)), "{last}");
    assert_eq!(last["bytes_sent"], SDCARD_LEN * 37 / 100);
}

#[test]
fn a_hang_times_out_and_only_our_processes_are_ended() {
    let b = Bench::new("list_usb_1.txt").set("flash", json!("hang_mid_transfer.txt"));
    // 3 s: the double must print its first line within a stage timeout even on a loaded machine.
    let r = b.flash(&["--timeout", "3"]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    assert!(r.elapsed < Duration::from_secs(20), "took {:?}", r.elapsed);
    let rec = b.record("usb1");
    assert_eq!(rec["result"], "timeout");
    assert_eq!(rec["partition"], "0x10");
    assert_eq!(rec["error"], "no progress for 3s while sending sdcard.img (partition 0x10) at 42 %; the programmer was stopped");
    assert_eq!(table_rows(&r.stdout)[0][3], "timeout at 0x10");
    assert!(board_lines(&r.stderr, "usb1").iter().any(|l| l.starts_with("TIMEOUT: no progress for 3s")), "{}", r.show());
    let pids = b.double_pids();
    assert!(pids.len() >= 4, "version, list, flash and its grandchild: {pids:?}");
    assert_all_gone(&pids);
}

#[test]
fn the_timeout_bounds_each_stage_not_the_whole_run() {
    // Each bar takes at least 1.5 s to draw (10 redraws 0.15 s apart), the run at least 6 s (4 bars): more than
    // 1.5 times --timeout 3 in total, and each stage far less. The margins are wide because the gaps are the
    // programmer's, and a loaded machine stretches them (a gap of over a second to start the double was seen).
    let b = Bench::new("list_usb_1.txt").set("delay", json!(0.15));
    let r = b.flash(&["--timeout", "3"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(b.record("usb1")["duration_s"].as_f64().unwrap() > 4.5, "{:?}", b.records());
}

#[test]
fn ctrl_c_stops_children_and_records_say_interrupted() {
    // Three boards, one at a time: usb1 hangs (and ignores SIGTERM), usb2 waits for its turn, usb3 has no serial.
    let b = Bench::new("list_usb_3.txt").set("flash", json!("hang_ignoring_sigterm.txt"));
    let args = b.flash_args(&["--all", "--jobs", "1", "--timeout", "60"]);
    let child = b.command(&args.iter().map(String::as_str).collect::<Vec<_>>()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The marker: usb1's log holds the bar the double stopped at, so `flash` has read it (the log line is written
    // before the line is interpreted, and the token is only looked at between lines).
    let logs = b.images().join("flash-logs");
    let log = || fs::read_dir(&logs).ok()?.flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "log"));
    wait_for_text(log, "] 42% ", "usb1's programmer reaching 42 %");
    let t0 = Instant::now();
    rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stopped = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stopped >= Duration::from_millis(1900), "SIGTERM is ignored, so SIGKILL comes after the 2 s grace: {stopped:?}");
    assert!(stopped < Duration::from_secs(10), "{stopped:?}");
    let r1 = b.record("usb1");
    assert_eq!(r1["result"], "interrupted");
    assert_eq!(r1["partition"], "0x10");
    assert!(r1["error"].as_str().unwrap().starts_with("interrupted while sending sdcard.img (partition 0x10) at 42 %"), "{r1}");
    let r2 = b.record("usb2");
    assert_eq!(r2["result"], "interrupted");
    assert_eq!(r2["error"], "not started: interrupted before its turn");
    assert_eq!(r2["started"], Value::Null);
    assert_eq!(b.record("usb3")["result"], "failed");
    assert_eq!(b.flash_calls().len(), 1, "usb2 was never handed to the programmer");
    assert!(stdout.contains("interrupted at 0x10"), "{stdout}");
    assert_all_gone(&b.double_pids());
}

#[test]
fn a_line_of_three_boards_in_parallel() {
    let b = Bench::new("list_usb_3.txt").set("flash_by_serial", json!({ML_SN: "start_fail_0x01_exit1.txt"})).set("delay", json!(0.02));
    // usb1's programmer waits (on a FIFO, not a clock) until usb2's has started: the two overlap by construction.
    let gate = b.tmp.path().join("gate");
    let b = b.set("barrier", json!({"fifo": gate, "wait": GUIDE_SN, "release": ML_SN}));
    let r = b.flash(&["--all", "--stagger", "0.3", "--timeout", "60"]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    // The table: every board, with its serial, port, USB path and result.
    let rows = table_rows(&r.stdout);
    assert_eq!(rows.len(), 3, "{}", r.show());
    assert_eq!(rows[0][..4], [GUIDE_SN, "usb1", "3-1", "success"]);
    assert_eq!(rows[1][..4], [ML_SN, "usb2", "3-2", "failed at 0x01"]);
    assert_eq!(rows[2][..4], ["-", "usb3", "1-4", "failed"]);
    assert!(r.stdout.contains("1 of 3 boards flashed"), "{}", r.show());
    assert!(r.stderr.contains("error: flashing failed on 2 of 3 boards: usb2 (failed), usb3 (failed)"), "{}", r.show());
    // Each board selected by its serial number; usb3 (no serial number) never handed to the programmer.
    let flash = b.flash_calls();
    let argvs: Vec<&Value> = flash.iter().map(|c| &c["argv"]).collect();
    assert_eq!(argvs.len(), 2);
    assert!(argvs.contains(&&json!(["-c", "port=usb", format!("sn={GUIDE_SN}"), "-w", "flash.tsv"])));
    assert!(argvs.contains(&&json!(["-c", "port=usb", format!("sn={ML_SN}"), "-w", "flash.tsv"])));
    // Staggered, and in parallel: usb2 started 0.3 s after usb1, before usb1 had finished.
    let (r1, r2, r3) = (b.record("usb1"), b.record("usb2"), b.record("usb3"));
    let t_ = |v: &Value| humantime::parse_rfc3339(v.as_str().unwrap()).unwrap();
    let gap = t_(&r2["started"]).duration_since(t_(&r1["started"])).unwrap();
    assert!(gap >= Duration::from_millis(250), "starts {gap:?} apart (--stagger 0.3)");
    assert!(t_(&r2["started"]) < t_(&r1["time"]), "usb2 started before usb1 finished: {r1}\n{r2}");
    assert!(b.calls().iter().any(|c| c["passed_barrier"] == GUIDE_SN), "usb1 waited for usb2");
    // Records: one per board, each with its own log.
    assert_eq!(b.records().len(), 3);
    assert_eq!((r1["result"].as_str(), r2["result"].as_str(), r3["result"].as_str()), (Some("success"), Some("failed"), Some("failed")));
    assert_eq!(r2["board_serial"], ML_SN);
    assert_eq!(r2["usb"]["path"], "3-2");
    assert_eq!(r3["error"], "usb3 is listed without a serial number");
    assert!(r3["hint"].as_str().unwrap().contains("power-cycle"), "{r3}");
    assert_eq!(r3["log"], Value::Null);
    assert_eq!(r3["usb"], json!({"bus": 1, "address": 7, "path": "1-4"}));
    assert_ne!(r1["log"], r2["log"]);
    assert_eq!(r1["run"], r2["run"], "one run id for the whole line");
    for rec in [&r1, &r2] {
        let log = fs::read_to_string(rec["log"].as_str().unwrap()).unwrap();
        assert!(log.contains(&format!("# board: {}, serial {}", rec["port"].as_str().unwrap(), rec["board_serial"].as_str().unwrap())), "{log}");
    }
    assert!(
        r.stderr.contains("usb3: failed: usb3 is listed without a serial number\n  hint: a board that enumerates without a serial number"),
        "{}",
        r.show()
    );
}

/// Regression: with STM32_Programmer_CLI the files were hashed once, when the job was made, so a file replaced
/// during the run gave records claiming bytes the later boards were never sent (exit 0). Now every board's files
/// are checked before the programmer starts and again once it is done; a change fails that board, naming the file.
#[test]
fn a_file_replaced_during_the_run_fails_the_boards_it_reached() {
    let b = Bench::new("list_usb_3.txt");
    // usb2's programmer waits on a FIFO (opened for reading, read to its end) before it replays: the test replaces
    // sdcard.img while usb2 is being flashed, after its check before the start.
    let gate = b.tmp.path().join("gate");
    rustix::fs::mknodat(rustix::fs::CWD, &gate, rustix::fs::FileType::Fifo, rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR, 0).unwrap();
    let b = b.set("barrier", json!({"fifo": gate, "wait": ML_SN, "release": "nobody"}));
    let sdcard = b.images().join("sdcard.img");
    let old_sha = sha256_hex(&sdcard);
    let args = b.flash_args(&["--all", "--select-by", "index"]);
    let r = std::thread::scope(|s| {
        let run = s.spawn(|| b.run(&args.iter().map(String::as_str).collect::<Vec<_>>()));
        {
            // Blocks until usb2's programmer opens the FIFO: usb1 is done, usb2's files were checked.
            let mut gate = fs::OpenOptions::new().write(true).open(&gate).unwrap();
            let replacement = b.images().join("sdcard.img.new");
            fs::write(&replacement, vec![0x5au8; usize::try_from(SDCARD_LEN).unwrap()]).unwrap();
            fs::rename(&replacement, &sdcard).unwrap();
            std::io::Write::write_all(&mut gate, b"go\n").unwrap();
        }
        run.join().unwrap()
    });
    assert_eq!(r.code, Some(4), "{}", r.show());
    let new_sha = sha256_hex(&sdcard);
    let (r1, r2, r3) = (b.record("usb1"), b.record("usb2"), b.record("usb3"));
    assert_eq!(r1["result"], "success", "usb1 was sent the file its record names: {r1}");
    assert_eq!(r1["binaries"][2]["sha256"], old_sha.as_str());
    for rec in [&r2, &r3] {
        assert_eq!(rec["result"], "failed", "{rec}");
        let error = rec["error"].as_str().unwrap();
        assert!(error.contains(&format!("{} changed since the job was made (sha256 {new_sha}", sdcard.display())), "{error}");
    }
    assert!(r2["error"].as_str().unwrap().contains("it changed while this board was being flashed"), "{r2}");
    assert_eq!(b.flash_calls().len(), 2, "usb3's programmer was never started");
    assert!(r.stderr.contains("usb3: failed: ") && r.stderr.contains("sdcard.img changed since the job was made"), "{}", r.show());
}

#[test]
fn repeated_ports_by_index_go_one_at_a_time() {
    let b = Bench::new("list_usb_3.txt");
    let r = b.flash(&["--port", "usb1", "--port", "usb2", "--select-by", "index"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stderr.contains("note: boards selected by index (port=usbN) are flashed one at a time"), "{}", r.show());
    let argvs: Vec<Value> = b.flash_calls().into_iter().map(|c| c["argv"].clone()).collect();
    assert_eq!(argvs, [json!(["-c", "port=usb1", "-w", "flash.tsv"]), json!(["-c", "port=usb2", "-w", "flash.tsv"])]);
    let t_ = |v: &Value| humantime::parse_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(t_(&b.record("usb2")["started"]) >= t_(&b.record("usb1")["time"]));
    assert_eq!(b.record("usb2")["board_serial"], ML_SN, "the serial number the programmer printed");
}

#[test]
fn a_board_without_serial_number_needs_a_power_cycle() {
    // By serial (the default), usb3 is not even tried.
    let b = Bench::new("list_usb_3.txt");
    let r = b.flash(&["--port", "usb3"]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    assert!(b.flash_calls().is_empty());
    assert!(b.record("usb3")["hint"].as_str().unwrap().contains("power-cycle"));
    // By index it is tried, and the programmer's answer (empty descriptors) gets the same advice.
    let b = Bench::new("list_usb_3.txt").set("flash_by_serial", json!({"": "bad_state_empty_descriptors.txt"}));
    let r = b.flash(&["--port", "usb3", "--select-by", "index"]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    let rec = b.record("usb3");
    assert_eq!(rec["programmer_errors"], json!(["Error: TSV files are only supported for STM32MP"]));
    assert!(rec["hint"].as_str().unwrap().contains("power-cycle"), "{rec}");
    assert_eq!(rec["board_serial"], Value::Null);
}

#[test]
fn select_by_serial_number() {
    let b = Bench::new("list_usb_3.txt");
    let r = b.flash(&["--serial", ML_SN]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(b.flash_calls()[0]["argv"], json!(["-c", "port=usb", format!("sn={ML_SN}"), "-w", "flash.tsv"]));
    // One board, serial selection asked for explicitly.
    let one = Bench::new("list_usb_1.txt");
    assert_eq!(one.flash(&["--select-by", "serial"]).code, Some(0));
    assert_eq!(one.flash_calls()[0]["argv"], json!(["-c", "port=usb", format!("sn={GUIDE_SN}"), "-w", "flash.tsv"]));
    let r = b.flash(&["--serial", "FFFF"]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    assert!(r.stderr.contains("no board with serial number FFFF in USB DFU mode (listed: usb1 004200343338510534383330, usb2 0019002C3431511733353431, usb3 (no serial number))"), "{}", r.show());
}

#[test]
fn without_the_board_list_ports_still_work_by_index() {
    let b = Bench::new("list_usb_1.txt").set("list_fails", json!(true));
    let r = b.flash(&["--port", "usb1"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stderr.contains("-l usb` exited with status 1: FAKE-PROGRAMMER: -l usb made to fail by the scenario; boards are selected by index"),
        "{}",
        r.show()
    );
    assert_eq!(b.flash_calls()[0]["argv"], json!(["-c", "port=usb1", "-w", "flash.tsv"]));
    let rec = b.record("usb1");
    assert_eq!(rec["board_serial"], GUIDE_SN, "taken from the programmer's SN line");
    assert_eq!(rec["usb"], Value::Null);
    // Selecting by serial number, or all boards, needs the list.
    let r = b.flash(&["--all"]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    assert!(r.stderr.contains("the programmer's board list (`-l usb`) is needed to select boards with --all"), "{}", r.show());
}

#[test]
fn several_boards_and_no_choice_is_a_usage_error() {
    let b = Bench::new("list_usb_3.txt");
    let r = b.flash(&[]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(r.stderr.contains("3 boards are in USB DFU mode"), "{}", r.show());
    assert!(b.flash_calls().is_empty());
    let r = b.flash(&["--port", "usb7"]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    assert!(r.stderr.contains("no board at usb7 in USB DFU mode"), "{}", r.show());
}

#[test]
fn no_board_in_dfu_mode() {
    let b = Bench::new("list_usb_0.txt");
    let r = b.flash(&["--all"]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    assert!(r.stderr.contains("no STM32MP board in USB DFU mode"), "{}", r.show());
    assert!(r.stderr.contains("set the boot pins to USB"), "{}", r.show());
    assert!(b.records().is_empty());
}

#[test]
fn a_known_bad_version_is_refused_unless_forced() {
    let b = Bench::new("list_usb_1.txt").set("version", json!("version_banner_2.2.1.txt"));
    let r = b.flash(&[]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    assert!(r.stderr.contains("is STM32CubeProgrammer 2.2.1: STM32CubeProgrammer 2.2.1 does not work for the STM32MP1 platform"), "{}", r.show());
    assert!(r.stderr.contains("pass --force to use it anyway"), "{}", r.show());
    assert_eq!(b.calls().len(), 1, "only --version was run");
    assert!(b.records().is_empty());
    let r = b.flash(&["--force"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stderr.contains("warning: using STM32CubeProgrammer 2.2.1 because of --force"), "{}", r.show());
    assert_eq!(b.record("usb1")["programmer"]["version"], "2.2.1");
}

#[test]
fn the_guides_version_banner_is_read() {
    let b = Bench::new("list_usb_1.txt").set("version", json!("version_banner_2.2.0.txt"));
    let r = b.flash(&[]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stderr.contains("(version 2.2.0)"), "{}", r.show());
    assert_eq!(b.record("usb1")["programmer"]["version"], "2.2.0");
}

#[test]
fn missing_binaries_are_all_listed_before_anything_runs() {
    let b = Bench::new("list_usb_1.txt");
    fs::remove_file(b.images().join("u-boot.stm32")).unwrap();
    fs::remove_file(b.images().join("sdcard.img")).unwrap();
    let r = b.flash(&[]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(
        r.stderr.contains("error[flash::missing_binary]: ") && r.stderr.contains("flash.tsv:3: `u-boot.stm32` (partition ssbl-boot 0x03) not found"),
        "{}",
        r.show()
    );
    assert!(r.stderr.contains("flash.tsv:4: `sdcard.img` (partition sdcard 0x10) not found"), "{}", r.show());
    assert!(r.stderr.contains("2 errors (all listed above); nothing was flashed"), "{}", r.show());
    assert!(b.calls().is_empty(), "the programmer was not run");
}

#[test]
fn the_layout_is_linted_like_inspect() {
    let b = Bench::new("list_usb_1.txt");
    fs::write(b.images().join("flash.tsv"), format!("{LAYOUT}P\t0x10\tagain\tFileSystem\tmmc0\t0x100000\tsdcard.img\n")).unwrap();
    let r = b.flash(&[]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(r.stderr.contains("layout::duplicate_id"), "{}", r.show());
    assert!(b.calls().is_empty());
}

#[test]
fn finding_the_programmer() {
    let b = Bench::new("list_usb_1.txt");
    let empty = b.tmp.path().join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    let layout = b.layout();
    let sys = b.sysfs();
    let base = ["flash", layout.as_str(), "--sysfs-root", sys.as_str(), "--stagger", "0"];
    // Nowhere, and no --via: the built-in client, and the first line says so.
    let out = b.command(&base).env("PATH", &empty).env("HOME", b.tmp.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().next(),
        Some("via builtin: the built-in USB DFU client (STM32_Programmer_CLI not found; --via stm32cubeprogrammer requires it)"),
        "{stderr}"
    );
    // Nowhere, with --via stm32cubeprogrammer: the message says where it looked and how to install.
    let mut asked = base.to_vec();
    asked.extend(["--via", "stm32cubeprogrammer"]);
    let out = b.command(&asked).env("PATH", &empty).env("HOME", b.tmp.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("STM32_Programmer_CLI not found; looked in: every PATH folder ({}/STM32_Programmer_CLI)", empty.display())),
        "{stderr}"
    );
    assert!(stderr.contains("stm32cube/bin/STM32_Programmer_CLI (install folder)") && stderr.contains("https://www.st.com/"), "{stderr}");
    // --programmer naming nothing.
    let r = b.run(&["flash", layout.as_str(), "--programmer", "/nonexistent/STM32_Programmer_CLI"]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    assert!(r.stderr.contains("looked in: /nonexistent/STM32_Programmer_CLI (--programmer)"), "{}", r.show());
    // $STM32_PROGRAMMER_CLI.
    let out = b.command(&base).env("STM32_PROGRAMMER_CLI", double()).env("PATH", std::env::var_os("PATH").unwrap()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // PATH.
    let bin = b.tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(double(), bin.join("STM32_Programmer_CLI")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = b.command(&base).env("PATH", path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // The install folder of the guide (~/stm32cube/bin).
    let home = b.tmp.path().join("home");
    fs::create_dir_all(home.join("stm32cube/bin")).unwrap();
    std::os::unix::fs::symlink(double(), home.join("stm32cube/bin/STM32_Programmer_CLI")).unwrap();
    let out = b.command(&base).env("PATH", format!("{}:/usr/bin:/bin", empty.display())).env("HOME", &home).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(b.records().len(), 3);
}

/// Regression: a relative programmer path (`--programmer`, `$STM32_PROGRAMMER_CLI` or a relative `PATH` folder)
/// answered the queries, run from our folder, and failed every board, whose flash runs from the layout's folder.
#[test]
fn a_relative_programmer_path_flashes_the_boards() {
    let b = Bench::new("list_usb_1.txt");
    let bin = b.tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(double(), bin.join("STM32_Programmer_CLI")).unwrap();
    let layout = b.layout();
    let sys = b.sysfs();
    let base = ["flash", layout.as_str(), "--sysfs-root", sys.as_str(), "--stagger", "0", "--via", "stm32cubeprogrammer"];
    let path = std::env::var("PATH").unwrap();
    let mut option = base.to_vec();
    option.extend(["--programmer", "./bin/STM32_Programmer_CLI"]);
    for (what, mut c) in [("--programmer", b.command(&option)), ("$STM32_PROGRAMMER_CLI", b.command(&base)), ("PATH", b.command(&base))] {
        match what {
            "$STM32_PROGRAMMER_CLI" => c.env("STM32_PROGRAMMER_CLI", "bin/STM32_Programmer_CLI"),
            "PATH" => c.env("PATH", format!("bin:{path}")),
            _ => &mut c,
        };
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "relative {what}: {stderr}");
    }
    let recs = b.records();
    assert_eq!(recs.len(), 3);
    for r in &recs {
        assert_eq!(r["result"], "success", "{r}");
        let prg = r["programmer"]["path"].as_str().unwrap();
        assert!(Path::new(prg).is_absolute(), "the records name the programmer by its absolute path: {r}");
    }
}

#[test]
fn records_accumulate_and_log_dir_is_configurable() {
    let b = Bench::new("list_usb_1.txt");
    assert_eq!(b.flash(&[]).code, Some(0));
    assert_eq!(b.flash(&[]).code, Some(0));
    let recs = b.records();
    assert_eq!(recs.len(), 2);
    assert_ne!(recs[0]["run"], recs[1]["run"]);
    assert_ne!(recs[0]["log"], recs[1]["log"]);
    let elsewhere = b.tmp.path().join("line-7/logs");
    let e = elsewhere.display().to_string();
    let r = b.flash(&["--log-dir", e.as_str()]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let text = fs::read_to_string(elsewhere.join("flash-records.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert_eq!(b.records().len(), 2);
}

#[test]
fn devices_lists_0_1_and_3_boards() {
    let b = Bench::new("list_usb_0.txt");
    fs::remove_dir_all(b.tmp.path().join("sys")).unwrap();
    let r = b.devices(&[]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(r.stdout, "no STM32MP board in USB DFU mode (USB 0483:df11)\n");

    let b = Bench::new("list_usb_1.txt");
    let r = b.devices(&[]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "index  serial                    usb path  bus  address  answering    soc        alternates");
    assert_eq!(lines[1], "usb1   004200343338510534383330  3-1       003  003      ROM or TF-A  STM32MP15  -", "not read over USB: a fake sysfs");
    assert_eq!(lines.len(), 4, "the guide's board, then the two df11 devices only sysfs sees: {}", r.show());

    let b = Bench::new("list_usb_3.txt");
    let r = b.devices(&[]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", r.show());
    assert!(lines[2].starts_with("usb2   0019002C3431511733353431  3-2"), "{}", r.show());
    assert!(lines[3].starts_with("usb3   (none)                    1-4       001  007      no descriptors (bad state)"), "{}", r.show());
    assert!(r.stderr.contains("usb3: no serial number: a board that enumerates without a serial number"), "{}", r.show());
    let r = b.devices(&["--json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[1]["listed"]["serial"], ML_SN);
    assert_eq!(v[1]["usb"]["path"], "3-2");
}

#[test]
fn devices_without_the_programmer_reads_sysfs() {
    let b = Bench::new("list_usb_1.txt");
    let sys = b.sysfs();
    let r = b.run(&["devices", "--programmer", "/nonexistent/STM32_Programmer_CLI", "--sysfs-root", sys.as_str()]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stderr.contains("showing the USB devices sysfs sees only"), "{}", r.show());
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "three 0483:df11 devices, not the ST-LINK: {}", r.show());
    assert!(lines[1].starts_with("-      -                         1-4       001  007"), "{}", r.show());
    assert!(lines[2].starts_with("-      004200343338510534383330  3-1       003  003"), "{}", r.show());
}

#[test]
fn udev_rules() {
    let b = Bench::new("list_usb_0.txt");
    let r = b.run(&["udev-rules"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains("SUBSYSTEM==\"usb\", ATTRS{idVendor}==\"0483\", ATTRS{idProduct}==\"df11\", MODE=\"0660\", TAG+=\"uaccess\"\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("sudo tee /etc/udev/rules.d/50-stm32mp-dfu.rules"));
    let r = b.run(&["udev-rules", "--group", "plugdev"]);
    assert!(r.stdout.contains("TAG+=\"uaccess\", GROUP=\"plugdev\"\n"), "{}", r.stdout);
    assert_eq!(b.run(&["udev-rules", "--group", "bad\"group"]).code, Some(1));
}

/// The event stream itself (not its rendering), from the library, with the real runner and the double.
#[test]
fn event_order_contract() {
    let b = Bench::new("list_usb_3.txt").set("flash_by_serial", json!({ML_SN: "start_fail_0x01_exit1.txt"}));
    let program = b.wrapper();
    let cancel = Cancel::new();
    let prg = CubeProgrammer::new(program, cancel.clone());
    let devices = parse_list(&fs::read_to_string(repo().join("tests/fixtures/programmer/list_usb_3.txt")).unwrap()).devices;
    let targets = select::select(&Selection::All, Some(&devices), &[], SelectBy::Serial).unwrap();
    let checked = flash_job::check_layout(&b.images().join("flash.tsv")).unwrap();
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    let layout = flash_job::hash_layout(&checked).unwrap();
    let log_dir = b.tmp.path().join("logs");
    fs::create_dir_all(&log_dir).unwrap();
    let options = JobOptions {
        jobs: 2,
        stagger: Duration::ZERO,
        stage_timeout: Duration::from_secs(20),
        log_dir,
        run_id: "test".into(),
        run_stamp: "test".into(),
    };
    let job = job::build(layout, targets, &prg, &options);
    let events = Mutex::new(Vec::new());
    let outcomes = fleet::run(&job, &prg, &cancel, &|e: Event| events.lock().unwrap().push(e));
    let events = events.into_inner().unwrap();
    assert_eq!(outcomes.iter().map(|o| o.verdict.result).collect::<Vec<_>>(), [ResultKind::Success, ResultKind::Failed, ResultKind::Failed]);
    // All Queued first, in board order.
    assert!(events[..3].iter().enumerate().all(|(i, e)| e.board.0 == i && matches!(e.kind, EventKind::Queued { .. })), "{:?}", &events[..3]);
    for board in 0..3 {
        let mine: Vec<&EventKind> = events.iter().filter(|e| e.board.0 == board).map(|e| &e.kind).collect();
        assert!(matches!(mine.last(), Some(EventKind::Finished { .. })), "Finished last for board {board}");
        assert_eq!(mine.iter().filter(|k| matches!(k, EventKind::Finished { .. })).count(), 1);
        assert_eq!(mine.iter().filter(|k| matches!(k, EventKind::Queued { .. })).count(), 1);
        let started = mine.iter().position(|k| matches!(k, EventKind::Started { .. }));
        let first_programmer = mine.iter().position(|k| matches!(k, EventKind::Flash(_)));
        match board {
            2 => assert_eq!((started, first_programmer), (None, None), "usb3 is never started"),
            _ => assert!(started.is_some() && started < first_programmer, "Started before the programmer's events"),
        }
    }
    // Board 1 (the guide's): the transcript's events, in its order.
    let programmer: Vec<&FlashEvent> = events
        .iter()
        .filter(|e| e.board.0 == 0)
        .filter_map(|e| match &e.kind {
            EventKind::Flash(p) => Some(p),
            _ => None,
        })
        .collect();
    let reconnect = programmer.iter().position(|p| **p == FlashEvent::Reconnecting).unwrap();
    assert!(matches!(programmer[reconnect + 1], FlashEvent::Connected { product } if product.starts_with("USB download gadget")));
    assert_eq!(programmer.last(), Some(&&FlashEvent::Completed));
    let started: Vec<u8> = programmer
        .iter()
        .filter_map(|p| match p {
            FlashEvent::PartitionStarted { partition } => Some(*partition),
            _ => None,
        })
        .collect();
    assert_eq!(started, [0x01, 0x03, 0x10]);
    // Board 2 (the guide's user failure): the errors, then Finished with the partition.
    let last = events.iter().rev().find(|e| e.board.0 == 1).unwrap();
    match &last.kind {
        EventKind::Finished { verdict, .. } => assert_eq!(verdict.partition, Some(1)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn queries_have_their_own_bound_not_the_stage_timeout() {
    // Regression: with --timeout 1, `--version` and `-l usb` were given one second as well; here each takes 1.5 s.
    // A dry run runs the queries only, so no flashing stage (and its own 1 s bound) is involved.
    let b = Bench::new("list_usb_1.txt").set("query_sleep", json!(1.5));
    let r = b.flash(&["--timeout", "1", "--dry-run"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("back end: STM32CubeProgrammer 2.11.0 ("), "the version was read: {}", r.show());
    assert!(r.stdout.contains("  usb1: serial 004200343338510534383330, USB 3-1"), "the board list was read: {}", r.show());
    assert!(!r.stderr.contains("warning"), "{}", r.show());
}

#[test]
fn dry_run_prints_the_job_and_runs_only_the_queries() {
    let b = Bench::new("list_usb_3.txt");
    let r = b.flash(&["--all", "--dry-run"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let argvs: Vec<Value> = b.calls().into_iter().map(|c| c["argv"].clone()).collect();
    assert_eq!(argvs, [json!(["--version"]), json!(["-l", "usb"])], "only the queries");
    assert!(!b.images().join("flash-logs").exists(), "nothing written");
    let out = &r.stdout;
    assert!(out.starts_with("flash job (dry run: no board is touched)\nback end: STM32CubeProgrammer 2.11.0 ("), "{}", r.show());
    for name in ["tf-a-stm32mp157c-dk2.stm32", "u-boot.stm32", "sdcard.img"] {
        let path = b.images().join(name);
        let size = fs::metadata(&path).unwrap().len();
        let line = out.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name} missing: {out}"));
        assert!(line.contains(&sha256_hex(&path)) && line.contains(&format!("({size:#x})")), "{line}");
    }
    assert!(out.contains("  0x10  sdcard "), "{out}");
    let images = fs::canonicalize(b.images()).unwrap();
    let cmd = |sn: &str| format!("    run `{} -c port=usb sn={sn} -w flash.tsv` in {}", double().display(), images.display());
    assert!(out.contains(&cmd(GUIDE_SN)) && out.contains(&cmd(ML_SN)), "{out}");
    assert!(
        out.contains("  usb3: serial unknown, USB 1-4 (bus 001 address 007)\n    not flashed: usb3 is listed without a serial number\n"),
        "{out}"
    );
    let logs = images.join("flash-logs");
    assert!(out.lines().any(|l| l.starts_with(&format!("    log: {}/", logs.display())) && l.ends_with(&format!("-usb2-{ML_SN}.log"))), "{out}");
    assert!(out.ends_with(&format!("records: {}/flash-records.jsonl\n", logs.display())), "{out}");
    assert!(out.contains("3 boards, at most 2 at a time, starts 0 s apart, a stage may go 5m without progress"), "{out}");
}

#[test]
fn select_by_usb_path() {
    let b = Bench::new("list_usb_3.txt");
    let r = b.flash(&["--usb-path", "3-2"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(b.flash_calls()[0]["argv"], json!(["-c", "port=usb", format!("sn={ML_SN}"), "-w", "flash.tsv"]));
    assert_eq!(b.record("usb2")["usb"]["path"], "3-2");
    let r = b.flash(&["--usb-path", "9-9"]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    assert!(r.stderr.contains("no board at USB path 9-9 in USB DFU mode (listed: 3-1 (usb1), 3-2 (usb2), 1-4 (usb3))"), "{}", r.show());
    let r = b.flash(&["--usb-path", "usb1"]);
    assert_eq!(r.code, Some(2), "a usage error: {}", r.show());
    assert!(r.stderr.contains("is not a USB port path"), "{}", r.show());
}

#[test]
fn several_boards_name_the_options_that_choose() {
    let b = Bench::new("list_usb_3.txt");
    let r = b.flash(&[]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(r.stderr.contains("choose with --port usbN, --serial SN or --usb-path BUS-PORT, or flash them all with --all"), "{}", r.show());
}

#[test]
fn a_missing_programmer_is_explained_in_a_few_short_lines() {
    let b = Bench::new("list_usb_1.txt");
    let empty = b.tmp.path().join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    let layout = b.layout();
    let out = b.command(&["flash", layout.as_str(), "--via", "stm32cubeprogrammer"]).env("PATH", &empty).env("HOME", b.tmp.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[1].contains("install STM32CubeProgrammer") && lines[2].contains("--programmer PATH"), "{stderr}");
}

#[test]
fn the_built_in_client_says_so_first_and_refuses_the_programmers_index() {
    let b = Bench::new("list_usb_1.txt");
    let layout = b.layout();
    let r = b.run(&["flash", layout.as_str(), "--via", "builtin", "--port", "usb1"]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert_eq!(r.stderr.lines().next(), Some("via builtin: the built-in USB DFU client (--via builtin)"), "{}", r.show());
    assert!(r.stderr.contains("--port usbN is STM32_Programmer_CLI's board index; the built-in client chooses boards by --usb-path"), "{}", r.show());
    assert!(b.calls().is_empty(), "the programmer is not run");
    // With --programmer and no --via, ST's programmer, and the first line says why.
    let r = b.flash(&["--dry-run"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stderr.lines().next().is_some_and(|l| l.starts_with("via stm32cubeprogrammer: ") && l.ends_with("(--programmer)")), "{}", r.show());
}

/// By index, a board whose programmer printed another serial number than the one listed is failed, whatever the
/// programmer said: the board chosen is not known flashed (and the other one may have been flashed in its place).
/// Regression: it was a success with a note, exit 0.
#[test]
fn the_programmer_connecting_to_another_board_fails_it() {
    let b = Bench::new("list_usb_3.txt").set("flash_by_serial", json!({GUIDE_SN: "success_other_board.txt"}));
    let r = b.flash(&["--port", "usb1", "--select-by", "index"]);
    assert_eq!(r.code, Some(4), "{}", r.show());
    let rec = b.record("usb1");
    assert_eq!(rec["result"], "failed", "{rec}");
    assert_eq!(rec["board_serial"], ML_SN, "the serial the programmer connected to: {rec}");
    let error = rec["error"].as_str().unwrap();
    assert!(error.contains(&format!("selected as serial {GUIDE_SN}, but the programmer connected to serial {ML_SN}")), "{rec}");
    assert!(rec["hint"].as_str().unwrap().contains("--select-by serial"), "{rec}");
}
