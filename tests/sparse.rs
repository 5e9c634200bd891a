//! Size on disk: the image allocates no more than `cp --sparse=always` of the same bytes, holes in the inputs stay
//! holes, all-zero blocks are not written, and `--no-bmap` writes no block map.
mod common;

use std::{fs, os::unix::fs::MetadataExt, process::Command};

use common::*;

fn allocated(path: &std::path::Path) -> u64 {
    fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn image_allocates_no_more_than_cp_sparse_always() {
    let ws = Workspace::new();
    ws.standard_inputs();
    // An ext4 with allocated zero blocks (mke2fs writes inode tables and the journal as data) in a larger partition.
    make_ext4(&ws.images().join("rootfs.ext4"), 96 << 20, 5 << 20);
    let board = ws.board("b.toml", &fs::read_to_string(shipped_board("stm32mp157c-ev1.toml")).unwrap());
    let out = ws.build_with(&board, &["--no-bmap"]);
    assert!(out.status.success(), "{}", text(&out));
    let image = ws.out().join("emmc.img");
    assert!(!ws.out().join("emmc.img.bmap").exists(), "--no-bmap wrote a block map");
    let copy = ws.root().join("cp.img");
    run_ok(Command::new("cp").arg("--sparse=always").arg(&image).arg(&copy));
    assert_eq!(first_difference(&image, &copy), None, "cp --sparse=always changed the bytes");
    let (ours, cps) = (allocated(&image), allocated(&copy));
    assert!(ours <= cps, "image allocates {ours} bytes, cp --sparse=always {cps}");
    // And well below the input's own allocation, whose zero blocks were skipped.
    let input_alloc = allocated(&ws.images().join("rootfs.ext2"));
    assert!(ours < input_alloc, "image {ours} bytes vs input {input_alloc} bytes allocated");
}

#[test]
fn build_prints_what_the_programmer_will_send() {
    let ws = Workspace::new();
    ws.standard_inputs();
    let out = ws.build(&shipped_board("stm32mp157c-dk2.toml"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let image = fs::metadata(ws.out().join("sdcard.img")).unwrap().len();
    let stages =
        fs::metadata(ws.images().join("tf-a-stm32mp157c-dk2.stm32")).unwrap().len() + fs::metadata(ws.images().join("u-boot.stm32")).unwrap().len();
    assert!(t.contains(&format!("flash in raw mode: {} bytes", image + stages)), "{t}");
    assert!(t.contains("flash in partitions mode: "), "{t}");
    assert!(t.contains("at the guide's 1.98 MB/s"), "{t}");
    let check = run_imager([OsArg::from("check"), shipped_board("stm32mp157c-dk2.toml").into(), "--images".into(), ws.images().into()]);
    let c = text(&check);
    assert!(c.contains(&format!("flash in raw mode: {} bytes", image + stages)) && c.contains("(flash.tsv uses this mode)"), "{c}");
}

/// `--no-bmap` into a folder holding an earlier build's block map removes it in the same commit: bmaptool finds a
/// `.bmap` next to the image on its own, and an old one would write a card that misses the new data.
#[test]
fn no_bmap_removes_the_previous_block_map() {
    let ws = Workspace::new();
    ws.standard_inputs();
    let board = shipped_board("stm32mp157c-dk2.toml");
    let first = ws.build(&board);
    assert!(first.status.success(), "{}", text(&first));
    let bmap = ws.out().join("sdcard.img.bmap");
    assert!(bmap.exists());
    let out = ws.build_with(&board, &["--no-bmap"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!bmap.exists(), "the earlier block map outlived the image it was made for");
    assert!(ws.out().join("sdcard.img").exists() && ws.out().join("flash.tsv").exists());
}
