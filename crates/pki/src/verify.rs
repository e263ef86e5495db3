//! Signature verification for every algorithm a foreign travel document may use.
//!
//! ECDSA over P-256, P-384, P-521, brainpoolP256r1 and brainpoolP384r1 with SHA-1/224/256/384/512;
//! RSA PKCS #1 v1.5 with the same hashes; RSASSA-PSS with the parameters its AlgorithmIdentifier
//! states. EC keys may name their curve or spell out its parameters (ICAO Doc 9303 Part 12 allows
//! explicit parameters in DS and CSCA certificates); explicit parameters are accepted only when
//! they are exactly those of a supported named curve.
use crate::alg::{
    params_absent_or_null, DigestAlgorithm, PssParams, PssParamsError, RsaPssParameters,
    BRAINPOOL_P224R1, BRAINPOOL_P256R1, BRAINPOOL_P320R1, BRAINPOOL_P384R1, BRAINPOOL_P512R1,
    ECDSA_WITH_SHA1, ECDSA_WITH_SHA224, ECDSA_WITH_SHA256, ECDSA_WITH_SHA384, ECDSA_WITH_SHA512,
    ID_EC_PUBLIC_KEY, ID_PRIME_FIELD, ID_RSASSA_PSS, PRIME256V1, RSA_ENCRYPTION, SECP384R1,
    SECP521R1, SHA1_WITH_RSA_ENCRYPTION, SHA224_WITH_RSA_ENCRYPTION, SHA256_WITH_RSA_ENCRYPTION,
    SHA384_WITH_RSA_ENCRYPTION, SHA512_WITH_RSA_ENCRYPTION,
};
use der::asn1::{BitString, ObjectIdentifier, OctetString, Uint, UintRef};
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use ecdsa::elliptic_curve::generic_array::typenum::Unsigned;
use ecdsa::elliptic_curve::sec1::{FromEncodedPoint, ModulusSize, ToEncodedPoint};
use ecdsa::elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytes, FieldBytesSize, PrimeCurve};
use ecdsa::{Signature, SignatureSize};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// Why a signature did not verify. Each variant is something a verification report can show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("unsupported signature or public-key algorithm {0}")]
    UnsupportedAlgorithm(ObjectIdentifier),
    #[error("unsupported elliptic curve {0}")]
    UnsupportedCurve(ObjectIdentifier),
    #[error("explicit elliptic-curve parameters that match no supported named curve")]
    UnknownExplicitCurve,
    #[error("unsupported algorithm parameters: {0}")]
    UnsupportedParameters(String),
    #[error("the public key ({key}) cannot verify a {signature} signature")]
    KeyAlgorithmMismatch {
        key: ObjectIdentifier,
        signature: ObjectIdentifier,
    },
    #[error("malformed public key: {0}")]
    MalformedKey(String),
    #[error("malformed signature: {0}")]
    MalformedSignature(String),
    #[error("the signature does not verify")]
    BadSignature,
}

/// The named elliptic curves this module verifies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamedCurve {
    P256,
    P384,
    P521,
    BrainpoolP224r1,
    BrainpoolP256r1,
    BrainpoolP320r1,
    BrainpoolP384r1,
    BrainpoolP512r1,
}

impl NamedCurve {
    pub fn oid(&self) -> ObjectIdentifier {
        match self {
            Self::P256 => PRIME256V1,
            Self::P384 => SECP384R1,
            Self::P521 => SECP521R1,
            Self::BrainpoolP224r1 => BRAINPOOL_P224R1,
            Self::BrainpoolP256r1 => BRAINPOOL_P256R1,
            Self::BrainpoolP320r1 => BRAINPOOL_P320R1,
            Self::BrainpoolP384r1 => BRAINPOOL_P384R1,
            Self::BrainpoolP512r1 => BRAINPOOL_P512R1,
        }
    }

    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        CURVES.iter().map(|c| c.curve).find(|c| c.oid() == *oid)
    }

    /// The curve's name as OpenSSL and RFC 5639 spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::P256 => "prime256v1",
            Self::P384 => "secp384r1",
            Self::P521 => "secp521r1",
            Self::BrainpoolP224r1 => "brainpoolP224r1",
            Self::BrainpoolP256r1 => "brainpoolP256r1",
            Self::BrainpoolP320r1 => "brainpoolP320r1",
            Self::BrainpoolP384r1 => "brainpoolP384r1",
            Self::BrainpoolP512r1 => "brainpoolP512r1",
        }
    }
}

/// Domain parameters of a named curve, hex, from SEC 2 v2 and RFC 5639 (checked in the unit
/// tests against the curve crates' own constants, and in the integration tests against OpenSSL's
/// explicit encodings of every curve).
struct CurveConstants {
    curve: NamedCurve,
    p: &'static str,
    a: &'static str,
    b: &'static str,
    gx: &'static str,
    gy: &'static str,
    n: &'static str,
}

const CURVES: [CurveConstants; 8] = [
    CurveConstants {
        curve: NamedCurve::P256,
        p: "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",
        a: "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC",
        b: "5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B",
        gx: "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296",
        gy: "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5",
        n: "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
    },
    CurveConstants {
        curve: NamedCurve::P384,
        p: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF",
        a: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFC",
        b: "B3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF",
        gx: "AA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7",
        gy: "3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F",
        n: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
    },
    CurveConstants {
        curve: NamedCurve::P521,
        p: "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        a: "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC",
        b: "0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00",
        gx: "00C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D3DBAA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66",
        gy: "011839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E662C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650",
        n: "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
    },
    CurveConstants {
        curve: NamedCurve::BrainpoolP224r1,
        p: "D7C134AA264366862A18302575D1D787B09F075797DA89F57EC8C0FF",
        a: "68A5E62CA9CE6C1C299803A6C1530B514E182AD8B0042A59CAD29F43",
        b: "2580F63CCFE44138870713B1A92369E33E2135D266DBB372386C400B",
        gx: "0D9029AD2C7E5CF4340823B2A87DC68C9E4CE3174C1E6EFDEE12C07D",
        gy: "58AA56F772C0726F24C6B89E4ECDAC24354B9E99CAA3F6D3761402CD",
        n: "D7C134AA264366862A18302575D0FB98D116BC4B6DDEBCA3A5A7939F",
    },
    CurveConstants {
        curve: NamedCurve::BrainpoolP256r1,
        p: "A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377",
        a: "7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9",
        b: "26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6",
        gx: "8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262",
        gy: "547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997",
        n: "A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7",
    },
    CurveConstants {
        curve: NamedCurve::BrainpoolP320r1,
        p: "D35E472036BC4FB7E13C785ED201E065F98FCFA6F6F40DEF4F92B9EC7893EC28FCD412B1F1B32E27",
        a: "3EE30B568FBAB0F883CCEBD46D3F3BB8A2A73513F5EB79DA66190EB085FFA9F492F375A97D860EB4",
        b: "520883949DFDBC42D3AD198640688A6FE13F41349554B49ACC31DCCD884539816F5EB4AC8FB1F1A6",
        gx: "43BD7E9AFB53D8B85289BCC48EE5BFE6F20137D10A087EB6E7871E2A10A599C710AF8D0D39E20611",
        gy: "14FDD05545EC1CC8AB4093247F77275E0743FFED117182EAA9C77877AAAC6AC7D35245D1692E8EE1",
        n: "D35E472036BC4FB7E13C785ED201E065F98FCFA5B68F12A32D482EC7EE8658E98691555B44C59311",
    },
    CurveConstants {
        curve: NamedCurve::BrainpoolP384r1,
        p: "8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B412B1DA197FB71123ACD3A729901D1A71874700133107EC53",
        a: "7BC382C63D8C150C3C72080ACE05AFA0C2BEA28E4FB22787139165EFBA91F90F8AA5814A503AD4EB04A8C7DD22CE2826",
        b: "04A8C7DD22CE28268B39B55416F0447C2FB77DE107DCD2A62E880EA53EEB62D57CB4390295DBC9943AB78696FA504C11",
        gx: "1D1C64F068CF45FFA2A63A81B7C13F6B8847A3E77EF14FE3DB7FCAFE0CBD10E8E826E03436D646AAEF87B2E247D4AF1E",
        gy: "8ABE1D7520F9C2A45CB1EB8E95CFD55262B70B29FEEC5864E19C054FF99129280E4646217791811142820341263C5315",
        n: "8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B31F166E6CAC0425A7CF3AB6AF6B7FC3103B883202E9046565",
    },
    CurveConstants {
        curve: NamedCurve::BrainpoolP512r1,
        p: "AADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA703308717D4D9B009BC66842AECDA12AE6A380E62881FF2F2D82C68528AA6056583A48F3",
        a: "7830A3318B603B89E2327145AC234CC594CBDD8D3DF91610A83441CAEA9863BC2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A72BF2C7B9E7C1AC4D77FC94CA",
        b: "3DF91610A83441CAEA9863BC2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A72BF2C7B9E7C1AC4D77FC94CADC083E67984050B75EBAE5DD2809BD638016F723",
        gx: "81AEE4BDD82ED9645A21322E9C4C6A9385ED9F70B5D916C1B43B62EEF4D0098EFF3B1F78E2D0D48D50D1687B93B97D5F7C6D5047406A5E688B352209BCB9F822",
        gy: "7DDE385D566332ECC0EABFA9CF7822FDF209F70024A57B1AA000C55B881F8111B2DCDE494A5F485E5BCA4BD88A2763AED1CA2B2FA8F0540678CD1E0F3AD80892",
        n: "AADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA70330870553E5C414CA92619418661197FAC10471DB1D381085DDADDB58796829CA90069",
    },
];

/// `SpecifiedECDomain` (SEC 1 v2 § C.2, RFC 3279 § 2.3.5 `ECParameters`).
#[derive(Clone, Debug, Sequence)]
struct SpecifiedEcDomain {
    version: u8,
    field_id: FieldId,
    curve: CurveParams,
    base: OctetString,
    order: Uint,
    #[asn1(optional = "true")]
    cofactor: Option<Uint>,
    // SEC 1 v2 adds an optional hash algorithm; it does not change the curve.
    #[asn1(optional = "true")]
    _hash: Option<AlgorithmIdentifierOwned>,
}

#[derive(Clone, Debug, Sequence)]
struct FieldId {
    field_type: ObjectIdentifier,
    parameters: Any,
}

#[derive(Clone, Debug, Sequence)]
struct CurveParams {
    a: OctetString,
    b: OctetString,
    #[asn1(optional = "true")]
    _seed: Option<BitString>,
}

/// `Ecdsa-Sig-Value` (RFC 3279 § 2.2.3).
#[derive(Clone, Debug, Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

fn hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Equality of two big-endian integers, one given as bytes and one as hex, ignoring leading zeros.
fn int_eq(bytes: &[u8], hex: &str) -> bool {
    hex_upper(bytes).trim_start_matches('0') == hex.trim_start_matches('0')
}

/// Maps DER `ECParameters` given explicitly (a `SpecifiedECDomain`) to the named curve whose
/// field prime, coefficients, base point and order match exactly (cofactor, when present, 1).
pub fn named_curve_from_explicit_parameters(der: &[u8]) -> Result<NamedCurve, VerifyError> {
    let domain = SpecifiedEcDomain::from_der(der)
        .map_err(|e| VerifyError::MalformedKey(format!("explicit EC parameters: {e}")))?;
    if !(1..=3).contains(&domain.version) {
        return Err(VerifyError::MalformedKey(format!(
            "explicit EC parameters version {}",
            domain.version
        )));
    }
    if domain.field_id.field_type != ID_PRIME_FIELD {
        // Characteristic-two fields: no ICAO-relevant named curve uses them here.
        return Err(VerifyError::UnknownExplicitCurve);
    }
    let p = domain
        .field_id
        .parameters
        .decode_as::<Uint>()
        .map_err(|e| VerifyError::MalformedKey(format!("explicit EC field prime: {e}")))?;
    if let Some(h) = &domain.cofactor {
        if h.as_bytes() != [1] {
            return Err(VerifyError::UnknownExplicitCurve);
        }
    }
    let base = domain.base.as_bytes();
    let (tag, coords) = base
        .split_first()
        .ok_or_else(|| VerifyError::MalformedKey("empty explicit base point".to_string()))?;
    for c in &CURVES {
        if !(int_eq(p.as_bytes(), c.p)
            && int_eq(domain.curve.a.as_bytes(), c.a)
            && int_eq(domain.curve.b.as_bytes(), c.b)
            && int_eq(domain.order.as_bytes(), c.n))
        {
            continue;
        }
        let gy_odd =
            c.gy.chars()
                .last()
                .and_then(|d| d.to_digit(16))
                .is_some_and(|d| d % 2 == 1);
        let base_matches = match tag {
            0x04 | 0x06 | 0x07 if coords.len() % 2 == 0 => {
                let (x, y) = coords.split_at(coords.len() / 2);
                let parity_ok = *tag == 0x04 || ((tag & 1) == 1) == gy_odd;
                parity_ok && int_eq(x, c.gx) && int_eq(y, c.gy)
            }
            0x02 | 0x03 => ((tag & 1) == 1) == gy_odd && int_eq(coords, c.gx),
            _ => false,
        };
        if base_matches {
            return Ok(c.curve);
        }
    }
    Err(VerifyError::UnknownExplicitCurve)
}

/// The named curve of an id-ecPublicKey SPKI, whether it names it or spells out its parameters.
pub fn ec_named_curve(spki: &SubjectPublicKeyInfoOwned) -> Result<NamedCurve, VerifyError> {
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
        return Err(VerifyError::UnsupportedAlgorithm(spki.algorithm.oid));
    }
    let params = spki.algorithm.parameters.as_ref().ok_or_else(|| {
        VerifyError::MalformedKey("id-ecPublicKey without curve parameters".to_string())
    })?;
    match params.tag() {
        Tag::ObjectIdentifier => {
            let oid = params
                .decode_as::<ObjectIdentifier>()
                .map_err(|e| VerifyError::MalformedKey(format!("curve OID: {e}")))?;
            NamedCurve::from_oid(&oid).ok_or(VerifyError::UnsupportedCurve(oid))
        }
        Tag::Sequence => {
            let der = der::Encode::to_der(params)
                .map_err(|e| VerifyError::MalformedKey(format!("curve parameters: {e}")))?;
            named_curve_from_explicit_parameters(&der)
        }
        // implicitlyCA (NULL): RFC 5480 forbids it in certificates.
        _ => Err(VerifyError::MalformedKey(
            "id-ecPublicKey with implicitlyCA or unknown parameters".to_string(),
        )),
    }
}

/// The same key with explicit curve parameters replaced by the named curve's OID; other keys are
/// returned unchanged.
pub fn spki_with_named_curve(
    spki: &SubjectPublicKeyInfoOwned,
) -> Result<SubjectPublicKeyInfoOwned, VerifyError> {
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
        return Ok(spki.clone());
    }
    let curve = ec_named_curve(spki)?;
    let params = Any::encode_from(&curve.oid())
        .map_err(|e| VerifyError::MalformedKey(format!("curve OID: {e}")))?;
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(params),
        },
        subject_public_key: spki.subject_public_key.clone(),
    })
}

/// The kind of a public key [`check_public_key`] accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyType {
    Ec(NamedCurve),
    Rsa { bits: usize },
}

/// Checks an EC or RSA public key before it is put where nobody will check it again (a chip's
/// key in its data groups): an EC key on a supported curve with its point on the curve, or an
/// RSA key whose modulus and exponent the `rsa` crate accepts. Any other algorithm is refused.
pub fn check_public_key(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKeyType, VerifyError> {
    match spki.algorithm.oid {
        ID_EC_PUBLIC_KEY => {
            let curve = ec_named_curve(spki)?;
            let point = spki.subject_public_key.as_bytes().ok_or_else(|| {
                VerifyError::MalformedKey("EC point is not a whole number of bytes".to_string())
            })?;
            generic::check_point(curve, point)?;
            Ok(PublicKeyType::Ec(curve))
        }
        RSA_ENCRYPTION | ID_RSASSA_PSS => {
            let key = rsa_key(spki)?;
            Ok(PublicKeyType::Rsa {
                bits: key.n().bits(),
            })
        }
        other => Err(VerifyError::UnsupportedAlgorithm(other)),
    }
}

/// A signature scheme with its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Ecdsa(DigestAlgorithm),
    RsaPkcs1(DigestAlgorithm),
    RsaPss(PssParams),
}

impl Scheme {
    fn digest(&self) -> DigestAlgorithm {
        match self {
            Self::Ecdsa(d) | Self::RsaPkcs1(d) => *d,
            Self::RsaPss(p) => p.hash,
        }
    }
}

fn scheme_of(alg: &AlgorithmIdentifierOwned) -> Result<Scheme, VerifyError> {
    let ecdsa = |d| {
        // RFC 5758 § 3.2: parameters MUST be absent; NULL seen in the wild is tolerated.
        if params_absent_or_null(alg.parameters.as_ref()) {
            Ok(Scheme::Ecdsa(d))
        } else {
            Err(VerifyError::UnsupportedParameters(format!(
                "{} with parameters",
                alg.oid
            )))
        }
    };
    let pkcs1 = |d| {
        if params_absent_or_null(alg.parameters.as_ref()) {
            Ok(Scheme::RsaPkcs1(d))
        } else {
            Err(VerifyError::UnsupportedParameters(format!(
                "{} with parameters other than NULL",
                alg.oid
            )))
        }
    };
    match alg.oid {
        ECDSA_WITH_SHA1 => ecdsa(DigestAlgorithm::Sha1),
        ECDSA_WITH_SHA224 => ecdsa(DigestAlgorithm::Sha224),
        ECDSA_WITH_SHA256 => ecdsa(DigestAlgorithm::Sha256),
        ECDSA_WITH_SHA384 => ecdsa(DigestAlgorithm::Sha384),
        ECDSA_WITH_SHA512 => ecdsa(DigestAlgorithm::Sha512),
        SHA1_WITH_RSA_ENCRYPTION => pkcs1(DigestAlgorithm::Sha1),
        SHA224_WITH_RSA_ENCRYPTION => pkcs1(DigestAlgorithm::Sha224),
        SHA256_WITH_RSA_ENCRYPTION => pkcs1(DigestAlgorithm::Sha256),
        SHA384_WITH_RSA_ENCRYPTION => pkcs1(DigestAlgorithm::Sha384),
        SHA512_WITH_RSA_ENCRYPTION => pkcs1(DigestAlgorithm::Sha512),
        ID_RSASSA_PSS => RsaPssParameters::from_algorithm_identifier(alg)
            .map(Scheme::RsaPss)
            .map_err(|e| match e {
                PssParamsError::Malformed(m) => {
                    VerifyError::UnsupportedParameters(format!("malformed RSASSA-PSS: {m}"))
                }
                PssParamsError::Unsupported(m) => {
                    VerifyError::UnsupportedParameters(format!("RSASSA-PSS with {m}"))
                }
            }),
        other => Err(VerifyError::UnsupportedAlgorithm(other)),
    }
}

/// Verifies `signature` over `message` with the key `spki`, by the algorithm `signature_algorithm`
/// states (as a certificate, CRL or SignerInfo carries it).
pub fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    signature_algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let scheme = scheme_of(signature_algorithm)?;
    verify_scheme(spki, signature_algorithm.oid, scheme, message, signature)
}

/// For a CMS SignerInfo whose signatureAlgorithm names only the key type (`rsaEncryption`, which
/// RFC 3370 allows, or `id-ecPublicKey`, which some issuers write): the hash is the SignerInfo's
/// digestAlgorithm. Any other signature algorithm is verified as [`verify_signature`] does.
pub fn verify_signature_with_digest(
    spki: &SubjectPublicKeyInfoOwned,
    signature_algorithm: &AlgorithmIdentifierOwned,
    digest_algorithm: DigestAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let scheme = match signature_algorithm.oid {
        RSA_ENCRYPTION => Scheme::RsaPkcs1(digest_algorithm),
        ID_EC_PUBLIC_KEY => Scheme::Ecdsa(digest_algorithm),
        _ => scheme_of(signature_algorithm)?,
    };
    verify_scheme(spki, signature_algorithm.oid, scheme, message, signature)
}

fn verify_scheme(
    spki: &SubjectPublicKeyInfoOwned,
    signature_oid: ObjectIdentifier,
    scheme: Scheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    // Hashed here rather than by the callers: the `ring` path hashes the message itself.
    let digest = || scheme.digest().digest(message);
    let key_oid = spki.algorithm.oid;
    let mismatch = || VerifyError::KeyAlgorithmMismatch {
        key: key_oid,
        signature: signature_oid,
    };
    match scheme {
        Scheme::Ecdsa(d) => {
            if key_oid != ID_EC_PUBLIC_KEY {
                return Err(mismatch());
            }
            let curve = ec_named_curve(spki)?;
            let point = spki.subject_public_key.as_bytes().ok_or_else(|| {
                VerifyError::MalformedKey("EC point is not a whole number of bytes".to_string())
            })?;
            if let Some(alg) = ring_ecdsa_algorithm(curve, d) {
                return match curve {
                    NamedCurve::P256 => {
                        ring_ecdsa_verify::<p256::NistP256>(alg, point, message, signature)
                    }
                    _ => ring_ecdsa_verify::<p384::NistP384>(alg, point, message, signature),
                };
            }
            let digest = digest();
            match curve {
                NamedCurve::P256 => ecdsa_verify::<p256::NistP256>(point, &digest, signature),
                NamedCurve::P384 => ecdsa_verify::<p384::NistP384>(point, &digest, signature),
                NamedCurve::P521 => ecdsa_verify::<p521::NistP521>(point, &digest, signature),
                // The Brainpool crates of this generation (bp256/bp384 0.6) have no usable
                // arithmetic (theirs is "wip": its field encoding returns Montgomery form), and
                // none covers P-224/P-320/P-512: verified by the generic code below instead.
                _ => generic::ecdsa_verify(curve, point, &digest, signature),
            }
        }
        Scheme::RsaPkcs1(d) => {
            let key = rsa_key(spki).map_err(|e| match e {
                VerifyError::UnsupportedAlgorithm(_) => mismatch(),
                other => other,
            })?;
            let padding = match d {
                DigestAlgorithm::Sha1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
                DigestAlgorithm::Sha224 => rsa::Pkcs1v15Sign::new::<sha2::Sha224>(),
                DigestAlgorithm::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                DigestAlgorithm::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                DigestAlgorithm::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            };
            let sig = rsa_signature_bytes(&key, signature)?;
            key.verify(padding, &digest(), &sig)
                .map_err(|_| VerifyError::BadSignature)
        }
        Scheme::RsaPss(p) => {
            let key = rsa_key(spki).map_err(|e| match e {
                VerifyError::UnsupportedAlgorithm(_) => mismatch(),
                other => other,
            })?;
            if p.mgf1_hash != p.hash {
                // The rsa crate derives the MGF1 hash from the message hash.
                return Err(VerifyError::UnsupportedParameters(format!(
                    "RSASSA-PSS with MGF1 hash {:?} differing from message hash {:?}",
                    p.mgf1_hash, p.hash
                )));
            }
            let s = p.salt_length;
            let padding = match p.hash {
                DigestAlgorithm::Sha1 => rsa::Pss::new_with_salt::<sha1::Sha1>(s),
                DigestAlgorithm::Sha224 => rsa::Pss::new_with_salt::<sha2::Sha224>(s),
                DigestAlgorithm::Sha256 => rsa::Pss::new_with_salt::<sha2::Sha256>(s),
                DigestAlgorithm::Sha384 => rsa::Pss::new_with_salt::<sha2::Sha384>(s),
                DigestAlgorithm::Sha512 => rsa::Pss::new_with_salt::<sha2::Sha512>(s),
            };
            let sig = rsa_signature_bytes(&key, signature)?;
            key.verify(padding, &digest(), &sig)
                .map_err(|_| VerifyError::BadSignature)
        }
    }
}

/// The RSA public key of an `rsaEncryption` or `id-RSASSA-PSS` SPKI.
fn rsa_key(spki: &SubjectPublicKeyInfoOwned) -> Result<RsaPublicKey, VerifyError> {
    let oid = spki.algorithm.oid;
    if oid != RSA_ENCRYPTION && oid != ID_RSASSA_PSS {
        return Err(VerifyError::UnsupportedAlgorithm(oid));
    }
    let bytes = spki.subject_public_key.as_bytes().ok_or_else(|| {
        VerifyError::MalformedKey("RSA key is not a whole number of bytes".to_string())
    })?;
    let key = rsa::pkcs1::RsaPublicKey::from_der(bytes)
        .map_err(|e| VerifyError::MalformedKey(format!("RSAPublicKey: {e}")))?;
    // Foreign CSCAs use up to 4096 bits today; allow headroom beyond the crate's 4096 default.
    RsaPublicKey::new_with_max_size(
        BigUint::from_bytes_be(key.modulus.as_bytes()),
        BigUint::from_bytes_be(key.public_exponent.as_bytes()),
        16384,
    )
    .map_err(|e| VerifyError::MalformedKey(format!("RSA key: {e}")))
}

/// RSA signatures are octet strings as long as the modulus; an encoder that dropped leading zero
/// octets is forgiven by padding them back.
fn rsa_signature_bytes(key: &RsaPublicKey, signature: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let k = key.size();
    if signature.len() > k {
        return Err(VerifyError::MalformedSignature(format!(
            "RSA signature of {} octets for a {k}-octet modulus",
            signature.len()
        )));
    }
    let mut sig = vec![0u8; k - signature.len()];
    sig.extend_from_slice(signature);
    Ok(sig)
}

/// Reads an ECDSA signature: DER `Ecdsa-Sig-Value` as X.509 and CMS require; failing that, the
/// plain r||s concatenation (the PKCS #11 / BSI TR-03111 form) which some issuers put in CMS.
fn ecdsa_signature<C>(signature: &[u8]) -> Result<Signature<C>, VerifyError>
where
    C: PrimeCurve,
    SignatureSize<C>: ecdsa::elliptic_curve::generic_array::ArrayLength<u8>,
{
    let size = FieldBytesSize::<C>::USIZE;
    match EcdsaSigValue::from_der(signature) {
        Ok(v) => {
            let (r, s) = (v.r.as_bytes(), v.s.as_bytes());
            if r.len() > size || s.len() > size {
                return Err(VerifyError::MalformedSignature(
                    "ECDSA r or s longer than the curve order".to_string(),
                ));
            }
            let mut raw = vec![0u8; 2 * size];
            raw[size - r.len()..size].copy_from_slice(r);
            raw[2 * size - s.len()..].copy_from_slice(s);
            Signature::<C>::from_slice(&raw).map_err(|_| {
                VerifyError::MalformedSignature("ECDSA r or s out of range".to_string())
            })
        }
        Err(der_error) => {
            if signature.len() == 2 * size {
                Signature::<C>::from_slice(signature).map_err(|_| {
                    VerifyError::MalformedSignature("ECDSA r or s out of range".to_string())
                })
            } else {
                Err(VerifyError::MalformedSignature(format!(
                    "neither a DER Ecdsa-Sig-Value ({der_error}) nor a {}-octet r||s",
                    2 * size
                )))
            }
        }
    }
}

/// The digest as the integer ECDSA signs: its leftmost bits, as many as the order has (FIPS 186-5
/// § 6.4.2). The orders here have a whole number of octets, except P-521's 521 bits, which every
/// supported digest is shorter than; shorter digests are left-padded. (The ecdsa crate's own
/// `bits2field` refuses digests shorter than half the field, such as SHA-1 with P-384.)
fn digest_to_field<C: PrimeCurve>(digest: &[u8]) -> FieldBytes<C> {
    let n = FieldBytesSize::<C>::USIZE;
    let mut field = FieldBytes::<C>::default();
    if digest.len() >= n {
        field.copy_from_slice(&digest[..n]);
    } else {
        field[n - digest.len()..].copy_from_slice(digest);
    }
    field
}

fn ecdsa_verify<C>(point: &[u8], digest: &[u8], signature: &[u8]) -> Result<(), VerifyError>
where
    C: PrimeCurve + CurveArithmetic,
    FieldBytesSize<C>: ModulusSize,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    SignatureSize<C>: ecdsa::elliptic_curve::generic_array::ArrayLength<u8>,
{
    let key = ecdsa::elliptic_curve::PublicKey::<C>::from_sec1_bytes(point)
        .map_err(|_| VerifyError::MalformedKey("EC point is not on the curve".to_string()))?;
    let sig = ecdsa_signature::<C>(signature)?;
    let z = digest_to_field::<C>(digest);
    ecdsa::hazmat::verify_prehashed::<C>(&key.to_projective(), &z, &sig)
        .map_err(|_| VerifyError::BadSignature)
}

/// The `ring` algorithm for an ECDSA curve and digest, where ring has one: P-256 and P-384 with
/// SHA-256 or SHA-384. Every other combination stays on the RustCrypto / generic code.
fn ring_ecdsa_algorithm(
    curve: NamedCurve,
    digest: DigestAlgorithm,
) -> Option<&'static ring::signature::EcdsaVerificationAlgorithm> {
    use ring::signature as rs;
    match (curve, digest) {
        (NamedCurve::P256, DigestAlgorithm::Sha256) => Some(&rs::ECDSA_P256_SHA256_ASN1),
        (NamedCurve::P256, DigestAlgorithm::Sha384) => Some(&rs::ECDSA_P256_SHA384_ASN1),
        (NamedCurve::P384, DigestAlgorithm::Sha256) => Some(&rs::ECDSA_P384_SHA256_ASN1),
        (NamedCurve::P384, DigestAlgorithm::Sha384) => Some(&rs::ECDSA_P384_SHA384_ASN1),
        _ => None,
    }
}

/// [`ecdsa_verify`] with the curve arithmetic done by `ring` (P-256 about five times as fast,
/// P-384 about 1.5 times; figures in Cargo.toml), for the pairs [`ring_ecdsa_algorithm`] maps.
///
/// ring answers every failure with one opaque error, so the key and the signature are decoded
/// and range-checked here first, exactly as [`ecdsa_verify`] does: a malformed key or signature
/// is reported as such, and ring's error can only mean a signature that does not verify. ring
/// reads only uncompressed points and DER signatures: it is given the point re-encoded
/// uncompressed when it came compressed, and the signature re-encoded as canonical DER from the
/// checked r and s (so that DER or r||s input, and any leniency difference between two DER
/// parsers, cannot make the two paths disagree).
fn ring_ecdsa_verify<C>(
    alg: &'static ring::signature::EcdsaVerificationAlgorithm,
    point: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError>
where
    C: PrimeCurve + CurveArithmetic,
    FieldBytesSize<C>: ModulusSize,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    SignatureSize<C>: ecdsa::elliptic_curve::generic_array::ArrayLength<u8>,
{
    let key = ecdsa::elliptic_curve::PublicKey::<C>::from_sec1_bytes(point)
        .map_err(|_| VerifyError::MalformedKey("EC point is not on the curve".to_string()))?;
    let sig = ecdsa_signature::<C>(signature)?;
    let uncompressed;
    let point = if point.first() == Some(&0x04) {
        point
    } else {
        uncompressed = key.to_encoded_point(false);
        uncompressed.as_bytes()
    };
    let (r, s) = sig.split_bytes();
    let malformed = |e: der::Error| VerifyError::MalformedSignature(format!("ECDSA r or s: {e}"));
    let value = EcdsaSigValue {
        r: UintRef::new(&r).map_err(malformed)?,
        s: UintRef::new(&s).map_err(malformed)?,
    };
    // SEQUENCE of two INTEGERs of at most 49 octets (P-384, with a sign octet): under 128.
    let mut buf = [0u8; 128];
    let der_sig = value.encode_to_slice(&mut buf).map_err(malformed)?;
    ring::signature::UnparsedPublicKey::new(alg, point)
        .verify(message, der_sig)
        .map_err(|_| VerifyError::BadSignature)
}

/// ECDSA verification on any prime curve of the table above, in affine-free Jacobian
/// coordinates over `BigUint` (variable time: it only handles public data).
///
/// Used for the Brainpool curves, which no curve crate of this dependency generation implements
/// correctly; its results are cross-checked against OpenSSL for every curve in the tests.
mod generic {
    use super::{CurveConstants, EcdsaSigValue, NamedCurve, VerifyError, CURVES};
    use der::Decode;
    use rsa::BigUint;

    struct Curve {
        p: BigUint,
        a: BigUint,
        b: BigUint,
        n: BigUint,
        g: Point,
    }

    /// Jacobian (X, Y, Z) for x = X/Z², y = Y/Z³; Z = 0 is the point at infinity.
    #[derive(Clone)]
    struct Point {
        x: BigUint,
        y: BigUint,
        z: BigUint,
    }

    fn is_zero(v: &BigUint) -> bool {
        v.bits() == 0
    }

    fn int(v: u32) -> BigUint {
        BigUint::from(v)
    }

    fn parse(hex: &str) -> Option<BigUint> {
        BigUint::parse_bytes(hex.as_bytes(), 16)
    }

    impl Curve {
        fn new(c: &CurveConstants) -> Option<Self> {
            Some(Self {
                p: parse(c.p)?,
                a: parse(c.a)?,
                b: parse(c.b)?,
                n: parse(c.n)?,
                g: Point {
                    x: parse(c.gx)?,
                    y: parse(c.gy)?,
                    z: int(1),
                },
            })
        }

        fn add_m(&self, a: &BigUint, b: &BigUint) -> BigUint {
            (a + b) % &self.p
        }

        /// a - b mod p, for a, b < p.
        fn sub_m(&self, a: &BigUint, b: &BigUint) -> BigUint {
            (a + &self.p - b) % &self.p
        }

        fn mul_m(&self, a: &BigUint, b: &BigUint) -> BigUint {
            (a * b) % &self.p
        }

        fn inv_m(&self, a: &BigUint) -> BigUint {
            // p is prime: Fermat.
            a.modpow(&(&self.p - int(2)), &self.p)
        }

        fn infinity() -> Point {
            Point {
                x: int(1),
                y: int(1),
                z: int(0),
            }
        }

        fn on_curve(&self, x: &BigUint, y: &BigUint) -> bool {
            let rhs = self.add_m(
                &self.add_m(&self.mul_m(&self.mul_m(x, x), x), &self.mul_m(&self.a, x)),
                &self.b,
            );
            self.mul_m(y, y) == rhs
        }

        fn double(&self, p: &Point) -> Point {
            if is_zero(&p.z) || is_zero(&p.y) {
                return Self::infinity();
            }
            let yy = self.mul_m(&p.y, &p.y);
            let s = self.mul_m(&int(4), &self.mul_m(&p.x, &yy));
            let zz = self.mul_m(&p.z, &p.z);
            let m = self.add_m(
                &self.mul_m(&int(3), &self.mul_m(&p.x, &p.x)),
                &self.mul_m(&self.a, &self.mul_m(&zz, &zz)),
            );
            let x3 = self.sub_m(&self.mul_m(&m, &m), &self.add_m(&s, &s));
            let y3 = self.sub_m(
                &self.mul_m(&m, &self.sub_m(&s, &x3)),
                &self.mul_m(&int(8), &self.mul_m(&yy, &yy)),
            );
            let z3 = self.mul_m(&int(2), &self.mul_m(&p.y, &p.z));
            Point {
                x: x3,
                y: y3,
                z: z3,
            }
        }

        fn add(&self, p: &Point, q: &Point) -> Point {
            if is_zero(&p.z) {
                return q.clone();
            }
            if is_zero(&q.z) {
                return p.clone();
            }
            let z1z1 = self.mul_m(&p.z, &p.z);
            let z2z2 = self.mul_m(&q.z, &q.z);
            let u1 = self.mul_m(&p.x, &z2z2);
            let u2 = self.mul_m(&q.x, &z1z1);
            let s1 = self.mul_m(&p.y, &self.mul_m(&q.z, &z2z2));
            let s2 = self.mul_m(&q.y, &self.mul_m(&p.z, &z1z1));
            if u1 == u2 {
                return if s1 == s2 {
                    self.double(p)
                } else {
                    Self::infinity()
                };
            }
            let h = self.sub_m(&u2, &u1);
            let r = self.sub_m(&s2, &s1);
            let hh = self.mul_m(&h, &h);
            let hhh = self.mul_m(&h, &hh);
            let u1hh = self.mul_m(&u1, &hh);
            let x3 = self.sub_m(
                &self.sub_m(&self.mul_m(&r, &r), &hhh),
                &self.add_m(&u1hh, &u1hh),
            );
            let y3 = self.sub_m(
                &self.mul_m(&r, &self.sub_m(&u1hh, &x3)),
                &self.mul_m(&s1, &hhh),
            );
            let z3 = self.mul_m(&h, &self.mul_m(&p.z, &q.z));
            Point {
                x: x3,
                y: y3,
                z: z3,
            }
        }

        /// u1·G + u2·Q (Shamir's trick).
        fn lincomb(&self, u1: &BigUint, q: &Point, u2: &BigUint) -> Point {
            let gq = self.add(&self.g, q);
            let width = self.n.bits().div_ceil(8);
            let pad = |v: &BigUint| {
                let b = v.to_bytes_be();
                let mut out = vec![0u8; width.saturating_sub(b.len())];
                out.extend_from_slice(&b);
                out
            };
            let (a, b) = (pad(u1), pad(u2));
            let mut acc = Self::infinity();
            for (ba, bb) in a.iter().zip(b.iter()) {
                for bit in (0..8).rev() {
                    acc = self.double(&acc);
                    match ((ba >> bit) & 1 == 1, (bb >> bit) & 1 == 1) {
                        (true, true) => acc = self.add(&acc, &gq),
                        (true, false) => acc = self.add(&acc, &self.g),
                        (false, true) => acc = self.add(&acc, q),
                        (false, false) => {}
                    }
                }
            }
            acc
        }

        /// A SEC 1 point (uncompressed, compressed or hybrid), checked to lie on the curve.
        fn decode_point(&self, bytes: &[u8]) -> Result<Point, VerifyError> {
            let fl = self.p.bits().div_ceil(8);
            let bad = |m: &str| VerifyError::MalformedKey(m.to_string());
            let (tag, rest) = bytes.split_first().ok_or_else(|| bad("empty EC point"))?;
            let (x, y) = match tag {
                0x04 | 0x06 | 0x07 if rest.len() == 2 * fl => {
                    let x = BigUint::from_bytes_be(&rest[..fl]);
                    let y = BigUint::from_bytes_be(&rest[fl..]);
                    if *tag != 0x04
                        && (y.to_bytes_be().last().copied().unwrap_or(0) & 1) != (tag & 1)
                    {
                        return Err(bad("hybrid EC point with the wrong parity"));
                    }
                    (x, y)
                }
                0x02 | 0x03 if rest.len() == fl => {
                    let x = BigUint::from_bytes_be(rest);
                    if x >= self.p {
                        return Err(bad("EC point coordinate out of range"));
                    }
                    // All supported Brainpool primes are 3 mod 4: sqrt(v) = v^((p+1)/4).
                    if self.p.to_bytes_be().last().copied().unwrap_or(0) & 3 != 3 {
                        return Err(bad("compressed points are not supported on this curve"));
                    }
                    let rhs = self.add_m(
                        &self.add_m(
                            &self.mul_m(&self.mul_m(&x, &x), &x),
                            &self.mul_m(&self.a, &x),
                        ),
                        &self.b,
                    );
                    let mut y = rhs.modpow(&((&self.p + int(1)) / int(4)), &self.p);
                    if (y.to_bytes_be().last().copied().unwrap_or(0) & 1) != (tag & 1) {
                        y = self.sub_m(&int(0), &y);
                    }
                    (x, y)
                }
                _ => return Err(bad("EC point of the wrong length or form")),
            };
            if x >= self.p || y >= self.p || !self.on_curve(&x, &y) {
                return Err(bad("EC point is not on the curve"));
            }
            Ok(Point { x, y, z: int(1) })
        }

        fn signature(&self, signature: &[u8]) -> Result<(BigUint, BigUint), VerifyError> {
            let nl = self.n.bits().div_ceil(8);
            let (r, s) = match EcdsaSigValue::from_der(signature) {
                Ok(v) => (
                    BigUint::from_bytes_be(v.r.as_bytes()),
                    BigUint::from_bytes_be(v.s.as_bytes()),
                ),
                // Plain r||s, as some issuers write (see `ecdsa_signature`).
                Err(_) if signature.len() == 2 * nl => (
                    BigUint::from_bytes_be(&signature[..nl]),
                    BigUint::from_bytes_be(&signature[nl..]),
                ),
                Err(e) => {
                    return Err(VerifyError::MalformedSignature(format!(
                        "neither a DER Ecdsa-Sig-Value ({e}) nor a {}-octet r||s",
                        2 * nl
                    )))
                }
            };
            if is_zero(&r) || is_zero(&s) || r >= self.n || s >= self.n {
                return Err(VerifyError::MalformedSignature(
                    "ECDSA r or s out of range".to_string(),
                ));
            }
            Ok((r, s))
        }
    }

    /// A SEC 1 point of `curve`, decoded and checked to lie on it.
    pub(super) fn check_point(curve: NamedCurve, point: &[u8]) -> Result<(), VerifyError> {
        let c = CURVES
            .iter()
            .find(|c| c.curve == curve)
            .and_then(Curve::new)
            .ok_or(VerifyError::UnsupportedCurve(curve.oid()))?;
        c.decode_point(point).map(|_| ())
    }

    pub(super) fn ecdsa_verify(
        curve: NamedCurve,
        point: &[u8],
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        let c = CURVES
            .iter()
            .find(|c| c.curve == curve)
            .and_then(Curve::new)
            .ok_or(VerifyError::UnsupportedCurve(curve.oid()))?;
        let q = c.decode_point(point)?;
        let (r, s) = c.signature(signature)?;
        // e: the digest's leftmost bits, as many as the order has.
        let mut e = BigUint::from_bytes_be(digest);
        let (dbits, nbits) = (digest.len() * 8, c.n.bits());
        if dbits > nbits {
            e >>= dbits - nbits;
        }
        let w = s.modpow(&(&c.n - int(2)), &c.n);
        let u1 = (&e * &w) % &c.n;
        let u2 = (&r * &w) % &c.n;
        let rp = c.lincomb(&u1, &q, &u2);
        if is_zero(&rp.z) {
            return Err(VerifyError::BadSignature);
        }
        let zinv = c.inv_m(&rp.z);
        let x = c.mul_m(&rp.x, &c.mul_m(&zinv, &zinv));
        if x % &c.n == r {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use ecdsa::elliptic_curve::ff::PrimeField;
    use ecdsa::elliptic_curve::Curve;
    use ecdsa::elliptic_curve::{bigint::ArrayEncoding, Field};

    fn check<C>(curve: NamedCurve)
    where
        C: PrimeCurve + CurveArithmetic + primeorder::PrimeCurveParams,
        FieldBytesSize<C>: ModulusSize,
        AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
        <C as Curve>::Uint: ArrayEncoding,
    {
        let c = CURVES.iter().find(|c| c.curve == curve).unwrap();
        let minus_one = -<C as primeorder::PrimeCurveParams>::FieldElement::ONE;
        let p_minus_1 = hex_upper(&minus_one.to_repr());
        let p = c.p.trim_start_matches('0');
        // p is odd, so p - 1 differs only in the last hex digit.
        let last = p.chars().last().unwrap().to_digit(16).unwrap() - 1;
        let expected = format!("{}{:X}", &p[..p.len() - 1], last);
        assert_eq!(p_minus_1.trim_start_matches('0'), expected, "{curve:?} p");
        assert!(int_eq(&C::EQUATION_A.to_repr(), c.a), "{curve:?} a");
        assert!(int_eq(&C::EQUATION_B.to_repr(), c.b), "{curve:?} b");
        let (gx, gy) = C::GENERATOR;
        assert!(int_eq(&gx.to_repr(), c.gx), "{curve:?} gx");
        assert!(int_eq(&gy.to_repr(), c.gy), "{curve:?} gy");
        assert!(int_eq(&C::ORDER.to_be_byte_array(), c.n), "{curve:?} n");
    }

    #[test]
    fn curve_constants_match_the_curve_crates() {
        check::<p256::NistP256>(NamedCurve::P256);
        check::<p384::NistP384>(NamedCurve::P384);
        check::<p521::NistP521>(NamedCurve::P521);
    }

    #[test]
    fn short_digests_are_left_padded_and_long_ones_truncated() {
        let f = digest_to_field::<p384::NistP384>(&[0xab; 20]);
        assert_eq!(&f[..28], &[0u8; 28]);
        assert_eq!(&f[28..], &[0xab; 20]);
        let long: Vec<u8> = (0..64).collect();
        let f = digest_to_field::<p256::NistP256>(&long);
        assert_eq!(f.as_slice(), &long[..32]);
    }

    #[test]
    fn generic_verifier_agrees_with_the_nist_crates() {
        use ecdsa::signature::hazmat::PrehashSigner;
        let msg = b"generic cross-check";
        let digest = DigestAlgorithm::Sha256.digest(msg);
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let compressed = key.verifying_key().to_encoded_point(true);
        let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).unwrap();
        let der = sig.to_der();
        for p in [point.as_bytes(), compressed.as_bytes()] {
            generic::ecdsa_verify(NamedCurve::P256, p, &digest, der.as_bytes()).unwrap();
            generic::ecdsa_verify(NamedCurve::P256, p, &digest, &sig.to_bytes()).unwrap();
            ecdsa_verify::<p256::NistP256>(p, &digest, der.as_bytes()).unwrap();
        }
        let mut bad = digest.clone();
        bad[0] ^= 1;
        assert_eq!(
            generic::ecdsa_verify(NamedCurve::P256, point.as_bytes(), &bad, der.as_bytes()),
            Err(VerifyError::BadSignature)
        );

        let key = p384::ecdsa::SigningKey::from_slice(&[9u8; 48]).unwrap();
        let digest = DigestAlgorithm::Sha1.digest(msg);
        // The crate refuses a 20-octet prehash for P-384; left-padded it is the same integer.
        let mut padded = vec![0u8; 28];
        padded.extend_from_slice(&digest);
        let sig: p384::ecdsa::Signature = key.sign_prehash(&padded).unwrap();
        let point = key.verifying_key().to_encoded_point(true);
        generic::ecdsa_verify(NamedCurve::P384, point.as_bytes(), &digest, &sig.to_bytes())
            .unwrap();
        ecdsa_verify::<p384::NistP384>(point.as_bytes(), &digest, &sig.to_bytes()).unwrap();
    }

    /// Both paths on one input: they must give the same answer, error included.
    fn ring_and_rustcrypto(
        curve: NamedCurve,
        d: DigestAlgorithm,
        point: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        let alg = ring_ecdsa_algorithm(curve, d).unwrap();
        let digest = d.digest(message);
        let (ring, rust_crypto) = match curve {
            NamedCurve::P256 => (
                ring_ecdsa_verify::<p256::NistP256>(alg, point, message, signature),
                ecdsa_verify::<p256::NistP256>(point, &digest, signature),
            ),
            NamedCurve::P384 => (
                ring_ecdsa_verify::<p384::NistP384>(alg, point, message, signature),
                ecdsa_verify::<p384::NistP384>(point, &digest, signature),
            ),
            other => panic!("{other:?} has no ring path"),
        };
        assert_eq!(ring, rust_crypto, "{curve:?} {d:?}");
        ring
    }

    #[test]
    fn ring_covers_exactly_p256_and_p384_with_sha256_and_sha384() {
        use DigestAlgorithm::*;
        for curve in CURVES.iter().map(|c| c.curve) {
            for d in [Sha1, Sha224, Sha256, Sha384, Sha512] {
                let nist = matches!(curve, NamedCurve::P256 | NamedCurve::P384);
                let sha2 = matches!(d, Sha256 | Sha384);
                assert_eq!(ring_ecdsa_algorithm(curve, d).is_some(), nist && sha2);
            }
        }
    }

    /// (uncompressed point, compressed point, DER signature, r||s signature) of `seed`'s key.
    type Signed = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

    fn sign(curve: NamedCurve, seed: &[u8], digest: &[u8]) -> Option<Signed> {
        use ecdsa::signature::hazmat::PrehashSigner;
        Some(match curve {
            NamedCurve::P256 => {
                let key = p256::ecdsa::SigningKey::from_slice(&seed[..32]).ok()?;
                let sig: p256::ecdsa::Signature = key.sign_prehash(digest).ok()?;
                let vk = key.verifying_key();
                (
                    vk.to_encoded_point(false).as_bytes().to_vec(),
                    vk.to_encoded_point(true).as_bytes().to_vec(),
                    sig.to_der().as_bytes().to_vec(),
                    sig.to_bytes().to_vec(),
                )
            }
            _ => {
                let key = p384::ecdsa::SigningKey::from_slice(&seed[..48]).ok()?;
                let sig: p384::ecdsa::Signature = key.sign_prehash(digest).ok()?;
                let vk = key.verifying_key();
                (
                    vk.to_encoded_point(false).as_bytes().to_vec(),
                    vk.to_encoded_point(true).as_bytes().to_vec(),
                    sig.to_der().as_bytes().to_vec(),
                    sig.to_bytes().to_vec(),
                )
            }
        })
    }

    #[test]
    fn ring_path_refuses_malformed_input_as_the_rustcrypto_path_does() {
        let (curve, d) = (NamedCurve::P256, DigestAlgorithm::Sha256);
        let msg = b"malformed";
        let (point, compressed, der_sig, raw) = sign(curve, &[3u8; 48], &d.digest(msg)).unwrap();
        let malformed_key = |r| matches!(r, Err(VerifyError::MalformedKey(_)));
        let malformed_sig = |r| matches!(r, Err(VerifyError::MalformedSignature(_)));
        // Hybrid form, identity, truncated point, a point off the curve.
        let mut hybrid = point.clone();
        hybrid[0] = 0x06 | (point[64] & 1);
        let mut off = point.clone();
        off[64] ^= 1;
        for p in [hybrid, vec![0x00], point[..64].to_vec(), off, vec![]] {
            assert!(malformed_key(ring_and_rustcrypto(
                curve, d, &p, msg, &der_sig
            )));
        }
        // A bad key is reported before a bad signature, as before.
        assert!(malformed_key(ring_and_rustcrypto(
            curve,
            d,
            &[0x00],
            msg,
            &[]
        )));
        // r = 0, s = n, a 33-octet r, trailing data, a truncated r||s, BER long-form length.
        let n = hex::decode(CURVES[0].n).unwrap();
        let mut s_is_n = raw.clone();
        s_is_n[32..].copy_from_slice(&n);
        let mut trailing = der_sig.clone();
        trailing.push(0);
        let mut long_form = vec![0x30, 0x81, der_sig[1]];
        long_form.extend_from_slice(&der_sig[2..]);
        let bad_sigs: Vec<Vec<u8>> = vec![
            [vec![0u8; 32], raw[32..].to_vec()].concat(),
            s_is_n,
            [
                &[0x30, 0x26, 0x02, 0x21, 0x01][..],
                &[0x55; 32],
                &[0x02, 0x01, 0x01],
            ]
            .concat(),
            trailing,
            raw[..63].to_vec(),
            long_form,
            vec![],
        ];
        for sig in &bad_sigs {
            for p in [&point, &compressed] {
                assert!(
                    malformed_sig(ring_and_rustcrypto(curve, d, p, msg, sig)),
                    "{sig:02x?}"
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// ring and RustCrypto agree on valid signatures, flipped message bits, flipped signature
        /// bits and flipped key bits, for every curve/digest pair ring takes, both signature forms
        /// and both point forms.
        #[test]
        fn ring_and_rustcrypto_agree(
            message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            seed in proptest::collection::vec(proptest::prelude::any::<u8>(), 48),
            pair in 0usize..4,
            flip_at in proptest::prelude::any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let (curve, d) = [
                (NamedCurve::P256, DigestAlgorithm::Sha256),
                (NamedCurve::P256, DigestAlgorithm::Sha384),
                (NamedCurve::P384, DigestAlgorithm::Sha256),
                (NamedCurve::P384, DigestAlgorithm::Sha384),
            ][pair];
            let Some((point, compressed, der_sig, raw)) = sign(curve, &seed, &d.digest(&message))
            else {
                return Ok(()); // a seed that is no private key: 0 or >= n
            };
            let flip = |v: &[u8]| {
                let mut v = v.to_vec();
                let i = flip_at.index(v.len());
                v[i] ^= 1 << bit;
                v
            };
            let mut other = message.clone();
            if other.is_empty() {
                other.push(0);
            } else {
                other = flip(&other);
            }
            for p in [&point, &compressed] {
                for sig in [&der_sig, &raw] {
                    proptest::prop_assert_eq!(ring_and_rustcrypto(curve, d, p, &message, sig), Ok(()));
                    proptest::prop_assert_eq!(
                        ring_and_rustcrypto(curve, d, p, &other, sig),
                        Err(VerifyError::BadSignature)
                    );
                    proptest::prop_assert!(ring_and_rustcrypto(curve, d, p, &message, &flip(sig)).is_err());
                }
                proptest::prop_assert!(ring_and_rustcrypto(curve, d, &flip(p), &message, &der_sig).is_err());
            }
        }
    }
}
