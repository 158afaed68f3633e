//! [`CsvTable`]: a CSV file of numbers with a header row, read with the `csv` crate, from which
//! feature and target columns are chosen by name to make a [`Dataset`].

use super::dataset::Dataset;
use super::DataError;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A table of finite numbers read from CSV: a header row naming the columns, then one row per
/// sample. Every cell must be a number: a cell that is not (`NA`, `Adelie`), an empty cell, NaN,
/// an infinity, a number too large for `f32`, or a row with more or fewer cells than the header
/// is an error naming the file, the line and the column.
///
/// ```
/// use nn_core::data::{CsvTable, DataSource, TargetKind};
/// let table = CsvTable::parse("pets.csv", "weight,height,kind\n4.5,25,0\n30,60,1\n5,23,0\n")?;
/// let data = table.classification("kind", &[])?; // features: every other column
/// assert_eq!((data.len(), data.input_shape(), data.target_kind()), (3, &[2][..], TargetKind::Classes(2)));
/// let regression = table.regression(&["weight"], &["height"])?;
/// assert_eq!(regression.target_values(), Some(&[4.5, 30.0, 5.0][..]));
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CsvTable {
    path: PathBuf,
    columns: Vec<String>,
    /// Row after row.
    values: Vec<f32>,
    /// Each row's line in the file (a quoted cell may span lines).
    lines: Vec<u64>,
}

impl CsvTable {
    /// Reads the CSV file at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::io("reading", path, e))?;
        Self::from_reader(path, file)
    }

    /// Reads CSV `text`; `name` stands for the file in messages.
    pub fn parse(name: impl AsRef<Path>, text: &str) -> Result<Self> {
        Self::from_reader(name.as_ref(), text.as_bytes())
    }

    fn from_reader(path: &Path, reader: impl Read) -> Result<Self> {
        let fail = |line: u64, column: Option<&str>, problem: String| -> Error {
            DataError::Csv {
                path: path.to_path_buf(),
                line,
                column: column.map(str::to_string),
                problem,
            }
            .into()
        };
        let mut reader = ::csv::ReaderBuilder::new()
            .trim(::csv::Trim::All)
            .from_reader(reader);
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| fail(1, None, csv_problem(&e)))?
            .iter()
            .map(str::to_string)
            .collect();
        if columns.is_empty() || columns.iter().all(String::is_empty) {
            return Err(fail(
                0,
                None,
                "no header row; fix: start the file with the columns' names".into(),
            ));
        }
        if let Some((i, name)) = columns
            .iter()
            .enumerate()
            .find(|(i, c)| columns[..*i].contains(c))
        {
            let problem = format!(
                "the name `{name}` heads two columns (the second is column {}); fix: rename one",
                i + 1
            );
            return Err(fail(1, None, problem));
        }
        let (mut values, mut lines) = (Vec::new(), Vec::new());
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                fail(line, None, csv_problem(&e))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            for (cell, column) in record.iter().zip(&columns) {
                values.push(number(cell).map_err(|problem| fail(line, Some(column), problem))?);
            }
            lines.push(line);
        }
        Ok(CsvTable {
            path: path.to_path_buf(),
            columns,
            values,
            lines,
        })
    }

    /// The columns' names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The number of rows (samples), the header not counted.
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    /// The file the table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The values of the column called `name`, top to bottom.
    pub fn column(&self, name: &str) -> Result<Vec<f32>> {
        let j = self.index(name)?;
        Ok(self
            .values
            .iter()
            .skip(j)
            .step_by(self.columns.len())
            .copied()
            .collect())
    }

    /// A classifier's dataset: `target`'s cells are class indices (whole numbers from 0; the
    /// class count is the largest plus one), the `features` columns (every other column when
    /// empty) the inputs.
    pub fn classification(&self, target: &str, features: &[&str]) -> Result<Dataset> {
        let t = self.index(target)?;
        let mut labels = Vec::with_capacity(self.rows());
        for (&v, &line) in self.column(target)?.iter().zip(&self.lines) {
            if v < 0.0 || v.fract() != 0.0 || v > u32::MAX as f32 {
                return Err(self.cell_error(
                    line,
                    t,
                    format!(
                        "`{v}` is not a class index; fix: number the classes 0, 1, 2, ... in the \
                         target column, or train a regression on it"
                    ),
                ));
            }
            labels.push(v as usize);
        }
        let classes = labels.iter().max().map_or(0, |&m| m + 1);
        let features = self.features(features, &[t])?;
        Dataset::from_tensor(self.select(&features), labels, classes)
    }

    /// A regression's dataset: the `targets` columns are the value targets (`[N, targets.len()]`),
    /// the `features` columns (every other column when empty) the inputs.
    pub fn regression(&self, targets: &[&str], features: &[&str]) -> Result<Dataset> {
        if targets.is_empty() {
            return Err(self.file_error("no target column given; fix: name at least one".into()));
        }
        let t: Vec<usize> = targets
            .iter()
            .map(|name| self.index(name))
            .collect::<Result<_>>()?;
        let features = self.features(features, &t)?;
        Dataset::from_tensors(self.select(&features), self.select(&t))
    }

    /// The feature columns: those named, or every column but `targets` when none is; never a
    /// target column.
    fn features(&self, names: &[&str], targets: &[usize]) -> Result<Vec<usize>> {
        let chosen: Vec<usize> = if names.is_empty() {
            (0..self.columns.len()).filter(|j| !targets.contains(j)).collect()
        } else {
            names.iter().map(|name| self.index(name)).collect::<Result<_>>()?
        };
        if let Some(&j) = chosen.iter().find(|j| targets.contains(j)) {
            let problem = format!(
                "`{}` is both a feature and a target; fix: leave it out of the features",
                self.columns[j]
            );
            return Err(self.file_error(problem));
        }
        if chosen.is_empty() {
            return Err(self.file_error("no feature column is left besides the targets".into()));
        }
        Ok(chosen)
    }

    /// The columns `indices` of every row, as `[rows, indices.len()]`.
    fn select(&self, indices: &[usize]) -> Tensor {
        let width = self.columns.len();
        Tensor::from_shape_fn(vec![self.rows(), indices.len()], |i| {
            self.values[i[0] * width + indices[i[1]]]
        })
    }

    fn index(&self, name: &str) -> Result<usize> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            self.file_error(format!(
                "no column is called `{name}`; the columns are {}",
                self.columns.join(", ")
            ))
        })
    }

    fn file_error(&self, problem: String) -> Error {
        DataError::Csv {
            path: self.path.clone(),
            line: 0,
            column: None,
            problem,
        }
        .into()
    }

    fn cell_error(&self, line: u64, column: usize, problem: String) -> Error {
        DataError::Csv {
            path: self.path.clone(),
            line,
            column: Some(self.columns[column].clone()),
            problem,
        }
        .into()
    }
}

/// A cell as a finite `f32`, or what is wrong with it.
fn number(cell: &str) -> std::result::Result<f32, String> {
    if cell.is_empty() {
        return Err(
            "missing value (an empty cell); fix: fill in or drop the rows with missing values".into(),
        );
    }
    match cell.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!(
            "`{cell}` is not a finite number (NaN, an infinity, or beyond f32's range); fix: \
             remove or replace it"
        )),
        Err(_) => Err(format!(
            "`{cell}` is not a number; fix: encode text columns as numbers (e.g. classes as \
             0, 1, 2), or leave the column out of the features"
        )),
    }
}

/// What the `csv` crate found wrong with a row or the file.
fn csv_problem(e: &::csv::Error) -> String {
    match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "a row of {len} cells where the header has {expected_len}; fix: give every row one \
             cell per column"
        ),
        ::csv::ErrorKind::Utf8 { .. } => "the text is not UTF-8; fix: save the file as UTF-8".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataSource, TargetKind};

    fn err(text: &str) -> String {
        CsvTable::parse("t.csv", text).unwrap_err().to_string()
    }

    #[test]
    fn reads_numbers_and_chooses_columns_by_name() {
        let t = CsvTable::parse("t.csv", "a, b ,y\n1,2,0\n3,4.5,1\n-1e3,6,2\n").unwrap();
        assert_eq!(t.columns(), ["a", "b", "y"]);
        assert_eq!(t.rows(), 3);
        let c = t.classification("y", &[]).unwrap();
        assert_eq!(c.target_kind(), TargetKind::Classes(3));
        assert_eq!(c.features().unwrap(), &[1.0, 2.0, 3.0, 4.5, -1000.0, 6.0]);
        let r = t.regression(&["a", "b"], &["y"]).unwrap();
        assert_eq!(r.target_kind(), TargetKind::Values(&[2]));
        assert_eq!(r.features().unwrap(), &[0.0, 1.0, 2.0]);
        let one = t.classification("y", &["b"]).unwrap();
        assert_eq!(one.input_shape(), &[1]);
    }

    #[test]
    fn every_bad_cell_is_named_by_file_line_and_column() {
        assert_eq!(
            err("a,b\n1,2\n3,NA\n"),
            "t.csv, line 3, column b: `NA` is not a number; fix: encode text columns as numbers \
             (e.g. classes as 0, 1, 2), or leave the column out of the features"
        );
        assert!(err("a,b\n1,\n").starts_with("t.csv, line 2, column b: missing value"));
        assert!(err("a,b\n1,2\n3,4\nnan,0\n")
            .starts_with("t.csv, line 4, column a: `nan` is not a finite number"));
        assert!(err("a,b\ninf,0\n").contains("`inf` is not a finite number"));
        assert!(err("a,b\n1e39,0\n").contains("`1e39` is not a finite number"));
        assert_eq!(
            err("a,b\n1,2\n3,4,5\n"),
            "t.csv, line 3: a row of 3 cells where the header has 2; fix: give every row one cell per column"
        );
        assert!(err("a,b\n1\n").starts_with("t.csv, line 2: a row of 1 cells"));
        assert!(err("a,a\n1,2\n").contains("the name `a` heads two columns"));
        assert!(err("").contains("no header row"));
    }

    #[test]
    fn targets_and_columns_are_checked() {
        let t = CsvTable::parse("t.csv", "a,y\n1,0\n2,1.5\n").unwrap();
        assert_eq!(
            t.classification("y", &[]).unwrap_err().to_string(),
            "t.csv, line 3, column y: `1.5` is not a class index; fix: number the classes 0, 1, 2, \
             ... in the target column, or train a regression on it"
        );
        assert!(t.regression(&["y"], &[]).is_ok());
        let e = t.regression(&["z"], &[]).unwrap_err().to_string();
        assert_eq!(e, "t.csv: no column is called `z`; the columns are a, y");
        assert!(t
            .regression(&["y"], &["y"])
            .unwrap_err()
            .to_string()
            .contains("both a feature and a target"));
        assert!(t
            .regression(&["a", "y"], &[])
            .unwrap_err()
            .to_string()
            .contains("no feature column"));
        let e = CsvTable::read("/nonexistent/t.csv").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/t.csv"), "{e}");
    }
}
