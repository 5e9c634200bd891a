//! USB devices from sysfs (`<root>/bus/usb/devices/*`): bus, address, port path, ids, serial number. The root is
//! configurable so tests use a fake tree; `devices` and `flash` use `/sys`.
//!
//! Linux only; where sysfs is missing the scan finds nothing.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use crate::flash::devices::SysfsDevice;

/// The real sysfs root.
pub const SYSFS_ROOT: &str = "/sys";

fn attr(dir: &Path, name: &str) -> Option<String> {
    fs::read_to_string(dir.join(name)).ok().map(|s| s.trim().to_string())
}

fn hex_attr(dir: &Path, name: &str) -> Option<u16> {
    u16::from_str_radix(&attr(dir, name)?, 16).ok()
}

fn dec_attr(dir: &Path, name: &str) -> Option<u16> {
    attr(dir, name)?.parse().ok()
}

/// Every USB device under `root` (interfaces and unreadable entries left out), sorted by port path. A missing
/// `bus/usb/devices` folder is no device, not an error.
pub fn scan(root: &Path) -> io::Result<Vec<SysfsDevice>> {
    let dir: PathBuf = root.join("bus/usb/devices");
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(':') {
            continue;
        }
        let path = entry.path();
        let (Some(vendor), Some(product_id), Some(bus), Some(address)) =
            (hex_attr(&path, "idVendor"), hex_attr(&path, "idProduct"), dec_attr(&path, "busnum"), dec_attr(&path, "devnum"))
        else {
            continue;
        };
        out.push(SysfsDevice { path: name, bus, address, vendor, product_id, serial: attr(&path, "serial"), product: attr(&path, "product") });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(root: &Path, name: &str, attrs: &[(&str, &str)]) {
        let d = root.join("bus/usb/devices").join(name);
        fs::create_dir_all(&d).unwrap();
        for (k, v) in attrs {
            fs::write(d.join(k), format!("{v}\n")).unwrap();
        }
    }

    #[test]
    fn reads_a_fake_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        device(
            root,
            "3-1",
            &[
                ("idVendor", "0483"),
                ("idProduct", "df11"),
                ("busnum", "3"),
                ("devnum", "11"),
                ("serial", "004200343338510534383330"),
                ("product", "DFU in HS Mode @Device ID /0x500, @Revision ID /0x0000"),
            ],
        );
        device(root, "3-1:1.0", &[("bInterfaceClass", "fe")]);
        device(root, "usb3", &[("idVendor", "1d6b"), ("idProduct", "0002"), ("busnum", "3"), ("devnum", "1")]);
        device(root, "1-2", &[("idVendor", "0483"), ("idProduct", "374b")]);
        let found = scan(root).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        let st = found.iter().find(|d| d.is_st_dfu()).unwrap();
        assert_eq!((st.path.as_str(), st.bus, st.address), ("3-1", 3, 11));
        assert_eq!(st.serial.as_deref(), Some("004200343338510534383330"));
        assert!(scan(&root.join("nothing")).unwrap().is_empty());
    }
}
