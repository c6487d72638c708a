//! SpecAugment-style filter (frequency) masking, made on the host: per example, zero a few
//! bands of adjacent filters of the normalised filterbank output. The masks are (B, F) 0/1
//! factors applied on the device by `Device::filter_mask_forward` (see `Model::set_filter_mask`).
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Filter-masking settings (`--filter-mask P:MASKS:WIDTH`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterMaskConfig {
    /// Probability that an example is masked at all.
    pub p: f32,
    /// A masked example gets 1..=max_masks bands (uniform).
    pub max_masks: usize,
    /// Each band is 1..=max_width filters wide (uniform; at most F), at a uniform start.
    pub max_width: usize,
}

impl FilterMaskConfig {
    /// Checks the settings; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.p) {
            return Err(format!("filter mask probability must be in [0, 1], got {}", self.p));
        }
        if self.max_masks == 0 || self.max_width == 0 {
            return Err(format!(
                "filter mask counts must be >= 1, got {} mask(s) of width {}",
                self.max_masks, self.max_width
            ));
        }
        Ok(())
    }
}

impl FromStr for FilterMaskConfig {
    type Err = String;
    /// Parses `P:MASKS:WIDTH`, e.g. `0.5:2:8`.
    fn from_str(s: &str) -> Result<FilterMaskConfig, String> {
        let expected = "expected P:MASKS:WIDTH, e.g. 0.5:2:8 (probability in [0, 1], masks >= 1, width >= 1)";
        let parts: Vec<&str> = s.split(':').collect();
        let [p, m, w] = parts.as_slice() else {
            return Err(format!("`{s}`: {expected}"));
        };
        let cfg = FilterMaskConfig {
            p: p.trim().parse().map_err(|_| format!("`{s}`: `{p}` is not a probability; {expected}"))?,
            max_masks: m.trim().parse().map_err(|_| format!("`{s}`: `{m}` is not a mask count; {expected}"))?,
            max_width: w.trim().parse().map_err(|_| format!("`{s}`: `{w}` is not a width; {expected}"))?,
        };
        cfg.validate().map_err(|e| format!("`{s}`: {e}; {expected}"))?;
        Ok(cfg)
    }
}

/// The masked bands of each of `b` examples over `f` filters: (start, width) pairs, possibly
/// overlapping, with 1 <= width <= min(max_width, F) and start + width <= F. Deterministic
/// from `seed` (rand's StdRng seeded with it).
pub fn filter_bands(b: usize, f: usize, seed: u32, cfg: &FilterMaskConfig) -> Vec<Vec<(usize, usize)>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(seed));
    let max_w = cfg.max_width.min(f);
    (0..b)
        .map(|_| {
            // one draw per example whatever p, so examples do not shift each other's masks
            let masked = rng.random::<f32>() < cfg.p;
            if !masked || max_w == 0 || cfg.max_masks == 0 {
                return Vec::new();
            }
            let n = rng.random_range(1..=cfg.max_masks);
            (0..n)
                .map(|_| {
                    let w = rng.random_range(1..=max_w);
                    let start = rng.random_range(0..=f - w);
                    (start, w)
                })
                .collect()
        })
        .collect()
}

/// Filter masks (B, F) of 0 (masked) and 1 (kept), row-major, from `filter_bands`.
pub fn filter_masks(b: usize, f: usize, seed: u32, cfg: &FilterMaskConfig) -> Vec<f32> {
    let mut mask = vec![1.0f32; b * f];
    for (row, bands) in mask.chunks_mut(f.max(1)).zip(filter_bands(b, f, seed, cfg)) {
        for (start, w) in bands {
            row[start..start + w].fill(0.0);
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(p: f32, max_masks: usize, max_width: usize) -> FilterMaskConfig {
        FilterMaskConfig { p, max_masks, max_width }
    }

    #[test]
    fn masks_respect_count_and_width_bounds() {
        let (b, f) = (200, 40);
        let c = cfg(1.0, 3, 7);
        let bands = filter_bands(b, f, 11, &c);
        let mask = filter_masks(b, f, 11, &c);
        assert_eq!(mask.len(), b * f);
        for (row, bands) in mask.chunks(f).zip(&bands) {
            assert!((1..=3).contains(&bands.len()), "p = 1 masks every example with 1..=3 bands: {bands:?}");
            for &(s, w) in bands {
                assert!((1..=7).contains(&w) && s + w <= f, "band ({s}, {w})");
            }
            // the mask is exactly the union of the bands, and only 0 / 1
            for (i, &v) in row.iter().enumerate() {
                let inside = bands.iter().any(|&(s, w)| (s..s + w).contains(&i));
                assert_eq!(v, if inside { 0.0 } else { 1.0 });
            }
            let zeros = row.iter().filter(|v| **v == 0.0).count();
            assert!((1..=21).contains(&zeros));
        }
        // every band count and width is reached
        let counts: std::collections::BTreeSet<usize> = bands.iter().map(|b| b.len()).collect();
        let widths: std::collections::BTreeSet<usize> = bands.iter().flatten().map(|b| b.1).collect();
        assert_eq!(counts.into_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(widths.into_iter().collect::<Vec<_>>(), (1..=7).collect::<Vec<_>>());
    }

    #[test]
    fn width_is_capped_at_the_filter_count() {
        let mask = filter_masks(20, 3, 5, &cfg(1.0, 2, 50));
        assert!(mask.iter().all(|v| *v == 0.0 || *v == 1.0));
        assert!(mask.chunks(3).all(|r| r.contains(&0.0)));
    }

    #[test]
    fn probability_decides_how_many_examples_are_masked() {
        let (b, f) = (2000, 16);
        assert!(filter_masks(b, f, 1, &cfg(0.0, 2, 4)).iter().all(|v| *v == 1.0), "p = 0 masks nothing");
        let m = filter_masks(b, f, 1, &cfg(0.5, 2, 4));
        let masked = m.chunks(f).filter(|r| r.contains(&0.0)).count() as f32 / b as f32;
        assert!((masked - 0.5).abs() < 0.05, "masked fraction {masked}");
    }

    #[test]
    fn masks_are_deterministic_per_seed_and_differ_across_seeds() {
        let c = cfg(0.8, 2, 8);
        assert_eq!(filter_masks(16, 64, 42, &c), filter_masks(16, 64, 42, &c));
        assert_ne!(filter_masks(16, 64, 42, &c), filter_masks(16, 64, 43, &c));
    }

    #[test]
    fn parses_p_masks_width_and_explains_the_format() {
        assert_eq!("0.5:2:8".parse::<FilterMaskConfig>(), Ok(cfg(0.5, 2, 8)));
        for bad in ["0.5:2", "x:2:8", "0.5:two:8", "1.5:2:8", "0.5:0:8", "0.5:2:0", "0.5:2:8:1", ""] {
            let e = bad.parse::<FilterMaskConfig>().unwrap_err();
            assert!(e.contains("P:MASKS:WIDTH"), "{bad}: {e}");
        }
    }
}
