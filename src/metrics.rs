//! Classification scores: accuracy, MAP@3 (the FSDKaggle2018 metric), macro mean average
//! precision (mAP) and lwlrap (the FSDKaggle2019 metric) for multi-label sets, per-class
//! precision / recall / F1 / AP, confusion matrix, the loss. Probabilities are (N, K)
//! row-major; each clip has a set of true labels (one for single-label sets).
use crate::model::Loss;

/// Probabilities (N, K) from logits (N, K) the way the model was trained: a softmax per row
/// for [`Loss::Softmax`], an independent sigmoid per class for [`Loss::Sigmoid`]. Every
/// consumer of model outputs (validation, `eval`, `tag`) goes through this.
pub fn probabilities(logits: &[f32], k: usize, loss: Loss) -> Vec<f32> {
    match loss {
        Loss::Softmax => softmax_rows(logits, k),
        Loss::Sigmoid => logits.iter().map(|&z| crate::cpu::sigmoid_bce::sigmoid(z)).collect(),
    }
}

/// Softmax of each row of `logits` (N, K), computed stably.
pub fn softmax_rows(logits: &[f32], k: usize) -> Vec<f32> {
    let mut p = logits.to_vec();
    for row in p.chunks_mut(k) {
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let s: f32 = row.iter_mut().map(|v| {
            *v = (*v - m).exp();
            *v
        }).sum();
        row.iter_mut().for_each(|v| *v /= s);
    }
    p
}

/// Class indices of a row sorted by decreasing probability (ties: lower index first).
pub fn ranked(row: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    idx.sort_by(|a, b| row[*b].total_cmp(&row[*a]).then(a.cmp(b)));
    idx
}

/// Scores of a set of predictions against their labels.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Scores {
    pub n: usize,
    /// Fraction of clips whose top-ranked class is one of their labels.
    pub accuracy: f64,
    /// Mean average precision at 3: 1, 1/2 or 1/3 when the first of the clip's labels is
    /// ranked 1st, 2nd or 3rd, else 0.
    pub map3: f64,
    /// Macro mean average precision (mAP): the mean over classes with at least one clip of
    /// the average precision of ranking all clips by that class's probability.
    pub mean_ap: f64,
    /// Label-weighted label-ranking average precision (lwlrap, FSDKaggle2019): the mean over
    /// every (clip, true label) pair of the fraction of the clip's labels among the classes
    /// ranked at or above that label. Single-label: the mean reciprocal rank.
    pub lwlrap: f64,
    /// Mean loss of the model's kind: softmax cross-entropy of the true labels (averaged over
    /// a clip's labels), or binary cross-entropy summed over classes.
    pub loss: f64,
    /// Average precision of each class (`None`: no clip has the class).
    pub class_ap: Vec<Option<f64>>,
    /// confusion[true][predicted] (top-1; a clip with several labels counts on the label it
    /// got right, else on its first label).
    pub confusion: Vec<Vec<usize>>,
}

impl Scores {
    /// Scores (N, K) softmax probabilities against single `labels` (N).
    pub fn compute(probs: &[f32], labels: &[usize], k: usize) -> Scores {
        let sets: Vec<Vec<usize>> = labels.iter().map(|&l| vec![l]).collect();
        Scores::compute_sets(probs, &sets, k, Loss::Softmax)
    }

    /// Scores (N, K) probabilities (from [`probabilities`] with `loss`) against label sets
    /// `truth` (N; each non-empty, the first label being the clip's main one).
    pub fn compute_sets(probs: &[f32], truth: &[Vec<usize>], k: usize, loss: Loss) -> Scores {
        let mut s = Scores { n: truth.len(), confusion: vec![vec![0; k]; k], ..Default::default() };
        for (row, set) in probs.chunks(k).zip(truth) {
            let r = ranked(row);
            let hit = set.contains(&r[0]);
            s.confusion[if hit { r[0] } else { set[0] }][r[0]] += 1;
            if hit {
                s.accuracy += 1.0;
            }
            if let Some(pos) = r.iter().take(3).position(|c| set.contains(c)) {
                s.map3 += 1.0 / (pos + 1) as f64;
            }
            s.loss += match loss {
                Loss::Softmax => -set.iter().map(|&c| (row[c].max(1e-12) as f64).ln()).sum::<f64>() / set.len() as f64,
                Loss::Sigmoid => -(0..k)
                    .map(|c| {
                        let p = (row[c] as f64).clamp(1e-12, 1.0 - 1e-12);
                        if set.contains(&c) { p.ln() } else { (1.0 - p).ln() }
                    })
                    .sum::<f64>(),
            };
        }
        let n = s.n.max(1) as f64;
        s.accuracy /= n;
        s.map3 /= n;
        s.loss /= n;
        s.class_ap = (0..k)
            .map(|c| {
                let scores: Vec<f32> = probs.chunks(k).map(|row| row[c]).collect();
                let positive: Vec<bool> = truth.iter().map(|set| set.contains(&c)).collect();
                average_precision(&scores, &positive)
            })
            .collect();
        let aps: Vec<f64> = s.class_ap.iter().flatten().copied().collect();
        s.mean_ap = if aps.is_empty() { 0.0 } else { aps.iter().sum::<f64>() / aps.len() as f64 };
        s.lwlrap = lwlrap(probs, truth, k);
        s
    }

    /// (precision, recall, F1, support) of class `c`.
    pub fn per_class(&self, c: usize) -> (f64, f64, f64, usize) {
        let tp = self.confusion[c][c] as f64;
        let support: usize = self.confusion[c].iter().sum();
        let predicted: usize = self.confusion.iter().map(|r| r[c]).sum();
        let p = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
        let r = if support > 0 { tp / support as f64 } else { 0.0 };
        let f1 = if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
        (p, r, f1, support)
    }

    /// A readable report: overall scores, per-class table and confusion matrix.
    pub fn report(&self, labels: &[String]) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "clips {}  accuracy {:.2} %  MAP@3 {:.4}  mAP {:.4}  lwlrap {:.4}  loss {:.4}",
            self.n,
            100.0 * self.accuracy,
            self.map3,
            self.mean_ap,
            self.lwlrap,
            self.loss
        );
        let w = labels.iter().map(|l| l.len()).max().unwrap_or(5).clamp(5, 30);
        let _ = writeln!(o, "\n{:<w$}  precision  recall     F1     AP  support", "class");
        for (c, l) in labels.iter().enumerate() {
            let (p, r, f, s) = self.per_class(c);
            let ap = match self.class_ap.get(c).copied().flatten() {
                Some(a) => format!("{a:.3}"),
                None => "-".into(),
            };
            let _ = writeln!(o, "{:<w$}  {:>9.3}  {:>6.3}  {:>5.3}  {:>5}  {:>7}", l, p, r, f, ap, s);
        }
        let _ = writeln!(o, "\nconfusion matrix (rows: true class, columns: predicted, in label order)");
        for (c, row) in self.confusion.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:>4}")).collect();
            let _ = writeln!(o, "{:<w$} {}", labels[c], cells.join(""));
        }
        o
    }
}

/// Average precision of ranking `scores` (N) against `positive` (N): the mean over positives
/// of the precision among the items ranked at or above it (ties broken by order, first
/// first). `None` when nothing is positive.
pub fn average_precision(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let total = positive.iter().filter(|p| **p).count();
    if total == 0 {
        return None;
    }
    let order = ranked(scores);
    let (mut hits, mut sum) = (0usize, 0.0f64);
    for (rank, &i) in order.iter().enumerate() {
        if positive[i] {
            hits += 1;
            sum += hits as f64 / (rank + 1) as f64;
        }
    }
    Some(sum / total as f64)
}

/// Label-weighted label-ranking average precision of (N, K) `probs` against label sets
/// `truth` (N): for each clip and each of its labels c, the number of the clip's labels ranked
/// at or above c divided by c's rank; averaged over all (clip, label) pairs (so each class
/// weighs by how often it occurs). 0 when there are no labels.
pub fn lwlrap(probs: &[f32], truth: &[Vec<usize>], k: usize) -> f64 {
    let (mut sum, mut pairs) = (0.0f64, 0usize);
    for (row, set) in probs.chunks(k).zip(truth) {
        let r = ranked(row);
        let mut hits = 0usize;
        for (rank, c) in r.iter().enumerate() {
            if set.contains(c) {
                hits += 1;
                sum += hits as f64 / (rank + 1) as f64;
                pairs += 1;
            }
        }
    }
    if pairs == 0 {
        0.0
    } else {
        sum / pairs as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map3_counts_rank_positions() {
        // three clips: label ranked 1st, 2nd, 4th
        let probs = [0.7, 0.2, 0.1, 0.0, /**/ 0.5, 0.3, 0.15, 0.05, /**/ 0.4, 0.3, 0.2, 0.1];
        let s = Scores::compute(&probs, &[0, 1, 3], 4);
        assert!((s.map3 - (1.0 + 0.5 + 0.0) / 3.0).abs() < 1e-12);
        assert!((s.accuracy - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.confusion[1][0], 1);
        let (p, r, _, support) = s.per_class(0);
        assert_eq!((support, r), (1, 1.0));
        assert!((p - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn softmax_rows_sum_to_one_and_survive_large_logits() {
        let p = softmax_rows(&[1000.0, 999.0, -5.0, 0.0, 0.0, 0.0], 3);
        for row in p.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        assert!(p[0] > p[1] && p[1] > p[2]);
    }

    /// Four clips, three classes, one clip with two labels; every figure worked by hand.
    #[test]
    fn map_and_lwlrap_match_hand_computed_values() {
        let probs = [
            0.9, 0.06, 0.04, // labels {0}
            0.6, 0.3, 0.1, //   labels {1}
            0.2, 0.5, 0.3, //   labels {1, 2}
            0.1, 0.2, 0.7, //   labels {0}
        ];
        let truth = vec![vec![0], vec![1], vec![1, 2], vec![0]];
        let s = Scores::compute_sets(&probs, &truth, 3, Loss::Sigmoid);
        // class 0 ranks clips 0+, 1, 2, 3+: AP = (1/1 + 2/4) / 2 = 0.75
        // class 1 ranks clips 2+, 1+, 3, 0: AP = (1/1 + 2/2) / 2 = 1
        // class 2 ranks clips 3, 2+, 1, 0: AP = 1/2
        let ap = [0.75, 1.0, 0.5];
        for (c, want) in ap.iter().enumerate() {
            assert!((s.class_ap[c].unwrap() - want).abs() < 1e-12, "class {c}: {:?}", s.class_ap[c]);
        }
        assert!((s.mean_ap - 0.75).abs() < 1e-12, "mAP {}", s.mean_ap);
        // pairs: clip 0 label 0 at rank 1 -> 1; clip 1 label 1 at rank 2 -> 1/2; clip 2 labels 1
        // and 2 at ranks 1, 2 -> 1, 2/2; clip 3 label 0 at rank 3 -> 1/3. Mean of five pairs.
        let want = (1.0 + 0.5 + 1.0 + 1.0 + 1.0 / 3.0) / 5.0;
        assert!((s.lwlrap - want).abs() < 1e-12, "lwlrap {} != {want}", s.lwlrap);
        // top-1 in the set for clips 0 and 2; MAP@3 (1 + 1/2 + 1 + 1/3) / 4
        assert!((s.accuracy - 0.5).abs() < 1e-12);
        assert!((s.map3 - (1.0 + 0.5 + 1.0 + 1.0 / 3.0) / 4.0).abs() < 1e-12);
        // clip 2 was right on label 1; clip 3 (label 0) predicted 2
        assert_eq!(s.confusion[1][1], 1);
        assert_eq!(s.confusion[0][2], 1);
        // sigmoid loss: binary cross-entropy summed over classes, e.g. clip 0:
        // -ln 0.9 - ln 0.94 - ln 0.96
        let row_loss = |p: [f64; 3], t: [bool; 3]| -> f64 {
            p.iter().zip(t).map(|(p, t)| if t { -p.ln() } else { -(1.0 - p).ln() }).sum()
        };
        let want_loss = (row_loss([0.9, 0.06, 0.04], [true, false, false])
            + row_loss([0.6, 0.3, 0.1], [false, true, false])
            + row_loss([0.2, 0.5, 0.3], [false, true, true])
            + row_loss([0.1, 0.2, 0.7], [true, false, false]))
            / 4.0;
        assert!((s.loss - want_loss).abs() < 1e-6, "loss {} != {want_loss}", s.loss);
    }

    #[test]
    fn single_label_lwlrap_is_the_mean_reciprocal_rank_and_absent_classes_have_no_ap() {
        let probs = [0.7, 0.2, 0.1, /**/ 0.5, 0.3, 0.2, /**/ 0.2, 0.3, 0.5];
        let s = Scores::compute(&probs, &[0, 1, 1], 3);
        assert!((s.lwlrap - (1.0 + 0.5 + 0.5) / 3.0).abs() < 1e-12);
        assert_eq!(s.class_ap[2], None);
        // class 0: clips ranked 0+, 1, 2: AP 1; class 1: 2+, 1+, 0: AP 1
        assert!((s.mean_ap - 1.0).abs() < 1e-12);
    }

    #[test]
    fn probabilities_follow_the_loss() {
        let z = [2.0, -1.0, 0.0, 100.0, -100.0, 0.0];
        let soft = probabilities(&z, 3, Loss::Softmax);
        assert!((soft[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let sig = probabilities(&z, 3, Loss::Sigmoid);
        assert!((sig[0] - 1.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-7);
        assert_eq!(sig[2], 0.5);
        assert!(sig[3] == 1.0 && sig[4] >= 0.0 && sig[4] < 1e-40, "{sig:?}");
    }
}
