//! `exp` for the softmax and cross-entropy kernels: within 1 ulp of the C library's `exp` (the
//! tests check it on a dense sweep and at every edge), written as straight-line arithmetic so
//! that a loop over it vectorises. The C library's `exp` is an opaque call, one element at a
//! time; at the sizes of a language-model head (8M logits) it was most of the cross-entropy's
//! run time.
//!
//! Method (Cody and Waite): write `x = n ln2 + r` with integer `n` and `|r| <= ln2 / 2`, so that
//! `e^x = 2^n e^r`. `e^r` is its Taylor series to degree 13 (the first omitted term is below
//! 2^-56 of the result), and `2^n` is built from its exponent bits, in two halves so that results
//! in the subnormal range come out right.

/// `ln 2` split so that `n * LN2_HI` is exact for every `|n| < 2^11`: its low bits are zero.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// Adding and subtracting this rounds a double of magnitude below 2^51 to an integer (in the
/// current rounding mode, to nearest), without a call or a branch.
const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52

/// Above this `e^x` overflows to infinity; below `MIN_ARG` it rounds to zero.
const MAX_ARG: f64 = 709.8;
const MIN_ARG: f64 = -746.0;

/// `1/k!` for `k = 0..=13`.
const INV_FACTORIALS: [f64; 14] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// `e^x`, within 1 ulp of `f64::exp`; `exp(-inf) = 0`, `exp(inf) = inf`, `exp(NaN) = NaN`.
#[inline(always)]
pub(crate) fn exp(x: f64) -> f64 {
    // Clamping keeps n in range; values beyond the ends give 0 or inf through the scaling.
    // (`clamp` passes NaN through.)
    let x_clamped = x.clamp(MIN_ARG, MAX_ARG);
    let shifted = x_clamped * std::f64::consts::LOG2_E + ROUND;
    let n_float = shifted - ROUND;
    // The integer n sits in the low mantissa bits of `shifted` (whose ulp is 1): reading it
    // from the bits avoids a float-to-int conversion, which does not vectorise before AVX-512.
    // A NaN passes the clamp, and its bits are anything, sign included (x86's `inf - inf` sets
    // it): so the integer arithmetic on `n` wraps rather than overflowing (which would panic
    // in debug builds). For every finite or infinite `x`, `|n| <= 1077` and nothing wraps;
    // for a NaN, `n` is garbage but `p` below is NaN, and so is the result.
    let n = (shifted.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    let r = (x_clamped - n_float * LN2_HI) - n_float * LN2_LO;
    // Taylor series of e^r to degree 13 (1/k! coefficients). Horner's form alone is one chain
    // of 26 dependent multiplies and adds per element, and that chain's latency was what a
    // softmax over 262K elements spent its time on. So the small terms (degree 4 to 13) are
    // summed in Estrin's form (pairs of terms, then pairs of pairs with r^2, r^4, r^8: short
    // chains), and only the four largest in Horner's form, whose order of rounding keeps the
    // result within 1 ulp (Estrin's form throughout reached 2 ulps).
    let c = |k: usize| INV_FACTORIALS[k];
    let pair = |k: usize| c(k) + c(k + 1) * r;
    let (r2, r4) = (r * r, r * r * (r * r));
    let small = (pair(4) + pair(6) * r2) + (pair(8) + pair(10) * r2) * r4 + pair(12) * (r4 * r4);
    let p = c(0) + r * (c(1) + r * (c(2) + r * (c(3) + r * small)));
    // 2^n as two powers of two: each half stays a normal double even when 2^n is not.
    // (n + 2048 is positive, so a logical shift halves it; AVX2 has no arithmetic 64-bit shift.)
    let half = ((n.wrapping_add(2048) as u64) >> 1) as i64 - 1024;
    let rest = n.wrapping_sub(half);
    let pow2 = |k: i64| f64::from_bits((k.wrapping_add(1023) as u64) << 52);
    // Where the result rounds to zero (`x <= MIN_ARG`, `-inf` among them: a softmax's masked
    // entries) the second factor is zero itself: the product then never underflows, and an
    // underflow costs a microcode assist of ~100 cycles per element on x86 (it made a masked
    // softmax 3x slower). A select, so the loop still vectorises.
    let second = if x_clamped <= MIN_ARG { 0.0 } else { pow2(rest) };
    p * pow2(half) * second
}

#[cfg(test)]
mod tests {
    use super::exp;

    /// The distance in units in the last place between two doubles of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn within_one_ulp_of_the_c_library_on_a_dense_sweep() {
        let mut worst = 0;
        let mut x = -745.0;
        while x < 709.7 {
            worst = worst.max(ulps(exp(x), x.exp()));
            x += 0.000_731; // ~2 million points, not aligned with ln 2
        }
        assert!(worst <= 1, "worst error {worst} ulps");
    }

    #[test]
    fn within_one_ulp_near_zero_where_softmax_lives() {
        for i in -100_000..100_000 {
            let x = i as f64 * 1.3e-4;
            assert!(ulps(exp(x), x.exp()) <= 1, "x = {x}: {} vs {}", exp(x), x.exp());
        }
    }

    #[test]
    fn edges() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(-746.0), 0.0);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(710.0), f64::INFINITY);
        for nan in [f64::NAN, -f64::NAN, f64::from_bits(0xfff8_0000_0000_0000), f64::from_bits(0x7ff0_0000_0000_0001)] {
            assert!(exp(nan).is_nan(), "{:x}", nan.to_bits());
        }
        assert_eq!(exp(709.78), 709.78f64.exp());
        // Subnormal results.
        for x in [-708.5, -720.0, -740.0, -745.0] {
            assert!(ulps(exp(x), x.exp()) <= 1, "x = {x}: {:e} vs {:e}", exp(x), x.exp());
        }
    }
}
