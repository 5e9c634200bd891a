//! The board's MMC device backed by files: an SD card (one image file) or an eMMC (user area, boot1, boot2).
//! Every write goes straight to the file (no buffering), so a killed emulator leaves what the host sent.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Hardware partition: 0 user area, 1 boot1, 2 boot2.
pub type HwPart = u8;

#[derive(Debug)]
pub struct Mmc {
    pub dev_id: u8,
    pub emmc: bool,
    files: Vec<(PathBuf, File, u64)>,
    /// Erase group in 512-byte blocks.
    pub erase_grp: u64,
}

fn open_sized(path: &Path, size: u64) -> io::Result<(PathBuf, File, u64)> {
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    let len = file.metadata()?.len();
    let len = if len == 0 {
        file.set_len(size)?;
        size
    } else {
        len
    };
    Ok((path.to_path_buf(), file, len))
}

impl Mmc {
    /// An SD card: `path` is created with `size` bytes if it is missing or empty, else its length is the card's.
    pub fn sd(dev_id: u8, path: &Path, size: u64, erase_grp: u64) -> io::Result<Mmc> {
        Ok(Mmc { dev_id, emmc: false, files: vec![open_sized(path, size)?], erase_grp })
    }

    /// An eMMC: user area plus two boot partitions.
    pub fn emmc(dev_id: u8, user: &Path, size: u64, boot: [&Path; 2], boot_size: u64, erase_grp: u64) -> io::Result<Mmc> {
        Ok(Mmc {
            dev_id,
            emmc: true,
            files: vec![open_sized(user, size)?, open_sized(boot[0], boot_size)?, open_sized(boot[1], boot_size)?],
            erase_grp,
        })
    }

    pub fn size(&self, hw: HwPart) -> u64 {
        self.files.get(hw as usize).map_or(0, |f| f.2)
    }

    pub fn lba(&self) -> u64 {
        self.size(0) / 512
    }

    pub fn capacity_boot(&self) -> u64 {
        if self.emmc { self.size(1) } else { 0 }
    }

    pub fn write(&self, hw: HwPart, offset: u64, data: &[u8]) -> io::Result<()> {
        let (_, f, size) = self.files.get(hw as usize).ok_or_else(|| io::Error::other("no such hw partition"))?;
        if offset + data.len() as u64 > *size {
            return Err(io::Error::other("Request would exceed designated area!"));
        }
        f.write_all_at(data, offset)
    }

    pub fn read(&self, hw: HwPart, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let (_, f, size) = self.files.get(hw as usize).ok_or_else(|| io::Error::other("no such hw partition"))?;
        let n = len.min(size.saturating_sub(offset) as usize);
        let mut v = vec![0u8; n];
        f.read_exact_at(&mut v, offset)?;
        Ok(v)
    }

    /// `blk_derase`: the emulator fills with zeros.
    pub fn erase(&self, hw: HwPart, offset: u64, len: u64) -> io::Result<()> {
        let zeros = vec![0u8; 1 << 20];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(zeros.len() as u64) as usize;
            self.write(hw, offset + done, &zeros[..n])?;
            done += n as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_land_at_offsets_and_bounds_are_checked() {
        let dir = std::env::temp_dir().join(format!("stm32mp-emu-storage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let user = dir.join("emmc.img");
        let b1 = dir.join("emmc.boot1");
        let b2 = dir.join("emmc.boot2");
        let m = Mmc::emmc(1, &user, 1 << 20, [&b1, &b2], 128 << 10, 1024).unwrap();
        m.write(1, 0x100, b"fsbl").unwrap();
        assert_eq!(m.read(1, 0x100, 4).unwrap(), b"fsbl");
        assert!(m.write(2, (128 << 10) - 2, b"xyz").is_err());
        assert_eq!((m.lba(), m.capacity_boot()), (2048, 128 << 10));
        m.erase(1, 0x100, 4).unwrap();
        assert_eq!(m.read(1, 0x100, 4).unwrap(), [0; 4]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
