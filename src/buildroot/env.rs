//! The post-image script's arguments (`--board`, `--no-bmap`) and Buildroot's environment (`BINARIES_DIR`,
//! `BR2_CONFIG`, `TARGET_DIR`, the BR2_EXTERNAL paths), and where the board description is looked for.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use super::EXTERNAL_NAME;
use crate::diag::Problem;

/// Why Buildroot mode cannot start; each becomes an error [`Problem`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A variable Buildroot always exports is missing.
    #[error("{var} is not set: `buildroot-post-image` runs as Buildroot's post-image script (make exports {var})")]
    Missing {
        /// The variable.
        var: &'static str,
    },
    /// `$1` and `BINARIES_DIR` name different folders.
    #[error("the images folder {arg} is not BINARIES_DIR ({env}); Buildroot mode writes only into BINARIES_DIR")]
    NotBinariesDir {
        /// `$1`.
        arg: String,
        /// `BINARIES_DIR`.
        env: String,
    },
    /// No `--board` in the post-script arguments.
    #[error("no board description named: the post-image arguments have no `--board`")]
    NoBoard,
    /// `--board` without a value.
    #[error("`--board` needs a value (a board name such as stm32mp157c-dk2, or a path to a .toml)")]
    BoardWithoutValue,
    /// No candidate file exists.
    #[error("board description `{board}` not found; looked at: {}", tried.join(", "))]
    BoardNotFound {
        /// As given.
        board: String,
        /// The paths tried, in order.
        tried: Vec<String>,
    },
}

impl EnvError {
    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            EnvError::Missing { .. } => "buildroot::missing_env",
            EnvError::NotBinariesDir { .. } => "buildroot::not_binaries_dir",
            EnvError::NoBoard | EnvError::BoardWithoutValue => "buildroot::no_board",
            EnvError::BoardNotFound { .. } => "buildroot::board_not_found",
        }
    }

    /// As a problem, with the fix.
    #[must_use]
    pub fn to_problem(&self) -> Problem {
        let help = match self {
            EnvError::Missing { .. } => {
                "run it through Buildroot (BR2_ROOTFS_POST_IMAGE_SCRIPT), or use `stm32mp-imager build BOARD.toml --images DIR` by hand"
            }
            EnvError::NotBinariesDir { .. } => "call it as Buildroot does: `post-image.sh \"$BINARIES_DIR\" …` (Buildroot passes BINARIES_DIR first)",
            EnvError::NoBoard | EnvError::BoardWithoutValue => {
                "add the board to the post-script arguments, e.g. BR2_ROOTFS_POST_SCRIPT_ARGS=\"--board stm32mp157c-dk2\" (as the shipped defconfigs do)"
            }
            EnvError::BoardNotFound { .. } => {
                "give a path to the .toml (relative paths are relative to Buildroot's top folder), or put NAME.toml in the board/ folder of a BR2_EXTERNAL tree"
            }
        };
        Problem::error(self.code(), self.to_string()).with_help(help)
    }
}

/// The post-image arguments after `$1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostImageArgs {
    /// `--board NAME|PATH`.
    pub board: Option<String>,
    /// `--no-bmap` turns the block map off.
    pub bmap: bool,
}

/// Parse the words Buildroot passes after `BINARIES_DIR`: `--board NAME|PATH` (or `--board=…`) and `--no-bmap`.
/// Other words are ignored with a warning: `BR2_ROOTFS_POST_SCRIPT_ARGS` is shared with post-build scripts, which
/// may take words of their own.
pub fn parse_post_args(words: &[String]) -> (Result<PostImageArgs, EnvError>, Vec<Problem>) {
    let mut args = PostImageArgs { board: None, bmap: true };
    let mut problems = Vec::new();
    let mut error = None;
    let mut it = words.iter();
    while let Some(word) = it.next() {
        if word == "--board" {
            match it.next() {
                Some(v) if !v.starts_with("--") => args.board = Some(v.clone()),
                _ => error = Some(EnvError::BoardWithoutValue),
            }
        } else if let Some(v) = word.strip_prefix("--board=") {
            if v.is_empty() {
                error = Some(EnvError::BoardWithoutValue);
            } else {
                args.board = Some(v.to_string());
            }
        } else if word == "--no-bmap" {
            args.bmap = false;
        } else {
            problems.push(
                Problem::warning("buildroot::unknown_arg", format!("post-image argument `{word}` is not one of stm32mp-imager's; ignored"))
                    .with_help("stm32mp-imager takes `--board NAME|PATH` and `--no-bmap`; other words may belong to post-build scripts"),
            );
        }
    }
    match (error, &args.board) {
        (Some(e), _) => (Err(e), problems),
        (None, None) => (Err(EnvError::NoBoard), problems),
        (None, Some(_)) => (Ok(args), problems),
    }
}

/// Buildroot's environment, as far as Buildroot mode uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildrootEnv {
    /// `$1`: where the inputs are and the only place outputs go.
    pub images_dir: PathBuf,
    /// `BINARIES_DIR`, when exported (it should name the same folder as `$1`).
    pub binaries_dir: Option<PathBuf>,
    /// `BR2_CONFIG`: the `.config` file.
    pub br2_config: PathBuf,
    /// `TARGET_DIR`: the root file system's staging tree (for `extlinux.conf`).
    pub target_dir: Option<PathBuf>,
    /// `BR2_EXTERNAL_<NAME>_PATH` of every external tree, in `BR2_EXTERNAL_NAMES` order.
    pub externals: Vec<(String, PathBuf)>,
}

impl BuildrootEnv {
    /// Read the environment map. `images_dir` is `$1`.
    pub fn from_env(env: &BTreeMap<String, String>, images_dir: &Path) -> Result<BuildrootEnv, EnvError> {
        let path = |k: &str| env.get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let br2_config = path("BR2_CONFIG").ok_or(EnvError::Missing { var: "BR2_CONFIG" })?;
        let mut names: Vec<String> = env.get("BR2_EXTERNAL_NAMES").map(|n| n.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
        // Older Buildroots (or a hand-made environment) may lack BR2_EXTERNAL_NAMES: take every *_PATH variable.
        for key in env.keys() {
            if let Some(name) = key.strip_prefix("BR2_EXTERNAL_").and_then(|k| k.strip_suffix("_PATH"))
                && !name.is_empty()
                && !names.iter().any(|n| n == name)
            {
                names.push(name.to_string());
            }
        }
        let externals = names.into_iter().filter_map(|n| path(&format!("BR2_EXTERNAL_{n}_PATH")).map(|p| (n, p))).collect();
        Ok(BuildrootEnv {
            images_dir: images_dir.to_path_buf(),
            binaries_dir: path("BINARIES_DIR"),
            br2_config,
            target_dir: path("TARGET_DIR"),
            externals,
        })
    }

    /// Where a `--board` value may be, in search order. A value with a `/` or ending in `.toml` is a path (relative to
    /// the current folder, which Buildroot sets to its top folder); a name is looked up as `board/NAME.toml` in each
    /// external tree, then in the repository holding this tool's tree (`buildroot-external/../board/NAME.toml`).
    #[must_use]
    pub fn board_candidates(&self, board: &str) -> Vec<PathBuf> {
        if board.contains('/') || board.ends_with(".toml") {
            return vec![PathBuf::from(board)];
        }
        let file = format!("{board}.toml");
        let mut out: Vec<PathBuf> = self.externals.iter().map(|(_, p)| p.join("board").join(&file)).collect();
        if let Some((_, ours)) = self.externals.iter().find(|(n, _)| n == EXTERNAL_NAME) {
            out.push(ours.join("..").join("board").join(&file));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_args() {
        let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let (a, p) = parse_post_args(&w("--board dk2 --no-bmap --extra"));
        assert_eq!(a, Ok(PostImageArgs { board: Some("dk2".into()), bmap: false }));
        assert_eq!(p.len(), 1);
        assert_eq!(parse_post_args(&w("--board=x.toml")).0.unwrap().board.as_deref(), Some("x.toml"));
        assert_eq!(parse_post_args(&w("")).0, Err(EnvError::NoBoard));
        assert_eq!(parse_post_args(&w("--board")).0, Err(EnvError::BoardWithoutValue));
    }

    #[test]
    fn env_and_board_candidates() {
        let mut env = BTreeMap::new();
        assert_eq!(BuildrootEnv::from_env(&env, Path::new("/o/images")), Err(EnvError::Missing { var: "BR2_CONFIG" }));
        env.insert("BR2_CONFIG".to_string(), "/o/.config".to_string());
        env.insert("BR2_EXTERNAL_NAMES".to_string(), "MINE STM32MP_IMAGER".to_string());
        env.insert("BR2_EXTERNAL_MINE_PATH".to_string(), "/mine".to_string());
        env.insert("BR2_EXTERNAL_STM32MP_IMAGER_PATH".to_string(), "/repo/buildroot-external".to_string());
        let e = BuildrootEnv::from_env(&env, Path::new("/o/images")).unwrap();
        let c: Vec<String> = e.board_candidates("b").iter().map(|p| p.display().to_string()).collect();
        assert_eq!(c, ["/mine/board/b.toml", "/repo/buildroot-external/board/b.toml", "/repo/buildroot-external/../board/b.toml"]);
        assert_eq!(e.board_candidates("x/b.toml"), [PathBuf::from("x/b.toml")]);
    }
}
