//! A bit-for-bit reproduction of part of CPython 3.11's `random` module.
//!
//! Many tutorials written in Python initialise their model weights with
//! something like
//!
//! ```python
//! import random
//! random.seed(42)
//! w = [[random.gauss(0, 0.1) for _ in range(n_in)] for _ in range(n_out)]
//! ```
//!
//! To get exactly the same numbers in tapegrad (so that losses, gradients
//! and trained weights can be compared with the tutorial's printed output),
//! we need the very same pseudo-random stream. [`PyRandom`] provides that: it
//! seeds an MT19937 generator the way `random.seed(int)` does and derives
//! `random()`, `uniform()` and `gauss()` from it using CPython's formulas,
//! including the cached second value of `gauss()`.
//!
//! The Mersenne Twister itself comes from the [`rand_mt`] crate.

use rand_mt::Mt;

/// 2^-53, the scale CPython uses to turn 53 random bits into an `f64`.
const TWO_POW_MINUS_53: f64 = 1.0 / 9_007_199_254_740_992.0;

/// A random number generator that reproduces CPython 3.11's `random` module.
///
/// Supported are `random.seed(n)` for non-negative integers `n` that fit in a
/// `u64`, `random.random()`, `random.uniform(a, b)` and
/// `random.gauss(mu, sigma)`. For the same seed and the same sequence of
/// calls, every output is bit-identical to CPython's.
///
/// # Example
///
/// ```
/// use tapegrad_seed::pyrandom::PyRandom;
///
/// // Python: random.seed(42); random.random(); random.random()
/// let mut rng = PyRandom::new(42);
/// assert_eq!(rng.random(), 0.6394267984578837);
/// assert_eq!(rng.random(), 0.025010755222666936);
///
/// // Python: random.seed(42); [random.gauss(0, 0.1) for _ in range(4)]
/// rng.seed(42);
/// assert_eq!(
///     rng.gauss_vec(4, 0.0, 0.1),
///     vec![
///         -0.014409032957792837,
///         -0.01729036003315193,
///         -0.011131586156766246,
///         0.07019837250988631,
///     ]
/// );
/// ```
#[derive(Clone, Debug)]
pub struct PyRandom {
    /// The underlying MT19937 generator.
    mt: Mt,
    /// The second normal deviate produced by the last `gauss()` call that
    /// computed a pair, like CPython's `Random.gauss_next`.
    gauss_next: Option<f64>,
}

impl PyRandom {
    /// Creates a generator seeded like Python's `random.seed(seed)`.
    pub fn new(seed: u64) -> Self {
        PyRandom { mt: Mt::new_with_key(Self::key(seed)), gauss_next: None }
    }

    /// Re-seeds the generator like Python's `random.seed(seed)`.
    ///
    /// This also discards any cached `gauss()` value, as CPython does.
    pub fn seed(&mut self, seed: u64) {
        self.mt.reseed_with_key(Self::key(seed));
        self.gauss_next = None;
    }

    /// The `init_by_array` key CPython builds for an integer seed: its
    /// absolute value split into 32-bit words, least significant first,
    /// with at least one word (so `0` gives `[0]`).
    fn key(seed: u64) -> Vec<u32> {
        let low = seed as u32;
        let high = (seed >> 32) as u32;
        if high == 0 { vec![low] } else { vec![low, high] }
    }

    /// Returns the next float in `[0, 1)`, like Python's `random.random()`.
    ///
    /// Uses 53 random bits taken from two 32-bit outputs, as CPython does.
    pub fn random(&mut self) -> f64 {
        let a = self.mt.next_u32() >> 5;
        let b = self.mt.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) * TWO_POW_MINUS_53
    }

    /// Returns `a + (b - a) * random()`, like Python's `random.uniform(a, b)`.
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.random()
    }

    /// Returns a normal deviate with mean `mu` and standard deviation
    /// `sigma`, like Python's `random.gauss(mu, sigma)`.
    ///
    /// Deviates are produced in pairs (Box-Muller); the second of each pair
    /// is cached and returned by the next call, exactly as in CPython 3.11.
    pub fn gauss(&mut self, mu: f64, sigma: f64) -> f64 {
        let z = match self.gauss_next.take() {
            Some(z) => z,
            None => {
                let x2pi = self.random() * std::f64::consts::TAU;
                let g2rad = (-2.0 * (1.0 - self.random()).ln()).sqrt();
                self.gauss_next = Some(x2pi.sin() * g2rad);
                x2pi.cos() * g2rad
            }
        };
        mu + z * sigma
    }

    /// Returns `n` successive `gauss(mu, sigma)` draws, in order.
    ///
    /// For a row-major matrix this matches a Python list comprehension that
    /// draws row by row, e.g.
    /// `[[random.gauss(mu, sigma) for _ in range(cols)] for _ in range(rows)]`
    /// with `n = rows * cols`.
    pub fn gauss_vec(&mut self, n: usize, mu: f64, sigma: f64) -> Vec<f64> {
        (0..n).map(|_| self.gauss(mu, sigma)).collect()
    }
}
