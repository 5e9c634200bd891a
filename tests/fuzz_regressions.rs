//! The fuzz harnesses (`fuzz/harness/`) run under plain `cargo test`: every seed in `fuzz/seeds/TARGET/` and every
//! input that once crashed a target, kept in `tests/fuzz-regressions/TARGET/` (named after what it broke), must go
//! through without a panic. Findings and figures: `docs/reliability.md`.

#[path = "../fuzz/harness/mod.rs"]
mod harness;

use std::{fs, path::Path};

/// Run every file of `fuzz/seeds/TARGET` and `tests/fuzz-regressions/TARGET` through `run`; returns how many.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for dir in [root.join("fuzz/seeds").join(target), root.join("tests/fuzz-regressions").join(target)] {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let bytes = fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            assert!(outcome.is_ok(), "{target}: {} panics (see above)", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "no seed for fuzz target {target}");
    count
}

#[test]
fn board_seeds_and_crashers() {
    replay("board", harness::board::run);
}

#[test]
fn buildroot_seeds_and_crashers() {
    replay("buildroot", harness::buildroot::run);
}

#[test]
fn layout_seeds_and_crashers() {
    replay("layout", harness::layout::run);
}

#[test]
fn programmer_seeds_and_crashers() {
    replay("programmer", harness::programmer::run);
}

#[test]
fn stm32_header_seeds_and_crashers() {
    replay("stm32_header", harness::stm32_header::run);
}

#[test]
fn fip_seeds_and_crashers() {
    replay("fip", harness::fip::run);
}

#[test]
fn gpt_inspect_seeds_and_crashers() {
    replay("gpt_inspect", harness::gpt_inspect::run);
}

#[test]
fn fwu_seeds_and_crashers() {
    replay("fwu", harness::fwu::run);
}

#[test]
fn dfu_replies_seeds_and_crashers() {
    replay("dfu_replies", harness::dfu_replies::run);
}

/// `inspect` multiplied an entry's first LBA by 512 unchecked (overflow panic in debug builds, a wrapped offset and a
/// read of the wrong bytes in release). Now the entry is reported as out of range and not read.
#[test]
fn inspect_entry_with_huge_lba_is_reported_not_read() {
    use stm32mp_imager::{
        cli::inspect::inspect_source,
        geometry::DiskGeometry,
        gpt::{self, Entry, Table},
        guid::{Guid, LINUX_FS},
        units::Lba,
    };
    let total = 4096u64;
    let table = Table {
        geometry: DiskGeometry::for_sectors(total),
        disk_guid: Guid::derive(&["t", "disk"]),
        entries: vec![Entry {
            type_guid: LINUX_FS,
            unique_guid: Guid::derive(&["t", "p"]),
            first_lba: Lba::new(u64::MAX - 1),
            last_lba: Lba::new(u64::MAX),
            attributes: 0,
            name: "fsbl1".into(),
        }],
    };
    let enc = gpt::encode(&table);
    let mut disk = vec![0u8; usize::try_from(total * 512).unwrap()];
    for (off, blob) in enc.placed() {
        let at = usize::try_from(off.get()).unwrap();
        disk[at..at + blob.len()].copy_from_slice(blob);
    }
    let out = inspect_source("huge.img", &disk.as_slice(), disk.len() as u64, false).unwrap();
    assert!(out.problems.iter().any(|p| p.code == "gpt::entry_range"), "{:?}", out.problems);
    assert!(out.report.contains("18446744073709551614"), "{}", out.report);
}

/// Bytes a reader hands out, to bound `inspect`'s work.
struct Counting<'a> {
    bytes: &'a [u8],
    read: std::cell::Cell<u64>,
}

impl stm32mp_imager::cli::inspect::ReadAt for Counting<'_> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let n = (&self.bytes).read_at(buf, offset)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// Found looking into `gpt_inspect`'s slow inputs: 128 GPT entries that all cover one partition holding an STM32
/// image made `inspect` checksum that payload 128 times (a 4 GiB image: half a terabyte read, hours). Entries
/// that overlap another or leave the usable range are reported and no longer read, so the work stays linear.
#[test]
fn inspect_reads_overlapping_entries_once_not_128_times() {
    use stm32mp_imager::{
        cli::inspect::{ReadAt, inspect_source},
        geometry::DiskGeometry,
        gpt::{self, Entry, Table},
        guid::{Guid, LINUX_RESERVED},
        units::Lba,
    };
    let total: u64 = 16 << 11; // 16 MiB in sectors
    let entries = (0..128)
        .map(|i| Entry {
            type_guid: LINUX_RESERVED,
            unique_guid: Guid::derive(&["overlap", &i.to_string()]),
            first_lba: Lba::new(34),
            last_lba: Lba::new(total - 34),
            attributes: 0,
            name: format!("p{i}"),
        })
        .collect();
    let table = Table { geometry: DiskGeometry::for_sectors(total), disk_guid: Guid::derive(&["overlap"]), entries };
    let enc = gpt::encode(&table);
    let mut disk = vec![0u8; usize::try_from(total * 512).unwrap()];
    for (off, blob) in enc.placed() {
        let at = usize::try_from(off.get()).unwrap();
        disk[at..at + blob.len()].copy_from_slice(blob);
    }
    // An STM32 v1 header at the partition start claiming a 15 MiB payload (all zeros: checksum 0).
    let h = 34 * 512;
    disk[h..h + 4].copy_from_slice(b"STM2");
    disk[h + 0x48..h + 0x4c].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    disk[h + 0x4c..h + 0x50].copy_from_slice(&(15u32 << 20).to_le_bytes());
    let src = Counting { bytes: &disk, read: std::cell::Cell::new(0) };
    let out = inspect_source("overlap.img", &src as &dyn ReadAt, disk.len() as u64, false).unwrap();
    assert!(out.problems.iter().any(|p| p.code == "gpt::overlap"), "{:?}", out.problems);
    assert!(src.read.get() <= 2 * disk.len() as u64, "inspect read {} bytes of a {}-byte image", src.read.get(), disk.len());
}

/// Found looking into `gpt_inspect`'s slow inputs (its `.tsv` path): the layout parser located every field by
/// rescanning the text from its start, so parsing was quadratic: 720 KB took 31 s (release build). Now linear.
#[test]
fn a_long_layout_parses_in_linear_time() {
    let text = "P\t0x10\tn\tBinary\tmmc0\t0x4400\tx\n".repeat(24_000);
    let started = std::time::Instant::now();
    let parsed = stm32mp_imager::flashlayout::parse("long.tsv", text.as_bytes());
    let elapsed = started.elapsed();
    assert!(parsed.problems.iter().any(|p| p.code == "layout::too_many_lines"));
    assert_eq!(parsed.lines.len(), 24_000);
    assert_eq!(parsed.lines[23_999].line, 24_000, "line numbers still right");
    assert!(elapsed < std::time::Duration::from_secs(20), "720 KB took {elapsed:?}");
}

/// A 1 MiB description full of unknown keys: locating each problem rescanned the text (19 s in a release build),
/// and miette drew each with another scan. Now problems are located by binary search and only the first
/// `FANCY_LIMIT` are drawn with miette.
#[test]
fn thousands_of_problems_are_located_and_rendered_in_linear_time() {
    use stm32mp_imager::diag::{self, SourceFile, Style};
    let text: String = (0..60_000).map(|i| format!("x{i} = 1\n")).collect();
    let started = std::time::Instant::now();
    let (_, problems) = stm32mp_imager::board::parse_board(&text);
    let source = SourceFile::new("many.toml", text.as_str());
    let located: Vec<_> = problems.into_iter().map(|p| p.locate(&source)).collect();
    let fancy = diag::render(&located, Some(&source), Style::Fancy);
    let elapsed = started.elapsed();
    assert!(located.len() > 60_000, "{}", located.len());
    let last = located.iter().find(|p| p.message.contains("`x59999`")).unwrap();
    assert_eq!(last.location.as_deref(), Some("many.toml:60000:1"));
    assert!(fancy.contains("x59999"));
    assert!(elapsed < std::time::Duration::from_secs(30), "took {elapsed:?}");
}

/// Found looking into why `board` ran ten times slower than in the previous campaign: every TOML syntax error was
/// given its line by counting the newlines from the start of the description, so a description full of them was
/// quadratic (8,000 errors in 40 KB: 3.3 s in a debug build; 1 MiB did not finish in 10 min). Now the lines are
/// counted on from the previous error.
#[test]
fn a_description_full_of_syntax_errors_parses_in_linear_time() {
    use stm32mp_imager::diag::{self, SourceFile, Style};
    let text = "x = \n".repeat(200_000);
    let started = std::time::Instant::now();
    let (board, problems) = stm32mp_imager::board::parse_board(&text);
    let source = SourceFile::new("many.toml", text.as_str());
    let located: Vec<_> = problems.into_iter().map(|p| p.locate(&source)).collect();
    let fancy = diag::render(&located, Some(&source), Style::Fancy);
    let elapsed = started.elapsed();
    assert!(board.is_none());
    let syntax: Vec<_> = located.iter().filter(|p| p.code == "board::syntax").collect();
    assert_eq!(syntax.len(), 200_000, "one per line");
    assert!(syntax[199_999].location.as_deref().is_some_and(|l| l.starts_with("many.toml:200000:")), "{:?}", syntax[199_999].location);
    assert!(fancy.contains("TOML syntax error"));
    assert!(elapsed < std::time::Duration::from_secs(30), "took {elapsed:?}");
}

/// Found by the `programmer` target: a transfer whose printed size does not fit 64 bits (`Size : 0000064662…` parsed
/// to u64::MAX) overflowed the bytes-sent estimate (`size * percent`, a panic in debug builds). It saturates now.
#[test]
fn a_huge_printed_size_does_not_overflow_the_bytes_sent() {
    use std::collections::BTreeMap;
    let mut t = stm32mp_imager::flash::cubeprog::transcript::Transcript::new(BTreeMap::new());
    let text = "Opening and parsing file: x.img\n  File          : x.img\n  Size          : 000006466216889233083249\n  Partition ID  : 0x10\n\nDownload in Progress:\n[=====                    ] 20%\n";
    let _ = t.feed_text(text);
    let _ = t.bytes_sent();
}

/// A scripted board for the sequencer findings: a TF-A (STM32MP15) whose GETSTATUS replies and GetPhase replies come
/// from the test, re-enumerating with a new address at every wait; it counts sleeps and re-enumerations.
struct ScriptedTfa {
    status: Vec<u8>,
    phase: Vec<u8>,
    address: u8,
    slept: std::time::Duration,
    reconnects: usize,
}

impl ScriptedTfa {
    fn device(&mut self) -> stm32mp_imager::dfu::RawDevice {
        use stm32mp_imager::dfu::{descriptors::Connection, protocol::FunctionalDescriptor};
        self.address = self.address.wrapping_add(1);
        let functional = FunctionalDescriptor { attributes: 0x0F, detach_timeout_ms: 255, transfer_size: 1024, dfu_version: 0x0110 };
        let mut configuration = vec![9, 2, 0, 0, 1, 1, 2, 0xC0, 0x32];
        configuration.extend_from_slice(&[9, 4, 0, 0, 0, 0xFE, 0x01, 0x02, 4]);
        configuration.extend_from_slice(&[9, 4, 0, 1, 0, 0xFE, 0x01, 0x02, 5]);
        configuration.extend_from_slice(&functional.encode());
        configuration[2] = u8::try_from(configuration.len()).unwrap();
        stm32mp_imager::dfu::RawDevice {
            path: Some(stm32mp_imager::dfu::UsbPath::parse("1-1").unwrap()),
            connection: Some(Connection { bus: 1, address: self.address }),
            serial: Some("0042".into()),
            product: Some("DFU @Device ID /0x500, @Revision ID /0x2000, @Name /STM32MP157F Rev.Z,".into()),
            device_descriptor: vec![18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x83, 0x04, 0x11, 0xdf, 0x00, 0x02, 1, 2, 3, 1],
            configuration,
            strings: [(4, "@Partition3 /0x03/1*16Me".to_string()), (5, "@virtual /0xF1/1*512Ba".to_string())].into(),
        }
    }
}

impl stm32mp_imager::dfu::DfuTransport for ScriptedTfa {
    fn describe(&mut self) -> Result<stm32mp_imager::dfu::RawDevice, stm32mp_imager::dfu::TransportError> {
        Ok(self.device())
    }
    fn select_alt(&mut self, _: u8) -> Result<(), stm32mp_imager::dfu::TransportError> {
        Ok(())
    }
    fn control_out(&mut self, _: u8, _: u16, _: &[u8], _: std::time::Duration) -> Result<(), stm32mp_imager::dfu::TransportError> {
        Ok(())
    }
    fn control_in(&mut self, request: u8, _: u16, _: u16, _: std::time::Duration) -> Result<Vec<u8>, stm32mp_imager::dfu::TransportError> {
        Ok(if request == 3 { self.status.clone() } else { self.phase.clone() })
    }
    fn await_reconnect(&mut self, _: std::time::Duration) -> Result<stm32mp_imager::dfu::RawDevice, stm32mp_imager::dfu::TransportError> {
        self.reconnects += 1;
        assert!(self.reconnects < 1000, "the sequencer keeps waiting for re-enumerations");
        Ok(self.device())
    }
    fn reset_port(&mut self) -> Result<(), stm32mp_imager::dfu::TransportError> {
        Ok(())
    }
    fn sleep(&mut self, duration: std::time::Duration) {
        self.slept += duration;
    }
}

struct NoImages;

impl stm32mp_imager::dfu::ImageSource for NoImages {
    fn read_at(&mut self, _: stm32mp_imager::dfu::ImageId, _: u64, buf: &mut [u8]) -> Result<(), String> {
        buf.fill(0);
        Ok(())
    }
}

fn flash_scripted(board: &mut ScriptedTfa) -> Result<stm32mp_imager::dfu::Summary, stm32mp_imager::dfu::FlashError> {
    use stm32mp_imager::dfu::{BoardJob, ImageId, ImageInfo, Sequencer, Timing, drive};
    let job = BoardJob {
        soc: stm32mp_imager::board::Soc::Stm32mp15,
        images: vec![ImageInfo { label: "tf-a.stm32".into(), len: 16 }, ImageInfo { label: "fip.bin".into(), len: 16 }],
        fsbl: ImageId(0),
        ddr_firmware: None,
        ssbl: ImageId(1),
        layout: b"#Opt\tId\tName\tType\tIP\tOffset\tBinary\n".to_vec(),
        partitions: Default::default(),
    };
    let mut seq = Sequencer::new(job, Timing::default()).unwrap();
    drive(&mut seq, board, &mut NoImages, &mut |_| {}, &|| false)
}

/// Found by the `dfu_replies` target within 5,000 executions: before GetPhase the sequencer slept whatever
/// `bwPollTimeout` a device in `dfuDNBUSY` asked for, up to 2^24 ms (4.6 hours) at once, 8 times over. Now those
/// waits count against the polling bound (`Timing::poll`, 10 min), as a download's do.
#[test]
fn a_device_asking_for_hours_of_polling_before_getphase_is_given_up_on() {
    let mut board =
        ScriptedTfa { status: vec![0, 0xFF, 0xFF, 0xFF, 4, 0], phase: Vec::new(), address: 0, slept: std::time::Duration::ZERO, reconnects: 0 };
    let e = flash_scripted(&mut board).unwrap_err();
    assert!(matches!(e.kind, stm32mp_imager::dfu::FailureKind::PollLimit { .. }), "{e}");
    assert!(board.slept <= stm32mp_imager::dfu::Timing::default().poll.max_wait, "slept {:?}", board.slept);
}

/// Found by the `dfu_replies` target after 356,514 executions: a board that asks to be detached (GetPhase 0x00 with
/// the detach byte) every time it comes back was detached and waited for again and again, forever. Now the flash
/// stops after `MAX_REENUMERATIONS` (16) waits; the sequencer tests' flows need at most 4.
#[test]
fn a_board_asking_to_be_detached_after_every_reenumeration_is_given_up_on() {
    use stm32mp_imager::dfu::{FailureKind, sequencer::MAX_REENUMERATIONS};
    let detach = vec![0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x01];
    let mut board = ScriptedTfa { status: vec![0, 0, 0, 0, 2, 0], phase: detach, address: 0, slept: std::time::Duration::ZERO, reconnects: 0 };
    let e = flash_scripted(&mut board).unwrap_err();
    assert_eq!(e.kind, FailureKind::EndlessReenumeration { count: MAX_REENUMERATIONS }, "{e}");
    assert_eq!(board.reconnects, MAX_REENUMERATIONS);
}
