//! The safetensors header, read by a streaming JSON visitor of our own before the `safetensors`
//! crate sees it: the crate reads the header into a map (a repeated key silently keeps the last
//! value) and allocates each shape in full, so a 22 MiB header holding one shape of 12 million
//! axes costs hundreds of MiB. Here a repeated key is an error, a shape stops at
//! [`MAX_RANK`] axes as it is read, and a shape whose element count overflows is refused
//! before any tensor is made. The visitor also keeps what the crate's map loses: the order of
//! the keys, and `__metadata__`.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The most axes a shape in a checkpoint may have. PyTorch allows at most 64 dimensions
/// (`torch.zeros([1] * 65)` fails); a longer shape in a file is corrupt or hostile.
pub const MAX_RANK: usize = 64;

/// The key under which the header holds free-form string metadata.
pub(crate) const METADATA_KEY: &str = "__metadata__";

/// One tensor's entry of the header.
#[derive(Debug)]
pub(crate) struct TensorEntry {
    pub(crate) name: String,
    /// The byte range in the data section, as written (checked by the crate on load).
    pub(crate) start: u64,
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

/// `Err` naming the key when `key` was seen before in the same object.
fn first_time<E: de::Error>(seen: &mut HashSet<String>, key: &str, within: &str) -> Result<(), E> {
    if seen.insert(key.to_string()) {
        Ok(())
    } else {
        Err(E::custom(format!("the key {} appears twice{within}", crate::error::Clipped(key))))
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
                let start = map.next_value_seed(TensorSeed(&name))?;
                header.tensors.push(TensorEntry { name, start });
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

/// One tensor's object: its shape, checked (see [`ShapeSeed`]), and where its bytes start, the
/// value. The dtype and the end offset are left to the crate, which checks them against the
/// bytes.
struct TensorSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for TensorSeed<'_> {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TensorSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tensor's {dtype, shape, data_offsets}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let name = crate::error::Clipped(self.0);
        let (mut shape, mut start, mut seen) = (None, None, HashSet::new());
        while let Some(key) = map.next_key::<String>()? {
            first_time(&mut seen, &key, &format!(" in tensor {name}"))?;
            match key.as_str() {
                "shape" => shape = Some(map.next_value_seed(ShapeSeed(self.0))?),
                "data_offsets" => start = Some(map.next_value::<[u64; 2]>()?[0]),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let missing = |what| A::Error::custom(format!("tensor {name} has no {what}"));
        shape.ok_or_else(|| missing("shape"))?;
        start.ok_or_else(|| missing("data_offsets"))
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
        let name = crate::error::Clipped(self.0);
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
