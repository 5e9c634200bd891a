//! A closed standard output (`stm32mp-imager check BOARD | head -1`, `| grep -q` under `set -o pipefail`) ends a
//! command quietly: no panic, exit status 0 when nothing else was wrong, and the command's own verdict (exit 1 for
//! a wrong description) when something was. The pipe's read end is closed before the command starts, so every write
//! it makes to stdout fails with EPIPE: the test does not depend on timing.
mod common;

use std::process::{Command, Output, Stdio};

use common::*;

fn with_stdout_closed(cmd: &mut Command) -> Output {
    let (read, write) = rustix::pipe::pipe().unwrap();
    drop(read);
    let out = cmd.stdout(Stdio::from(write)).stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
    out
}

fn repo() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn commands_whose_reader_went_away_end_quietly_with_status_0() {
    let runs: [&[&str]; 5] = [
        &["check", "board/stm32mp157c-dk2.toml", "--images", "samples"],
        &["check", "board/stm32mp157c-dk2.toml", "--images", "samples", "--json"],
        &["genimage-cfg", "board/stm32mp157c-dk2.toml", "--images", "samples"],
        &["inspect", "samples/tf-a-stm32mp157c-dk2.stm32", "samples/fip.bin"],
        &["udev-rules"],
    ];
    for args in runs {
        let out = with_stdout_closed(imager().current_dir(repo()).args(args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{args:?} said something on stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_wrong_description_still_fails_when_stdout_is_closed() {
    let ws = Workspace::new();
    ws.standard_inputs();
    let board = ws.board("bad.toml", "[board]\nname = \"b\"\nsoc = \"stm32mp15\"\n[boot]\nchain = \"trusted\"\nfsbl = \"missing.stm32\"\nssbl = \"u-boot.stm32\"\n[storage]\nmedia = \"sdcard\"\n");
    for json in [false, true] {
        let mut cmd = imager();
        cmd.arg("check").arg(&board).arg("--images").arg(ws.images());
        if json {
            cmd.arg("--json");
        }
        let out = with_stdout_closed(&mut cmd);
        assert_eq!(out.status.code(), Some(1), "json {json}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
