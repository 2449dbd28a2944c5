//! Short text built on the stack: keys the rules look things up by for every parcel they
//! judge, where building them on the heap cost an allocation each time.

/// Text of at most `N` bytes, on the stack.
pub(crate) struct Short<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Short<N> {
    pub(crate) fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// `None` when it does not fit.
    pub(crate) fn push_str(&mut self, s: &str) -> Option<()> {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Some(())
    }

    /// `None` when it does not fit.
    pub(crate) fn push_ascii(&mut self, b: u8) -> Option<()> {
        debug_assert!(b.is_ascii());
        *self.bytes.get_mut(self.len)? = b;
        self.len += 1;
        Some(())
    }

    /// Keeps only `start..`.
    pub(crate) fn drop_front(&mut self, start: usize) {
        self.bytes.copy_within(start..self.len, 0);
        self.len -= start;
    }

    pub(crate) fn make_ascii_uppercase(&mut self) {
        self.bytes[..self.len].make_ascii_uppercase();
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).expect("only whole strs and ASCII are pushed")
    }
}
