//! `stm32mp-imager udev-rules [--group NAME]`: print udev rules for ST's DFU device (`0483:df11`: the ROM, TF-A and
//! U-Boot all enumerate with it) and U-Boot's fastboot gadget (`0483:0afb`), so flashing needs no sudo.
//!
//! Install: `stm32mp-imager udev-rules | sudo tee /etc/udev/rules.d/50-stm32mp-dfu.rules`, then
//! `sudo udevadm control --reload-rules && sudo udevadm trigger`, and replug the board.

use clap::Args;

use crate::{error::Error, render};

/// Arguments of `udev-rules`.
#[derive(Debug, Args)]
pub struct UdevRulesArgs {
    /// Also give the device to this group (e.g. `plugdev`), for users who are not at the seat (SSH, CI runners).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
}

fn valid_group(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        && name.len() <= 32
}

/// Run `udev-rules`.
pub fn run(args: &UdevRulesArgs, _ctx: &super::Context) -> Result<(), Error> {
    if let Some(g) = &args.group
        && !valid_group(g)
    {
        return Err(Error::Refused {
            subject: format!("--group {g}"),
            reason: "not a group name: write lower-case letters, digits, `_` and `-`".to_string(),
        });
    }
    out!("{}", render::udev_rules(args.group.as_deref())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names() {
        assert!(valid_group("plugdev"));
        assert!(valid_group("_dfu-users2"));
        assert!(!valid_group("Plugdev"));
        assert!(!valid_group("a\", RUN+=\"/bin/sh"));
        assert!(!valid_group(""));
    }
}
