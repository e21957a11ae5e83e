//! Bounded lifting of a plugin's result: only what the output cap keeps is copied out of guest
//! memory.
//!
//! A plain `bindgen!` call copies the whole result into host memory before any cap can apply,
//! so a guest inside its own 64 MiB could make the host allocate a 64 MiB string or a million
//! detail strings. These types read lengths in guest memory, copy at most the cap of each string
//! and at most the allowed number of details (plus one, to tell "over"), and remember the full
//! sizes so the reason can name them. wasmtime runs the guest's post-return (which frees the
//! result) right after lifting, so the copy has to happen during the lift, not afterwards with a
//! lazy `WasmStr`.

#![allow(unsafe_code)]

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;

use wasmtime::component::__internal::wasmtime_environ::component::StringEncoding;
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Lift, WasmList, WasmStr};
use wasmtime::{Result, ValRaw};

use crate::runtime::bindings::vitals::check::types as wit;

/// How much of a result is copied into host memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LiftCaps {
    /// Bytes kept of each string (output, unit, error message, detail value).
    pub(crate) text: usize,
    /// Details copied; one more is read so that "too many" is known without reading them all.
    pub(crate) details: usize,
}

/// Bytes kept of a detail key.
pub(crate) const KEY_BYTES: usize = 128;

impl Default for LiftCaps {
    fn default() -> Self {
        LiftCaps {
            text: 4096,
            details: 32,
        }
    }
}

thread_local! {
    static CAPS: Cell<LiftCaps> = Cell::new(LiftCaps::default());
}

/// Run `call` with `caps` in force for every lift it does. wasmtime lifts on the thread that
/// polls the call (the guest's fiber runs inside the poll), so the caps are set around each poll.
pub(crate) async fn with_caps<F: Future>(caps: LiftCaps, call: F) -> F::Output {
    let mut call = pin!(call);
    std::future::poll_fn(|cx| {
        let previous = CAPS.replace(caps);
        let polled = call.as_mut().poll(cx);
        CAPS.set(previous);
        polled
    })
    .await
}

/// A string of which at most a cap was copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BoundedStr {
    /// The start of the string, cut on a char boundary.
    kept: String,
    /// Its full length in bytes (UTF-8), as the guest returned it.
    len: usize,
}

impl BoundedStr {
    /// The full length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// At most `limit` bytes of it, with "… (truncated N bytes)" when anything is missing.
    pub(crate) fn truncated(&self, limit: usize) -> String {
        let mut end = limit.min(self.kept.len());
        while !self.kept.is_char_boundary(end) {
            end -= 1;
        }
        if end == self.len {
            return self.kept.clone();
        }
        format!(
            "{}… (truncated {} bytes)",
            &self.kept[..end],
            self.len - end
        )
    }

    #[cfg(test)]
    pub(crate) fn from_parts(kept: &str, len: usize) -> Self {
        BoundedStr {
            kept: kept.to_owned(),
            len,
        }
    }

    /// Copy at most `cap` bytes of the string at `ptr`/`len` (in the guest's encoding).
    fn read(cx: &LiftContext<'_>, ptr: usize, len: usize, cap: usize) -> Result<Self> {
        let memory = cx.memory();
        Ok(match cx.options().string_encoding {
            StringEncoding::Utf8 => utf8_prefix(&memory[ptr..][..len], cap),
            StringEncoding::Utf16 => utf16_prefix(&memory[ptr..][..len * 2], cap),
            StringEncoding::CompactUtf16 if len & UTF16_TAG == 0 => {
                let latin1 = &memory[ptr..][..len];
                let kept: String = latin1.iter().take(cap).map(|&b| char::from(b)).collect();
                let len = latin1.iter().map(|&b| char::from(b).len_utf8()).sum();
                BoundedStr { kept, len }
            }
            StringEncoding::CompactUtf16 => {
                utf16_prefix(&memory[ptr..][..(len ^ UTF16_TAG) * 2], cap)
            }
        })
    }
}

/// The tag wasmtime's compact UTF-16 uses for "this string is UTF-16, not Latin-1".
const UTF16_TAG: usize = 1 << 31;

fn utf8_prefix(bytes: &[u8], cap: usize) -> BoundedStr {
    let take = &bytes[..bytes.len().min(cap)];
    // A cut inside a multi-byte char leaves an incomplete tail: drop it rather than fail.
    let kept = match std::str::from_utf8(take) {
        Ok(s) => s.to_owned(),
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&take[..e.valid_up_to()]).into()
        }
        Err(_) => String::from_utf8_lossy(take).into_owned(),
    };
    BoundedStr {
        kept,
        len: bytes.len(),
    }
}

fn utf16_prefix(bytes: &[u8], cap: usize) -> BoundedStr {
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    let mut kept = String::new();
    let mut len = 0;
    for c in char::decode_utf16(units) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        if kept.len() + c.len_utf8() <= cap {
            kept.push(c);
        }
        len += c.len_utf8();
    }
    BoundedStr { kept, len }
}

fn pointer_pair(src: &[ValRaw; 2]) -> Result<(usize, usize)> {
    Ok((
        usize::try_from(src[0].get_u32())?,
        usize::try_from(src[1].get_u32())?,
    ))
}

fn pointer_pair_in(bytes: &[u8]) -> Result<(usize, usize)> {
    let word = |at: usize| -> Result<usize> {
        let b = bytes
            .get(at..at + 4)
            .ok_or_else(|| wasmtime::format_err!("pointer pair out of bounds"))?;
        Ok(usize::try_from(u32::from_le_bytes([
            b[0], b[1], b[2], b[3],
        ]))?)
    };
    Ok((word(0)?, word(4)?))
}

// SAFETY: the representation is exactly `string`'s (a pointer pair), delegated to `WasmStr`,
// which validates bounds, alignment and encoding before anything is read.
unsafe impl ComponentType for BoundedStr {
    type Lower = <WasmStr as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> Result<()> {
        <WasmStr as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: see `ComponentType` above.
unsafe impl Lift for BoundedStr {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &Self::Lower,
    ) -> Result<Self> {
        WasmStr::linear_lift_from_flat(cx, ty, src)?;
        let (ptr, len) = pointer_pair(src)?;
        BoundedStr::read(cx, ptr, len, CAPS.get().text)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        bytes: &[u8],
    ) -> Result<Self> {
        WasmStr::linear_lift_from_memory(cx, ty, bytes)?;
        let (ptr, len) = pointer_pair_in(bytes)?;
        BoundedStr::read(cx, ptr, len, CAPS.get().text)
    }
}

/// A `list<tuple<string, string>>` of which at most the cap was copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BoundedDetails {
    /// The first entries (at most the cap plus one).
    pub(crate) kept: Vec<(BoundedStr, BoundedStr)>,
    /// How many entries the guest returned.
    pub(crate) len: usize,
}

impl BoundedDetails {
    fn read(cx: &mut LiftContext<'_>, ptr: usize, len: usize) -> Result<Self> {
        let caps = CAPS.get();
        let memory = cx.memory();
        // Bounds were checked by `WasmList`; each entry is two pointer pairs.
        let mut kept = Vec::with_capacity(len.min(caps.details + 1));
        for i in 0..len.min(caps.details + 1) {
            let entry = &memory[ptr + i * 16..][..16];
            let (kp, kl) = pointer_pair_in(&entry[..8])?;
            let (vp, vl) = pointer_pair_in(&entry[8..])?;
            let key = checked_str(cx, &entry[..8], kp, kl, KEY_BYTES)?;
            let value = checked_str(cx, &entry[8..], vp, vl, caps.text)?;
            kept.push((key, value));
        }
        Ok(BoundedDetails { kept, len })
    }
}

fn checked_str(
    cx: &mut LiftContext<'_>,
    pair: &[u8],
    ptr: usize,
    len: usize,
    cap: usize,
) -> Result<BoundedStr> {
    WasmStr::linear_lift_from_memory(cx, InterfaceType::String, pair)?;
    BoundedStr::read(cx, ptr, len, cap)
}

type Entries = WasmList<(WasmStr, WasmStr)>;

// SAFETY: the representation is exactly `list<tuple<string, string>>`'s, delegated to
// `WasmList`, which validates the list's bounds and alignment; each string is validated by
// `WasmStr` before it is read.
unsafe impl ComponentType for BoundedDetails {
    type Lower = <Entries as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> Result<()> {
        <Entries as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: see `ComponentType` above.
unsafe impl Lift for BoundedDetails {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &Self::Lower,
    ) -> Result<Self> {
        Entries::linear_lift_from_flat(cx, ty, src)?;
        let (ptr, len) = pointer_pair(src)?;
        BoundedDetails::read(cx, ptr, len)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        bytes: &[u8],
    ) -> Result<Self> {
        Entries::linear_lift_from_memory(cx, ty, bytes)?;
        let (ptr, len) = pointer_pair_in(bytes)?;
        BoundedDetails::read(cx, ptr, len)
    }
}

/// A `list<T>` of which at most `CAP` elements (plus one, to tell "over") were lifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BoundedList<T, const CAP: usize> {
    /// The first elements.
    pub(crate) kept: Vec<T>,
    /// How many elements the guest returned.
    pub(crate) len: usize,
}

impl<T: Lift, const CAP: usize> BoundedList<T, CAP> {
    fn read(cx: &mut LiftContext<'_>, ty: InterfaceType, ptr: usize, len: usize) -> Result<Self> {
        let InterfaceType::List(list) = ty else {
            wasmtime::bail!("expected a list type");
        };
        let elem = cx.types[list].element;
        let size = T::SIZE32;
        let memory = cx.memory();
        let mut kept = Vec::with_capacity(len.min(CAP + 1));
        for i in 0..len.min(CAP + 1) {
            // In bounds: `WasmList` checked that `len` elements fit in memory.
            kept.push(T::linear_lift_from_memory(
                cx,
                elem,
                &memory[ptr + i * size..][..size],
            )?);
        }
        Ok(BoundedList { kept, len })
    }
}

// SAFETY: the representation is exactly `list<T>`'s, delegated to `WasmList`, which validates
// the list's bounds and alignment; each element is lifted by `T`'s own checked lift.
unsafe impl<T: ComponentType, const CAP: usize> ComponentType for BoundedList<T, CAP> {
    type Lower = <WasmList<T> as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> Result<()> {
        <WasmList<T> as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: see `ComponentType` above.
unsafe impl<T: Lift, const CAP: usize> Lift for BoundedList<T, CAP> {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &Self::Lower,
    ) -> Result<Self> {
        WasmList::<T>::linear_lift_from_flat(cx, ty, src)?;
        let (ptr, len) = pointer_pair(src)?;
        Self::read(cx, ty, ptr, len)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        bytes: &[u8],
    ) -> Result<Self> {
        WasmList::<T>::linear_lift_from_memory(cx, ty, bytes)?;
        let (ptr, len) = pointer_pair_in(bytes)?;
        Self::read(cx, ty, ptr, len)
    }
}

/// `observed` with its unit bounded.
#[derive(ComponentType, Lift, Debug, Clone)]
#[component(record)]
pub(crate) struct BoundedObserved {
    pub(crate) value: f64,
    pub(crate) unit: BoundedStr,
}

/// `check-result`, lifted within the caps.
#[derive(ComponentType, Lift, Debug, Clone)]
#[component(record)]
pub(crate) struct BoundedCheckResult {
    pub(crate) status: wit::Status,
    pub(crate) output: BoundedStr,
    pub(crate) observed: Option<BoundedObserved>,
    pub(crate) details: BoundedDetails,
}

/// What `check` returns: a result, or the message of why it could not be evaluated.
pub(crate) type CheckReturn = Result<BoundedCheckResult, BoundedStr>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_utf8_prefix_never_splits_a_char_and_keeps_the_full_length() {
        let s = utf8_prefix("aéb".as_bytes(), 2);
        assert_eq!(s.kept, "a");
        assert_eq!(s.len(), 4);
        assert_eq!(s.truncated(10), "a… (truncated 3 bytes)");
        let whole = utf8_prefix(b"abc", 10);
        assert_eq!(whole.truncated(10), "abc");
    }

    #[test]
    fn a_utf16_prefix_counts_utf8_bytes() {
        let units: Vec<u8> = "hé!".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let s = utf16_prefix(&units, 3);
        assert_eq!(s.kept, "hé");
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn truncation_names_what_was_cut_from_the_full_length() {
        let s = BoundedStr::from_parts("abcd", 64 << 20);
        assert_eq!(
            s.truncated(2),
            format!("ab… (truncated {} bytes)", (64 << 20) - 2)
        );
    }
}
