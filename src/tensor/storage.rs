//! A tensor's buffer: owned, or shared between tensors with copy-on-write.
//!
//! Ops that only relabel the elements (`reshape`, `squeeze`, `unsqueeze`; `transpose` and
//! `narrow` as strided views, see `view`) and backward rules that
//! pass the upstream gradient on unchanged (`+`'s, `reshape`'s) give their output the same
//! buffer instead of a copy: one `Arc` clone instead of a pass over memory (on the W6
//! transformer such copies were ~5% of a step). `Tensor::clone` shares a large buffer the same
//! way, so a parameter handed to a tape each step is not copied. A buffer with several holders
//! is never written in place: writing through one tensor first gives that tensor a copy of its
//! own ([`Storage::make_mut`]), so every tensor still behaves as an independent value. The
//! only holder writes in place.
//!
//! Large buffers (at least [`SHARE_MIN_LEN`] elements) are held behind an `Arc` from the
//! start; small ones are owned and copied (an `Arc` would cost more than the copy).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::tensor::buffer::{self, Data};

/// Buffers at least this long are shared rather than copied (smaller ones copy in less time
/// than the `Arc` costs).
pub(crate) const SHARE_MIN_LEN: usize = 1 << 10;

/// The elements of a tensor: its own, or a buffer shared with other tensors.
pub(crate) enum Storage {
    Owned(Data),
    Shared(Arc<Data>),
}

impl Default for Storage {
    fn default() -> Storage {
        Storage::Owned(Data::new())
    }
}

impl From<Data> for Storage {
    /// A large buffer is held behind an `Arc` from the start, so that cloning its tensor (a
    /// parameter handed to a tape, say) shares it instead of copying it; a write through the
    /// only holder stays in place.
    #[inline]
    fn from(data: Data) -> Storage {
        if data.len() >= SHARE_MIN_LEN { shared(data) } else { Storage::Owned(data) }
    }
}

/// A large buffer behind its `Arc` (out of line: the small-tensor path stays short).
#[inline(never)]
fn shared(data: Data) -> Storage {
    Storage::Shared(Arc::new(data))
}

impl Deref for Storage {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        match self {
            Storage::Owned(data) => data,
            Storage::Shared(data) => data,
        }
    }
}

impl DerefMut for Storage {
    /// Writable elements: a shared buffer is copied first (copy-on-write).
    fn deref_mut(&mut self) -> &mut [f64] {
        self.make_mut()
    }
}

impl Storage {
    /// The buffer as this tensor's own, copying it if another tensor shares it.
    pub(crate) fn make_mut(&mut self) -> &mut Data {
        match self {
            Storage::Owned(data) => data,
            Storage::Shared(shared) => {
                if Arc::get_mut(shared).is_none() {
                    *shared = Arc::new(buffer::copy(shared));
                }
                Arc::get_mut(shared).expect("the only holder after the copy")
            }
        }
    }

    /// An independent value with the same elements: a large buffer (always shared, see
    /// `From<Data>`) gets one more holder, a small owned one is copied.
    pub(crate) fn clone_value(&self) -> Storage {
        match self {
            Storage::Shared(shared) => Storage::Shared(Arc::clone(shared)),
            Storage::Owned(data) => Storage::Owned(buffer::copy(data)),
        }
    }

    /// The buffer, without copying when no other tensor shares it; for the pool on drop, and
    /// for `into_data`. `None` when others still share it (they keep it alive).
    pub(crate) fn into_own(self) -> Option<Data> {
        match self {
            Storage::Owned(data) => Some(data),
            Storage::Shared(shared) => Arc::try_unwrap(shared).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SHARE_MIN_LEN;
    use crate::Tensor;

    /// Two tensors that share a buffer stay two values: a write through either copies first,
    /// and the other keeps its elements.
    #[test]
    fn a_write_to_a_shared_buffer_copies_first() {
        let n = SHARE_MIN_LEN;
        let mut x = Tensor::from_fn(&[2, n / 2], |ix| (ix[0] * n + ix[1]) as f64);
        let mut y = x.share_as(&[n]);
        assert_eq!(x.data().as_ptr(), y.data().as_ptr(), "large buffers are shared, not copied");
        y.data_mut()[0] = -1.0;
        assert_eq!((x.data()[0], y.data()[0]), (0.0, -1.0));
        assert_ne!(x.data().as_ptr(), y.data().as_ptr());
        x.data_mut()[1] = -2.0; // the last holder writes in place
        assert_eq!((x.data()[1], y.data()[1]), (-2.0, 1.0));
    }

    /// A clone of a large tensor shares its buffer and stays an independent value: a write
    /// through either copies first, and the only holder writes in place.
    #[test]
    fn a_clone_shares_a_large_buffer_until_a_write() {
        let n = SHARE_MIN_LEN;
        let mut x = Tensor::from_fn(&[n], |ix| ix[0] as f64);
        let at = x.data().as_ptr();
        let mut y = x.clone();
        assert_eq!(y.data().as_ptr(), at, "shared, not copied");
        y.data_mut()[0] = -1.0;
        assert_eq!((x.data()[0], y.data()[0]), (0.0, -1.0));
        assert_ne!(y.data().as_ptr(), at);
        x.data_mut()[1] = -2.0;
        assert_eq!(x.data().as_ptr(), at, "the only holder writes in place");
        assert_eq!((x.data()[1], y.data()[1]), (-2.0, 1.0));
        let small = Tensor::ones(&[3]);
        assert_ne!(small.clone().data().as_ptr(), small.data().as_ptr(), "small ones are copied");
    }

    /// Small tensors are copied (an `Arc` would cost more than the copy); dropping either of
    /// two sharers leaves the other intact.
    #[test]
    fn small_buffers_are_copied_and_a_dropped_sharer_leaves_the_other_whole() {
        let small = Tensor::ones(&[3]);
        let copy = small.share_as(&[1, 3]);
        assert_ne!(small.data().as_ptr(), copy.data().as_ptr());
        let big = Tensor::ones(&[SHARE_MIN_LEN]);
        let shared = big.share_as(&[SHARE_MIN_LEN, 1]);
        drop(big);
        assert!(shared.data().iter().all(|&x| x == 1.0));
        assert_eq!(shared.shape(), &[SHARE_MIN_LEN, 1]);
        let again = shared.share_as(&[SHARE_MIN_LEN]);
        assert_eq!(again.data().as_ptr(), shared.data().as_ptr(), "a shared buffer shares again");
    }
}
