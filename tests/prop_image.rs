//! Property test with the oracles (issue 6): random valid board descriptions → plan → a real image from real inputs
//! (mkimage, fiptool, data files with zero blocks), then: `sgdisk -v` finds no problem, the partitions read back from
//! the image never overlap, the layout's offsets equal the GPT starts, and genimage, given the same plan through
//! `genimage-cfg`, writes the same bytes (the first-usable-LBA field aside, as in the core tests).
mod common;
mod reliability;

use std::{fs, path::Path, process::Command, sync::OnceLock};

use common::*;
use proptest::{prelude::*, test_runner::RngSeed};
use reliability::model::{self, BoardSpec, Content};
use stm32mp_imager::{
    flashlayout::{self, Ip, TsvOffset, TsvType},
    gpt,
    units::{ByteSize, Offset},
};

/// TF-A, U-Boot and a FIP made once by the real tools, shared by every case.
fn boot_stages() -> &'static (tempfile::TempDir, u64, u64, u64) {
    static STAGES: OnceLock<(tempfile::TempDir, u64, u64, u64)> = OnceLock::new();
    STAGES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        make_stm32(&dir.path().join("tf-a.stm32"), 90_000, "0x2ffc2500");
        make_stm32(&dir.path().join("u-boot.stm32"), 300_000, "0xc0100000");
        make_fip(&dir.path().join("fip.bin"));
        let len = |n: &str| fs::metadata(dir.path().join(n)).unwrap().len();
        let (a, b, c) = (len("tf-a.stm32"), len("u-boot.stm32"), len("fip.bin"));
        (dir, a, b, c)
    })
}

/// A data file: the payload pattern with every third 4 KiB block zero (so zero skipping and holes are exercised).
fn data_file(path: &Path, len: u64) {
    let mut bytes = payload(&path.display().to_string(), usize::try_from(len).unwrap());
    for (i, block) in bytes.chunks_mut(4096).enumerate() {
        if i % 3 == 1 {
            block.fill(0);
        }
    }
    fs::write(path, bytes).unwrap();
}

fn check_case(spec: &BoardSpec) -> Result<(), TestCaseError> {
    let ws = Workspace::new();
    let (stages, ..) = boot_stages();
    for n in ["tf-a.stm32", "u-boot.stm32", "fip.bin"] {
        fs::copy(stages.path().join(n), ws.images().join(n)).unwrap();
    }
    for (i, p) in spec.parts.iter().enumerate() {
        if let Content::Image(len) = p.content {
            data_file(&ws.images().join(BoardSpec::input_name(i)), len);
        }
    }
    let toml = spec.toml();
    let board = ws.board("board.toml", &toml);
    let out = ws.build(&board);
    prop_assert!(out.status.success(), "build failed:\n{}\n{toml}", text(&out));
    let image_path = ws.out().join("disk.img");
    let image = fs::read(&image_path).unwrap();
    prop_assert_eq!(image.len() as u64, spec.image_size());

    // sgdisk's verdict.
    let v = run_ok(Command::new("sgdisk").arg("-v").arg(&image_path));
    prop_assert!(String::from_utf8_lossy(&v.stdout).contains("No problems found"), "sgdisk -v:\n{}\n{toml}", text(&v));

    // The partitions read back never overlap, and are where the model says.
    let dec = gpt::decode(&image[..34 * 512], &image[image.len() - 33 * 512..], ByteSize::new(image.len() as u64));
    prop_assert!(dec.problems.is_empty(), "{:?}", dec.problems);
    let mut entries: Vec<(u64, u64, String)> =
        dec.entries.iter().map(|e| (e.first_lba.get() * 512, (e.last_lba.get() + 1) * 512, e.name.clone())).collect();
    entries.sort();
    for w in entries.windows(2) {
        prop_assert!(w[0].1 <= w[1].0, "{} overlaps {}", w[0].2, w[1].2);
    }
    let mut expected: Vec<(u64, u64, String)> = spec.placement().into_iter().map(|(n, s, l)| (s, s + l, n)).collect();
    expected.sort();
    prop_assert_eq!(&entries, &expected);

    // The layout's offsets are the GPT starts.
    let tsv = fs::read(ws.out().join("flash.tsv")).unwrap();
    let parsed = flashlayout::parse("flash.tsv", &tsv);
    prop_assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    for line in parsed.lines.iter().filter(|l| l.ip != Ip::None) {
        match (line.part_type, line.offset) {
            (TsvType::RawImage, off) => prop_assert_eq!(off, TsvOffset::Addr(Offset::ZERO)),
            (_, TsvOffset::Addr(a)) => {
                let a = a.get();
                let start = entries.iter().find(|e| e.2 == line.name).map(|e| e.0);
                prop_assert_eq!(Some(a), start, "layout line {} vs its GPT entry", line.name);
            }
            _ => {}
        }
    }

    // genimage writes the same bytes.
    let mut theirs = genimage_write(&ws, &board, "disk.img");
    let mut ours = image;
    prop_assert_eq!(theirs.len(), ours.len(), "genimage's image has another size");
    normalise_first_usable(&mut theirs, 34);
    normalise_first_usable(&mut ours, 34);
    if let Some(at) = ours.iter().zip(&theirs).position(|(a, b)| a != b) {
        prop_assert!(false, "genimage differs first at byte {at:#x} (ours {:#04x}, genimage {:#04x})\n{toml}", ours[at], theirs[at]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, rng_seed: RngSeed::Fixed(0x6765_6e69), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_boards_build_images_the_oracles_accept(spec in {
        let (_, fsbl, ssbl, fip) = boot_stages();
        let (fsbl, ssbl, fip) = (*fsbl, *ssbl, *fip);
        model::board(4, 3 << 20, Some(fsbl), None).prop_map(move |mut s| {
            s.soc = "stm32mp15";
            s.second_len = if s.fip { fip } else { ssbl };
            s
        })
    }) {
        require("sgdisk");
        require("genimage");
        check_case(&spec)?;
    }
}
