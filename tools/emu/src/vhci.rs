//! vhci_hcd's sysfs interface: find a free high-speed port, attach a socket to it, detach, wait until free.
//!
//! Source: the kernel's `drivers/usb/usbip/vhci_sysfs.c` (`attach_store`: `"<port> <sockfd> <devid> <speed>"`,
//! `detach_store`: `"<port>"`, `status_show_vhci`: one line per port, `hs`/`ss`, state 004 = VDEV_ST_NULL = free).

use std::fs;
use std::io;
use std::time::{Duration, Instant};

pub const VHCI: &str = "/sys/devices/platform/vhci_hcd.0";
/// USB_SPEED_HIGH.
pub const SPEED_HIGH: u32 = 3;

/// One port line of `status`: (hub "hs"/"ss", port, free).
pub fn parse_status(text: &str) -> Vec<(String, u32, bool)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 3 || (f[0] != "hs" && f[0] != "ss") {
                return None;
            }
            Some((f[0].to_string(), f[1].parse().ok()?, f[2] == "004"))
        })
        .collect()
}

fn status() -> io::Result<Vec<(String, u32, bool)>> {
    Ok(parse_status(&fs::read_to_string(format!("{VHCI}/status"))?))
}

/// The first free high-speed port.
pub fn free_hs_port() -> io::Result<u32> {
    status()?
        .into_iter()
        .find(|(hub, _, free)| hub == "hs" && *free)
        .map(|(_, p, _)| p)
        .ok_or_else(|| io::Error::other("no free high-speed vhci_hcd port"))
}

pub fn attach(port: u32, fd: i32, devid: u32) -> io::Result<()> {
    fs::write(format!("{VHCI}/attach"), format!("{port} {fd} {devid} {SPEED_HIGH}"))
}

pub fn detach(port: u32) -> io::Result<()> {
    fs::write(format!("{VHCI}/detach"), format!("{port}"))
}

/// Waits until `port` shows free again after a detach (the kernel frees it asynchronously). sysfs has no
/// event for this: polled every 5 ms, bounded by `limit`.
pub fn wait_free(port: u32, limit: Duration) -> io::Result<()> {
    let end = Instant::now() + limit;
    loop {
        if status()?.iter().any(|(_, p, free)| *p == port && *free) {
            return Ok(());
        }
        if Instant::now() > end {
            return Err(io::Error::other(format!("vhci_hcd port {port} still busy after {limit:?}")));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_status_file() {
        let s = "hub port sta spd dev      sockfd local_busid\n\
                 hs  0000 006 003 00010002 000005 0-0\n\
                 hs  0001 004 000 00000000 000000 0-0\n\
                 ss  0008 004 000 00000000 000000 0-0\n";
        let v = super::parse_status(s);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0], ("hs".to_string(), 0, false));
        assert_eq!(v[1], ("hs".to_string(), 1, true));
    }
}
