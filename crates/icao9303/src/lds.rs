//! LDS1 elementary files (Doc 9303 Part 10): EF.COM and the data groups a chip ID card uses.
//!
//! Each file type has `encode() -> Vec<u8>` producing the **whole file** (outer tag, length,
//! content: exactly the bytes hashed into the LDSSecurityObject) and `decode(&[u8])`.
//! Decoders ignore data objects they do not know inside a data group, so that files written by
//! other issuers still read; encoders write elements in the order Part 10 lists them.
//!
//! # Files, tags and identifiers
//! | file | tag | file id | short id |
//! |---|---|---|---|
//! | EF.COM | `60` | `011E` | `1E` |
//! | DG1 … DG16 | `61 75 63 76 65 66 67 68 69 6A 6B 6C 6D 6E 6F 70` | `0101`…`0110` | `01`…`10` |
//! | EF.SOD | `77` | `011D` | `1D` |
//!
//! # DG13: Thabian's issuer-defined encoding (format version 1)
//! Doc 9303 leaves DG13 to the issuer. Thabian writes national fields with no ICAO slot as a
//! list of (code, value) pairs, in BER-TLV:
//! ```text
//! DG13         = 6D L { version, field* }
//! version      = 80 01 01                 -- this grammar; decoders reject any other value
//! field        = 30 L { code, value }     -- one per field, in the issuer's order;
//!                                          -- a code may repeat (several old ID numbers)
//! code         = 80 L <1..64 bytes of [a-z0-9_.-]>   -- stable ASCII code, e.g. "ethnicity"
//! value        = 81 L <UTF-8 text, possibly empty>   -- as registered, any script
//! ```
//! Lengths are BER-TLV definite lengths (short form below 128 bytes, `81 xx`, `82 xx xx` …).
//! Codes in use: see [`dg13_codes`]. Any other element inside `6D` or inside a field is an
//! error: the format is versioned instead of extended silently.

use chrono::{NaiveDate, NaiveDateTime};
use thiserror::Error;

use crate::mrz::{self, MrzError, ParsedTd1, Td1};
use crate::tlv::{self, Tlv, TlvError};

/// Errors decoding or building LDS files.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LdsError {
    /// Malformed BER-TLV.
    #[error(transparent)]
    Tlv(#[from] TlvError),
    /// A mandatory data object is missing.
    #[error("{file}: missing data object {tag:#x}")]
    Missing {
        /// File name.
        file: &'static str,
        /// Tag.
        tag: u32,
    },
    /// A value that breaks the file's rules.
    #[error("{file}: {reason}")]
    Invalid {
        /// File name.
        file: &'static str,
        /// Why.
        reason: String,
    },
    /// The MRZ in DG1.
    #[error(transparent)]
    Mrz(#[from] MrzError),
}

fn invalid(file: &'static str, reason: impl Into<String>) -> LdsError {
    LdsError::Invalid {
        file,
        reason: reason.into(),
    }
}

/// Tag of EF.COM.
pub const EF_COM_TAG: u32 = 0x60;
/// File identifier of EF.COM.
pub const EF_COM_FILE_ID: u16 = 0x011E;
/// Tag of EF.SOD.
pub const EF_SOD_TAG: u32 = 0x77;
/// File identifier of EF.SOD.
pub const EF_SOD_FILE_ID: u16 = 0x011D;

const DG_TAGS: [u8; 16] = [
    0x61, 0x75, 0x63, 0x76, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, 0x70,
];

/// A data-group number, 1 to 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataGroup(u8);

impl DataGroup {
    /// `Some` for 1..=16.
    pub fn new(number: u8) -> Option<Self> {
        (1..=16).contains(&number).then_some(Self(number))
    }

    /// The number, 1..=16.
    pub fn number(self) -> u8 {
        self.0
    }

    /// The outer tag of the file (`0x61` for DG1, `0x75` for DG2 …).
    pub fn tag(self) -> u8 {
        DG_TAGS[usize::from(self.0 - 1)]
    }

    /// The file identifier (`0x0101` … `0x0110`).
    pub fn file_id(self) -> u16 {
        0x0100 + u16::from(self.0)
    }

    /// The short file identifier (`0x01` … `0x10`).
    pub fn short_file_id(self) -> u8 {
        self.0
    }

    /// The data group whose outer tag is `tag`.
    pub fn from_tag(tag: u32) -> Option<Self> {
        let pos = DG_TAGS.iter().position(|t| u32::from(*t) == tag)?;
        // pos < 16: the cast cannot truncate.
        Some(Self(pos as u8 + 1))
    }

    /// The data group whose file identifier is `fid`.
    pub fn from_file_id(fid: u16) -> Option<Self> {
        let n = fid.checked_sub(0x0100)?;
        u8::try_from(n).ok().and_then(Self::new)
    }

    /// The data group of an encoded file, from its first (tag) byte.
    pub fn of_file(file: &[u8]) -> Option<Self> {
        Self::from_tag(u32::from(*file.first()?))
    }
}

impl std::fmt::Display for DataGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DG{}", self.0)
    }
}

fn find<'a>(children: &[Tlv<'a>], tag: u32) -> Option<&'a [u8]> {
    children.iter().find(|c| c.tag == tag).map(|c| c.value)
}

fn utf8(file: &'static str, what: &str, bytes: &[u8]) -> Result<String, LdsError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| invalid(file, format!("{what} is not UTF-8")))
}

fn ascii(file: &'static str, what: &str, bytes: &[u8]) -> Result<String, LdsError> {
    if !bytes.is_ascii() {
        return Err(invalid(file, format!("{what} is not ASCII")));
    }
    utf8(file, what, bytes)
}

fn open<'a>(file: &'static str, bytes: &'a [u8], tag: u32) -> Result<Vec<Tlv<'a>>, LdsError> {
    let outer = tlv::parse_tagged(bytes, tag)?;
    outer.children().map_err(|e| invalid(file, e.to_string()))
}

/// The tag list (`5C`): concatenated tag bytes.
fn tag_list(tags: &[u32]) -> Vec<u8> {
    tags.iter().flat_map(|t| tlv::tag_bytes(*t)).collect()
}

// ---------------------------------------------------------------------------------------------
// EF.COM

/// EF.COM: LDS and Unicode versions and the list of data-group tags present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EfCom {
    /// LDS version `aabb` (`"0107"` for LDS 1.7).
    pub lds_version: String,
    /// Unicode version `aabbcc` (`"040000"`).
    pub unicode_version: String,
    /// Outer tags of the data groups present (`0x61`, `0x75` …).
    pub tags: Vec<u8>,
}

impl EfCom {
    /// LDS 1.7, Unicode 4.0.0, with the tags of `groups`.
    pub fn new(groups: &[DataGroup]) -> Self {
        Self {
            lds_version: "0107".into(),
            unicode_version: "040000".into(),
            tags: groups.iter().map(|g| g.tag()).collect(),
        }
    }

    /// `60 { 5F01 lds version, 5F36 unicode version, 5C tag list }`.
    pub fn encode(&self) -> Vec<u8> {
        tlv::encode_constructed(
            EF_COM_TAG,
            &[
                tlv::encode(0x5F01, self.lds_version.as_bytes()),
                tlv::encode(0x5F36, self.unicode_version.as_bytes()),
                tlv::encode(0x5C, &self.tags),
            ],
        )
    }

    /// Reads EF.COM.
    pub fn decode(bytes: &[u8]) -> Result<Self, LdsError> {
        const F: &str = "EF.COM";
        let c = open(F, bytes, EF_COM_TAG)?;
        let get = |tag| find(&c, tag).ok_or(LdsError::Missing { file: F, tag });
        let lds_version = ascii(F, "LDS version", get(0x5F01)?)?;
        let unicode_version = ascii(F, "Unicode version", get(0x5F36)?)?;
        let tags = get(0x5C)?.to_vec();
        if lds_version.len() != 4 || !lds_version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(F, "LDS version must be 4 digits"));
        }
        if unicode_version.len() != 6 || !unicode_version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(F, "Unicode version must be 6 digits"));
        }
        Ok(Self {
            lds_version,
            unicode_version,
            tags,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// DG1

/// DG1: the MRZ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dg1 {
    /// The MRZ lines concatenated without line breaks (90 characters for TD1).
    pub mrz: String,
}

impl Dg1 {
    /// This data group's number.
    pub const NUMBER: u8 = 1;

    /// DG1 for a TD1 MRZ.
    pub fn from_td1(td1: &Td1) -> Result<Self, MrzError> {
        Ok(Self {
            mrz: td1.to_mrz_string()?,
        })
    }

    /// Parses the stored MRZ as TD1.
    pub fn parse_td1(&self) -> Result<ParsedTd1, MrzError> {
        mrz::parse_td1(&self.mrz)
    }

    /// `61 { 5F1F mrz }`.
    pub fn encode(&self) -> Vec<u8> {
        tlv::encode_constructed(0x61, &[tlv::encode(0x5F1F, self.mrz.as_bytes())])
    }

    /// Reads DG1.
    pub fn decode(bytes: &[u8]) -> Result<Self, LdsError> {
        const F: &str = "DG1";
        let c = open(F, bytes, 0x61)?;
        let mrz = find(&c, 0x5F1F).ok_or(LdsError::Missing {
            file: F,
            tag: 0x5F1F,
        })?;
        Ok(Self {
            mrz: ascii(F, "MRZ", mrz)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Biometric templates (DG2, DG3)

/// CBEFF biometric type: facial features.
pub const BIOMETRIC_TYPE_FACE: u8 = 0x02;
/// CBEFF biometric type: finger.
pub const BIOMETRIC_TYPE_FINGER: u8 = 0x08;
/// CBEFF biometric type: iris.
pub const BIOMETRIC_TYPE_IRIS: u8 = 0x10;
/// CBEFF format owner ISO/IEC JTC 1/SC 37 (IBIA registration 257).
pub const FORMAT_OWNER_SC37: u16 = 0x0101;
/// SC 37 format type: face image, ISO/IEC 19794-5 (Doc 9303 Part 10 DG2).
pub const FORMAT_TYPE_FACE_IMAGE: u16 = 0x0008;
/// SC 37 format type: finger image, ISO/IEC 19794-4 (Doc 9303 Part 10 DG3).
pub const FORMAT_TYPE_FINGER_IMAGE: u16 = 0x0007;
/// SC 37 format type for finger minutiae, ISO/IEC 19794-2, as commonly cited from the IBIA
/// registry. Doc 9303 specifies finger **images** for DG3; this value is not from Doc 9303 and
/// was not verified against the registry.
pub const FORMAT_TYPE_FINGER_MINUTIAE: u16 = 0x0002;
/// ICAO header version `0101` (tag `80` of the biometric header template).
pub const ICAO_HEADER_VERSION: u16 = 0x0101;

/// CBEFF finger subtypes (tag `82`): combine a side with a finger, e.g.
/// `finger::RIGHT | finger::THUMB` = `0x05`.
pub mod finger {
    /// Right hand.
    pub const RIGHT: u8 = 0x01;
    /// Left hand.
    pub const LEFT: u8 = 0x02;
    /// Thumb.
    pub const THUMB: u8 = 0x04;
    /// Index (pointer) finger.
    pub const INDEX: u8 = 0x08;
    /// Middle finger.
    pub const MIDDLE: u8 = 0x0C;
    /// Ring finger.
    pub const RING: u8 = 0x10;
    /// Little finger.
    pub const LITTLE: u8 = 0x14;
}

/// One biometric instance: the biometric header template fields and the biometric data block
/// (the ISO/IEC 19794 record, passed through unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BiometricRecord {
    /// CBEFF biometric type (tag `81`).
    pub biometric_type: u8,
    /// CBEFF biometric subtype (tag `82`), e.g. a finger position; `None` omits the element.
    pub subtype: Option<u8>,
    /// Format owner (tag `87`).
    pub format_owner: u16,
    /// Format type (tag `88`).
    pub format_type: u16,
    /// The biometric data block (tag `5F2E`).
    pub data: Vec<u8>,
}

/// A face instance of DG2 (same structure as any biometric record).
pub type BiometricImage = BiometricRecord;

impl BiometricRecord {
    /// A face: type `02`, no subtype, format `0101`/`0008`, an ISO/IEC 19794-5 record (for
    /// example from [`face_record_19794_5`]).
    pub fn face(record_19794_5: Vec<u8>) -> Self {
        Self {
            biometric_type: BIOMETRIC_TYPE_FACE,
            subtype: None,
            format_owner: FORMAT_OWNER_SC37,
            format_type: FORMAT_TYPE_FACE_IMAGE,
            data: record_19794_5,
        }
    }

    /// A finger: type `08`, subtype = finger position ([`finger`]), format owner `0101`,
    /// format type as given ([`FORMAT_TYPE_FINGER_IMAGE`] for ISO/IEC 19794-4 records).
    pub fn finger(position: u8, format_type: u16, record: Vec<u8>) -> Self {
        Self {
            biometric_type: BIOMETRIC_TYPE_FINGER,
            subtype: Some(position),
            format_owner: FORMAT_OWNER_SC37,
            format_type,
            data: record,
        }
    }

    /// This record as a block to encode (its data block in one piece).
    pub fn as_block<'a>(&'a self, data: &'a [&'a [u8]]) -> BiometricBlock<'a> {
        BiometricBlock {
            biometric_type: self.biometric_type,
            subtype: self.subtype,
            format_owner: self.format_owner,
            format_type: self.format_type,
            data,
        }
    }

    fn decode_bit(file: &'static str, bit: &Tlv<'_>) -> Result<Self, LdsError> {
        let c = bit.children()?;
        let bht = c
            .iter()
            .find(|t| t.tag == 0xA1)
            .ok_or(LdsError::Missing { file, tag: 0xA1 })?
            .children()?;
        if find(&c, 0x7F2E).is_some() {
            return Err(invalid(
                file,
                "enciphered biometric data block (7F2E) is not supported",
            ));
        }
        let data = find(&c, 0x5F2E).ok_or(LdsError::Missing { file, tag: 0x5F2E })?;
        let u16_of = |tag: u32| -> Result<u16, LdsError> {
            let v = find(&bht, tag).ok_or(LdsError::Missing { file, tag })?;
            let a: [u8; 2] = v
                .try_into()
                .map_err(|_| invalid(file, format!("element {tag:#x} must be 2 bytes")))?;
            Ok(u16::from_be_bytes(a))
        };
        // Biometric type is one byte in Doc 9303 examples, three in CBEFF; accept both.
        let bt = find(&bht, 0x81).unwrap_or(&[]);
        let biometric_type = match bt {
            [t] | [0, 0, t] => *t,
            _ => return Err(invalid(file, "biometric type (81) must be 1 or 3 bytes")),
        };
        let subtype = match find(&bht, 0x82) {
            None => None,
            Some([s]) => Some(*s),
            Some(_) => return Err(invalid(file, "biometric subtype (82) must be 1 byte")),
        };
        Ok(Self {
            biometric_type,
            subtype,
            format_owner: u16_of(0x87)?,
            format_type: u16_of(0x88)?,
            data: data.to_vec(),
        })
    }
}

/// A biometric instance to encode, with its data block borrowed in pieces (for example a
/// 19794-5 header, then the image as captured). A data group is one allocation and each image
/// is copied once, into it: nesting 20 KB images through five levels of owned TLV buffers
/// cost as much as hashing them.
#[derive(Debug, Clone, Copy)]
pub struct BiometricBlock<'a> {
    /// CBEFF biometric type (tag `81`).
    pub biometric_type: u8,
    /// CBEFF biometric subtype (tag `82`); `None` omits the element.
    pub subtype: Option<u8>,
    /// Format owner (tag `87`).
    pub format_owner: u16,
    /// Format type (tag `88`).
    pub format_type: u16,
    /// The biometric data block (tag `5F2E`): the concatenation of these pieces.
    pub data: &'a [&'a [u8]],
}

impl BiometricBlock<'_> {
    fn data_len(&self) -> usize {
        self.data.iter().map(|d| d.len()).sum()
    }

    /// The value of `A1`: `80 02 version · 81 01 type · [82 01 subtype] · 87 02 · 88 02`.
    fn header_template_len(&self) -> usize {
        4 + 3 + if self.subtype.is_some() { 3 } else { 0 } + 4 + 4
    }

    /// The value of `7F60`: `A1 {…} · 5F2E data`.
    fn value_len(&self) -> usize {
        tlv::encoded_len(0xA1, self.header_template_len())
            + tlv::encoded_len(0x5F2E, self.data_len())
    }

    fn write(&self, out: &mut Vec<u8>) {
        tlv::push_header(out, 0x7F60, self.value_len());
        tlv::push_header(out, 0xA1, self.header_template_len());
        out.extend_from_slice(&[0x80, 2]);
        out.extend_from_slice(&ICAO_HEADER_VERSION.to_be_bytes());
        out.extend_from_slice(&[0x81, 1, self.biometric_type]);
        if let Some(s) = self.subtype {
            out.extend_from_slice(&[0x82, 1, s]);
        }
        out.extend_from_slice(&[0x87, 2]);
        out.extend_from_slice(&self.format_owner.to_be_bytes());
        out.extend_from_slice(&[0x88, 2]);
        out.extend_from_slice(&self.format_type.to_be_bytes());
        tlv::push_header(out, 0x5F2E, self.data_len());
        for piece in self.data {
            out.extend_from_slice(piece);
        }
    }
}

/// A biometric data group (DG2 face, DG3 finger, DG4 iris):
/// `tag { 7F61 { 02 count, 7F60 { A1 {80,81,82?,87,88}, 5F2E data }* } }`, written in one
/// pass. Fails for another data group or more than 255 instances.
pub fn encode_biometric_group(
    group: DataGroup,
    blocks: &[BiometricBlock<'_>],
) -> Result<Vec<u8>, LdsError> {
    if !matches!(group.number(), 2..=4) {
        return Err(invalid(
            "biometric group",
            format!("{group} is not a biometric data group"),
        ));
    }
    let count = u8::try_from(blocks.len())
        .map_err(|_| invalid("biometric group", "more than 255 instances"))?;
    let group_len: usize = 3 + blocks
        .iter()
        .map(|b| tlv::encoded_len(0x7F60, b.value_len()))
        .sum::<usize>();
    let outer = u32::from(group.tag());
    let file_len = tlv::encoded_len(outer, tlv::encoded_len(0x7F61, group_len));
    let mut out = Vec::with_capacity(file_len);
    tlv::push_header(&mut out, outer, tlv::encoded_len(0x7F61, group_len));
    tlv::push_header(&mut out, 0x7F61, group_len);
    out.extend_from_slice(&[0x02, 1, count]);
    for b in blocks {
        b.write(&mut out);
    }
    Ok(out)
}

fn encode_records(number: u8, records: &[BiometricRecord]) -> Result<Vec<u8>, LdsError> {
    let group = DataGroup::new(number).ok_or_else(|| invalid("biometric group", "number"))?;
    let pieces: Vec<[&[u8]; 1]> = records.iter().map(|r| [r.data.as_slice()]).collect();
    let blocks: Vec<BiometricBlock<'_>> = records
        .iter()
        .zip(&pieces)
        .map(|(r, p)| r.as_block(p))
        .collect();
    encode_biometric_group(group, &blocks)
}

fn decode_biometric_group(
    file: &'static str,
    bytes: &[u8],
    outer: u32,
) -> Result<Vec<BiometricRecord>, LdsError> {
    let c = open(file, bytes, outer)?;
    let group = c
        .iter()
        .find(|t| t.tag == 0x7F61)
        .ok_or(LdsError::Missing { file, tag: 0x7F61 })?
        .children()?;
    let count = match find(&group, 0x02) {
        Some([n]) => usize::from(*n),
        Some(_) => return Err(invalid(file, "instance count (02) must be 1 byte")),
        None => return Err(LdsError::Missing { file, tag: 0x02 }),
    };
    let records = group
        .iter()
        .filter(|t| t.tag == 0x7F60)
        .map(|t| BiometricRecord::decode_bit(file, t))
        .collect::<Result<Vec<_>, _>>()?;
    if records.len() != count {
        return Err(invalid(
            file,
            format!("count says {count} instances, found {}", records.len()),
        ));
    }
    Ok(records)
}

/// DG2: encoded face(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dg2 {
    /// The face instances (at least one on an issued document).
    pub faces: Vec<BiometricImage>,
}

impl Dg2 {
    /// This data group's number.
    pub const NUMBER: u8 = 2;

    /// `75 { 7F61 { 02 count, 7F60 { A1 {80,81,82?,87,88}, 5F2E record }* } }`.
    /// Fails only with more than 255 faces.
    pub fn encode(&self) -> Result<Vec<u8>, LdsError> {
        encode_records(Self::NUMBER, &self.faces)
    }

    /// Reads DG2.
    pub fn decode(bytes: &[u8]) -> Result<Self, LdsError> {
        Ok(Self {
            faces: decode_biometric_group("DG2", bytes, 0x75)?,
        })
    }
}

/// DG3: encoded finger(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dg3 {
    /// The finger instances, records passed through (ISO/IEC 19794-4 or 19794-2).
    pub fingers: Vec<BiometricRecord>,
}

impl Dg3 {
    /// This data group's number.
    pub const NUMBER: u8 = 3;

    /// `63 { 7F61 { 02 count, 7F60 { A1 {80,81 08,82 position,87,88}, 5F2E record }* } }`.
    /// Fails only with more than 255 fingers.
    pub fn encode(&self) -> Result<Vec<u8>, LdsError> {
        encode_records(Self::NUMBER, &self.fingers)
    }

    /// Reads DG3.
    pub fn decode(bytes: &[u8]) -> Result<Self, LdsError> {
        Ok(Self {
            fingers: decode_biometric_group("DG3", bytes, 0x63)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// ISO/IEC 19794-5:2005 face record

/// Compression of the face image (19794-5 "image data type").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageDataType {
    /// `0`: JPEG (ISO/IEC 10918).
    Jpeg,
    /// `1`: JPEG 2000 (ISO/IEC 15444).
    Jpeg2000,
}

/// The header fields of a one-image ISO/IEC 19794-5:2005 record.
///
/// Values written by [`FaceImageInfo::new`]: face image type 1 (full frontal), gender 0
/// (unspecified), eye colour 0 and hair colour 0 (unspecified), feature mask 0 (no properties
/// given), expression 0 (unspecified), pose angles and uncertainties 0 (unspecified), colour
/// space 0 (unspecified), source type 0 (unspecified), device type 0, quality 0 (unspecified),
/// no feature points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceImageInfo {
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// JPEG or JPEG 2000.
    pub image_data_type: ImageDataType,
    /// 0 basic, 1 full frontal, 2 token frontal.
    pub face_image_type: u8,
    /// 0 unspecified, 1 male, 2 female, 0xFF unknown.
    pub gender: u8,
    /// 0 unspecified (19794-5 table of eye colours).
    pub eye_colour: u8,
    /// 0 unspecified (19794-5 table of hair colours).
    pub hair_colour: u8,
    /// 0 unspecified, 1 neutral …
    pub expression: u16,
    /// 0 unspecified, 1 RGB 24-bit, 2 YUV422, 3 greyscale 8-bit, 4 other.
    pub colour_space: u8,
    /// 0 unspecified, 1 static photo unknown source, 2 digital still camera, 3 scanner …
    pub source_type: u8,
    /// Vendor device type, 0 unspecified.
    pub device_type: u16,
    /// 0 unspecified.
    pub quality: u16,
}

impl FaceImageInfo {
    /// A full-frontal image with every optional property unspecified.
    pub fn new(width: u16, height: u16, image_data_type: ImageDataType) -> Self {
        Self {
            width,
            height,
            image_data_type,
            face_image_type: 1,
            gender: 0,
            eye_colour: 0,
            hair_colour: 0,
            expression: 0,
            colour_space: 0,
            source_type: 0,
            device_type: 0,
            quality: 0,
        }
    }
}

/// Builds an ISO/IEC 19794-5:2005 record holding one face image:
///
/// ```text
/// general header (14): "FAC\0" · "010\0" · record length (4) · number of faces (2) = 1
/// facial information (20): facial record data length (4) · feature points (2) = 0 · gender (1)
///     · eye colour (1) · hair colour (1) · feature mask (3) · expression (2)
///     · pose angles yaw/pitch/roll (3) · pose angle uncertainties (3)
/// image information (12): face image type (1) · image data type (1) · width (2) · height (2)
///     · colour space (1) · source type (1) · device type (2) · quality (2)
/// image data: the JPEG / JPEG 2000 bytes
/// ```
/// All integers big-endian. Fails only for an image larger than a 32-bit length allows.
pub fn face_record_19794_5(image: &[u8], info: &FaceImageInfo) -> Result<Vec<u8>, LdsError> {
    let mut r = face_record_header_19794_5(image.len(), info)?;
    r.extend_from_slice(image);
    Ok(r)
}

/// The 46 bytes of an ISO/IEC 19794-5 record that precede an image of `image_len` bytes (see
/// [`face_record_19794_5`]): with the image as a second piece of a [`BiometricBlock`], the
/// image is not copied into a record of its own first.
pub fn face_record_header_19794_5(
    image_len: usize,
    info: &FaceImageInfo,
) -> Result<Vec<u8>, LdsError> {
    let facial_len = u32::try_from(20 + 12 + image_len)
        .map_err(|_| invalid("ISO/IEC 19794-5", "image too large"))?;
    let record_len = facial_len
        .checked_add(14)
        .ok_or_else(|| invalid("ISO/IEC 19794-5", "image too large"))?;
    let mut r = Vec::with_capacity(46 + image_len);
    r.extend_from_slice(b"FAC\0");
    r.extend_from_slice(b"010\0");
    r.extend_from_slice(&record_len.to_be_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    // Facial information block.
    r.extend_from_slice(&facial_len.to_be_bytes());
    r.extend_from_slice(&0u16.to_be_bytes());
    r.push(info.gender);
    r.push(info.eye_colour);
    r.push(info.hair_colour);
    r.extend_from_slice(&[0, 0, 0]);
    r.extend_from_slice(&info.expression.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0]);
    r.extend_from_slice(&[0, 0, 0]);
    // Image information block.
    r.push(info.face_image_type);
    r.push(match info.image_data_type {
        ImageDataType::Jpeg => 0,
        ImageDataType::Jpeg2000 => 1,
    });
    r.extend_from_slice(&info.width.to_be_bytes());
    r.extend_from_slice(&info.height.to_be_bytes());
    r.push(info.colour_space);
    r.push(info.source_type);
    r.extend_from_slice(&info.device_type.to_be_bytes());
    r.extend_from_slice(&info.quality.to_be_bytes());
    Ok(r)
}

/// The first face of an ISO/IEC 19794-5 record: its header fields and image bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceRecord {
    /// Header fields.
    pub info: FaceImageInfo,
    /// Number of faces the record declares.
    pub number_of_faces: u16,
    /// The JPEG / JPEG 2000 bytes of the first face.
    pub image: Vec<u8>,
}

/// Reads the first face of an ISO/IEC 19794-5:2005 record (the "FAC\0" "010\0" format).
/// ISO/IEC 39794-5 records are reported as unsupported.
pub fn parse_face_record_19794_5(record: &[u8]) -> Result<FaceRecord, LdsError> {
    const F: &str = "ISO/IEC 19794-5";
    let take = |from: usize, n: usize| -> Result<&[u8], LdsError> {
        record
            .get(from..from.saturating_add(n))
            .ok_or_else(|| invalid(F, format!("truncated at offset {from}")))
    };
    let be16 = |from: usize| -> Result<u16, LdsError> {
        let b = take(from, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    };
    let be32 = |from: usize| -> Result<u32, LdsError> {
        let b = take(from, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    if take(0, 4)? != b"FAC\0" {
        return Err(invalid(
            F,
            "no \"FAC\\0\" header (ISO/IEC 39794-5 is not supported)",
        ));
    }
    if take(4, 4)? != b"010\0" {
        return Err(invalid(F, "unsupported version (expected \"010\\0\")"));
    }
    let record_len = be32(8)? as usize;
    if record_len != record.len() {
        return Err(invalid(
            F,
            format!("record length {record_len} but {} bytes", record.len()),
        ));
    }
    let number_of_faces = be16(12)?;
    if number_of_faces == 0 {
        return Err(invalid(F, "no face in the record"));
    }
    let base = 14;
    let facial_len = be32(base)? as usize;
    let feature_points = usize::from(be16(base + 4)?);
    let h = take(base, 20)?;
    let (gender, eye_colour, hair_colour) = (h[6], h[7], h[8]);
    let expression = u16::from_be_bytes([h[12], h[13]]);
    let ii = base + 20 + 8 * feature_points;
    let info_bytes = take(ii, 12)?;
    let image_data_type = match info_bytes[1] {
        0 => ImageDataType::Jpeg,
        1 => ImageDataType::Jpeg2000,
        other => return Err(invalid(F, format!("unknown image data type {other}"))),
    };
    let header_len = 20 + 8 * feature_points + 12;
    let image_len = facial_len
        .checked_sub(header_len)
        .ok_or_else(|| invalid(F, "facial record data length too small"))?;
    let image = take(ii + 12, image_len)?.to_vec();
    Ok(FaceRecord {
        info: FaceImageInfo {
            width: u16::from_be_bytes([info_bytes[2], info_bytes[3]]),
            height: u16::from_be_bytes([info_bytes[4], info_bytes[5]]),
            image_data_type,
            face_image_type: info_bytes[0],
            gender,
            eye_colour,
            hair_colour,
            expression,
            colour_space: info_bytes[6],
            source_type: info_bytes[7],
            device_type: u16::from_be_bytes([info_bytes[8], info_bytes[9]]),
            quality: u16::from_be_bytes([info_bytes[10], info_bytes[11]]),
        },
        number_of_faces,
        image,
    })
}

// ---------------------------------------------------------------------------------------------
// Dates in DG11 / DG12

/// `CCYYMMDD`, the DG11/DG12 date form.
pub fn ccyymmdd(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

/// `CCYYMMDDhhmmss`, the DG12 personalisation time form.
pub fn ccyymmddhhmmss(time: NaiveDateTime) -> String {
    time.format("%Y%m%d%H%M%S").to_string()
}

/// Checks a digit string of the given length (dates are written as ASCII digits; an unknown
/// month or day is written `00`, as Part 10 allows for a partial date of birth).
fn check_digits(file: &'static str, what: &str, s: &str, len: usize) -> Result<(), LdsError> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(file, format!("{what} must be {len} digits: {s:?}")));
    }
    Ok(())
}

/// Reads a date written as 8 ASCII digits, or as 4 bytes of BCD as some older chips do.
fn read_date(file: &'static str, what: &str, v: &[u8]) -> Result<String, LdsError> {
    // An ASCII date has 8 bytes; 4 bytes can only be BCD.
    let s = if v.len() == 4 {
        hex::encode(v)
    } else {
        ascii(file, what, v)?
    };
    check_digits(file, what, &s, 8)?;
    Ok(s)
}

/// `A0 { 02 count, <tag> item* }`.
fn encode_list(tag: u32, items: &[String]) -> Result<Vec<u8>, LdsError> {
    let count = u8::try_from(items.len()).map_err(|_| invalid("list", "more than 255 entries"))?;
    let mut inner = vec![tlv::encode(0x02, &[count])];
    inner.extend(items.iter().map(|s| tlv::encode(tag, s.as_bytes())));
    Ok(tlv::encode_constructed(0xA0, &inner))
}

fn decode_list(file: &'static str, v: &[u8], tag: u32) -> Result<Vec<String>, LdsError> {
    let c = tlv::parse_all(v)?;
    let items = c
        .iter()
        .filter(|t| t.tag == tag)
        .map(|t| utf8(file, "list entry", t.value))
        .collect::<Result<Vec<_>, _>>()?;
    match find(&c, 0x02) {
        Some([n]) if usize::from(*n) == items.len() => Ok(items),
        _ => Err(invalid(file, "list count (02) missing or not matching")),
    }
}

// ---------------------------------------------------------------------------------------------
// DG11

/// DG11: additional personal details. Text is UTF-8 in any script (Part 10).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dg11 {
    /// `5F0E` full name in national characters, primary and secondary identifiers separated by
    /// `<<` (`"ສົມພອນ<<ວົງສາ"`).
    pub full_name: Option<String>,
    /// `5F0F` other names, in an `A0 { 02 count, 5F0F* }` template.
    pub other_names: Vec<String>,
    /// `5F10` personal number.
    pub personal_number: Option<String>,
    /// `5F2B` full date of birth `CCYYMMDD` (8 digits; `00` for an unknown month or day).
    pub full_date_of_birth: Option<String>,
    /// `5F11` place of birth (parts separated by `<`).
    pub place_of_birth: Option<String>,
    /// `5F42` permanent address (parts separated by `<`).
    pub address: Option<String>,
    /// `5F12` telephone.
    pub telephone: Option<String>,
    /// `5F13` profession.
    pub profession: Option<String>,
    /// `5F14` title.
    pub title: Option<String>,
    /// `5F15` personal summary.
    pub personal_summary: Option<String>,
    /// `5F16` proof of citizenship (an image).
    pub proof_of_citizenship: Option<Vec<u8>>,
    /// `5F17` other valid travel-document numbers (separated by `<`).
    pub other_td_numbers: Option<String>,
    /// `5F18` custody information.
    pub custody_information: Option<String>,
}

impl Dg11 {
    /// This data group's number.
    pub const NUMBER: u8 = 11;

    /// `6B { 5C tag list, elements in Part 10 order }`. The tag list names `5F0F` for the
    /// other-names template.
    pub fn encode(&self) -> Result<Vec<u8>, LdsError> {
        const F: &str = "DG11";
        if let Some(d) = &self.full_date_of_birth {
            check_digits(F, "full date of birth", d, 8)?;
        }
        let mut tags = Vec::new();
        let mut elems = Vec::new();
        let text = |tag: u32, v: &Option<String>, tags: &mut Vec<u32>, elems: &mut Vec<_>| {
            if let Some(v) = v {
                tags.push(tag);
                elems.push(tlv::encode(tag, v.as_bytes()));
            }
        };
        text(0x5F0E, &self.full_name, &mut tags, &mut elems);
        if !self.other_names.is_empty() {
            tags.push(0x5F0F);
            elems.push(encode_list(0x5F0F, &self.other_names)?);
        }
        text(0x5F10, &self.personal_number, &mut tags, &mut elems);
        text(0x5F2B, &self.full_date_of_birth, &mut tags, &mut elems);
        text(0x5F11, &self.place_of_birth, &mut tags, &mut elems);
        text(0x5F42, &self.address, &mut tags, &mut elems);
        text(0x5F12, &self.telephone, &mut tags, &mut elems);
        text(0x5F13, &self.profession, &mut tags, &mut elems);
        text(0x5F14, &self.title, &mut tags, &mut elems);
        text(0x5F15, &self.personal_summary, &mut tags, &mut elems);
        if let Some(img) = &self.proof_of_citizenship {
            tags.push(0x5F16);
            elems.push(tlv::encode(0x5F16, img));
        }
        text(0x5F17, &self.other_td_numbers, &mut tags, &mut elems);
        text(0x5F18, &self.custody_information, &mut tags, &mut elems);
        let mut all = vec![tlv::encode(0x5C, &tag_list(&tags))];
        all.extend(elems);
        Ok(tlv::encode_constructed(0x6B, &all))
    }

    /// Reads DG11 (unknown elements are ignored).
    pub fn decode(bytes: &[u8]) -> Result<Self, LdsError> {
        const F: &str = "DG11";
        let c = open(F, bytes, 0x6B)?;
        if find(&c, 0x5C).is_none() {
            return Err(LdsError::Missing { file: F, tag: 0x5C });
        }
        let text = |tag: u32| -> Result<Option<String>, LdsError> {
            find(&c, tag)
                .map(|v| utf8(F, "text element", v))
                .transpose()
        };
        let other_names = match find(&c, 0xA0) {
            Some(v) => decode_list(F, v, 0x5F0F)?,
            // Some writers put 5F0F elements directly in the group.
            None => c
                .iter()
                .filter(|t| t.tag == 0x5F0F)
                .map(|t| utf8(F, "other name", t.value))
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            full_name: text(0x5F0E)?,
            other_names,
            personal_number: text(0x5F10)?,
            full_date_of_birth: find(&c, 0x5F2B)
                .map(|v| read_date(F, "full date of birth", v))
                .transpose()?,
            place_of_birth: text(0x5F11)?,
            address: text(0x5F42)?,
            telephone: text(0x5F12)?,
            profession: text(0x5F13)?,
            title: text(0x5F14)?,
            personal_summary: text(0x5F15)?,
            proof_of_citizenship: find(&c, 0x5F16).map(<[u8]>::to_vec),
            other_td_numbers: text(0x5F17)?,
            custody_information: text(0x5F18)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// DG12

/// DG12: additional document details.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dg12 {
    /// `5F19` issuing authority.
    pub issuing_authority: Option<String>,
    /// `5F26` date of issue `CCYYMMDD`.
    pub date_of_issue: Option<String>,
    /// `5F1A` names of other persons, in an `A0 { 02 count, 5F1A* }` template.
    pub other_persons: Vec<String>,
    /// `5F1B` endorsements and observations.
    pub endorsements: Option<String>,
    /// `5F1C` tax or exit requirements.
    pub tax_exit_requirements: Option<String>,
    /// `5F1D` image of the front of the document.
    pub front_image: Option<Vec<u8>>,
    /// `5F1E` image of the rear of the document.
    pub rear_image: Option<Vec<u8>>,
    /// `5F55` date and time of personalisation `CCYYMMDDhhmmss`.
    pub personalisation_time: Option<String>,
    /// `5F56` serial number of the personalisation system.
    pub personalisation_device_serial: Option<String>,
}

impl Dg12 {
    /// This data group's number.
    pub const NUMBER: u8 = 12;

    /// `6C { 5C tag list, elements in Part 10 order }`.
    pub fn encode(&self) -> Result<Vec<u8>, LdsError> {
        const F: &str = "DG12";
        if let Some(d) = &self.date_of_issue {
            check_digits(F, "date of issue", d, 8)?;
        }
        if let Some(t) = &self.personalisation_time {
            check_digits(F, "personalisation time", t, 14)?;
        }
        let mut tags = Vec::new();
        let mut elems = Vec::new();
        let put = |tag: u32, v: Option<&[u8]>, tags: &mut Vec<u32>, elems: &mut Vec<_>| {
            if let Some(v) = v {
                tags.push(tag);
                elems.push(tlv::encode(tag, v));
            }
        };
        put(
            0x5F19,
            self.issuing_authority.as_deref().map(str::as_bytes),
            &mut tags,
            &mut elems,
        );
        put(
            0x5F26,
            self.date_of_issue.as_deref().map(str::as_bytes),
            &mut tags,
            &mut elems,
        );
        if !self.other_persons.is_empty() {
            tags.push(0x5F1A);
            elems.push(encode_list(0x5F1A, &self.other_persons)?);
        }
        put(
            0x5F1B,
            self.endorsements.as_deref().map(str::as_bytes),
            &mut tags,
            &mut elems,
        );
        put(
            0x5F1C,
            self.tax_exit_requirements.as_deref().map(str::as_bytes),
            &mut tags,
            &mut elems,
        );
        put(0x5F1D, self.front_image.as_deref(), &mut tags, &mut elems);
        put(0x5F1E, self.rear_image.as_deref(), &mut tags, &mut elems);
        put(
            0x5F55,
            self.personalisation_time.as_deref().map(str::as_bytes),
            &mut tags,
            &mut elems,
        );
        put(
            0x5F56,
            self.personalisation_device_serial
                .as_deref()
                .map(str::as_bytes),
            &mut tags,
            &mut elems,
        );
        let mut all = vec![tlv::encode(0x5C, &tag_list(&tags))];
        all.extend(elems);
        Ok(tlv::encode_constructed(0x6C, &all))
    }

    /// Reads DG12 (unknown elements are ignored).
    pub fn decode(bytes: &[u8]) -> Result<Self, LdsError> {
        const F: &str = "DG12";
        let c = open(F, bytes, 0x6C)?;
        if find(&c, 0x5C).is_none() {
            return Err(LdsError::Missing { file: F, tag: 0x5C });
        }
        let text = |tag: u32| -> Result<Option<String>, LdsError> {
            find(&c, tag)
                .map(|v| utf8(F, "text element", v))
                .transpose()
        };
        let personalisation_time = text(0x5F55)?;
        if let Some(t) = &personalisation_time {
            check_digits(F, "personalisation time", t, 14)?;
        }
        Ok(Self {
            issuing_authority: text(0x5F19)?,
            date_of_issue: find(&c, 0x5F26)
                .map(|v| read_date(F, "date of issue", v))
                .transpose()?,
            other_persons: match find(&c, 0xA0) {
                Some(v) => decode_list(F, v, 0x5F1A)?,
                None => Vec::new(),
            },
            endorsements: text(0x5F1B)?,
            tax_exit_requirements: text(0x5F1C)?,
            front_image: find(&c, 0x5F1D).map(<[u8]>::to_vec),
            rear_image: find(&c, 0x5F1E).map(<[u8]>::to_vec),
            personalisation_time,
            personalisation_device_serial: text(0x5F56)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// DG13

/// Field codes Thabian writes in DG13 (see the module documentation for the grammar).
pub mod dg13_codes {
    /// Ethnicity.
    pub const ETHNICITY: &str = "ethnicity";
    /// Religion.
    pub const RELIGION: &str = "religion";
    /// Hometown (place of origin).
    pub const HOMETOWN: &str = "hometown";
    /// Father's full name.
    pub const FATHER_NAME: &str = "father_name";
    /// Mother's full name.
    pub const MOTHER_NAME: &str = "mother_name";
    /// Spouse's full name.
    pub const SPOUSE_NAME: &str = "spouse_name";
    /// Identifying marks.
    pub const IDENTIFYING_MARKS: &str = "identifying_marks";
    /// A previous identity-card number.
    pub const OLD_ID_NUMBER: &str = "old_id_number";
}

/// DG13: issuer-defined national fields, `(code, value)` in order (grammar in the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dg13 {
    /// The fields.
    pub fields: Vec<(String, String)>,
}

fn valid_dg13_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

impl Dg13 {
    /// This data group's number.
    pub const NUMBER: u8 = 13;
    /// Format version written in element `80`.
    pub const FORMAT_VERSION: u8 = 1;

    /// Encodes per the module grammar; fails on an invalid code.
    pub fn encode(&self) -> Result<Vec<u8>, LdsError> {
        let mut all = vec![tlv::encode(0x80, &[Self::FORMAT_VERSION])];
        for (code, value) in &self.fields {
            if !valid_dg13_code(code) {
                return Err(invalid("DG13", format!("invalid field code {code:?}")));
            }
            all.push(tlv::encode_constructed(
                0x30,
                &[
                    tlv::encode(0x80, code.as_bytes()),
                    tlv::encode(0x81, value.as_bytes()),
                ],
            ));
        }
        Ok(tlv::encode_constructed(0x6D, &all))
    }

    /// Decodes per the module grammar.
    pub fn decode(bytes: &[u8]) -> Result<Self, LdsError> {
        const F: &str = "DG13";
        let c = open(F, bytes, 0x6D)?;
        let mut it = c.iter();
        match it.next() {
            Some(t) if t.tag == 0x80 && t.value == [Self::FORMAT_VERSION] => {}
            _ => {
                return Err(invalid(
                    F,
                    "missing or unsupported format version (80 01 01)",
                ))
            }
        }
        let mut fields = Vec::new();
        for t in it {
            if t.tag != 0x30 {
                return Err(invalid(F, format!("unexpected element {:#x}", t.tag)));
            }
            match t.children()?.as_slice() {
                [code, value] if code.tag == 0x80 && value.tag == 0x81 => {
                    let code = ascii(F, "field code", code.value)?;
                    if !valid_dg13_code(&code) {
                        return Err(invalid(F, format!("invalid field code {code:?}")));
                    }
                    fields.push((code, utf8(F, "field value", value.value)?));
                }
                _ => return Err(invalid(F, "a field must be 30 { 80 code, 81 value }")),
            }
        }
        Ok(Self { fields })
    }

    /// The first value recorded under `code`.
    pub fn get(&self, code: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// DG14, DG15

/// DG14: the DER `SecurityInfos` (a SET OF SecurityInfo), in tag `6E`. Kept as bytes, so
/// that any issuer's DG14 reads and hashes as written; [`Dg14::from_infos`] and [`Dg14::infos`]
/// build and read it typed ([`SecurityInfo`]), [`ChipSecurity`] from a chip's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dg14 {
    /// DER of SecurityInfos.
    pub security_infos: Vec<u8>,
}

fn check_der(file: &'static str, der_bytes: &[u8], expected_tag: der::Tag) -> Result<(), LdsError> {
    use der::{Decode, Tagged};
    let any = der::Any::from_der(der_bytes)
        .map_err(|e| invalid(file, format!("content is not one DER value: {e}")))?;
    if any.tag() != expected_tag {
        return Err(invalid(
            file,
            format!("content is a {}, expected a {expected_tag}", any.tag()),
        ));
    }
    Ok(())
}

impl Dg14 {
    /// This data group's number.
    pub const NUMBER: u8 = 14;

    /// `6E { SecurityInfos }`; fails unless the content is one DER SET.
    pub fn encode(&self) -> Result<Vec<u8>, LdsError> {
        check_der("DG14", &self.security_infos, der::Tag::Set)?;
        Ok(tlv::encode(0x6E, &self.security_infos))
    }

    /// Reads DG14; the content must be one DER SET.
    pub fn decode(bytes: &[u8]) -> Result<Self, LdsError> {
        let t = tlv::parse_tagged(bytes, 0x6E)?;
        check_der("DG14", t.value, der::Tag::Set)?;
        Ok(Self {
            security_infos: t.value.to_vec(),
        })
    }
}

/// DG15: the active-authentication public key (DER SubjectPublicKeyInfo), in tag `6F`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dg15 {
    /// DER of SubjectPublicKeyInfo.
    pub public_key_info: Vec<u8>,
}

fn check_spki(bytes: &[u8]) -> Result<(), LdsError> {
    use der::Decode;
    spki::SubjectPublicKeyInfoRef::from_der(bytes)
        .map_err(|e| invalid("DG15", format!("not a SubjectPublicKeyInfo: {e}")))?;
    Ok(())
}

impl Dg15 {
    /// This data group's number.
    pub const NUMBER: u8 = 15;

    /// `6F { SubjectPublicKeyInfo }`; fails unless the content parses as one.
    pub fn encode(&self) -> Result<Vec<u8>, LdsError> {
        check_spki(&self.public_key_info)?;
        Ok(tlv::encode(0x6F, &self.public_key_info))
    }

    /// Reads DG15.
    pub fn decode(bytes: &[u8]) -> Result<Self, LdsError> {
        let t = tlv::parse_tagged(bytes, 0x6F)?;
        check_spki(t.value)?;
        Ok(Self {
            public_key_info: t.value.to_vec(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// DG14 SecurityInfos (Doc 9303 Part 11 §9.2)

/// Object identifiers of the SecurityInfos in DG14 (Doc 9303 Part 11 §9.2; the `bsi-de` arcs
/// 0.4.0.127.0.7 are BSI TR-03110's, the ECDSA plain-signature ones BSI TR-03111's).
pub mod security_oids {
    use der::asn1::ObjectIdentifier as Oid;

    /// id-PK-DH: a Chip Authentication Diffie-Hellman public key.
    pub const ID_PK_DH: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.1.1");
    /// id-PK-ECDH: a Chip Authentication elliptic-curve Diffie-Hellman public key.
    pub const ID_PK_ECDH: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.1.2");
    /// id-CA-DH-3DES-CBC-CBC.
    pub const ID_CA_DH_3DES_CBC_CBC: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.3.1.1");
    /// id-CA-DH-AES-CBC-CMAC-128.
    pub const ID_CA_DH_AES_CBC_CMAC_128: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.3.1.2");
    /// id-CA-DH-AES-CBC-CMAC-192.
    pub const ID_CA_DH_AES_CBC_CMAC_192: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.3.1.3");
    /// id-CA-DH-AES-CBC-CMAC-256.
    pub const ID_CA_DH_AES_CBC_CMAC_256: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.3.1.4");
    /// id-CA-ECDH-3DES-CBC-CBC.
    pub const ID_CA_ECDH_3DES_CBC_CBC: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.3.2.1");
    /// id-CA-ECDH-AES-CBC-CMAC-128.
    pub const ID_CA_ECDH_AES_CBC_CMAC_128: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.3.2.2");
    /// id-CA-ECDH-AES-CBC-CMAC-192.
    pub const ID_CA_ECDH_AES_CBC_CMAC_192: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.3.2.3");
    /// id-CA-ECDH-AES-CBC-CMAC-256.
    pub const ID_CA_ECDH_AES_CBC_CMAC_256: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.3.2.4");
    /// id-PACE: the PACE protocols are `id-PACE.<mapping>.<cipher>`.
    pub const ID_PACE: Oid = Oid::new_unwrap("0.4.0.127.0.7.2.2.4");
    /// id-AA (ICAO): Active Authentication.
    pub const ID_AA: Oid = Oid::new_unwrap("2.23.136.1.1.5");
    /// ecdsa-plain-SHA1 (an ECDSA Active Authentication signature, r||s).
    pub const ECDSA_PLAIN_SHA1: Oid = Oid::new_unwrap("0.4.0.127.0.7.1.1.4.1.1");
    /// ecdsa-plain-SHA224.
    pub const ECDSA_PLAIN_SHA224: Oid = Oid::new_unwrap("0.4.0.127.0.7.1.1.4.1.2");
    /// ecdsa-plain-SHA256.
    pub const ECDSA_PLAIN_SHA256: Oid = Oid::new_unwrap("0.4.0.127.0.7.1.1.4.1.3");
    /// ecdsa-plain-SHA384.
    pub const ECDSA_PLAIN_SHA384: Oid = Oid::new_unwrap("0.4.0.127.0.7.1.1.4.1.4");
    /// ecdsa-plain-SHA512.
    pub const ECDSA_PLAIN_SHA512: Oid = Oid::new_unwrap("0.4.0.127.0.7.1.1.4.1.5");
    /// dhpublicnumber (ANSI X9.42): a DH public key.
    pub const DH_PUBLIC_NUMBER: Oid = Oid::new_unwrap("1.2.840.10046.2.1");
    /// dhKeyAgreement (PKCS #3): a DH public key.
    pub const DH_KEY_AGREEMENT: Oid = Oid::new_unwrap("1.2.840.113549.1.3.1");
}

/// One SecurityInfo of DG14 (or EF.CardAccess).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityInfo {
    /// ChipAuthenticationPublicKeyInfo: protocol id-PK-DH or id-PK-ECDH, the chip's static key.
    ChipAuthenticationPublicKey {
        protocol: der::asn1::ObjectIdentifier,
        /// DER SubjectPublicKeyInfo.
        public_key: Vec<u8>,
        key_id: Option<u64>,
    },
    /// ChipAuthenticationInfo: an id-CA-… protocol, version 1.
    ChipAuthentication {
        protocol: der::asn1::ObjectIdentifier,
        version: u64,
        key_id: Option<u64>,
    },
    /// PACEInfo: an id-PACE-… protocol, version 2, the standardised domain parameters.
    Pace {
        protocol: der::asn1::ObjectIdentifier,
        version: u64,
        parameter_id: Option<u64>,
    },
    /// ActiveAuthenticationInfo: id-AA, version 1, the signature algorithm (ECDSA AA).
    ActiveAuthentication {
        version: u64,
        signature_algorithm: der::asn1::ObjectIdentifier,
    },
    /// Any other SecurityInfo (Terminal Authentication, …): its whole DER, kept as read.
    Other {
        protocol: der::asn1::ObjectIdentifier,
        der: Vec<u8>,
    },
}

/// ChipAuthenticationPublicKeyInfo.
#[derive(der::Sequence)]
struct PublicKeyInfoDer {
    protocol: der::asn1::ObjectIdentifier,
    public_key: der::Any,
    key_id: Option<u64>,
}

/// ChipAuthenticationInfo and PACEInfo share this shape: protocol, version, optional integer.
#[derive(der::Sequence)]
struct VersionedInfoDer {
    protocol: der::asn1::ObjectIdentifier,
    version: u64,
    id: Option<u64>,
}

/// ActiveAuthenticationInfo.
#[derive(der::Sequence)]
struct ActiveAuthenticationInfoDer {
    protocol: der::asn1::ObjectIdentifier,
    version: u64,
    signature_algorithm: der::asn1::ObjectIdentifier,
}

impl SecurityInfo {
    /// The protocol object identifier.
    pub fn protocol(&self) -> der::asn1::ObjectIdentifier {
        match self {
            Self::ChipAuthenticationPublicKey { protocol, .. }
            | Self::ChipAuthentication { protocol, .. }
            | Self::Pace { protocol, .. }
            | Self::Other { protocol, .. } => *protocol,
            Self::ActiveAuthentication { .. } => security_oids::ID_AA,
        }
    }

    /// The DER of this SecurityInfo.
    pub fn to_der(&self) -> Result<Vec<u8>, LdsError> {
        use der::{Decode, Encode};
        let bad = |e: der::Error| invalid("DG14", format!("encoding a SecurityInfo: {e}"));
        match self {
            Self::ChipAuthenticationPublicKey {
                protocol,
                public_key,
                key_id,
            } => PublicKeyInfoDer {
                protocol: *protocol,
                public_key: der::Any::from_der(public_key).map_err(bad)?,
                key_id: *key_id,
            }
            .to_der()
            .map_err(bad),
            Self::ChipAuthentication {
                protocol,
                version,
                key_id: id,
            }
            | Self::Pace {
                protocol,
                version,
                parameter_id: id,
            } => VersionedInfoDer {
                protocol: *protocol,
                version: *version,
                id: *id,
            }
            .to_der()
            .map_err(bad),
            Self::ActiveAuthentication {
                version,
                signature_algorithm,
            } => ActiveAuthenticationInfoDer {
                protocol: security_oids::ID_AA,
                version: *version,
                signature_algorithm: *signature_algorithm,
            }
            .to_der()
            .map_err(bad),
            Self::Other { der, .. } => Ok(der.clone()),
        }
    }

    /// Reads one SecurityInfo; the protocols above are read into their variant (and must have
    /// its structure), any other into [`SecurityInfo::Other`].
    pub fn from_der(bytes: &[u8]) -> Result<Self, LdsError> {
        use der::{Decode, Encode, Tagged};
        use security_oids as o;
        const F: &str = "DG14";
        let bad = |what: &str, e: der::Error| invalid(F, format!("{what}: {e}"));
        let any = der::Any::from_der(bytes).map_err(|e| bad("a SecurityInfo", e))?;
        if any.tag() != der::Tag::Sequence {
            return Err(invalid(F, "a SecurityInfo is not a SEQUENCE"));
        }
        let protocol = der::SliceReader::new(any.value())
            .and_then(|mut r| der::asn1::ObjectIdentifier::decode(&mut r))
            .map_err(|e| bad("a SecurityInfo's protocol", e))?;
        let id_ca = der::asn1::ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.3");
        if protocol == o::ID_PK_DH || protocol == o::ID_PK_ECDH {
            let d = PublicKeyInfoDer::from_der(bytes)
                .map_err(|e| bad("ChipAuthenticationPublicKeyInfo", e))?;
            Ok(Self::ChipAuthenticationPublicKey {
                protocol,
                public_key: d
                    .public_key
                    .to_der()
                    .map_err(|e| bad("ChipAuthenticationPublicKeyInfo", e))?,
                key_id: d.key_id,
            })
        } else if protocol.parent().is_some_and(|p| p.parent() == Some(id_ca)) {
            let d =
                VersionedInfoDer::from_der(bytes).map_err(|e| bad("ChipAuthenticationInfo", e))?;
            Ok(Self::ChipAuthentication {
                protocol,
                version: d.version,
                key_id: d.id,
            })
        } else if protocol
            .parent()
            .is_some_and(|p| p.parent() == Some(o::ID_PACE))
        {
            let d = VersionedInfoDer::from_der(bytes).map_err(|e| bad("PACEInfo", e))?;
            Ok(Self::Pace {
                protocol,
                version: d.version,
                parameter_id: d.id,
            })
        } else if protocol == o::ID_AA {
            let d = ActiveAuthenticationInfoDer::from_der(bytes)
                .map_err(|e| bad("ActiveAuthenticationInfo", e))?;
            Ok(Self::ActiveAuthentication {
                version: d.version,
                signature_algorithm: d.signature_algorithm,
            })
        } else {
            Ok(Self::Other {
                protocol,
                der: bytes.to_vec(),
            })
        }
    }
}

impl Dg14 {
    /// DG14 holding `infos` as a DER SET OF (sorted by encoding, as DER requires).
    pub fn from_infos(infos: &[SecurityInfo]) -> Result<Self, LdsError> {
        let mut encoded = infos
            .iter()
            .map(SecurityInfo::to_der)
            .collect::<Result<Vec<_>, _>>()?;
        encoded.sort();
        let security_infos = tlv::encode_constructed(0x31, &encoded);
        check_der("DG14", &security_infos, der::Tag::Set)?;
        Ok(Self { security_infos })
    }

    /// The SecurityInfos, in the order stored.
    pub fn infos(&self) -> Result<Vec<SecurityInfo>, LdsError> {
        use der::{Decode, Encode, Reader};
        let bad = |e: der::Error| invalid("DG14", format!("SecurityInfos: {e}"));
        let set = der::Any::from_der(&self.security_infos).map_err(bad)?;
        let mut reader = der::SliceReader::new(set.value()).map_err(bad)?;
        let mut infos = Vec::new();
        while !reader.is_finished() {
            let one = der::Any::decode(&mut reader).map_err(bad)?;
            infos.push(SecurityInfo::from_der(&one.to_der().map_err(bad)?)?);
        }
        Ok(infos)
    }
}

/// What a chip's public key is, once checked by [`chip_key_algorithm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChipKeyAlgorithm {
    /// An EC key on this curve, its point on the curve.
    Ec(thabian_pki::NamedCurve),
    /// An RSA key of this many modulus bits.
    Rsa { bits: usize },
    /// A Diffie-Hellman key (X9.42 `dhpublicnumber` or PKCS #3 `dhKeyAgreement`) with its
    /// domain parameters, 1 < y < p.
    Dh,
}

/// Checks a chip's public key (DER SubjectPublicKeyInfo, nothing after it) and says what it is.
/// EC, RSA and DH keys are checked; any other algorithm is refused. `file` names the file the
/// key is for in the error.
pub fn chip_key_algorithm(file: &'static str, spki: &[u8]) -> Result<ChipKeyAlgorithm, LdsError> {
    check_key(spki).map_err(|reason| invalid(file, reason))
}

fn check_key(spki: &[u8]) -> Result<ChipKeyAlgorithm, String> {
    use der::Decode;
    let parsed = spki::SubjectPublicKeyInfoOwned::from_der(spki)
        .map_err(|e| format!("not a DER SubjectPublicKeyInfo: {e}"))?;
    let oid = parsed.algorithm.oid;
    if oid == security_oids::DH_PUBLIC_NUMBER || oid == security_oids::DH_KEY_AGREEMENT {
        check_dh_key(&parsed)?;
        return Ok(ChipKeyAlgorithm::Dh);
    }
    match thabian_pki::check_public_key(&parsed) {
        Ok(thabian_pki::PublicKeyType::Ec(curve)) => Ok(ChipKeyAlgorithm::Ec(curve)),
        Ok(thabian_pki::PublicKeyType::Rsa { bits }) => Ok(ChipKeyAlgorithm::Rsa { bits }),
        Err(thabian_pki::VerifyError::UnsupportedAlgorithm(oid)) => {
            Err(format!("a key of algorithm {oid}, not EC, RSA or DH"))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A big-endian unsigned integer without its leading zeros.
fn magnitude(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn less_than(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (magnitude(a), magnitude(b));
    (a.len(), a) < (b.len(), b)
}

/// A DH key's parameters start with the prime p and the generator g (both the X9.42 and the
/// PKCS #3 forms); its public value is an INTEGER 1 < y < p.
fn check_dh_key(spki: &spki::SubjectPublicKeyInfoOwned) -> Result<(), String> {
    use der::{Decode, Tagged};
    let bad = |what: &str| format!("DH public key: {what}");
    let params = spki
        .algorithm
        .parameters
        .as_ref()
        .filter(|p| p.tag() == der::Tag::Sequence)
        .ok_or_else(|| bad("no domain parameters"))?;
    let mut r = der::SliceReader::new(params.value()).map_err(|_| bad("domain parameters"))?;
    let p = der::asn1::UintRef::decode(&mut r).map_err(|_| bad("the prime p"))?;
    let g = der::asn1::UintRef::decode(&mut r).map_err(|_| bad("the generator g"))?;
    let y_bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| bad("not a whole number of bytes"))?;
    let y = der::asn1::UintRef::from_der(y_bytes).map_err(|_| bad("y is not an INTEGER"))?;
    let (p, g, y) = (p.as_bytes(), g.as_bytes(), y.as_bytes());
    if magnitude(p).len() < 128 {
        return Err(bad("the prime p is shorter than 1024 bits"));
    }
    if !less_than(&[1], g) || !less_than(g, p) {
        return Err(bad("the generator is not in 1 < g < p"));
    }
    if !less_than(&[1], y) || !less_than(y, p) {
        return Err(bad("y is not in 1 < y < p"));
    }
    Ok(())
}

/// The Chip Authentication key pair's public half, as the chip reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipAuthenticationKey {
    /// DER SubjectPublicKeyInfo: EC or DH.
    pub public_key: Vec<u8>,
    /// Only needed when a chip has several Chip Authentication keys.
    pub key_id: Option<u64>,
    /// Secure messaging after Chip Authentication.
    pub cipher: crate::access::KeyCipher,
}

/// The Active Authentication public key, as the chip reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveAuthenticationKey {
    /// DER SubjectPublicKeyInfo: EC or RSA.
    pub public_key: Vec<u8>,
    /// The hash of an ECDSA Active Authentication signature; `None`: by the curve's size
    /// (SHA-224 up to 224 bits, SHA-256 up to 256, SHA-384 up to 384, else SHA-512).
    pub hash: Option<thabian_pki::DigestAlgorithm>,
}

/// The PACE mapping (Part 11 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceMapping {
    Generic,
    Integrated,
    /// Chip Authentication Mapping (EC only, AES only).
    ChipAuthentication,
}

/// PACE as the chip runs it: standardised domain parameters, mapping, cipher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaceParameters {
    /// Part 11 §9.5.1: 0–2 MODP groups, 8–18 elliptic curves.
    pub parameter_id: u64,
    pub mapping: PaceMapping,
    pub cipher: crate::access::KeyCipher,
}

/// A chip's own keys and protocols, from which DG14 and DG15 are made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChipSecurity {
    pub chip_authentication: Option<ChipAuthenticationKey>,
    pub active_authentication: Option<ActiveAuthenticationKey>,
    pub pace: Option<PaceParameters>,
}

fn cipher_arc(cipher: crate::access::KeyCipher) -> u32 {
    use crate::access::KeyCipher;
    match cipher {
        KeyCipher::TripleDes => 1,
        KeyCipher::Aes128 => 2,
        KeyCipher::Aes192 => 3,
        KeyCipher::Aes256 => 4,
    }
}

fn child(parent: &str, arcs: &[u32]) -> Result<der::asn1::ObjectIdentifier, LdsError> {
    let mut text = parent.to_owned();
    for a in arcs {
        text.push_str(&format!(".{a}"));
    }
    der::asn1::ObjectIdentifier::new(&text).map_err(|e| invalid("DG14", format!("OID {text}: {e}")))
}

/// The id-PACE protocol for these parameters (Part 11 §9.2.1).
pub fn pace_protocol(pace: &PaceParameters) -> Result<der::asn1::ObjectIdentifier, LdsError> {
    use crate::access::KeyCipher;
    let ec = match pace.parameter_id {
        0..=2 => false,
        8..=18 => true,
        other => {
            return Err(invalid(
                "DG14",
                format!("PACE parameter id {other}: standardised ids are 0-2 (DH) and 8-18 (EC)"),
            ))
        }
    };
    let mapping = match (pace.mapping, ec) {
        (PaceMapping::Generic, false) => 1,
        (PaceMapping::Generic, true) => 2,
        (PaceMapping::Integrated, false) => 3,
        (PaceMapping::Integrated, true) => 4,
        (PaceMapping::ChipAuthentication, true) if pace.cipher != KeyCipher::TripleDes => 6,
        (PaceMapping::ChipAuthentication, _) => {
            return Err(invalid(
                "DG14",
                "PACE Chip Authentication Mapping needs EC parameters (8-18) and AES",
            ))
        }
    };
    child(
        &security_oids::ID_PACE.to_string(),
        &[mapping, cipher_arc(pace.cipher)],
    )
}

/// The ecdsa-plain signature algorithm of an ECDSA Active Authentication.
fn ecdsa_plain(hash: thabian_pki::DigestAlgorithm) -> der::asn1::ObjectIdentifier {
    use thabian_pki::DigestAlgorithm as D;
    match hash {
        D::Sha1 => security_oids::ECDSA_PLAIN_SHA1,
        D::Sha224 => security_oids::ECDSA_PLAIN_SHA224,
        D::Sha256 => security_oids::ECDSA_PLAIN_SHA256,
        D::Sha384 => security_oids::ECDSA_PLAIN_SHA384,
        D::Sha512 => security_oids::ECDSA_PLAIN_SHA512,
    }
}

fn hash_for_curve(curve: thabian_pki::NamedCurve) -> thabian_pki::DigestAlgorithm {
    use thabian_pki::{DigestAlgorithm as D, NamedCurve as C};
    match curve {
        C::BrainpoolP224r1 => D::Sha224,
        C::P256 | C::BrainpoolP256r1 => D::Sha256,
        C::P384 | C::BrainpoolP320r1 | C::BrainpoolP384r1 => D::Sha384,
        C::P521 | C::BrainpoolP512r1 => D::Sha512,
    }
}

impl ChipSecurity {
    /// True when the chip has none of these keys or protocols (no DG14, no DG15).
    pub fn is_empty(&self) -> bool {
        self.chip_authentication.is_none()
            && self.active_authentication.is_none()
            && self.pace.is_none()
    }

    /// The SecurityInfos of DG14 (Part 11 §9.2): for Chip Authentication its public key info
    /// and ChipAuthenticationInfo (version 1); PACEInfo (version 2); for an EC Active
    /// Authentication key the ActiveAuthenticationInfo Part 11 requires with ECDSA. The keys are
    /// checked: Chip Authentication EC or DH, Active Authentication EC or RSA.
    pub fn security_infos(&self) -> Result<Vec<SecurityInfo>, LdsError> {
        use security_oids as o;
        let mut infos = Vec::new();
        if let Some(ca) = &self.chip_authentication {
            let ec = match check_key(&ca.public_key)
                .map_err(|e| invalid("DG14", format!("the Chip Authentication public key: {e}")))?
            {
                ChipKeyAlgorithm::Ec(_) => true,
                ChipKeyAlgorithm::Dh => false,
                ChipKeyAlgorithm::Rsa { .. } => {
                    return Err(invalid(
                        "DG14",
                        "the Chip Authentication public key is RSA: Chip Authentication needs an EC or DH key",
                    ))
                }
            };
            let (pk, ca_parent) = if ec {
                (o::ID_PK_ECDH, "0.4.0.127.0.7.2.2.3.2")
            } else {
                (o::ID_PK_DH, "0.4.0.127.0.7.2.2.3.1")
            };
            infos.push(SecurityInfo::ChipAuthenticationPublicKey {
                protocol: pk,
                public_key: ca.public_key.clone(),
                key_id: ca.key_id,
            });
            infos.push(SecurityInfo::ChipAuthentication {
                protocol: child(ca_parent, &[cipher_arc(ca.cipher)])?,
                version: 1,
                key_id: ca.key_id,
            });
        }
        if let Some(pace) = &self.pace {
            infos.push(SecurityInfo::Pace {
                protocol: pace_protocol(pace)?,
                version: 2,
                parameter_id: Some(pace.parameter_id),
            });
        }
        if let Some(aa) = &self.active_authentication {
            match Self::aa_algorithm(aa)? {
                ChipKeyAlgorithm::Ec(curve) => infos.push(SecurityInfo::ActiveAuthentication {
                    version: 1,
                    signature_algorithm: ecdsa_plain(aa.hash.unwrap_or(hash_for_curve(curve))),
                }),
                // RSA Active Authentication states its hash in the signature (ISO 9796-2).
                ChipKeyAlgorithm::Rsa { .. } | ChipKeyAlgorithm::Dh => {}
            }
        }
        Ok(infos)
    }

    fn aa_algorithm(aa: &ActiveAuthenticationKey) -> Result<ChipKeyAlgorithm, LdsError> {
        match check_key(&aa.public_key)
            .map_err(|e| invalid("DG15", format!("the Active Authentication public key: {e}")))?
        {
            ChipKeyAlgorithm::Dh => Err(invalid(
                "DG15",
                "the Active Authentication public key is DH: Active Authentication needs an EC or RSA key",
            )),
            other => Ok(other),
        }
    }

    /// DG14, when there is any SecurityInfo to put in it.
    pub fn dg14(&self) -> Result<Option<Dg14>, LdsError> {
        let infos = self.security_infos()?;
        if infos.is_empty() {
            return Ok(None);
        }
        Dg14::from_infos(&infos).map(Some)
    }

    /// DG15, when there is an Active Authentication key (checked: EC or RSA).
    pub fn dg15(&self) -> Result<Option<Dg15>, LdsError> {
        let Some(aa) = &self.active_authentication else {
            return Ok(None);
        };
        Self::aa_algorithm(aa)?;
        Ok(Some(Dg15 {
            public_key_info: aa.public_key.clone(),
        }))
    }
}
