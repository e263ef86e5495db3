//! BER-TLV as the LDS uses it (ISO/IEC 7816-4 BER-TLV data objects, Doc 9303 Part 10).
//!
//! * **Tags** are handled as the big-endian integer of their bytes, the way Doc 9303 writes them:
//!   `0x61`, `0x5F1F`, `0x7F61`. A first byte whose low five bits are all ones (`xxx1 1111`) is
//!   followed by subsequent bytes, each with bit 8 set when another byte follows. Tags of up to
//!   four bytes are read. The first bytes `00` and `FF` are not tags (ISO/IEC 7816-4 padding) and
//!   are rejected.
//! * **Bit 6 of the first tag byte** says constructed (`0x20` set) or primitive.
//! * **Lengths** are definite only: short form `00`–`7F`, long form `81`–`84` followed by one to
//!   four length octets. The indefinite form `80` and longer forms are rejected. Reading accepts
//!   non-minimal long forms (some chips write `81 05`); writing always uses the minimal form.
//!
//! The parser is zero-copy: values are slices of the input. It never panics, whatever the input.

use thiserror::Error;

/// Errors reading BER-TLV.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TlvError {
    /// The input ended before the tag, the length or the value was complete.
    #[error("BER-TLV truncated at offset {offset}: {what}")]
    Truncated {
        /// Offset (in the slice handed to the parser) where more bytes were needed.
        offset: usize,
        /// Which part was incomplete.
        what: &'static str,
    },
    /// `00` or `FF` where a tag was expected.
    #[error("invalid BER-TLV tag byte {byte:#04x} at offset {offset}")]
    InvalidTag {
        /// Offending byte.
        byte: u8,
        /// Its offset.
        offset: usize,
    },
    /// A tag longer than four bytes.
    #[error("BER-TLV tag longer than 4 bytes at offset {offset}")]
    TagTooLong {
        /// Offset of the tag's first byte.
        offset: usize,
    },
    /// Indefinite length (`80`) or more than four length octets.
    #[error(
        "unsupported BER-TLV length byte {byte:#04x} at offset {offset} \
         (indefinite or longer than 4 octets)"
    )]
    UnsupportedLength {
        /// The first length byte.
        byte: u8,
        /// Its offset.
        offset: usize,
    },
    /// Bytes left after the data object where none were expected.
    #[error("{count} unexpected trailing bytes after the BER-TLV data object")]
    TrailingBytes {
        /// How many bytes are left.
        count: usize,
    },
    /// A different tag than the one expected.
    #[error("expected tag {expected:#x}, found {found:#x}")]
    UnexpectedTag {
        /// Expected tag.
        expected: u32,
        /// Tag found.
        found: u32,
    },
}

/// One data object, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag as the big-endian integer of its bytes (`0x5F1F`).
    pub tag: u32,
    /// The value field.
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// True when the tag is constructed (bit 6 of its first byte), i.e. the value is itself
    /// a sequence of data objects.
    pub fn is_constructed(&self) -> bool {
        is_constructed(self.tag)
    }

    /// The children of a constructed data object.
    pub fn children(&self) -> Result<Vec<Tlv<'a>>, TlvError> {
        parse_all(self.value)
    }
}

/// The bytes of `tag`, big-endian, without leading zero bytes (`0` encodes as one `00` byte).
pub fn tag_bytes(tag: u32) -> Vec<u8> {
    let bytes = tag.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    bytes[skip..].to_vec()
}

/// True when the first byte of `tag` has bit 6 set (constructed encoding).
pub fn is_constructed(tag: u32) -> bool {
    tag_bytes(tag).first().is_some_and(|b| b & 0x20 != 0)
}

/// Appends the minimal definite length encoding of `len` to `out`.
pub fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Fits the short form; the cast cannot truncate.
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = &bytes[skip..];
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

/// Encodes one data object: tag, minimal length, value.
pub fn encode(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = header(tag, value.len());
    out.extend_from_slice(value);
    out
}

/// Encodes a constructed data object whose value is the concatenation of `children`
/// (each already an encoded data object).
pub fn encode_constructed<C: AsRef<[u8]>>(tag: u32, children: &[C]) -> Vec<u8> {
    // One allocation and one memcpy per child: DG2/DG3 nest 20 KB images several levels deep,
    // and copying them byte by byte at every level dominated personalisation.
    let len: usize = children.iter().map(|c| c.as_ref().len()).sum();
    let mut out = header(tag, len);
    for c in children {
        out.extend_from_slice(c.as_ref());
    }
    out
}

/// The size of the tag and minimal length of a data object of `len` value bytes.
pub fn header_len(tag: u32, len: usize) -> usize {
    let tag_len = tag_bytes_len(tag);
    let len_len = if len < 0x80 {
        1
    } else {
        1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    };
    tag_len + len_len
}

/// The size of a whole data object of `len` value bytes.
pub fn encoded_len(tag: u32, len: usize) -> usize {
    header_len(tag, len) + len
}

fn tag_bytes_len(tag: u32) -> usize {
    (4 - tag.leading_zeros() as usize / 8).max(1)
}

/// Appends the tag and minimal length of a data object of `len` value bytes to `out`, for
/// writers that put the value in place afterwards instead of copying it from a child buffer.
pub fn push_header(out: &mut Vec<u8>, tag: u32, len: usize) {
    let bytes = tag.to_be_bytes();
    out.extend_from_slice(&bytes[4 - tag_bytes_len(tag)..]);
    push_length(out, len);
}

/// Tag and minimal length of a data object of `len` value bytes, with room reserved for the
/// value.
fn header(tag: u32, len: usize) -> Vec<u8> {
    let bytes = tag.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    // At most 4 tag bytes and 1 + 8 length bytes.
    let mut out = Vec::with_capacity(len.saturating_add(13));
    out.extend_from_slice(&bytes[skip..]);
    push_length(&mut out, len);
    out
}

/// Reads one data object from the start of `input`; returns it and the bytes after it.
pub fn parse_one(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), TlvError> {
    let first = *input.first().ok_or(TlvError::Truncated {
        offset: 0,
        what: "tag",
    })?;
    if first == 0x00 || first == 0xFF {
        return Err(TlvError::InvalidTag {
            byte: first,
            offset: 0,
        });
    }
    let mut tag = u32::from(first);
    let mut pos = 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = *input.get(pos).ok_or(TlvError::Truncated {
                offset: pos,
                what: "tag",
            })?;
            if pos >= 4 {
                return Err(TlvError::TagTooLong { offset: 0 });
            }
            tag = (tag << 8) | u32::from(b);
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let len_byte = *input.get(pos).ok_or(TlvError::Truncated {
        offset: pos,
        what: "length",
    })?;
    let len_offset = pos;
    pos += 1;
    let len: usize = if len_byte < 0x80 {
        usize::from(len_byte)
    } else {
        let n = usize::from(len_byte & 0x7F);
        if n == 0 || n > 4 {
            return Err(TlvError::UnsupportedLength {
                byte: len_byte,
                offset: len_offset,
            });
        }
        let octets = input.get(pos..pos + n).ok_or(TlvError::Truncated {
            offset: pos,
            what: "length octets",
        })?;
        pos += n;
        let mut v: u64 = 0;
        for o in octets {
            v = (v << 8) | u64::from(*o);
        }
        usize::try_from(v).map_err(|_| TlvError::Truncated {
            offset: pos,
            what: "value",
        })?
    };
    let end = pos.checked_add(len).ok_or(TlvError::Truncated {
        offset: pos,
        what: "value",
    })?;
    let value = input.get(pos..end).ok_or(TlvError::Truncated {
        offset: input.len(),
        what: "value",
    })?;
    let rest = input.get(end..).unwrap_or_default();
    Ok((Tlv { tag, value }, rest))
}

/// Reads exactly one data object: trailing bytes are an error.
pub fn parse_exact(input: &[u8]) -> Result<Tlv<'_>, TlvError> {
    let (tlv, rest) = parse_one(input)?;
    if !rest.is_empty() {
        return Err(TlvError::TrailingBytes { count: rest.len() });
    }
    Ok(tlv)
}

/// Reads exactly one data object and checks its tag.
pub fn parse_tagged(input: &[u8], expected: u32) -> Result<Tlv<'_>, TlvError> {
    let tlv = parse_exact(input)?;
    if tlv.tag != expected {
        return Err(TlvError::UnexpectedTag {
            expected,
            found: tlv.tag,
        });
    }
    Ok(tlv)
}

/// Reads a concatenation of data objects until the input is exhausted.
pub fn parse_all(mut input: &[u8]) -> Result<Vec<Tlv<'_>>, TlvError> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tlv, rest) = parse_one(input)?;
        out.push(tlv);
        input = rest;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_and_long_lengths() {
        assert_eq!(encode(0x5F1F, &[1, 2]), vec![0x5F, 0x1F, 2, 1, 2]);
        let v = vec![0u8; 0x80];
        assert_eq!(&encode(0x61, &v)[..3], &[0x61, 0x81, 0x80]);
        let v = vec![0u8; 0x100];
        assert_eq!(&encode(0x61, &v)[..4], &[0x61, 0x82, 0x01, 0x00]);
    }

    #[test]
    fn lenient_non_minimal_length_and_rejects_indefinite() {
        let (t, rest) = parse_one(&[0x5C, 0x82, 0x00, 0x01, 0x61, 0xAA]).unwrap();
        assert_eq!((t.tag, t.value, rest), (0x5C, &[0x61][..], &[0xAA][..]));
        assert!(matches!(
            parse_one(&[0x61, 0x80, 0x00, 0x00]),
            Err(TlvError::UnsupportedLength { .. })
        ));
        assert!(matches!(
            parse_one(&[0x61, 0x85, 0, 0, 0, 0, 1, 0]),
            Err(TlvError::UnsupportedLength { .. })
        ));
        assert!(matches!(
            parse_one(&[0x00, 0x00]),
            Err(TlvError::InvalidTag { .. })
        ));
        assert!(matches!(
            parse_one(&[0x5F, 0x81, 0x81, 0x81, 0x01, 0x00]),
            Err(TlvError::TagTooLong { .. })
        ));
    }

    #[test]
    fn constructed_flag() {
        assert!(is_constructed(0x7F61));
        assert!(is_constructed(0x61));
        assert!(is_constructed(0xA1));
        assert!(!is_constructed(0x5F2E));
        assert!(!is_constructed(0x02));
    }

    fn arb_tag() -> impl Strategy<Value = u32> {
        prop_oneof![
            (0x01u32..=0xFE).prop_filter("single", |t| t & 0x1F != 0x1F),
            (0u32..=0x7F).prop_flat_map(|b2| {
                (0u32..7).prop_map(move |cls| (((cls << 5) | 0x1F) << 8) | b2)
            }),
            (0x81u32..=0xFF, 0u32..=0x7F).prop_map(|(b2, b3)| (0x5F << 16) | (b2 << 8) | b3),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(tag in arb_tag(), value in proptest::collection::vec(any::<u8>(), 0..600),
                      extra in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut enc = encode(tag, &value);
            let n = enc.len();
            enc.extend_from_slice(&extra);
            let (t, rest) = parse_one(&enc).unwrap();
            prop_assert_eq!(t.tag, tag);
            prop_assert_eq!(t.value, &value[..]);
            prop_assert_eq!(rest, &enc[n..]);
        }

        #[test]
        fn constructed_round_trip(children in proptest::collection::vec(
                (arb_tag(), proptest::collection::vec(any::<u8>(), 0..40)), 0..6)) {
            let encoded: Vec<Vec<u8>> = children.iter().map(|(t, v)| encode(*t, v)).collect();
            let outer = encode_constructed(0x7F61, &encoded);
            let t = parse_tagged(&outer, 0x7F61).unwrap();
            let kids = t.children().unwrap();
            prop_assert_eq!(kids.len(), children.len());
            for (k, (tag, v)) in kids.iter().zip(children.iter()) {
                prop_assert_eq!(k.tag, *tag);
                prop_assert_eq!(k.value, &v[..]);
            }
        }

        #[test]
        fn constructed_is_the_encoding_of_the_concatenation(tag in arb_tag(),
                children in proptest::collection::vec(
                    proptest::collection::vec(any::<u8>(), 0..300), 0..6)) {
            let concatenated: Vec<u8> = children.concat();
            prop_assert_eq!(encode_constructed(tag, &children), encode(tag, &concatenated));
            let mut expected = tag_bytes(tag);
            push_length(&mut expected, concatenated.len());
            expected.extend_from_slice(&concatenated);
            prop_assert_eq!(encode(tag, &concatenated), expected);
        }

        #[test]
        fn header_len_is_what_push_header_writes(tag in arb_tag(), len in 0usize..70_000_000) {
            let mut out = Vec::new();
            push_header(&mut out, tag, len);
            let mut expected = tag_bytes(tag);
            push_length(&mut expected, len);
            prop_assert_eq!(out.len(), header_len(tag, len));
            prop_assert_eq!(encoded_len(tag, len), out.len() + len);
            prop_assert_eq!(out, expected);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_all(&bytes);
            let _ = parse_one(&bytes);
        }
    }
}
