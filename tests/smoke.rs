//! Smoke test of the shared test support: real inputs, a build, sgdisk's verdict.
mod common;

use common::*;

#[test]
fn dk2_builds_from_tool_made_inputs() {
    let ws = Workspace::new();
    ws.standard_inputs();
    let out = ws.build(&shipped_board("stm32mp157c-dk2.toml"));
    assert!(out.status.success(), "{}", text(&out));
    require("sgdisk");
    let v = run_ok(std::process::Command::new("sgdisk").arg("-v").arg(ws.out().join("sdcard.img")));
    assert!(String::from_utf8_lossy(&v.stdout).contains("No problems found"), "{}", text(&v));
}
