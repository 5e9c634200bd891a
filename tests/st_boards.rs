//! The boards of today's flows, built from the committed sample inputs (`samples/`, `scripts/make-samples.sh`) and
//! checked against what no one here wrote: ST's scarthgap flash layouts and the layouts ST's generator makes
//! (`tests/fixtures/st-flashlayouts/`, `tests/fixtures/st-generated/`), `sgdisk -v`/`-i` (gdisk), U-Boot's
//! `mkfwumdata` output (`tests/fixtures/fwu/metadata-v2.bin`), genimage 16 on `genimage-cfg`'s output, and genimage 16
//! on a configuration equivalent to upstream Buildroot's template (`tests/fixtures/genimage/`).
//!
//! Sizes: ST's partitions keep ST's sizes (rootfs 4 GiB on SD, 3 GiB on eMMC), so every offset is ST's; the inputs are
//! small (a 1–8 MiB ext4 in each file-system partition), the rest of each partition is a hole, and images are compared
//! by their data extents only: a 4.2 GiB image costs a few MiB of I/O. Each board is built once and shared.
mod common;

use std::{
    fs::{self, File},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use common::*;
use stm32mp_imager::{
    board,
    effects::inputs,
    flashlayout::{self, Ip, LintOptions, TsvOffset},
    fwu::{self, BankPartition, Metadata, Version},
    guid::{self, Guid},
    plan::{self, Plan},
};

/// ST's layouts: board file, and the fixture of the layout ST's generator makes for that machine.
const ST_BOARDS: [(&str, &str); 7] = [
    ("stm32mp157f-ev1-sdcard", "FlashLayout_sdcard_stm32mp157f-ev1-optee"),
    ("stm32mp157f-ev1-emmc", "FlashLayout_emmc_stm32mp157f-ev1-optee"),
    ("stm32mp157f-dk2-sdcard", "FlashLayout_sdcard_stm32mp157f-dk2-optee"),
    ("stm32mp135f-dk-sdcard", "FlashLayout_sdcard_stm32mp135f-dk-optee"),
    ("stm32mp257f-ev1-sdcard", "FlashLayout_sdcard_stm32mp257f-ev1-optee"),
    ("stm32mp257f-ev1-emmc", "FlashLayout_emmc_stm32mp257f-ev1-optee"),
    ("stm32mp257f-dk-sdcard", "FlashLayout_sdcard_stm32mp257f-dk-optee"),
];
/// Upstream Buildroot's images: board file, and TF-A's file name (`%ATFBIN%`).
const UPSTREAM: [(&str, &str); 2] = [("stm32mp157c-dk2-fip", "tf-a-stm32mp157c-dk2.stm32"), ("stm32mp135f-dk", "tf-a-stm32mp135f-dk.stm32")];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn samples() -> PathBuf {
    repo().join("samples")
}

fn all_boards() -> Vec<&'static str> {
    ST_BOARDS.iter().map(|(b, _)| *b).chain(UPSTREAM.iter().map(|(b, _)| *b)).collect()
}

/// One temporary folder for every build of this file.
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// A board built from the samples into its own folder.
struct Built {
    out: PathBuf,
    plan: Plan,
    /// `build`'s stdout and stderr.
    log: String,
}

impl Built {
    fn image(&self) -> PathBuf {
        self.out.join(&self.plan.disk.file_name)
    }
    fn layout(&self) -> String {
        fs::read_to_string(self.out.join("flash.tsv")).unwrap()
    }
}

fn plan_for(board_file: &Path) -> Plan {
    let (b, problems) = board::parse_board(&fs::read_to_string(board_file).unwrap());
    let b = b.unwrap_or_else(|| panic!("{problems:?}"));
    let set = inputs::read_inputs(&b, &samples(), inputs::HashPolicy::All);
    plan::plan(&b, &set).plan.expect("plan")
}

/// Each board built once, the first time a test asks for it.
fn built(board: &str) -> &'static Built {
    static BUILT: [OnceLock<Built>; 9] = [const { OnceLock::new() }; 9];
    let i = all_boards().iter().position(|b| *b == board).unwrap_or_else(|| panic!("{board} is not a board of this file"));
    BUILT[i].get_or_init(|| {
        let file = shipped_board(&format!("{board}.toml"));
        let out = scratch().join(format!("out-{board}"));
        let run = run_imager([OsArg::from("build"), file.clone().into(), "--images".into(), samples().into(), "--output".into(), out.clone().into()]);
        let log = text(&run);
        assert!(run.status.success(), "{board}: {log}");
        Built { out, plan: plan_for(&file), log }
    })
}

fn columns_1_to_6(text: &str) -> Vec<String> {
    text.lines().map(|line| line.split('\t').take(6).collect::<Vec<_>>().join("\t")).collect()
}

#[test]
fn st_layouts_are_the_generators_in_columns_1_to_6() {
    for (board, fixture) in ST_BOARDS {
        let want = fs::read_to_string(repo().join(format!("tests/fixtures/st-generated/{fixture}.tsv"))).unwrap();
        assert_eq!(columns_1_to_6(&built(board).layout()), columns_1_to_6(&want), "{board}");
    }
}

#[test]
fn ev1_layouts_are_st_scarthgap_samples_line_for_line() {
    for medium in ["sdcard", "emmc"] {
        let st = fs::read_to_string(repo().join(format!("tests/fixtures/st-flashlayouts/scarthgap/FlashLayout_{medium}_stm32mp157f-ev1_sample.tsv")))
            .unwrap();
        let ours = built(&format!("stm32mp157f-ev1-{medium}")).layout();
        assert_eq!(columns_1_to_6(&ours), columns_1_to_6(&st), "{medium}: Opt, Id, Name, Type, IP, Offset");
        // Column 7 names the files of this build, each next to the layout.
        for line in ours.lines().filter(|l| !l.starts_with('#')) {
            let binary = line.rsplit('\t').next().unwrap();
            assert!(binary == "none" || built(&format!("stm32mp157f-ev1-{medium}")).out.join(binary).is_file(), "{binary}");
        }
    }
}

/// Every new board's layout passes `inspect` (U-Boot's parser and the §10 rules) without a warning, and `build`
/// reported nothing worse than a note.
#[test]
fn every_new_layout_lints_clean() {
    for board in all_boards() {
        let b = built(board);
        assert!(!b.log.contains("warning[") && !b.log.contains("error["), "{board}: {}", b.log);
        let out = run_imager([OsArg::from("inspect"), b.out.join("flash.tsv").into()]);
        let t = text(&out);
        assert!(out.status.success() && t.contains("valid: U-Boot stm32prog accepts it") && !t.contains("warning["), "{board}: {t}");
    }
}

/// The block map maps every block of every input's data (zero blocks of an ext4 too: a card written through the
/// map must not keep what it held there before) and the erased firmware slots (`fip-b`, `u-boot-env`), as a flash
/// erases them; `bmaptool copy` reproduces the image (checked on the images under 1 GiB).
#[test]
fn the_block_map_maps_all_input_data_and_the_erased_slots() {
    require("bmaptool");
    for board in all_boards() {
        let b = built(board);
        let bmap = b.out.join(format!("{}.bmap", b.plan.disk.file_name));
        let mapped = bmap_mapped(&bmap);
        let covered = |a: u64, e: u64| {
            let (a, e) = (a / 4096 * 4096, e.div_ceil(4096) * 4096);
            let mut at = a;
            for &(s, t) in &mapped {
                if s <= at && at < t {
                    at = t;
                }
            }
            at >= e
        };
        for p in &b.plan.partitions {
            let (start, end) = (p.start.get(), p.end().get());
            match &p.input {
                Some(input) if !input.is_generated() => {
                    let file = fs::File::open(samples().join(&input.name)).unwrap();
                    for (s, e) in data_extents(&file, 0, input.size.get()) {
                        assert!(covered(start + s, start + e), "{board}: {} bytes {s:#x}..{e:#x} of {} unmapped: {mapped:x?}", p.name, input.name);
                    }
                }
                Some(input) => assert!(covered(start, start + input.size.get()), "{board}: {} unmapped", p.name),
                None if matches!(p.name.as_str(), "fip-b" | "u-boot-env") => {
                    assert!(covered(start, end), "{board}: the erased {} is not mapped: {mapped:x?}", p.name);
                }
                None => {}
            }
        }
        if b.plan.disk.size.get() > 1 << 30 {
            continue; // bmaptool reads a multi-GiB image's holes too: the small images prove the same.
        }
        let copy = scratch().join(format!("bmap-copy-{board}.img"));
        run_ok(Command::new("bmaptool").arg("copy").arg("--bmap").arg(&bmap).arg(b.image()).arg(&copy));
        assert_eq!(first_difference(&copy, &b.image()), None, "{board}: bmaptool copy differs from the image");
        fs::remove_file(&copy).unwrap();
    }
}

/// `sgdisk -v` finds no problem, and reads every partition as planned, with the unique GUIDs U-Boot's `stm32prog`
/// gives fip-a, fip-b and rootfs, so the GPT equals the one a `partitions`-mode flash writes (the last partition's
/// end apart: it depends on the card).
#[test]
fn images_are_sgdisk_clean_with_stm32progs_unique_guids() {
    require("sgdisk");
    for board in all_boards() {
        let b = built(board);
        let sg = run_ok(Command::new("sgdisk").arg("-v").arg(b.image()));
        assert!(String::from_utf8_lossy(&sg.stdout).contains("No problems found"), "{board}: sgdisk -v: {}", text(&sg));
        for p in &b.plan.partitions {
            let got = sgdisk_info(&b.image(), p.number);
            let want = SgdiskPart::planned(p);
            assert_eq!(got, want, "{board}: partition {} as sgdisk reads it", p.number);
            let fixed = match (p.name.as_str(), b.plan.device.0) {
                ("fip-a", _) => Some("4FD84C93-54EF-463F-A7EF-AE25FF887087"),
                ("fip-b", _) => Some("09C54952-D5BF-45AF-ACEE-335303766FB3"),
                ("rootfs", 0) => Some("E91C4E10-16E6-4C0E-BD0E-77BECF4A3582"),
                ("rootfs", 1) => Some("491F6117-415D-4F53-88C9-6E0DE54DEAC6"),
                _ => None,
            };
            if let Some(fixed) = fixed {
                assert_eq!(got.unique_guid, fixed, "{board}: {} has stm32prog's GUID", p.name);
            }
        }
        let names: Vec<&str> = b.plan.partitions.iter().map(|p| p.name.as_str()).collect();
        if ST_BOARDS.iter().any(|(s, _)| *s == board) {
            assert!(names.contains(&"fip-a") && names.contains(&"fip-b") && names.contains(&"rootfs"), "{board}: {names:?}");
        }
    }
}

/// In `partitions` mode U-Boot's `stm32prog` builds the GPT from the layout: each device line's offset, name and type
/// are the image's GPT entry's, in address order, and `System` is the only bootable one.
#[test]
fn st_layouts_describe_the_images_gpt() {
    for (board, _) in ST_BOARDS {
        let b = built(board);
        let tsv = b.layout();
        let parsed = flashlayout::parse("flash.tsv", tsv.as_bytes());
        let mut problems = parsed.problems.clone();
        problems.extend(flashlayout::lint("flash.tsv", &parsed.lines, &LintOptions::default()));
        assert!(problems.is_empty(), "{board}: {problems:?}");
        let mut on_device: Vec<_> = parsed.lines.iter().filter(|l| l.ip != Ip::None && matches!(l.offset, TsvOffset::Addr(_))).collect();
        on_device.sort_by_key(|l| match l.offset {
            TsvOffset::Addr(a) => a.get(),
            _ => 0,
        });
        assert_eq!(on_device.len(), b.plan.partitions.len(), "{board}: one line per GPT entry");
        for (n, line) in on_device.iter().enumerate() {
            let entry = sgdisk_info(&b.image(), n as u32 + 1);
            assert_eq!(line.offset, TsvOffset::Addr(stm32mp_imager::units::Offset::new(entry.first * 512)), "{board}: {}", line.name);
            assert_eq!(line.name, entry.name, "{board}");
            assert_eq!(line.part_type.gpt_type().map(|g| g.to_string()), Some(entry.type_guid.clone()), "{board}: {}", line.name);
            assert_eq!(line.part_type == flashlayout::TsvType::System, entry.attrs & 4 != 0, "{board}: {}", line.name);
        }
        let hw = parsed.lines.iter().filter(|l| matches!(l.offset, TsvOffset::Boot1 | TsvOffset::Boot2)).count();
        assert_eq!(hw, if b.plan.media == stm32mp_imager::board::Media::Emmc { 2 } else { 0 }, "{board}: TF-A in boot1/boot2 on eMMC");
    }
}

/// Whether the 4 KiB blocks wholly inside `from..to` are holes (the blocks a neighbour shares may hold its data).
fn is_hole(path: &Path, from: u64, to: u64) -> bool {
    let (from, to) = (from.div_ceil(4096) * 4096, to / 4096 * 4096);
    from >= to || data_extents(&File::open(path).unwrap(), from, to).is_empty()
}

fn read_at(path: &Path, at: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    File::open(path).unwrap().read_exact_at(&mut buf, at).unwrap();
    buf
}

/// metadata1 and metadata2 hold exactly what U-Boot's `mkfwumdata` makes for ST's GUIDs (the fixture), which is also
/// the `metadata.bin` the layout names; its banks name the unique GUIDs of the image's fip-a and fip-b as sgdisk
/// reads them (bytes 0x48 and 0x60, GPT byte order), and the rest of each metadata partition is a hole.
#[test]
fn metadata_is_mkfwumdatas_and_names_the_gpt() {
    let fixture = fs::read(repo().join("tests/fixtures/fwu/metadata-v2.bin")).unwrap();
    for (board, _) in ST_BOARDS {
        let b = built(board);
        assert_eq!(fs::read(b.out.join("metadata.bin")).unwrap(), fixture, "{board}: metadata.bin next to flash.tsv");
        assert!(b.layout().contains("\tFWU_MDATA\t") && b.layout().contains("\tmetadata.bin\n"), "{board}");
        let unique = |name: &str| {
            let p = b.plan.partition(name).unwrap();
            Guid::parse(&sgdisk_info(&b.image(), p.number).unique_guid).unwrap()
        };
        let (fip_a, fip_b) = (unique("fip-a"), unique("fip-b"));
        for name in ["metadata1", "metadata2"] {
            let p = b.plan.partition(name).unwrap();
            let image = b.image();
            let bytes = read_at(&image, p.start.get(), fixture.len());
            assert_eq!(bytes, fixture, "{board}: {name} holds the mkfwumdata fixture");
            assert_eq!(&bytes[0x48..0x58], &fip_a.to_gpt_bytes(), "{board}: bank 0 is fip-a's unique GUID");
            assert_eq!(&bytes[0x60..0x70], &fip_b.to_gpt_bytes(), "{board}: bank 1 is fip-b's unique GUID");
            let banks = [BankPartition { name: "fip-a".into(), unique: fip_a }, BankPartition { name: "fip-b".into(), unique: fip_b }];
            Metadata::decode(&bytes, fwu::ST_GEOMETRY).unwrap().check_banks(Version::V2, guid::FIP, &banks).unwrap();
            assert!(zero_between(&image, p.start.get() + fixture.len() as u64, p.end().get()), "{board}: {name} is not zero after its metadata");
            assert!(is_hole(&image, p.start.get() + fixture.len() as u64, p.end().get()), "{board}: {name} is not a hole after its metadata");
        }
    }
}

/// fip-b and u-boot-env have no input: `PED` in the layout (erased, left empty) and holes in the image.
#[test]
fn partitions_without_input_are_ped_and_holes() {
    for (board, _) in ST_BOARDS {
        let b = built(board);
        for name in ["fip-b", "u-boot-env"] {
            let line = b.layout().lines().find(|l| l.split('\t').nth(2) == Some(name)).map(str::to_string).unwrap();
            assert!(line.starts_with("PED\t") && line.ends_with("\tnone"), "{board}: {line}");
            let p = b.plan.partition(name).unwrap();
            assert!(
                zero_between(&b.image(), p.start.get(), p.end().get()) && is_hole(&b.image(), p.start.get(), p.end().get()),
                "{board}: {name} is not a hole"
            );
        }
    }
}

/// The programmer's own stages, named as ST names them: the USB TF-A on 0x01 (`fsbl-boot`), on STM32MP25 the DDR
/// firmware FIP on 0x02 (`fip-ddr`), the FIP on 0x03 (`fip-boot`); the flashed TF-A is the medium's.
#[test]
fn programmer_lines_are_sts() {
    for (board, _) in ST_BOARDS {
        let b = built(board);
        let layout = b.layout();
        let ram: Vec<Vec<&str>> = layout.lines().filter(|l| l.starts_with("-\t")).map(|l| l.split('\t').collect()).collect();
        let mp25 = board.starts_with("stm32mp257f");
        let names: Vec<&str> = ram.iter().map(|c| c[2]).collect();
        assert_eq!(names, if mp25 { vec!["fsbl-boot", "fip-ddr", "fip-boot"] } else { vec!["fsbl-boot", "fip-boot"] }, "{board}");
        assert!(ram[0][6].ends_with("-usb.stm32"), "{board}: {:?}", ram[0]);
        if mp25 {
            assert_eq!(&ram[1][..6], &["-", "0x02", "fip-ddr", "FIP", "none", "0x0"], "{board}");
            assert!(ram[1][6].contains("-ddr-optee-"), "{board}: {:?}", ram[1]);
        }
        let fsbl1 = layout.lines().find(|l| l.contains("\tfsbl1\t") || l.contains("\tfsbla1\t")).unwrap();
        assert!(!fsbl1.ends_with("-usb.stm32"), "{board}: the flashed TF-A is not the USB one: {fsbl1}");
    }
}

/// The genimage inputs of a board: every sample, and what the build made (the FWU metadata).
fn genimage_inputs(board: &str) -> PathBuf {
    let dir = scratch().join(format!("genimage-inputs-{board}"));
    fs::create_dir_all(&dir).unwrap();
    for e in fs::read_dir(samples()).unwrap() {
        let e = e.unwrap();
        let _ = std::os::unix::fs::symlink(e.path(), dir.join(e.file_name()));
    }
    let metadata = built(board).out.join("metadata.bin");
    if metadata.exists() {
        fs::copy(metadata, dir.join("metadata.bin")).unwrap();
    }
    dir
}

/// genimage 16 on `genimage-cfg`'s output writes the same bytes as `build` (genimage 16 writes the first partition's
/// LBA as the first usable LBA, which is normalised to the 34 U-Boot and we write; on SD the first partition is at
/// LBA 34 anyway).
#[test]
fn genimage_on_genimage_cfg_writes_the_same_bytes() {
    for board in all_boards() {
        let b = built(board);
        let theirs = genimage_image(
            &scratch().join(format!("genimage-{board}")),
            &genimage_inputs(board),
            &shipped_board(&format!("{board}.toml")),
            &b.plan.disk.file_name,
        );
        assert_eq!(fs::metadata(&theirs).unwrap().len(), b.plan.disk.size.get(), "{board}: image sizes differ");
        normalise_first_usable_file(&theirs, 34);
        assert_eq!(content_digest(&theirs), content_digest(&b.image()), "{board}: genimage's image differs from ours");
    }
}

/// Upstream Buildroot's `genimage.cfg.template`, as an equivalent configuration written from its facts (no offsets, no
/// types, no UUIDs), run by genimage 16 on the same inputs, gives our image byte for byte once genimage's random GUIDs
/// are replaced by ours (and the header CRCs recomputed).
#[test]
fn upstream_template_and_build_write_the_same_bytes() {
    require("genimage");
    let template = fs::read_to_string(repo().join("tests/fixtures/genimage/stm32mp1xx-upstream.cfg.template")).unwrap();
    for (board, atf) in UPSTREAM {
        let b = built(board);
        let root = scratch().join(format!("upstream-{board}"));
        let (out, groot, tmp) = (root.join("out"), root.join("root"), root.join("tmp"));
        fs::create_dir_all(&out).unwrap();
        fs::create_dir_all(&groot).unwrap();
        let cfg = root.join("genimage.cfg");
        fs::write(&cfg, template.replace("%ATFBIN%", atf)).unwrap();
        run_ok(
            Command::new("genimage")
                .arg("--config")
                .arg(&cfg)
                .arg("--inputpath")
                .arg(samples())
                .arg("--outputpath")
                .arg(&out)
                .arg("--rootpath")
                .arg(&groot)
                .arg("--tmppath")
                .arg(&tmp),
        );
        let theirs = out.join("sdcard.img");
        assert_eq!(fs::metadata(&theirs).unwrap().len(), fs::metadata(b.image()).unwrap().len(), "{board}: image sizes differ");
        adopt_guids(&theirs, &b.image());
        assert_eq!(first_difference(&theirs, &b.image()), None, "{board}: genimage's image from upstream's template differs from ours");
    }
}

/// The genimage inputs for a test that writes into samples' copies.
fn samples_copy(dir: &Path, names: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    for n in names {
        fs::copy(samples().join(n), dir.join(n)).unwrap();
    }
}

/// A given FWU metadata file is checked against the image's GPT: ST's own (the mkfwumdata fixture) passes and is
/// written as it is; one naming other GUIDs is refused with the field, the GUIDs and what to change.
#[test]
fn a_given_metadata_is_checked_against_the_gpt() {
    let dir = scratch().join("given-metadata");
    samples_copy(
        &dir,
        &[
            "tf-a-stm32mp157f-dk2-sdcard.stm32",
            "tf-a-stm32mp157f-dk2-usb.stm32",
            "fip-stm32mp157f-dk2-optee.bin",
            "bootfs.ext4",
            "vendorfs.ext4",
            "rootfs.ext2",
            "userfs.ext4",
            "metadata-v2.bin",
        ],
    );
    fs::copy(repo().join("tests/fixtures/fwu/metadata-v2-other-guids.bin"), dir.join("other.bin")).unwrap();
    let base = fs::read_to_string(shipped_board("stm32mp157f-dk2-sdcard.toml")).unwrap().replace("\"rootfs.ext4\"", "\"rootfs.ext2\"");
    let board = dir.join("given.toml");
    fs::write(&board, base.replace("fwu = true\n", "fwu = true\nmetadata = \"metadata-v2.bin\"\n")).unwrap();
    let out = dir.join("out");
    let run = run_imager([OsArg::from("build"), board.clone().into(), "--images".into(), dir.clone().into(), "--output".into(), out.clone().into()]);
    assert!(run.status.success(), "{}", text(&run));
    let tsv = fs::read_to_string(out.join("flash.tsv")).unwrap();
    assert!(tsv.contains("\tmetadata1\tFWU_MDATA\tmmc0\t0x00084400\tmetadata-v2.bin\n"), "{tsv}");
    assert!(!out.join("metadata.bin").exists(), "a given metadata is not generated");
    let fixture = fs::read(repo().join("tests/fixtures/fwu/metadata-v2.bin")).unwrap();
    assert_eq!(read_at(&out.join("sdcard.img"), 0xC4400, fixture.len()), fixture);

    fs::write(&board, base.replace("fwu = true\n", "fwu = true\nmetadata = \"other.bin\"\n")).unwrap();
    let run = run_imager([OsArg::from("check"), board.clone().into(), "--images".into(), dir.clone().into()]);
    let t = text(&run);
    assert_eq!(run.status.code(), Some(1), "{t}");
    let line = board_line(&fs::read_to_string(&board).unwrap(), "metadata = ");
    assert!(
        t.contains(&format!(
            "error[plan::fwu_metadata]: {}:{line}:12: FWU metadata `other.bin`: no image of type 19D5DF83-11B0-457B-BE2C-7559C13142A5 in the FWU metadata (types found: 10C36D7D-CA52-B843-B7B9-F9D6C501D108): TF-A will not find the FIP",
            board.display()
        )),
        "{t}"
    );
    // ST's types, but banks that name other partitions (made with the encoder the mkfwumdata fixtures prove).
    let swapped = Metadata::st_fip_ab(Version::V2, guid::FIP_B_PARTUUID, guid::FIP_A_PARTUUID).encode().unwrap();
    fs::write(dir.join("swapped.bin"), swapped).unwrap();
    fs::write(&board, base.replace("fwu = true\n", "fwu = true\nmetadata = \"swapped.bin\"\n")).unwrap();
    let t = text(&run_imager([OsArg::from("check"), board.clone().into(), "--images".into(), dir.clone().into()]));
    assert!(t.contains("FWU metadata `swapped.bin`: bank 0 names image 09C54952-D5BF-45AF-ACEE-335303766FB3, but partition fip-a has unique GUID 4FD84C93-54EF-463F-A7EF-AE25FF887087: TF-A would not find the FIP of bank 0"), "{t}");
    assert!(t.contains("remove `metadata` so the tool writes it from this description, or remake it with `mkfwumdata -g -i 1 -b 2 -v 2 8a7a84a0-8387-40f6-ab41-a8b9a5a60d23,19d5df83-11b0-457b-be2c-7559c13142a5,4fd84c93-54ef-463f-a7ef-ae25ff887087,09c54952-d5bf-45af-acee-335303766fb3`"), "{t}");
    // The version the target reads: v1 metadata for a v2 target.
    fs::copy(repo().join("tests/fixtures/fwu/metadata-v1.bin"), dir.join("v1.bin")).unwrap();
    fs::write(&board, base.replace("fwu = true\n", "fwu = true\nmetadata = \"v1.bin\"\n")).unwrap();
    let t = text(&run_imager([OsArg::from("check"), board.clone().into(), "--images".into(), dir.clone().into()]));
    assert!(t.contains("error[plan::fwu_metadata]") && t.contains("FWU metadata version 1, but the target reads version 2"), "{t}");
    // … which is right for a v1 target.
    fs::write(&board, base.replace("fwu = true\n", "fwu = true\nmetadata = \"v1.bin\"\nmetadata_version = 1\n")).unwrap();
    let run = run_imager([OsArg::from("check"), board.clone().into(), "--images".into(), dir.clone().into()]);
    assert!(run.status.success(), "{}", text(&run));
}

/// The 1-based line of the first line starting with `prefix`.
fn board_line(text: &str, prefix: &str) -> usize {
    text.lines().position(|l| l.starts_with(prefix)).unwrap() + 1
}

/// `size = "fill"` with the card's size: the last partition ends where `stm32prog` ends it (35 sectors before the
/// end on SD, one 512 KiB erase group on eMMC), so the image's GPT is the one a `partitions`-mode flash writes; sgdisk
/// reads that end back.
#[test]
fn fill_ends_the_last_partition_where_stm32prog_does() {
    let dir = scratch().join("fill");
    samples_copy(
        &dir,
        &[
            "tf-a-stm32mp157f-ev1-emmc.stm32",
            "tf-a-stm32mp157f-ev1-sdcard.stm32",
            "tf-a-stm32mp157f-ev1-usb.stm32",
            "fip-stm32mp157f-ev1-optee.bin",
            "bootfs.ext4",
            "vendorfs.ext4",
            "rootfs.ext2",
            "userfs.ext4",
        ],
    );
    for (medium, card, reserved) in [("sdcard", 8u64 << 30, 35u64), ("emmc", 0x1_D5A0_0000, 1024)] {
        let text = fs::read_to_string(shipped_board(&format!("stm32mp157f-ev1-{medium}.toml")))
            .unwrap()
            .replace("\"rootfs.ext4\"", "\"rootfs.ext2\"")
            .replace("image = \"userfs.ext4\"\nsize = \"128M\"", "image = \"userfs.ext4\"\nsize = \"fill\"")
            .replace("[flash]", &format!("size = {card}\n\n[flash]"));
        assert!(text.contains("size = \"fill\""));
        let board = dir.join(format!("{medium}.toml"));
        fs::write(&board, text).unwrap();
        let out = dir.join(format!("out-{medium}"));
        let run = run_imager([OsArg::from("build"), board.into(), "--images".into(), dir.clone().into(), "--output".into(), out.clone().into()]);
        let log = common::text(&run);
        assert!(run.status.success() && !log.contains("warning[") && !log.contains("note[plan::last_partition"), "{log}");
        let image = out.join(if medium == "emmc" { "emmc.img" } else { "sdcard.img" });
        assert_eq!(fs::metadata(&image).unwrap().len(), card);
        let sectors = card / 512;
        let n = if medium == "emmc" { 9 } else { 11 };
        let userfs = sgdisk_info(&image, n);
        assert_eq!(userfs.name, "userfs");
        assert_eq!(userfs.last + 1, sectors - reserved, "{medium}: stm32prog's last_addr");
        assert!(String::from_utf8_lossy(&run_ok(Command::new("sgdisk").arg("-v").arg(&image)).stdout).contains("No problems found"));
    }
}

/// Upstream Buildroot's DK2 defconfig builds TF-A without USB programmer support (docs/buildroot-upstream.md §1): run
/// as Buildroot runs a post-image script, with that configuration and the board named in the arguments, Buildroot
/// mode writes the image and its block map, no layout (and removes one an earlier build left), exits 0, and says
/// what to add; with a USB TF-A named in `[programmer]` the layout is written.
#[test]
fn upstream_dk2_defconfig_ends_in_an_image_without_a_layout() {
    let root = scratch().join("buildroot-upstream-dk2");
    let images = root.join("output/images");
    samples_copy(&images, &["tf-a-stm32mp157c-dk2.stm32", "fip.bin", "rootfs.ext2"]);
    std::os::unix::fs::symlink("rootfs.ext2", images.join("rootfs.ext4")).unwrap();
    let target = root.join("output/target");
    fs::create_dir_all(target.join("boot/extlinux")).unwrap();
    fs::write(
        target.join("boot/extlinux/extlinux.conf"),
        "label stm32mp157c-dk2-buildroot\n  kernel /boot/zImage\n  devicetree /boot/stm32mp157c-dk2.dtb\n  append root=/dev/mmcblk0p4 rootwait\n",
    )
    .unwrap();
    // The TF-A lines of upstream's stm32mp157c_dk2_defconfig, as a .config has them.
    let config = root.join("output/.config");
    let tfa = "BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=\"STM32MP_SDMMC=1 AARCH32_SP=sp_min DTB_FILE_NAME=stm32mp157c-dk2.dtb E=0 BL33_CFG=$(BINARIES_DIR)/u-boot.dtb\"";
    fs::write(&config, format!("BR2_arm=y\nBR2_TARGET_ARM_TRUSTED_FIRMWARE=y\nBR2_TARGET_ARM_TRUSTED_FIRMWARE_PLATFORM=\"stm32mp1\"\n{tfa}\nBR2_TARGET_UBOOT=y\n# BR2_TARGET_UBOOT_SPL is not set\n")).unwrap();
    fs::write(images.join("flash.tsv"), "stale layout of an earlier build\n").unwrap();
    let run = |board: &Path| {
        imager()
            .current_dir(&root)
            .env("BR2_CONFIG", &config)
            .env("BINARIES_DIR", &images)
            .env("TARGET_DIR", &target)
            .arg("buildroot-post-image")
            .arg(&images)
            .arg("--board")
            .arg(board)
            .output()
            .unwrap()
    };
    let out = run(&shipped_board("stm32mp157c-dk2-fip.toml"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(images.join("sdcard.img").is_file() && images.join("sdcard.img.bmap").is_file(), "{t}");
    assert!(!images.join("flash.tsv").exists(), "the stale layout is removed: {t}");
    assert!(t.contains("warning[buildroot::no_usb_programmer]"), "{t}");
    assert!(t.contains("flash.tsv was not written: flashing over USB would fail, for this reason:"), "{t}");
    assert!(t.contains("to flash over USB: write `BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=\"STM32MP_SDMMC=1 AARCH32_SP=sp_min DTB_FILE_NAME=stm32mp157c-dk2.dtb E=0 BL33_CFG=$(BINARIES_DIR)/u-boot.dtb STM32MP_USB_PROGRAMMER=1\"`"), "{t}");
    assert!(t.contains(&format!("removed {} from an earlier build", images.join("flash.tsv").display())), "{t}");
    assert!(t.contains("bmaptool copy"), "{t}");
    // The image is the one `build` writes for the same description.
    let built = built("stm32mp157c-dk2-fip");
    assert_eq!(first_difference(&images.join("sdcard.img"), &built.image()), None);

    // A separate USB TF-A for line 0x01: Buildroot's build is not what the programmer loads, and the layout is written.
    fs::copy(samples().join("tf-a-stm32mp157c-ev1.stm32"), images.join("tf-a-usb.stm32")).unwrap();
    let board = root.join("with-usb-tfa.toml");
    fs::write(
        &board,
        fs::read_to_string(shipped_board("stm32mp157c-dk2-fip.toml"))
            .unwrap()
            .replace("[storage]", "[programmer]\nfsbl = \"tf-a-usb.stm32\"\n\n[storage]"),
    )
    .unwrap();
    let out = run(&board);
    let t = text(&out);
    assert!(out.status.success() && !t.contains("no_usb_programmer"), "{t}");
    assert!(fs::read_to_string(images.join("flash.tsv")).unwrap().contains("-\t0x01\tfsbl-boot\tBinary\tnone\t0x0\ttf-a-usb.stm32\n"));
}

/// Review 3: the EV1 carries an SD card and an eMMC, and one Linux sees both; its two descriptions (one board name)
/// derived one disk GUID and the same PARTUUIDs for metadata1/2, u-boot-env, bootfs, vendorfs and userfs. Derived
/// GUIDs now name the storage too: the two share none, and the GUIDs `stm32prog` fixes are kept.
#[test]
fn the_ev1_sd_and_emmc_descriptions_share_no_derived_guid() {
    let sd = plan_for(&shipped_board("stm32mp157f-ev1-sdcard.toml"));
    let emmc = plan_for(&shipped_board("stm32mp157f-ev1-emmc.toml"));
    assert_eq!(sd.board, emmc.board);
    assert_ne!(sd.disk.disk_guid, emmc.disk.disk_guid, "disk GUID");
    let fixed = [guid::FIP_A_PARTUUID, guid::FIP_B_PARTUUID];
    for p in &sd.partitions {
        // fsbl1/fsbl2 are in the user area on SD only (eMMC: boot1/boot2).
        if fixed.contains(&p.unique_guid) {
            assert_eq!(emmc.partition(&p.name).map(|q| q.unique_guid), Some(p.unique_guid), "{}: stm32prog's fixed GUID", p.name);
            continue;
        }
        assert!(emmc.partitions.iter().all(|q| q.unique_guid != p.unique_guid), "{}: {} on both media", p.name, p.unique_guid);
        assert_ne!(p.unique_guid, emmc.disk.disk_guid);
    }
    assert_eq!(sd.partition("rootfs").unwrap().unique_guid, guid::uboot_rootfs_partuuid(0).unwrap());
    assert_eq!(emmc.partition("rootfs").unwrap().unique_guid, guid::uboot_rootfs_partuuid(1).unwrap());
}
