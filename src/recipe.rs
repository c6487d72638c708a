//! Recipes: `wavnet train --recipe FILE` reads train flags from a TOML file (`recipes/*.toml`).
//!
//! Each key is a `wavnet train` flag without its leading `--` (`val-fold = 4` or `val_fold = 4`),
//! each value a string, number or boolean (`true` gives a switch such as `--balanced`; `false`
//! leaves it off). The recipe is expanded into flags placed before the ones typed on the
//! command line, and a flag given twice takes its last value, so anything typed overrides the
//! recipe. Paths in a recipe are relative to the current folder, as when typed.
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

/// Why a recipe could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("--recipe {}: cannot read it ({reason}); pass a TOML file of train flags such as recipes/fsdd.toml", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("--recipe {}: not valid TOML: {reason}", .path.display())]
    Toml { path: PathBuf, reason: String },
    #[error("--recipe {}: unknown key `{key}`: keys are `wavnet train` flags without the leading -- (see `wavnet train --help`)", .path.display())]
    UnknownKey { path: PathBuf, key: String },
    #[error("--recipe {}: `{key}` {reason}", .path.display())]
    BadValue { path: PathBuf, key: String, reason: String },
    #[error("--recipe needs a file name, e.g. --recipe recipes/fsdd.toml")]
    MissingFile,
    #[error("--recipe is given more than once; give one recipe and override single flags on the command line")]
    Repeated,
}

/// Expands a `--recipe FILE` (or `--recipe=FILE`) of `wavnet train` into the recipe's flags,
/// inserted right after the `train` subcommand (before every flag typed). Other command lines
/// come back unchanged.
pub fn expand_args(args: Vec<OsString>) -> Result<Vec<OsString>, RecipeError> {
    // The subcommand is the first token after the program that is not a global option.
    let mut i = 1;
    while i < args.len() {
        match args[i].to_str() {
            Some("--threads") => i += 2,
            Some(s) if s.starts_with("--threads=") => i += 1,
            _ => break,
        }
    }
    if args.get(i).and_then(|a| a.to_str()) != Some("train") {
        return Ok(args);
    }
    let sub = i;
    let mut recipe: Option<PathBuf> = None;
    let mut j = sub + 1;
    while j < args.len() {
        let a = args[j].to_str().unwrap_or("");
        if a == "--" {
            break;
        }
        let file = if a == "--recipe" {
            j += 1;
            Some(args.get(j).map(PathBuf::from).ok_or(RecipeError::MissingFile)?)
        } else {
            a.strip_prefix("--recipe=").map(PathBuf::from)
        };
        if let Some(f) = file {
            if f.as_os_str().is_empty() {
                return Err(RecipeError::MissingFile);
            }
            if recipe.replace(f).is_some() {
                return Err(RecipeError::Repeated);
            }
        }
        j += 1;
    }
    let Some(path) = recipe else { return Ok(args) };
    let flags = recipe_flags(&path)?;
    let mut out = args[..=sub].to_vec();
    out.extend(flags);
    out.extend_from_slice(&args[sub + 1..]);
    Ok(out)
}

/// The flags a recipe file stands for, in the file's key order (sorted).
pub fn recipe_flags(path: &Path) -> Result<Vec<OsString>, RecipeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RecipeError::Unreadable { path: path.to_path_buf(), reason: e.to_string() })?;
    let table: toml::Table =
        text.parse().map_err(|e: toml::de::Error| RecipeError::Toml { path: path.to_path_buf(), reason: e.message().to_string() })?;
    let cmd = crate::cli::Cli::command();
    let train = cmd.find_subcommand("train").expect("the train subcommand exists");
    let mut flags = Vec::new();
    for (key, value) in &table {
        let name = key.replace('_', "-");
        let arg = train
            .get_arguments()
            .find(|a| a.get_long() == Some(name.as_str()) && name != "recipe")
            .ok_or_else(|| RecipeError::UnknownKey { path: path.to_path_buf(), key: key.clone() })?;
        let is_switch = matches!(arg.get_action(), clap::ArgAction::SetTrue);
        let bad = |reason: &str| RecipeError::BadValue { path: path.to_path_buf(), key: key.clone(), reason: reason.into() };
        match value {
            toml::Value::Boolean(on) if is_switch => {
                if *on {
                    flags.push(format!("--{name}").into());
                }
            }
            _ if is_switch => return Err(bad("is a switch: write true or false")),
            toml::Value::String(s) => flags.push(format!("--{name}={s}").into()),
            toml::Value::Integer(v) => flags.push(format!("--{name}={v}").into()),
            toml::Value::Float(v) => flags.push(format!("--{name}={v}").into()),
            _ => return Err(bad("must be a string or a number")),
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Cmd};
    use clap::Parser;

    fn parse(recipe: &str, extra: &[&str]) -> Result<Cli, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.toml");
        std::fs::write(&p, recipe).unwrap();
        let mut args: Vec<OsString> = vec!["wavnet".into(), "train".into(), "--recipe".into(), p.clone().into()];
        args.extend(extra.iter().map(OsString::from));
        let expanded = expand_args(args).map_err(|e| e.to_string())?;
        Cli::try_parse_from(expanded).map_err(|e| e.to_string())
    }

    fn train(cli: Cli) -> crate::cli::TrainArgs {
        match cli.command {
            Cmd::Train(a) => a,
            other => panic!("not train: {other:?}"),
        }
    }

    const R: &str = "data = \"d.csv\"\nout = \"runs/x\"\nepochs = 7\nlr = 1e-3\nval_fold = 4\nbalanced = true\naugment = \"shift=0.1,mixup=0.4\"\n";

    #[test]
    fn a_recipe_sets_flags() {
        let a = train(parse(R, &[]).unwrap());
        assert_eq!((a.epochs, a.val_fold, a.balanced), (7, Some(4), true));
        assert_eq!(a.lr, 1e-3);
        assert_eq!(a.data, PathBuf::from("d.csv"));
        assert_eq!(a.augment, crate::data::AugmentConfig::parse_spec("shift=0.1,mixup=0.4").unwrap());
        assert_eq!(a.batch, 32, "flags the recipe leaves out keep their defaults");
    }

    #[test]
    fn a_flag_on_the_command_line_overrides_the_recipe() {
        let a = train(parse(R, &["--epochs", "3", "--out=elsewhere", "--augment", "none"]).unwrap());
        assert_eq!(a.epochs, 3);
        assert_eq!(a.out, PathBuf::from("elsewhere"));
        assert_eq!(a.augment, crate::data::AugmentConfig::none());
        assert_eq!(a.val_fold, Some(4), "what is not typed still comes from the recipe");
    }

    #[test]
    fn unknown_keys_bad_values_and_missing_files_are_clear_errors() {
        let e = parse("epochz = 3\n", &[]).unwrap_err();
        assert!(e.contains("unknown key `epochz`") && e.contains("wavnet train --help"), "{e}");
        let e = parse("balanced = 1\n", &[]).unwrap_err();
        assert!(e.contains("`balanced` is a switch"), "{e}");
        let e = parse("epochs = [1, 2]\n", &[]).unwrap_err();
        assert!(e.contains("`epochs` must be a string or a number"), "{e}");
        let e = parse("epochs = \n", &[]).unwrap_err();
        assert!(e.contains("not valid TOML"), "{e}");
        let args = ["wavnet", "train", "--recipe", "/no/such/recipe.toml"].map(OsString::from).to_vec();
        let e = expand_args(args).unwrap_err().to_string();
        assert!(e.contains("/no/such/recipe.toml") && e.contains("cannot read"), "{e}");
        let args = ["wavnet", "train", "--recipe"].map(OsString::from).to_vec();
        assert!(matches!(expand_args(args), Err(RecipeError::MissingFile)));
    }

    #[test]
    fn other_commands_and_train_without_a_recipe_are_untouched() {
        for line in [&["wavnet", "eval", "--model", "m"][..], &["wavnet", "--threads", "2", "train", "--epochs", "3"]] {
            let args: Vec<OsString> = line.iter().map(OsString::from).collect();
            assert_eq!(expand_args(args.clone()).unwrap(), args);
        }
    }

    #[test]
    fn the_repositorys_recipes_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                let args: Vec<OsString> = vec!["wavnet".into(), "train".into(), "--recipe".into(), p.clone().into()];
                let expanded = expand_args(args).unwrap_or_else(|e| panic!("{e}"));
                Cli::try_parse_from(expanded).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
        assert!(n >= 1, "no recipes in {}", dir.display());
    }
}
