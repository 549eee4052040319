//! The element types a checkpoint may hold that tapegrad reads, and their exact conversion to
//! `f64`: every F64, F32, F16 and BF16 value (subnormals, infinities, NaN payloads, signed
//! zeros) has an `f64` that is the same number.

/// An element type tapegrad reads, by its name in the safetensors header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dtype {
    F64,
    F32,
    F16,
    BF16,
}

impl Dtype {
    /// The dtype named `name` in a header (`"F64"`, `"F32"`, `"F16"`, `"BF16"`), or `None` for
    /// any other (the format also has integer, boolean and 8-bit float types, which are not
    /// parameters tapegrad can train).
    pub(crate) fn named(name: &str) -> Option<Dtype> {
        match name {
            "F64" => Some(Dtype::F64),
            "F32" => Some(Dtype::F32),
            "F16" => Some(Dtype::F16),
            "BF16" => Some(Dtype::BF16),
            _ => None,
        }
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Dtype::F64 => 8,
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }

    /// `bytes` (little-endian elements of this dtype, a whole number of them) as `f64`s.
    pub(crate) fn decode(self, bytes: &[u8]) -> Vec<f64> {
        match self {
            Dtype::F64 => bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect(),
            Dtype::F32 => bytes.chunks_exact(4).map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap()))).collect(),
            Dtype::F16 => bytes.chunks_exact(2).map(|b| f16_to_f64(u16::from_le_bytes([b[0], b[1]]))).collect(),
            Dtype::BF16 => bytes.chunks_exact(2).map(|b| bf16_to_f64(u16::from_le_bytes([b[0], b[1]]))).collect(),
        }
    }
}

/// IEEE half precision (1 sign bit, 5 exponent bits biased by 15, 10 fraction bits) as `f64`.
/// Every half is `f * 2^(e - 25)` for an integer `f < 2^11` (with the implicit leading one for
/// normal numbers), a product `f64` holds exactly.
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 == 0 { 1.0 } else { -1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = bits & 0x3ff;
    match exponent {
        // Subnormal (and zero): 0.fraction x 2^-14.
        0 => sign * f64::from(fraction) * 2f64.powi(-24),
        31 if fraction == 0 => sign * f64::INFINITY,
        // NaN: keep the sign and the payload, as a widening conversion does (the payload's
        // top bit is the quiet bit in both formats).
        31 => f64::from_bits((u64::from(bits & 0x8000) << 48) | (0x7ff << 52) | (u64::from(fraction) << 42)),
        _ => sign * f64::from(0x400 | fraction) * 2f64.powi(exponent - 25),
    }
}

/// bfloat16 is the top half of an `f32`'s bits.
fn bf16_to_f64(bits: u16) -> f64 {
    f64::from(f32::from_bits(u32::from(bits) << 16))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every one of the 65,536 halves against the widening `f32` conversion of the same bits,
    /// rebuilt field by field (an `f32` holds every half exactly).
    #[test]
    fn every_half_converts_exactly() {
        for bits in 0..=u16::MAX {
            let (sign, exponent, fraction) =
                (u32::from(bits >> 15), u32::from((bits >> 10) & 0x1f), u32::from(bits & 0x3ff));
            let single = match exponent {
                0 => f32::from(fraction as u16) * 2f32.powi(-24) * if sign == 1 { -1.0 } else { 1.0 },
                31 => f32::from_bits(sign << 31 | 0xff << 23 | fraction << 13),
                _ => f32::from_bits(sign << 31 | (exponent + 127 - 15) << 23 | fraction << 13),
            };
            let got = f16_to_f64(bits);
            if single.is_nan() {
                assert!(got.is_nan() && got.is_sign_negative() == single.is_sign_negative(), "{bits:#06x}");
                assert_eq!(got.to_bits() & ((1 << 52) - 1), u64::from(fraction) << 42, "{bits:#06x}");
            } else {
                assert_eq!(got.to_bits(), f64::from(single).to_bits(), "{bits:#06x}");
            }
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0x7bff), 65504.0);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(f16_to_f64(0x8000).to_bits(), (-0.0f64).to_bits());
        assert_eq!(f16_to_f64(0xfc00), f64::NEG_INFINITY);
        assert_eq!(bf16_to_f64(0x3f80), 1.0);
        assert_eq!(bf16_to_f64(0x4049), 3.140625);
        assert!(bf16_to_f64(0x7fc0).is_nan());
    }
}
