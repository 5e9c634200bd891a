//! `stm32mp-imager buildroot-post-image IMAGES_DIR [ARGS…]`: Buildroot mode, run by the BR2_EXTERNAL tree's
//! `post-image.sh`. Gathers Buildroot's environment and files (the effects), lints them with [`crate::buildroot`]
//! against the board description, reports every problem at once, then builds into `BINARIES_DIR` only and ends with
//! a summary. Plain lines only: no progress bar, even when `make` runs on a terminal.

use std::{collections::BTreeMap, io, path::PathBuf};

use clap::Args;

use super::{
    build::{BUILD_HASH_LIMIT, BuildOptions, build_prepared},
    prepare,
};
use crate::{
    buildroot::{self, Artifact, BuildrootEnv, EXTLINUX_CONF, LayoutOutcome, RootExpectation, Target},
    diag::{self, Problem, Style},
    effects::inputs::HashPolicy,
    error::{Error, Shown},
};

/// Arguments of `buildroot-post-image`, exactly as Buildroot passes them to a post-image script.
#[derive(Debug, Args)]
pub struct BuildrootPostImageArgs {
    /// BINARIES_DIR (Buildroot's first argument): inputs are read from it and outputs written only into it.
    pub images_dir: PathBuf,
    /// The words of BR2_ROOTFS_POST_SCRIPT_ARGS and BR2_ROOTFS_POST_IMAGE_SCRIPT_ARGS: `--board NAME|PATH` (a name is
    /// looked up as board/NAME.toml in the BR2_EXTERNAL trees, then in this repository), `--no-bmap`. Other words
    /// are ignored with a warning.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

fn environment() -> BTreeMap<String, String> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

fn print_plain(problems: &[Problem]) {
    if problems.is_empty() {
        return;
    }
    let mut sorted = problems.to_vec();
    diag::sort(&mut sorted);
    super::write_stderr(format_args!("{}", diag::render(&sorted, None, Style::Plain)));
}

/// Print the problems and give up; `more` errors were printed already (the description's).
fn refuse(problems: &[Problem], more: usize) -> Error {
    print_plain(problems);
    let errors = problems.iter().filter(|p| p.is_error()).count() + more;
    Error::Problems { subject: None, errors, shown: Shown::Above, undone: Some("written") }
}

/// Run `buildroot-post-image`.
pub fn run(args: &BuildrootPostImageArgs, ctx: &super::Context) -> Result<(), Error> {
    let (post, mut problems) = buildroot::parse_post_args(&args.args);
    let env = BuildrootEnv::from_env(&environment(), &args.images_dir);
    let (post, env) = match (post, env) {
        (Ok(p), Ok(e)) => (p, e),
        (p, e) => {
            problems.extend(p.err().iter().chain(e.err().iter()).map(buildroot::EnvError::to_problem));
            return Err(refuse(&problems, 0));
        }
    };

    // Outputs go to $1 only, and $1 must be the BINARIES_DIR Buildroot exported.
    let images = env.images_dir.canonicalize().map_err(Error::file("resolve the images folder", &env.images_dir))?;
    if let Some(binaries) = &env.binaries_dir
        && binaries.canonicalize().ok().as_ref() != Some(&images)
    {
        let err = buildroot::EnvError::NotBinariesDir { arg: images.display().to_string(), env: binaries.display().to_string() };
        problems.push(err.to_problem());
        return Err(refuse(&problems, 0));
    }

    let config_name = env.br2_config.display().to_string();
    let config_text = std::fs::read_to_string(&env.br2_config).map_err(Error::file("read BR2_CONFIG", &env.br2_config))?;
    let (config, config_problems) = buildroot::parse_kconfig(&config_name, &config_text);
    problems.extend(config_problems);

    let wanted = post.board.clone().unwrap_or_default();
    let candidates = env.board_candidates(&wanted);
    let Some(board_path) = candidates.iter().find(|p| p.is_file()).map(|p| p.canonicalize().unwrap_or_else(|_| p.clone())) else {
        let tried = candidates.iter().map(|p| p.display().to_string()).collect();
        problems.push(buildroot::EnvError::BoardNotFound { board: wanted, tried }.to_problem());
        return Err(refuse(&problems, 0));
    };
    outln!("stm32mp-imager buildroot-post-image: board description {}, images in {}", board_path.display(), images.display());

    let prepared = prepare(&board_path, &images, HashPolicy::UpTo(BUILD_HASH_LIMIT))?;
    if let Some(board) = &prepared.board {
        problems.extend(buildroot::lint_config(&config, &Target::from_board(board)));
    }
    if let Some(expect) = prepared.plan.as_ref().and_then(RootExpectation::from_plan) {
        match &env.target_dir {
            Some(target_dir) => {
                let path = target_dir.join(EXTLINUX_CONF);
                let name = path.display().to_string();
                match std::fs::read_to_string(&path) {
                    Ok(text) => problems.extend(buildroot::lint_extlinux(&name, &text, &expect)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => problems.push(buildroot::no_extlinux(&name, &expect)),
                    Err(e) => return Err(Error::file("read", &path)(e)),
                }
            }
            None => problems.push(
                Problem::warning("buildroot::no_target_dir", "TARGET_DIR is not set: root= in extlinux.conf was not checked")
                    .with_help("run it through Buildroot, which exports TARGET_DIR"),
            ),
        }
    }

    // A problem that only affects flashing never fails `make`: the image and its block map are written, the layout
    // is not (a stale one is removed in the same commit), and the summary says what to add for flashing.
    // The description's and the inputs' errors count too: beside any error nothing is written, so a flashing-only
    // problem is then an error like the others.
    let (flash_only, mut problems): (Vec<Problem>, Vec<Problem>) = problems.into_iter().partition(buildroot::affects_only_flashing);
    if diag::has_errors(&problems) || diag::has_errors(&prepared.problems) {
        // Every problem at once: the description's and the inputs' too.
        problems.extend(flash_only);
        ctx.print_problems(&prepared.problems, Some(&prepared.source));
        return Err(refuse(&problems, prepared.problems.iter().filter(|p| p.is_error()).count()));
    }
    let layout_name = prepared.plan.as_ref().map_or_else(|| "the layout".to_string(), |p| p.layout_name.clone());
    let flash_only: Vec<Problem> = flash_only
        .into_iter()
        .map(|p| Problem { severity: diag::Severity::Warning, message: format!("{} ({layout_name} is not written; the image is)", p.message), ..p })
        .collect();
    problems.extend(flash_only.iter().cloned());
    print_plain(&problems);
    let options = BuildOptions { layout: flash_only.is_empty(), ..BuildOptions::new(post.bmap, false) };
    let summary = build_prepared(prepared, &images, &images, options, ctx, &|| {
        say!("waiting: another build is writing into {}", images.display());
    })?;
    let artifacts: Vec<Artifact> = summary
        .artifacts
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| Artifact { path: p.clone(), size: m.len() }))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::File { action: "read back the artifacts in", path: images.clone(), source: e })?;
    let image = images.join(&summary.plan.disk.file_name);
    let layout = images.join(&summary.plan.layout_name);
    let outcome = match &summary.built.layout {
        Some(path) => LayoutOutcome::Written(path),
        None => LayoutOutcome::NotWritten { path: &layout, because: &flash_only, removed: &summary.built.removed },
    };
    out!("{}", buildroot::summary(&summary.plan.board, summary.plan.media, &artifacts, outcome, &image, post.bmap));
    Ok(())
}
