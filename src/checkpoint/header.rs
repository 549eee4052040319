//! The safetensors header, read by a streaming JSON visitor: a repeated key is an error (a map
//! would silently keep the last value), a shape stops at [`MAX_RANK`] axes as it is read (a
//! 22 MiB header holding one shape of 12 million axes costs nothing), and a shape whose element
//! count overflows is refused before any tensor is made. The visitor keeps the order of the
//! keys and `__metadata__`. [`Header::check_ranges`] then checks the byte ranges against the
//! data.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::dtype::Dtype;
use crate::error::Clipped;

/// The most axes a shape in a checkpoint may have. PyTorch allows at most 64 dimensions
/// (`torch.zeros([1] * 65)` fails); a longer shape in a file is corrupt or hostile.
pub const MAX_RANK: usize = 64;

/// The key under which the header holds free-form string metadata.
pub(crate) const METADATA_KEY: &str = "__metadata__";

/// One tensor's entry of the header.
#[derive(Debug)]
pub(crate) struct TensorEntry {
    pub(crate) name: String,
    /// The dtype's name as written (only some are read: see [`Dtype::named`]).
    pub(crate) dtype: String,
    pub(crate) shape: Vec<usize>,
    /// The byte range `start..end` in the data section, as written (see
    /// [`Header::check_ranges`]).
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// The header: the tensors in the order of their keys, and `__metadata__`'s pairs.
#[derive(Debug, Default)]
pub(crate) struct Header {
    pub(crate) tensors: Vec<TensorEntry>,
    pub(crate) metadata: Vec<(String, String)>,
}

/// Parses the JSON header: an object whose keys are tensor names (each `{dtype, shape,
/// data_offsets}`) and, optionally, `__metadata__` (an object of strings). `Err` with a
/// message for a repeated key, a shape of more than [`MAX_RANK`] axes or one whose element
/// count overflows, and anything that is not such an object.
pub(crate) fn parse(json: &[u8]) -> Result<Header, String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let header = de.deserialize_map(HeaderVisitor).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(header)
}

impl Header {
    /// Checks that the tensors' byte ranges tile a data section of `data_len` bytes exactly (no
    /// gap, no overlap, nothing after the last), that each range holds its shape's elements of
    /// its dtype, and that the dtype is one tapegrad reads; returns each tensor's dtype, in the
    /// header's order.
    pub(crate) fn check_ranges(&self, data_len: u64) -> Result<Vec<Dtype>, String> {
        let mut dtypes = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            let name = Clipped(&t.name);
            let Some(dtype) = Dtype::named(&t.dtype) else {
                let dtype = Clipped(&t.dtype);
                return Err(format!("tensor {name} has dtype {dtype}; only F64, F32, F16 and BF16 can be read"));
            };
            // The shape's size was checked when it was read; in bytes it may still overflow.
            let bytes = (crate::tensor::shape::numel(&t.shape) as u64).checked_mul(dtype.size() as u64);
            if t.start > t.end || bytes != Some(t.end - t.start) {
                let (shape, start, end) = (&t.shape, t.start, t.end);
                return Err(format!("tensor {name}: {dtype:?} of shape {shape:?} does not fill bytes {start}..{end}"));
            }
            dtypes.push(dtype);
        }
        let mut ranges: Vec<(u64, u64)> = self.tensors.iter().map(|t| (t.start, t.end)).collect();
        ranges.sort_unstable();
        let mut next = 0;
        for (start, end) in ranges {
            if start != next {
                return Err(format!("the tensors' bytes leave a gap or overlap at byte {}", start.min(next)));
            }
            next = end;
        }
        if next != data_len {
            return Err(format!("the tensors take {next} bytes of data, the file holds {data_len}"));
        }
        Ok(dtypes)
    }
}

/// `Err` naming the key when `key` was seen before in the same object.
fn first_time<E: de::Error>(seen: &mut HashSet<String>, key: &str, within: &str) -> Result<(), E> {
    if seen.insert(key.to_string()) {
        Ok(())
    } else {
        Err(E::custom(format!("the key {} appears twice{within}", Clipped(key))))
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of tensors")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut header = Header::default();
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            first_time(&mut seen, &name, "")?;
            if name == METADATA_KEY {
                header.metadata = map.next_value_seed(MetadataSeed)?;
            } else {
                let (dtype, shape, [start, end]) = map.next_value_seed(TensorSeed(&name))?;
                header.tensors.push(TensorEntry { name, dtype, shape, start, end });
            }
        }
        Ok(header)
    }
}

/// `__metadata__`: string keys to string values, no key twice.
struct MetadataSeed;

impl<'de> DeserializeSeed<'de> for MetadataSeed {
    type Value = Vec<(String, String)>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MetadataSeed {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut pairs, mut seen) = (Vec::new(), HashSet::new());
        while let Some(key) = map.next_key::<String>()? {
            first_time(&mut seen, &key, " in __metadata__")?;
            pairs.push((key, map.next_value::<String>()?));
        }
        Ok(pairs)
    }
}

/// One tensor's object: its dtype, its shape, checked (see [`ShapeSeed`]), and its byte range.
struct TensorSeed<'a>(&'a str);

/// A tensor's dtype name, shape and `data_offsets`.
type TensorFields = (String, Vec<usize>, [u64; 2]);

impl<'de> DeserializeSeed<'de> for TensorSeed<'_> {
    type Value = TensorFields;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TensorSeed<'_> {
    type Value = TensorFields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tensor's {dtype, shape, data_offsets}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let name = Clipped(self.0);
        let (mut dtype, mut shape, mut offsets, mut seen) = (None, None, None, HashSet::new());
        while let Some(key) = map.next_key::<String>()? {
            first_time(&mut seen, &key, &format!(" in tensor {name}"))?;
            match key.as_str() {
                "dtype" => dtype = Some(map.next_value::<String>()?),
                "shape" => shape = Some(map.next_value_seed(ShapeSeed(self.0))?),
                "data_offsets" => offsets = Some(map.next_value::<[u64; 2]>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let missing = |what| A::Error::custom(format!("tensor {name} has no {what}"));
        Ok((
            dtype.ok_or_else(|| missing("dtype"))?,
            shape.ok_or_else(|| missing("shape"))?,
            offsets.ok_or_else(|| missing("data_offsets"))?,
        ))
    }
}

/// A shape: at most [`MAX_RANK`] sizes, read one at a time (nothing beyond that is kept),
/// whose non-zero sizes multiply without overflow (tapegrad's rule for a valid shape).
struct ShapeSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for ShapeSeed<'_> {
    type Value = Vec<usize>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ShapeSeed<'_> {
    type Value = Vec<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a shape: an array of sizes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<usize>, A::Error> {
        let name = Clipped(self.0);
        let mut shape = Vec::new();
        while let Some(size) = seq.next_element::<usize>()? {
            if shape.len() == MAX_RANK {
                return Err(A::Error::custom(format!("tensor {name} has more than {MAX_RANK} axes")));
            }
            shape.push(size);
        }
        if crate::tensor::shape::checked_numel(&shape).is_none() {
            return Err(A::Error::custom(format!("tensor {name} has shape {shape:?}, whose size overflows")));
        }
        Ok(shape)
    }
}
