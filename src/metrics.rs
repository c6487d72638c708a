//! Classification scores: accuracy, MAP@3 (the FSDKaggle2018 metric), per-class precision /
//! recall / F1, confusion matrix, cross-entropy. Probabilities are (N, K) row-major.

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

/// Scores of a set of predictions against single labels.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Scores {
    pub n: usize,
    pub accuracy: f64,
    /// Mean average precision at 3: 1, 1/2 or 1/3 when the label is ranked 1st, 2nd or 3rd.
    pub map3: f64,
    /// Mean cross-entropy of the true label.
    pub loss: f64,
    /// confusion[true][predicted]
    pub confusion: Vec<Vec<usize>>,
}

impl Scores {
    /// Scores (N, K) probabilities against `labels` (N).
    pub fn compute(probs: &[f32], labels: &[usize], k: usize) -> Scores {
        let mut s = Scores { n: labels.len(), confusion: vec![vec![0; k]; k], ..Default::default() };
        for (row, &y) in probs.chunks(k).zip(labels) {
            let r = ranked(row);
            s.confusion[y][r[0]] += 1;
            if r[0] == y {
                s.accuracy += 1.0;
            }
            if let Some(pos) = r.iter().take(3).position(|c| *c == y) {
                s.map3 += 1.0 / (pos + 1) as f64;
            }
            s.loss -= (row[y].max(1e-12) as f64).ln();
        }
        let n = s.n.max(1) as f64;
        s.accuracy /= n;
        s.map3 /= n;
        s.loss /= n;
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
        let _ = writeln!(o, "clips {}  accuracy {:.2} %  MAP@3 {:.4}  loss {:.4}", self.n, 100.0 * self.accuracy, self.map3, self.loss);
        let w = labels.iter().map(|l| l.len()).max().unwrap_or(5).clamp(5, 30);
        let _ = writeln!(o, "\n{:<w$}  precision  recall     F1  support", "class");
        for (c, l) in labels.iter().enumerate() {
            let (p, r, f, s) = self.per_class(c);
            let _ = writeln!(o, "{:<w$}  {:>9.3}  {:>6.3}  {:>5.3}  {:>7}", l, p, r, f, s);
        }
        let _ = writeln!(o, "\nconfusion matrix (rows: true class, columns: predicted, in label order)");
        for (c, row) in self.confusion.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:>4}")).collect();
            let _ = writeln!(o, "{:<w$} {}", labels[c], cells.join(""));
        }
        o
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
}
