//! What goes on a card's chip and face, computed from the register (pure: no I/O, no clock).
//!
//! [`ChipContent::build`] maps a person's record, one of their cards and the captured samples
//! to the LDS1 files of ICAO Doc 9303 Part 10 and the printed fields:
//!
//! | file | from the register |
//! |---|---|
//! | DG1 | TD1 MRZ: the profile's document code, issuing state and nationality; the card number (per the profile's MRZ rule); birth date (`<<` for an unknown month or day); sex; expiry (`<<<<<<` for a card valid for life); the Latin name (Lao: the registered Latin name, else the profile's romanization), transliterated per Part 3 |
//! | DG2 | the face image captured with the application, in an ISO/IEC 19794-5 record |
//! | DG3 | the fingerprints captured with the application, passed through (19794-4 or 19794-2) |
//! | DG11 | the full name in the national script, the PIN as personal number, the full date of birth, the place of birth and the permanent address (area names, top-down, with the address lines) |
//! | DG12 | the issuing authority (the personalising office's area), date of issue, personalisation time |
//! | DG13 | ethnicity, religion, parents' and spouse's names where the register knows them (Thabian's documented encoding, `thabian_icao9303::lds` module doc) |
//!
//! | DG14 | the chip's SecurityInfos (Chip Authentication public key, PACE, ECDSA Active Authentication), when the bureau read the chip's keys ([`ChipContent::with_security`], [`read_chip_keys`]) |
//! | DG15 | the chip's Active Authentication public key, likewise |
//!
//! EF.COM lists them. EF.SOD, which signs them, is made by the caller with the Document Signer.
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;
use thabian_icao9303::access::KeyCipher;
use thabian_icao9303::lds::{
    ccyymmdd, ccyymmddhhmmss, dg13_codes, encode_biometric_group, face_record_header_19794_5,
    ActiveAuthenticationKey, BiometricBlock, ChipAuthenticationKey, ChipSecurity, DataGroup, Dg1,
    Dg11, Dg12, Dg13, Dg14, Dg15, EfCom, FaceImageInfo, ImageDataType, PaceMapping, PaceParameters,
    BIOMETRIC_TYPE_FACE, BIOMETRIC_TYPE_FINGER, FORMAT_OWNER_SC37, FORMAT_TYPE_FACE_IMAGE,
    FORMAT_TYPE_FINGER_IMAGE, FORMAT_TYPE_FINGER_MINUTIAE,
};
use thabian_icao9303::mrz::{MrzDate, Sex as MrzSex, Td1};
use thabian_model::card::Card;
use thabian_model::date::PartialDate;
use thabian_model::person::{Person, PersonName};
use thabian_model::profile::{AdminTree, MrzDocumentNumber, Profile};
use thabian_model::sex::Sex;

/// Why chip content could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ChipError {
    #[error("the card has no date of issue: it is personalised first")]
    NotPersonalised,
    #[error("the face image: {0}")]
    Face(String),
    #[error("the machine-readable zone: {0}")]
    Mrz(String),
    #[error("a data group: {0}")]
    DataGroup(String),
    #[error("the chip keys: {0}")]
    ChipKeys(String),
}

/// A captured sample, decrypted.
#[derive(Debug, Clone)]
pub struct Sample {
    pub format: String,
    pub position: Option<u8>,
    pub data: Vec<u8>,
}

/// The names of other persons DG13 carries, as the register knows them.
#[derive(Debug, Clone, Default)]
pub struct Relatives {
    pub father: Option<String>,
    pub mother: Option<String>,
    pub spouse: Option<String>,
}

/// The fields printed on the card's face.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrintedFields {
    pub card_number: String,
    pub personal_number: String,
    /// In the national script, as registered.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_latin: Option<String>,
    pub sex: String,
    /// As registered (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`).
    pub date_of_birth: String,
    pub place_of_birth: String,
    pub nationality: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub date_of_issue: String,
    /// Absent: valid for life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_expiry: Option<String>,
    pub issuing_authority: String,
}

/// The LDS files (without EF.SOD) and the printed fields of one card.
#[derive(Debug, Clone)]
pub struct ChipContent {
    pub ef_com: Vec<u8>,
    /// `(data-group number, whole file)`, in number order.
    pub data_groups: Vec<(u8, Vec<u8>)>,
    pub mrz: [String; 3],
    pub printed: PrintedFields,
}

fn joined(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `(primary, secondary)` identifiers: the family name, then the middle and given names.
fn identifiers(name: &PersonName) -> (String, String) {
    (
        name.family.clone().unwrap_or_default(),
        joined(&[name.middle.as_deref(), Some(&name.given)]),
    )
}

/// A name in the profile's display order (`Nguyễn Văn An`, `Somsak Phommachanh`).
pub fn full_name(name: &PersonName, profile: &Profile) -> String {
    display(name, profile)
}

fn display(name: &PersonName, profile: &Profile) -> String {
    use thabian_model::profile::NamePart;
    let parts: Vec<Option<&str>> = profile
        .name_parts
        .display_order
        .iter()
        .map(|p| match p {
            NamePart::Family => name.family.as_deref(),
            NamePart::Middle => name.middle.as_deref(),
            NamePart::Given => Some(name.given.as_str()),
        })
        .collect();
    joined(&parts)
}

/// Area names from the top level down to `code`, in the national script.
fn area_names(areas: &AdminTree, code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = areas.get(code);
    while let Some(area) = at {
        names.push(area.name.clone());
        at = area.parent.as_deref().and_then(|p| areas.get(p));
    }
    names.reverse();
    names
}

fn mrz_birth_date(d: &PartialDate) -> Result<MrzDate, ChipError> {
    let yy = d.year().rem_euclid(100);
    let text = match (d.month(), d.day()) {
        (Some(m), Some(day)) => format!("{yy:02}{m:02}{day:02}"),
        (Some(m), None) => format!("{yy:02}{m:02}<<"),
        _ => format!("{yy:02}<<<<"),
    };
    MrzDate::new(&text).map_err(|e| ChipError::Mrz(e.to_string()))
}

/// `CCYYMMDD` with `00` for an unknown month or day (Doc 9303 Part 10, DG11 5F2B).
fn full_birth_date(d: &PartialDate) -> String {
    format!(
        "{:04}{:02}{:02}",
        d.year(),
        d.month().unwrap_or(0),
        d.day().unwrap_or(0)
    )
}

/// Width and height of a JPEG (from its start-of-frame segment) or a JPEG 2000 file (from its
/// image header box or codestream SIZ marker): the 19794-5 record states them.
pub fn image_dimensions(format: &str, data: &[u8]) -> Option<(u16, u16)> {
    let be16 =
        |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*data.get(i)?, *data.get(i + 1)?])) };
    let be32 = |i: usize| -> Option<u32> {
        Some(u32::from_be_bytes([
            *data.get(i)?,
            *data.get(i + 1)?,
            *data.get(i + 2)?,
            *data.get(i + 3)?,
        ]))
    };
    match format {
        "image/jpeg" => {
            let mut i = 2;
            while i + 4 <= data.len() {
                if data[i] != 0xFF {
                    return None;
                }
                let marker = data[i + 1];
                // Fill bytes before a marker.
                if marker == 0xFF {
                    i += 1;
                    continue;
                }
                let len = usize::from(be16(i + 2)?);
                let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
                if is_sof {
                    return Some((be16(i + 7)?, be16(i + 5)?));
                }
                i += 2 + len;
            }
            None
        }
        "image/jp2" => {
            let to_u16 = |v: u32| u16::try_from(v).ok();
            // A bare codestream: SOC then SIZ (Xsiz, Ysiz, XOsiz, YOsiz).
            if data.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
                let w = be32(8)?.checked_sub(be32(16)?)?;
                let h = be32(12)?.checked_sub(be32(20)?)?;
                return Some((to_u16(w)?, to_u16(h)?));
            }
            // A JP2 file: find the image header box `ihdr` (height, then width).
            let at = data.windows(4).position(|w| w == b"ihdr")?;
            Some((to_u16(be32(at + 8)?)?, to_u16(be32(at + 4)?)?))
        }
        _ => None,
    }
}

impl ChipContent {
    /// The chip's files and the printed fields. `card` must carry its date of issue (and of
    /// expiry, if any); `office` is the personalising office's area code; `now` the
    /// personalisation time.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        profile: &Profile,
        areas: &AdminTree,
        person: &Person,
        card: &Card,
        face: &Sample,
        fingerprints: &[Sample],
        relatives: &Relatives,
        office: &str,
        now: DateTime<Utc>,
    ) -> Result<ChipContent, ChipError> {
        let issued: NaiveDate = card.date_of_issue.ok_or(ChipError::NotPersonalised)?;
        let rules = &profile.card;

        // --- DG1: the MRZ
        let latin = match &person.names.latin {
            Some(l) => l.clone(),
            None => {
                let national = &person.names.national;
                let romanize = |s: &str| thabian_model::translit::romanize_lao(s);
                PersonName {
                    family: national.family.as_deref().map(romanize),
                    middle: national.middle.as_deref().map(romanize),
                    given: romanize(&national.given),
                }
            }
        };
        let (primary, secondary) = identifiers(&latin);
        let (document_number, optional_data_1) = match rules.mrz_document_number {
            MrzDocumentNumber::Full => (card.number.clone(), String::new()),
            MrzDocumentNumber::Last9FullInOptionalData => {
                let n = &card.number;
                let start = n.len().saturating_sub(9);
                (n[start..].to_owned(), n.clone())
            }
        };
        let td1 = Td1 {
            document_code: rules.document_code.clone(),
            issuing_state: profile.mrz_issuing_state.clone(),
            document_number,
            date_of_birth: mrz_birth_date(&person.date_of_birth)?,
            sex: match person.sex {
                Sex::Male => MrzSex::Male,
                Sex::Female => MrzSex::Female,
                Sex::Unknown => MrzSex::Unspecified,
            },
            date_of_expiry: card.date_of_expiry.map(MrzDate::from_naive_date),
            nationality: profile.nationality_code.clone(),
            optional_data_1,
            optional_data_2: String::new(),
            primary_identifier: primary,
            secondary_identifier: secondary,
        };
        let mrz = td1.to_lines().map_err(|e| ChipError::Mrz(e.to_string()))?;
        let dg1 = Dg1 { mrz: mrz.concat() }.encode();

        // --- DG2: the face
        let (width, height) = image_dimensions(&face.format, &face.data)
            .ok_or_else(|| ChipError::Face("cannot read the image's width and height".into()))?;
        let image_type = match face.format.as_str() {
            "image/jpeg" => ImageDataType::Jpeg,
            "image/jp2" => ImageDataType::Jpeg2000,
            other => {
                return Err(ChipError::Face(format!(
                    "format {other} is not JPEG or JPEG 2000"
                )))
            }
        };
        let mut info = FaceImageInfo::new(width, height, image_type);
        info.gender = match person.sex {
            Sex::Male => 1,
            Sex::Female => 2,
            Sex::Unknown => 0xFF,
        };
        let face_header = face_record_header_19794_5(face.data.len(), &info)
            .map_err(|e| ChipError::Face(e.to_string()))?;
        let face_pieces = [face_header.as_slice(), face.data.as_slice()];
        let dg2 = encode_biometric_group(
            DataGroup::new(2).ok_or_else(|| ChipError::DataGroup("DG2".into()))?,
            &[BiometricBlock {
                biometric_type: BIOMETRIC_TYPE_FACE,
                subtype: None,
                format_owner: FORMAT_OWNER_SC37,
                format_type: FORMAT_TYPE_FACE_IMAGE,
                data: &face_pieces,
            }],
        )
        .map_err(|e| ChipError::DataGroup(e.to_string()))?;

        // --- DG3: fingerprints, as captured
        let dg3 = if fingerprints.is_empty() {
            None
        } else {
            let pieces: Vec<[&[u8]; 1]> =
                fingerprints.iter().map(|f| [f.data.as_slice()]).collect();
            let fingers: Vec<BiometricBlock<'_>> = fingerprints
                .iter()
                .zip(&pieces)
                .map(|(f, data)| BiometricBlock {
                    biometric_type: BIOMETRIC_TYPE_FINGER,
                    subtype: Some(finger_subtype(f.position.unwrap_or(0))),
                    format_owner: FORMAT_OWNER_SC37,
                    format_type: match f.format.as_str() {
                        "iso-19794-2" => FORMAT_TYPE_FINGER_MINUTIAE,
                        _ => FORMAT_TYPE_FINGER_IMAGE,
                    },
                    data,
                })
                .collect();
            Some(
                encode_biometric_group(
                    DataGroup::new(3).ok_or_else(|| ChipError::DataGroup("DG3".into()))?,
                    &fingers,
                )
                .map_err(|e| ChipError::DataGroup(e.to_string()))?,
            )
        };

        // --- DG11: personal details in the national script
        let (nat_primary, nat_secondary) = identifiers(&person.names.national);
        let place_of_birth = area_names(areas, &person.place_of_birth).join("<");
        let address = person.permanent_residence.as_ref().map(|r| {
            let mut parts = r.address_lines.clone();
            parts.extend(area_names(areas, &r.area).into_iter().rev());
            parts.join("<")
        });
        let dg11 = Dg11 {
            full_name: Some(format!("{nat_primary}<<{nat_secondary}")),
            personal_number: Some(person.pin.to_string()),
            full_date_of_birth: Some(full_birth_date(&person.date_of_birth)),
            place_of_birth: Some(place_of_birth.clone()),
            address: address.clone(),
            ..Dg11::default()
        }
        .encode()
        .map_err(|e| ChipError::DataGroup(e.to_string()))?;

        // --- DG12: document details
        let authority = area_names(areas, office).join(" ");
        let dg12 = Dg12 {
            issuing_authority: Some(authority.clone()),
            date_of_issue: Some(ccyymmdd(issued)),
            personalisation_time: Some(ccyymmddhhmmss(now.naive_utc())),
            ..Dg12::default()
        }
        .encode()
        .map_err(|e| ChipError::DataGroup(e.to_string()))?;

        // --- DG13: national fields with no ICAO slot
        let mut fields = Vec::new();
        let mut put = |code: &str, value: &Option<String>| {
            if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                fields.push((code.to_owned(), v.to_owned()));
            }
        };
        put(dg13_codes::ETHNICITY, &person.ethnicity);
        put(dg13_codes::RELIGION, &person.religion);
        put(dg13_codes::FATHER_NAME, &relatives.father);
        put(dg13_codes::MOTHER_NAME, &relatives.mother);
        put(dg13_codes::SPOUSE_NAME, &relatives.spouse);
        let dg13 = (!fields.is_empty())
            .then(|| Dg13 { fields }.encode())
            .transpose()
            .map_err(|e| ChipError::DataGroup(e.to_string()))?;

        let mut data_groups = vec![(1, dg1), (2, dg2)];
        if let Some(dg3) = dg3 {
            data_groups.push((3, dg3));
        }
        data_groups.push((11, dg11));
        data_groups.push((12, dg12));
        if let Some(dg13) = dg13 {
            data_groups.push((13, dg13));
        }
        let present: Vec<DataGroup> = data_groups
            .iter()
            .filter_map(|(n, _)| DataGroup::new(*n))
            .collect();
        let ef_com = EfCom::new(&present).encode();

        let printed = PrintedFields {
            card_number: card.number.clone(),
            personal_number: person.pin.to_string(),
            name: display(&person.names.national, profile),
            name_latin: person.names.latin.as_ref().map(|l| display(l, profile)),
            sex: match person.sex {
                Sex::Male => "M",
                Sex::Female => "F",
                Sex::Unknown => "X",
            }
            .to_owned(),
            date_of_birth: person.date_of_birth.to_string(),
            place_of_birth: place_of_birth.replace('<', ", "),
            nationality: profile.nationality_code.clone(),
            address: address.map(|a| a.replace('<', ", ")),
            date_of_issue: issued.to_string(),
            date_of_expiry: card.date_of_expiry.map(|d| d.to_string()),
            issuing_authority: authority,
        };
        Ok(ChipContent {
            ef_com,
            data_groups,
            mrz,
            printed,
        })
    }
}

impl ChipContent {
    /// The content with the chip's own keys added: DG14 and DG15 as `security` makes them
    /// (the keys checked), listed in EF.COM, so that EF.SOD, signed after this, covers them.
    pub fn with_security(mut self, security: &ChipSecurity) -> Result<ChipContent, ChipError> {
        let keys = |e: thabian_icao9303::LdsError| ChipError::ChipKeys(e.to_string());
        let dg14 = security.dg14().map_err(keys)?;
        let dg15 = security.dg15().map_err(keys)?;
        if let Some(dg14) = dg14 {
            self.put(Dg14::NUMBER, dg14.encode().map_err(keys)?);
        }
        if let Some(dg15) = dg15 {
            self.put(Dg15::NUMBER, dg15.encode().map_err(keys)?);
        }
        Ok(self)
    }

    fn put(&mut self, number: u8, file: Vec<u8>) {
        self.data_groups.retain(|(n, _)| *n != number);
        self.data_groups.push((number, file));
        self.data_groups.sort_by_key(|(n, _)| *n);
        let present: Vec<DataGroup> = self
            .data_groups
            .iter()
            .filter_map(|(n, _)| DataGroup::new(*n))
            .collect();
        self.ef_com = EfCom::new(&present).encode();
    }
}

/// One card's entry in a chip-keys file: the public keys the personalisation machine read back
/// from the chip (format in README, "Chip identity cards").
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipKeysEntry {
    #[serde(default)]
    pub chip_authentication: Option<ChipAuthenticationEntry>,
    #[serde(default)]
    pub active_authentication: Option<ActiveAuthenticationEntry>,
    #[serde(default)]
    pub pace: Option<PaceEntry>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipAuthenticationEntry {
    /// Base64 of the DER SubjectPublicKeyInfo, or PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key: String,
    #[serde(default)]
    pub key_id: Option<u64>,
    /// `3des`, `aes-128` (default), `aes-192`, `aes-256`.
    #[serde(default)]
    pub cipher: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveAuthenticationEntry {
    pub public_key: String,
    /// For an EC key: `sha1`, `sha224`, `sha256`, `sha384`, `sha512`; default by curve size.
    #[serde(default)]
    pub hash: Option<String>,
}

/// `"pace": 13` or `"pace": {"parameter_id": 13, "mapping": "gm", "cipher": "aes-128"}`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum PaceEntry {
    ParameterId(u64),
    Full {
        parameter_id: u64,
        /// `gm` (default), `im`, `cam`.
        #[serde(default)]
        mapping: Option<String>,
        #[serde(default)]
        cipher: Option<String>,
    },
}

fn cipher(name: Option<&str>) -> Result<KeyCipher, String> {
    match name.map(str::to_ascii_lowercase).as_deref() {
        None | Some("aes-128") | Some("aes128") => Ok(KeyCipher::Aes128),
        Some("aes-192") | Some("aes192") => Ok(KeyCipher::Aes192),
        Some("aes-256") | Some("aes256") => Ok(KeyCipher::Aes256),
        Some("3des") => Ok(KeyCipher::TripleDes),
        Some(other) => Err(format!(
            "cipher {other:?} is not one of 3des, aes-128, aes-192, aes-256"
        )),
    }
}

/// A public key given as base64 of its DER SubjectPublicKeyInfo or as PEM `PUBLIC KEY`.
fn public_key_der(what: &str, text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let text = text.trim();
    let body = if let Some(rest) = text.strip_prefix("-----BEGIN ") {
        let (label, rest) = rest
            .split_once("-----")
            .ok_or_else(|| format!("{what}: a PEM header without its closing dashes"))?;
        if label != "PUBLIC KEY" {
            return Err(format!(
                "{what}: a PEM {label:?}, not a \"PUBLIC KEY\" (SubjectPublicKeyInfo)"
            ));
        }
        rest.split_once("-----END PUBLIC KEY-----")
            .map(|(body, _)| body)
            .ok_or_else(|| format!("{what}: the PEM has no -----END PUBLIC KEY----- line"))?
    } else {
        text
    };
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("{what}: neither PEM nor base64 ({e})"))
}

impl ChipKeysEntry {
    /// The chip's keys, decoded and checked (Chip Authentication EC or DH, Active
    /// Authentication EC or RSA, PACE parameters standardised), as DG14 and DG15 will hold them.
    pub fn to_security(&self) -> Result<ChipSecurity, ChipError> {
        let e = ChipError::ChipKeys;
        let chip_authentication = self
            .chip_authentication
            .as_ref()
            .map(|ca| -> Result<_, String> {
                Ok(ChipAuthenticationKey {
                    public_key: public_key_der("chip_authentication.public_key", &ca.public_key)?,
                    key_id: ca.key_id,
                    cipher: cipher(ca.cipher.as_deref())
                        .map_err(|m| format!("chip_authentication: {m}"))?,
                })
            })
            .transpose()
            .map_err(e)?;
        let active_authentication = self
            .active_authentication
            .as_ref()
            .map(|aa| -> Result<_, String> {
                use thabian_pki::DigestAlgorithm as D;
                let hash = match aa.hash.as_deref().map(str::to_ascii_lowercase).as_deref() {
                    None => None,
                    Some("sha1") => Some(D::Sha1),
                    Some("sha224") => Some(D::Sha224),
                    Some("sha256") => Some(D::Sha256),
                    Some("sha384") => Some(D::Sha384),
                    Some("sha512") => Some(D::Sha512),
                    Some(other) => {
                        return Err(format!(
                        "active_authentication: hash {other:?} is not one of sha1, sha224, sha256, sha384, sha512"
                    ))
                    }
                };
                Ok(ActiveAuthenticationKey {
                    public_key: public_key_der("active_authentication.public_key", &aa.public_key)?,
                    hash,
                })
            })
            .transpose()
            .map_err(e)?;
        let pace = self
            .pace
            .as_ref()
            .map(|p| -> Result<_, String> {
                let (parameter_id, mapping, c) = match p {
                    PaceEntry::ParameterId(id) => (*id, None, None),
                    PaceEntry::Full {
                        parameter_id,
                        mapping,
                        cipher,
                    } => (*parameter_id, mapping.as_deref(), cipher.as_deref()),
                };
                let mapping = match mapping.map(str::to_ascii_lowercase).as_deref() {
                    None | Some("gm") => PaceMapping::Generic,
                    Some("im") => PaceMapping::Integrated,
                    Some("cam") => PaceMapping::ChipAuthentication,
                    Some(other) => {
                        return Err(format!("pace: mapping {other:?} is not gm, im or cam"))
                    }
                };
                Ok(PaceParameters {
                    parameter_id,
                    mapping,
                    cipher: cipher(c).map_err(|m| format!("pace: {m}"))?,
                })
            })
            .transpose()
            .map_err(e)?;
        let security = ChipSecurity {
            chip_authentication,
            active_authentication,
            pace,
        };
        // Built once here so that a bad key is reported before anything is recorded.
        security
            .dg14()
            .and_then(|_| security.dg15())
            .map_err(|err| ChipError::ChipKeys(err.to_string()))?;
        Ok(security)
    }
}

/// A chip-keys file: a JSON object from card number to [`ChipKeysEntry`]. Only a file that is
/// not such an object is an error; each card's entry is read on its own, so that one bad
/// entry refuses one card (`Err` with the reason) and the others go on.
pub fn read_chip_keys(
    json: &str,
) -> Result<BTreeMap<String, Result<ChipSecurity, ChipError>>, ChipError> {
    let entries: BTreeMap<String, serde_json::Value> = serde_json::from_str(json).map_err(|e| {
        ChipError::ChipKeys(format!(
            "the file is not a JSON object of card numbers: {e}"
        ))
    })?;
    Ok(entries
        .into_iter()
        .map(|(number, value)| {
            let security = serde_json::from_value::<ChipKeysEntry>(value)
                .map_err(|e| ChipError::ChipKeys(e.to_string()))
                .and_then(|entry| entry.to_security());
            (number, security)
        })
        .collect())
}

/// The CBEFF finger subtype (hand | finger) of an ISO/IEC 19794-4 finger position (1 right
/// thumb … 5 right little, 6 left thumb … 10 left little); 0 (no information) otherwise.
fn finger_subtype(position: u8) -> u8 {
    use thabian_icao9303::lds::finger;
    let (hand, digit) = match position {
        1..=5 => (finger::RIGHT, position),
        6..=10 => (finger::LEFT, position - 5),
        _ => return 0,
    };
    hand | match digit {
        1 => finger::THUMB,
        2 => finger::INDEX,
        3 => finger::MIDDLE,
        4 => finger::RING,
        _ => finger::LITTLE,
    }
}
