//! The recipes' manifests (`recipes/everyday/`, written by `make_manifests.py`): a clip scored
//! as held back never shares its Freesound recording with a clip its model learnt from.
//! ESC-50 and UrbanSound8K were both cut from Freesound, and 49 ESC-50 clips share a recording
//! with UrbanSound8K slices, so splitting by fold alone is not enough.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

struct Row {
    fname: String,
    label: String,
    split: String,
    source: String,
    fold: String,
}

impl Row {
    /// The Freesound recording a clip was cut from: ESC-50 names are fold-ID-take-class,
    /// UrbanSound8K names ID-class-occurrence-slice.
    fn recording(&self) -> String {
        let base = Path::new(&self.fname).file_name().unwrap().to_str().unwrap();
        let field = if self.source == "esc50" { 1 } else { 0 };
        base.split('-').nth(field).unwrap_or_else(|| panic!("{}: no recording id", self.fname)).to_string()
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/everyday")
}

fn read(name: &str) -> Vec<Row> {
    let mut r = csv::Reader::from_path(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap_or_else(|| panic!("{name}: no column {n}"));
    let (f, l, s, src, fo) = (col("fname"), col("label"), col("split"), col("source"), col("source_fold"));
    r.records()
        .map(|x| {
            let x = x.unwrap();
            Row {
                fname: x[f].to_string(),
                label: x[l].to_string(),
                split: x[s].to_string(),
                source: x[src].to_string(),
                fold: x[fo].to_string(),
            }
        })
        .collect()
}

fn recordings<'a>(rows: impl Iterator<Item = &'a Row>) -> HashSet<String> {
    rows.map(Row::recording).collect()
}

/// Every clip of `held_back`'s recordings is absent from `source` (and `source` is not empty);
/// returns `source`'s rows for the caller's own checks.
fn assert_disjoint(source: &str, held_back: &HashSet<String>, what: &str) -> Vec<Row> {
    let rows = read(source);
    assert!(rows.len() > 100, "{source}: only {} clips", rows.len());
    let shared: Vec<&str> = rows.iter().filter(|r| held_back.contains(&r.recording())).map(|r| r.fname.as_str()).collect();
    assert!(shared.is_empty(), "{source} holds {} clips of {what}'s recordings, e.g. {:?}", shared.len(), &shared[..shared.len().min(3)]);
    rows
}

#[test]
fn pretraining_sources_hold_no_recording_of_the_fold_they_are_scored_on() {
    let all = read("manifest.csv");
    let esc10: HashSet<String> = {
        // ESC-10's classes are the ESC-50 clips that source.csv leaves out
        let src: HashSet<String> = read("source.csv").into_iter().map(|r| r.fname).collect();
        all.iter().filter(|r| r.source == "esc50" && !src.contains(&r.fname)).map(|r| r.label.clone()).collect()
    };
    assert_eq!(esc10.len(), 10, "ESC-10 has ten classes: {esc10:?}");
    let esc10_f4 = recordings(all.iter().filter(|r| r.source == "esc50" && r.fold == "4" && esc10.contains(&r.label)));
    let esc50_f4 = recordings(all.iter().filter(|r| r.source == "esc50" && r.fold == "4"));
    let us8k_f9 = recordings(all.iter().filter(|r| r.source == "urbansound8k" && r.fold == "9"));
    // the manifests are worth having: without the filter these sources would leak
    let leaks = all.iter().filter(|r| r.source == "urbansound8k" && esc50_f4.contains(&r.recording())).count();
    assert!(leaks > 0, "no UrbanSound8K slice shares a recording with ESC-50 fold 4 any more: is the id parsing right?");
    let for_esc10 = assert_disjoint("pretrain-esc10.csv", &esc10_f4, "ESC-10 fold 4");
    let for_esc50 = assert_disjoint("pretrain-esc50.csv", &esc50_f4, "ESC-50 fold 4");
    let for_us8k = assert_disjoint("pretrain-us8k.csv", &us8k_f9, "UrbanSound8K fold 9");
    assert!(for_esc10.iter().all(|r| !(r.source == "esc50" && esc10.contains(&r.label))));
    assert!(for_esc50.iter().all(|r| r.source == "urbansound8k"));
    assert!(for_us8k.iter().all(|r| r.source == "esc50"));
}

#[test]
fn the_model_cards_clean_held_back_set_shares_no_recording_with_training() {
    let all = read("manifest.csv");
    let train = recordings(all.iter().filter(|r| r.split == "train"));
    let clean = assert_disjoint("val-clean.csv", &train, "the train split");
    assert!(clean.iter().all(|r| r.split == "val"));
    let held_back = all.iter().filter(|r| r.split == "val").count();
    assert!(clean.len() < held_back && clean.len() > held_back * 9 / 10, "{} of {held_back}", clean.len());
}
