//! Checkpoints in the safetensors format (what PyTorch, candle and Hugging Face use): a
//! little-endian `u64` header length, a JSON header naming each tensor's dtype, shape and byte
//! range, then the raw bytes. Reading checks the header first (a key twice, more than
//! [`MAX_RANK`] axes or a shape whose size overflows is an `Err` before anything is allocated
//! for it), then that the byte ranges tile the data exactly, then converts the data.
//!
//! ```
//! use tapegrad::{checkpoint, Tensor};
//! let w = Tensor::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
//! let path = std::env::temp_dir().join("tapegrad-doc-checkpoint.safetensors");
//! checkpoint::save(&path, &[("layer1.weight", &w)])?;
//! let loaded = checkpoint::load(&path)?;
//! assert_eq!(loaded["layer1.weight"], w);
//! # Ok::<(), tapegrad::Error>(())
//! ```
//!
//! In Python: `safetensors.torch.load_file(path)` reads the file back as float64 tensors, and
//! files written by `safetensors.torch.save_file` in float64, float32, float16 or bfloat16
//! load here, converted to `f64` exactly.
//!
//! Order: [`save`] writes the tensors in the order given, and records that order in the
//! header's `__metadata__` (under `"tapegrad.order"`, a JSON list of the names), which
//! [`load_ordered`] gives back, so that a [`Params`](crate::Params) store built from a file
//! visits its parameters, and sums over them (`clip_grad_norm`), in the order of the run that
//! saved it. A file without that record (written by `safetensors.torch.save_file`, which sorts
//! by dtype and then by name, dropping the order of the `state_dict`) gives its tensors in
//! the order of their bytes in the file.
//!
//! Files: [`save`] replaces the file atomically and durably, follows symbolic links, and never
//! leaves a temporary file behind on Linux, even when the process is killed; [`load`] reads
//! regular files only, no more than their size. Details in `src/checkpoint/file.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::error::{Clipped, Error};
use crate::tensor::Tensor;

mod dtype;
mod file;
mod header;

pub use header::MAX_RANK;
use header::{Header, METADATA_KEY};

/// The `__metadata__` key under which [`save`] records the order of the tensors.
const ORDER_KEY: &str = "tapegrad.order";

/// The largest header the format allows (100 MB, the limit of the reference implementation);
/// a longer one is an `Err`, and [`save`] refuses to write one.
const MAX_HEADER_BYTES: usize = 100_000_000;

/// Writes `tensors` to `path` as F64, under their names and in their order (recorded in the
/// header, see the module docs), replacing the file atomically: a crash or a power loss leaves
/// the old file or the new one. A symbolic link is followed (its target is replaced); a new
/// file gets the mode `0o666` less the umask, a replaced one keeps its mode. `Err` when the
/// file cannot be written, a name is used twice, or a tensor is named `__metadata__` (the key
/// the format keeps for its metadata, which no reader would give back as a tensor).
///
/// ```
/// use tapegrad::{checkpoint, Tensor};
/// let path = std::env::temp_dir().join("tapegrad-doc-save.safetensors");
/// checkpoint::save(&path, &[("a", &Tensor::scalar(1.0)), ("b", &Tensor::zeros(&[0, 3]))])?;
/// assert!(checkpoint::save(&path, &[("a", &Tensor::scalar(1.0)), ("a", &Tensor::scalar(2.0))]).is_err());
/// assert!(checkpoint::save(&path, &[("__metadata__", &Tensor::scalar(1.0))]).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn save(path: impl AsRef<Path>, tensors: &[(&str, &Tensor)]) -> Result<(), Error> {
    let path = path.as_ref();
    let format = |message: String| Error::Format { path: path.to_path_buf(), message };
    let mut seen = HashSet::new();
    for &(name, _) in tensors {
        if name == METADATA_KEY {
            return Err(format(format!("a tensor cannot be named {name:?}: the format keeps that key for metadata")));
        }
        if !seen.insert(name) {
            return Err(format(format!("the name {} is used twice", Clipped(name))));
        }
    }
    let header = header_json(tensors).map_err(format)?;
    file::replace(path, |out| {
        out.write_all(&(header.len() as u64).to_le_bytes())?;
        out.write_all(&header)?;
        for (_, t) in tensors {
            for x in t.data() {
                out.write_all(&x.to_le_bytes())?;
            }
        }
        Ok(())
    })
    .map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

/// The JSON header of `tensors` as F64, laid out one after another in the order given, with
/// that order recorded in `__metadata__`; padded with spaces to a multiple of 8 bytes.
fn header_json(tensors: &[(&str, &Tensor)]) -> Result<Vec<u8>, String> {
    let names: Vec<&str> = tensors.iter().map(|(name, _)| *name).collect();
    let order = serde_json::to_string(&names).expect("strings serialise");
    let mut json = format!("{{{}:{{{}:{}}}", quoted(METADATA_KEY), quoted(ORDER_KEY), quoted(&order));
    let mut offset = 0u64;
    for (name, t) in tensors {
        let end = (t.numel() as u64).checked_mul(8).and_then(|bytes| offset.checked_add(bytes));
        let end = end.ok_or_else(|| format!("tensor {} is too large to write", Clipped(name)))?;
        json += &format!(
            ",{}:{{\"dtype\":\"F64\",\"shape\":{:?},\"data_offsets\":[{offset},{end}]}}",
            quoted(name),
            t.shape()
        );
        offset = end;
    }
    json.push('}');
    let mut bytes = json.into_bytes();
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    if bytes.len() > MAX_HEADER_BYTES {
        return Err(format!("the header would take {} bytes, over the format's {MAX_HEADER_BYTES}", bytes.len()));
    }
    Ok(bytes)
}

/// `s` as a JSON string.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// Reads every tensor of a safetensors file, by name (see [`load_ordered`] for their order).
/// F64, F32, F16 and BF16 are converted to `f64` exactly; any other dtype, and any file that
/// is not well-formed, is an `Err`: truncated, a bad header, a key twice, offsets outside the
/// data, a shape that disagrees with its bytes, has more than [`MAX_RANK`] axes or overflows,
/// an order record that does not list each tensor once. Only regular files are read (a FIFO
/// or a device such as `/dev/zero` is an `Err`, and never blocks), and no more than their
/// size: nothing is allocated beyond the file's own size.
///
/// ```
/// use tapegrad::checkpoint;
/// let path = std::env::temp_dir().join("tapegrad-doc-load-bad.safetensors");
/// std::fs::write(&path, b"\xff\xff\xff\xff\xff\xff\xff\x7f{}")?; // claims a 2^63-byte header
/// assert!(checkpoint::load(&path).is_err());
/// assert!(checkpoint::load("/dev/zero").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(path: impl AsRef<Path>) -> Result<BTreeMap<String, Tensor>, Error> {
    Ok(load_ordered(path)?.into_iter().collect())
}

/// Reads every tensor of a safetensors file, as [`load`], in the order they were saved: the
/// order [`save`] recorded, or for a file without that record the order of the tensors' bytes
/// in the file (what `safetensors.torch.save_file` writes is sorted by dtype, then by name).
///
/// ```
/// use tapegrad::{checkpoint, Tensor};
/// let path = std::env::temp_dir().join("tapegrad-doc-load-ordered.safetensors");
/// checkpoint::save(&path, &[("z", &Tensor::scalar(1.0)), ("a", &Tensor::scalar(2.0))])?;
/// let names: Vec<String> = checkpoint::load_ordered(&path)?.into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["z", "a"]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn load_ordered(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>, Error> {
    let path = path.as_ref();
    let buffer = file::read_regular(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let format = |message: String| Error::Format { path: path.to_path_buf(), message };
    let invalid =
        |message: String| format(format!("not a valid safetensors file: {}", crate::error::shorten(&message)));
    let (header, data) = read_header(&buffer).map_err(invalid)?;
    let dtypes = header.check_ranges(data.len() as u64).map_err(invalid)?;
    let mut out = Vec::with_capacity(header.tensors.len());
    for i in order(&header).map_err(format)? {
        let entry = &header.tensors[i];
        // In range: `check_ranges` saw the ranges tile `data`.
        let values = dtypes[i].decode(&data[entry.start as usize..entry.end as usize]);
        let tensor =
            Tensor::new(values, &entry.shape).map_err(|e| format(format!("tensor {}: {e}", Clipped(&entry.name))))?;
        out.push((entry.name.clone(), tensor));
    }
    Ok(out)
}

/// The header of a safetensors file held in `buffer`, parsed (see `header.rs`), and the data
/// after it.
fn read_header(buffer: &[u8]) -> Result<(Header, &[u8]), String> {
    let Some((length, rest)) = buffer.split_first_chunk::<8>() else {
        return Err(format!("{} bytes is too short for the header length", buffer.len()));
    };
    let length = u64::from_le_bytes(*length);
    match usize::try_from(length) {
        Ok(n) if n <= rest.len() && n <= MAX_HEADER_BYTES => Ok((header::parse(&rest[..n])?, &rest[n..])),
        _ => Err(format!("a header of {length} bytes does not fit in a file of {} bytes", buffer.len())),
    }
}

/// The header's tensors (their indices in `header.tensors`) in their saved order: the recorded
/// order when there is one (which must list every tensor once), else by where their bytes
/// start, ties (empty tensors) in the header's order.
fn order(header: &Header) -> Result<Vec<usize>, String> {
    let Some((_, recorded)) = header.metadata.iter().find(|(key, _)| key == ORDER_KEY) else {
        let mut order: Vec<usize> = (0..header.tensors.len()).collect();
        order.sort_by_key(|&i| header.tensors[i].start);
        return Ok(order);
    };
    let bad = |why: String| format!("__metadata__ {ORDER_KEY:?} {why}");
    let names: Vec<String> = serde_json::from_str(recorded).map_err(|_| bad("is not a JSON list of names".into()))?;
    // Each tensor by name, taken out of the map when listed: what is left was not listed.
    let mut unlisted: HashMap<&str, usize> =
        header.tensors.iter().enumerate().map(|(i, t)| (t.name.as_str(), i)).collect();
    let mut out = Vec::with_capacity(names.len());
    for name in &names {
        let Some(i) = unlisted.remove(name.as_str()) else {
            let listed = out.iter().any(|&i: &usize| header.tensors[i].name == *name);
            let why = if listed { " twice" } else { ", which the file lacks" };
            return Err(bad(format!("lists {}{why}", Clipped(name))));
        };
        out.push(i);
    }
    if let Some(name) = unlisted.keys().next() {
        return Err(bad(format!("does not list {}", Clipped(name))));
    }
    Ok(out)
}
