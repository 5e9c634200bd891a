//! Buildroot mode's parsers and lints (`buildroot-post-image`): the `.config` (Kconfig), TF-A's make variables,
//! `extlinux.conf` and the post-image arguments, with the targets of the shipped boards.
//!
//! Input: the `.config` text, a NUL, the `extlinux.conf` text, a NUL, the post-image words (whitespace-separated).
use stm32mp_imager::{
    board,
    buildroot::{self, ImagePartition, RootExpectation, Target},
    guid::Guid,
};

fn targets() -> Vec<(Target, RootExpectation)> {
    let mut out = Vec::new();
    for text in [
        include_str!("../../board/stm32mp157c-dk2.toml"),
        include_str!("../../board/stm32mp157c-dk2-fip.toml"),
        include_str!("../../board/stm32mp157c-ev1.toml"),
    ] {
        let (b, _) = board::parse_board(text);
        let b = b.expect("shipped boards parse");
        let target = Target::from_board(&b);
        let partuuid = Guid::derive(&["fuzz", "rootfs"]);
        let partitions = vec![
            ImagePartition { name: "fip".into(), number: 3, partuuid: Guid::derive(&["fuzz", "fip"]) },
            ImagePartition { name: "rootfs".into(), number: 4, partuuid },
            ImagePartition { name: "rootfs_b".into(), number: 5, partuuid: Guid::derive(&["fuzz", "rootfs_b"]) },
        ];
        let root = RootExpectation { name: "rootfs".into(), number: 4, partuuid, media: target.media, partitions };
        out.push((target, root));
    }
    out
}

/// Run one input.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let (config, extlinux, words) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (kconfig, _) = buildroot::parse_kconfig(".config", config);
    let _ = buildroot::make_variables(kconfig.get(buildroot::TFA_VARIABLES).unwrap_or(config));
    for (target, root) in targets() {
        let _ = buildroot::lint_config(&kconfig, &target);
        let _ = buildroot::fixed_tfa_line(&kconfig, &target);
        let _ = buildroot::lint_extlinux("extlinux.conf", extlinux, &root);
        let _ = buildroot::no_extlinux("extlinux.conf", &root);
    }
    let words: Vec<String> = words.split_whitespace().map(str::to_string).collect();
    let _ = buildroot::parse_post_args(&words);
}
