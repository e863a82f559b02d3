//! Reading a fuzz input as a stream of small choices.
//!
//! Every read succeeds: past the end of the input it yields zeros, so any
//! byte string is a valid program for the structured targets and the fuzzer
//! never wastes executions on inputs the harness itself rejects.

pub(crate) struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Input<'a> {
        Input { rest: data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((b, rest)) => {
                self.rest = rest;
                *b
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u8) -> u8 {
        if n == 0 {
            0
        } else {
            self.u8() % n
        }
    }

    /// Up to `len` bytes, as many as the input has left.
    pub(crate) fn bytes(&mut self, len: usize) -> &'a [u8] {
        let n = len.min(self.rest.len());
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        head
    }
}

/// One file of a directory-shaped input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileEntry<'a> {
    /// Which file (its meaning is the target's).
    pub kind: u8,
    /// A small parameter, e.g. which segment a `.log` belongs to.
    pub param: u8,
    pub bytes: &'a [u8],
}

/// Splits a directory-shaped input: entries of `kind u8, param u8,
/// length u16 LE, bytes`, back to back. A length past the end takes what is
/// left. The same container is written by [`pack_files`] for the seeds.
pub(crate) fn files(data: &[u8]) -> Vec<FileEntry<'_>> {
    let mut input = Input::new(data);
    let mut out = Vec::new();
    while !input.is_empty() {
        let kind = input.u8();
        let param = input.u8();
        let len = usize::from(input.u16());
        out.push(FileEntry {
            kind,
            param,
            bytes: input.bytes(len),
        });
    }
    out
}

/// The inverse of [`files`] (files over 64 KiB are cut, as the format can't
/// say more).
pub(crate) fn pack_files(entries: &[FileEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let bytes = &e.bytes[..e.bytes.len().min(usize::from(u16::MAX))];
        out.push(e.kind);
        out.push(e.param);
        out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}
