//! The registry of problem codes: every `layer::name` a [`Problem`](super::Problem) may carry, with its layer and what
//! it means. One place: the README's table lists exactly these (a test compares them, and checks that every code in
//! the sources is here and every code here is used).

/// One registered code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// `layer::name`.
    pub id: &'static str,
    /// What it means, in one line.
    pub meaning: &'static str,
}

const fn c(id: &'static str, meaning: &'static str) -> Code {
    Code { id, meaning }
}

/// Every code, grouped by layer, in README order.
pub const CODES: &[Code] = &[
    // The TOML schema (board/parse.rs).
    c("board::syntax", "the description is not valid TOML (each broken line is reported)"),
    c("board::unknown_key", "a key the schema does not know (with the closest known key)"),
    c("board::missing_section", "a required section ([board], [boot], [storage]) is missing"),
    c("board::missing_key", "a required key is missing"),
    c("board::wrong_type", "a value has the wrong TOML type (a number where a string is needed, …)"),
    c("board::bad_value", "a value is not one of the accepted words"),
    c("board::not_text", "the board description is not a small UTF-8 text file (over 1 MiB, or not UTF-8)"),
    c("board::bad_size", "a size or offset is not a number of bytes, hex, or a number with K/M/G"),
    c("board::bad_uuid", "a `uuid` is not a GUID"),
    c("board::bad_type", "a partition `type` is neither a known type name nor a GUID"),
    c("board::conflicting_keys", "two keys contradict each other (`fip` with the trusted chain, …)"),
    c("board::hybrid_mbr", "`partition-type` asks for a hybrid MBR, which stopped U-Boot in the field"),
    // Input files (inputs/).
    c("input::missing", "an input file named in the description cannot be read"),
    c("input::not_stm32", "TF-A or U-Boot is not an STM32 image"),
    c("input::bad_stm32_header", "an STM32 header field is wrong (magic, version for the SoC, length, checksum)"),
    c("input::fsbl_too_large", "TF-A is larger than the STM32MP15 ROM loads (247 KiB)"),
    c("input::not_fip", "the FIP input does not start with the FIP ToC magic"),
    c("input::bad_fip", "the FIP's table of contents is broken (an entry past the end, …)"),
    // Placement (plan/).
    c("plan::no_size", "a partition has neither `size` nor `image`"),
    c("plan::unsafe_path", "an input name is absolute, contains `..` or a control character"),
    c("plan::unsafe_output_name", "an output name is not a plain file name, or two outputs (image, its .bmap, layout, FWU metadata) share one"),
    c("plan::output_name_clash", "an input the layout names would be placed next to it under the name of an output or of another input"),
    c("plan::chain_soc", "the trusted chain on an SoC whose TF-A loads only a FIP"),
    c("plan::mp25_ddr_fip", "an STM32MP25 description without the DDR firmware FIP the programmer loads on Id 0x02 (`[programmer] fip_ddr`)"),
    c("plan::fip_ddr_soc", "`fip_ddr` on an SoC other than STM32MP25, whose TF-A never asks for it"),
    c("plan::fill_needs_size", "`size = \"fill\"` without `[storage] size` (the card's size)"),
    c("plan::fill_not_last", "`size = \"fill\"` on a partition that is not the last"),
    c("plan::fwu_metadata", "the given FWU metadata is not what the target reads, or does not name this image's fip-a/fip-b GUIDs"),
    c("plan::name_too_long", "a partition name longer than the 16 characters stm32prog accepts"),
    c("plan::bad_name", "a partition name that is not printable ASCII without spaces"),
    c("plan::duplicate_name", "two partitions with one name, or a [[partition]] taking a boot partition's name"),
    c("plan::too_many_partitions", "more partitions than the 128 a GPT holds"),
    c("plan::misaligned", "an offset or size that is not a multiple of the erase unit or of 512 bytes"),
    c("plan::emmc_fsbl_partition", "TF-A described as eMMC user-area partitions; the tool writes it to boot1/boot2 itself"),
    c("plan::below_first_offset", "an eMMC partition below the user area's first usable offset 0x80000"),
    c("plan::overlap", "two partitions, or a partition and the partition table, share bytes"),
    c("plan::past_end", "a partition ends past the end of the image"),
    c("plan::empty_partition", "a partition of 0 bytes"),
    c("plan::fill_past_end", "a `size = \"fill\"` partition starts at or past where stm32prog ends the last partition"),
    c("plan::image_too_large", "an image larger than a file can be"),
    c("plan::input_too_large", "an input file does not fit its partition"),
    c("plan::duplicate_uuid", "two partitions (or a partition and the disk) with one GUID"),
    c("plan::bad_opt", "`opt` P/PD without an image to program, or PE/PED (left empty) with one"),
    c("plan::duplicate_id", "two partitions with one explicit layout `id`"),
    c("plan::id_range", "a file-system line with an `id` in 0x04–0x0F, ST's boot-loader range"),
    c("plan::rootfs_partuuid", "warning: `rootfs` has another GUID than stm32prog gives it, so root=PARTUUID= depends on the flash mode"),
    c("plan::bootable_type", "warning: a bootable partition whose type stm32prog would not mark bootable"),
    c("plan::fsbl_name", "warning: a user partition named `fsbl…`, where the ROM looks for TF-A"),
    c("plan::layout_gap", "warning: a gap between partitions, which stm32prog closes in `partitions` mode"),
    c("plan::layout_type", "warning: a partition type a flash layout cannot express"),
    c("plan::raw_mode_keys", "warning: `opt` or `id` in `raw` mode, whose layout has one line for the whole image"),
    c("plan::last_partition_grows", "note: a `partitions`-mode flash runs the last partition to the end of the card, whose size is not given"),
    c(
        "plan::last_partition_differs",
        "warning: the last partition ends elsewhere than a `partitions`-mode flash ends it on a card of `[storage] size`",
    ),
    // Flash layouts, as U-Boot's stm32prog reads them (flashlayout/).
    c("layout::empty", "the layout has no partition line"),
    c("layout::bad_header", "the layout's STM32 header is wrong"),
    c("layout::columns", "a line has fewer than the 6 columns U-Boot requires"),
    c("layout::spaces", "fields separated by spaces; U-Boot separates them with TABs only"),
    c("layout::trailing_tab", "a line ends with a TAB, which makes U-Boot misread the next line"),
    c("layout::stray_cr", "warning: a carriage return inside a line ends the field there"),
    c("layout::nul_byte", "warning: a NUL byte, where U-Boot stops reading"),
    c("layout::too_many_lines", "more partition lines than stm32prog holds"),
    c("layout::bad_opt", "the Opt column is not `-`, `P`, `PE`, `PD` or `PED`"),
    c("layout::bad_id", "the Id column is not a phase stm32prog accepts"),
    c("layout::bad_type", "the Type column is not a type stm32prog knows"),
    c("layout::bad_ip", "the IP column is not a device stm32prog knows"),
    c("layout::bad_offset", "the Offset column is not hex, `boot1` or `boot2`"),
    c("layout::octal_offset", "an offset with a leading 0, read as octal by older U-Boot"),
    c("layout::name_too_long", "a partition name longer than 16 characters"),
    c("layout::hw_partition", "`boot1`/`boot2` on a device other than MMC"),
    c("layout::duplicate_id", "two lines with one Id"),
    c("layout::selected_none", "a `-` (not selected) line with a storage device"),
    c("layout::no_binary", "warning: a line selected for programming names no binary"),
    c("layout::binary_copies", "`Binary(N)` where U-Boot does not support it"),
    c("layout::raw_offset", "warning: a RawImage offset other than 0x0, which U-Boot ignores"),
    c("layout::same_offset", "two partitions of one device at the same offset"),
    c("layout::below_first", "an offset below the device's first usable address (0x4400 SD, 0x80000 eMMC user area)"),
    c("layout::misaligned", "an offset that is not a multiple of the device's erase size"),
    c("layout::too_many_devices", "more devices than stm32prog handles"),
    // Reading images back (gpt/decode.rs, cli/inspect.rs).
    c("gpt::too_small", "the image is too small to hold a GPT and its backup"),
    c("gpt::partial_sector", "warning: the image is not a whole number of 512-byte sectors"),
    c("gpt::no_mbr", "LBA 0 has no 0x55AA boot signature"),
    c("gpt::no_protective_mbr", "the MBR has no 0xEE protective entry"),
    c("gpt::hybrid_mbr", "a hybrid MBR (partition entries besides 0xEE), which stops U-Boot"),
    c("gpt::bad_header", "a GPT header is wrong (signature, size, CRC, LBAs)"),
    c("gpt::bad_entries", "the entry array's CRC does not match the header"),
    c("gpt::bad_backup", "the backup GPT disagrees with the primary"),
    c("gpt::primary_damaged", "the primary GPT is damaged (signature, header or array CRC); the valid backup is shown"),
    c("gpt::entry_range", "a partition outside the usable LBA range"),
    c("gpt::overlap", "two GPT partitions overlap"),
    c("inspect::unknown", "`inspect` does not recognise the file's format"),
    c("inspect::mbr_only", "a disk image with an MBR partition table and no GPT, which the STM32MP cannot boot"),
    c("inspect::gpt_4k_sectors", "a GPT made for 4096-byte sectors; STM32MP media use 512"),
    c("inspect::io", "`inspect` could not read the whole file"),
    c("inspect::too_large", "a file too large to be a flash layout"),
    c("inspect::bad_stm32_header", "an STM32 header field is wrong"),
    c("inspect::bad_checksum", "an STM32 image's payload does not sum to its header's checksum"),
    c("inspect::fsbl_too_large", "a TF-A image larger than the STM32MP15 ROM loads"),
    c("inspect::fsbl_empty", "an fsbl partition of an image holds no STM32 header"),
    c("inspect::bad_fip", "a FIP's table of contents is broken"),
    // Buildroot mode (buildroot/).
    c("buildroot::missing_env", "a variable Buildroot always exports is missing"),
    c("buildroot::not_binaries_dir", "the folder given is not Buildroot's BINARIES_DIR"),
    c("buildroot::no_board", "`--board` is missing or has no value"),
    c("buildroot::board_not_found", "the board description named by `--board` was not found"),
    c("buildroot::unknown_arg", "warning: a post-image argument that is not stm32mp-imager's"),
    c("buildroot::config_syntax", "warning: a `.config` line not understood"),
    c("buildroot::no_usb_programmer", "TF-A built without STM32MP_USB_PROGRAMMER=1, or older than v2.6 (\"Boot interface 6 not supported\")"),
    c(
        "buildroot::chain_mismatch",
        "TF-A's BL2 loads a FIP where the boot chain puts U-Boot's .stm32 in `ssbl`, or the reverse (version, STM32MP_USE_STM32IMAGE)",
    ),
    c("buildroot::no_sdmmc", "TF-A built without the SD card driver (STM32MP_SDMMC=1)"),
    c("buildroot::no_emmc", "TF-A built without the eMMC driver (STM32MP_EMMC=1)"),
    c("buildroot::no_tfa", "warning: the configuration builds no TF-A; the one in the images folder is used"),
    c("buildroot::spl_first_stage", "U-Boot SPL as first stage, which STM32CubeProgrammer cannot use"),
    c("buildroot::dtb_mismatch", "TF-A built for another board's device tree"),
    c("buildroot::no_target_dir", "warning: TARGET_DIR is not set, so extlinux.conf was not checked"),
    c("buildroot::no_extlinux", "warning: no extlinux.conf where U-Boot's distro boot reads it"),
    c("buildroot::no_root", "warning: an extlinux.conf label passes no root="),
    c(
        "buildroot::wrong_root",
        "the label that boots has a root= other than the rootfs partition (another label: warning when it names no partition of the image)",
    ),
    c("buildroot::unchecked_root", "warning: a root= that cannot be checked"),
    c("buildroot::root_mmcblk_index", "warning: root=/dev/mmcblkN names another MMC than Linux gives the medium"),
    // Flashing (flash/, cli/flash.rs).
    c("flash::missing_binary", "a binary the layout sends does not exist"),
];

/// The registered code with this id.
#[must_use]
pub fn lookup(id: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        for (i, code) in CODES.iter().enumerate() {
            let (layer, name) = code.id.split_once("::").unwrap_or_else(|| panic!("{} has no layer", code.id));
            assert!(!layer.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{}", code.id);
            assert!(CODES[..i].iter().all(|o| o.id != code.id), "{} is registered twice", code.id);
            assert!(!code.meaning.is_empty());
        }
    }
}
