//! The build job: everything a build writes, decided as values from a plan before anything is written — the image
//! as pieces at offsets (the partition table's structures and the inputs), the layout text (already checked with
//! U-Boot's rules), whether a block map is written, and the binaries placed next to the layout so the output folder
//! is self-contained.
//!
//! Pure: [`BuildJob::new`] takes a plan, the inputs as read and the two folders (already made absolute by the
//! caller) and returns a job or why there can be none. `effects::build` executes a job (stage, write, commit);
//! `build --dry-run` prints one ([`BuildJob`]'s `Display`). This module sits above the planner, the GPT encoder and
//! the flash-layout code, which know nothing of each other; [`json`] is the plan as `check --json` prints it.

pub mod json;
pub mod layout;
pub mod placement;

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use crate::{
    board::BoardFile,
    board::LineOpt,
    diag::Problem,
    geometry::RegionKind,
    gpt::{self, Encoded, Entry, Table},
    guid,
    plan::{GeneratedFile, InputSet, Plan, PlannedPartition, Role},
    units::{ByteSize, Offset},
};

pub use layout::BinaryPaths;

/// The two folders of a build, absolute (canonical), so paths can be compared without touching the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folders {
    /// Where the inputs are read.
    pub images: PathBuf,
    /// Where the artifacts are written (may be the same folder).
    pub output: PathBuf,
}

/// What the caller chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobOptions {
    /// Write `<image>.bmap`.
    pub bmap: bool,
    /// Write the layout with what it names (the binaries placed next to it, the generated files). Without it (a
    /// problem that only affects flashing, in Buildroot mode), a layout and generated files an earlier build left in
    /// the output folder are removed in the same commit, so none outlives the image it was made for.
    pub layout: bool,
}

/// Where a piece of the image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PieceSource {
    /// One of the partition table's structures ([`ImageJob::table`] holds the bytes).
    Table(RegionKind),
    /// Bytes the tool made (the FWU metadata), named for messages.
    Bytes {
        /// The generated file's name.
        name: String,
        /// Its content.
        bytes: Vec<u8>,
    },
    /// An erased firmware slot (`fip-b`, a U-Boot environment): zeros in the image, mapped in the block map so a card
    /// written through it is erased there, as flashing erases it (`PED`).
    Erased {
        /// The slot's size.
        size: ByteSize,
    },
    /// An input file, expected to be `size` bytes (its size when planned).
    Input {
        /// The name in the board description.
        name: String,
        /// Where it is read.
        path: PathBuf,
        /// Its size when planned.
        size: ByteSize,
    },
}

/// One piece of the image: what goes where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Where it starts in the image.
    pub offset: Offset,
    /// How messages name it (`partition rootfs (rootfs.ext4)`, `primary GPT header`).
    pub label: String,
    /// Its bytes.
    pub source: PieceSource,
}

/// The disk image to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageJob {
    /// File name in the output folder.
    pub name: String,
    /// Length (everything not covered by a piece is a hole).
    pub size: ByteSize,
    /// The encoded partition table.
    pub table: Encoded,
    /// Every piece, in increasing offset order, disjoint.
    pub pieces: Vec<Piece>,
}

impl ImageJob {
    /// The bytes a table piece holds.
    #[must_use]
    pub fn table_bytes(&self, kind: RegionKind) -> &[u8] {
        self.table.bytes(kind)
    }
}

/// A binary the layout names, placed next to it in the output folder (reflink, else sparse copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The input's name in the board description.
    pub input: String,
    /// Its file name next to the layout.
    pub name: String,
    /// Where it is read.
    pub source: PathBuf,
    /// Its size when planned.
    pub size: ByteSize,
}

/// Everything one build writes, in the order it is staged; all of it is renamed into place together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildJob {
    /// The output folder (absolute).
    pub output: PathBuf,
    /// The disk image.
    pub image: ImageJob,
    /// The layout's file name.
    pub layout_name: String,
    /// The layout's text.
    pub layout: String,
    /// The block map's file name, when one is written.
    pub bmap: Option<String>,
    /// Binaries to place next to the layout (those already there, in a build into the images folder, are not).
    pub binaries: Vec<Placement>,
    /// Files the tool makes, written next to the layout (the FWU metadata the layout names).
    pub generated: Vec<GeneratedFile>,
    /// Whether the layout, the binaries and the generated files are written ([`JobOptions::layout`]).
    pub write_layout: bool,
    /// Names removed from the output folder in the same commit: a stale layout and generated files when the layout is
    /// not written, a stale block map when none is written.
    pub remove: Vec<String>,
}

/// Why there is no job for a plan.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// An output would replace an input (output folder = images folder, same name).
    #[error("output {output} would overwrite the input of the same name in {}; rename `[storage] image` or `[flash] layout`", dir.display())]
    OverwritesInput {
        /// The output's name.
        output: String,
        /// The folder.
        dir: PathBuf,
    },
    /// Two files want one name in the output folder.
    #[error("{0}; rename one of them")]
    NameClash(#[from] placement::NameClash),
    /// A binary placed next to the layout would replace another input.
    #[error("input `{input}` would be placed as {}, which is the input `{other}`; rename one of them", target.display())]
    PlacedOverInput {
        /// The input being placed.
        input: String,
        /// Where it would go.
        target: PathBuf,
        /// The input found there.
        other: String,
    },
    /// An input the plan uses was not read (a bug: planning refuses missing inputs).
    #[error("input {0} was not read")]
    InputNotRead(String),
    /// The layout could not be made (a bug).
    #[error(transparent)]
    Layout(#[from] layout::LayoutError),
}

/// The outputs' names, each with how messages call it: the image, the layout, the block map when `bmap`, and the
/// files the tool makes (the FWU metadata).
#[must_use]
pub fn output_names(plan: &Plan, bmap: bool) -> Vec<(String, String)> {
    let image = &plan.disk.file_name;
    let mut out = vec![(image.clone(), format!("the image `{image}`")), (plan.layout_name.clone(), format!("the layout `{}`", plan.layout_name))];
    if bmap {
        let name = bmap_name(plan);
        out.push((name.clone(), format!("the block map `{name}`")));
    }
    out.extend(plan.generated.iter().map(|g| (g.name.clone(), format!("the {} `{}`", g.what, g.name))));
    out
}

/// The name each binary the layout names gets next to it ([`placement`]), beside the outputs of a build with or
/// without a block map. The one place the naming rule is applied: [`BuildJob::new`] refuses what it refuses, and
/// [`placement_problems`] reports the same before anything is built (so `check` says what `build` would refuse).
pub fn placed_names(plan: &Plan, inputs: &InputSet, bmap: bool) -> Result<BTreeMap<String, String>, placement::NameClash> {
    let named = layout::layout_inputs(plan);
    let all: Vec<&str> = inputs.facts.keys().map(String::as_str).collect();
    placement::place_names(&named, &all, &output_names(plan, bmap))
}

/// [`placed_names`]'s refusal as a problem at the input's name in the description, for a build that writes a block
/// map (the default; `--no-bmap` frees the block map's name).
#[must_use]
pub fn placement_problems(board: &BoardFile, plan: &Plan, inputs: &InputSet) -> Vec<Problem> {
    let Err(clash) = placed_names(plan, inputs, true) else { return Vec::new() };
    let span = board.input_names().into_iter().find(|n| n.value == clash.input).map(|n| n.span.clone());
    vec![
        Problem::error("plan::output_name_clash", clash.to_string())
            .with_span(span)
            .with_help("the output folder holds the layout's binaries by name: rename the input (file and description), or name the output otherwise (`[storage] image`, `[flash] layout`)"),
    ]
}

/// The block map's file name: the image's, with `.bmap`.
#[must_use]
pub fn bmap_name(plan: &Plan) -> String {
    format!("{}.bmap", plan.disk.file_name)
}

/// The GPT a plan describes.
#[must_use]
pub fn gpt_table(plan: &Plan) -> Table {
    Table {
        geometry: plan.disk.geometry(),
        disk_guid: plan.disk.disk_guid,
        entries: plan
            .partitions
            .iter()
            .map(|p| Entry {
                type_guid: p.type_guid,
                unique_guid: p.unique_guid,
                first_lba: p.first_lba(),
                last_lba: p.last_lba(),
                attributes: p.attributes(),
                name: p.name.clone(),
            })
            .collect(),
    }
}

/// A firmware slot the flash erases and leaves empty (`fip-b`, a U-Boot environment): no input, its layout line
/// deletes (`PED`, the default for a partition without input, or an explicit `PD`/`PED`). An old environment left
/// on a card would be read by the new U-Boot, so the block map writes zeros there as a flash erases it.
fn erased_firmware_slot(p: &PlannedPartition) -> bool {
    p.input.is_none() && (matches!(p.role, Role::FipB | Role::Env) || p.type_guid == guid::UBOOT_ENV) && p.opt.is_none_or(LineOpt::delete)
}

/// Everything the image holds, in increasing offset order: the table's structures around the partitions' inputs
/// and the erased firmware slots (what the writer copies or maps; the rest stays a hole and unmapped). Inputs are read from `images` when given (an absolute folder),
/// else from where they were read when planned.
pub fn image_pieces(plan: &Plan, inputs: &InputSet, images: Option<&Path>) -> Result<Vec<Piece>, JobError> {
    let geometry = plan.disk.geometry();
    let table = |kind: RegionKind| Piece { offset: geometry.region(kind).start, label: kind.name().to_string(), source: PieceSource::Table(kind) };
    let mut pieces = vec![table(RegionKind::ProtectiveMbr), table(RegionKind::PrimaryHeader), table(RegionKind::PrimaryEntries)];
    for p in &plan.partitions {
        if erased_firmware_slot(p) {
            pieces.push(Piece { offset: p.start, label: format!("partition {} (erased)", p.name), source: PieceSource::Erased { size: p.size } });
        }
        if let Some(input) = &p.input {
            if input.is_generated() {
                let made = plan.generated.iter().find(|g| g.name == input.name).ok_or_else(|| JobError::InputNotRead(input.name.clone()))?;
                pieces.push(Piece {
                    offset: p.start,
                    label: format!("partition {} ({}, generated)", p.name, input.name),
                    source: PieceSource::Bytes { name: made.name.clone(), bytes: made.bytes.clone() },
                });
                continue;
            }
            let facts = inputs.facts.get(&input.name).ok_or_else(|| JobError::InputNotRead(input.name.clone()))?;
            pieces.push(Piece {
                offset: p.start,
                label: format!("partition {} ({})", p.name, input.name),
                source: PieceSource::Input {
                    name: input.name.clone(),
                    path: images.map_or_else(|| facts.path.clone(), |d| d.join(&input.name)),
                    size: input.size,
                },
            });
        }
    }
    pieces.push(table(RegionKind::BackupEntries));
    pieces.push(table(RegionKind::BackupHeader));
    Ok(pieces)
}

impl BuildJob {
    /// The job for a plan: the image's pieces, the layout (naming every binary by its name in the output folder,
    /// checked with U-Boot's rules), the block map's name and the binaries to place.
    pub fn new(plan: &Plan, inputs: &InputSet, folders: &Folders, options: JobOptions) -> Result<BuildJob, JobError> {
        let outputs = output_names(plan, options.bmap);
        for name in inputs.facts.keys() {
            let input = folders.images.join(name);
            if let Some((out, _)) = outputs.iter().find(|(o, _)| folders.output.join(o) == input) {
                return Err(JobError::OverwritesInput { output: out.clone(), dir: folders.output.clone() });
            }
        }

        let named = layout::layout_inputs(plan);
        let all: Vec<&str> = inputs.facts.keys().map(String::as_str).collect();
        let names = placed_names(plan, inputs, options.bmap)?;
        let mut binaries = Vec::new();
        for (input, name) in &names {
            let target = folders.output.join(name);
            if target == folders.images.join(input) {
                continue; // Already there: a build into the images folder.
            }
            if let Some(other) = all.iter().find(|o| folders.images.join(o) == target) {
                return Err(JobError::PlacedOverInput { input: input.clone(), target, other: (*other).to_string() });
            }
            let facts = inputs.facts.get(input).ok_or_else(|| JobError::InputNotRead(input.clone()))?;
            binaries.push(Placement { input: input.clone(), name: name.clone(), source: folders.images.join(input), size: facts.size });
        }
        // Layout order: the boot stages first, as the layout names them.
        binaries.sort_by_key(|b| named.iter().position(|n| *n == b.input));

        let paths = BinaryPaths { inputs: names, image: plan.disk.file_name.clone() };
        let layout = layout::text(plan, &paths)?;
        let (generated, mut remove) = if options.layout {
            (plan.generated.clone(), Vec::new())
        } else {
            binaries.clear();
            (Vec::new(), std::iter::once(plan.layout_name.clone()).chain(plan.generated.iter().map(|g| g.name.clone())).collect::<Vec<_>>())
        };
        if !options.bmap {
            // A block map left by an earlier build would describe another image: bmaptool finds it next to the image
            // on its own and writes a card that misses the new data.
            remove.push(bmap_name(plan));
        }
        // Never remove an input, nor what this build writes.
        remove.retain(|r| {
            let path = folders.output.join(r);
            !all.iter().any(|i| folders.images.join(i) == path) && !binaries.iter().any(|b| &b.name == r)
        });
        let image = ImageJob {
            name: plan.disk.file_name.clone(),
            size: plan.disk.size,
            table: gpt::encode(&gpt_table(plan)),
            pieces: image_pieces(plan, inputs, Some(&folders.images))?,
        };
        Ok(BuildJob {
            output: folders.output.clone(),
            image,
            layout_name: plan.layout_name.clone(),
            layout,
            bmap: options.bmap.then(|| bmap_name(plan)),
            binaries,
            generated,
            write_layout: options.layout,
            remove,
        })
    }

    /// Where an output lands.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.output.join(name)
    }
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

/// What `build --dry-run` prints: every file with what it will hold, every piece of the image at its offset.
impl fmt::Display for BuildJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "build job (nothing written): into {}, all renamed into place together", show(&self.output))?;
        writeln!(f, "  {}: disk image, {}; the rest is holes:", self.image.name, self.image.size.describe())?;
        let mut rows = vec![["offset", "size", "content"].map(String::from).to_vec()];
        for p in &self.image.pieces {
            let size = match &p.source {
                PieceSource::Table(kind) => ByteSize::new(self.image.table_bytes(*kind).len() as u64),
                PieceSource::Bytes { bytes, .. } => ByteSize::new(bytes.len() as u64),
                PieceSource::Input { size, .. } | PieceSource::Erased { size } => *size,
            };
            let from = match &p.source {
                PieceSource::Table(_) | PieceSource::Bytes { .. } | PieceSource::Erased { .. } => String::new(),
                PieceSource::Input { path, .. } => format!(" from {}", show(path)),
            };
            rows.push(vec![format!("{:#010x}", p.offset.get()), format!("{size}"), format!("{}{from}", p.label)]);
        }
        for line in crate::table::render(&rows).lines() {
            writeln!(f, "    {line}")?;
        }
        if self.write_layout {
            let lines = self.layout.lines().filter(|l| !l.starts_with('#')).count();
            writeln!(f, "  {}: flash layout, {lines} lines (checked with U-Boot's rules):", self.layout_name)?;
            let rows: Vec<Vec<String>> = self.layout.lines().map(|l| l.split('\t').map(str::to_string).collect()).collect();
            for line in crate::table::render(&rows).lines() {
                writeln!(f, "    {line}")?;
            }
        }
        if let Some(bmap) = &self.bmap {
            writeln!(f, "  {bmap}: block map of {} (bmaptool)", self.image.name)?;
        }
        for g in &self.generated {
            writeln!(f, "  {}: {} bytes, {}", g.name, g.bytes.len(), g.what)?;
        }
        for b in &self.binaries {
            writeln!(f, "  {}: {}, a copy of {}", b.name, b.size.describe(), show(&b.source))?;
        }
        for r in &self.remove {
            writeln!(f, "  {r}: removed if present (not written by this build)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{board, inputs::InputFacts, plan};

    /// A DK2-like plan with synthetic inputs: `.stm32` files get a valid v1.0 header over a zero payload.
    fn plan_with(fsbl: &str, extra: &str) -> (Plan, InputSet) {
        let toml = format!(
            "[board]\nname = \"t\"\nsoc = \"stm32mp15\"\n[boot]\nchain = \"trusted\"\nfsbl = \"{fsbl}\"\nssbl = \"u-boot.stm32\"\n[storage]\nmedia = \"sdcard\"\n[flash]\nmode = \"partitions\"\n{extra}"
        );
        let (b, problems) = board::parse_board(&toml);
        let b = b.unwrap_or_else(|| panic!("{problems:?}"));
        let mut head = vec![0u8; 256];
        head[..4].copy_from_slice(&crate::inputs::stm32::MAGIC);
        head[0x48..0x4c].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        head[0x4c..0x50].copy_from_slice(&(4096u32 - 256).to_le_bytes());
        let mut inputs = InputSet::default();
        for name in b.input_names() {
            let (head, sum) = if name.value.ends_with(".stm32") { (head.as_slice(), Some(0)) } else { (&b"data"[..], None) };
            inputs.facts.insert(name.value.clone(), InputFacts::classify(&name.value, name.value.clone().into(), 4096, head, sum, None));
        }
        let outcome = plan::plan(&b, &inputs);
        (outcome.plan.unwrap_or_else(|| panic!("{:?}", outcome.problems)), inputs)
    }

    fn folders(images: &str, output: &str) -> Folders {
        Folders { images: images.into(), output: output.into() }
    }

    #[test]
    fn pieces_are_in_order_and_binaries_placed_once() {
        let (plan, inputs) = plan_with("tf-a.stm32", "[[partition]]\nname = \"rootfs\"\nimage = \"rootfs.ext4\"\n");
        let job = BuildJob::new(&plan, &inputs, &folders("/images", "/out"), JobOptions { bmap: false, layout: true }).unwrap();
        assert!(job.image.pieces.windows(2).all(|w| w[0].offset < w[1].offset));
        assert_eq!(job.image.pieces.first().map(|p| &p.source), Some(&PieceSource::Table(RegionKind::ProtectiveMbr)));
        assert_eq!(job.image.pieces.last().map(|p| &p.source), Some(&PieceSource::Table(RegionKind::BackupHeader)));
        let placed: Vec<&str> = job.binaries.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(placed, ["tf-a.stm32", "u-boot.stm32", "rootfs.ext4"], "each binary once, in layout order");
        assert_eq!(job.bmap, None);
        assert_eq!(job.remove, ["sdcard.img.bmap"], "a stale block map goes in the same commit");
        // Into the images folder itself, nothing is placed.
        let job = BuildJob::new(&plan, &inputs, &folders("/images", "/images"), JobOptions { bmap: true, layout: true }).unwrap();
        assert!(job.binaries.is_empty());
    }

    /// An empty U-Boot environment partition of the description is erased through the block map like the A/B set's
    /// `u-boot-env`; one whose line keeps the old content (`opt = "PE"`) is not, nor an empty data partition.
    #[test]
    fn empty_environments_are_erased_slots() {
        let env = |opt: &str| {
            let extra =
                format!("[[partition]]\nname = \"env\"\ntype = \"env\"\nsize = \"512K\"\n{opt}[[partition]]\nname = \"data\"\nsize = \"1M\"\n");
            let (plan, inputs) = plan_with("tf-a.stm32", &extra);
            let job = BuildJob::new(&plan, &inputs, &folders("/images", "/out"), JobOptions { bmap: true, layout: true }).unwrap();
            job.image.pieces.iter().filter(|p| matches!(p.source, PieceSource::Erased { .. })).map(|p| p.label.clone()).collect::<Vec<_>>()
        };
        assert_eq!(env(""), ["partition env (erased)"]);
        assert_eq!(env("opt = \"PED\"\n"), ["partition env (erased)"]);
        assert!(env("opt = \"PE\"\n").is_empty());
    }

    #[test]
    fn nothing_may_land_on_an_input() {
        // The image named like an input, in the images folder.
        let (plan, inputs) = plan_with("tf-a.stm32", "[[partition]]\nname = \"data\"\nimage = \"sdcard.img\"\n");
        let e = BuildJob::new(&plan, &inputs, &folders("/images", "/images"), JobOptions { bmap: true, layout: true }).unwrap_err();
        assert!(matches!(e, JobError::OverwritesInput { ref output, .. } if output == "sdcard.img"), "{e}");
        // An output folder inside the images folder: `tf-a.stm32` placed there would be the input `sub/tf-a.stm32`.
        let (plan, inputs) = plan_with("tf-a.stm32", "[[partition]]\nname = \"data\"\nimage = \"sub/tf-a.stm32\"\n");
        let e = BuildJob::new(&plan, &inputs, &folders("/images", "/images/sub"), JobOptions { bmap: true, layout: true }).unwrap_err();
        assert!(matches!(e, JobError::PlacedOverInput { ref other, .. } if other == "sub/tf-a.stm32"), "{e}");
        // An input whose flattened name lands on itself... cannot: `sub/x` becomes `sub-x`. One already in the
        // output folder under its plain name is used as it is.
        let (plan, inputs) = plan_with("tf-a.stm32", "");
        let job = BuildJob::new(&plan, &inputs, &folders("/images", "/images"), JobOptions { bmap: true, layout: true }).unwrap();
        assert!(job.binaries.is_empty() && job.layout.contains("\ttf-a.stm32\n"), "{}", job.layout);
    }
}
