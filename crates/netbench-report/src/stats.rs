//! The statistics of repeated samples (`--samples K`), pure and distribution-free.
//!
//! - [`median`] of the samples, the figure a pair's row and the matrix show.
//! - [`median_interval`]: a confidence interval for that median from order statistics. Network
//!   figures are skewed and few (3–10 samples), so no normal model is assumed and no random
//!   resampling is done: with `n` samples sorted, the interval `[x(k), x(n−k+1)]` holds the true
//!   median with probability `1 − 2·P(B ≤ k−1)`, `B ~ Binomial(n, ½)`, for any continuous
//!   distribution. The widest-`k` interval of at least 95 % is chosen. Below 6 samples no such
//!   interval exists (the min–max range covers only `1 − 2·½ⁿ`: 75 % for 3, 93.75 % for 5); the
//!   range is then given with its real coverage and [`MedianInterval::meets_target`] false,
//!   never passed off as a 95 % interval. A bootstrap was not chosen: with 3–5 samples it gives
//!   intervals narrower than the data can support, and its figures depend on a seed.
//! - [`mann_whitney`]: the two-sided Mann–Whitney U (Wilcoxon rank-sum) test of two sets of
//!   samples, for `compare`. Exact (the permutation distribution of the rank sum, ties at their
//!   mid-ranks, counted by dynamic programming) up to [`EXACT_MAX`] samples in all; above, the
//!   normal approximation with the tie correction and a continuity correction. The smallest
//!   p-value a size allows is [`min_p`]: 0.1 for 3 vs 3, so 3 samples a side can never be
//!   significant at 0.05; 4 vs 4 allows 0.029, 5 vs 5 0.008.

use serde::Serialize;
use std::cmp::Ordering;

/// The coverage a confidence interval is meant to reach.
pub const TARGET_COVERAGE: f64 = 0.95;
/// The significance level of [`mann_whitney`] in `compare`.
pub const ALPHA: f64 = 0.05;
/// Up to this many samples in all (both sides) [`mann_whitney`] is exact.
pub const EXACT_MAX: usize = 50;

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    v
}

/// The median; the mean of the middle two for an even count. `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    let v = sorted(values);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// `P(B ≤ k)` for `B ~ Binomial(n, ½)` (summed in log space: no overflow for large `n`).
pub fn binomial_half_cdf(n: usize, k: usize) -> f64 {
    let mut ln_pmf = -(n as f64) * std::f64::consts::LN_2;
    let mut sum = 0.0;
    for i in 0..=k.min(n) {
        sum += ln_pmf.exp();
        ln_pmf += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    sum.min(1.0)
}

/// A confidence interval for the median of some samples (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MedianInterval {
    pub low: f64,
    pub high: f64,
    /// The probability that the interval holds the true median: at least
    /// [`TARGET_COVERAGE`] when [`Self::meets_target`], else what the range really covers.
    pub coverage: f64,
    /// The 1-based ranks of `low` and `high` among the sorted samples.
    pub ranks: (usize, usize),
    /// How many samples it is built from.
    pub samples: usize,
    /// False below 6 samples: no 95 % interval exists, this is the min–max range.
    pub meets_target: bool,
}

/// The order-statistic interval for the median of `values` (`None` for no values).
pub fn median_interval(values: &[f64]) -> Option<MedianInterval> {
    let v = sorted(values);
    let n = v.len();
    if n == 0 {
        return None;
    }
    let coverage = |k: usize| 1.0 - 2.0 * binomial_half_cdf(n, k - 1);
    // The largest k (narrowest interval) whose coverage still reaches the target.
    let best = (1..=n.div_ceil(2))
        .take_while(|&k| coverage(k) >= TARGET_COVERAGE)
        .last();
    let (k, meets_target) = match best {
        Some(k) => (k, true),
        None => (1, false),
    };
    Some(MedianInterval {
        low: v[k - 1],
        high: v[n - k],
        coverage: coverage(k).max(0.0),
        ranks: (k, n - k + 1),
        samples: n,
        meets_target,
    })
}

/// How a p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The exact permutation distribution of the rank sum.
    Exact,
    /// The normal approximation with tie and continuity corrections.
    Normal,
}

/// The outcome of a two-sided Mann–Whitney U test of `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of `a`: how many (a, b) pairs have a > b, ties counting ½.
    pub u: f64,
    pub n_a: usize,
    pub n_b: usize,
    /// Two-sided p-value.
    pub p: f64,
    pub method: Method,
    /// The smallest p-value these sizes allow ([`min_p`]).
    pub min_p: f64,
}

impl MannWhitney {
    /// `Mann–Whitney U, exact, p = 0.029`.
    pub fn describe(&self) -> String {
        let how = match self.method {
            Method::Exact => "exact",
            Method::Normal => "normal approx.",
        };
        format!("Mann–Whitney U, {how}, {}", p_text(self.p))
    }
    /// Whether the test says the samples differ at [`ALPHA`].
    pub fn significant(&self) -> bool {
        self.p < ALPHA
    }
}

/// `p = 0.029`, `p < 0.001`.
pub fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p:.3}")
    }
}

/// `C(n, k)` as a float.
pub fn choose(n: usize, k: usize) -> f64 {
    let k = k.min(n - k.min(n));
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// The smallest two-sided p-value of the Mann–Whitney U test with `n_a` and `n_b` samples (no
/// ties): `2 / C(n_a + n_b, n_a)`.
pub fn min_p(n_a: usize, n_b: usize) -> f64 {
    (2.0 / choose(n_a + n_b, n_a)).min(1.0)
}

/// The mid-ranks of the pooled samples, doubled so that they are whole numbers, `a`'s first.
fn doubled_ranks(a: &[f64], b: &[f64]) -> (Vec<u64>, Vec<usize>) {
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let mut order: Vec<usize> = (0..pooled.len()).collect();
    order.sort_by(|&i, &j| pooled[i].partial_cmp(&pooled[j]).unwrap_or(Ordering::Equal));
    let mut ranks = vec![0u64; pooled.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && pooled[order[j + 1]] == pooled[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) share the mid-rank ((i+1) + (j+1)) / 2.
        for &o in &order[i..=j] {
            ranks[o] = (i + j + 2) as u64;
        }
        if j > i {
            ties.push(j - i + 1);
        }
        i = j + 1;
    }
    (ranks, ties)
}

/// The standard normal's two-sided tail `P(|Z| ≥ z)` (erfc, fractional error below 1.2e-7).
pub fn normal_two_sided(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    (t * poly.exp()).min(1.0)
}

/// The two-sided Mann–Whitney U test of `a` against `b` (`None` when a side is empty).
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let (n_a, n_b) = (a.len(), b.len());
    if n_a == 0 || n_b == 0 {
        return None;
    }
    let n = n_a + n_b;
    let (ranks, ties) = doubled_ranks(a, b);
    let r_a2: u64 = ranks[..n_a].iter().sum();
    let u = r_a2 as f64 / 2.0 - (n_a * (n_a + 1)) as f64 / 2.0;
    // Mean of the doubled rank sum: n_a (n + 1).
    let mean2 = (n_a * (n + 1)) as i64;
    let dist = (r_a2 as i64 - mean2).abs();
    let (p, method) = if n <= EXACT_MAX {
        // ways[j][s]: subsets of j of the scores seen so far with doubled sum s.
        let max_sum = n * (n + 1);
        let mut ways = vec![vec![0.0f64; max_sum + 1]; n_a + 1];
        ways[0][0] = 1.0;
        for &r in &ranks {
            let r = r as usize;
            for j in (1..=n_a).rev() {
                for s in (r..=max_sum).rev() {
                    let w = ways[j - 1][s - r];
                    if w != 0.0 {
                        ways[j][s] += w;
                    }
                }
            }
        }
        let total: f64 = ways[n_a].iter().sum();
        let extreme: f64 = ways[n_a]
            .iter()
            .enumerate()
            .filter(|(s, _)| (*s as i64 - mean2).abs() >= dist)
            .map(|(_, w)| w)
            .sum();
        ((extreme / total).min(1.0), Method::Exact)
    } else {
        let (na, nb, nf) = (n_a as f64, n_b as f64, n as f64);
        let tie_term: f64 = ties.iter().map(|&t| (t * t * t - t) as f64).sum();
        let var = na * nb / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
        let p = if var <= 0.0 {
            1.0
        } else {
            let z = ((u - na * nb / 2.0).abs() - 0.5).max(0.0) / var.sqrt();
            normal_two_sided(z)
        };
        (p, Method::Normal)
    };
    Some(MannWhitney {
        u,
        n_a,
        n_b,
        p,
        method,
        min_p: min_p(n_a, n_b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 10.0]), Some(3.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn binomial_half_cdf_matches_hand_counts() {
        // n = 5: C(5,0) + C(5,1) = 6 of 32.
        assert!(close(binomial_half_cdf(5, 1), 6.0 / 32.0, 1e-15));
        // n = 10, k = 1: 11 / 1024; n = 20, k = 5: 21700 / 2^20.
        assert!(close(binomial_half_cdf(10, 1), 11.0 / 1024.0, 1e-15));
        assert!(close(
            binomial_half_cdf(20, 5),
            21700.0 / 1_048_576.0,
            1e-14
        ));
        assert!(close(binomial_half_cdf(4, 4), 1.0, 1e-15));
    }

    #[test]
    fn below_six_samples_the_range_is_given_with_its_real_coverage() {
        let i = median_interval(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((i.low, i.high, i.ranks), (1.0, 3.0, (1, 3)));
        assert!(close(i.coverage, 0.75, 1e-12), "{}", i.coverage); // 1 - 2/8
        assert!(!i.meets_target);
        let i = median_interval(&[5.0, 4.0, 3.0, 2.0, 1.0]).unwrap();
        assert!(close(i.coverage, 0.9375, 1e-12)); // 1 - 2/32
        assert!(!i.meets_target);
        let one = median_interval(&[7.0]).unwrap();
        assert_eq!((one.low, one.high, one.coverage), (7.0, 7.0, 0.0));
    }

    #[test]
    fn from_six_samples_the_interval_reaches_95_percent() {
        // n = 6: only [x1, x6] reaches 95 %: 1 - 2/64 = 0.96875.
        let i = median_interval(&[6.0, 2.0, 4.0, 1.0, 5.0, 3.0]).unwrap();
        assert_eq!((i.low, i.high, i.ranks), (1.0, 6.0, (1, 6)));
        assert!(close(i.coverage, 0.96875, 1e-12));
        assert!(i.meets_target);
        // n = 10: [x2, x9], 1 - 2·11/1024 = 0.978515625 ([x3, x8] would be 0.890625).
        let v: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let i = median_interval(&v).unwrap();
        assert_eq!((i.low, i.high, i.ranks), (2.0, 9.0, (2, 9)));
        assert!(close(i.coverage, 0.978_515_625, 1e-12));
        // n = 20: [x6, x15], 1 - 2·21700/2^20 ≈ 0.9586 (the textbook table's ranks).
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let i = median_interval(&v).unwrap();
        assert_eq!(i.ranks, (6, 15));
        assert_eq!((i.low, i.high), (6.0, 15.0));
        assert!(close(i.coverage, 1.0 - 2.0 * 21700.0 / 1_048_576.0, 1e-12));
    }

    #[test]
    fn mann_whitney_exact_p_matches_hand_counts() {
        // Complete separation 4 vs 4: 2 of C(8,4) = 70 orderings are as extreme.
        let t = mann_whitney(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]).unwrap();
        assert_eq!((t.u, t.method), (0.0, Method::Exact));
        assert!(close(t.p, 2.0 / 70.0, 1e-12), "{}", t.p);
        assert!(t.significant());
        assert_eq!(t.describe(), "Mann–Whitney U, exact, p = 0.029");
        // 3 vs 3 can never go below 2/20 = 0.1.
        let t = mann_whitney(&[10.0, 11.0, 12.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(t.u, 9.0);
        assert!(close(t.p, 0.1, 1e-12));
        assert!(!t.significant());
        assert!(close(min_p(3, 3), 0.1, 1e-12));
        assert!(close(min_p(4, 4), 2.0 / 70.0, 1e-12));
        assert!(close(min_p(5, 5), 2.0 / 252.0, 1e-12));
        // [1,2,4] vs [3,5,6]: U = 1 (only 4 > 3); P(U ≤ 1) = 2/20, two-sided 4/20 = 0.2.
        let t = mann_whitney(&[1.0, 2.0, 4.0], &[3.0, 5.0, 6.0]).unwrap();
        assert_eq!(t.u, 1.0);
        assert!(close(t.p, 0.2, 1e-12), "{}", t.p);
        // Identical samples: nothing to see.
        let t = mann_whitney(&[2.0, 2.0, 2.0], &[2.0, 2.0, 2.0]).unwrap();
        assert!(close(t.p, 1.0, 1e-12));
    }

    #[test]
    fn mann_whitney_exact_with_ties_uses_mid_ranks() {
        // a = [1, 2, 2], b = [2, 3, 4]: pooled ranks 1, 3, 3, 3, 5, 6; R_a = 7, U = 1.
        // Of the 20 ways to pick 3 ranks, sums ≤ 7 are {1,3,3} ×3 = 7: 3 ways; the mirror
        // sums ≥ 14 are {3,5,6} ×3: 3 ways. p = 6/20 = 0.3.
        let t = mann_whitney(&[1.0, 2.0, 2.0], &[2.0, 3.0, 4.0]).unwrap();
        assert_eq!(t.u, 1.0);
        assert!(close(t.p, 0.3, 1e-12), "{}", t.p);
    }

    #[test]
    fn normal_tail_matches_the_table() {
        assert!(close(normal_two_sided(0.0), 1.0, 1e-6));
        assert!(close(normal_two_sided(1.959_964), 0.05, 1e-6));
        assert!(close(normal_two_sided(2.575_829), 0.01, 1e-6));
    }

    #[test]
    fn mann_whitney_normal_approximation_for_many_samples() {
        // 30 vs 30, a = 1..=30, b = 31..=60: U = 0, mean 450, variance 30·30·61/12 = 4575.
        // z = (450 - 0.5) / sqrt(4575) = 6.6455…: p ≈ 3.0e-11.
        let a: Vec<f64> = (1..=30).map(f64::from).collect();
        let b: Vec<f64> = (31..=60).map(f64::from).collect();
        let t = mann_whitney(&a, &b).unwrap();
        assert_eq!((t.u, t.method), (0.0, Method::Normal));
        let z = 449.5 / 4575f64.sqrt();
        assert!(close(t.p, normal_two_sided(z), 1e-18));
        assert!(t.p < 1e-10 && t.p > 1e-11, "{}", t.p);
        // Interleaved: a = odd, b = even 1..=60: U_a = 435, |U - 450| - 0.5 = 14.5,
        // z = 14.5 / sqrt(4575) = 0.2144, p ≈ 0.830.
        let a: Vec<f64> = (0..30).map(|i| f64::from(2 * i + 1)).collect();
        let b: Vec<f64> = (0..30).map(|i| f64::from(2 * i + 2)).collect();
        let t = mann_whitney(&a, &b).unwrap();
        assert_eq!(t.u, 435.0);
        assert!(close(t.p, 0.830, 0.001), "{}", t.p);
        // Ties shrink the variance: 30 values of 1 and 30 of 2, split 20/10 vs 10/20.
        // Two tie groups of 30: Σ(t³ - t) = 2·26970 = 53940; var = 75·(61 - 53940/3540)
        // = 75·45.7627 = 3432.2. a has 20 ones (mid-rank 15.5) and 10 twos (45.5):
        // R_a = 310 + 455 = 765, U_a = 765 - 465 = 300; z = (150 - 0.5) / sqrt(3432.2)
        // = 2.5518, p ≈ 0.0107 (without the tie correction it would be 0.0148).
        let a: Vec<f64> = [1.0; 20].iter().chain(&[2.0; 10]).copied().collect();
        let b: Vec<f64> = [1.0; 10].iter().chain(&[2.0; 20]).copied().collect();
        let t = mann_whitney(&a, &b).unwrap();
        assert_eq!(t.u, 300.0);
        let var = 75.0 * (61.0 - 53940.0 / 3540.0);
        assert!(close(t.p, normal_two_sided(149.5 / f64::sqrt(var)), 1e-15));
        assert!(close(t.p, 0.0107, 0.0005), "{}", t.p);
    }
}
