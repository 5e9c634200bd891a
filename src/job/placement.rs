//! The names binaries get next to the layout, so an output folder is self-contained: every path in `flash.tsv` is a
//! plain file name of that folder, and the folder can be copied anywhere and flashed from there.
//!
//! Pure: names in, names out. One rule, predictable from the description alone:
//! - an input named without a folder (`u-boot.stm32`) keeps its name;
//! - an input in a sub-folder (`fip/fip-dk2.bin`) gets its whole path with each `/` turned into `-`
//!   (`fip-fip-dk2.bin`). Not its bare file name: an images folder shared by several boards (Buildroot's) often
//!   holds another `fip-dk2.bin` at the top, which a build into that folder must not replace;
//! - a name taken twice (by an output — the image, the layout, the block map — by another input's name, or by
//!   another flattened path, e.g. `a-b/c` and `a/b-c`) refuses the build, naming both: rename one of them.

use std::{
    collections::BTreeMap,
    path::{Component, Path},
};

/// Two things want the same file name in the output folder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input `{input}` would be placed next to the layout as `{name}`, which is already the name of {other}")]
pub struct NameClash {
    /// The input being placed.
    pub input: String,
    /// The name it would get.
    pub name: String,
    /// What else has that name (`the image sdcard.img`, `input fip.bin`).
    pub other: String,
}

/// The parts of a relative input name that are names (`./a/b` → `a`, `b`).
fn parts(input: &str) -> Vec<String> {
    Path::new(input)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// The name an input has in its own folder, if it names no sub-folder.
fn plain(input: &str) -> Option<String> {
    let p = parts(input);
    (p.len() == 1).then(|| p[0].clone())
}

/// The name each input of `layout` gets next to the layout. `inputs` are every input of the build (their plain names
/// are taken); `reserved` are the outputs' names, each with what it is (`the image sdcard.img`).
pub fn place_names(layout: &[&str], inputs: &[&str], reserved: &[(String, String)]) -> Result<BTreeMap<String, String>, NameClash> {
    let mut owners: BTreeMap<String, String> = reserved.iter().cloned().collect();
    for input in inputs {
        if let Some(name) = plain(input) {
            owners.entry(name).or_insert_with(|| format!("input `{input}`"));
        }
    }
    let mut out = BTreeMap::new();
    let mut given: BTreeMap<String, String> = BTreeMap::new();
    for input in layout {
        let (name, own) = match plain(input) {
            Some(name) => (name, true),
            None => (parts(input).join("-"), false),
        };
        // A plain input owns its own name; anything else that holds the name is a clash.
        let clash = match owners.get(&name) {
            Some(what) if !(own && *what == format!("input `{input}`")) => Some(what.clone()),
            _ => given.get(&name).filter(|other| *other != input).map(|other| format!("input `{other}`")),
        };
        if let Some(other) = clash {
            return Err(NameClash { input: (*input).to_string(), name, other });
        }
        given.insert(name.clone(), (*input).to_string());
        out.insert((*input).to_string(), name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserved() -> Vec<(String, String)> {
        vec![("sdcard.img".into(), "the image `sdcard.img`".into()), ("flash.tsv".into(), "the layout `flash.tsv`".into())]
    }

    fn names(layout: &[&str], inputs: &[&str]) -> Result<Vec<(String, String)>, NameClash> {
        place_names(layout, inputs, &reserved()).map(|m| m.into_iter().collect())
    }

    #[test]
    fn plain_names_stay_and_sub_folders_are_flattened() {
        let got = names(&["tf-a.stm32", "fip/fip-dk2.bin"], &["tf-a.stm32", "fip/fip-dk2.bin", "rootfs.ext4"]).unwrap();
        assert_eq!(got, [("fip/fip-dk2.bin".into(), "fip-fip-dk2.bin".into()), ("tf-a.stm32".into(), "tf-a.stm32".into())]);
        assert_eq!(names(&["./u-boot.stm32"], &["./u-boot.stm32"]).unwrap()[0].1, "u-boot.stm32");
        // A top-level file of the same name is not touched: the sub-folder's gets another name.
        let got = names(&["fip/fip.bin"], &["fip/fip.bin", "fip.bin"]).unwrap();
        assert_eq!(got[0].1, "fip-fip.bin");
        let got = names(&["a/fip.bin", "b/fip.bin"], &["a/fip.bin", "b/fip.bin"]).unwrap();
        assert_eq!(got, [("a/fip.bin".into(), "a-fip.bin".into()), ("b/fip.bin".into(), "b-fip.bin".into())]);
    }

    #[test]
    fn a_name_taken_twice_is_refused() {
        let e = names(&["a/b.bin"], &["a/b.bin", "a-b.bin"]).unwrap_err();
        assert_eq!((e.name.as_str(), e.other.as_str()), ("a-b.bin", "input `a-b.bin`"));
        let e = names(&["a-b/c", "a/b-c"], &["a-b/c", "a/b-c"]).unwrap_err();
        assert_eq!((e.input.as_str(), e.other.as_str()), ("a/b-c", "input `a-b/c`"));
        let e = names(&["sdcard.img"], &["sdcard.img"]).unwrap_err();
        assert_eq!(e.other, "the image `sdcard.img`");
        assert_eq!(names(&["x/flash.tsv"], &["x/flash.tsv"]).unwrap()[0].1, "x-flash.tsv", "a flattened name is free");
        let e = place_names(&["a/b"], &["a/b"], &[("a-b".into(), "the layout `a-b`".into())]).unwrap_err();
        assert_eq!(e.other, "the layout `a-b`");
        assert!(e.to_string().contains("input `a/b` would be placed next to the layout as `a-b`"), "{e}");
    }
}
