//! Whole-board flows driven the way a host drives them (dfu-util's request sequence), without the kernel.

use super::*;
use crate::dfu::{ABORT, CLRSTATUS, DETACH, DFU_ERROR, DFU_IDLE, DNLOAD, GETSTATUS, UPLOAD};
use std::path::PathBuf;

struct Host {
    board: Board,
    dir: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stm32mp-emu-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cfg(soc: Soc, tfa: TfaGen, uboot: UbootGen) -> Config {
    Config { soc, tfa, uboot, serial: "002700333338511934383330".into(), faults: vec![], poll_ms: 0 }
}

fn host(tag: &str, c: Config) -> Host {
    let dir = tmpdir(tag);
    let mmc = Mmc::sd(0, &dir.join("sd.img"), 32 << 20, 1).unwrap();
    Host { board: Board::new(c, mmc), dir }
}

fn class_out(request: u8, value: u16, len: usize) -> Setup {
    Setup { request_type: 0x21, request, value, index: 0, length: len as u16 }
}
fn class_in(request: u8, value: u16, len: u16) -> Setup {
    Setup { request_type: 0xa1, request, value, index: 0, length: len }
}

impl Host {
    fn req(&mut self, s: Setup, data: &[u8]) -> (Reply, Action) {
        self.board.control(&s, data)
    }
    fn alt_by_id(&self, id: &str) -> u8 {
        let ident = self.board.identity();
        ident
            .alternates
            .iter()
            .position(|a| a.to_ascii_lowercase().contains(&format!("/0x{id}/")))
            .unwrap_or_else(|| panic!("no alternate /0x{id}/ in {:?}", ident.alternates)) as u8
    }
    fn set_alt(&mut self, alt: u8) {
        let s = Setup { request_type: 0x01, request: 11, value: alt as u16, index: 0, length: 0 };
        assert_eq!(self.req(s, &[]).0, Reply::Ack);
    }
    fn status(&mut self) -> (u8, u8) {
        match self.req(class_in(GETSTATUS, 0, 6), &[]).0 {
            Reply::Data(d) => (d[0], d[4]),
            r => panic!("GETSTATUS {r:?}"),
        }
    }
    /// dfu-util -a ALT -D: blocks from 0, zero-length block, GETSTATUS until idle. Returns the last action.
    fn download(&mut self, alt: u8, data: &[u8], xfer: usize) -> Action {
        self.set_alt(alt);
        let mut block = 0u16;
        for chunk in data.chunks(xfer) {
            let (r, a) = self.req(class_out(DNLOAD, block, chunk.len()), chunk);
            if a != Action::None {
                return a;
            }
            assert_eq!(r, Reply::Ack, "block {block}");
            loop {
                let (st, state) = self.status();
                assert_eq!(st, 0, "status after block {block}");
                if state == crate::dfu::DNLOAD_IDLE {
                    break;
                }
            }
            block += 1;
        }
        let (r, a) = self.req(class_out(DNLOAD, block, 0), &[]);
        assert_eq!(r, Reply::Ack, "zero-length DNLOAD");
        if a != Action::None {
            return a;
        }
        for _ in 0..3 {
            let s = class_in(GETSTATUS, 0, 6);
            let (r, a) = self.req(s, &[]);
            if a != Action::None {
                return a;
            }
            if let Reply::Data(d) = r
                && d[4] == DFU_IDLE
            {
                break;
            }
        }
        Action::None
    }
    fn get_phase(&mut self) -> Vec<u8> {
        let alt = self.alt_by_id("f1");
        self.set_alt(alt);
        match self.req(class_in(UPLOAD, 0, 512), &[]).0 {
            Reply::Data(d) => d,
            r => panic!("GetPhase {r:?}"),
        }
    }
    fn detach(&mut self) -> Action {
        self.req(class_out(DETACH, 1000, 0), &[]).1
    }
    fn log_has(&self, s: &str) -> bool {
        self.board.log.iter().any(|l| l.contains(s))
    }
}

fn fsbl(soc: Soc) -> Vec<u8> {
    image::wrap(&vec![0x5a; 5000], soc.fsbl_header_version())
}

fn fip() -> Vec<u8> {
    let mut f = vec![0u8; 3000];
    f[0..4].copy_from_slice(&image::FIP_TOC_NAME.to_le_bytes());
    f[4..8].copy_from_slice(&0x1234_5678u32.to_le_bytes());
    f
}

const LAYOUT: &str = "#Opt\tId\tName\tType\tIP\tOffset\tBinary\n\
-\t0x01\tfsbl1-boot\tBinary\tnone\t0x0\ttf-a.stm32\n\
-\t0x03\tfip-boot\tFIP\tnone\t0x0\tfip.bin\n\
P\t0x04\tfsbl1\tBinary\tmmc0\t0x00004400\ttf-a.stm32\n\
P\t0x05\tfsbl2\tBinary\tmmc0\t0x00044400\ttf-a.stm32\n\
P\t0x06\tfip\tFIP\tmmc0\t0x00084400\tfip.bin\n\
P\t0x10\trootfs\tSystem\tmmc0\t0x00484400\trootfs.ext4\n";

/// ROM and TF-A (upstream, MP15): leaves the host talking to U-Boot's first enumeration.
fn to_uboot(h: &mut Host) {
    let soc = h.board.cfg.soc;
    // ROM: FSBL on 0x01, then (MP15) TF-A takes over the same connection
    let a = h.download(1, &fsbl(soc), 1024);
    assert_eq!(a, Action::None);
    assert_eq!(h.board.stage_name(), "tfa");
    assert!(h.log_has("rom: fsbl accepted"));
    let gp = h.get_phase();
    assert_eq!(gp, vec![0x03, 0x00, 0x00, 0x00, 0xc8, 0, 0, 0, 0]);
    let alt = h.alt_by_id("03");
    assert_eq!(h.download(alt, &fip(), 1024), Action::None);
    assert_eq!(h.get_phase(), vec![0x00, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x01]);
    assert_eq!(h.detach(), Action::Reattach);
    assert_eq!(h.board.stage_name(), "uboot-layout");
}

#[test]
fn mp15_upstream_tfa_new_uboot_flashes_partitions_and_writes_the_gpt() {
    let mut h = host("full", cfg(Soc::Mp15, TfaGen::Upstream, UbootGen::New));
    to_uboot(&mut h);
    let ident = h.board.identity().clone();
    assert_eq!(ident.alternates, vec!["@FlashLayout/0x00/1*256Ke", "@virtual/0xf1/1*512Be", "@OTP/0xf2/1*1024Be", "@PMIC/0xf4/1*8Be"]);
    assert!(ident.product.starts_with("USB download gadget@Device ID /0x500, @Revision ID /0x2000"));
    assert_eq!(h.get_phase(), vec![0x00, 0x00, 0x00, 0x00, 0xc2, 0, 0, 0, 0, 0x00]);
    let layout = image::wrap(LAYOUT.as_bytes(), 0x0001_0000);
    assert_eq!(h.download(0, &layout, 4096), Action::None);
    assert_eq!(h.get_phase()[9], 1);
    assert_eq!(h.detach(), Action::Reattach);
    assert_eq!(h.board.stage_name(), "uboot");
    assert!(h.log_has("uboot: gpt mmc=0 partitions=4"));
    assert_eq!(h.board.identity().alternates[0], "@fsbl1/0x04/1*256Ke");

    let payloads: Vec<(&str, Vec<u8>)> =
        vec![("04", fsbl(Soc::Mp15)), ("05", fsbl(Soc::Mp15)), ("06", fip()), ("10", (0..20000u32).map(|i| (i % 251) as u8).collect())];
    for (id, data) in &payloads {
        let gp = h.get_phase();
        assert_eq!(format!("{:02x}", gp[0]), *id);
        assert_eq!(&gp[1..9], &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        let alt = h.alt_by_id(id);
        assert_eq!(h.download(alt, data, 4096), Action::None);
    }
    assert_eq!(h.get_phase()[0], 0xfe);
    assert!(matches!(h.detach(), Action::Stop { code: 0, .. }));

    let disk = std::fs::read(h.dir.join("sd.img")).unwrap();
    assert_eq!(&disk[0x4400..0x4400 + payloads[0].1.len()], &payloads[0].1[..]);
    assert_eq!(&disk[0x84400..0x84400 + 3000], &fip()[..]);
    assert_eq!(&disk[0x484400..0x484400 + 20000], &payloads[3].1[..]);
    assert_eq!(gpt::read_entry(&disk, 4).map(|e| (e.0, e.2)), Some((0x484400, "rootfs".to_string())));
    // rootfs on mmc0 gets stm32prog's fixed unique GUID
    let entry4 = 2 * 512 + 3 * 128;
    assert_eq!(&disk[entry4 + 16..entry4 + 32], &gpt::guid_bytes("E91C4E10-16E6-4C0E-BD0E-77BECF4A3582"));
}

#[test]
fn rom_rejects_a_bad_checksum_with_a_dfu_error_and_accepts_after_clrstatus() {
    let mut h = host("rom", cfg(Soc::Mp15, TfaGen::Upstream, UbootGen::New));
    let mut bad = fsbl(Soc::Mp15);
    bad[400] ^= 0xff;
    h.set_alt(1);
    h.req(class_out(DNLOAD, 0, bad.len()), &bad);
    h.status();
    h.status();
    h.req(class_out(DNLOAD, 1, 0), &[]);
    assert_eq!(h.status(), (crate::dfu::ERR_VERIFY, DFU_ERROR));
    assert!(h.log_has("checksum"));
    assert_eq!(h.board.stage_name(), "rom");
    h.req(class_out(CLRSTATUS, 0, 0), &[]);
    // a v2 header is not this SoC's: errFILE
    let v2 = image::wrap(&[1; 100], 0x0002_0000);
    h.req(class_out(DNLOAD, 0, v2.len()), &v2);
    h.status();
    h.status();
    h.req(class_out(DNLOAD, 1, 0), &[]);
    assert_eq!(h.status(), (crate::dfu::ERR_FILE, DFU_ERROR));
    h.req(class_out(CLRSTATUS, 0, 0), &[]);
    assert_eq!(h.download(1, &fsbl(Soc::Mp15), 1024), Action::None);
    assert_eq!(h.board.stage_name(), "tfa");
}

#[test]
fn rom_reject_fault_refuses_a_good_fsbl() {
    let mut c = cfg(Soc::Mp15, TfaGen::Upstream, UbootGen::New);
    c.faults = vec![Fault::RomReject];
    let mut h = host("romfault", c);
    let f = fsbl(Soc::Mp15);
    h.set_alt(1);
    h.req(class_out(DNLOAD, 0, f.len()), &f);
    h.status();
    h.status();
    h.req(class_out(DNLOAD, 1, 0), &[]);
    assert_eq!(h.status().1, DFU_ERROR);
}

#[test]
fn early_detach_makes_tfa_panic_and_a_bad_fip_is_reported_by_getphase() {
    let mut h = host("early", cfg(Soc::Mp15, TfaGen::Upstream, UbootGen::New));
    h.download(1, &fsbl(Soc::Mp15), 1024);
    assert!(matches!(h.detach(), Action::Stop { code: 3, ref reason } if reason.contains("TF-A panic")));

    let mut h = host("badfip", cfg(Soc::Mp15, TfaGen::Upstream, UbootGen::New));
    h.download(1, &fsbl(Soc::Mp15), 1024);
    h.set_alt(3);
    h.req(class_out(DNLOAD, 0, 100), &[0u8; 100]);
    h.status();
    h.status();
    assert_eq!(h.req(class_out(DNLOAD, 1, 0), &[]).0, Reply::Stall);
    // TF-A is still in MANIFEST-SYNC: an UPLOAD there stalls; GETSTATUS first (reports MANIFEST, then IDLE)
    assert!(matches!(h.req(class_in(UPLOAD, 0, 512), &[]).0, Reply::Stall));
    assert_eq!(h.status(), (0, crate::dfu::MANIFEST));
    let gp = h.get_phase();
    assert_eq!(gp[0], 0xff);
    assert_eq!(&gp[9..], b"FIP Header check failed for phase 3");
}

#[test]
fn v24_tfa_takes_the_layout_and_uboot_2022_10_uses_it_without_asking() {
    let mut h = host("v24", cfg(Soc::Mp15, TfaGen::StV24 { stm32image: false }, UbootGen::V2022_10));
    h.download(1, &fsbl(Soc::Mp15), 1024);
    assert_eq!(h.get_phase()[0], 0x00);
    assert_eq!(h.download(0, &image::wrap(LAYOUT.as_bytes(), 0x0001_0000), 1024), Action::None);
    assert_eq!(&h.get_phase()[..5], &[0x03, 0x00, 0x00, 0x00, 0xc8]);
    h.download(3, &fip(), 1024);
    assert_eq!(h.detach(), Action::Reattach);
    assert_eq!(h.board.stage_name(), "uboot");
    assert_eq!(h.get_phase()[0], 0x04);

    // the same layout with the new U-Boot: asked for again on 0x00
    let mut h = host("v24new", cfg(Soc::Mp15, TfaGen::StV24 { stm32image: false }, UbootGen::New));
    h.download(1, &fsbl(Soc::Mp15), 1024);
    h.download(0, &image::wrap(LAYOUT.as_bytes(), 0x0001_0000), 1024);
    h.download(3, &fip(), 1024);
    h.detach();
    assert_eq!(h.board.stage_name(), "uboot-layout");
}

#[test]
fn stm32image_tfa_checks_the_layout_header() {
    let mut h = host("img", cfg(Soc::Mp15, TfaGen::StV24 { stm32image: true }, UbootGen::V2022_10));
    h.download(1, &fsbl(Soc::Mp15), 1024);
    h.set_alt(0);
    h.req(class_out(DNLOAD, 0, LAYOUT.len()), LAYOUT.as_bytes());
    h.status();
    h.status();
    assert_eq!(h.req(class_out(DNLOAD, 1, 0), &[]).0, Reply::Stall);
    h.status();
    assert_eq!(&h.get_phase()[9..], b"Header check failed for phase 0");
}

#[test]
fn uboot_refuses_a_v2_layout_header_and_resets_after_reporting_it() {
    let mut h = host("v2lay", cfg(Soc::Mp15, TfaGen::Upstream, UbootGen::New));
    to_uboot(&mut h);
    h.download(0, &image::wrap(LAYOUT.as_bytes(), 0x0002_0000), 4096);
    let gp = h.get_phase();
    assert_eq!(gp[0], 0xff);
    assert_eq!(&gp[9..], b"Layout line 1: invalid option 'S' in STM2)");
    assert!(matches!(h.detach(), Action::Stop { code: 3, .. }));
}

#[test]
fn uboot_checks_the_block_sequence() {
    let mut h = host("seq", cfg(Soc::Mp15, TfaGen::Upstream, UbootGen::New));
    to_uboot(&mut h);
    h.download(0, LAYOUT.as_bytes(), 4096);
    h.detach();
    let alt = h.alt_by_id("04");
    h.set_alt(alt);
    h.req(class_out(DNLOAD, 2, 16), &[0; 16]); // snagboot's habit: blocks from 2
    assert_eq!(h.status(), (crate::dfu::ERR_UNKNOWN, DFU_ERROR));
    let gp = h.get_phase();
    assert_eq!(&gp[9..], b"Wrong sequence number");
    // GetPhase 0xFF asked for the reset: DETACH resets the board to the ROM
    assert_eq!(h.detach(), Action::Reattach);
    assert_eq!(h.board.stage_name(), "rom");
}

#[test]
fn getphase_error_fault_and_abort() {
    let mut c = cfg(Soc::Mp15, TfaGen::Upstream, UbootGen::New);
    c.faults = vec![Fault::GetPhaseError { part: "fip".into() }];
    let mut h = host("gpfault", c);
    to_uboot(&mut h);
    h.download(0, LAYOUT.as_bytes(), 4096);
    h.detach();
    for id in ["04", "05"] {
        let alt = h.alt_by_id(id);
        h.download(alt, &fsbl(Soc::Mp15), 4096);
    }
    let gp = h.get_phase();
    assert_eq!(gp[0], 0xff);
    assert_eq!(&gp[9..], b"fip (0x6): MMC erase failed");
    h.req(class_out(ABORT, 0, 0), &[]);
}

#[test]
fn vanish_fault_drops_off_mid_partition_after_writing_what_arrived() {
    let mut c = cfg(Soc::Mp15, TfaGen::Upstream, UbootGen::New);
    c.faults = vec![Fault::Vanish { part: "rootfs".into(), after: 6000 }];
    let mut h = host("vanish", c);
    to_uboot(&mut h);
    h.download(0, LAYOUT.as_bytes(), 4096);
    h.detach();
    for id in ["04", "05", "06"] {
        let alt = h.alt_by_id(id);
        h.download(alt, &fsbl(Soc::Mp15), 4096);
    }
    let alt = h.alt_by_id("10");
    let a = h.download(alt, &[7u8; 20000], 4096);
    assert!(matches!(a, Action::Vanish { ref reason } if reason.contains("rootfs after 0x1770")));
    let disk = std::fs::read(h.dir.join("sd.img")).unwrap();
    assert_eq!(disk[0x484400 + 5999], 7);
    assert_eq!(disk[0x484400 + 6000], 0);
}

#[test]
fn raw_image_layout_writes_the_image_at_zero_and_no_gpt() {
    let mut h = host("raw", cfg(Soc::Mp15, TfaGen::Upstream, UbootGen::New));
    to_uboot(&mut h);
    let l = "-\t0x01\tfsbl1-boot\tBinary\tnone\t0x0\tx\nP\t0x10\tsdcard\tRawImage\tmmc0\t0x0\tsdcard.img\n";
    h.download(0, l.as_bytes(), 4096);
    h.detach();
    assert!(!h.log_has("gpt"));
    assert_eq!(h.board.identity().alternates[0], "@sdcard/0x10/1*32Me");
    let img: Vec<u8> = (0..50000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(h.download(0, &img, 4096), Action::None);
    assert_eq!(h.get_phase()[0], 0xfe);
    let disk = std::fs::read(h.dir.join("sd.img")).unwrap();
    assert_eq!(&disk[..50000], &img[..]);
}

#[test]
fn emmc_boot_partitions_land_in_their_files() {
    let dir = tmpdir("emmc");
    let mmc = Mmc::emmc(1, &dir.join("u.img"), 64 << 20, [&dir.join("b1"), &dir.join("b2")], 1 << 20, 1024).unwrap();
    let mut h = Host { board: Board::new(cfg(Soc::Mp15, TfaGen::Upstream, UbootGen::New), mmc), dir };
    to_uboot(&mut h);
    let l = "P\t0x04\tfsbl1\tBinary\tmmc1\tboot1\tx\nP\t0x05\tfsbl2\tBinary\tmmc1\tboot2\tx\nP\t0x10\trootfs\tSystem\tmmc1\t0x00080000\tx\n";
    h.download(0, l.as_bytes(), 4096);
    h.detach();
    assert_eq!(h.board.identity().alternates[0], "@fsbl1/0x04/1*1024Ke");
    let f = fsbl(Soc::Mp15);
    for id in ["04", "05"] {
        let alt = h.alt_by_id(id);
        h.download(alt, &f, 4096);
    }
    assert!(h.log_has("uboot: partconf mmc=1 boot=2"));
    assert_eq!(&std::fs::read(h.dir.join("b1")).unwrap()[..f.len()], &f[..]);
    assert_eq!(&std::fs::read(h.dir.join("b2")).unwrap()[..f.len()], &f[..]);
}

#[test]
fn mp25_rom_waits_for_detach_then_tfa_takes_ddr_fip_then_fip() {
    let mut h = host("mp25", cfg(Soc::Mp25, TfaGen::Upstream, UbootGen::New));
    assert_eq!(h.board.identity().alternates[0], "@FSBL /0x01/1*256Ke");
    assert_eq!(h.download(0, &fsbl(Soc::Mp25), 1024), Action::None);
    assert_eq!(h.board.stage_name(), "rom");
    assert_eq!(h.get_phase()[9], 1);
    assert_eq!(h.detach(), Action::None); // TF-A keeps the ROM's connection
    assert_eq!(h.board.stage_name(), "tfa");
    assert_eq!(&h.get_phase()[..5], &[0x02, 0x00, 0x00, 0x00, 0x0e]);
    assert_eq!(h.download(0, &fip(), 1024), Action::None);
    assert_eq!(h.detach(), Action::Reattach);
    assert_eq!(&h.get_phase()[..5], &[0x03, 0x00, 0x00, 0x00, 0x88]);
    h.download(1, &fip(), 1024);
    assert_eq!(h.detach(), Action::Reattach);
    assert_eq!(h.board.stage_name(), "uboot-layout");
    assert_eq!(&h.get_phase()[..5], &[0x00, 0x00, 0x00, 0x00, 0x84]);
}

#[test]
fn mp13_rom_jump_reenumerates_as_tfa_with_ssbl_and_virtual() {
    let mut h = host("mp13", cfg(Soc::Mp13, TfaGen::Upstream, UbootGen::New));
    h.download(0, &fsbl(Soc::Mp13), 1024);
    assert_eq!(h.detach(), Action::Reattach);
    assert_eq!(h.board.identity().alternates, vec!["@SSBL /0x03/1*16Me", "@virtual /0xF1/1*512Ba"]);
    assert_eq!(h.get_phase()[0], 0x03);
}
