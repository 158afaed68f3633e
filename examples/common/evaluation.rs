//! What `evaluate` measures from a model's test-set probabilities: the confusion matrix,
//! per-class accuracy, and the mistakes made with the most confidence.

use nn::metrics::argmax;
use nn::Tensor;

/// Counts of (true class, predicted class) pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confusion {
    /// `counts[t][p]`: samples of true class `t` predicted as `p`.
    pub counts: Vec<Vec<usize>>,
}

impl Confusion {
    /// The matrix of `predicted` against `labels`, over `classes` classes.
    pub fn new(predicted: &[usize], labels: &[usize], classes: usize) -> Self {
        let mut counts = vec![vec![0; classes]; classes];
        for (&p, &t) in predicted.iter().zip(labels) {
            counts[t][p] += 1;
        }
        Confusion { counts }
    }

    /// Samples of class `t`.
    pub fn support(&self, t: usize) -> usize {
        self.counts[t].iter().sum()
    }

    /// The share of class `t`'s samples predicted as `t` (`None` when the class has none).
    pub fn class_accuracy(&self, t: usize) -> Option<f64> {
        let n = self.support(t);
        (n > 0).then(|| self.counts[t][t] as f64 / n as f64)
    }

    /// The share of all samples predicted correctly.
    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.counts.len()).map(|t| self.counts[t][t]).sum();
        let total: usize = (0..self.counts.len()).map(|t| self.support(t)).sum();
        correct as f64 / total.max(1) as f64
    }

    /// Per class: samples, correct and accuracy, one line each.
    pub fn per_class_table(&self) -> String {
        let mut out = String::from("class  samples  correct  accuracy\n");
        for t in 0..self.counts.len() {
            let accuracy = self
                .class_accuracy(t)
                .map_or("-".to_string(), |a| format!("{a:.4}"));
            out += &format!(
                "{t:>5}  {:>7}  {:>7}  {accuracy:>8}\n",
                self.support(t),
                self.counts[t][t]
            );
        }
        out
    }
}

/// A test sample the model got wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct Mistake {
    /// Its index in the test set.
    pub index: usize,
    /// Its label.
    pub label: usize,
    /// The class predicted.
    pub predicted: usize,
    /// The probability given to the predicted class.
    pub probability: f32,
}

/// The first row of `probabilities` (`[N, classes]`) holding a NaN or an infinity, and how many
/// rows do; `None` if every value is finite.
pub fn non_finite_rows(probabilities: &Tensor) -> Option<(usize, usize)> {
    let bad: Vec<usize> = probabilities
        .rows()
        .into_iter()
        .enumerate()
        .filter(|(_, row)| row.iter().any(|p| !p.is_finite()))
        .map(|(i, _)| i)
        .collect();
    bad.first().map(|&first| (first, bad.len()))
}

/// The predicted class of each row of `probabilities` (`[N, classes]`).
pub fn predicted_classes(probabilities: &Tensor) -> Vec<usize> {
    probabilities.rows().into_iter().map(argmax).collect()
}

/// Up to `n` misclassified samples, the most confidently wrong first (highest probability on the
/// wrong class predicted; the lower index first on ties).
pub fn worst_mistakes(probabilities: &Tensor, labels: &[usize], n: usize) -> Vec<Mistake> {
    let mut mistakes: Vec<Mistake> = probabilities
        .rows()
        .into_iter()
        .zip(labels)
        .enumerate()
        .filter_map(|(index, (row, &label))| {
            let predicted = argmax(row);
            (predicted != label).then(|| Mistake {
                index,
                label,
                predicted,
                probability: row[predicted],
            })
        })
        .collect();
    mistakes.sort_by(|a, b| {
        b.probability
            .total_cmp(&a.probability)
            .then(a.index.cmp(&b.index))
    });
    mistakes.truncate(n);
    mistakes
}
