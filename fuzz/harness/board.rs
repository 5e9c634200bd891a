//! Board description → plan, as `check` and `build` run them, with inputs made up from the fuzz data.
//!
//! Input: the TOML text, optionally followed by a NUL and bytes that choose each input's size and kind (boot stages
//! get STM32 headers or FIP ToCs, a given FWU metadata file ST's metadata for fip-a/fip-b in v2 or v1, one naming
//! other partitions, or junk). When a plan
//! comes out, everything `build` derives from it must hold: a GPT that decodes without error, image pieces in order
//! and inside the image, a layout that U-Boot's rules accept.
use stm32mp_imager::{
    board::{self, BoardFile, ProgrammerStage, Soc},
    diag::{self, SourceFile, Style},
    flashlayout::{self, LintOptions},
    fwu::{Metadata, Version},
    gpt,
    guid::{self, Guid},
    inputs::{InputFacts, stm32},
    job::{self, BinaryPaths, BuildJob, Folders, JobError, JobOptions, layout},
    plan::{self, InputSet},
    render,
    units::Offset,
};

fn stm32_head(size: u64, version: u32) -> Vec<u8> {
    let header_len: u64 = if version == 0x0001_0000 { 256 } else { 512 };
    let mut h = vec![0u8; header_len as usize];
    h[..4].copy_from_slice(&stm32::MAGIC);
    h[0x48..0x4c].copy_from_slice(&version.to_le_bytes());
    h[0x4c..0x50].copy_from_slice(&(size.saturating_sub(header_len) as u32).to_le_bytes());
    if version != 0x0001_0000 {
        h[0x80..0x84].copy_from_slice(&0xFFFF_5453u32.to_le_bytes());
    }
    h
}

fn fip_head() -> Vec<u8> {
    let mut h = vec![0u8; 16 + 40];
    h[..4].copy_from_slice(&0xAA64_0001u32.to_le_bytes());
    h
}

/// A given `metadata.bin`: ST's for this image's fip-a/fip-b (v2 or v1), one naming other partitions, or junk.
fn fwu_head(choice: u8) -> Vec<u8> {
    let (version, bank0) = match choice {
        0 => (Version::V2, guid::FIP_A_PARTUUID),
        1 => (Version::V1, guid::FIP_A_PARTUUID),
        2 => (Version::V2, Guid::derive(&["other", "fip-a"])),
        _ => return b"not FWU metadata".to_vec(),
    };
    Metadata::st_fip_ab(version, bank0, guid::FIP_B_PARTUUID).encode().expect("ST's metadata encodes")
}

/// Made-up facts for every input the description names: a control byte and four size bytes each.
fn synthetic_inputs(board: &BoardFile, mut ctl: &[u8]) -> InputSet {
    let mut set = InputSet::default();
    for name in board.input_names() {
        let name = name.value.clone();
        if set.facts.contains_key(&name) || set.missing.contains_key(&name) {
            continue;
        }
        let (c, size_bytes) = match ctl {
            [c, a, b, d, e, rest @ ..] => {
                ctl = rest;
                (*c, Some([*a, *b, *d, *e]))
            }
            // Without control bytes: the header version the SoC needs.
            _ => match board.board.soc.value {
                Soc::Stm32mp15 => (0x00, None),
                Soc::Stm32mp13 => (0x10, None),
                Soc::Stm32mp25 => (0x20, None),
            },
        };
        if c == 0xFF {
            set.missing.insert(name, "not found".to_string());
            continue;
        }
        let role = board.boot_stage_inputs().into_iter().find(|(n, _)| n.value == name).map(|(_, r)| r);
        let stage = matches!(role, Some(ProgrammerStage::Fsbl | ProgrammerStage::Ssbl));
        let fip = matches!(role, Some(ProgrammerStage::Fip | ProgrammerStage::FipDdr));
        let metadata = board.boot.metadata.as_ref().is_some_and(|m| m.value == name);
        let size = match size_bytes {
            Some(b) => u64::from(u32::from_le_bytes(b)) << (c & 0x0F),
            None if stage => 0x1_0100,
            None if fip => 0x3_0000,
            None if metadata => 0x78,
            None => 16 << 20,
        };
        let head = match (stage, fip, (c >> 4) & 3) {
            // Without control bytes: the version the description asks for.
            _ if metadata && size_bytes.is_none() => fwu_head(u8::from(board.boot.metadata_version.as_ref().is_some_and(|v| v.value == Version::V1))),
            _ if metadata => fwu_head((c >> 4) & 3),
            (true, _, 0) => stm32_head(size, 0x0001_0000),
            (true, _, 1) => stm32_head(size, 0x0002_0000),
            (true, _, 2) => stm32_head(size, 0x0002_0200),
            (_, true, 0..=2) => fip_head(),
            _ => b"\x7fELF or anything else".to_vec(),
        };
        let head = &head[..head.len().min(usize::try_from(size).unwrap_or(usize::MAX))];
        let sum = stm32::has_magic(head).then_some(0);
        let facts = InputFacts::classify(&name, name.clone().into(), size, head, sum, None);
        set.facts.insert(name, facts);
    }
    set
}

/// Run one input.
pub fn run(data: &[u8]) {
    let (text, ctl) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let source = SourceFile::new("fuzz.toml", text);
    let (board, problems) = board::parse_board(text);
    let _ = diag::render(&problems, Some(&source), Style::Plain);
    let _ = diag::render(&problems, Some(&source), Style::Fancy);
    let Some(board) = board else { return };
    let inputs = synthetic_inputs(&board, ctl);
    let outcome = plan::plan(&board, &inputs);
    let _ = diag::render(&outcome.problems, Some(&source), Style::Fancy);
    let Some(plan) = outcome.plan else { return };

    // What `build` does with a plan, and what must hold for it not to stop with an internal error.
    let encoded = gpt::encode(&job::gpt_table(&plan));
    let mut head = Vec::new();
    head.extend_from_slice(&encoded.mbr);
    head.extend_from_slice(&encoded.primary_header);
    head.extend_from_slice(&encoded.entries);
    let mut tail = encoded.entries.clone();
    tail.extend_from_slice(&encoded.backup_header);
    let decoded = gpt::decode(&head, &tail, plan.disk.size);
    assert!(!diag::has_errors(&decoded.problems), "a valid plan encodes to a GPT with problems: {:?}", decoded.problems);
    assert_eq!(decoded.entries.len(), plan.partitions.len());

    let contents = job::image_pieces(&plan, &inputs, None).expect("every input of a plan was read");
    let mut prev_end = Offset::ZERO;
    let end = Offset::ZERO.saturating_add(plan.disk.size);
    for piece in &contents {
        assert!(piece.offset >= prev_end && piece.offset < end, "image pieces out of order or outside the image: {contents:?}");
        prev_end = piece.offset;
    }
    // The whole job, as `build --output` makes it: refusing a name clash is fine, a bug is not.
    let folders = Folders { images: "/images".into(), output: "/output".into() };
    match BuildJob::new(&plan, &inputs, &folders, JobOptions { bmap: true, layout: true }) {
        Ok(j) => assert_eq!(j.image.size, plan.disk.size),
        Err(e @ (JobError::InputNotRead(_) | JobError::Layout(_))) => panic!("a valid plan gives no build job: {e}"),
        Err(_) => {}
    }

    let lines = layout::lines(&plan, &BinaryPaths::beside(&plan));
    let tsv = render::flash_tsv(&lines).expect("flash.tsv renders");
    let parsed = flashlayout::parse(&plan.layout_name, tsv.as_bytes());
    let mut layout_problems = parsed.problems;
    layout_problems.extend(flashlayout::lint(&plan.layout_name, &parsed.lines, &LintOptions::default()));
    assert!(
        !layout_problems.iter().any(|p| p.is_error() || p.code == "layout::trailing_tab"),
        "a valid plan gives a layout U-Boot refuses: {layout_problems:?}\n{tsv}"
    );
    let _ = render::genimage_cfg(&plan).expect("genimage.cfg renders");
    let _ = plan.transfer_bytes(board::FlashMode::Raw);
    let _ = plan.transfer_bytes(board::FlashMode::Partitions);
}
