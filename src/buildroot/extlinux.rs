//! `extlinux.conf`: the kernel's `root=` must name the planned root file system partition (by PARTUUID or
//! `/dev/mmcblkNpM`), as U-Boot's distro boot passes it.

use crate::{
    board::Media,
    diag::Problem,
    guid::Guid,
    plan::{Plan, Role},
};

/// What `root=` must name: the planned root file system partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootExpectation {
    /// Partition name.
    pub name: String,
    /// GPT partition number (1-based): Linux's `pN`.
    pub number: u32,
    /// Its PARTUUID.
    pub partuuid: Guid,
    /// The media, for the `mmcblkX` index Linux usually gives it.
    pub media: Media,
}

impl RootExpectation {
    /// The partition named `rootfs`, else the first bootable description partition.
    #[must_use]
    pub fn from_plan(plan: &Plan) -> Option<RootExpectation> {
        let user = || plan.partitions.iter().filter(|p| p.role == Role::User);
        let part = user().find(|p| p.name == "rootfs").or_else(|| user().find(|p| p.bootable))?;
        Some(RootExpectation { name: part.name.clone(), number: part.number, partuuid: part.unique_guid, media: plan.media })
    }

    /// The `mmcblkX` index assumed for the media. Linux numbers MMC hosts by the device tree's `mmcN` aliases when it
    /// has them (5.10+), else in probe order; on ST's boards that gives SDMMC1 (SD slot) = mmcblk0 and SDMMC2 (eMMC) =
    /// mmcblk1. This is not U-Boot's `mmcN` index; a different index is only a warning.
    #[must_use]
    pub fn usual_mmcblk(&self) -> u32 {
        match self.media {
            Media::Sdcard => 0,
            Media::Emmc => 1,
        }
    }

    fn root_arg(&self) -> String {
        format!("root=PARTUUID={}", self.partuuid.to_string().to_lowercase())
    }
}

/// Check every `append` line of an `extlinux.conf` (U-Boot distro boot) for a `root=` that names the planned root
/// partition. `root=PARTUUID=<planned>` always passes; `/dev/mmcblkXpN` passes when N is the planned partition number
/// (a wrong N is an error, an unusual X a warning); a wrong PARTUUID is an error; other forms cannot be checked.
#[must_use]
pub fn lint_extlinux(name: &str, text: &str, expect: &RootExpectation) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut label = String::from("(before any label)");
    let mut appends = 0;
    let help_partuuid = format!(
        "use `{}` in the append line (the PARTUUID of `{}`, partition {}, fixed by the board description and by U-Boot's stm32prog), so the kernel finds it whatever mmcblk number it gets",
        expect.root_arg(),
        expect.name,
        expect.number
    );
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = format!("{name}:{}", i + 1);
        let mut words = line.split_whitespace();
        let Some(keyword) = words.next() else { continue };
        if keyword.eq_ignore_ascii_case("label") {
            label = words.collect::<Vec<_>>().join(" ");
            continue;
        }
        if !keyword.eq_ignore_ascii_case("append") {
            continue;
        }
        appends += 1;
        // The kernel takes the last root= it is given.
        let Some(root) = words.filter_map(|w| w.strip_prefix("root=")).next_back() else {
            problems.push(
                Problem::warning("buildroot::no_root", format!("label `{label}` passes no root= to the kernel"))
                    .at(at)
                    .with_help(help_partuuid.clone()),
            );
            continue;
        };
        if let Some(uuid) = root.strip_prefix("PARTUUID=") {
            match Guid::parse(uuid) {
                Some(g) if g == expect.partuuid => {}
                Some(_) => problems.push(
                    Problem::error(
                        "buildroot::wrong_root",
                        format!("label `{label}`: root=PARTUUID={uuid} is no partition of the image (`{}` is {})", expect.name, expect.partuuid),
                    )
                    .at(at)
                    .with_help(help_partuuid.clone()),
                ),
                None => problems.push(
                    Problem::warning("buildroot::unchecked_root", format!("label `{label}`: root=PARTUUID={uuid} cannot be checked"))
                        .at(at)
                        .with_help(help_partuuid.clone()),
                ),
            }
            continue;
        }
        if let Some((index, part)) = parse_mmcblk(root) {
            let device = format!("/dev/mmcblk{index}p{part}");
            if part != expect.number {
                problems.push(
                    Problem::error(
                        "buildroot::wrong_root",
                        format!(
                            "label `{label}`: root={device} is partition {part}, but `{}` is partition {} of the image: the kernel would mount the wrong partition or none",
                            expect.name, expect.number
                        ),
                    )
                    .at(at)
                    .with_help(help_partuuid.clone()),
                );
            } else if index != expect.usual_mmcblk() {
                let media = if expect.media == Media::Sdcard { "an SD card" } else { "an eMMC" };
                problems.push(
                    Problem::warning(
                        "buildroot::root_mmcblk_index",
                        format!(
                            "label `{label}`: root={device}, but on ST boards Linux usually names {media} mmcblk{} (mmcblk numbers follow the device tree's mmc aliases, not U-Boot's mmcN)",
                            expect.usual_mmcblk()
                        ),
                    )
                    .at(at)
                    .with_help(help_partuuid.clone()),
                );
            }
            continue;
        }
        problems.push(
            Problem::warning("buildroot::unchecked_root", format!("label `{label}`: root={root} cannot be checked against the plan"))
                .at(at)
                .with_help(help_partuuid.clone()),
        );
    }
    if appends == 0 {
        problems.push(
            Problem::warning("buildroot::no_root", format!("{name} has no append line: the kernel gets no root="))
                .at(name.to_string())
                .with_help(help_partuuid),
        );
    }
    problems
}

/// `/dev/mmcblkXpN` → (X, N).
fn parse_mmcblk(root: &str) -> Option<(u32, u32)> {
    let rest = root.strip_prefix("/dev/mmcblk")?;
    let (x, n) = rest.split_once('p')?;
    Some((x.parse().ok()?, n.parse().ok()?))
}

/// The warning when `TARGET_DIR` has no `extlinux.conf`.
#[must_use]
pub fn no_extlinux(path: &str, expect: &RootExpectation) -> Problem {
    Problem::warning("buildroot::no_extlinux", format!("{path} does not exist: U-Boot's distro boot finds no kernel command line there")).with_help(
        format!(
            "add boot/extlinux/extlinux.conf to a rootfs overlay (BR2_ROOTFS_OVERLAY) with `append {} rootwait` (see the shipped board/*/overlay)",
            expect.root_arg()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> RootExpectation {
        RootExpectation { name: "rootfs".into(), number: 4, partuuid: crate::guid::uboot_rootfs_partuuid(0).unwrap(), media: Media::Sdcard }
    }

    fn codes(text: &str) -> Vec<(&'static str, bool)> {
        lint_extlinux("extlinux.conf", text, &expect()).iter().map(|p| (p.code, p.is_error())).collect()
    }

    #[test]
    fn extlinux_root() {
        let conf = |root: &str| format!("label l\n  kernel /boot/zImage\n  append {root} rootwait\n");
        assert!(codes(&conf("root=/dev/mmcblk0p4")).is_empty());
        assert!(codes(&conf("root=PARTUUID=e91c4e10-16e6-4c0e-bd0e-77becf4a3582")).is_empty());
        assert!(codes(&conf("root=PARTUUID=E91C4E10-16E6-4C0E-BD0E-77BECF4A3582")).is_empty());
        assert_eq!(codes(&conf("root=/dev/mmcblk0p2")), [("buildroot::wrong_root", true)]);
        assert_eq!(codes(&conf("root=/dev/mmcblk1p4")), [("buildroot::root_mmcblk_index", false)]);
        assert_eq!(codes(&conf("root=PARTUUID=491F6117-415D-4F53-88C9-6E0DE54DEAC6")), [("buildroot::wrong_root", true)]);
        assert_eq!(codes(&conf("root=/dev/sda1")), [("buildroot::unchecked_root", false)]);
        assert_eq!(codes(&conf("console=ttySTM0")), [("buildroot::no_root", false)]);
        assert_eq!(codes("label only\n"), [("buildroot::no_root", false)]);
        // The last root= counts, as in the kernel.
        assert!(codes(&conf("root=/dev/mmcblk0p2 root=/dev/mmcblk0p4")).is_empty());
        let p = lint_extlinux("x", &conf("root=/dev/mmcblk0p2"), &expect());
        assert_eq!(p[0].location.as_deref(), Some("x:3"));
        assert!(p[0].help.as_deref().unwrap().contains("root=PARTUUID=e91c4e10-16e6-4c0e-bd0e-77becf4a3582"));
    }
}
