//! Checkpoints in the safetensors format (what PyTorch, candle and Hugging Face use): a
//! little-endian `u64` header length, a JSON header naming each tensor's dtype, shape and byte
//! range, then the raw bytes. Reading and validation are the `safetensors` crate's.
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

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};

use crate::error::Error;
use crate::tensor::Tensor;

/// Writes `tensors` to `path` as F64, under their names, replacing the file atomically. `Err`
/// when the file cannot be written, or when a name is used twice.
///
/// ```
/// use tapegrad::{checkpoint, Tensor};
/// let path = std::env::temp_dir().join("tapegrad-doc-save.safetensors");
/// checkpoint::save(&path, &[("a", &Tensor::scalar(1.0)), ("b", &Tensor::zeros(&[0, 3]))])?;
/// assert!(checkpoint::save(&path, &[("a", &Tensor::scalar(1.0)), ("a", &Tensor::scalar(2.0))]).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn save(path: impl AsRef<Path>, tensors: &[(&str, &Tensor)]) -> Result<(), Error> {
    let path = path.as_ref();
    let format = |message: String| Error::Format { path: path.to_path_buf(), message };
    let mut seen = HashSet::new();
    if let Some((name, _)) = tensors.iter().find(|(name, _)| !seen.insert(*name)) {
        return Err(format(format!("the name {name:?} is used twice")));
    }
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|(_, t)| t.data().iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, t), b) in tensors.iter().zip(&bytes) {
        let view = safetensors::tensor::TensorView::new(Dtype::F64, t.shape().to_vec(), b)
            .map_err(|e| format(format!("tensor {name:?}: {e}")))?;
        views.push((*name, view));
    }
    // Written to a temporary file beside `path` and renamed over it, so that a crash while
    // saving never leaves a half-written checkpoint where the last good one was.
    safetensors::serialize_to_file(views, None, path).map_err(|e| match e {
        safetensors::SafeTensorError::IoError(source) => Error::Io { path: path.to_path_buf(), source },
        other => format(other.to_string()),
    })
}

/// Reads every tensor of a safetensors file, by name. F64, F32, F16 and BF16 are converted to
/// `f64` exactly; any other dtype, and any file that is not well-formed (truncated, a bad
/// header, offsets outside the data, a shape that disagrees with its bytes or overflows), is
/// an `Err`. Nothing is allocated beyond the file's own size.
///
/// ```
/// use tapegrad::checkpoint;
/// let path = std::env::temp_dir().join("tapegrad-doc-load-bad.safetensors");
/// std::fs::write(&path, b"\xff\xff\xff\xff\xff\xff\xff\x7f{}")?; // claims a 2^63-byte header
/// assert!(checkpoint::load(&path).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(path: impl AsRef<Path>) -> Result<BTreeMap<String, Tensor>, Error> {
    let path = path.as_ref();
    let buffer = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let format = |message: String| Error::Format { path: path.to_path_buf(), message };
    // `deserialize` checks the header length, the JSON, that the byte ranges tile the data
    // exactly and that each shape's size (overflow-checked) matches its range.
    let file = SafeTensors::deserialize(&buffer).map_err(|e| format(format!("not a valid safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in file.iter() {
        // A zero-size axis makes any other sizes pass the crate's checks; refuse shapes whose
        // non-zero sizes overflow all the same, so that no index arithmetic on them can wrap.
        let sizes = view.shape().iter().filter(|&&d| d != 0);
        if sizes.copied().try_fold(1usize, usize::checked_mul).is_none() {
            return Err(format(format!("tensor {name:?} has shape {:?}, whose size overflows", view.shape())));
        }
        let bytes = view.data();
        let data: Vec<f64> = match view.dtype() {
            Dtype::F64 => bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect(),
            Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64).collect(),
            Dtype::F16 => bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f64()).collect(),
            Dtype::BF16 => bytes.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f64()).collect(),
            other => {
                return Err(format(format!(
                    "tensor {name:?} has dtype {other:?}; only F64, F32, F16 and BF16 can be read"
                )));
            }
        };
        let tensor = Tensor::new(data, view.shape()).map_err(|e| format(format!("tensor {name:?}: {e}")))?;
        out.insert(name.to_string(), tensor);
    }
    Ok(out)
}
