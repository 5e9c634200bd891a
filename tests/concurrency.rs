//! Two or more builds into the same folder at once (issue 6): they run one after the other (the second says it is
//! waiting), all succeed, and the folder always holds one whole build's image, layout and block map.
mod common;
mod reliability;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use common::*;
use reliability::*;
use rustix::process::Signal;

fn workspace() -> (Workspace, PathBuf, PathBuf) {
    let ws = Workspace::new();
    small_inputs(&ws, 16 << 20, 4 << 20);
    let a = ws.board("a.toml", &board_toml("concurrent", false, ""));
    let b = ws.board("b.toml", &board_toml("concurrent", true, ""));
    (ws, a, b)
}

fn reference(ws: &Workspace, board: &Path, name: &str) -> std::collections::BTreeMap<String, String> {
    let dir = ws.root().join(name);
    fs::create_dir(&dir).unwrap();
    let out = run(build_cmd(ws, board, &dir, None));
    assert!(out.status.success(), "{}", text(&out));
    contents(&dir)
}

#[test]
fn a_second_build_waits_for_the_first_and_both_succeed() {
    let (ws, a, b) = workspace();
    let (ref_a, ref_b) = (reference(&ws, &a, "ref-a"), reference(&ws, &b, "ref-b"));
    let out = run(build_cmd(&ws, &a, &ws.out(), None));
    assert!(out.status.success(), "{}", text(&out));

    // The first build (B) stops in the middle of writing its image, holding the folder's lock.
    let log1 = ws.root().join("first");
    let mut first = spawn(build_cmd(&ws, &b, &ws.out(), Some("writing:stop")), &log1);
    wait_stopped(&mut first, &log1);
    // Meanwhile the folder still holds the whole previous build.
    let mut now = contents(&ws.out());
    now.retain(|n, _| !n.starts_with(TEMP_PREFIX));
    assert_eq!(now, ref_a);

    // The second build (A) says it waits, and does wait: it stops itself once it has the folder (`locked:stop`), which
    // it cannot have while the first holds the lock.
    let log2 = ws.root().join("second");
    let mut second = spawn(build_cmd(&ws, &a, &ws.out(), Some("locked:stop")), &log2);
    wait_for_marker(&mut second, &log2, "waiting: another build is writing into");
    assert!(logs(&log2).contains(&ws.out().display().to_string()), "the waiting message names the folder");
    assert!(folder_locked(&ws.out()), "the first build no longer holds the folder");
    assert!(second.try_wait().unwrap().is_none() && proc_state(second.id()) != Some('T'), "the second build did not wait:\n{}", logs(&log2));

    // The first finishes; only then does the second get the folder, and it finds the first's whole set there.
    signal(&first, Signal::CONT);
    assert!(first.wait().unwrap().success(), "{}", logs(&log1));
    wait_stopped(&mut second, &log2);
    let mut now = contents(&ws.out());
    now.retain(|n, _| !n.starts_with(TEMP_PREFIX));
    assert_eq!(now, ref_b, "the second build got the folder before the first had committed");
    signal(&second, Signal::CONT);
    assert!(second.wait().unwrap().success(), "{}", logs(&log2));
    // One after the other: the second (A) came last, and the set is whole.
    assert_eq!(contents(&ws.out()), ref_a);
}

#[test]
fn builds_racing_into_one_folder_leave_one_whole_valid_set() {
    require("sgdisk");
    let (ws, a, b) = workspace();
    let (ref_a, ref_b) = (reference(&ws, &a, "ref-a"), reference(&ws, &b, "ref-b"));
    for round in 0..3 {
        let mut children = Vec::new();
        for (i, board) in [&a, &b, &a, &b].into_iter().enumerate() {
            let log = ws.root().join(format!("race-{round}-{i}"));
            children.push((spawn(build_cmd(&ws, board, &ws.out(), None), &log), log));
        }
        for (mut child, log) in children {
            assert!(child.wait().unwrap().success(), "{}", logs(&log));
        }
        let set = contents(&ws.out());
        assert!(set == ref_a || set == ref_b, "round {round}: not one whole build: {set:?}");
        let v = run_ok(Command::new("sgdisk").arg("-v").arg(ws.out().join("sdcard.img")));
        assert!(String::from_utf8_lossy(&v.stdout).contains("No problems found"), "{}", text(&v));
    }
}
