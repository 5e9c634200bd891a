//! The image against real consumers: sgdisk reads every partition as planned, each input sits at its partition's
//! start, genimage 16 writes the same bytes from `genimage-cfg`, bmaptool accepts the `.bmap`, and two builds are
//! bit-identical. Inputs come from mkimage, fiptool and mke2fs.
mod common;

use std::{fs, path::Path, process::Command};

use common::*;
use stm32mp_imager::{board, effects::inputs, plan};

/// What `sgdisk -i N` says about a partition.
#[derive(Debug, PartialEq, Eq)]
struct SgdiskPart {
    type_guid: String,
    unique_guid: String,
    first: u64,
    last: u64,
    attrs: u64,
    name: String,
}

fn sgdisk_info(image: &Path, n: u32) -> SgdiskPart {
    let out = run_ok(Command::new("sgdisk").arg("-i").arg(n.to_string()).arg(image));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| -> String {
        text.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no `{prefix}` in sgdisk -i {n}:\n{text}")).trim().to_string()
    };
    let first_word = |s: String| s.split_whitespace().next().unwrap_or("").to_string();
    SgdiskPart {
        type_guid: first_word(field("Partition GUID code:")),
        unique_guid: field("Partition unique GUID:"),
        first: first_word(field("First sector:")).parse().unwrap(),
        last: first_word(field("Last sector:")).parse().unwrap(),
        attrs: u64::from_str_radix(&field("Attribute flags:"), 16).unwrap(),
        name: field("Partition name:").trim_matches('\'').to_string(),
    }
}

fn plan_for(board_file: &Path, images: &Path) -> plan::Plan {
    let text = fs::read_to_string(board_file).unwrap();
    let (b, problems) = board::parse_board(&text);
    let b = b.unwrap_or_else(|| panic!("{problems:?}"));
    let set = inputs::read_inputs(&b, images, inputs::HashPolicy::All);
    plan::plan(&b, &set).plan.expect("plan")
}

fn image_path(ws: &Workspace, plan: &plan::Plan) -> std::path::PathBuf {
    ws.out().join(&plan.disk.file_name)
}

/// Build a shipped board and check it with sgdisk, byte placement and bmaptool; returns the workspace and plan.
fn build_and_verify(board_name: &str) -> (Workspace, plan::Plan) {
    require("sgdisk");
    require("bmaptool");
    let ws = Workspace::new();
    ws.standard_inputs();
    let board = shipped_board(board_name);
    let out = ws.build(&board);
    assert!(out.status.success(), "{}", text(&out));
    let plan = plan_for(&board, &ws.images());
    let image = image_path(&ws, &plan);
    assert_eq!(fs::metadata(&image).unwrap().len(), plan.disk.size.0);

    let v = run_ok(Command::new("sgdisk").arg("-v").arg(&image));
    assert!(String::from_utf8_lossy(&v.stdout).contains("No problems found"), "sgdisk -v: {}", text(&v));

    let bytes = fs::read(&image).unwrap();
    for p in &plan.partitions {
        let got = sgdisk_info(&image, p.number);
        let want = SgdiskPart {
            type_guid: p.type_guid.to_string(),
            unique_guid: p.unique_guid.to_string(),
            first: p.first_lba().0,
            last: p.last_lba().0,
            attrs: p.attributes(),
            name: p.name.clone(),
        };
        assert_eq!(got, want, "partition {} as sgdisk reads it", p.number);
        if let Some(input) = &p.input {
            let content = fs::read(ws.images().join(&input.name)).unwrap();
            let start = usize::try_from(p.start.0).unwrap();
            assert!(bytes[start..start + content.len()] == content[..], "input {} is not at the start of {}", input.name, p.name);
            assert!(
                bytes[start + content.len()..usize::try_from(p.end().0).unwrap()].iter().all(|&b| b == 0),
                "{} is not zero after its input",
                p.name
            );
        }
    }
    // Only one partition table's worth of GPT entries: no stray partitions.
    let n = plan.partitions.len() as u32 + 1;
    let extra = Command::new("sgdisk").arg("-i").arg(n.to_string()).arg(&image).output().unwrap();
    assert!(String::from_utf8_lossy(&extra.stdout).contains("does not exist"), "unexpected partition {n}: {}", text(&extra));

    // The block map: bmaptool must accept it and reproduce the image exactly.
    let bmap = ws.out().join(format!("{}.bmap", plan.disk.file_name));
    let copy = ws.root().join("copy.img");
    run_ok(Command::new("bmaptool").arg("copy").arg("--bmap").arg(&bmap).arg(&image).arg(&copy));
    assert!(fs::read(&copy).unwrap() == bytes, "bmaptool copy differs from the image");
    (ws, plan)
}

fn compare_with_genimage(board_name: &str, identical_without_normalising: bool) {
    let (ws, plan) = build_and_verify(board_name);
    let ours = fs::read(image_path(&ws, &plan)).unwrap();
    let mut theirs = genimage_write(&ws, &shipped_board(board_name), &plan.disk.file_name);
    assert_eq!(theirs.len(), ours.len(), "image sizes differ");
    let first_lba = plan.partitions[0].first_lba().0;
    let gen_first_usable = u64::from_le_bytes(theirs[512 + 40..512 + 48].try_into().unwrap());
    assert_eq!(gen_first_usable, first_lba, "genimage 16 writes the first partition's LBA as first usable");
    assert_eq!(u64::from_le_bytes(ours[512 + 40..512 + 48].try_into().unwrap()), 34, "we write 34, like U-Boot's gpt write");
    if identical_without_normalising {
        assert!(theirs == ours, "{board_name}: genimage's image differs from ours");
    }
    normalise_first_usable(&mut theirs, 34);
    let diff: Vec<usize> = theirs.iter().zip(&ours).enumerate().filter(|(_, (a, b))| a != b).map(|(i, _)| i).take(8).collect();
    assert!(diff.is_empty(), "{board_name}: bytes differ from genimage's at {diff:x?}");
}

#[test]
fn dk2_sd_trusted_matches_genimage_byte_for_byte() {
    compare_with_genimage("stm32mp157c-dk2.toml", true);
}

#[test]
fn ev1_emmc_matches_genimage_except_first_usable_lba() {
    compare_with_genimage("stm32mp157c-ev1.toml", false);
}

#[test]
fn dk2_fip_matches_genimage_byte_for_byte() {
    compare_with_genimage("stm32mp157c-dk2-fip.toml", true);
}

#[test]
fn dk2_layout_is_the_guides() {
    let (ws, plan) = build_and_verify("stm32mp157c-dk2.toml");
    let names: Vec<(u32, &str, u64)> = plan.partitions.iter().map(|p| (p.number, p.name.as_str(), p.start.0)).collect();
    assert_eq!(names, vec![(1, "fsbl1", 0x4400), (2, "fsbl2", 0x44400), (3, "ssbl", 0x84400), (4, "rootfs", 0x284400)]);
    let rootfs = sgdisk_info(&ws.out().join("sdcard.img"), 4);
    assert_eq!(rootfs.unique_guid, "E91C4E10-16E6-4C0E-BD0E-77BECF4A3582", "U-Boot's fixed mmc0 rootfs PARTUUID");
    assert_eq!(rootfs.attrs, 4, "bootable = attribute bit 2");
    assert_eq!(rootfs.last - rootfs.first + 1, (256 << 20) / 512);
}

#[test]
fn ev1_user_area_starts_at_one_erase_group() {
    let (ws, plan) = build_and_verify("stm32mp157c-ev1.toml");
    let names: Vec<(u32, &str, u64)> = plan.partitions.iter().map(|p| (p.number, p.name.as_str(), p.start.0)).collect();
    assert_eq!(names, vec![(1, "ssbl", 0x80000), (2, "rootfs", 0x280000)]);
    assert!(plan.partitions.iter().all(|p| p.start.0 % 0x80000 == 0));
    let rootfs = sgdisk_info(&ws.out().join("emmc.img"), 2);
    assert_eq!(rootfs.unique_guid, "491F6117-415D-4F53-88C9-6E0DE54DEAC6", "U-Boot's fixed mmc1 rootfs PARTUUID");
    assert_eq!(plan.hw_boot.len(), 2, "TF-A goes to boot1 and boot2");
}

#[test]
fn fip_partition_has_the_fip_type_guid() {
    let (ws, _) = build_and_verify("stm32mp157c-dk2-fip.toml");
    let fip = sgdisk_info(&ws.out().join("sdcard.img"), 3);
    assert_eq!(fip.name, "fip");
    assert_eq!(fip.type_guid, "19D5DF83-11B0-457B-BE2C-7559C13142A5");
}

#[test]
fn two_builds_are_bit_identical() {
    let ws = Workspace::new();
    ws.standard_inputs();
    let board = shipped_board("stm32mp157c-dk2-fip.toml");
    let first = ws.build(&board);
    assert!(first.status.success(), "{}", text(&first));
    let keep = ws.root().join("first");
    fs::create_dir(&keep).unwrap();
    for f in ["sdcard.img", "flash.tsv", "sdcard.img.bmap"] {
        fs::rename(ws.out().join(f), keep.join(f)).unwrap();
    }
    let second = ws.build(&board);
    assert!(second.status.success(), "{}", text(&second));
    for f in ["sdcard.img", "flash.tsv", "sdcard.img.bmap"] {
        assert!(fs::read(keep.join(f)).unwrap() == fs::read(ws.out().join(f)).unwrap(), "{f} differs between two builds");
    }
}

#[test]
fn image_is_sparse_and_inspect_reads_it_back() {
    let (ws, plan) = build_and_verify("stm32mp157c-dk2.toml");
    let image = image_path(&ws, &plan);
    let allocated = std::os::unix::fs::MetadataExt::blocks(&fs::metadata(&image).unwrap()) * 512;
    assert!(allocated < 16 << 20, "a 258 MiB image with ~4 MiB of data allocated {allocated} bytes");
    let out = run_imager([OsArg::from("inspect"), image.into()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("MBR: protective"), "{t}");
    assert!(t.contains("partition 1 `fsbl1` holds an STM32 image"), "{t}");
    assert!(t.contains("checksum         ok"), "{t}");
    assert!(t.contains("E91C4E10-16E6-4C0E-BD0E-77BECF4A3582"), "{t}");
    assert!(t.contains("ext2/3/4 file system"), "{t}");
}
