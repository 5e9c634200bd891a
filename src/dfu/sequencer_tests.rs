//! The sequencer against the fake board (`fake_board.rs`), one test per rule of the module docs of `sequencer.rs`,
//! each generation of the device side, and every device error. Each test names the device code it follows.

use std::{cell::Cell, collections::BTreeMap, time::Duration};

use super::{
    descriptors::{RawDevice, Stage},
    error::FailureKind,
    fake_board::{FakeBoard, MemoryImages, TfaGen, UbootGen},
    protocol::{DfuRequest, State, Status},
    sequencer::{BoardJob, Event, ImageId, ImageInfo, Sequencer, Summary, Timing},
    stm32prog::PhaseId,
    transport::{DfuTransport, TransportError, drive},
};
use crate::{
    board::Soc,
    dfu::FlashError,
    inputs::stm32::{HeaderFields, HeaderVersion, encode_header},
};

const LAYOUT: &str = "#Opt\tId\tName\tType\tIP\tOffset\tBinary\n\
-\t0x01\tfsbl-boot\tBinary\tnone\t0x0\ttf-a-usb.stm32\n\
-\t0x03\tfip-boot\tFIP\tnone\t0x0\tfip.bin\n\
P\t0x04\tfsbl1\tBinary\tmmc0\t0x00004400\ttf-a.stm32\n\
P\t0x05\tfsbl2\tBinary\tmmc0\t0x00044400\ttf-a.stm32\n\
P\t0x06\tfip\tFIP\tmmc0\t0x00084400\tfip.bin\n\
P\t0x10\trootfs\tSystem\tmmc0\t0x00484400\trootfs.ext4\n";

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| u8::try_from((i * 7 + usize::from(seed)) % 251).unwrap()).collect()
}

fn fip(len: usize, seed: u8) -> Vec<u8> {
    let mut f = vec![0x01, 0x00, 0x64, 0xAA, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0, 0, 0, 0, 0];
    f.extend(pattern(len - 16, seed));
    f
}

fn fsbl(soc: Soc) -> Vec<u8> {
    let version = match soc {
        Soc::Stm32mp15 => HeaderVersion { major: 1, minor: 0 },
        Soc::Stm32mp13 => HeaderVersion { major: 2, minor: 0 },
        Soc::Stm32mp25 => HeaderVersion { major: 2, minor: 2 },
    };
    encode_header(version, HeaderFields { binary_type: 0x10, ..HeaderFields::default() }, &pattern(5000, 1)).unwrap()
}

/// Images: 0 FSBL, 1 FIP, 2 DDR FIP, 3 rootfs.
fn job(soc: Soc) -> (BoardJob, MemoryImages) {
    let data = vec![fsbl(soc), fip(20_000, 2), fip(3000, 3), pattern(100_000, 4)];
    let labels = ["tf-a.stm32", "fip.bin", "ddr-fw.fip", "rootfs.ext4"];
    let images = labels.iter().zip(&data).map(|(l, d)| ImageInfo { label: (*l).to_string(), len: d.len() as u64 }).collect();
    let partitions = BTreeMap::from([(0x04, ImageId(0)), (0x05, ImageId(0)), (0x06, ImageId(1)), (0x10, ImageId(3))]);
    let job = BoardJob {
        soc,
        images,
        fsbl: ImageId(0),
        ddr_firmware: (soc == Soc::Stm32mp25).then_some(ImageId(2)),
        ssbl: ImageId(1),
        layout: LAYOUT.as_bytes().to_vec(),
        partitions,
    };
    (job, MemoryImages(data))
}

fn timing() -> Timing {
    Timing { progress_step: 32 * 1024, ..Timing::default() }
}

fn run(board: &mut FakeBoard, job: BoardJob, images: &mut MemoryImages) -> (Result<Summary, FlashError>, Vec<Event>) {
    let mut seq = Sequencer::new(job, timing()).unwrap();
    let mut events = Vec::new();
    let result = drive(&mut seq, board, images, &mut |e| events.push(e), &|| false);
    (result, events)
}

fn phases(summary: &Summary) -> Vec<(Stage, u8)> {
    summary.phases.iter().map(|p| (p.stage, p.phase.0)).collect()
}

fn stage_addresses(events: &[Event]) -> Vec<(Stage, u8)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Stage { stage, connection, .. } => Some((*stage, connection.unwrap().address)),
            _ => None,
        })
        .collect()
}

fn assert_flashed(board: &FakeBoard, images: &MemoryImages) {
    assert_eq!(board.flashed.get(&0x04), Some(&images.0[0]), "fsbl1");
    assert_eq!(board.flashed.get(&0x05), Some(&images.0[0]), "fsbl2");
    assert_eq!(board.flashed.get(&0x06), Some(&images.0[1]), "fip");
    assert_eq!(board.flashed.get(&0x10), Some(&images.0[3]), "rootfs");
    assert!(board.finished, "U-Boot saw DETACH at END");
    assert!(board.violations.is_empty(), "{:#?}", board.violations);
}

/// MP15 with ST's TF-A v2.4-stm32mp and U-Boot up to 2022.10: the ROM hands over to TF-A on the same connection
/// (`stm32mp1_usb_dfu.c` `usb_dfu_plat_init`), TF-A takes the layout on 0x00 then the FIP on 0x03
/// (`stm32cubeprog_usb_load` with a layout length), U-Boot finds the layout TF-A left in DDR (`do_stm32prog`) and
/// starts with the partitions.
#[test]
fn mp15_st_tfa_v2_4_and_uboot_2022_10() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::St24, UbootGen::UpTo2022_10);
    let (job, mut images) = job(Soc::Stm32mp15);
    let (result, events) = run(&mut board, job, &mut images);
    let summary = result.unwrap();
    use Stage::{Rom, Tfa, Uboot};
    assert_eq!(phases(&summary), vec![(Rom, 0x01), (Tfa, 0x00), (Tfa, 0x03), (Uboot, 0x04), (Uboot, 0x05), (Uboot, 0x06), (Uboot, 0x10)]);
    assert_eq!(stage_addresses(&events), vec![(Rom, 5), (Tfa, 5), (Uboot, 6)], "TF-A keeps the ROM's connection");
    let layout = board.ddr_layout.clone().unwrap();
    assert_eq!(&layout[256..], LAYOUT.as_bytes(), "TF-A got the layout behind a 256-byte v1 header");
    assert_flashed(&board, &images);
    assert_eq!(board.resets, 1, "a USB reset after the final DETACH");
    assert_eq!(summary.serial.as_deref(), Some("004200343338510534383330"));
    assert_eq!(summary.stages, vec![Rom, Tfa, Uboot]);
}

/// MP15 with upstream TF-A (v2.6+: `usb_dfu_get_phase` maps only alternates 3 and 5, the FIP goes on 0x03) and
/// U-Boot 2023.01+, which asks for the layout on `@FlashLayout/0x00` (phase 0x00, 10th byte 0), takes DETACH after
/// it (10th byte 1) and re-enumerates with one alternate per partition (`stm32prog_usb_loop`).
#[test]
fn mp15_upstream_tfa_and_new_uboot() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    let (job, mut images) = job(Soc::Stm32mp15);
    let (result, events) = run(&mut board, job, &mut images);
    let summary = result.unwrap();
    use Stage::{Rom, Tfa, Uboot};
    assert_eq!(phases(&summary), vec![(Rom, 0x01), (Tfa, 0x03), (Uboot, 0x00), (Uboot, 0x04), (Uboot, 0x05), (Uboot, 0x06), (Uboot, 0x10)]);
    assert_eq!(stage_addresses(&events), vec![(Rom, 5), (Tfa, 5), (Uboot, 6), (Uboot, 7)]);
    assert_flashed(&board, &images);
    assert!(events.iter().any(|e| matches!(e, Event::Detached { stage: Uboot })));
}

/// MP13: the ROM answers GetPhase with a detach request and leaves on DETACH (snagboot's MP13 path), TF-A
/// re-enumerates (no "keep the configuration" outside MP15) with `@SSBL /0x03` and virtual only.
#[test]
fn mp13_rom_detach_then_tfa_reenumerates() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    let (job, mut images) = job(Soc::Stm32mp13);
    let (result, events) = run(&mut board, job, &mut images);
    let summary = result.unwrap();
    use Stage::{Rom, Tfa, Uboot};
    assert_eq!(phases(&summary)[..3], [(Rom, 0x01), (Tfa, 0x03), (Uboot, 0x00)]);
    assert_eq!(stage_addresses(&events), vec![(Rom, 5), (Tfa, 6), (Uboot, 7), (Uboot, 8)]);
    assert_flashed(&board, &images);
}

/// MP25: TF-A takes the DDR firmware FIP on `@DDR FIP /0x02`, asks for DETACH, stops its USB core
/// (`usb_dwc3_stop_device` clears RUN_STOP) and enumerates again for the FIP on `@FIP /0x03`
/// (`bl2_io_storage.c`: one `stm32cubeprogrammer_usb` call per image).
#[test]
fn mp25_ddr_firmware_then_fip_with_reenumeration() {
    let mut board = FakeBoard::new(Soc::Stm32mp25, TfaGen::Mp25, UbootGen::Later);
    let (job, mut images) = job(Soc::Stm32mp25);
    let (result, events) = run(&mut board, job, &mut images);
    let summary = result.unwrap();
    use Stage::{Rom, Tfa, Uboot};
    assert_eq!(phases(&summary)[..4], [(Rom, 0x01), (Tfa, 0x02), (Tfa, 0x03), (Uboot, 0x00)]);
    assert_eq!(stage_addresses(&events)[..3], [(Rom, 5), (Tfa, 6), (Tfa, 7)]);
    assert_eq!(board.tfa_received.iter().find(|(p, _)| *p == 2).unwrap().1, images.0[2]);
    assert_flashed(&board, &images);
}

/// STM32MP25 as TF-A has it (`stm32mp2_usb_dfu.c` `usb_dfu_plat_init` keeps the ROM's USB configuration): after
/// the ROM's DETACH nothing enumerates anew; after `detach_grace` the host resets the port (snagboot's MP13/MP25
/// recovery, `dfu-util -R`) and TF-A enumerates. Regression, found against stm32mp-emu in the USB guest: the host
/// waited for a re-enumeration that never came and timed out.
#[test]
fn mp25_rom_keeps_the_connection_until_a_usb_reset() {
    let mut board = FakeBoard::new(Soc::Stm32mp25, TfaGen::Mp25, UbootGen::Later);
    board.rom_keeps_connection = true;
    let (job, mut images) = job(Soc::Stm32mp25);
    let (result, events) = run(&mut board, job, &mut images);
    let summary = result.unwrap();
    use Stage::{Rom, Tfa, Uboot};
    assert_eq!(phases(&summary)[..4], [(Rom, 0x01), (Tfa, 0x02), (Tfa, 0x03), (Uboot, 0x00)]);
    assert_eq!(stage_addresses(&events)[..2], [(Rom, 5), (Tfa, 6)]);
    assert_eq!(board.resets, 2, "the reset that shows TF-A, and the final one");
    let waits = events.iter().filter(|e| matches!(e, Event::Waiting { after: Rom, .. })).count();
    assert_eq!(waits, 1, "one wait announced for the ROM's hand-over");
    assert_flashed(&board, &images);
}

/// The sequencer starts from whatever stage answers (by product string): a board already in U-Boot gets the
/// layout and the partitions, nothing is sent to stages that are not there.
#[test]
fn starts_at_the_stage_that_answers() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    board.next.pop_front();
    board.model = board.next_model().unwrap();
    let (job, mut images) = job(Soc::Stm32mp13);
    let (result, _) = run(&mut board, job, &mut images);
    let summary = result.unwrap();
    assert_eq!(summary.stages, vec![Stage::Uboot]);
    assert_eq!(summary.phases[0].phase, PhaseId::LAYOUT);
    assert_flashed(&board, &images);
}

/// U-Boot answers GetPhase 0xFF after a partition (`stm32prog_err` → `stm32prog_cmd_read`): the error names the
/// stage, the partition just sent and U-Boot's text.
#[test]
fn uboot_reports_an_error_on_get_phase() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    board.faults.uboot_error_after = Some((0x06, "fip (0x6): MMC write failed".into()));
    let (job, mut images) = job(Soc::Stm32mp15);
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert_eq!(err.kind, FailureKind::DeviceSays { text: "fip (0x6): MMC write failed".into() });
    assert_eq!((err.at.stage, err.at.phase, err.at.image.as_deref()), (Some(Stage::Uboot), Some(PhaseId(0x06)), Some("fip.bin")));
    assert_eq!(
        err.to_string(),
        "stage U-Boot, phase 0x06 (partition), alternate `@fip/0x06/1*1Me`, image fip.bin: the device reports an error \
         (GetPhase 0xff): \"fip (0x6): MMC write failed\""
    );
    assert!(!board.flashed.contains_key(&0x10));
}

/// U-Boot fails while preparing the next partition (`stm32prog_err("%s (0x%x): MMC erase failed")`): GetPhase
/// answers 0xFF right after 0x05 was manifested, and the text names 0x06. Regression: the error used to be put at
/// 0x05, the partition sent last, which had been written fine.
#[test]
fn uboot_error_naming_the_next_partition_is_put_there() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    board.faults.uboot_error_after = Some((0x05, "fip (0x6): MMC erase failed".into()));
    let (job, mut images) = job(Soc::Stm32mp15);
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert_eq!(err.kind, FailureKind::DeviceSays { text: "fip (0x6): MMC erase failed".into() });
    assert_eq!((err.at.stage, err.at.phase, err.at.image.as_deref()), (Some(Stage::Uboot), Some(PhaseId(0x06)), Some("fip.bin")));
    assert_eq!(err.at.alternate.as_deref(), Some("@fip/0x06/1*1Me"));
    assert_eq!(board.flashed.get(&0x05), Some(&images.0[0]), "0x05 itself was written");
}

/// The board vanishes in the middle of a partition: "left the USB bus" with the block and offsets, in bounded time.
#[test]
fn board_vanishes_mid_partition() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    board.faults.vanish_at = Some((0x10, 20));
    let (job, mut images) = job(Soc::Stm32mp15);
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    match &err.kind {
        FailureKind::DeviceLeft { during } => assert_eq!(during, "at DNLOAD block 20 (bytes 0x14000..0x15000 of 0x186a0)"),
        other => panic!("{other:?}"),
    }
    assert_eq!((err.at.phase, err.at.image.as_deref()), (Some(PhaseId(0x10)), Some("rootfs.ext4")));
    assert!(board.clock < Duration::from_secs(5), "{:?}", board.clock);
}

/// The ROM refuses the FSBL and keeps asking for 0x01. STM32MP15 (TF-A answers on the ROM's connection): after
/// `rom_handover` the sequencer says so, without a DETACH to the ROM. STM32MP13/MP25: DETACH all the same, and the
/// board coming back as the ROM is the rejection.
#[test]
fn rom_rejects_the_fsbl() {
    for soc in [Soc::Stm32mp15, Soc::Stm32mp13, Soc::Stm32mp25] {
        let tfa = if soc == Soc::Stm32mp25 { TfaGen::Mp25 } else { TfaGen::Upstream };
        let mut board = FakeBoard::new(soc, tfa, UbootGen::Later);
        board.faults.rom_rejects = true;
        let (job, mut images) = job(soc);
        let (result, _) = run(&mut board, job, &mut images);
        let err = result.unwrap_err();
        assert!(matches!(err.kind, FailureKind::RomRejected { .. }), "{soc:?}: {err}");
        assert_eq!((err.at.stage, err.at.phase), (Some(Stage::Rom), Some(PhaseId::FSBL)), "{soc:?}");
        assert!(board.violations.is_empty(), "{:?}", board.violations);
        assert!(board.clock <= Duration::from_secs(4), "{:?}", board.clock);
        assert!(err.to_string().contains("the ROM rejected the FSBL"), "{err}");
        let detached = board.log.iter().any(|l| l.starts_with("ROM DFU_DETACH"));
        assert_eq!(detached, soc != Soc::Stm32mp15, "{soc:?}: {:?}", board.log);
        assert_eq!(crate::flash::builtin::verdict(&Err(err)).hint.as_deref(), Some(crate::flash::hints::ROM_REFUSED));
    }
}

/// An STM32MP13/MP25 ROM whose GetPhase still says 0x01 after it took the FSBL, until it is told to DETACH (what
/// the closed ROM reports there is not known; snagboot detaches whatever it says): the flash goes on. Regression:
/// the sequencer waited `rom_handover` for another phase and failed every such board as "rejected".
#[test]
fn mp13_mp25_rom_still_saying_fsbl_is_detached() {
    for (soc, tfa) in [(Soc::Stm32mp13, TfaGen::Upstream), (Soc::Stm32mp25, TfaGen::Mp25)] {
        let mut board = FakeBoard::new(soc, tfa, UbootGen::Later);
        board.rom_fsbl_phase_until_detach = true;
        let (job, mut images) = job(soc);
        let (result, _) = run(&mut board, job, &mut images);
        let summary = result.unwrap_or_else(|e| panic!("{soc:?}: {e}"));
        assert_eq!(summary.stages, vec![Stage::Rom, Stage::Tfa, Stage::Uboot]);
        assert_flashed(&board, &images);
    }
}

/// An STM32MP13 ROM told to DETACH while still asking for the FSBL that never comes back: a bounded wait, and the
/// timeout says what the ROM was asking.
#[test]
fn mp13_rom_detached_while_asking_and_gone() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    board.faults.rom_rejects = true;
    board.rom_reject_silent = true;
    let (job, mut images) = job(Soc::Stm32mp13);
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert!(
        matches!(&err.kind, FailureKind::ReconnectTimeout { after, .. } if after.contains("still asked for the FSBL (phase 0x01): it may have rejected it")),
        "{err}"
    );
}

/// TF-A's FIP check fails at manifestation (`dfu_callback_manifestation` → `DFU_ERROR("FIP Header check failed for
/// phase %d")`, the zero-length DNLOAD stalled): the error carries TF-A's text, read with GetPhase after the
/// device was brought back to dfuIDLE (GETSTATUS through dfuMANIFEST; no CLRSTATUS outside dfuERROR).
#[test]
fn tfa_rejects_the_fip() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    let (job, mut images) = job(Soc::Stm32mp15);
    images.0[1][0] = 0x00;
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    match &err.kind {
        FailureKind::Stalled { request: DfuRequest::Dnload, during, device_says } => {
            assert!(during.starts_with("after the zero-length DNLOAD"), "{during}");
            assert_eq!(device_says.as_deref(), Some("FIP Header check failed for phase 3"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((err.at.stage, err.at.phase), (Some(Stage::Tfa), Some(PhaseId(0x03))));
    assert!(board.violations.is_empty(), "{:?}", board.violations);
}

/// U-Boot's write fails (`dnload_request_complete` → dfuERROR/errUNKNOWN, `dfu_error_callback` → "DFU write
/// error"): the error has the status code, its meaning and U-Boot's text.
#[test]
fn uboot_write_error_has_status_and_text() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    board.faults.write_error_at = Some((0x10, 3));
    let (job, mut images) = job(Soc::Stm32mp15);
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert_eq!(
        err.kind,
        FailureKind::DeviceStatus {
            status: Status::Unknown,
            state: State::Error,
            during: "at DNLOAD block 3 (bytes 0x3000..0x4000 of 0x186a0)".into(),
            device_says: Some("DFU write error".into()),
        }
    );
    assert!(err.to_string().contains("errUNKNOWN (0x0e: unknown error) in state dfuERROR (10)"), "{err}");
    assert!(board.violations.is_empty(), "{:?}", board.violations);
}

/// TF-A left in dfuERROR (an UPLOAD on an alternate that is not the command one: `usb_dfu_upload` →
/// dfuERROR/errSTALLEDPKT, `dfu_callback_upload` → `DFU_ERROR`): before GetPhase the sequencer sends CLRSTATUS
/// (`usb_dfu_clear_status`), and only from dfuERROR; GetPhase then carries TF-A's text.
#[test]
fn clrstatus_only_from_dfu_error() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    board.model = board.next.pop_front().unwrap();
    board.select_alt(0).unwrap();
    assert_eq!(board.control_in(2, 0, 512, Duration::from_secs(1)), Err(super::transport::TransportError::Stall));
    let (job, mut images) = job(Soc::Stm32mp13);
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert_eq!(err.kind, FailureKind::DeviceSays { text: "phase ID :3, alternate 0 for phase 3".into() });
    assert_eq!(err.at.stage, Some(Stage::Tfa));
    assert!(board.log.iter().any(|l| l == "TF-A DFU_CLRSTATUS 0 len 0"), "{:?}", board.log);
    assert!(board.violations.is_empty(), "{:?}", board.violations);
    // The fake does punish a CLRSTATUS outside dfuERROR, so the guard above can fail.
    let mut other = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    other.control_out(4, 0, &[], Duration::from_secs(1)).unwrap();
    assert_eq!(other.violations.len(), 1);
}

/// DETACH only when GetPhase asks: the fake TF-A records an early DETACH as BL2's panic, and no run above
/// triggered it. Here the check itself is shown to fire.
#[test]
fn early_detach_is_what_makes_tfa_panic() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    board.model = board.next.pop_front().unwrap();
    assert_eq!(board.control_out(0, 255, &[], Duration::from_secs(1)), Err(super::transport::TransportError::Gone));
    assert!(board.violations[0].contains("BL2 panics"), "{:?}", board.violations);
}

/// `bwPollTimeout` is honoured: U-Boot's manifest poll timeout (`dfu_get_manifest_timeout`) of 20 ms is waited
/// before every next GETSTATUS (the fake records any early one), and the fake does catch an early poll.
#[test]
fn poll_timeout_is_waited() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    board.uboot_manifest_poll_ms = 20;
    let (job, mut images) = job(Soc::Stm32mp15);
    let (result, _) = run(&mut board, job, &mut images);
    result.unwrap();
    assert!(board.violations.is_empty(), "{:?}", board.violations);
    let mut eager = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    eager.uboot_manifest_poll_ms = 20;
    eager.next.pop_front();
    eager.model = eager.next_model().unwrap();
    eager.force_state(State::ManifestSync);
    let first = eager.control_in(3, 0, 6, Duration::from_secs(1)).unwrap();
    assert_eq!((first[1], first[4]), (20, State::Manifest.code()));
    let _ = eager.control_in(3, 0, 6, Duration::from_secs(1));
    assert_eq!(eager.violations.len(), 1, "{:?}", eager.violations);
}

/// The board does not come back after the ROM's DETACH: a bounded wait, then an error naming the stage.
#[test]
fn reconnect_times_out() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    board.faults.stop_after_connections = Some(0);
    let (job, mut images) = job(Soc::Stm32mp13);
    let (result, events) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert_eq!(err.kind, FailureKind::ReconnectTimeout { waited: Timing::default().after_rom, after: "the ROM loaded the FSBL".into() });
    assert!(events.iter().any(|e| matches!(e, Event::Waiting { after: Stage::Rom, .. })));
    assert!(board.clock <= Duration::from_secs(20));
}

/// A board of another SoC is refused before anything is sent.
#[test]
fn soc_mismatch_is_refused_before_sending() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    let (job, mut images) = job(Soc::Stm32mp13);
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert_eq!(err.kind, FailureKind::SocMismatch { expected: "STM32MP13", found: "STM32MP15", device_id: 0x500 });
    assert!(!board.log.iter().any(|l| l.contains("DNLOAD")));
}

/// U-Boot's alternates miss a partition of the job: refused as soon as the partitions enumerate, before any is
/// written.
#[test]
fn missing_alternate_is_refused_before_writing() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    board.faults.missing_alternate = Some(0x10);
    let (job, mut images) = job(Soc::Stm32mp15);
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert!(
        matches!(&err.kind, FailureKind::NoAlternate { phase: PhaseId(0x10), offered } if offered.contains(&"@virtual/0xf1/1*512Be".to_string()))
    );
    assert!(board.flashed.is_empty());
}

/// U-Boot asks for a partition the job has no image for.
#[test]
fn partition_without_an_image() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    let (mut job, mut images) = job(Soc::Stm32mp15);
    job.partitions.remove(&0x05);
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert_eq!(err.kind, FailureKind::NoImage { phase: PhaseId(0x05), what: "alternate `@fsbl2/0x05/1*1Me`".into() });
}

/// U-Boot reaches END without asking for a partition of the job (not selected in the layout it used).
#[test]
fn end_without_every_partition() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    let (mut job, mut images) = job(Soc::Stm32mp15);
    job.layout.extend_from_slice(b"-\t0x11\tdata\tFileSystem\tmmc0\t0x08484400\tdata.img\n");
    job.partitions.insert(0x11, ImageId(3));
    let (result, _) = run(&mut board, job, &mut images);
    assert_eq!(result.unwrap_err().kind, FailureKind::MissedPartitions { missing: vec![PhaseId(0x11)] });
}

/// A ROM that is not manifestation tolerant ends in dfuMANIFEST-WAIT-RESET: the host resets the port and waits
/// for TF-A (DFU 1.1 §7); a TF-A without `bitWillDetach` is reset after DETACH (DFU 1.1 §5.1).
#[test]
fn manifestation_intolerant_and_no_will_detach() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    board.rom_wait_reset = true;
    board.attributes = 0x03;
    let (job, mut images) = job(Soc::Stm32mp13);
    let (result, _) = run(&mut board, job, &mut images);
    let summary = result.unwrap();
    assert_eq!(summary.stages, vec![Stage::Rom, Stage::Tfa, Stage::Uboot]);
    assert_eq!(board.resets, 3, "after WAIT-RESET, after TF-A's DETACH, at the end: {:?}", board.log);
    assert!(board.violations.is_empty(), "{:?}", board.violations);
}

/// TF-A's download buffer is too small for the FIP (`dfu_callback_download`: `address - base > len` → -EIO): the
/// DNLOAD is stalled, and the error says where.
#[test]
fn tfa_buffer_overflow_is_a_stall() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    board.faults.tfa_buffer = Some(8 * 1024);
    let (job, mut images) = job(Soc::Stm32mp13);
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert!(matches!(&err.kind, FailureKind::Stalled { request: DfuRequest::Dnload, during, .. } if during.contains("block 8 ")), "{err}");
    assert_eq!(err.at.phase, Some(PhaseId(0x03)));
}

/// Progress events: monotonic, at least every `progress_step` bytes, the last one equal to the total, between
/// PhaseStarted and PhaseDone.
#[test]
fn progress_events_are_ordered() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    let (job, mut images) = job(Soc::Stm32mp13);
    let (result, events) = run(&mut board, job, &mut images);
    result.unwrap();
    let start = events.iter().position(|e| matches!(e, Event::PhaseStarted { phase: PhaseId(0x10), .. })).unwrap();
    let done = events.iter().position(|e| matches!(e, Event::PhaseDone { phase: PhaseId(0x10), .. })).unwrap();
    let sent: Vec<u64> = events[start..done]
        .iter()
        .filter_map(|e| match e {
            Event::PhaseProgress { sent, .. } => Some(sent.get()),
            _ => None,
        })
        .collect();
    assert!(sent.windows(2).all(|w| w[0] < w[1]), "{sent:?}");
    assert!(sent.windows(2).all(|w| w[1] - w[0] <= 32 * 1024 + 4096), "{sent:?}");
    assert_eq!(*sent.last().unwrap(), 100_000);
    assert!(sent.len() >= 3);
}

/// Interrupting ends the run with an error naming where it was.
#[test]
fn interrupt_stops_the_run() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    let (job, mut images) = job(Soc::Stm32mp15);
    let mut seq = Sequencer::new(job, timing()).unwrap();
    let calls = Cell::new(0);
    let result = drive(&mut seq, &mut board, &mut images, &mut |_| {}, &|| {
        calls.set(calls.get() + 1);
        calls.get() > 40
    });
    let err = result.unwrap_err();
    assert_eq!(err.kind, FailureKind::Interrupted);
    assert!(err.at.stage.is_some());
}

/// A job with an empty image or an id out of range is refused up front.
#[test]
fn bad_jobs_are_refused() {
    let (mut job, _) = job(Soc::Stm32mp15);
    job.images[3].len = 0;
    let err = Sequencer::new(job.clone(), timing()).err().unwrap();
    assert!(err.to_string().contains("rootfs.ext4 is empty"), "{err}");
    job.images[3].len = 1;
    job.partitions.insert(0xF1, ImageId(3));
    assert!(Sequencer::new(job.clone(), timing()).is_err());
    job.partitions.remove(&0xF1);
    job.ssbl = ImageId(9);
    assert!(Sequencer::new(job, timing()).is_err());
}

/// U-Boot's layout errors come back on GetPhase 0xFF (`parse_flash_layout` → `stm32prog_err`): a layout line with
/// an option U-Boot does not know.
#[test]
fn uboot_rejects_the_layout() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    let (mut job, mut images) = job(Soc::Stm32mp15);
    job.layout = LAYOUT.replace("P\t0x05", "X\t0x05").into_bytes();
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert_eq!(err.kind, FailureKind::DeviceSays { text: "Layout line 5: invalid option 'X' in X)".into() });
    assert_eq!((err.at.stage, err.at.phase), (Some(Stage::Uboot), Some(PhaseId::LAYOUT)));
}

/// Why the layout gets a v1 header on every SoC: U-Boot's `parse_flash_layout` strips only a v1 header; a v2
/// header (what MP13/MP25 images carry) stays in front of the text and the parse fails on it.
#[test]
fn a_v2_wrapped_layout_is_what_uboot_cannot_parse() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    let (mut job, mut images) = job(Soc::Stm32mp13);
    job.layout = encode_header(HeaderVersion { major: 2, minor: 0 }, HeaderFields::default(), LAYOUT.as_bytes()).unwrap();
    let (result, _) = run(&mut board, job, &mut images);
    assert!(matches!(result.unwrap_err().kind, FailureKind::DeviceSays { text } if text.starts_with("Layout line 1")));
}

/// ST's TF-A v2.4 checks the layout's header (`stm32mp_check_header`: checksum, since `option_flags` is 1): a
/// layout that comes already wrapped, with a wrong checksum, is refused at manifestation with TF-A's text.
#[test]
fn st_tfa_rejects_a_layout_with_a_bad_checksum() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::St24, UbootGen::UpTo2022_10);
    let (mut job, mut images) = job(Soc::Stm32mp15);
    let mut wrapped = super::stm32prog::wrap_layout(LAYOUT.as_bytes()).unwrap();
    wrapped[0x44] ^= 1;
    job.layout = wrapped;
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert!(
        matches!(&err.kind, FailureKind::Stalled { request: DfuRequest::Dnload, device_says: Some(t), .. } if t == "Header check failed for phase 0"),
        "{err}"
    );
    assert_eq!((err.at.stage, err.at.phase), (Some(Stage::Tfa), Some(PhaseId::LAYOUT)));
}

/// One USB operation, as [`Flaky`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Describe,
    Select(u8),
    Out(DfuRequest, usize),
    In(DfuRequest),
    Await,
}

/// The fake board behind a transport that fails the operations `fault` picks (a USB error, a timeout) instead of
/// passing them on.
struct Flaky<'a> {
    board: &'a mut FakeBoard,
    fault: Box<dyn FnMut(Op) -> Option<TransportError> + 'a>,
    /// Faults on IN requests come after the board acted on them (its answer is lost), not instead.
    lose_answers: bool,
}

impl Flaky<'_> {
    fn check(&mut self, op: Op) -> Result<(), TransportError> {
        (self.fault)(op).map_or(Ok(()), Err)
    }
}

impl DfuTransport for Flaky<'_> {
    fn describe(&mut self) -> Result<RawDevice, TransportError> {
        self.check(Op::Describe)?;
        self.board.describe()
    }
    fn select_alt(&mut self, alt: u8) -> Result<(), TransportError> {
        self.check(Op::Select(alt))?;
        self.board.select_alt(alt)
    }
    fn control_out(&mut self, request: u8, value: u16, data: &[u8], timeout: Duration) -> Result<(), TransportError> {
        self.check(Op::Out(DfuRequest::from_code(request).unwrap(), data.len()))?;
        self.board.control_out(request, value, data, timeout)
    }
    fn control_in(&mut self, request: u8, value: u16, length: u16, timeout: Duration) -> Result<Vec<u8>, TransportError> {
        let op = Op::In(DfuRequest::from_code(request).unwrap());
        if self.lose_answers {
            let answer = self.board.control_in(request, value, length, timeout);
            self.check(op)?;
            return answer;
        }
        self.check(op)?;
        self.board.control_in(request, value, length, timeout)
    }
    fn await_reconnect(&mut self, timeout: Duration) -> Result<RawDevice, TransportError> {
        self.check(Op::Await)?;
        self.board.await_reconnect(timeout)
    }
    fn reset_port(&mut self) -> Result<(), TransportError> {
        self.board.reset_port()
    }
    fn sleep(&mut self, duration: Duration) {
        self.board.sleep(duration);
    }
}

fn run_flaky<'a>(board: &'a mut FakeBoard, soc: Soc, fault: impl FnMut(Op) -> Option<TransportError> + 'a) -> FlashError {
    run_flaky_to_end(board, soc, false, fault).unwrap_err()
}

fn run_flaky_to_end<'a>(
    board: &'a mut FakeBoard,
    soc: Soc,
    lose_answers: bool,
    fault: impl FnMut(Op) -> Option<TransportError> + 'a,
) -> Result<(), FlashError> {
    let (job, mut images) = job(soc);
    let mut seq = Sequencer::new(job, timing()).unwrap();
    let mut t = Flaky { board, fault: Box::new(fault), lose_answers };
    drive(&mut seq, &mut t, &mut images, &mut |_| {}, &|| false).map(|_| ())
}

/// A fault: the first GETSTATUS after the first zero-length DNLOAD (the first manifestation) fails with `error`.
fn first_manifest_poll_fails(error: TransportError) -> impl FnMut(Op) -> Option<TransportError> {
    let mut armed = 0;
    move |op| match op {
        Op::Out(DfuRequest::Dnload, 0) if armed == 0 => {
            armed = 1;
            None
        }
        Op::In(DfuRequest::GetStatus) if armed == 1 => {
            armed = 2;
            Some(error.clone())
        }
        _ => None,
    }
}

/// The first GETSTATUS after the first zero-length DNLOAD fails with `error` (U-Boot 2023.01+: the layout's
/// manifestation; U-Boot is manifestation tolerant).
fn fail_uboot_manifest_poll(error: TransportError) -> FlashError {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    board.next.pop_front();
    board.model = board.next_model().unwrap();
    run_flaky(&mut board, Soc::Stm32mp15, first_manifest_poll_fails(error))
}

/// A GETSTATUS that times out during a manifestation-tolerant stage's manifestation is a timeout (verdict
/// `timeout`), not the board leaving the bus; an EIO there keeps its words. Regression: both became "left the USB
/// bus ... though it is manifestation tolerant", the verdict `failed` with the vanished-USB hint.
#[test]
fn manifestation_timeout_is_a_timeout_not_a_vanished_board() {
    let during = "after the zero-length DNLOAD (block 1) that ends the";
    let err = fail_uboot_manifest_poll(TransportError::TimedOut);
    assert!(matches!(&err.kind, FailureKind::TimedOut { request: DfuRequest::GetStatus, during: d } if d.starts_with(during)), "{err}");
    assert_eq!((err.at.stage, err.at.phase), (Some(Stage::Uboot), Some(PhaseId::LAYOUT)));
    assert_eq!(crate::flash::builtin::verdict(&Err(err)).result, crate::flash::verdict::ResultKind::Timeout);
    let err = fail_uboot_manifest_poll(TransportError::Other("I/O error (EIO)".into()));
    assert!(
        matches!(&err.kind, FailureKind::Transport(m) if m.starts_with(&format!("DFU_GETSTATUS failed {during}")) && m.ends_with("I/O error (EIO)")),
        "{err}"
    );
}

/// The ROM hands over to TF-A during its manifestation and may stop answering meanwhile: a GETSTATUS whose answer
/// is lost there (timed out, EPROTO) is not a failure, the board is looked at again (and the flash completes).
#[test]
fn rom_unanswered_during_manifestation_is_looked_for_again() {
    for error in [TransportError::TimedOut, TransportError::Other("USB protocol error (EPROTO)".into())] {
        let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
        let run = run_flaky_to_end(&mut board, Soc::Stm32mp15, true, first_manifest_poll_fails(error));
        assert!(run.is_ok(), "{run:?}");
    }
}

/// A failed CLRSTATUS/ABORT before GetPhase names the request that was sent (ABORT from dfuDNLOAD-IDLE) and says
/// it was while asking GetPhase. Regression: every such failure was called DFU_CLRSTATUS, and a USB error lost
/// "while asking GetPhase".
#[test]
fn a_failed_abort_before_get_phase_is_called_abort() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    board.model = board.next.pop_front().unwrap();
    board.force_state(State::DnloadIdle);
    let err =
        run_flaky(&mut board, Soc::Stm32mp13, |op| (op == Op::Out(DfuRequest::Abort, 0)).then(|| TransportError::Other("I/O error (EIO)".into())));
    assert_eq!(err.kind, FailureKind::Transport("DFU_ABORT failed while asking GetPhase: I/O error (EIO)".into()));
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    board.model = board.next.pop_front().unwrap();
    board.force_state(State::DnloadIdle);
    let err = run_flaky(&mut board, Soc::Stm32mp13, |op| (op == Op::Out(DfuRequest::Abort, 0)).then_some(TransportError::Stall));
    assert!(matches!(err.kind, FailureKind::Stalled { request: DfuRequest::Abort, .. }), "{err}");
}

/// A SET_INTERFACE that fails says so in words, not as Rust debug text (`Failed("...")`).
#[test]
fn set_interface_failures_are_in_words() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    let busy = || TransportError::Other("SET_INTERFACE 1: Resource busy".into());
    let err = run_flaky(&mut board, Soc::Stm32mp13, |op| matches!(op, Op::Select(1)).then(busy));
    let text = err.to_string();
    assert!(text.ends_with("SET_INTERFACE 1 for the 0xF1 alternate failed: SET_INTERFACE 1: Resource busy"), "{text}");
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    let err = run_flaky(&mut board, Soc::Stm32mp13, |op| matches!(op, Op::Select(0)).then(busy));
    assert_eq!(err.kind, FailureKind::Transport("SET_INTERFACE 0 failed: SET_INTERFACE 1: Resource busy".into()));
    assert!(!err.to_string().contains("Failed("), "{err}");
}

/// A descriptor read that times out at first contact is a timeout of that read (verdict `timeout`), not "did not
/// come back at its USB path": nothing was expected to come back.
#[test]
fn a_descriptor_read_timeout_at_first_contact_is_a_read_timeout() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    let err = run_flaky(&mut board, Soc::Stm32mp13, |op| (op == Op::Describe).then_some(TransportError::TimedOut));
    assert_eq!(err.kind, FailureKind::DescriptorsTimedOut { during: "at first contact".into() });
    assert_eq!(err.to_string(), "before the first stage was known: reading the board's descriptors (GET_DESCRIPTOR) timed out at first contact");
    assert_eq!(crate::flash::builtin::verdict(&Err(err)).result, crate::flash::verdict::ResultKind::Timeout);
}

/// Ctrl-C during a wait for the board: the transport cuts the wait short (as timed out) and the run ends as
/// interrupted, not as "did not come back". Regression: the cut-short wait was completed first and reported as a
/// reconnection timeout.
#[test]
fn a_wait_cut_short_by_cancel_is_an_interruption() {
    let mut board = FakeBoard::new(Soc::Stm32mp13, TfaGen::Upstream, UbootGen::Later);
    let (job, mut images) = job(Soc::Stm32mp13);
    let mut seq = Sequencer::new(job, timing()).unwrap();
    let raised = Cell::new(false);
    let mut waits = 0;
    let mut t = Flaky {
        board: &mut board,
        fault: Box::new(|op| {
            waits += usize::from(op == Op::Await);
            // The second wait: for the board after TF-A's DETACH, whose timeout would end the run.
            (op == Op::Await && waits == 2).then(|| {
                raised.set(true);
                TransportError::TimedOut
            })
        }),
        lose_answers: false,
    };
    let err = drive(&mut seq, &mut t, &mut images, &mut |_| {}, &|| raised.get()).unwrap_err();
    assert_eq!(err.kind, FailureKind::Interrupted);
    assert_eq!(err.at.stage, Some(Stage::Tfa));
}

/// U-Boot reports a resume offset for a partition (`stm32prog_cmd_read` sends `stm32prog_data->offset`, which only a
/// Start command sets, `stm32prog_set_phase`; `dfu_initiated_callback` then starts the download there): the image
/// would be written at that offset, so the flash stops before sending it, naming the partition and the offset.
/// Regression: the offset was parsed and ignored.
#[test]
fn a_resume_offset_left_in_uboot_stops_the_partition() {
    let mut board = FakeBoard::new(Soc::Stm32mp15, TfaGen::Upstream, UbootGen::Later);
    board.faults.resume_offset = Some((0x06, 0x4000));
    let (job, mut images) = job(Soc::Stm32mp15);
    let (result, _) = run(&mut board, job, &mut images);
    let err = result.unwrap_err();
    assert_eq!(err.kind, FailureKind::ResumeOffset { phase: PhaseId(0x06), offset: 0x4000 });
    assert_eq!((err.at.stage, err.at.phase, err.at.image.as_deref()), (Some(Stage::Uboot), Some(PhaseId(0x06)), Some("fip.bin")));
    assert_eq!(err.at.alternate.as_deref(), Some("@fip/0x06/1*1Me"));
    assert!(err.to_string().contains("U-Boot asks for partition 0x06 from offset 0x4000"), "{err}");
    assert!(!board.flashed.contains_key(&0x06), "nothing written at the offset");
    assert_eq!(board.flashed.get(&0x05), Some(&images.0[0]), "the partitions before it were written");
}
