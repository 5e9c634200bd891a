//! `extlinux.conf`: the kernel's `root=` of the label U-Boot's distro boot boots must name the planned root file
//! system partition (by PARTUUID or `/dev/mmcblkNpM`); other labels (A/B, recovery) may name any partition of the image.

use crate::{
    board::Media,
    diag::Problem,
    guid::Guid,
    plan::{Plan, Role},
};

/// A GPT partition of the image, as `root=` may name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePartition {
    /// Partition name.
    pub name: String,
    /// GPT partition number (1-based): Linux's `pN`.
    pub number: u32,
    /// Its PARTUUID.
    pub partuuid: Guid,
}

/// What `root=` must name: the planned root file system partition, among every partition of the image.
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
    /// Every GPT partition of the image, the root one included: what a label that does not boot may name.
    pub partitions: Vec<ImagePartition>,
}

impl RootExpectation {
    /// The partition named `rootfs`, else the first bootable description partition.
    #[must_use]
    pub fn from_plan(plan: &Plan) -> Option<RootExpectation> {
        let user = || plan.partitions.iter().filter(|p| p.role == Role::User);
        let part = user().find(|p| p.name == "rootfs").or_else(|| user().find(|p| p.bootable))?;
        let partitions = plan.partitions.iter().map(|p| ImagePartition { name: p.name.clone(), number: p.number, partuuid: p.unique_guid }).collect();
        Some(RootExpectation { name: part.name.clone(), number: part.number, partuuid: part.unique_guid, media: plan.media, partitions })
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

    fn by_number(&self, number: u32) -> Option<&ImagePartition> {
        self.partitions.iter().find(|p| p.number == number)
    }

    fn by_partuuid(&self, partuuid: Guid) -> Option<&ImagePartition> {
        self.partitions.iter().find(|p| p.partuuid == partuuid)
    }
}

/// One `append` line and the label it belongs to.
struct Append<'a> {
    line: usize,
    label: Option<String>,
    words: Vec<&'a str>,
}

/// The label U-Boot's distro boot boots: the one `default` names (or marked `menu default`), else the first.
fn booting_label(labels: &[String], default: Option<&str>, menu_default: Option<&str>) -> Option<String> {
    let known = |l: &str| labels.iter().any(|x| x == l);
    default.filter(|d| known(d)).or(menu_default).map(str::to_string).or_else(|| labels.first().cloned())
}

/// Check the `append` lines of an `extlinux.conf` (U-Boot distro boot). The label that boots (`default`, else the
/// first) must pass a `root=` that names the planned root partition: `root=PARTUUID=<planned>` always passes;
/// `/dev/mmcblkXpN` passes when N is the planned partition number (another N, or another partition's PARTUUID, is an
/// error; an unusual X a warning). Another label may name any partition of the image (A/B, recovery); one that names
/// no partition of it is a warning. Other forms cannot be checked.
#[must_use]
pub fn lint_extlinux(name: &str, text: &str, expect: &RootExpectation) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut label: Option<String> = None;
    let mut labels = Vec::new();
    let mut default = None;
    let mut menu_default = None;
    let mut appends = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let mut words = raw.split_whitespace();
        let Some(keyword) = words.next() else { continue };
        if keyword.eq_ignore_ascii_case("label") {
            let l = words.collect::<Vec<_>>().join(" ");
            labels.push(l.clone());
            label = Some(l);
        } else if keyword.eq_ignore_ascii_case("default") {
            default = Some(words.collect::<Vec<_>>().join(" "));
        } else if keyword.eq_ignore_ascii_case("menu") && words.next().is_some_and(|w| w.eq_ignore_ascii_case("default")) {
            menu_default = menu_default.or(label.clone());
        } else if keyword.eq_ignore_ascii_case("append") {
            appends.push(Append { line: i + 1, label: label.clone(), words: words.collect() });
        }
    }
    let booting = booting_label(&labels, default.as_deref(), menu_default.as_deref());
    let help_partuuid = format!(
        "use `{}` in the append line (the PARTUUID of `{}`, partition {}, fixed by the board description and by U-Boot's stm32prog), so the kernel finds it whatever mmcblk number it gets",
        expect.root_arg(),
        expect.name,
        expect.number
    );
    let partitions = expect
        .partitions
        .iter()
        .map(|p| format!("`{}` (partition {}, root=PARTUUID={})", p.name, p.number, p.partuuid.to_string().to_lowercase()))
        .collect::<Vec<_>>()
        .join(", ");
    let help_other = format!("point it at a partition of the image: {partitions}; or remove the label");
    for append in &appends {
        let at = format!("{name}:{}", append.line);
        let boots = append.label.is_some() && append.label == booting;
        let label = match &append.label {
            Some(l) if boots => format!("label `{l}` (the one that boots)"),
            Some(l) => format!("label `{l}`"),
            None => "an append line before any label".to_string(),
        };
        // The kernel takes the last root= it is given.
        let Some(root) = append.words.iter().filter_map(|w| w.strip_prefix("root=")).next_back() else {
            problems.push(
                Problem::warning("buildroot::no_root", format!("{label} passes no root= to the kernel")).at(at).with_help(help_partuuid.clone()),
            );
            continue;
        };
        // The partition root= names: Some(Some(p)) a partition of the image, Some(None) none of it, None: not known.
        let (named, shown) = if let Some(uuid) = root.strip_prefix("PARTUUID=") {
            (Guid::parse(uuid).map(|g| expect.by_partuuid(g)), format!("root=PARTUUID={uuid}"))
        } else if let Some((index, number)) = parse_mmcblk(root) {
            let device = format!("/dev/mmcblk{index}p{number}");
            // The index matters only when the partition is one this label may name.
            let fitting = expect.by_number(number).is_some_and(|p| !boots || p.number == expect.number);
            if fitting && index != expect.usual_mmcblk() {
                let media = if expect.media == Media::Sdcard { "an SD card" } else { "an eMMC" };
                problems.push(
                    Problem::warning(
                        "buildroot::root_mmcblk_index",
                        format!(
                            "{label}: root={device}, but on ST boards Linux usually names {media} mmcblk{} (mmcblk numbers follow the device tree's mmc aliases, not U-Boot's mmcN)",
                            expect.usual_mmcblk()
                        ),
                    )
                    .at(at.clone())
                    .with_help(help_partuuid.clone()),
                );
            }
            (Some(expect.by_number(number)), format!("root={device}"))
        } else {
            (None, format!("root={root}"))
        };
        match named {
            None => problems.push(
                Problem::warning("buildroot::unchecked_root", format!("{label}: {shown} cannot be checked against the plan"))
                    .at(at)
                    .with_help(help_partuuid.clone()),
            ),
            Some(Some(p)) if p.number == expect.number => {}
            Some(Some(p)) if boots => problems.push(
                Problem::error(
                    "buildroot::wrong_root",
                    format!(
                        "{label}: {shown} is `{}`, partition {}, but the root file system is `{}`, partition {} of the image: the kernel would mount the wrong partition",
                        p.name, p.number, expect.name, expect.number
                    ),
                )
                .at(at)
                .with_help(help_partuuid.clone()),
            ),
            Some(Some(_)) => {}
            Some(None) if boots => problems.push(
                Problem::error(
                    "buildroot::wrong_root",
                    format!(
                        "{label}: {shown} is no partition of the image (the root file system is `{}`, partition {}, {}): the kernel would mount the wrong partition or none",
                        expect.name,
                        expect.number,
                        expect.partuuid
                    ),
                )
                .at(at)
                .with_help(help_partuuid.clone()),
            ),
            Some(None) => problems.push(
                Problem::warning("buildroot::wrong_root", format!("{label}: {shown} is no partition of the image; booting this label would fail"))
                    .at(at)
                    .with_help(help_other.clone()),
            ),
        }
    }
    if appends.is_empty() {
        problems.push(
            Problem::warning("buildroot::no_root", format!("{name} has no append line: the kernel gets no root="))
                .at(name.to_string())
                .with_help(help_partuuid),
        );
    } else if let Some(b) = &booting
        && !appends.iter().any(|a| a.label.as_ref() == Some(b))
    {
        problems.push(
            Problem::warning("buildroot::no_root", format!("label `{b}` (the one that boots) has no append line: the kernel gets no root="))
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

    const ROOTFS_B: &str = "0c1b6a2e-5d3f-4e8a-9b7c-2f4d6e8a0b1c";

    /// DK2's FIP chain with a second root file system, `rootfs_b`, partition 5.
    fn expect() -> RootExpectation {
        let rootfs = crate::guid::uboot_rootfs_partuuid(0).unwrap();
        let part = |name: &str, number, partuuid| ImagePartition { name: name.into(), number, partuuid };
        let other = |n: u32| Guid::parse(&format!("00000000-0000-4000-8000-00000000000{n}")).unwrap();
        RootExpectation {
            name: "rootfs".into(),
            number: 4,
            partuuid: rootfs,
            media: Media::Sdcard,
            partitions: vec![
                part("fsbl1", 1, other(1)),
                part("fsbl2", 2, other(2)),
                part("fip", 3, other(3)),
                part("rootfs", 4, rootfs),
                part("rootfs_b", 5, Guid::parse(ROOTFS_B).unwrap()),
            ],
        }
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

    /// Only the label that boots must mount `rootfs`; other labels (A/B, recovery) may name any partition of the image.
    #[test]
    fn only_the_booting_label_must_name_the_rootfs() {
        let ab = |default: &str, b_root: &str| {
            format!(
                "{default}label a\n  kernel /boot/zImage\n  append root=/dev/mmcblk0p4 rootwait\nlabel b\n  kernel /boot/zImage\n  append {b_root} rootwait\n"
            )
        };
        assert!(codes(&ab("default a\n", "root=/dev/mmcblk0p5")).is_empty());
        assert!(codes(&ab("", "root=/dev/mmcblk0p5")).is_empty(), "without `default` the first label boots");
        assert!(codes(&ab("default a\n", &format!("root=PARTUUID={ROOTFS_B}"))).is_empty());
        assert!(codes(&ab("default a\n", &format!("root=PARTUUID={}", ROOTFS_B.to_uppercase()))).is_empty());
        // Another label naming no partition of the image: a warning at its line, listing the image's partitions.
        let p = lint_extlinux("x", &ab("default a\n", "root=/dev/mmcblk0p9"), &expect());
        assert_eq!(p.iter().map(|p| (p.code, p.is_error())).collect::<Vec<_>>(), [("buildroot::wrong_root", false)]);
        assert_eq!(p[0].location.as_deref(), Some("x:7"));
        assert!(p[0].help.as_deref().unwrap().contains(&format!("`rootfs_b` (partition 5, root=PARTUUID={ROOTFS_B})")), "{:?}", p[0].help);
        assert_eq!(codes(&ab("default a\n", "root=PARTUUID=491F6117-415D-4F53-88C9-6E0DE54DEAC6")), [("buildroot::wrong_root", false)]);
        // The label that boots, by `default`, must name rootfs: an error naming what it mounts instead.
        let p = lint_extlinux("x", &ab("default b\n", "root=/dev/mmcblk0p5"), &expect());
        assert_eq!(p.iter().map(|p| (p.code, p.is_error())).collect::<Vec<_>>(), [("buildroot::wrong_root", true)]);
        assert_eq!(p[0].location.as_deref(), Some("x:7"));
        assert!(p[0].message.contains("label `b` (the one that boots)") && p[0].message.contains("`rootfs_b`, partition 5"), "{}", p[0].message);
        assert_eq!(codes(&ab("default b\n", &format!("root=PARTUUID={ROOTFS_B}"))), [("buildroot::wrong_root", true)]);
        // `menu default` marks the label that boots too; a `default` naming no label falls back to the first.
        let menu = "label a\n  append root=/dev/mmcblk0p5\nlabel b\n  menu default\n  append root=/dev/mmcblk0p4\n";
        assert!(codes(menu).is_empty());
        assert_eq!(codes(&ab("default nope\n", "root=/dev/mmcblk0p9")), [("buildroot::wrong_root", false)]);
        // An unusual mmcblk index is still a warning on another label; a wrong partition on the booting one is only the error.
        assert_eq!(codes(&ab("default a\n", "root=/dev/mmcblk1p5")), [("buildroot::root_mmcblk_index", false)]);
        assert_eq!(codes(&ab("default b\n", "root=/dev/mmcblk1p5")), [("buildroot::wrong_root", true)]);
        // The label that boots without an append line.
        assert_eq!(codes("default c\nlabel c\n  kernel /boot/zImage\nlabel d\n  append root=/dev/mmcblk0p4\n"), [("buildroot::no_root", false)]);
    }
}
