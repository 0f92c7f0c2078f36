//! Per-value flags: the explicit missingness model every step carries forward.

use serde::{Deserialize, Serialize};

/// What is known about one cell of an assay matrix.
///
/// The flag, not the number, says whether a value exists. A cell flagged
/// [`ValueFlag::Missing`] has no value (its slot in the value matrix holds NaN as an
/// inert filler that no computation may read); a cell flagged
/// [`ValueFlag::Imputed`] holds a value that was filled in by a named method and stays
/// marked as such through every later step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum ValueFlag {
    /// Measured by the instrument and reported by the quantification tool.
    Observed = 0,
    /// Not reported (MaxQuant/FragPipe 0, empty DIA-NN cell, `NA`).
    Missing = 1,
    /// Filled in by an imputation method; the value is finite.
    Imputed = 2,
    /// Reported as below the limit of detection (e.g. qPCR Ct beyond the cycle cut-off).
    /// The value slot holds the detection limit when it is known, NaN otherwise.
    BelowDetection = 3,
    /// The feature is not in the file this sample came from: a layer read from several files
    /// (one per sequencing or MS batch) holds the union of their features, and a feature one
    /// file lacks has no value in that file's samples. Missing, for a different reason than
    /// [`ValueFlag::Missing`] (the tool saw the feature but reported nothing for the sample);
    /// never a 0.
    AbsentFromFile = 4,
}

impl ValueFlag {
    /// Every flag, in code order.
    pub const ALL: [ValueFlag; 5] = [
        ValueFlag::Observed,
        ValueFlag::Missing,
        ValueFlag::Imputed,
        ValueFlag::BelowDetection,
        ValueFlag::AbsentFromFile,
    ];

    /// The stable numeric code used in the on-disk flag matrix.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Decode a stored flag code.
    pub fn from_code(code: u8) -> Option<ValueFlag> {
        match code {
            0 => Some(ValueFlag::Observed),
            1 => Some(ValueFlag::Missing),
            2 => Some(ValueFlag::Imputed),
            3 => Some(ValueFlag::BelowDetection),
            4 => Some(ValueFlag::AbsentFromFile),
            _ => None,
        }
    }

    /// The lower-case name used in reports (`observed`, `missing`, `imputed`, `below_detection`,
    /// `absent_from_file`).
    pub fn name(self) -> &'static str {
        match self {
            ValueFlag::Observed => "observed",
            ValueFlag::Missing => "missing",
            ValueFlag::Imputed => "imputed",
            ValueFlag::BelowDetection => "below_detection",
            ValueFlag::AbsentFromFile => "absent_from_file",
        }
    }

    /// True when the cell carries a usable number (observed or imputed).
    #[inline]
    pub fn has_value(self) -> bool {
        matches!(self, ValueFlag::Observed | ValueFlag::Imputed)
    }

    /// True for the flags of a cell without a value that no method filled in: missing, and
    /// absent from the file the sample came from. Both hold NaN in the value matrix.
    #[inline]
    pub fn is_missing(self) -> bool {
        matches!(self, ValueFlag::Missing | ValueFlag::AbsentFromFile)
    }
}

/// Counts of each flag in a matrix or a slice of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagCounts {
    /// Cells flagged observed.
    pub observed: usize,
    /// Cells flagged missing.
    pub missing: usize,
    /// Cells flagged imputed.
    pub imputed: usize,
    /// Cells flagged below detection.
    pub below_detection: usize,
    /// Cells of a feature absent from the file the sample came from (layers read from
    /// several files); left out of serialized counts when there are none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub absent_from_file: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl FlagCounts {
    /// Count the flags of an iterator.
    pub fn count<'a>(flags: impl IntoIterator<Item = &'a ValueFlag>) -> FlagCounts {
        let mut c = FlagCounts::default();
        for f in flags {
            c.add(*f);
        }
        c
    }

    /// Count the flags of a slice: branch-free passes per flag (a layer's flags in an order
    /// no branch predictor follows cost a misprediction every few cells otherwise) over blocks
    /// of 255 cells, each counted in a byte (a block's count cannot exceed it), so the
    /// comparisons and sums run a vector register's width of cells at a time.
    pub fn count_slice(flags: &[ValueFlag]) -> FlagCounts {
        let mut n = [0usize; ValueFlag::ALL.len()];
        for block in flags.chunks(255) {
            for (total, f) in n.iter_mut().zip(ValueFlag::ALL) {
                let here = block
                    .iter()
                    .fold(0u8, |k, &g| k.wrapping_add(u8::from(g == f)));
                *total += usize::from(here);
            }
        }
        let of = |f: ValueFlag| n[f.code() as usize];
        FlagCounts {
            observed: of(ValueFlag::Observed),
            missing: of(ValueFlag::Missing),
            imputed: of(ValueFlag::Imputed),
            below_detection: of(ValueFlag::BelowDetection),
            absent_from_file: of(ValueFlag::AbsentFromFile),
        }
    }

    /// Add one flag to the counts.
    pub fn add(&mut self, f: ValueFlag) {
        match f {
            ValueFlag::Observed => self.observed += 1,
            ValueFlag::Missing => self.missing += 1,
            ValueFlag::Imputed => self.imputed += 1,
            ValueFlag::BelowDetection => self.below_detection += 1,
            ValueFlag::AbsentFromFile => self.absent_from_file += 1,
        }
    }

    /// Total number of cells counted.
    pub fn total(&self) -> usize {
        self.observed + self.missing + self.imputed + self.below_detection + self.absent_from_file
    }
}

/// Feature-level flags set by readers (decoys, contaminants, site-only identifications).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FeatureFlags(u8);

impl FeatureFlags {
    /// No flag set.
    pub const NONE: FeatureFlags = FeatureFlags(0);
    /// A reverse-sequence (decoy) hit, e.g. MaxQuant `Reverse == "+"`.
    pub const DECOY: FeatureFlags = FeatureFlags(1);
    /// A common contaminant, e.g. MaxQuant `Potential contaminant == "+"` or FragPipe `contam_`.
    pub const CONTAMINANT: FeatureFlags = FeatureFlags(2);
    /// MaxQuant `Only identified by site == "+"`.
    pub const ONLY_BY_SITE: FeatureFlags = FeatureFlags(4);

    /// The raw bits, as stored on disk.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Rebuild from stored bits; unknown bits are kept so nothing is lost.
    pub fn from_bits(bits: u8) -> FeatureFlags {
        FeatureFlags(bits)
    }

    /// True when every bit of `other` is set.
    pub fn contains(self, other: FeatureFlags) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Set the bits of `other`.
    pub fn insert(&mut self, other: FeatureFlags) {
        self.0 |= other.0;
    }

    /// True when no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Comma-separated names of the set flags (empty string when none).
    pub fn describe(self) -> String {
        let mut parts = Vec::new();
        if self.contains(FeatureFlags::DECOY) {
            parts.push("decoy");
        }
        if self.contains(FeatureFlags::CONTAMINANT) {
            parts.push("contaminant");
        }
        if self.contains(FeatureFlags::ONLY_BY_SITE) {
            parts.push("only_identified_by_site");
        }
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for f in ValueFlag::ALL {
            assert_eq!(ValueFlag::from_code(f.code()), Some(f));
        }
        assert_eq!(ValueFlag::from_code(9), None);
        assert_eq!(ValueFlag::AbsentFromFile.code(), 4);
        assert!(!ValueFlag::AbsentFromFile.has_value());
        assert!(ValueFlag::AbsentFromFile.is_missing());
        // Counts without absent cells serialize as before.
        let c = FlagCounts::count(&[ValueFlag::Observed]);
        let j = toml::to_string(&c).unwrap();
        assert!(!j.contains("absent"), "{j}");
        let c = FlagCounts::count(&[ValueFlag::AbsentFromFile]);
        assert_eq!((c.absent_from_file, c.total()), (1, 1));
    }

    #[test]
    fn feature_flags_compose() {
        let mut f = FeatureFlags::NONE;
        assert!(f.is_empty());
        f.insert(FeatureFlags::CONTAMINANT);
        assert!(f.contains(FeatureFlags::CONTAMINANT));
        assert!(!f.contains(FeatureFlags::DECOY));
        f.insert(FeatureFlags::DECOY);
        assert_eq!(f.describe(), "decoy,contaminant");
        assert_eq!(FeatureFlags::from_bits(f.bits()), f);
    }

    #[test]
    fn counts_add_up() {
        let v = [ValueFlag::Observed, ValueFlag::Missing, ValueFlag::Observed];
        let c = FlagCounts::count(&v);
        assert_eq!((c.observed, c.missing, c.total()), (2, 1, 3));
        // The slice count is the iterator count, for every flag.
        let many: Vec<ValueFlag> = (0..1000usize)
            .map(|i| ValueFlag::ALL[(i * 7 + i / 3) % 5])
            .collect();
        let c = FlagCounts::count_slice(&many);
        assert_eq!(c, FlagCounts::count(&many));
        // Blocks of one flag (a byte's count at its limit) and a partial last block.
        for len in [254, 255, 256, 510, 511, 1021] {
            let same = vec![ValueFlag::Imputed; len];
            assert_eq!(FlagCounts::count_slice(&same), FlagCounts::count(&same));
        }
        assert!(ValueFlag::ALL.iter().all(|&f| {
            let k = many.iter().filter(|&&g| g == f).count();
            k > 0
                && k == match f {
                    ValueFlag::Observed => c.observed,
                    ValueFlag::Missing => c.missing,
                    ValueFlag::Imputed => c.imputed,
                    ValueFlag::BelowDetection => c.below_detection,
                    ValueFlag::AbsentFromFile => c.absent_from_file,
                }
        }));
    }
}
