//! `AlignedBuf`: a fixed-capacity heap buffer whose start and capacity are
//! multiples of [`DIRECT_ALIGN`], as `O_DIRECT` writes require.
//!
//! A `Vec<u8>` cannot be used for direct I/O: its allocation is only aligned
//! to the allocator's word, and freeing it with a different alignment than it
//! was allocated with is undefined behaviour, so the alignment needs a type.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// The alignment of a direct write's buffer, offset and length. 4 KiB covers
/// every logical block size in use (512 B and 4 KiB sectors).
pub const DIRECT_ALIGN: usize = 4096;

/// A buffer of at most `capacity` initialised bytes, aligned for `O_DIRECT`.
/// The default one holds nothing and allocates nothing (a placeholder while
/// the real buffer is with the kernel).
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    layout: Layout,
}

// SAFETY: `AlignedBuf` owns its allocation exclusively, like a `Vec<u8>`;
// nothing in it is tied to a thread.
unsafe impl Send for AlignedBuf {}
// SAFETY: `&AlignedBuf` only hands out `&[u8]`.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// An empty buffer holding at least `capacity` bytes (rounded up to a
    /// whole number of [`DIRECT_ALIGN`] blocks, at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        let cap = capacity.max(1).next_multiple_of(DIRECT_ALIGN);
        let layout = Layout::from_size_align(cap, DIRECT_ALIGN).expect("buffer size overflows");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        AlignedBuf {
            ptr,
            len: 0,
            layout,
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the buffer can hold in all.
    pub fn capacity(&self) -> usize {
        self.layout.size()
    }

    /// Whether no byte more fits.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Appends as much of `data` as fits and returns how many bytes that was.
    pub fn fill_from(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.capacity() - self.len);
        // SAFETY: `len + n <= capacity`, so the destination lies inside our
        // allocation; `data` is a separate borrow, so the ranges cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(self.len), n);
        }
        self.len += n;
        n
    }

    /// Appends zeros up to the next multiple of [`DIRECT_ALIGN`] and returns
    /// how many were added. Always fits: the capacity is such a multiple.
    pub fn pad_to_block(&mut self) -> usize {
        let end = self.len.next_multiple_of(DIRECT_ALIGN);
        let n = end - self.len;
        // SAFETY: `end <= capacity` (the capacity is a multiple of the block),
        // so `[len, end)` lies inside our allocation.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr().add(self.len), 0, n) };
        self.len = end;
        n
    }

    /// Forgets the contents; the allocation stays for reuse.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were written by `fill_from` or
        // `pad_to_block`, and the allocation lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Default for AlignedBuf {
    fn default() -> Self {
        AlignedBuf {
            ptr: NonNull::<[u8; DIRECT_ALIGN]>::dangling().cast(),
            len: 0,
            // Cannot fail: zero size, power-of-two alignment.
            layout: Layout::from_size_align(0, DIRECT_ALIGN).expect("valid layout"),
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.layout.size() == 0 {
            return; // the default buffer: nothing was allocated
        }
        // SAFETY: `ptr` was allocated in `with_capacity` with this very layout
        // and is freed only here.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_up_to_capacity_pads_to_a_block_and_stays_aligned() {
        let mut b = AlignedBuf::with_capacity(5000);
        assert_eq!(b.capacity(), 2 * DIRECT_ALIGN);
        assert_eq!(b.as_slice().as_ptr() as usize % DIRECT_ALIGN, 0);
        assert_eq!(b.fill_from(&[7; 3000]), 3000);
        assert_eq!(b.pad_to_block(), DIRECT_ALIGN - 3000);
        assert_eq!(&b.as_slice()[..3000], &[7; 3000][..]);
        assert!(b.as_slice()[3000..].iter().all(|&x| x == 0));
        assert_eq!(b.pad_to_block(), 0);
        assert_eq!(b.fill_from(&[9; 10_000]), DIRECT_ALIGN);
        assert!(b.is_full());
        assert_eq!(b.fill_from(&[1]), 0);
        b.clear();
        assert!(b.is_empty());
        let mut none = AlignedBuf::default();
        assert_eq!(
            (none.capacity(), none.fill_from(&[1]), none.pad_to_block()),
            (0, 0, 0)
        );
        assert!(none.as_slice().is_empty());
    }
}
