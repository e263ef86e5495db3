//! ICAO Doc 9303 for chip identity cards (TD1), with no knowledge of any register, no I/O and
//! no clock.
//!
//! * [`mrz`]: the TD1 machine-readable zone (Parts 3 and 5): 7-3-1 check digits, building the
//!   three lines from fields (long document numbers, composite check digit, name truncation),
//!   transliteration of Latin names, and a parser reporting every check digit.
//! * [`tlv`]: BER-TLV as the LDS uses it (ISO/IEC 7816-4): multi-byte tags, definite lengths,
//!   a zero-copy parser.
//! * [`lds`]: the LDS1 files (Part 10): EF.COM, DG1 (MRZ), DG2 (face, with an ISO/IEC 19794-5
//!   record builder and reader), DG3 (fingers), DG11, DG12, DG13 (Thabian's documented
//!   issuer-defined encoding), DG14 and DG15 (DER passed through), and the data-group
//!   number ↔ tag ↔ file-identifier mapping.
//! * [`lso`]: the LDSSecurityObject (Parts 10 and 11): building it over whole data-group files
//!   with SHA-256/384/512, DER encoding and checked decoding.
//! * [`sod`]: EF.SOD (tag `77`, CMS SignedData over the LDSSecurityObject): building, and
//!   reading without verification for display.
//! * [`pa`]: passive authentication (Part 11): every step as a check in a [`pa::Report`].
//!
//! Typical issuing flow: build a [`mrz::Td1`], wrap it in [`lds::Dg1`], encode the other data
//! groups, hash them all with [`lso::build`], and sign [`lso::LdsSecurityObject::to_der`] as
//! the eContent (type [`lso::ID_LDS_SECURITY_OBJECT`]) of EF.SOD.

pub mod access;
pub mod lds;
pub mod lso;
pub mod mrz;
pub mod pa;
pub mod sod;
pub mod tlv;

pub use lds::{DataGroup, LdsError};
pub use lso::{HashAlgorithm, LdsSecurityObject, LsoError};
pub use mrz::{MrzError, ParsedTd1, Td1};
pub use pa::{
    passive_authentication, Check, CheckId, Document, Outcome, PaOptions, Report, TrustStore,
};
pub use sod::{build_sod, Sod, SodError};
pub use tlv::TlvError;
