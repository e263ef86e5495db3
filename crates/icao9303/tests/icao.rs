#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use chrono::NaiveDate;
use expect_test::expect;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use thabian_icao9303::lds::{
    self, finger, BiometricRecord, DataGroup, Dg1, Dg11, Dg12, Dg13, Dg14, Dg15, Dg2, Dg3, EfCom,
    FaceImageInfo, ImageDataType,
};
use thabian_icao9303::lso::{self, HashAlgorithm, LdsSecurityObject, LdsVersionInfo};
use thabian_icao9303::mrz::{
    self, check_digit, parse_td1, transliterate, CheckField, MrzDate, MrzError, Sex, Td1,
};
use thabian_icao9303::tlv;

// ------------------------------------------------------------------------------------------
// MRZ: the Doc 9303 specimens

fn eriksson() -> Td1 {
    Td1 {
        document_code: "I".into(),
        issuing_state: "UTO".into(),
        document_number: "D23145890".into(),
        date_of_birth: MrzDate::new("740812").unwrap(),
        sex: Sex::Female,
        date_of_expiry: Some(MrzDate::new("120415").unwrap()),
        nationality: "UTO".into(),
        optional_data_1: String::new(),
        optional_data_2: String::new(),
        primary_identifier: "Eriksson".into(),
        secondary_identifier: "Anna Maria".into(),
    }
}

fn stevenson() -> Td1 {
    Td1 {
        document_code: "I".into(),
        issuing_state: "UTO".into(),
        document_number: "D23145890734".into(),
        date_of_birth: MrzDate::new("340712").unwrap(),
        sex: Sex::Male,
        date_of_expiry: Some(MrzDate::new("950712").unwrap()),
        nationality: "UTO".into(),
        optional_data_1: String::new(),
        optional_data_2: String::new(),
        primary_identifier: "STEVENSON".into(),
        secondary_identifier: "PETER<JOHN".into(),
    }
}

const ERIKSSON: [&str; 3] = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
];
const STEVENSON: [&str; 3] = [
    "I<UTOD23145890<7349<<<<<<<<<<<",
    "3407127M9507122UTO<<<<<<<<<<<2",
    "STEVENSON<<PETER<JOHN<<<<<<<<<",
];

fn check_of(p: &mrz::ParsedTd1, f: CheckField) -> (u8, char, bool) {
    let c = p.checks.iter().find(|c| c.field == f).unwrap();
    (c.expected, c.found, c.ok)
}

#[test]
fn eriksson_specimen_builds_exactly() {
    assert_eq!(eriksson().to_lines().unwrap(), ERIKSSON.map(String::from));
}

#[test]
fn stevenson_long_number_specimen_builds_exactly() {
    assert_eq!(stevenson().to_lines().unwrap(), STEVENSON.map(String::from));
}

#[test]
fn eriksson_specimen_parses() {
    let p = parse_td1(&ERIKSSON.join("\n")).unwrap();
    let t = &p.td1;
    assert_eq!(t.document_code, "I");
    assert_eq!(t.issuing_state, "UTO");
    assert_eq!(t.document_number, "D23145890");
    assert_eq!(t.date_of_birth.as_str(), "740812");
    assert_eq!(t.sex, Sex::Female);
    assert_eq!(t.date_of_expiry.as_ref().unwrap().as_str(), "120415");
    assert_eq!(t.nationality, "UTO");
    assert_eq!(t.optional_data_1, "");
    assert_eq!(t.optional_data_2, "");
    assert_eq!(t.primary_identifier, "ERIKSSON");
    assert_eq!(t.secondary_identifier, "ANNA<MARIA");
    assert_eq!(check_of(&p, CheckField::DocumentNumber), (7, '7', true));
    assert_eq!(check_of(&p, CheckField::DateOfBirth), (2, '2', true));
    assert_eq!(check_of(&p, CheckField::DateOfExpiry), (9, '9', true));
    assert_eq!(check_of(&p, CheckField::Composite), (6, '6', true));
    assert_eq!(p.checks.len(), 4);
    assert!(p.all_checks_ok());
    assert!(!p.name_possibly_truncated);
    // Same result from \r\n and from one 90-character string.
    assert_eq!(parse_td1(&ERIKSSON.join("\r\n")).unwrap(), p);
    assert_eq!(parse_td1(&ERIKSSON.concat()).unwrap(), p);
}

#[test]
fn stevenson_specimen_parses() {
    let p = parse_td1(&STEVENSON.join("\n")).unwrap();
    let t = &p.td1;
    assert_eq!(t.document_code, "I");
    assert_eq!(t.issuing_state, "UTO");
    assert_eq!(t.document_number, "D23145890734");
    assert_eq!(t.date_of_birth.as_str(), "340712");
    assert_eq!(t.sex, Sex::Male);
    assert_eq!(t.date_of_expiry.as_ref().unwrap().as_str(), "950712");
    assert_eq!(t.nationality, "UTO");
    assert_eq!(t.optional_data_1, "");
    assert_eq!(t.optional_data_2, "");
    assert_eq!(t.primary_identifier, "STEVENSON");
    assert_eq!(t.secondary_identifier, "PETER<JOHN");
    assert_eq!(check_of(&p, CheckField::DocumentNumber), (9, '9', true));
    assert_eq!(check_of(&p, CheckField::DateOfBirth), (7, '7', true));
    assert_eq!(check_of(&p, CheckField::DateOfExpiry), (2, '2', true));
    assert_eq!(check_of(&p, CheckField::Composite), (2, '2', true));
    assert!(p.all_checks_ok());
}

#[test]
fn wrong_check_digits_are_reported_not_fatal() {
    let mut lines = ERIKSSON.map(String::from);
    lines[0].replace_range(14..15, "3");
    let p = parse_td1(&lines.join("\n")).unwrap();
    assert_eq!(check_of(&p, CheckField::DocumentNumber), (7, '3', false));
    // The composite covers the document number check digit too.
    assert!(!check_of(&p, CheckField::Composite).2);
    assert!(!p.all_checks_ok());
}

#[test]
fn parse_errors_carry_positions() {
    let mut bad = ERIKSSON.concat();
    bad.replace_range(40..41, "a");
    assert_eq!(
        parse_td1(&bad),
        Err(MrzError::InvalidCharacter {
            ch: 'a',
            position: 40
        })
    );
    assert!(matches!(
        parse_td1(&ERIKSSON.concat()[..89]),
        Err(MrzError::WrongLength(_))
    ));
    assert!(matches!(
        parse_td1(&ERIKSSON[..2].join("\n")),
        Err(MrzError::WrongLength(_))
    ));
    let mut sex = ERIKSSON.map(String::from);
    sex[1].replace_range(7..8, "X");
    assert!(matches!(
        parse_td1(&sex.join("\n")),
        Err(MrzError::Malformed {
            field: "sex",
            line: 2,
            column: 8,
            ..
        })
    ));
}

#[test]
fn optional_data_and_long_numbers_share_optional_data_1() {
    let mut t = stevenson();
    assert_eq!(t.optional_data_1_capacity(), 10);
    t.optional_data_1 = "ABC123".into();
    let lines = t.to_lines().unwrap();
    assert_eq!(lines[0], "I<UTOD23145890<7349<ABC123<<<<");
    let p = parse_td1(&lines.join("\n")).unwrap();
    assert_eq!(p.td1, t_mrz_form(&t));
    t.optional_data_1 = "ABCDEFGHIJK".into();
    assert!(t.to_lines().is_err());
}

fn t_mrz_form(t: &Td1) -> Td1 {
    let mut t = t.clone();
    t.primary_identifier = transliterate(&t.primary_identifier);
    t.secondary_identifier = transliterate(&t.secondary_identifier);
    t
}

#[test]
fn vietnamese_profile_example() {
    // A Vietnamese card as observed: ID, VNM, last 9 digits of the PIN, full PIN in optional data.
    let t = Td1 {
        document_code: "ID".into(),
        issuing_state: "VNM".into(),
        document_number: "203004567".into(),
        date_of_birth: MrzDate::from_naive_date(NaiveDate::from_ymd_opt(1990, 1, 31).unwrap()),
        sex: Sex::Male,
        date_of_expiry: Some(MrzDate::from_naive_date(
            NaiveDate::from_ymd_opt(2030, 1, 31).unwrap(),
        )),
        nationality: "VNM".into(),
        optional_data_1: "001090004567".into(),
        optional_data_2: String::new(),
        primary_identifier: "Nguyễn".into(),
        secondary_identifier: "Văn Đức".into(),
    };
    let lines = t.to_lines().unwrap();
    assert_eq!(lines[2], "NGUYEN<<VAN<DUC<<<<<<<<<<<<<<<");
    assert_eq!(&lines[1][..6], "900131");
    let p = parse_td1(&lines.concat()).unwrap();
    assert!(p.all_checks_ok());
    assert_eq!(p.td1, t_mrz_form(&t));
}

#[test]
fn no_expiry_writes_fillers() {
    let mut t = eriksson();
    t.date_of_expiry = None;
    let lines = t.to_lines().unwrap();
    assert_eq!(&lines[1][8..15], "<<<<<<0");
    let p = parse_td1(&lines.join("\n")).unwrap();
    assert!(p.all_checks_ok());
    assert_eq!(p.td1.date_of_expiry, None);
}

#[test]
fn partial_birth_dates() {
    assert!(MrzDate::new("74<<<<").is_ok());
    assert!(MrzDate::new("7408<<").is_ok());
    assert!(MrzDate::new("74<<12").is_err());
    assert!(MrzDate::new("741312").is_err());
    assert!(MrzDate::new("7408").is_err());
    let mut t = eriksson();
    t.date_of_birth = MrzDate::new("74<<<<").unwrap();
    let p = parse_td1(&t.to_lines().unwrap().join("\n")).unwrap();
    assert!(p.all_checks_ok());
    assert_eq!(p.td1.date_of_birth.as_str(), "74<<<<");
}

#[test]
fn transliteration_cases() {
    assert_eq!(transliterate("Nguyễn"), "NGUYEN");
    assert_eq!(transliterate("Trần"), "TRAN");
    assert_eq!(transliterate("Đỗ Thị Hương"), "DO<THI<HUONG");
    assert_eq!(transliterate("Jean-Pierre"), "JEAN<PIERRE");
    assert_eq!(transliterate("D'Artagnan"), "DARTAGNAN");
    assert_eq!(transliterate("Gößwein"), "GOESSWEIN");
    assert_eq!(transliterate("Ærø"), "AEROE");
}

#[test]
fn long_names_are_truncated_to_30() {
    let mut t = eriksson();
    t.primary_identifier = "Nilavadhanananda".into();
    t.secondary_identifier = "Chayapa Dejthamrong Krasuang".into();
    let lines = t.to_lines().unwrap();
    assert_eq!(lines[2], "NILAVADHANANANDA<<CHAYAPA<D<K<");
    // Initials all the way to the first given name when needed.
    t.secondary_identifier = "Chayapamongkolratana Dejthamrong".into();
    let lines = t.to_lines().unwrap();
    assert_eq!(lines[2], "NILAVADHANANANDA<<C<D<<<<<<<<<");
    // A primary identifier too long on its own is cut, and the field ends on a letter.
    t.primary_identifier = "Bennelong Woolloomooloo Warrandyte".into();
    let lines = t.to_lines().unwrap();
    assert_eq!(lines[2], "BENNELONG<WOOLLOOMOOLOO<WARRAN");
    let p = parse_td1(&lines.join("\n")).unwrap();
    assert!(p.name_possibly_truncated);
}

fn mrz_alnum(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![prop::char::range('A', 'Z'), prop::char::range('0', '9')],
        len,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn letters(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(prop::char::range('A', 'Z'), len)
        .prop_map(|v| v.into_iter().collect())
}

fn arb_date() -> impl Strategy<Value = MrzDate> {
    (0u32..100, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| MrzDate::new(&format!("{y:02}{m:02}{d:02}")).unwrap())
}

prop_compose! {
    fn arb_td1()(number in mrz_alnum(1..=15))
        (opt1 in {
            let cap = if number.len() <= 9 { 15 } else { 15 - (number.len() - 9 + 2) };
            mrz_alnum(0..=cap)
         },
         number in Just(number),
         code in letters(1..=2),
         state in letters(3..=3),
         nat in letters(3..=3),
         dob in arb_date(),
         doe in proptest::option::of(arb_date()),
         sex in prop_oneof![Just(Sex::Male), Just(Sex::Female), Just(Sex::Unspecified)],
         opt2 in mrz_alnum(0..=11),
         primary in proptest::collection::vec(letters(1..=6), 1..=2),
         given in proptest::collection::vec(letters(1..=6), 0..=2)) -> Td1 {
        Td1 {
            document_code: code,
            issuing_state: state,
            document_number: number,
            date_of_birth: dob,
            sex,
            date_of_expiry: doe,
            nationality: nat,
            optional_data_1: opt1,
            optional_data_2: opt2,
            primary_identifier: primary.join("<"),
            secondary_identifier: given.join("<"),
        }
    }
}

proptest! {
    #[test]
    fn check_digit_detects_single_substitutions_in_digit_fields(
        field in proptest::collection::vec(0u8..10, 1..=12),
        pos in any::<prop::sample::Index>(),
        delta in 1u8..10,
    ) {
        let s: String = field.iter().map(|d| char::from(b'0' + d)).collect();
        let i = pos.index(field.len());
        let mut changed = field.clone();
        changed[i] = (changed[i] + delta) % 10;
        let t: String = changed.iter().map(|d| char::from(b'0' + d)).collect();
        prop_assert_ne!(check_digit(&s).unwrap(), check_digit(&t).unwrap());
    }

    #[test]
    fn build_parse_round_trip(t in arb_td1()) {
        let lines = t.to_lines().unwrap();
        for l in &lines {
            prop_assert_eq!(l.len(), 30);
        }
        let p = parse_td1(&lines.join("\n")).unwrap();
        prop_assert!(p.all_checks_ok(), "{:?}", p.checks);
        prop_assert_eq!(p.td1, t);
    }

    #[test]
    fn parse_never_panics(s in proptest::collection::vec(
        prop_oneof![
            8 => prop_oneof![prop::char::range('A', 'Z'), prop::char::range('0', '9'), Just('<')],
            1 => any::<char>(),
        ], 90)) {
        let s: String = s.into_iter().collect();
        let _ = parse_td1(&s);
    }

    #[test]
    fn parse_never_panics_near_valid(t in arb_td1(), pos in 0usize..90, c in prop_oneof![
        prop::char::range('A', 'Z'), prop::char::range('0', '9'), Just('<')]) {
        let mut s: Vec<char> = t.to_lines().unwrap().concat().chars().collect();
        s[pos] = c;
        let _ = parse_td1(&s.into_iter().collect::<String>());
    }
}

// ------------------------------------------------------------------------------------------
// LDS files

#[test]
fn ef_com_hex() {
    let com = EfCom::new(&[
        DataGroup::new(1).unwrap(),
        DataGroup::new(2).unwrap(),
        DataGroup::new(11).unwrap(),
    ]);
    expect!["60155f0104303130375f36063034303030305c0361756b"].assert_eq(&hex::encode(com.encode()));
    assert_eq!(EfCom::decode(&com.encode()).unwrap(), com);
}

#[test]
fn dg1_hex_for_the_specimen() {
    let dg1 = Dg1::from_td1(&eriksson()).unwrap();
    let bytes = dg1.encode();
    expect!["615d5f1f5a493c55544f443233313435383930373c3c3c3c3c3c3c3c3c3c3c3c3c3c3c37343038313232463132303431353955544f3c3c3c3c3c3c3c3c3c3c3c364552494b53534f4e3c3c414e4e413c4d415249413c3c3c3c3c3c3c3c3c3c"]
        .assert_eq(&hex::encode(&bytes));
    let back = Dg1::decode(&bytes).unwrap();
    assert_eq!(back, dg1);
    assert_eq!(back.parse_td1().unwrap().td1.document_number, "D23145890");
}

#[test]
fn data_group_mapping() {
    let expected: [(u8, u8); 16] = [
        (1, 0x61),
        (2, 0x75),
        (3, 0x63),
        (4, 0x76),
        (5, 0x65),
        (6, 0x66),
        (7, 0x67),
        (8, 0x68),
        (9, 0x69),
        (10, 0x6A),
        (11, 0x6B),
        (12, 0x6C),
        (13, 0x6D),
        (14, 0x6E),
        (15, 0x6F),
        (16, 0x70),
    ];
    for (n, tag) in expected {
        let dg = DataGroup::new(n).unwrap();
        assert_eq!(dg.tag(), tag);
        assert_eq!(dg.file_id(), 0x0100 + u16::from(n));
        assert_eq!(DataGroup::from_tag(u32::from(tag)), Some(dg));
        assert_eq!(DataGroup::from_file_id(dg.file_id()), Some(dg));
    }
    assert_eq!(DataGroup::new(0), None);
    assert_eq!(DataGroup::new(17), None);
    assert_eq!(DataGroup::from_tag(0x60), None);
    assert_eq!((lds::EF_COM_TAG, lds::EF_COM_FILE_ID), (0x60, 0x011E));
    assert_eq!((lds::EF_SOD_TAG, lds::EF_SOD_FILE_ID), (0x77, 0x011D));
}

const FAKE_JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0xFF, 0xD9,
];

#[test]
fn dg2_face_record_byte_by_byte() {
    let mut info = FaceImageInfo::new(480, 640, ImageDataType::Jpeg);
    info.gender = 2;
    let record = lds::face_record_19794_5(FAKE_JPEG, &info).unwrap();
    let n = FAKE_JPEG.len();
    assert_eq!(record.len(), 14 + 20 + 12 + n);
    assert_eq!(&record[0..4], b"FAC\0");
    assert_eq!(&record[4..8], b"010\0");
    assert_eq!(&record[8..12], &((14 + 32 + n) as u32).to_be_bytes());
    assert_eq!(&record[12..14], &[0, 1]); // one face
    assert_eq!(&record[14..18], &((32 + n) as u32).to_be_bytes()); // facial record data length
    assert_eq!(&record[18..20], &[0, 0]); // no feature points
    assert_eq!(record[20], 2); // gender female
    assert_eq!(record[21], 0); // eye colour unspecified
    assert_eq!(record[22], 0); // hair colour unspecified
    assert_eq!(&record[23..26], &[0, 0, 0]); // feature mask
    assert_eq!(&record[26..28], &[0, 0]); // expression unspecified
    assert_eq!(&record[28..31], &[0, 0, 0]); // pose angles
    assert_eq!(&record[31..34], &[0, 0, 0]); // pose angle uncertainty
    assert_eq!(record[34], 1); // full frontal
    assert_eq!(record[35], 0); // JPEG
    assert_eq!(&record[36..38], &480u16.to_be_bytes());
    assert_eq!(&record[38..40], &640u16.to_be_bytes());
    assert_eq!(record[40], 0); // colour space
    assert_eq!(record[41], 0); // source type
    assert_eq!(&record[42..44], &[0, 0]); // device type
    assert_eq!(&record[44..46], &[0, 0]); // quality
    assert_eq!(&record[46..], FAKE_JPEG);

    let dg2 = Dg2 {
        faces: vec![BiometricRecord::face(record.clone())],
    };
    let bytes = dg2.encode().unwrap();
    // 75 { 7F61 { 02 01 01, 7F60 { A1 { 80 0101, 81 02, 87 0101, 88 0008 }, 5F2E … } } }
    let outer = tlv::parse_tagged(&bytes, 0x75).unwrap();
    let group = tlv::parse_tagged(outer.value, 0x7F61).unwrap();
    let kids = group.children().unwrap();
    assert_eq!((kids[0].tag, kids[0].value), (0x02, &[1u8][..]));
    let bit = kids[1].children().unwrap();
    assert_eq!(bit[0].tag, 0xA1);
    assert_eq!(hex::encode(bit[0].value), "800201018101028702010188020008");
    assert_eq!((bit[1].tag, bit[1].value), (0x5F2E, &record[..]));

    let back = Dg2::decode(&bytes).unwrap();
    assert_eq!(back, dg2);
    let face = lds::parse_face_record_19794_5(&back.faces[0].data).unwrap();
    assert_eq!(face.image, FAKE_JPEG);
    assert_eq!(face.info, info);
    assert_eq!(face.number_of_faces, 1);

    let j2k = lds::face_record_19794_5(
        b"\0\0\0\x0cjP  ",
        &FaceImageInfo::new(1, 2, ImageDataType::Jpeg2000),
    )
    .unwrap();
    assert_eq!(
        lds::parse_face_record_19794_5(&j2k)
            .unwrap()
            .info
            .image_data_type,
        ImageDataType::Jpeg2000
    );
    let header = lds::face_record_header_19794_5(FAKE_JPEG.len(), &info).unwrap();
    assert_eq!([&header[..], FAKE_JPEG].concat(), record);
    assert!(
        lds::encode_biometric_group(DataGroup::new(11).unwrap(), &[]).is_err(),
        "DG11 is not a biometric group"
    );
    assert!(lds::parse_face_record_19794_5(&record[..record.len() - 1]).is_err());
    assert!(lds::parse_face_record_19794_5(b"FAC\0").is_err());
}

#[test]
fn dg3_passes_records_through() {
    let dg3 = Dg3 {
        fingers: vec![
            BiometricRecord::finger(
                finger::RIGHT | finger::INDEX,
                lds::FORMAT_TYPE_FINGER_IMAGE,
                b"FIR\x00010\x00fake".to_vec(),
            ),
            BiometricRecord::finger(
                finger::LEFT | finger::INDEX,
                lds::FORMAT_TYPE_FINGER_IMAGE,
                b"FIR\x00010\x00other".to_vec(),
            ),
        ],
    };
    let bytes = dg3.encode().unwrap();
    assert_eq!(bytes[0], 0x63);
    assert_eq!(Dg3::decode(&bytes).unwrap(), dg3);
    let bht = hex::encode(tlv::parse_tagged(&bytes, 0x63).unwrap().value);
    assert!(bht.contains("a112800201018101088201098702010188020007"));
}

#[test]
fn dg11_lao_and_vietnamese_round_trip() {
    let dg11 = Dg11 {
        full_name: Some("ສີສຸລາດ<<ສົມພອນ".into()),
        other_names: vec!["Nguyễn Thị Minh Khai".into(), "ທ້າວ ບຸນມີ".into()],
        personal_number: Some("0123456789".into()),
        full_date_of_birth: Some("19740812".into()),
        place_of_birth: Some("ວຽງຈັນ<ລາວ".into()),
        address: Some("Phường Bến Nghé<Quận 1<TP. Hồ Chí Minh".into()),
        telephone: Some("+856 21 123456".into()),
        profession: Some("ຄູ".into()),
        title: None,
        personal_summary: None,
        proof_of_citizenship: Some(vec![0xFF, 0xD8, 0xFF, 0xD9]),
        other_td_numbers: Some("P1234567".into()),
        custody_information: None,
    };
    let bytes = dg11.encode().unwrap();
    let back = Dg11::decode(&bytes).unwrap();
    assert_eq!(back, dg11);
    // The tag list comes first and follows the element order.
    let kids = tlv::parse_tagged(&bytes, 0x6B).unwrap().children().unwrap();
    assert_eq!(kids[0].tag, 0x5C);
    assert_eq!(
        hex::encode(kids[0].value),
        "5f0e5f0f5f105f2b5f115f425f125f135f165f17"
    );
    assert_eq!(kids[1].tag, 0x5F0E);
    assert_eq!(kids[1].value, "ສີສຸລາດ<<ສົມພອນ".as_bytes());
    assert_eq!(kids[2].tag, 0xA0);
    assert_eq!(
        kids.iter().find(|k| k.tag == 0x5F2B).unwrap().value,
        b"19740812"
    );
    // A bad date is refused when writing.
    let mut bad = dg11.clone();
    bad.full_date_of_birth = Some("1974-08-12".into());
    assert!(bad.encode().is_err());
}

#[test]
fn dg11_reads_bcd_dates() {
    let bytes = tlv::encode_constructed(
        0x6B,
        &[
            tlv::encode(0x5C, &[0x5F, 0x2B]),
            tlv::encode(0x5F2B, &[0x19, 0x74, 0x08, 0x12]),
        ],
    );
    assert_eq!(
        Dg11::decode(&bytes).unwrap().full_date_of_birth.as_deref(),
        Some("19740812")
    );
}

#[test]
fn dg12_round_trip() {
    let dg12 = Dg12 {
        issuing_authority: Some("ກົມຄຸ້ມຄອງພົນລະເມືອງ".into()),
        date_of_issue: Some(lds::ccyymmdd(NaiveDate::from_ymd_opt(2026, 12, 7).unwrap())),
        other_persons: vec!["Trần Văn Bảo".into()],
        endorsements: None,
        tax_exit_requirements: None,
        front_image: None,
        rear_image: Some(vec![1, 2, 3]),
        personalisation_time: Some(lds::ccyymmddhhmmss(
            NaiveDate::from_ymd_opt(2026, 12, 7)
                .unwrap()
                .and_hms_opt(20, 15, 0)
                .unwrap(),
        )),
        personalisation_device_serial: Some("PERSO-0001".into()),
    };
    let bytes = dg12.encode().unwrap();
    assert_eq!(Dg12::decode(&bytes).unwrap(), dg12);
    let kids = tlv::parse_tagged(&bytes, 0x6C).unwrap().children().unwrap();
    assert_eq!(hex::encode(kids[0].value), "5f195f265f1a5f1e5f555f56");
    assert_eq!(
        kids.iter().find(|k| k.tag == 0x5F55).unwrap().value,
        b"20261207201500"
    );
}

#[test]
fn dg13_grammar() {
    let dg13 = Dg13 {
        fields: vec![
            (lds::dg13_codes::ETHNICITY.into(), "Kinh".into()),
            (lds::dg13_codes::RELIGION.into(), "ພຸດ".into()),
            (lds::dg13_codes::OLD_ID_NUMBER.into(), "012345678".into()),
        ],
    };
    let bytes = dg13.encode().unwrap();
    expect!["6d49800101301180096574686e696369747981044b696e683015800872656c6967696f6e8109e0ba9ee0bab8e0ba94301a800d6f6c645f69645f6e756d6265728109303132333435363738"].assert_eq(&hex::encode(&bytes));
    assert_eq!(Dg13::decode(&bytes).unwrap(), dg13);
    assert_eq!(dg13.get("religion"), Some("ພຸດ"));
    let bad = Dg13 {
        fields: vec![("Not A Code".into(), String::new())],
    };
    assert!(bad.encode().is_err());
    // Another version is refused.
    let v2 = tlv::encode_constructed(0x6D, &[tlv::encode(0x80, &[2])]);
    assert!(Dg13::decode(&v2).is_err());
}

const SECURITY_INFOS: &str = "3111300f060a04007f00070202030202020101";
const EC_SPKI: &str = "3059301306072a8648ce3d020106082a8648ce3d03010703420004a1c35d0d3e0fe75028182874ee51b4e2e4d9a8173a6f2289f4306853858725da9588752410d4399c688570f6ff432fd5a2c4c087e6dd253a02417067efbe8331";

#[test]
fn dg14_dg15_pass_through() {
    let dg14 = Dg14 {
        security_infos: hex::decode(SECURITY_INFOS).unwrap(),
    };
    let b = dg14.encode().unwrap();
    assert_eq!(&b[..2], &[0x6E, 0x13]);
    assert_eq!(Dg14::decode(&b).unwrap(), dg14);
    assert!(Dg14 {
        security_infos: vec![0x30, 0x00]
    }
    .encode()
    .is_err());

    let dg15 = Dg15 {
        public_key_info: hex::decode(EC_SPKI).unwrap(),
    };
    let b = dg15.encode().unwrap();
    assert_eq!(&b[..2], &[0x6F, 0x5B]);
    assert_eq!(Dg15::decode(&b).unwrap(), dg15);
    assert!(Dg15 {
        public_key_info: vec![0x30, 0x00]
    }
    .encode()
    .is_err());
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9 <]{0,20}",
        "[ກ-ຮ່-໋ ]{0,12}",
        "[a-zàáạảãăắằặẳẵâấầậẩẫđèéẹẻẽêếềệểễ ]{0,16}",
    ]
}

fn arb_record() -> impl Strategy<Value = BiometricRecord> {
    (
        any::<u8>(),
        proptest::option::of(any::<u8>()),
        any::<u16>(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |(biometric_type, subtype, format_owner, format_type, data)| BiometricRecord {
                biometric_type,
                subtype,
                format_owner,
                format_type,
                data,
            },
        )
}

fn arb_date8() -> impl Strategy<Value = String> {
    (1900u32..2100, 0u32..=12, 0u32..=31).prop_map(|(y, m, d)| format!("{y:04}{m:02}{d:02}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ef_com_round_trip(tags in proptest::collection::vec(0x61u8..=0x76, 0..16)) {
        let com = EfCom { lds_version: "0107".into(), unicode_version: "040000".into(), tags };
        prop_assert_eq!(EfCom::decode(&com.encode()).unwrap(), com);
    }

    #[test]
    fn dg1_round_trip(t in arb_td1()) {
        let dg1 = Dg1::from_td1(&t).unwrap();
        let back = Dg1::decode(&dg1.encode()).unwrap();
        prop_assert_eq!(back.parse_td1().unwrap().td1, t);
        prop_assert_eq!(back, dg1);
    }

    #[test]
    fn dg2_dg3_round_trip(faces in proptest::collection::vec(arb_record(), 0..4),
                          fingers in proptest::collection::vec(arb_record(), 0..4)) {
        let dg2 = Dg2 { faces };
        prop_assert_eq!(Dg2::decode(&dg2.encode().unwrap()).unwrap(), dg2);
        let dg3 = Dg3 { fingers };
        prop_assert_eq!(Dg3::decode(&dg3.encode().unwrap()).unwrap(), dg3);
    }

    #[test]
    fn biometric_group_in_one_pass_is_the_nested_encoding(
            records in proptest::collection::vec(arb_record(), 0..4), split in any::<usize>()) {
        // The nested encoding, level by level, as Part 10 draws it.
        let mut inner = vec![tlv::encode(0x02, &[records.len() as u8])];
        inner.extend(records.iter().map(|r| {
            let mut bht = vec![tlv::encode(0x80, &[1, 1]), tlv::encode(0x81, &[r.biometric_type])];
            if let Some(s) = r.subtype {
                bht.push(tlv::encode(0x82, &[s]));
            }
            bht.push(tlv::encode(0x87, &r.format_owner.to_be_bytes()));
            bht.push(tlv::encode(0x88, &r.format_type.to_be_bytes()));
            tlv::encode_constructed(0x7F60, &[
                tlv::encode_constructed(0xA1, &bht),
                tlv::encode(0x5F2E, &r.data),
            ])
        }));
        let expected = tlv::encode_constructed(0x75, &[tlv::encode_constructed(0x7F61, &inner)]);
        // Each data block given in two pieces, split anywhere.
        let pieces: Vec<[&[u8]; 2]> = records
            .iter()
            .map(|r| r.data.split_at(split % (r.data.len() + 1)).into())
            .collect();
        let blocks: Vec<_> = records.iter().zip(&pieces).map(|(r, p)| r.as_block(p)).collect();
        prop_assert_eq!(
            lds::encode_biometric_group(DataGroup::new(2).unwrap(), &blocks).unwrap(),
            expected.clone()
        );
        prop_assert_eq!(Dg2 { faces: records }.encode().unwrap(), expected);
    }

    #[test]
    fn face_record_round_trip(image in proptest::collection::vec(any::<u8>(), 0..200),
                              w in any::<u16>(), h in any::<u16>(), j2k in any::<bool>(),
                              gender in any::<u8>(), quality in any::<u16>()) {
        let mut info = FaceImageInfo::new(w, h, if j2k { ImageDataType::Jpeg2000 } else { ImageDataType::Jpeg });
        info.gender = gender;
        info.quality = quality;
        let rec = lds::face_record_19794_5(&image, &info).unwrap();
        let back = lds::parse_face_record_19794_5(&rec).unwrap();
        prop_assert_eq!(back.info, info);
        prop_assert_eq!(back.image, image);
    }

    #[test]
    fn dg11_round_trip(full_name in proptest::option::of(arb_text()),
                       other_names in proptest::collection::vec(arb_text(), 0..3),
                       personal_number in proptest::option::of(arb_text()),
                       dob in proptest::option::of(arb_date8()),
                       address in proptest::option::of(arb_text()),
                       proof in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..50)),
                       custody in proptest::option::of(arb_text())) {
        let dg11 = Dg11 {
            full_name, other_names, personal_number, full_date_of_birth: dob, address,
            proof_of_citizenship: proof, custody_information: custody, ..Dg11::default()
        };
        prop_assert_eq!(Dg11::decode(&dg11.encode().unwrap()).unwrap(), dg11);
    }

    #[test]
    fn dg12_round_trip_prop(authority in proptest::option::of(arb_text()),
                            doi in proptest::option::of(arb_date8()),
                            persons in proptest::collection::vec(arb_text(), 0..3),
                            endorsements in proptest::option::of(arb_text()),
                            front in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..50)),
                            serial in proptest::option::of(arb_text())) {
        let dg12 = Dg12 {
            issuing_authority: authority, date_of_issue: doi, other_persons: persons,
            endorsements, front_image: front, personalisation_device_serial: serial,
            ..Dg12::default()
        };
        prop_assert_eq!(Dg12::decode(&dg12.encode().unwrap()).unwrap(), dg12);
    }

    #[test]
    fn dg13_round_trip(fields in proptest::collection::vec(("[a-z][a-z0-9_.-]{0,20}", arb_text()), 0..8)) {
        let dg13 = Dg13 { fields };
        prop_assert_eq!(Dg13::decode(&dg13.encode().unwrap()).unwrap(), dg13);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = EfCom::decode(&bytes);
        let _ = Dg1::decode(&bytes);
        let _ = Dg2::decode(&bytes);
        let _ = Dg3::decode(&bytes);
        let _ = Dg11::decode(&bytes);
        let _ = Dg12::decode(&bytes);
        let _ = Dg13::decode(&bytes);
        let _ = Dg14::decode(&bytes);
        let _ = Dg15::decode(&bytes);
        let _ = lds::parse_face_record_19794_5(&bytes);
        let _ = LdsSecurityObject::from_der(&bytes);
    }
}

// ------------------------------------------------------------------------------------------
// LDSSecurityObject

fn sample_files() -> Vec<(u8, Vec<u8>)> {
    let dg1 = Dg1::from_td1(&eriksson()).unwrap().encode();
    let info = FaceImageInfo::new(2, 2, ImageDataType::Jpeg);
    let dg2 = Dg2 {
        faces: vec![BiometricRecord::face(
            lds::face_record_19794_5(FAKE_JPEG, &info).unwrap(),
        )],
    }
    .encode()
    .unwrap();
    let dg13 = Dg13 {
        fields: vec![("ethnicity".into(), "Lao Loum".into())],
    }
    .encode()
    .unwrap();
    vec![(13, dg13), (1, dg1), (2, dg2)]
}

fn as_refs(files: &[(u8, Vec<u8>)]) -> Vec<(u8, &[u8])> {
    files.iter().map(|(n, f)| (*n, f.as_slice())).collect()
}

#[test]
fn lso_build_and_der_round_trip() {
    let files = sample_files();
    let lso = lso::build(HashAlgorithm::Sha256, &as_refs(&files), None).unwrap();
    assert_eq!(lso.version, 0);
    assert_eq!(lso.data_groups(), vec![1, 2, 13]);
    for (n, f) in &files {
        assert_eq!(lso.hash_of(*n).unwrap(), Sha256::digest(f).as_slice());
        assert_eq!(lso.matches(*n, f), Some(true));
    }
    assert_eq!(lso.matches(1, &files[0].1), Some(false));
    assert_eq!(lso.matches(3, &files[0].1), None);
    let der = lso.to_der().unwrap();
    assert_eq!(LdsSecurityObject::from_der(&der).unwrap(), lso);
    // SHA-256 AlgorithmIdentifier with absent parameters.
    assert!(hex::encode(&der).contains("300b0609608648016503040201"));

    let v1 = lso::build(
        HashAlgorithm::Sha512,
        &as_refs(&files),
        Some(LdsVersionInfo::lds_1_7().unwrap()),
    )
    .unwrap();
    assert_eq!(v1.version, 1);
    let der1 = v1.to_der().unwrap();
    assert_eq!(LdsSecurityObject::from_der(&der1).unwrap(), v1);
    assert_eq!(v1.hash_of(2).unwrap().len(), 64);
}

#[test]
fn lso_rules() {
    let files = sample_files();
    let refs = as_refs(&files);
    assert!(lso::build(HashAlgorithm::Sha1, &refs, None).is_err());
    assert!(lso::build(HashAlgorithm::Sha224, &refs, None).is_err());
    assert!(lso::build(HashAlgorithm::Sha256, &refs[..1], None).is_err());
    assert!(lso::build(
        HashAlgorithm::Sha256,
        &[(1, refs[2].1), (2, refs[1].1)],
        None
    )
    .is_err());
    assert!(lso::build(
        HashAlgorithm::Sha256,
        &[(1, refs[1].1), (2, refs[2].1)],
        None
    )
    .is_ok());
    let dup = [(1, refs[1].1), (1, refs[1].1)];
    assert!(lso::build(HashAlgorithm::Sha256, &dup, None).is_err());
    let seventeen: Vec<(u8, Vec<u8>)> = (1..=16u8)
        .chain([1])
        .map(|n| {
            (
                n,
                tlv::encode(u32::from(DataGroup::new(n).unwrap().tag()), b"x"),
            )
        })
        .collect();
    assert!(lso::build(HashAlgorithm::Sha256, &as_refs(&seventeen), None).is_err());
    let sixteen = &seventeen[..16];
    assert_eq!(
        lso::build(HashAlgorithm::Sha256, &as_refs(sixteen), None)
            .unwrap()
            .data_groups()
            .len(),
        16
    );

    // Version inconsistent with ldsVersionInfo is refused when parsing.
    let mut bad = lso::build(HashAlgorithm::Sha256, &refs, None).unwrap();
    bad.version = 1;
    let der = der::Encode::to_der(&bad).unwrap();
    assert!(LdsSecurityObject::from_der(&der).is_err());

    // Old documents: SHA-1 objects parse.
    let mut old = lso::build(HashAlgorithm::Sha256, &refs, None).unwrap();
    old.hash_algorithm = HashAlgorithm::Sha1.algorithm_identifier();
    for e in &mut old.data_group_hash_values {
        e.data_group_hash_value = der::asn1::OctetString::new(vec![0u8; 20]).unwrap();
    }
    let der = old.to_der().unwrap();
    assert_eq!(
        LdsSecurityObject::from_der(&der).unwrap().hash().unwrap(),
        HashAlgorithm::Sha1
    );
}

fn openssl_available() -> bool {
    Command::new("openssl").arg("version").output().is_ok()
}

#[test]
fn lso_checked_with_openssl() {
    if !openssl_available() {
        eprintln!("openssl not on PATH: skipping the OpenSSL cross-check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = sample_files();
    let lso = lso::build(
        HashAlgorithm::Sha256,
        &as_refs(&files),
        Some(LdsVersionInfo::lds_1_7().unwrap()),
    )
    .unwrap();
    let der_path = dir.path().join("lso.der");
    std::fs::write(&der_path, lso.to_der().unwrap()).unwrap();
    let out = Command::new("openssl")
        .args(["asn1parse", "-inform", "DER", "-in"])
        .arg(&der_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(":sha256"), "{text}");
    assert!(text.contains("PRINTABLESTRING   :0107"), "{text}");
    assert!(text.contains("PRINTABLESTRING   :040000"), "{text}");
    // Each data-group hash equals `openssl dgst -sha256` of the file.
    for (n, f) in &files {
        let p = dir.path().join(format!("dg{n}.bin"));
        std::fs::write(&p, f).unwrap();
        let out = Command::new("openssl")
            .args(["dgst", "-sha256", "-r"])
            .arg(&p)
            .output()
            .unwrap();
        let hex_digest = String::from_utf8(out.stdout).unwrap();
        let hex_digest = hex_digest.split_whitespace().next().unwrap().to_owned();
        assert_eq!(hex::encode(lso.hash_of(*n).unwrap()), hex_digest);
        assert!(
            text.to_uppercase().contains(&hex_digest.to_uppercase()),
            "DG{n}"
        );
    }
}

#[test]
fn dg14_dg15_checked_with_openssl() {
    if !openssl_available() {
        eprintln!("openssl not on PATH: skipping the OpenSSL cross-check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dg15 = Dg15 {
        public_key_info: hex::decode(EC_SPKI).unwrap(),
    }
    .encode()
    .unwrap();
    // Strip the 6F wrapper with our parser and hand the content to OpenSSL as a public key.
    let inner = tlv::parse_tagged(&dg15, 0x6F).unwrap().value;
    let p = dir.path().join("pub.der");
    std::fs::write(&p, inner).unwrap();
    let out = Command::new("openssl")
        .args(["pkey", "-pubin", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("prime256v1"));
}

#[test]
fn mrz_error_messages_are_clear() {
    let e = Td1 {
        document_number: "D2314589073456789012345".into(),
        ..eriksson()
    }
    .to_lines()
    .unwrap_err();
    assert!(e.to_string().contains("document_number"), "{e}");
    let e = check_digit("ab").unwrap_err();
    assert_eq!(e.to_string(), "invalid MRZ character 'a' at position 0");
}

// ------------------------------------------------------------------------------------------
// EF.SOD and passive authentication

use chrono::{DateTime, TimeZone, Utc};
use std::sync::OnceLock;
use thabian_icao9303::pa::{
    self, passive_authentication, CheckId, Document, Outcome, PaOptions, Report, TrustStore,
};
use thabian_icao9303::sod::{build_sod, Sod};
use thabian_pki::cert::{
    certificate_to_pem, issue_csca, issue_document_signer, CscaRequest, DsRequest,
};
use thabian_pki::crl::{issue_crl, RevokedEntry};
use thabian_pki::{EncodedCertificate, EncodedCrl, SignatureAlgorithm, SoftwareSigner};
use x509_cert::Certificate;

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

/// The verification time of the fixture.
fn now() -> DateTime<Utc> {
    utc(2026, 12, 15)
}

struct Fixture {
    csca_signer: SoftwareSigner,
    csca: Certificate,
    ds_signer: SoftwareSigner,
    ds: Certificate,
    /// DG1, DG2, DG11, DG12 as whole files.
    groups: Vec<(u8, Vec<u8>)>,
    ef_com: Vec<u8>,
    lso_der: Vec<u8>,
    ef_sod: Vec<u8>,
}

fn csca_request(cn: &str) -> CscaRequest {
    CscaRequest {
        country: "LA".into(),
        organization: "Thabian Test".into(),
        common_name: cn.into(),
        serial: Some(vec![0x01]),
        not_before: utc(2026, 1, 1),
        not_after: utc(2031, 1, 1),
        private_key_usage_period: None,
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let csca_signer = SoftwareSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
        let csca = issue_csca(&csca_signer, &csca_request("Thabian Test CSCA")).unwrap();
        let ds_signer = SoftwareSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
        let ds = issue_document_signer(
            &csca_signer,
            &csca,
            thabian_pki::Signer::public_key(&ds_signer),
            &DsRequest {
                country: "LA".into(),
                organization: "Thabian Test".into(),
                common_name: "Thabian Test DS 0001".into(),
                serial: Some(vec![0x10, 0x01]),
                not_before: utc(2026, 6, 1),
                not_after: utc(2032, 6, 1),
                private_key_usage_period: Some((utc(2026, 6, 1), utc(2026, 9, 1))),
                document_types: vec!["ID".into()],
            },
        )
        .unwrap();

        let dg1 = Dg1::from_td1(&eriksson()).unwrap().encode();
        let mut info = FaceImageInfo::new(2, 2, ImageDataType::Jpeg);
        info.gender = 2;
        let dg2 = Dg2 {
            faces: vec![BiometricRecord::face(
                lds::face_record_19794_5(FAKE_JPEG, &info).unwrap(),
            )],
        }
        .encode()
        .unwrap();
        let dg11 = Dg11 {
            full_name: Some("ERIKSSON<<ANNA MARIA".into()),
            personal_number: Some("0123456789".into()),
            full_date_of_birth: Some("19740812".into()),
            place_of_birth: Some("ວຽງຈັນ".into()),
            ..Dg11::default()
        }
        .encode()
        .unwrap();
        let dg12 = Dg12 {
            issuing_authority: Some("Thabian register".into()),
            date_of_issue: Some("20260701".into()),
            other_persons: vec![],
            endorsements: None,
            tax_exit_requirements: None,
            front_image: None,
            rear_image: None,
            personalisation_time: None,
            personalisation_device_serial: None,
        }
        .encode()
        .unwrap();
        let groups = vec![(1, dg1), (2, dg2), (11, dg11), (12, dg12)];
        let ef_com = EfCom::new(&[1, 2, 11, 12].map(|n| DataGroup::new(n).unwrap())).encode();
        // Version 1 with ldsVersionInfo: its "040000" is eContent that no data-group hash
        // depends on (see the message_digest tampering test).
        let lso = lso::build(
            HashAlgorithm::Sha256,
            &as_refs(&groups),
            Some(LdsVersionInfo::lds_1_7().unwrap()),
        )
        .unwrap();
        let ef_sod = build_sod(&lso, &ds_signer, &ds, utc(2026, 7, 1)).unwrap();
        Fixture {
            csca_signer,
            csca,
            ds_signer,
            ds,
            groups,
            ef_com,
            lso_der: lso.to_der().unwrap(),
            ef_sod,
        }
    })
}

fn crl_of(f: &Fixture, revoked: &[RevokedEntry]) -> EncodedCrl {
    issue_crl(
        &f.csca_signer,
        &f.csca,
        revoked,
        utc(2026, 12, 1),
        utc(2027, 3, 1),
        7,
    )
    .unwrap()
    .into()
}

fn trust(f: &Fixture) -> TrustStore {
    TrustStore {
        cscas: vec![f.csca.clone().into()],
        crls: vec![crl_of(f, &[])],
    }
}

fn printed_mrz() -> String {
    ERIKSSON.join("\n")
}

fn verify_with(
    ef_sod: &[u8],
    groups: &[(u8, Vec<u8>)],
    trust: &TrustStore,
    at: DateTime<Utc>,
    options: &PaOptions,
) -> Report {
    let f = fixture();
    let printed = printed_mrz();
    let doc = Document {
        ef_sod,
        data_groups: as_refs(groups),
        ef_com: Some(&f.ef_com),
        printed_mrz: Some(&printed),
    };
    passive_authentication(&doc, trust, at, options)
}

fn failed_ids(r: &Report) -> Vec<String> {
    r.failed().iter().map(|c| c.id.to_string()).collect()
}

/// Flips one bit of the first occurrence of `needle` (at `offset` inside it) in `haystack`.
fn flip_in(haystack: &[u8], needle: &[u8], offset: usize) -> Vec<u8> {
    let pos = haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle not found");
    let mut out = haystack.to_vec();
    out[pos + offset] ^= 0x01;
    out
}

#[test]
fn passive_authentication_of_a_full_document() {
    let f = fixture();
    let r = verify_with(
        &f.ef_sod,
        &f.groups,
        &trust(f),
        now(),
        &PaOptions::default(),
    );
    assert!(r.passed(), "{r}");
    let ids: Vec<String> = r.checks.iter().map(|c| c.id.to_string()).collect();
    expect![[r#"
        [
            "sod_parse",
            "ds_certificate",
            "ds_profile",
            "ds_chain",
            "ds_validity",
            "ds_revocation",
            "ds_key_usage_period",
            "sod_signature",
            "message_digest",
            "lds_security_object",
            "dg1_hash",
            "dg2_hash",
            "dg11_hash",
            "dg12_hash",
            "ef_com",
            "mrz_check_digits",
            "dg1_matches_printed_mrz",
        ]
    "#]]
    .assert_debug_eq(&ids);
    for c in &r.checks {
        assert_eq!(c.passed, Outcome::Passed, "{c:?}");
    }
    // What was verified is shown.
    let doc = r.document.as_ref().unwrap();
    let mrz = doc.mrz.as_ref().unwrap();
    assert_eq!(mrz.document_number, "D23145890");
    assert_eq!(mrz.primary_identifier, "ERIKSSON");
    assert_eq!(mrz.secondary_identifier, "ANNA<MARIA");
    assert_eq!(
        doc.dg11.as_ref().unwrap().place_of_birth.as_deref(),
        Some("ວຽງຈັນ")
    );
    let ds = doc.document_signer.as_ref().unwrap();
    assert_eq!(ds.serial, "1001");
    assert!(
        ds.subject.contains("CN=Thabian Test DS 0001"),
        "{}",
        ds.subject
    );
    assert!(doc
        .csca
        .as_ref()
        .unwrap()
        .subject
        .contains("Thabian Test CSCA"));
    assert_eq!(doc.signing_time, Some(utc(2026, 7, 1)));
    assert_eq!(doc.lds_data_groups, vec![1, 2, 11, 12]);

    // Human-readable output: one line per check, then the verdict.
    let text = r.to_string();
    let chain = text.lines().find(|l| l.contains("ds_chain")).unwrap();
    assert!(
        chain.starts_with("PASS  ds_chain")
            && chain.contains("CSCA \"CN=Thabian Test CSCA,O=Thabian Test,C=LA\" → DS serial 1001"),
        "{chain}"
    );
    assert!(
        text.ends_with("passive authentication PASSED (0 warning(s))"),
        "{text}"
    );

    // JSON.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["checks"][0]["id"], "sod_parse");
    assert_eq!(json["checks"][0]["outcome"], "passed");
    assert_eq!(json["checks"][11]["id"], "dg2_hash");
    assert_eq!(json["document"]["mrz"]["document_number"], "D23145890");
}

#[test]
fn sod_reads_without_verifying() {
    let f = fixture();
    let sod = Sod::from_file(&f.ef_sod).unwrap();
    assert_eq!(f.ef_sod[0], 0x77);
    assert_eq!(
        tlv::parse_tagged(&f.ef_sod, 0x77).unwrap().value,
        sod.cms_der
    );
    assert_eq!(sod.econtent().unwrap(), f.lso_der);
    assert_eq!(
        sod.lds_security_object().unwrap(),
        LdsSecurityObject::from_der(&f.lso_der).unwrap()
    );
    assert_eq!(*sod.document_signer().unwrap(), f.ds);
    assert_eq!(sod.signing_time(), Some(utc(2026, 7, 1)));
    assert_eq!(
        sod.digest_algorithm(),
        Some(thabian_pki::DigestAlgorithm::Sha256)
    );
    assert_eq!(
        sod.message_digest().unwrap(),
        Sha256::digest(&f.lso_der).as_slice()
    );
    // A bare ContentInfo reads too; other files do not.
    assert!(Sod::from_file(&sod.cms_der).is_ok());
    assert!(Sod::from_file(&f.groups[0].1).is_err());
    assert!(Sod::from_file(&[]).is_err());
    // SHA-512 LSO with a P-256 signer: the CMS digest follows the signature's hash.
    let lso512 = lso::build(HashAlgorithm::Sha512, &as_refs(&f.groups), None).unwrap();
    let signer = SoftwareSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    assert_eq!(
        thabian_icao9303::sod::sod_digest_algorithm(HashAlgorithm::Sha512, &signer),
        thabian_pki::DigestAlgorithm::Sha256
    );
    // ... and signing with a key that is not the certificate's is refused.
    assert!(build_sod(&lso512, &signer, &f.ds, now()).is_err());
}

#[test]
fn sod_verified_by_openssl() {
    if !openssl_available() {
        eprintln!("openssl not on PATH: skipping the OpenSSL cross-check of EF.SOD");
        return;
    }
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let sod = Sod::from_file(&f.ef_sod).unwrap();
    let (sod_path, csca_path, out_path) = (
        dir.path().join("sod.der"),
        dir.path().join("csca.pem"),
        dir.path().join("lso.der"),
    );
    std::fs::write(&sod_path, &sod.cms_der).unwrap();
    std::fs::write(&csca_path, certificate_to_pem(&f.csca).unwrap()).unwrap();
    let out = Command::new("openssl")
        .args([
            "cms", "-verify", "-inform", "DER", "-purpose", "any", "-attime",
        ])
        .arg(now().timestamp().to_string())
        .arg("-in")
        .arg(&sod_path)
        .arg("-CAfile")
        .arg(&csca_path)
        .arg("-out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&out_path).unwrap(), f.lso_der);
}

fn assert_fails_exactly(r: &Report, expected: &[&str]) {
    let mut got = failed_ids(r);
    got.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{r}");
}

#[test]
fn tampered_dg2_fails_dg2_hash_only() {
    let f = fixture();
    let mut groups = f.groups.clone();
    let dg2 = &mut groups[1].1;
    let last = dg2.len() - 3; // inside the JPEG
    dg2[last] ^= 0x01;
    let r = verify_with(&f.ef_sod, &groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(&r, &["dg2_hash"]);
    assert!(!r.passed());
}

#[test]
fn tampered_dg1_fails_dg1_hash_and_printed_mrz() {
    let f = fixture();
    let mut groups = f.groups.clone();
    // ERIKSSON -> ERIKSSOO: the name is under no check digit.
    groups[0].1 = flip_in(&groups[0].1, b"ERIKSSON", 7);
    let r = verify_with(&f.ef_sod, &groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(&r, &["dg1_hash", "dg1_matches_printed_mrz"]);
    assert_eq!(r.outcome(CheckId::MrzCheckDigits), Some(Outcome::Passed));
    assert!(r
        .check(CheckId::Dg1MatchesPrintedMrz)
        .unwrap()
        .detail
        .contains("line 3, position 8"));
}

#[test]
fn tampered_econtent_fails_message_digest_only() {
    let f = fixture();
    // The last octet of the unicodeVersion "040000" inside the signed LSO.
    let sod = flip_in(&f.ef_sod, b"040000", 5);
    let r = verify_with(&sod, &f.groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(&r, &["message_digest"]);
    assert_eq!(r.outcome(CheckId::SodSignature), Some(Outcome::Passed));
    assert_eq!(r.outcome(CheckId::LdsSecurityObject), Some(Outcome::Passed));
}

#[test]
fn tampered_signature_fails_sod_signature_only() {
    let f = fixture();
    let mut sod = f.ef_sod.clone();
    let last = sod.len() - 1; // the signature ends EF.SOD (no unsigned attributes)
    sod[last] ^= 0x01;
    let r = verify_with(&sod, &f.groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(&r, &["sod_signature"]);
    assert_eq!(r.outcome(CheckId::MessageDigest), Some(Outcome::Passed));
}

#[test]
fn tampered_signed_attributes_fail_sod_signature_only() {
    let f = fixture();
    // signingTime UTCTime 260701000000Z: one digit changed.
    let sod = flip_in(&f.ef_sod, b"260701000000Z", 11);
    let r = verify_with(&sod, &f.groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(&r, &["sod_signature"]);
    assert_eq!(r.outcome(CheckId::MessageDigest), Some(Outcome::Passed));
}

#[test]
fn revoked_document_signer_fails_ds_revocation_only() {
    let f = fixture();
    let mut t = trust(f);
    t.crls = vec![crl_of(
        f,
        &[RevokedEntry {
            serial: f.ds.tbs_certificate.serial_number.clone(),
            revocation_date: utc(2026, 11, 1),
            reason: Some(x509_cert::ext::pkix::CrlReason::KeyCompromise),
        }],
    )];
    let r = verify_with(&f.ef_sod, &f.groups, &t, now(), &PaOptions::default());
    assert_fails_exactly(&r, &["ds_revocation"]);
    assert!(r
        .check(CheckId::DsRevocation)
        .unwrap()
        .detail
        .contains("KeyCompromise"));
}

#[test]
fn missing_crl_warns_or_fails_when_required() {
    let f = fixture();
    let mut t = trust(f);
    t.crls.clear();
    let r = verify_with(&f.ef_sod, &f.groups, &t, now(), &PaOptions::default());
    assert!(r.passed(), "{r}");
    assert_eq!(r.outcome(CheckId::DsRevocation), Some(Outcome::Warning));
    let strict = PaOptions {
        require_crl: true,
        ..PaOptions::default()
    };
    let r = verify_with(&f.ef_sod, &f.groups, &t, now(), &strict);
    assert_fails_exactly(&r, &["ds_revocation"]);
}

#[test]
fn untrusted_csca_fails_ds_chain_only() {
    let f = fixture();
    let other = SoftwareSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    // Same name, other key: the impostor CSCA does not match the DS.
    let impostor = issue_csca(&other, &csca_request("Thabian Test CSCA")).unwrap();
    let t = TrustStore {
        cscas: vec![impostor.into()],
        crls: vec![],
    };
    let r = verify_with(&f.ef_sod, &f.groups, &t, now(), &PaOptions::default());
    assert_fails_exactly(&r, &["ds_chain"]);
    assert_eq!(r.outcome(CheckId::DsRevocation), Some(Outcome::Skipped));
    let r = verify_with(
        &f.ef_sod,
        &f.groups,
        &TrustStore::new(),
        now(),
        &PaOptions::default(),
    );
    assert_fails_exactly(&r, &["ds_chain"]);
}

#[test]
fn tampered_ds_certificate_fails_ds_chain_only() {
    let f = fixture();
    // A bit of the DS subject's common name inside EF.SOD: the CSCA's signature breaks.
    let sod = flip_in(&f.ef_sod, b"Thabian Test DS 0001", 19);
    let r = verify_with(&sod, &f.groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(&r, &["ds_chain"]);
    assert!(r
        .check(CheckId::DsChain)
        .unwrap()
        .detail
        .contains("does not verify"));
    assert_eq!(r.outcome(CheckId::SodSignature), Some(Outcome::Passed));
}

#[test]
fn expired_document_signer_fails_ds_validity_only() {
    let f = fixture();
    let r = verify_with(
        &f.ef_sod,
        &f.groups,
        &trust(f),
        utc(2032, 6, 2),
        &PaOptions::default(),
    );
    assert_fails_exactly(&r, &["ds_validity"]);
    // The CSCA expired too (2031); the stale CRL only warns.
    let detail = &r.check(CheckId::DsValidity).unwrap().detail;
    assert!(
        detail.contains("DS valid") && detail.contains("CSCA valid"),
        "{detail}"
    );
    assert_eq!(r.outcome(CheckId::DsRevocation), Some(Outcome::Warning));
}

#[test]
fn unlisted_and_missing_groups() {
    let f = fixture();
    let mut groups = f.groups.clone();
    let dg13 = Dg13 {
        fields: vec![("ethnicity".into(), "Lao Loum".into())],
    }
    .encode()
    .unwrap();
    groups.push((13, dg13));
    let r = verify_with(&f.ef_sod, &groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(&r, &["dg13_hash"]);

    // DG12 not read: fails, or warns when missing groups are allowed.
    let groups: Vec<(u8, Vec<u8>)> = f.groups.iter().filter(|g| g.0 != 12).cloned().collect();
    let r = verify_with(&f.ef_sod, &groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(&r, &["dg12_hash"]);
    let lenient = PaOptions {
        allow_missing_groups: true,
        ..PaOptions::default()
    };
    let r = verify_with(&f.ef_sod, &groups, &trust(f), now(), &lenient);
    assert!(r.passed(), "{r}");
    assert_eq!(r.outcome(CheckId::DgHash(12)), Some(Outcome::Warning));
}

#[test]
fn ef_com_mismatch_warns_and_printed_mrz_is_optional() {
    let f = fixture();
    let com = EfCom::new(&[DataGroup::new(1).unwrap(), DataGroup::new(2).unwrap()]).encode();
    let doc = Document {
        ef_sod: &f.ef_sod,
        data_groups: as_refs(&f.groups),
        ef_com: Some(&com),
        printed_mrz: None,
    };
    let r = passive_authentication(&doc, &trust(f), now(), &PaOptions::default());
    assert!(r.passed(), "{r}");
    assert_eq!(r.outcome(CheckId::EfCom), Some(Outcome::Warning));
    assert_eq!(
        r.outcome(CheckId::Dg1MatchesPrintedMrz),
        Some(Outcome::Skipped)
    );
    // A printed MRZ with CRLF line breaks and a wrong check digit in DG1's place.
    let printed = ERIKSSON.join("\r\n");
    let doc = Document {
        printed_mrz: Some(&printed),
        ..doc
    };
    let r = passive_authentication(&doc, &trust(f), now(), &PaOptions::default());
    assert_eq!(
        r.outcome(CheckId::Dg1MatchesPrintedMrz),
        Some(Outcome::Passed)
    );
}

#[test]
fn dg1_with_a_wrong_check_digit_fails_mrz_check_digits() {
    // A document whose issuer signed a DG1 with a wrong check digit.
    let f = fixture();
    let mut lines = ERIKSSON.map(String::from);
    lines[1].replace_range(6..7, "3");
    let dg1 = tlv::encode_constructed(0x61, &[tlv::encode(0x5F1F, lines.concat().as_bytes())]);
    let mut groups = f.groups.clone();
    groups[0].1 = dg1;
    let r = verify_with(&f.ef_sod, &groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(
        &r,
        &["dg1_hash", "mrz_check_digits", "dg1_matches_printed_mrz"],
    );
    assert!(r
        .check(CheckId::MrzCheckDigits)
        .unwrap()
        .detail
        .contains("date of birth 3 (expected 2)"));
}

#[test]
fn garbage_sod_is_reported_not_fatal() {
    let f = fixture();
    for sod in [&b""[..], b"\x77\x03abc", b"\x30\x00", &f.ef_sod[..40]] {
        let r = verify_with(sod, &f.groups, &trust(f), now(), &PaOptions::default());
        assert!(!r.passed());
        assert_eq!(r.outcome(CheckId::SodParse), Some(Outcome::Failed), "{r}");
        assert_eq!(r.outcome(CheckId::DgHash(1)), Some(Outcome::Skipped));
        // DG1 is still read and shown.
        assert_eq!(r.outcome(CheckId::MrzCheckDigits), Some(Outcome::Passed));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// A bit flipped anywhere in EF.SOD never panics, and is accepted only where it changes
    /// nothing that is signed (e.g. the unsigned digestAlgorithms SET of the SignedData): the
    /// LSO and the Document Signer read from an accepted file are the genuine ones.
    #[test]
    fn a_flipped_bit_of_the_sod_is_caught(pos in 0usize..10_000, bit in 0u8..8) {
        let f = fixture();
        let mut sod = f.ef_sod.clone();
        let pos = pos % sod.len();
        sod[pos] ^= 1 << bit;
        let r = verify_with(&sod, &f.groups, &trust(f), now(), &PaOptions::default());
        if r.passed() {
            let parsed = Sod::from_file(&sod).unwrap();
            prop_assert_eq!(parsed.econtent().unwrap(), f.lso_der.as_slice());
            prop_assert_eq!(parsed.document_signer().unwrap().into_value(), f.ds.clone());
        }
    }
}

#[test]
fn trust_store_loads_pem_der_and_master_lists() {
    let f = fixture();
    let pem = certificate_to_pem(&f.csca).unwrap();
    let two = format!("{pem}\n{pem}");
    assert_eq!(
        pa::certificates_from_bytes(two.as_bytes()).unwrap().len(),
        2
    );
    let mut t = TrustStore::new();
    assert_eq!(t.add_certificates(two.as_bytes()).unwrap(), 1);
    let der = thabian_pki::cert::certificate_to_der(&f.csca).unwrap();
    assert_eq!(t.add_certificates(&der).unwrap(), 0);
    let crl = crl_of(f, &[]);
    let crl_pem = thabian_pki::crl::crl_to_pem(&crl).unwrap();
    assert_eq!(t.add_crls(crl_pem.as_bytes()).unwrap(), 1);
    assert_eq!(
        t.add_crls(&thabian_pki::crl::crl_to_der(&crl).unwrap())
            .unwrap(),
        1
    );
    assert_eq!(t.crls.len(), 1);
    assert!(pa::certificates_from_bytes(crl_pem.as_bytes()).is_err());
    assert!(pa::crls_from_bytes(b"junk").is_err());

    // A master list signed by a Master List Signer of the same CSCA.
    let mls_signer = SoftwareSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let mls = thabian_pki::cert::issue_master_list_signer(
        &f.csca_signer,
        &f.csca,
        thabian_pki::Signer::public_key(&mls_signer),
        &thabian_pki::cert::MasterListSignerRequest {
            country: "LA".into(),
            organization: "Thabian Test".into(),
            common_name: "Thabian Test MLS".into(),
            serial: Some(vec![0x20]),
            not_before: utc(2026, 1, 1),
            not_after: utc(2028, 1, 1),
            private_key_usage_period: None,
        },
    )
    .unwrap();
    let ml = thabian_pki::masterlist::build_master_list(
        std::slice::from_ref(&f.csca),
        &mls_signer,
        &mls,
        utc(2026, 12, 1),
    )
    .unwrap();
    let t = TrustStore::from_master_list(&ml, &[f.csca.clone().into()], now()).unwrap();
    assert_eq!(t.cscas.len(), 1);
    assert_eq!(*t.cscas[0], f.csca);
    let r = verify_with(&f.ef_sod, &f.groups, &t, now(), &PaOptions::default());
    assert!(r.passed(), "{r}");
    // An untrusted anchor rejects the list.
    let other = SoftwareSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let other_csca = issue_csca(&other, &csca_request("Other CSCA")).unwrap();
    assert!(TrustStore::from_master_list(&ml, &[other_csca.into()], now()).is_err());
}

// ------------------------------------------------------------------------------------------
// Foreign documents signed with OpenSSL only

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A brainpoolP256r1 CSCA made by OpenSSL in `dir` (csca.key, csca.pem).
fn openssl_csca(dir: &std::path::Path) {
    std::fs::write(
        dir.join("csca.cnf"),
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3_csca\n\
         [dn]\nC = UT\nO = Utopia\nCN = Utopia CSCA\n\
         [v3_csca]\nbasicConstraints = critical,CA:TRUE,pathlen:0\n\
         keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("ds.ext"),
        "keyUsage = critical,digitalSignature\nauthorityKeyIdentifier = keyid\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "brainpoolP256r1",
            "-genkey",
            "-noout",
            "-out",
            "csca.key",
        ],
    );
    openssl(
        dir,
        &[
            "req", "-new", "-x509", "-key", "csca.key", "-config", "csca.cnf", "-days", "3650",
            "-sha256", "-out", "csca.pem",
        ],
    );
}

/// Issues ds.pem for ds.key with the CSCA, signs the fixture's LSO with it as OpenSSL does,
/// and runs passive authentication on the result.
fn openssl_document(dir: &std::path::Path, extra_sign_args: &[&str]) -> Report {
    let f = fixture();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "ds.key",
            "-subj",
            "/C=UT/O=Utopia/CN=Utopia DS",
            "-out",
            "ds.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "ds.csr",
            "-CA",
            "csca.pem",
            "-CAkey",
            "csca.key",
            "-set_serial",
            "0x1234",
            "-days",
            "365",
            "-sha256",
            "-extfile",
            "ds.ext",
            "-out",
            "ds.pem",
        ],
    );
    std::fs::write(dir.join("lso.der"), &f.lso_der).unwrap();
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-nosmimecap",
        "-econtent_type",
        "2.23.136.1.1.1",
        "-signer",
        "ds.pem",
        "-inkey",
        "ds.key",
        "-md",
        "sha256",
        "-outform",
        "DER",
        "-in",
        "lso.der",
        "-out",
        "sod.der",
    ];
    args.extend_from_slice(extra_sign_args);
    openssl(dir, &args);
    let cms = std::fs::read(dir.join("sod.der")).unwrap();
    let ef_sod = tlv::encode(0x77, &cms);
    let mut trust = TrustStore::new();
    assert_eq!(
        trust
            .add_certificates(&std::fs::read(dir.join("csca.pem")).unwrap())
            .unwrap(),
        1
    );
    // OpenSSL dates its certificates from the present moment.
    verify_with(
        &ef_sod,
        &f.groups,
        &trust,
        Utc::now() + chrono::Duration::hours(1),
        &PaOptions::default(),
    )
}

#[test]
fn foreign_document_with_explicit_brainpool_parameters() {
    if !openssl_available() {
        eprintln!("openssl not on PATH: skipping the foreign-document test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    openssl_csca(dir.path());
    openssl(
        dir.path(),
        &[
            "ecparam",
            "-name",
            "brainpoolP256r1",
            "-param_enc",
            "explicit",
            "-genkey",
            "-out",
            "ds.key",
        ],
    );
    let r = openssl_document(dir.path(), &[]);
    assert!(r.passed(), "{r}");
    // The DS key really carries explicit parameters (a SEQUENCE, not a curve OID).
    let sod = Sod::from_file(&std::fs::read(dir.path().join("sod.der")).unwrap()).unwrap();
    let ds = sod.document_signer().unwrap().into_value();
    let params = ds
        .tbs_certificate
        .subject_public_key_info
        .algorithm
        .parameters
        .unwrap();
    assert_eq!(der::Tagged::tag(&params), der::Tag::Sequence);
    // OpenSSL's certificates deviate from Part 12 (no Document Type List); no CRL was given.
    assert_eq!(r.outcome(CheckId::DsProfile), Some(Outcome::Warning), "{r}");
    assert_eq!(r.outcome(CheckId::DsRevocation), Some(Outcome::Warning));
    for id in [
        CheckId::DsChain,
        CheckId::SodSignature,
        CheckId::MessageDigest,
        CheckId::DgHash(1),
        CheckId::DgHash(2),
    ] {
        assert_eq!(r.outcome(id), Some(Outcome::Passed), "{id}: {r}");
    }

    // Without the DS certificate embedded (-nocerts): found by signer identifier among the
    // certificates the caller supplies, else ds_certificate fails.
    let f = fixture();
    openssl(
        dir.path(),
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-nosmimecap",
            "-nocerts",
            "-econtent_type",
            "2.23.136.1.1.1",
            "-signer",
            "ds.pem",
            "-inkey",
            "ds.key",
            "-md",
            "sha256",
            "-outform",
            "DER",
            "-in",
            "lso.der",
            "-out",
            "bare.der",
        ],
    );
    let ef_sod = tlv::encode(0x77, &std::fs::read(dir.path().join("bare.der")).unwrap());
    let mut t = TrustStore::new();
    t.add_certificates(&std::fs::read(dir.path().join("csca.pem")).unwrap())
        .unwrap();
    let at = Utc::now() + chrono::Duration::hours(1);
    let r = verify_with(&ef_sod, &f.groups, &t, at, &PaOptions::default());
    assert_fails_exactly(&r, &["ds_certificate"]);
    assert_eq!(r.outcome(CheckId::SodSignature), Some(Outcome::Skipped));
    let options = PaOptions {
        extra_certificates: pa::certificates_from_bytes(
            &std::fs::read(dir.path().join("ds.pem")).unwrap(),
        )
        .unwrap(),
        ..PaOptions::default()
    };
    let r = verify_with(&ef_sod, &f.groups, &t, at, &options);
    assert!(r.passed(), "{r}");
    assert!(r
        .check(CheckId::DsCertificate)
        .unwrap()
        .detail
        .contains("supplied by the caller"));
}

#[test]
fn foreign_document_with_an_rsa_pss_signer() {
    if !openssl_available() {
        eprintln!("openssl not on PATH: skipping the foreign-document test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    openssl_csca(dir.path());
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "ds.key",
        ],
    );
    let r = openssl_document(dir.path(), &["-keyopt", "rsa_padding_mode:pss"]);
    assert!(r.passed(), "{r}");
    let detail = &r.check(CheckId::SodSignature).unwrap().detail;
    assert!(detail.starts_with("id-RSASSA-PSS signature"), "{detail}");
}

// ------------------------------------------------------------------------------------------
// The Document Signer path cache

use std::sync::Arc;
use thabian_icao9303::pa::PathCache;

fn cached(cache: &Arc<PathCache>, require_crl: bool) -> PaOptions {
    PaOptions {
        require_crl,
        path_cache: Some(Arc::clone(cache)),
        ..PaOptions::default()
    }
}

#[test]
fn path_cache_is_send_sync_and_options_stay_clone_default() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PathCache>();
    send_sync::<PaOptions>();
    let o = PaOptions::default().clone();
    assert!(o.path_cache.is_none());
}

#[test]
fn cached_report_is_the_uncached_report() {
    let f = fixture();
    let cache = Arc::new(PathCache::new(trust(f)));
    let store = cache.trust_store();
    let uncached = verify_with(&f.ef_sod, &f.groups, store, now(), &PaOptions::default());
    assert!(uncached.passed(), "{uncached}");
    let options = cached(&cache, false);
    let first = verify_with(&f.ef_sod, &f.groups, store, now(), &options);
    let second = verify_with(&f.ef_sod, &f.groups, store, now(), &options);
    assert_eq!((cache.misses(), cache.hits(), cache.len()), (1, 1, 1));
    assert_eq!(first, uncached);
    assert_eq!(second, uncached);
    assert_eq!(second.to_string(), uncached.to_string());
    // Another time inside the window: a hit, and still the uncached report.
    let later = utc(2027, 2, 1);
    let hit = verify_with(&f.ef_sod, &f.groups, store, later, &options);
    assert_eq!(cache.hits(), 2);
    assert_eq!(
        hit,
        verify_with(&f.ef_sod, &f.groups, store, later, &PaOptions::default())
    );
    // An equal copy of the store is served too.
    let copy = store.clone();
    let r = verify_with(&f.ef_sod, &f.groups, &copy, now(), &options);
    assert_eq!((cache.hits(), r), (3, uncached));
}

#[test]
fn per_document_checks_are_never_cached() {
    let f = fixture();
    let cache = Arc::new(PathCache::new(trust(f)));
    let options = cached(&cache, false);
    let store = cache.trust_store();
    assert!(verify_with(&f.ef_sod, &f.groups, store, now(), &options).passed());
    let mut groups = f.groups.clone();
    let last = groups[1].1.len() - 1;
    groups[1].1[last] ^= 0x01;
    let r = verify_with(&f.ef_sod, &groups, store, now(), &options);
    assert_eq!(cache.hits(), 1);
    assert_fails_exactly(&r, &["dg2_hash"]);
    // A broken SOD signature with the path from the cache.
    let sig = Sod::from_file(&f.ef_sod)
        .unwrap()
        .signer_info()
        .unwrap()
        .signature
        .as_bytes()
        .to_vec();
    let bad = flip_in(&f.ef_sod, &sig, sig.len() - 2);
    let r = verify_with(&bad, &f.groups, store, now(), &options);
    assert_eq!(cache.hits(), 2);
    assert_fails_exactly(&r, &["sod_signature"]);
}

#[test]
fn path_cache_outside_the_window_recomputes() {
    let f = fixture();
    let cache = Arc::new(PathCache::new(trust(f)));
    let store = cache.trust_store();
    let options = cached(&cache, false);
    verify_with(&f.ef_sod, &f.groups, store, now(), &options);
    assert_eq!(cache.misses(), 1);
    // After the CRL's nextUpdate (2027-03-01): recomputed, and the stale CRL warns.
    let stale = utc(2027, 3, 2);
    let r = verify_with(&f.ef_sod, &f.groups, store, stale, &options);
    assert_eq!((cache.misses(), cache.hits()), (2, 0));
    assert_eq!(r.outcome(CheckId::DsRevocation), Some(Outcome::Warning));
    assert_eq!(
        r,
        verify_with(&f.ef_sod, &f.groups, store, stale, &PaOptions::default())
    );
    // That outcome holds from just after nextUpdate until the CSCA expires.
    let r = verify_with(&f.ef_sod, &f.groups, store, utc(2028, 1, 1), &options);
    assert_eq!((cache.misses(), cache.hits()), (2, 1));
    assert_eq!(r.outcome(CheckId::DsRevocation), Some(Outcome::Warning));
    // Back inside the first window: the first entry was replaced, so recomputed again.
    assert!(verify_with(&f.ef_sod, &f.groups, store, now(), &options).passed());
    assert_eq!(cache.misses(), 3);
    // The DS expired: fails exactly as uncached, whatever was cached before.
    let expired = utc(2032, 6, 2);
    let r = verify_with(&f.ef_sod, &f.groups, store, expired, &options);
    assert_fails_exactly(&r, &["ds_validity"]);
    assert_eq!(
        r,
        verify_with(&f.ef_sod, &f.groups, store, expired, &PaOptions::default())
    );
    // Before the DS is valid.
    let early = utc(2026, 5, 1);
    let r = verify_with(&f.ef_sod, &f.groups, store, early, &options);
    assert_fails_exactly(&r, &["ds_validity"]);
    assert_eq!(cache.hits(), 1);
}

#[test]
fn path_cache_is_bound_to_its_trust_store() {
    let f = fixture();
    let cache = Arc::new(PathCache::new(trust(f)));
    let options = cached(&cache, false);
    assert!(verify_with(&f.ef_sod, &f.groups, cache.trust_store(), now(), &options).passed());
    // A new CRL revoking the DS is a new trust store: the cached path is not reused.
    let mut revoking = cache.trust_store().clone();
    revoking.crls = vec![crl_of(
        f,
        &[RevokedEntry {
            serial: f.ds.tbs_certificate.serial_number.clone(),
            revocation_date: utc(2026, 12, 10),
            reason: Some(x509_cert::ext::pkix::CrlReason::KeyCompromise),
        }],
    )];
    let r = verify_with(&f.ef_sod, &f.groups, &revoking, now(), &options);
    assert_fails_exactly(&r, &["ds_revocation"]);
    assert_eq!((cache.misses(), cache.hits()), (1, 0));
    // A cache for the new store catches the revocation, on a miss and on a hit.
    let new_cache = Arc::new(PathCache::new(revoking));
    let options = cached(&new_cache, false);
    for _ in 0..2 {
        let r = verify_with(
            &f.ef_sod,
            &f.groups,
            new_cache.trust_store(),
            now(),
            &options,
        );
        assert_fails_exactly(&r, &["ds_revocation"]);
    }
    assert_eq!((new_cache.misses(), new_cache.hits()), (1, 1));
    // A store without the CSCA: the path fails, cached or not.
    let empty = Arc::new(PathCache::new(TrustStore::new()));
    let options = cached(&empty, false);
    let uncached = verify_with(
        &f.ef_sod,
        &f.groups,
        &TrustStore::new(),
        now(),
        &PaOptions::default(),
    );
    for _ in 0..2 {
        let r = verify_with(&f.ef_sod, &f.groups, empty.trust_store(), now(), &options);
        assert_fails_exactly(&r, &["ds_chain"]);
        assert_eq!(r, uncached);
    }
    assert_eq!((empty.misses(), empty.hits()), (1, 1));
}

#[test]
fn path_cache_keys_require_crl_and_stays_bounded() {
    let f = fixture();
    let mut store = trust(f);
    store.crls.clear();
    let cache = Arc::new(PathCache::with_capacity(store, 1));
    let store = cache.trust_store();
    let r = verify_with(&f.ef_sod, &f.groups, store, now(), &cached(&cache, false));
    assert!(r.passed(), "{r}");
    assert_eq!(r.outcome(CheckId::DsRevocation), Some(Outcome::Warning));
    let r = verify_with(&f.ef_sod, &f.groups, store, now(), &cached(&cache, true));
    assert_fails_exactly(&r, &["ds_revocation"]);
    assert_eq!((cache.misses(), cache.hits(), cache.len()), (2, 0, 1));
    let r = verify_with(&f.ef_sod, &f.groups, store, now(), &cached(&cache, true));
    assert_fails_exactly(&r, &["ds_revocation"]);
    assert_eq!((cache.hits(), cache.len()), (1, 1));
    cache.clear();
    assert!(cache.is_empty());
}

// ------------------------------------------------------------------------------------------
// Signing time against the Document Signer's private key usage period

/// EF.SOD over the fixture's data groups, signed by `signer` with `ds` at `signing_time`.
fn sod_signed_at(
    signer: &SoftwareSigner,
    ds: &Certificate,
    signing_time: DateTime<Utc>,
) -> Vec<u8> {
    let lso = LdsSecurityObject::from_der(&fixture().lso_der).unwrap();
    build_sod(&lso, signer, ds, signing_time).unwrap()
}

#[test]
fn signing_time_inside_the_ds_key_usage_period_passes() {
    let f = fixture();
    // The fixture's DS key may sign from 2026-06-01 to 2026-09-01; EF.SOD says 2026-07-01.
    let r = verify_with(
        &f.ef_sod,
        &f.groups,
        &trust(f),
        now(),
        &PaOptions::default(),
    );
    assert!(r.passed(), "{r}");
    let c = r.check(CheckId::DsKeyUsagePeriod).unwrap();
    assert_eq!(c.passed, Outcome::Passed, "{c:?}");
    assert!(c.detail.contains("2026-07-01"), "{}", c.detail);
    // Both ends of the period are inside it.
    for at in [utc(2026, 6, 1), utc(2026, 9, 1)] {
        let sod = sod_signed_at(&f.ds_signer, &f.ds, at);
        let r = verify_with(&sod, &f.groups, &trust(f), now(), &PaOptions::default());
        assert!(r.passed(), "{r}");
    }
}

#[test]
fn sod_signed_outside_the_ds_key_usage_period_fails_that_check_only() {
    let f = fixture();
    // After the end: the DS certificate is still valid (until 2032), its key no longer is.
    let sod = sod_signed_at(&f.ds_signer, &f.ds, utc(2026, 10, 1));
    let r = verify_with(&sod, &f.groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(&r, &["ds_key_usage_period"]);
    let detail = &r.check(CheckId::DsKeyUsagePeriod).unwrap().detail;
    assert_eq!(
        detail,
        "EF.SOD signingTime 2026-10-01 00:00:00Z is after the end of the DS private key usage \
         period 2026-06-01 00:00:00Z to 2026-09-01 00:00:00Z"
    );
    // Before the start.
    let sod = sod_signed_at(&f.ds_signer, &f.ds, utc(2026, 5, 31));
    let r = verify_with(&sod, &f.groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(&r, &["ds_key_usage_period"]);
    assert!(r
        .check(CheckId::DsKeyUsagePeriod)
        .unwrap()
        .detail
        .contains("before the start of"));
}

#[test]
fn ds_without_a_key_usage_period_skips_the_check() {
    let f = fixture();
    let signer = SoftwareSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let ds = issue_document_signer(
        &f.csca_signer,
        &f.csca,
        thabian_pki::Signer::public_key(&signer),
        &DsRequest {
            country: "LA".into(),
            organization: "Thabian Test".into(),
            common_name: "Thabian Test DS 0002".into(),
            serial: Some(vec![0x10, 0x02]),
            not_before: utc(2026, 6, 1),
            not_after: utc(2032, 6, 1),
            private_key_usage_period: None,
            document_types: vec!["ID".into()],
        },
    )
    .unwrap();
    // Long after the fixture's DS period: nothing to compare with.
    let sod = sod_signed_at(&signer, &ds, utc(2026, 11, 1));
    let r = verify_with(&sod, &f.groups, &trust(f), now(), &PaOptions::default());
    assert!(r.passed(), "{r}");
    let c = r.check(CheckId::DsKeyUsagePeriod).unwrap();
    assert_eq!(c.passed, Outcome::Skipped, "{c:?}");
    assert_eq!(c.detail, "the DS certificate has no privateKeyUsagePeriod");
    // No Document Signer certificate at all: skipped too.
    let r = verify_with(b"junk", &f.groups, &trust(f), now(), &PaOptions::default());
    assert_eq!(r.outcome(CheckId::DsKeyUsagePeriod), Some(Outcome::Skipped));
}

// ------------------------------------------------------------------------------------------
// A Document Signer certificate that is not DER

/// The TLVs that `input` is made of, each whole.
fn elements(mut input: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (_, rest) = tlv::parse_one(input).unwrap();
        out.push(&input[..input.len() - rest.len()]);
        input = rest;
    }
    out
}

fn value_of(element: &[u8]) -> &[u8] {
    tlv::parse_exact(element).unwrap().value
}

/// The fixture's DS certificate with its subject's last RDN made multi-valued (CN plus
/// serialNumber) and that SET OF out of DER order, signed by the CSCA over exactly those
/// octets. x509-cert decodes it and sorts the SET, so its re-encoding has the same length but
/// other octets.
fn ds_with_unsorted_rdn(f: &Fixture) -> Vec<u8> {
    use der::Encode;
    let tbs = f.ds.tbs_certificate.to_der().unwrap();
    let fields = elements(value_of(&tbs));
    let rdns = elements(value_of(fields[5]));
    let (last, first) = rdns.split_last().unwrap();
    let cn = elements(value_of(last))[0];
    let serial_number = tlv::encode(
        0x30,
        &[
            &[0x06, 0x03, 0x55, 0x04, 0x05][..],
            &tlv::encode(0x13, b"ABCDEFGHIJ"),
        ]
        .concat(),
    );
    let (a, b) = if serial_number.as_slice() > cn {
        (serial_number.as_slice(), cn)
    } else {
        (cn, serial_number.as_slice())
    };
    let mut subject = first.concat();
    subject.extend(tlv::encode(0x31, &[a, b].concat()));
    let mut content = fields[..5].concat();
    content.extend(tlv::encode(0x30, &subject));
    content.extend(fields[6..].concat());
    let tbs = tlv::encode(0x30, &content);
    let signer: &dyn thabian_pki::Signer = &f.csca_signer;
    let signature = signer.sign(&tbs).unwrap();
    let alg = signer.signature_algorithm_identifier().to_der().unwrap();
    let bits = tlv::encode(0x03, &[&[0u8][..], &signature].concat());
    tlv::encode(0x30, &[&tbs[..], &alg, &bits].concat())
}

#[test]
fn non_der_document_signer_verifies_as_received() {
    use der::{Decode, Encode};
    let f = fixture();
    let raw = ds_with_unsorted_rdn(f);
    let parsed = Certificate::from_der(&raw).unwrap();
    let reencoded = parsed.to_der().unwrap();
    assert_eq!(reencoded.len(), raw.len());
    assert_ne!(reencoded, raw);
    // build_sod embeds the re-encoding; put the octets the CSCA signed in its place (the CMS
    // signature does not cover the certificates).
    let sod = sod_signed_at(&f.ds_signer, &parsed, utc(2026, 7, 1));
    let pos = sod
        .windows(reencoded.len())
        .position(|w| w == reencoded.as_slice())
        .unwrap();
    let mut genuine = sod.clone();
    genuine[pos..pos + raw.len()].copy_from_slice(&raw);
    let embedded = Sod::from_file(&genuine).unwrap().document_signer().unwrap();
    assert_eq!(embedded.received(), Some(raw.as_slice()));
    assert_eq!(
        embedded,
        EncodedCertificate::from_der(&raw).unwrap(),
        "the certificate keeps the octets it was embedded as"
    );

    let r = verify_with(&genuine, &f.groups, &trust(f), now(), &PaOptions::default());
    assert!(r.passed(), "{r}");
    assert_eq!(r.outcome(CheckId::DsChain), Some(Outcome::Passed));
    // The same certificate DER-encoded no longer carries the CSCA's signature.
    let r = verify_with(&sod, &f.groups, &trust(f), now(), &PaOptions::default());
    assert_fails_exactly(&r, &["ds_chain"]);
    // One flipped bit inside the received TBSCertificate fails too.
    let tampered = flip_in(&genuine, b"ABCDEFGHIJ", 3);
    let r = verify_with(
        &tampered,
        &f.groups,
        &trust(f),
        now(),
        &PaOptions::default(),
    );
    assert_fails_exactly(&r, &["ds_chain"]);
    // The path cache keys on the octets received: after the genuine document, the DER
    // re-encoding (which parses to the same certificate) is not served the cached verdict.
    let cache = Arc::new(PathCache::new(trust(f)));
    let options = PaOptions {
        path_cache: Some(cache.clone()),
        ..PaOptions::default()
    };
    let r = verify_with(&genuine, &f.groups, cache.trust_store(), now(), &options);
    assert!(r.passed(), "{r}");
    let r = verify_with(&sod, &f.groups, cache.trust_store(), now(), &options);
    assert_fails_exactly(&r, &["ds_chain"]);
    assert_eq!(cache.hits(), 0);
}

// ------------------------------------------------------------------------------------------
// DG14 SecurityInfos and DG15 from the chip's keys (Doc 9303 Part 11 §9.2)

/// A fresh public key from OpenSSL: `genpkey <args>`, then its SubjectPublicKeyInfo in DER.
fn openssl_public_key(genpkey: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let out = Command::new("openssl")
        .arg("genpkey")
        .args(genpkey)
        .arg("-out")
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn oid_strings(infos: &[lds::SecurityInfo]) -> Vec<String> {
    let mut v: Vec<String> = infos.iter().map(|i| i.protocol().to_string()).collect();
    v.sort();
    v
}

#[test]
fn dg14_from_typed_infos_matches_the_pass_through_bytes() {
    // The ChipAuthenticationInfo above (id-CA-ECDH-AES-CBC-CMAC-128, version 1), built typed.
    let dg14 = Dg14::from_infos(&[lds::SecurityInfo::ChipAuthentication {
        protocol: lds::security_oids::ID_CA_ECDH_AES_CBC_CMAC_128,
        version: 1,
        key_id: None,
    }])
    .unwrap();
    assert_eq!(hex::encode(&dg14.security_infos), SECURITY_INFOS);
    let infos = Dg14 {
        security_infos: hex::decode(SECURITY_INFOS).unwrap(),
    }
    .infos()
    .unwrap();
    assert_eq!(
        infos,
        vec![lds::SecurityInfo::ChipAuthentication {
            protocol: lds::security_oids::ID_CA_ECDH_AES_CBC_CMAC_128,
            version: 1,
            key_id: None,
        }]
    );
}

#[test]
fn security_oids_are_part_11s() {
    use lds::security_oids as o;
    // Doc 9303 Part 11 §9.2 (bsi-de = 0.4.0.127.0.7), §6.1 id-AA, TR-03111 ecdsa-plain.
    let expected = [
        (o::ID_PK_DH, "0.4.0.127.0.7.2.2.1.1"),
        (o::ID_PK_ECDH, "0.4.0.127.0.7.2.2.1.2"),
        (o::ID_CA_DH_3DES_CBC_CBC, "0.4.0.127.0.7.2.2.3.1.1"),
        (o::ID_CA_DH_AES_CBC_CMAC_128, "0.4.0.127.0.7.2.2.3.1.2"),
        (o::ID_CA_DH_AES_CBC_CMAC_192, "0.4.0.127.0.7.2.2.3.1.3"),
        (o::ID_CA_DH_AES_CBC_CMAC_256, "0.4.0.127.0.7.2.2.3.1.4"),
        (o::ID_CA_ECDH_3DES_CBC_CBC, "0.4.0.127.0.7.2.2.3.2.1"),
        (o::ID_CA_ECDH_AES_CBC_CMAC_128, "0.4.0.127.0.7.2.2.3.2.2"),
        (o::ID_CA_ECDH_AES_CBC_CMAC_192, "0.4.0.127.0.7.2.2.3.2.3"),
        (o::ID_CA_ECDH_AES_CBC_CMAC_256, "0.4.0.127.0.7.2.2.3.2.4"),
        (o::ID_PACE, "0.4.0.127.0.7.2.2.4"),
        (o::ID_AA, "2.23.136.1.1.5"),
        (o::ECDSA_PLAIN_SHA256, "0.4.0.127.0.7.1.1.4.1.3"),
        (o::ECDSA_PLAIN_SHA384, "0.4.0.127.0.7.1.1.4.1.4"),
    ];
    for (oid, text) in expected {
        assert_eq!(oid.to_string(), text);
    }
    use thabian_icao9303::access::KeyCipher;
    use thabian_icao9303::lds::{pace_protocol, PaceMapping, PaceParameters};
    let pace = |parameter_id, mapping, cipher| {
        pace_protocol(&PaceParameters {
            parameter_id,
            mapping,
            cipher,
        })
        .map(|o| o.to_string())
    };
    // id-PACE-ECDH-GM-AES-CBC-CMAC-128, -DH-GM-3DES, -ECDH-IM-AES-256, -ECDH-CAM-AES-128.
    assert_eq!(
        pace(13, PaceMapping::Generic, KeyCipher::Aes128).unwrap(),
        "0.4.0.127.0.7.2.2.4.2.2"
    );
    assert_eq!(
        pace(2, PaceMapping::Generic, KeyCipher::TripleDes).unwrap(),
        "0.4.0.127.0.7.2.2.4.1.1"
    );
    assert_eq!(
        pace(12, PaceMapping::Integrated, KeyCipher::Aes256).unwrap(),
        "0.4.0.127.0.7.2.2.4.4.4"
    );
    assert_eq!(
        pace(12, PaceMapping::ChipAuthentication, KeyCipher::Aes128).unwrap(),
        "0.4.0.127.0.7.2.2.4.6.2"
    );
    assert!(pace(2, PaceMapping::ChipAuthentication, KeyCipher::Aes128).is_err());
    assert!(pace(5, PaceMapping::Generic, KeyCipher::Aes128).is_err());
}

#[test]
fn dg14_dg15_from_chip_keys_round_trip_and_openssl_reads_them() {
    use thabian_icao9303::access::KeyCipher;
    use thabian_icao9303::lds::{
        ActiveAuthenticationKey, ChipAuthenticationKey, ChipSecurity, PaceMapping, PaceParameters,
        SecurityInfo,
    };
    if !openssl_available() {
        eprintln!("openssl not on PATH: skipping the chip-key tests");
        return;
    }
    let ca_key = openssl_public_key(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let aa_key = openssl_public_key(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
    let security = ChipSecurity {
        chip_authentication: Some(ChipAuthenticationKey {
            public_key: ca_key.clone(),
            key_id: Some(7),
            cipher: KeyCipher::Aes128,
        }),
        active_authentication: Some(ActiveAuthenticationKey {
            public_key: aa_key.clone(),
            hash: None,
        }),
        pace: Some(PaceParameters {
            parameter_id: 12,
            mapping: PaceMapping::Generic,
            cipher: KeyCipher::Aes128,
        }),
    };
    let dg14 = security.dg14().unwrap().unwrap();
    let file = dg14.encode().unwrap();
    assert_eq!(DataGroup::of_file(&file).unwrap().number(), 14);
    let read = Dg14::decode(&file).unwrap().infos().unwrap();
    let mut built = security.security_infos().unwrap();
    let key = |i: &SecurityInfo| i.to_der().unwrap();
    built.sort_by_key(key);
    assert_eq!(read, built, "DG14 holds the infos, DER-sorted");
    assert_eq!(
        oid_strings(&read),
        [
            "0.4.0.127.0.7.2.2.1.2",   // id-PK-ECDH
            "0.4.0.127.0.7.2.2.3.2.2", // id-CA-ECDH-AES-CBC-CMAC-128
            "0.4.0.127.0.7.2.2.4.2.2", // id-PACE-ECDH-GM-AES-CBC-CMAC-128
            "2.23.136.1.1.5",          // id-AA
        ]
    );
    for info in &read {
        match info {
            SecurityInfo::ChipAuthenticationPublicKey {
                public_key, key_id, ..
            } => {
                assert_eq!(public_key, &ca_key);
                assert_eq!(*key_id, Some(7));
            }
            SecurityInfo::ChipAuthentication {
                version, key_id, ..
            } => assert_eq!((*version, *key_id), (1, Some(7))),
            SecurityInfo::Pace {
                version,
                parameter_id,
                ..
            } => assert_eq!((*version, *parameter_id), (2, Some(12))),
            SecurityInfo::ActiveAuthentication {
                version,
                signature_algorithm,
            } => {
                // A P-384 key signs with SHA-384 unless told otherwise.
                assert_eq!(*version, 1);
                assert_eq!(signature_algorithm.to_string(), "0.4.0.127.0.7.1.1.4.1.4");
            }
            SecurityInfo::Other { .. } => panic!("unexpected {info:?}"),
        }
    }

    // OpenSSL reads the SecurityInfos as DER and finds the same OIDs and keys.
    let dir = tempfile::tempdir().unwrap();
    let infos_path = dir.path().join("infos.der");
    std::fs::write(&infos_path, &dg14.security_infos).unwrap();
    let out = Command::new("openssl")
        .args(["asn1parse", "-inform", "DER", "-in"])
        .arg(&infos_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("0.4.0.127.0.7.2.2.1.2"), "{text}");
    assert!(
        text.contains("id-ecPublicKey") && text.contains("prime256v1"),
        "{text}"
    );

    // DG15 is the AA key's SPKI: OpenSSL parses what DG15 holds.
    let dg15_file = security.dg15().unwrap().unwrap().encode().unwrap();
    assert_eq!(dg15_file[0], 0x6F);
    let spki = Dg15::decode(&dg15_file).unwrap().public_key_info;
    assert_eq!(spki, aa_key);
    let spki_path = dir.path().join("dg15.der");
    std::fs::write(&spki_path, &spki).unwrap();
    let out = Command::new("openssl")
        .args(["pkey", "-pubin", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&spki_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("secp384r1"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn chip_keys_of_the_wrong_kind_are_refused() {
    use thabian_icao9303::access::KeyCipher;
    use thabian_icao9303::lds::{
        chip_key_algorithm, ActiveAuthenticationKey, ChipAuthenticationKey, ChipKeyAlgorithm,
        ChipSecurity,
    };
    if !openssl_available() {
        eprintln!("openssl not on PATH: skipping the chip-key tests");
        return;
    }
    let rsa = openssl_public_key(&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    let dh = openssl_public_key(&["-algorithm", "DH", "-pkeyopt", "group:ffdhe2048"]);
    let ed = openssl_public_key(&["-algorithm", "ED25519"]);
    let ec = openssl_public_key(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    assert_eq!(
        chip_key_algorithm("DG15", &rsa).unwrap(),
        ChipKeyAlgorithm::Rsa { bits: 2048 }
    );
    assert_eq!(
        chip_key_algorithm("DG14", &dh).unwrap(),
        ChipKeyAlgorithm::Dh
    );
    let mut off_curve = ec.clone();
    let last = off_curve.len() - 1;
    off_curve[last] ^= 1;

    let ca = |key: &[u8]| ChipSecurity {
        chip_authentication: Some(ChipAuthenticationKey {
            public_key: key.to_vec(),
            key_id: None,
            cipher: KeyCipher::Aes128,
        }),
        ..ChipSecurity::default()
    };
    let aa = |key: &[u8]| ChipSecurity {
        active_authentication: Some(ActiveAuthenticationKey {
            public_key: key.to_vec(),
            hash: None,
        }),
        ..ChipSecurity::default()
    };
    // A DH Chip Authentication key: id-PK-DH and id-CA-DH-AES-CBC-CMAC-128.
    let infos = ca(&dh).security_infos().unwrap();
    assert_eq!(
        oid_strings(&infos),
        ["0.4.0.127.0.7.2.2.1.1", "0.4.0.127.0.7.2.2.3.1.2"]
    );
    // An RSA Active Authentication key: DG15 only (ActiveAuthenticationInfo is for ECDSA).
    assert!(aa(&rsa).dg14().unwrap().is_none());
    assert!(aa(&rsa).dg15().unwrap().is_some());

    for (what, security, needle) in [
        ("RSA for CA", ca(&rsa), "is RSA"),
        ("Ed25519 for CA", ca(&ed), "not EC, RSA or DH"),
        ("a point off the curve", ca(&off_curve), "not on the curve"),
        ("not DER", ca(b"not a key"), "SubjectPublicKeyInfo"),
        ("DH for AA", aa(&dh), "is DH"),
        ("Ed25519 for AA", aa(&ed), "not EC, RSA or DH"),
    ] {
        let err = security
            .dg14()
            .and_then(|_| security.dg15())
            .expect_err(what)
            .to_string();
        assert!(err.contains(needle), "{what}: {err}");
    }
}
