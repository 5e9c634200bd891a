//! `stm32mp-emu`: an emulated STM32MP board (boot ROM → TF-A → U-Boot stm32prog) attached to the kernel's
//! vhci_hcd over an AF_UNIX socket pair, for testing USB DFU hosts through the real Linux USB stack.
//!
//! Prints machine-readable marker lines on stdout, one per event, all starting with `emu: `:
//! `emu: ready port=N`, `emu: attached port=N stage=S`, `emu: stage=rom|tfa|uboot-layout|uboot`,
//! `emu: rom: ...`, `emu: tfa: ...`, `emu: uboot: ...`, `emu: done reason=...` (exit 0),
//! `emu: dead reason=...` (exit 3), `emu: vanished reason=...` (exit 3), `emu: timeout` (exit 4),
//! `emu: eof` (the kernel closed the connection, exit 0), `emu: error ...` (exit 1), usage errors exit 2.
//! SIGTERM: the default action ends the process; nothing is buffered (writes go straight to the storage
//! files) and the kernel frees the vhci port when the socket closes, so no handler is needed.

mod board;
mod dfu;
mod gpt;
mod image;
mod layout;
mod storage;
mod usb;
mod usbip;
mod vhci;

use board::{Action, Board, Config, Fault, Soc, TfaGen, UbootGen};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: stm32mp-emu --storage PATH [options]

  --soc mp15|mp13|mp25            SoC (default mp15)
  --tfa upstream|st-v2.4|st-v2.4-stm32image
                                  TF-A generation (default upstream; st-v2.4* are MP15 only)
  --uboot new|2022.10             U-Boot generation (default new)
  --medium sd|emmc                the board's MMC (default sd)
  --storage PATH                  SD image, or eMMC user area (created with --size if missing or empty)
  --size BYTES                    size of a created storage file (K/M/G suffixes; default 64M)
  --boot1 PATH --boot2 PATH       eMMC boot partitions (default PATH.boot1, PATH.boot2)
  --boot-size BYTES               size of created boot partitions (default 4M)
  --mmc N                         U-Boot's mmc device number (default 0 for sd, 1 for emmc)
  --serial HEX24                  the UID serial (default 002700333338511934383330)
  --port N                        vhci_hcd high-speed port (default: the first free one)
  --fault SPEC                    rom-reject | vanish:PART[:BYTES] | getphase-error:PART (repeatable)
  --poll-timeout-ms N             report dfuDNBUSY with this bwPollTimeout after each block (default 0)
  --timeout SECONDS               give up (exit 4) when nothing finished by then (default: none)
";

struct Options {
    cfg: Config,
    emmc: bool,
    storage: PathBuf,
    size: u64,
    boot: [PathBuf; 2],
    boot_size: u64,
    mmc: u8,
    port: Option<u32>,
    timeout: Option<Duration>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.chars().last() {
        Some('K') | Some('k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') | Some('m') => (&s[..s.len() - 1], 1 << 20),
        Some('G') | Some('g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let v = if let Some(h) = num.strip_prefix("0x") { u64::from_str_radix(h, 16) } else { num.parse() };
    v.map(|v| v * mult).map_err(|_| format!("not a size: {s}"))
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    let f: Vec<&str> = s.split(':').collect();
    match f.as_slice() {
        ["rom-reject"] => Ok(Fault::RomReject),
        ["vanish", part] => Ok(Fault::Vanish { part: part.to_string(), after: 1 }),
        ["vanish", part, n] => Ok(Fault::Vanish { part: part.to_string(), after: parse_size(n)? }),
        ["getphase-error", part] => Ok(Fault::GetPhaseError { part: part.to_string() }),
        _ => Err(format!("unknown fault '{s}' (rom-reject, vanish:PART[:BYTES], getphase-error:PART)")),
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut soc = Soc::Mp15;
    let mut tfa = TfaGen::Upstream;
    let mut uboot = UbootGen::New;
    let mut emmc = false;
    let mut storage = None;
    let mut size = 64 << 20;
    let mut boot: [Option<PathBuf>; 2] = [None, None];
    let mut boot_size = 4 << 20;
    let mut mmc = None;
    let mut serial = "002700333338511934383330".to_string();
    let mut port = None;
    let mut faults = Vec::new();
    let mut poll_ms = 0;
    let mut timeout = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--help" || a == "-h" {
            return Err(String::new());
        }
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--soc" => {
                soc = match v.as_str() {
                    "mp15" => Soc::Mp15,
                    "mp13" => Soc::Mp13,
                    "mp25" => Soc::Mp25,
                    _ => return Err(format!("--soc {v}: mp15, mp13 or mp25")),
                }
            }
            "--tfa" => {
                tfa = match v.as_str() {
                    "upstream" => TfaGen::Upstream,
                    "st-v2.4" => TfaGen::StV24 { stm32image: false },
                    "st-v2.4-stm32image" => TfaGen::StV24 { stm32image: true },
                    _ => return Err(format!("--tfa {v}: upstream, st-v2.4 or st-v2.4-stm32image")),
                }
            }
            "--uboot" => {
                uboot = match v.as_str() {
                    "new" => UbootGen::New,
                    "2022.10" => UbootGen::V2022_10,
                    _ => return Err(format!("--uboot {v}: new or 2022.10")),
                }
            }
            "--medium" => {
                emmc = match v.as_str() {
                    "sd" => false,
                    "emmc" => true,
                    _ => return Err(format!("--medium {v}: sd or emmc")),
                }
            }
            "--storage" => storage = Some(PathBuf::from(v)),
            "--size" => size = parse_size(v)?,
            "--boot1" => boot[0] = Some(PathBuf::from(v)),
            "--boot2" => boot[1] = Some(PathBuf::from(v)),
            "--boot-size" => boot_size = parse_size(v)?,
            "--mmc" => mmc = Some(v.parse::<u8>().map_err(|_| format!("--mmc {v}: a device number"))?),
            "--serial" => {
                if v.len() != 24 || !v.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!("--serial {v}: 24 hexadecimal digits (the UID)"));
                }
                serial = v.to_ascii_uppercase();
            }
            "--port" => port = Some(v.parse().map_err(|_| format!("--port {v}: a vhci port number"))?),
            "--fault" => faults.push(parse_fault(v)?),
            "--poll-timeout-ms" => poll_ms = v.parse().map_err(|_| format!("--poll-timeout-ms {v}: milliseconds"))?,
            "--timeout" => timeout = Some(Duration::from_secs(v.parse().map_err(|_| format!("--timeout {v}: seconds"))?)),
            _ => return Err(format!("unknown option {a}")),
        }
    }
    if matches!(tfa, TfaGen::StV24 { .. }) && soc != Soc::Mp15 {
        return Err("--tfa st-v2.4 exists for --soc mp15 only".into());
    }
    if uboot == UbootGen::V2022_10 && soc == Soc::Mp25 {
        return Err("--uboot 2022.10 has no STM32MP25 support".into());
    }
    let storage = storage.ok_or("--storage PATH is required")?;
    let boot = [
        boot[0].clone().unwrap_or_else(|| PathBuf::from(format!("{}.boot1", storage.display()))),
        boot[1].clone().unwrap_or_else(|| PathBuf::from(format!("{}.boot2", storage.display()))),
    ];
    Ok(Options {
        cfg: Config { soc, tfa, uboot, serial, faults, poll_ms },
        emmc,
        storage,
        size,
        boot,
        boot_size,
        mmc: mmc.unwrap_or(if emmc { 1 } else { 0 }),
        port,
        timeout,
    })
}

fn marker(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "emu: {line}");
    let _ = out.flush();
}

enum Outcome {
    Reattach,
    /// No URB at all within [`SILENT_LIMIT`] of the attach: the kernel never started to enumerate the device.
    Silent,
    Stop(i32, String),
    Vanish(String),
    Eof,
    Timeout,
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on a clean EOF before the first byte. Read timeouts only
/// check the deadline.
fn read_full(s: &mut UnixStream, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if deadline.is_some_and(|d| Instant::now() > d) {
                    return Err(io::Error::from(io::ErrorKind::TimedOut));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Serves one attachment until the board asks for a change or the connection ends.
/// How long an attached device may wait for the kernel's first URB. vhci_hcd, when a device is attached to a port
/// right after the previous one there was detached (a re-enumeration), has been seen on a loaded 2-core TCG guest to
/// never enumerate it (no URB at all, 1 run in about 10); a physical board on a real hub would be seen. The emulator
/// then does what a person does with a board that did not show up: unplugs and replugs it (marker `replug`).
const SILENT_LIMIT: Duration = Duration::from_secs(8);
/// Replugs in a row before the emulator gives up.
const MAX_REPLUGS: u32 = 3;

fn serve(s: &mut UnixStream, board: &mut Board, deadline: Option<Instant>) -> io::Result<Outcome> {
    let mut header = [0u8; usbip::HEADER_LEN];
    let silent_until = Instant::now() + SILENT_LIMIT;
    let mut first = true;
    loop {
        let wait = if first { Some(deadline.map_or(silent_until, |d| d.min(silent_until))) } else { deadline };
        match read_full(s, &mut header, wait) {
            Ok(true) => first = false,
            Ok(false) => return Ok(Outcome::Eof),
            Err(e) if e.kind() == io::ErrorKind::TimedOut && first && deadline.is_none_or(|d| Instant::now() < d) => {
                return Ok(Outcome::Silent);
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(Outcome::Timeout),
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof) => {
                return Ok(Outcome::Eof);
            }
            Err(e) => return Err(e),
        }
        let cmd = usbip::parse_header(&header).map_err(|e| io::Error::other(e.to_string()))?;
        match cmd {
            usbip::Command::Unlink { seqnum, .. } => {
                // every URB is answered before the next command is read: nothing is pending to unlink
                s.write_all(&usbip::ret_unlink(seqnum, 0))?;
            }
            usbip::Command::Submit(sub) => {
                let mut data = vec![0u8; sub.out_len()];
                if !data.is_empty() && !read_full(s, &mut data, deadline)? {
                    return Ok(Outcome::Eof);
                }
                if sub.ep != 0 {
                    s.write_all(&usbip::ret_submit(sub.seqnum, usbip::STATUS_STALL, 0, &[]))?;
                    continue;
                }
                let setup = usb::Setup::parse(&sub.setup);
                let (reply, action) = board.control(&setup, &data);
                for l in board.log.drain(..) {
                    marker(&l);
                }
                if let Action::Vanish { reason } = action {
                    return Ok(Outcome::Vanish(reason));
                }
                let ret = match reply {
                    usb::Reply::Stall => usbip::ret_submit(sub.seqnum, usbip::STATUS_STALL, 0, &[]),
                    usb::Reply::Ack => usbip::ret_submit(sub.seqnum, 0, sub.out_len() as u32, &[]),
                    usb::Reply::Data(mut d) => {
                        d.truncate((setup.length as usize).min(sub.length as usize));
                        if sub.dir_in {
                            usbip::ret_submit(sub.seqnum, 0, d.len() as u32, &d)
                        } else {
                            usbip::ret_submit(sub.seqnum, 0, sub.out_len() as u32, &[])
                        }
                    }
                };
                s.write_all(&ret)?;
                match action {
                    Action::None => {}
                    Action::Reattach => return Ok(Outcome::Reattach),
                    Action::Stop { code, reason } => return Ok(Outcome::Stop(code, reason)),
                    Action::Vanish { .. } => unreachable!(),
                }
            }
        }
    }
}

fn run(o: Options) -> io::Result<i32> {
    let mmc = if o.emmc {
        storage::Mmc::emmc(o.mmc, &o.storage, o.size, [&o.boot[0], &o.boot[1]], o.boot_size, 1024)?
    } else {
        storage::Mmc::sd(o.mmc, &o.storage, o.size, 1)?
    };
    let mut board = Board::new(o.cfg, mmc);
    let port = match o.port {
        Some(p) => p,
        None => vhci::free_hs_port()?,
    };
    let deadline = o.timeout.map(|t| Instant::now() + t);
    let devid = (1 << 16) | (port + 2);
    let mut first = true;
    let mut replugs = 0;
    loop {
        let (mut mine, theirs) = UnixStream::pair()?;
        vhci::attach(port, theirs.as_raw_fd(), devid)?;
        drop(theirs);
        mine.set_read_timeout(Some(Duration::from_millis(500)))?;
        for l in board.log.drain(..) {
            marker(&l);
        }
        if first {
            marker(&format!("ready port={port} serial={}", board.identity().serial));
            first = false;
        }
        marker(&format!("attached port={port} stage={}", board.stage_name()));
        let outcome = serve(&mut mine, &mut board, deadline)?;
        let early = board.early_polls();
        if early > 0 {
            marker(&format!("poll-early count={early}"));
        }
        match outcome {
            Outcome::Reattach => {
                vhci::detach(port)?;
                drop(mine);
                vhci::wait_free(port, Duration::from_secs(10))?;
                replugs = 0;
            }
            Outcome::Silent if replugs < MAX_REPLUGS => {
                replugs += 1;
                marker(&format!(
                    "replug port={port} stage={} reason=\"no URB within {}s of the attach\"",
                    board.stage_name(),
                    SILENT_LIMIT.as_secs()
                ));
                vhci::detach(port)?;
                drop(mine);
                vhci::wait_free(port, Duration::from_secs(10))?;
            }
            Outcome::Silent => {
                let _ = vhci::detach(port);
                marker(&format!("dead reason=\"the kernel did not enumerate the device after {MAX_REPLUGS} replugs\""));
                return Ok(3);
            }
            Outcome::Stop(code, reason) => {
                let _ = vhci::detach(port);
                marker(&format!("{} reason=\"{reason}\"", if code == 0 { "done" } else { "dead" }));
                return Ok(code);
            }
            Outcome::Vanish(reason) => {
                let _ = vhci::detach(port);
                marker(&format!("vanished reason=\"{reason}\""));
                return Ok(3);
            }
            Outcome::Eof => {
                marker("eof");
                return Ok(0);
            }
            Outcome::Timeout => {
                let _ = vhci::detach(port);
                marker(&format!("timeout stage={}", board.stage_name()));
                return Ok(4);
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            if e.is_empty() {
                print!("{USAGE}");
                std::process::exit(0);
            }
            eprintln!("stm32mp-emu: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let code = match run(o) {
        Ok(c) => c,
        Err(e) => {
            marker(&format!("error \"{e}\""));
            1
        }
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn submit(seq: u32, dir_in: bool, setup: [u8; 8], len: u32) -> Vec<u8> {
        let mut h = vec![0u8; usbip::HEADER_LEN];
        h[0..4].copy_from_slice(&usbip::CMD_SUBMIT.to_be_bytes());
        h[4..8].copy_from_slice(&seq.to_be_bytes());
        h[12..16].copy_from_slice(&(dir_in as u32).to_be_bytes());
        h[24..28].copy_from_slice(&len.to_be_bytes());
        h[40..48].copy_from_slice(&setup);
        h
    }

    /// The whole USB/IP loop over a socket pair, as vhci_hcd would drive it, without the kernel.
    #[test]
    fn serve_answers_submits_unlinks_and_stalls_over_a_socket() {
        let dir = std::env::temp_dir().join(format!("stm32mp-emu-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let o = parse_args(&args(&format!("--storage {}/sd.img --size 1M", dir.display()))).unwrap();
        let mmc = storage::Mmc::sd(0, &o.storage, o.size, 1).unwrap();
        let mut board = Board::new(o.cfg, mmc);
        let (mut mine, mut kernel) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let mut msgs = Vec::new();
            // GET_DESCRIPTOR(device, 64): 18 bytes back
            msgs.extend(submit(1, true, [0x80, 6, 0, 1, 0, 0, 64, 0], 64));
            // an unknown standard request: stalled
            msgs.extend(submit(2, true, [0x80, 0x33, 0, 0, 0, 0, 2, 0], 2));
            // UNLINK of the first: already completed, status 0
            let mut u = vec![0u8; usbip::HEADER_LEN];
            u[0..4].copy_from_slice(&usbip::CMD_UNLINK.to_be_bytes());
            u[4..8].copy_from_slice(&3u32.to_be_bytes());
            u[20..24].copy_from_slice(&1u32.to_be_bytes());
            msgs.extend(u);
            // SET_INTERFACE 1 then a DNLOAD of 4 bytes (OUT data follows the header)
            msgs.extend(submit(4, false, [0x01, 11, 1, 0, 0, 0, 0, 0], 0));
            msgs.extend(submit(5, false, [0x21, 1, 0, 0, 0, 0, 4, 0], 4));
            msgs.extend([1, 2, 3, 4]);
            kernel.write_all(&msgs).unwrap();
            let mut replies = vec![0u8; 48 + 18 + 48 * 4];
            kernel.read_exact(&mut replies).unwrap();
            replies
        });
        let outcome = serve(&mut mine, &mut board, None);
        let r = t.join().unwrap();
        assert!(matches!(outcome, Ok(Outcome::Eof)));
        assert_eq!(&r[0..8], &[0, 0, 0, 3, 0, 0, 0, 1]);
        assert_eq!(&r[24..28], &18u32.to_be_bytes());
        assert_eq!(&r[48..52], &[18, 1, 0, 2]);
        let r2 = &r[66..];
        assert_eq!(&r2[4..8], &2u32.to_be_bytes());
        assert_eq!(&r2[20..24], &(-32i32).to_be_bytes());
        assert_eq!(&r2[48..56], &[0, 0, 0, 4, 0, 0, 0, 3]);
        assert_eq!(&r2[68..72], &[0, 0, 0, 0]);
        assert_eq!(&r2[96 + 20..96 + 24], &[0, 0, 0, 0]);
        assert_eq!(&r2[144 + 4..144 + 8], &5u32.to_be_bytes());
        assert_eq!(&r2[144 + 24..144 + 28], &4u32.to_be_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn options_and_their_checks() {
        let o = parse_args(&args("--storage sd.img --soc mp13 --fault vanish:rootfs:1M --size 0x1000")).unwrap();
        assert_eq!(o.cfg.soc, Soc::Mp13);
        assert_eq!(o.cfg.faults, vec![Fault::Vanish { part: "rootfs".into(), after: 1 << 20 }]);
        assert_eq!((o.size, o.mmc), (0x1000, 0));
        assert!(parse_args(&args("--storage x --soc mp25 --tfa st-v2.4")).is_err());
        assert!(parse_args(&args("--storage x --serial 12")).is_err());
        assert!(parse_args(&args("--soc mp15")).is_err());
        let o = parse_args(&args("--storage e.img --medium emmc")).unwrap();
        assert_eq!((o.mmc, o.boot[0].to_str().unwrap()), (1, "e.img.boot1"));
    }
}
