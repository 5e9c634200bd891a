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

/// The README's main job, on the sample inputs committed in `samples/`, into an output folder that does not exist yet.
#[test]
fn readme_main_job_on_the_committed_samples() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out =
        imager().current_dir(repo).args(["build", "board/stm32mp157c-dk2.toml", "--images", "samples", "--output"]).arg(&out_dir).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    for f in ["sdcard.img", "flash.tsv", "sdcard.img.bmap"] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
    require("sgdisk");
    let v = run_ok(std::process::Command::new("sgdisk").arg("-v").arg(out_dir.join("sdcard.img")));
    assert!(String::from_utf8_lossy(&v.stdout).contains("No problems found"), "{}", text(&v));
    let check = imager().current_dir(repo).args(["check", "board/stm32mp157c-dk2-fip.toml", "--images", "samples"]).output().unwrap();
    assert!(check.status.success(), "{}", text(&check));
}
