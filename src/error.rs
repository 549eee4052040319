//! The error type for bad data that comes from outside the program.
//!
//! Graphs that cannot be built (shapes that do not broadcast, an axis out of range, ...) are
//! programming mistakes and panic at the caller's line instead; see the crate docs.

use std::fmt;

/// Bad data from outside: a buffer whose length does not match its shape, a file that cannot
/// be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `Tensor::new` (or `Tensor::reshape`) got a number of elements that is not the product
    /// of the shape.
    LengthMismatch {
        /// What was being built, e.g. `"Tensor::new"`.
        op: &'static str,
        /// The number of elements given.
        len: usize,
        /// The shape asked for.
        shape: Vec<usize>,
    },
    /// A shape whose element count does not fit in `usize` (the product of its non-zero sizes
    /// overflows), so no buffer could hold it and no index into it could be trusted.
    ShapeOverflow {
        /// What was being built, e.g. `"Tensor::new"`.
        op: &'static str,
        /// The shape asked for.
        shape: Vec<usize>,
    },
    /// The memory for a tensor could not be allocated: more than `isize::MAX` bytes, or more
    /// than the system would give.
    AllocationFailed {
        /// What was being built, e.g. `"Tensor::zeros"`.
        op: &'static str,
        /// The shape asked for.
        shape: Vec<usize>,
        /// The bytes asked for (as `u128`, since it may not fit in `usize`).
        bytes: u128,
    },
    /// A number that should be an index (a whole number, at least 0, that fits in `usize`) is
    /// not one: converting an `f64` tensor to [`Indices`](crate::Indices).
    NotAnIndex {
        /// What was being built, e.g. `"Indices::try_from"`.
        op: &'static str,
        /// The number.
        value: f64,
        /// Its position in the tensor.
        position: Vec<usize>,
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// A file could not be read or written.
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file was read but its contents are not what was expected.
    Format {
        /// The file (or other source).
        path: std::path::PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LengthMismatch { op, len, shape } => {
                let verb = if *len == 1 { "does" } else { "do" };
                write!(f, "{op}: {} {verb} not fill shape {shape:?}", elements(*len))?;
                match crate::tensor::shape::checked_numel(shape) {
                    Some(n) => write!(f, " ({})", elements(n)),
                    None => write!(f, " ({})", crate::tensor::shape::OVERFLOWS),
                }
            }
            Error::ShapeOverflow { op, shape } => {
                write!(f, "{op}: shape {shape:?}: {}", crate::tensor::shape::OVERFLOWS)
            }
            Error::AllocationFailed { op, shape, bytes } => {
                write!(f, "{op}: cannot allocate {bytes} bytes for shape {shape:?}")
            }
            Error::NotAnIndex { op, value, position, shape } => {
                write!(
                    f,
                    "{op}: {} at {position:?} of shape {shape:?} is not an index (a whole number in 0..2^64)",
                    Number(*value)
                )
            }
            Error::Io { path, source } => write!(f, "cannot access {}: {source}", path.display()),
            Error::Format { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// "1 element", "6 elements".
pub(crate) fn elements(n: usize) -> String {
    if n == 1 { "1 element".into() } else { format!("{n} elements") }
}

/// A name from outside the program (a parameter's, a tensor's in a file) as it appears in a
/// message: quoted like `{:?}`, and cut after [`Clipped::MAX_CHARS`] characters with an
/// ellipsis and the full length in bytes, so that a 1 MiB name (or a 300-digit one) cannot
/// turn a message into a megabyte.
pub(crate) struct Clipped<'a>(pub(crate) &'a str);

impl Clipped<'_> {
    /// The most characters of a name a message shows.
    pub(crate) const MAX_CHARS: usize = 100;
}

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(Clipped::MAX_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => {
                let quoted = format!("{:?}", &self.0[..cut]);
                write!(f, "{}…\" ({} bytes)", &quoted[..quoted.len() - 1], self.0.len())
            }
        }
    }
}

/// A number from outside the program (an element of a tensor, a value in a file) as it
/// appears in a message: as `{}` writes it when that is short (`0.5`, `-3`, `1e-7`), else as
/// `{:e}`, which is as exact (the shortest digits that read back as the same number) and at
/// most 24 characters: `1e300`, not `1` and 300 zeros as `{}` writes it.
pub(crate) struct Number(pub(crate) f64);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = self.0.to_string();
        if plain.len() <= 24 { f.write_str(&plain) } else { write!(f, "{:e}", self.0) }
    }
}

/// A message from elsewhere (a library's error, which may quote a name from a file) cut after
/// 200 characters, with an ellipsis and its full length in bytes.
pub(crate) fn shorten(message: &str) -> String {
    match message.char_indices().nth(200) {
        None => message.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes)", &message[..cut], message.len()),
    }
}
