//! The image against real consumers: sgdisk reads every partition as planned, each input sits at its partition's
//! start, genimage 16 writes the same bytes from `genimage-cfg`, bmaptool accepts the `.bmap`, and two builds are
//! bit-identical. Inputs come from mkimage, fiptool and mke2fs.
//!
//! The inputs are made once and each shipped board is built and verified once, shared by every test (read-only);
//! images are compared by streaming over their data extents, never read whole into memory.
mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use common::*;
use stm32mp_imager::{board, effects::inputs, plan};

fn plan_for(board_file: &Path, images: &Path) -> plan::Plan {
    let text = fs::read_to_string(board_file).unwrap();
    let (b, problems) = board::parse_board(&text);
    let b = b.unwrap_or_else(|| panic!("{problems:?}"));
    let set = inputs::read_inputs(&b, images, inputs::HashPolicy::All);
    plan::plan(&b, &set).plan.expect("plan")
}

/// The standard inputs, made once by the real tools and shared (read-only) by every test of this file.
fn inputs_ws() -> &'static Workspace {
    static WS: OnceLock<Workspace> = OnceLock::new();
    WS.get_or_init(|| {
        let ws = Workspace::new();
        ws.standard_inputs();
        ws
    })
}

/// A shipped board built once into its own folder and verified with sgdisk, byte placement and bmaptool.
struct Verified {
    out: PathBuf,
    plan: plan::Plan,
}

impl Verified {
    fn image(&self) -> PathBuf {
        self.out.join(&self.plan.disk.file_name)
    }
}

const BOARDS: [&str; 3] = ["stm32mp157c-dk2.toml", "stm32mp157c-ev1.toml", "stm32mp157c-dk2-fip.toml"];

/// One build per board, made by the first test that asks for it (the others asking for the same board wait for it;
/// different boards build in parallel).
fn verified(board_name: &str) -> &'static Verified {
    static BUILT: [OnceLock<Verified>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = BOARDS.iter().position(|b| *b == board_name).unwrap_or_else(|| panic!("{board_name} is not a shipped board"));
    BUILT[i].get_or_init(|| build_and_verify(board_name))
}

/// Build a shipped board and check it with sgdisk, byte placement and bmaptool.
fn build_and_verify(board_name: &str) -> Verified {
    require("sgdisk");
    require("bmaptool");
    let ws = inputs_ws();
    let board = shipped_board(board_name);
    let out = ws.root().join(format!("out-{board_name}"));
    let built =
        run_imager([OsArg::from("build"), board.clone().into(), "--images".into(), ws.images().into(), "--output".into(), out.clone().into()]);
    assert!(built.status.success(), "{}", text(&built));
    let plan = plan_for(&board, &ws.images());
    let v = Verified { out, plan };
    let (image, plan) = (v.image(), &v.plan);
    assert_eq!(fs::metadata(&image).unwrap().len(), plan.disk.size.get());

    let sg = run_ok(Command::new("sgdisk").arg("-v").arg(&image));
    assert!(String::from_utf8_lossy(&sg.stdout).contains("No problems found"), "sgdisk -v: {}", text(&sg));

    for p in &plan.partitions {
        let got = sgdisk_info(&image, p.number);
        let want = SgdiskPart::planned(p);
        assert_eq!(got, want, "partition {} as sgdisk reads it", p.number);
        if let Some(input) = &p.input {
            let content = ws.images().join(&input.name);
            let len = fs::metadata(&content).unwrap().len();
            assert!(holds_at(&image, p.start.get(), &content), "input {} is not at the start of {}", input.name, p.name);
            assert!(zero_between(&image, p.start.get() + len, p.end().get()), "{} is not zero after its input", p.name);
        }
    }
    // Only one partition table's worth of GPT entries: no stray partitions.
    let n = plan.partitions.len() as u32 + 1;
    let extra = Command::new("sgdisk").arg("-i").arg(n.to_string()).arg(&image).output().unwrap();
    assert!(String::from_utf8_lossy(&extra.stdout).contains("does not exist"), "unexpected partition {n}: {}", text(&extra));

    // The block map: bmaptool must accept it and reproduce the image exactly.
    let bmap = v.out.join(format!("{}.bmap", plan.disk.file_name));
    let copy = ws.root().join(format!("copy-{board_name}.img"));
    run_ok(Command::new("bmaptool").arg("copy").arg("--bmap").arg(&bmap).arg(&image).arg(&copy));
    assert_eq!(first_difference(&copy, &image), None, "bmaptool copy differs from the image");
    fs::remove_file(&copy).unwrap();
    v
}

fn compare_with_genimage(board_name: &str, identical_without_normalising: bool) {
    let v = verified(board_name);
    let ws = inputs_ws();
    let ours = v.image();
    let theirs = genimage_image(&ws.root().join(format!("genimage-{board_name}")), &ws.images(), &shipped_board(board_name), &v.plan.disk.file_name);
    assert_eq!(fs::metadata(&theirs).unwrap().len(), fs::metadata(&ours).unwrap().len(), "image sizes differ");
    let first_lba = v.plan.partitions[0].first_lba().get();
    assert_eq!(read_u64_at(&theirs, 512 + 40), first_lba, "genimage 16 writes the first partition's LBA as first usable");
    assert_eq!(read_u64_at(&ours, 512 + 40), 34, "we write 34, like U-Boot's gpt write");
    if identical_without_normalising {
        assert!(content_digest(&theirs) == content_digest(&ours), "{board_name}: genimage's image differs from ours");
    }
    normalise_first_usable_file(&theirs, 34);
    assert_eq!(first_difference(&theirs, &ours), None, "{board_name}: bytes differ from genimage's");
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
    let v = verified("stm32mp157c-dk2.toml");
    let names: Vec<(u32, &str, u64)> = v.plan.partitions.iter().map(|p| (p.number, p.name.as_str(), p.start.get())).collect();
    assert_eq!(names, vec![(1, "fsbl1", 0x4400), (2, "fsbl2", 0x44400), (3, "ssbl", 0x84400), (4, "rootfs", 0x284400)]);
    let rootfs = sgdisk_info(&v.image(), 4);
    assert_eq!(rootfs.unique_guid, "E91C4E10-16E6-4C0E-BD0E-77BECF4A3582", "U-Boot's fixed mmc0 rootfs PARTUUID");
    assert_eq!(rootfs.attrs, 4, "bootable = attribute bit 2");
    assert_eq!(rootfs.last - rootfs.first + 1, (256 << 20) / 512);
}

#[test]
fn ev1_user_area_starts_at_one_erase_group() {
    let v = verified("stm32mp157c-ev1.toml");
    let names: Vec<(u32, &str, u64)> = v.plan.partitions.iter().map(|p| (p.number, p.name.as_str(), p.start.get())).collect();
    assert_eq!(names, vec![(1, "ssbl", 0x80000), (2, "rootfs", 0x280000)]);
    assert!(v.plan.partitions.iter().all(|p| p.start.get() % 0x80000 == 0));
    let rootfs = sgdisk_info(&v.image(), 2);
    assert_eq!(rootfs.unique_guid, "491F6117-415D-4F53-88C9-6E0DE54DEAC6", "U-Boot's fixed mmc1 rootfs PARTUUID");
    assert_eq!(v.plan.hw_boot.len(), 2, "TF-A goes to boot1 and boot2");
}

/// The FIP-chain DK2 is upstream Buildroot's image (docs/buildroot-upstream.md §3): fsbl1 and fsbl2 sized from the
/// TF-A file (rounded up to 512 bytes, as genimage sizes a partition without `size`), fip 2 MiB, rootfs sized from its
/// file and bootable, each right after the previous one, all Linux filesystem.
#[test]
fn fip_board_is_upstream_buildroots_image() {
    let v = verified("stm32mp157c-dk2-fip.toml");
    let tf_a = fs::metadata(inputs_ws().images().join("tf-a-stm32mp157c-dk2.stm32")).unwrap().len();
    let rootfs = fs::metadata(inputs_ws().images().join("rootfs.ext4")).unwrap().len();
    let slot = tf_a.div_ceil(512) * 512;
    let expected = [
        ("fsbl1", 34, slot),
        ("fsbl2", 34 + slot / 512, slot),
        ("fip", 34 + 2 * slot / 512, 2 << 20),
        ("rootfs", 34 + 2 * slot / 512 + 4096, rootfs),
    ];
    for (n, (name, first, size)) in expected.into_iter().enumerate() {
        let p = sgdisk_info(&v.image(), n as u32 + 1);
        assert_eq!((p.name.as_str(), p.first, (p.last + 1 - p.first) * 512), (name, first, size), "partition {}", n + 1);
        assert_eq!(p.type_guid, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "{name}: genimage's default type");
        assert_eq!(p.attrs, if name == "rootfs" { 4 } else { 0 }, "{name}: only rootfs is bootable");
    }
}

#[test]
fn two_builds_are_bit_identical() {
    let first = verified("stm32mp157c-dk2-fip.toml");
    let ws = inputs_ws();
    let second = ws.root().join("second-build");
    let out = run_imager([
        OsArg::from("build"),
        shipped_board("stm32mp157c-dk2-fip.toml").into(),
        "--images".into(),
        ws.images().into(),
        "--output".into(),
        second.clone().into(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    for f in ["sdcard.img", "flash.tsv", "sdcard.img.bmap"] {
        assert_eq!(first_difference(&first.out.join(f), &second.join(f)), None, "{f} differs between two builds");
    }
    let names = |d: &Path| {
        let mut v: Vec<String> = fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&first.out), names(&second), "the two builds wrote different files");
    fs::remove_dir_all(&second).unwrap();
}

#[test]
fn image_is_sparse_and_inspect_reads_it_back() {
    let v = verified("stm32mp157c-dk2.toml");
    let image = v.image();
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
