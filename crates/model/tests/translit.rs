//! Tests for `thabian_model::translit`: Lao romanization, phonetic keys, name tokens.

// Tests may unwrap and panic freely (the workspace denies it in library code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use thabian_model::name::fold_for_search;
use thabian_model::translit::{latin_tokens, phonetic, phonetic_tokens, romanize_lao};
use unicode_normalization::UnicodeNormalization;

#[test]
fn romanizes_names_and_places() {
    let cases = [
        ("ສົມສັກ", "somsak"),
        ("ພອນ", "phon"),
        ("ບຸນມີ", "bounmi"),
        ("ຄຳ", "kham"),
        ("ແກ້ວ", "keo"),
        ("ວົງສາ", "vongsa"),
        ("ສີສຸພັນ", "sisouphan"),
        ("ຈັນທະວົງ", "chanthavong"),
        ("ສຸກ", "souk"),
        ("ນ້ອຍ", "noy"),
        ("ມະນີ", "mani"),
        ("ເພັດ", "phet"),
        ("ສຸລິຍະ", "souligna"),
        ("ໄຊ", "xai"),
        ("ທອງ", "thong"),
        ("ບົວ", "boua"),
        ("ຄຳຫລ້າ", "khamla"),
        ("ໜູ", "nou"),
        ("ເພັດສະໝອນ", "phetsamon"),
        ("ສົມຫວັງ", "somvang"),
        ("ແສງເດືອນ", "sengduan"),
        ("ເງິນ", "ngeun"),
        ("ເມືອງ", "muang"),
        // Provinces, in the Lao government's romanization (diacritics and French silent e aside).
        ("ໄຊຍະບູລີ", "xaignabouli"),
        ("ອຸດົມໄຊ", "oudomxai"),
        ("ຊຽງຂວາງ", "xiengkhouang"),
        ("ຄຳມ່ວນ", "khammouan"),
        ("ຫຼວງພະບາງ", "louangphabang"),
        ("ສະຫວັນນະເຂດ", "savannakhet"),
        ("ອັດຕະປື", "attapeu"),
        ("ຫົວພັນ", "houaphan"),
        ("ສາລະວັນ", "salavan"),
        ("ເຊກອງ", "xekong"),
        ("ບໍລິຄຳໄຊ", "bolikhamxai"),
        ("ຈຳປາສັກ", "champasak"),
        ("ບໍ່ແກ້ວ", "bokeo"),
        ("ຜົ້ງສາລີ", "phongsali"),
        ("ວຽງຈັນ", "viengchan"),
    ];
    let mut wrong = Vec::new();
    for (lao, want) in cases {
        let got = romanize_lao(lao);
        if got != want {
            wrong.push(format!("{lao}: got {got}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn romanize_keeps_other_text_and_spaces() {
    assert_eq!(romanize_lao("ສົມສັກ  ວົງສາ"), "somsak vongsa");
    assert_eq!(romanize_lao("Nguyễn ສຸກ-Đức"), "nguyen souk-duc");
    assert_eq!(romanize_lao("ບ້ານ ໑໒"), "ban 12");
    assert_eq!(romanize_lao("ດີໆ"), "didi");
    // ເເ typed for ແ.
    assert_eq!(romanize_lao("\u{0EC0}\u{0EC0}ກ້ວ"), "keo");
    // Tone marks never change the romanization.
    assert_eq!(romanize_lao("ນອຍ"), romanize_lao("ນ້ອຍ"));
    assert_eq!(romanize_lao(""), "");
}

/// Real Lao names with romanizations in common use. Every one of these matches by phonetic key.
///
/// Known not to match (limitations, left out of the table):
/// * ດາວ "Dow" (English spelling of -ao; the key keeps "dao" and "do" apart).
/// * ວັນຍາ "Vanya": the romanization "vangna" reads as ng + n, not n + gn.
/// * ເງິນ "Ngern" (Thai-style "er" for the vowel ə is not folded into "eu").
#[test]
fn lao_names_match_their_common_romanizations() {
    let table: &[(&str, &[&str])] = &[
        ("ສົມສັກ", &["Somsak", "Somsack", "Sommsak", "Somsaq"]),
        ("ພອນ", &["Phone", "Phon", "Pone"]),
        ("ບຸນມີ", &["Bounmy", "Bunmi", "Boonmee", "Bounmi", "Bounmee"]),
        ("ຄຳ", &["Kham", "Kam"]),
        ("ແກ້ວ", &["Keo", "Kaeo", "Kèo", "Kaew", "Keow"]),
        ("ວົງສາ", &["Vongsa", "Wongsa", "Vongxa"]),
        (
            "ສີສຸພັນ",
            &["Sisouphanh", "Sisuphan", "Sisouphan", "Syxouphanh"],
        ),
        (
            "ຈັນທະວົງ",
            &["Chanthavong", "Jantavong", "Chantavong", "Chanthavongs"],
        ),
        ("ສຸກ", &["Souk", "Suk", "Sook"]),
        ("ນ້ອຍ", &["Noy", "Noi"]),
        ("ມະນີ", &["Manee", "Mani", "Many"]),
        ("ເພັດ", &["Phet", "Pheth", "Phed", "Pet"]),
        ("ສຸລິຍະ", &["Souliya", "Suliya", "Souligna", "Sourinya"]),
        ("ໄຊ", &["Xay", "Sai", "Xai", "Say"]),
        ("ທອງ", &["Thong", "Tong"]),
        ("ບົວ", &["Boua", "Bua"]),
        ("ຄຳຫລ້າ", &["Khamla", "Khamlah", "Kamla"]),
        ("ໜູ", &["Nou", "Nu", "Noo"]),
        ("ເພັດສະໝອນ", &["Phetsamone", "Phetsamon", "Phetsamorn"]),
        ("ສົມພອນ", &["Somphone", "Somphon", "Sompone", "Somphorn"]),
        ("ວົງສະຫວັນ", &["Vongsavanh", "Wongsawan", "Vongsavan"]),
        ("ສຸກສະຫວັດ", &["Souksavath", "Suksawat", "Souksavat"]),
        ("ວິໄລ", &["Vilay", "Wilai", "Vilai"]),
        ("ລັດສະໝີ", &["Latsamy", "Latsami", "Ladsamy"]),
        ("ແສງ", &["Seng", "Saeng", "Sèng"]),
        ("ແສງເດືອນ", &["Sengdeuane", "Saengduean", "Sengduan"]),
        ("ເມືອງ", &["Muang", "Meuang", "Mueang"]),
        ("ອິນທະວົງ", &["Inthavong", "Inthavongse", "Intavong"]),
        ("ວຽງຄຳ", &["Viengkham", "Viangkham", "Wiangkham"]),
        ("ສຸລິຍາ", &["Souriya", "Souliya", "Suriya"]),
        ("ບຸນເຮືອງ", &["Bounheuang", "Bunhuang"]),
        ("ຂວັນ", &["Khouane", "Khwan", "Kwan"]),
        ("ໄຊສົມບູນ", &["Xaysomboun", "Saisombun", "Xaysomboon"]),
        ("ສົມຈິດ", &["Somchit", "Somjit", "Somchith"]),
        ("ຍົດ", &["Gnot", "Nyot", "Yot", "Gnod"]),
        ("ຄຳມ່ວນ", &["Khammouane", "Khammuan", "Kammouan"]),
    ];
    let mut wrong = Vec::new();
    for (lao, spellings) in table {
        let key = phonetic(&romanize_lao(lao));
        for s in *spellings {
            let other = phonetic(&fold_for_search(s));
            if other != key {
                wrong.push(format!("{lao} ({key}) vs {s} ({other})"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn vietnamese_without_marks_matches() {
    for (marked, plain) in [
        ("Nguyễn", "nguyen"),
        ("Phương", "phuong"),
        ("Thị", "thi"),
        ("Đức", "duc"),
        ("Trần", "tran"),
        ("Huỳnh", "huynh"),
        ("Ngô", "ngo"),
        ("Lê", "le"),
    ] {
        assert_eq!(
            phonetic(&fold_for_search(marked)),
            phonetic(plain),
            "{marked}"
        );
    }
    // Keys keep names apart that are really different.
    assert_ne!(phonetic("le"), phonetic("ly"));
    assert_ne!(phonetic("nhung"), phonetic("nung"));
    assert_ne!(phonetic("phan"), phonetic("fan"));
    assert_ne!(phonetic("vong"), phonetic("von"));
}

#[test]
fn phonetic_examples() {
    let cases = [
        ("somsak", "somsak"),
        ("somsack", "somsak"),
        ("phone", "pon"),
        ("bounmy", "bunmi"),
        ("kaew", "keo"),
        ("wongsa", "vongsa"),
        ("jantavong", "jantavong"),
        ("sisouphanh", "sisupan"),
        ("souligna", "suliya"),
        ("quang", "kuang"),
        ("nguyen", "nguyen"),
        ("vientiane", "viantian"),
        ("le", "le"),
        ("x", "s"),
        ("h", "h"),
        ("w", "u"),
        ("1985", "1985"),
    ];
    for (token, want) in cases {
        assert_eq!(phonetic(token), want, "{token}");
    }
}

#[test]
fn phonetic_of_unusual_tokens() {
    assert_eq!(phonetic(""), "");
    assert_eq!(phonetic("O'Neil"), phonetic("oneil"));
    assert_eq!(phonetic("ສົມສັກ"), phonetic("somsak"));
    assert_eq!(phonetic("Đức"), "duk");
    let chinese = phonetic("王");
    assert!(!chinese.is_empty() && chinese.is_ascii());
    assert_eq!(phonetic(&chinese), chinese);
    assert_ne!(chinese, phonetic("李"));
}

#[test]
fn latin_tokens_examples() {
    assert_eq!(latin_tokens("Nguyễn Thị-Minh"), ["nguyen", "thi", "minh"]);
    assert_eq!(latin_tokens("  ສົມສັກ   ວົງສາ "), ["somsak", "vongsa"]);
    assert_eq!(latin_tokens("J.-P. Keo,Kham"), ["j", "p", "keo", "kham"]);
    assert_eq!(latin_tokens("ທ້າວ ສົມສັກ—ວົງສາ"), ["thao", "somsak", "vongsa"]);
    assert!(latin_tokens(" - . , ").is_empty());
    assert_eq!(
        phonetic_tokens("ສົມສັກ ວົງສາ"),
        phonetic_tokens("Somsack Wongsa")
    );
}

fn lao_block_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::char::range('\u{0E80}', '\u{0EFF}'), 0..24)
        .prop_map(|v| v.into_iter().collect())
}

fn latin_token() -> impl Strategy<Value = String> {
    "[a-z]{1,16}"
}

fn mixed_name() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            proptest::char::range('\u{0E80}', '\u{0EFF}'),
            proptest::char::range('a', 'z'),
            proptest::sample::select(vec![
                ' ', '-', '.', ',', '\t', 'É', 'ễ', 'đ', 'Ư', '\u{0301}', '\u{0323}', '王', '\'',
            ]),
        ],
        0..32,
    )
    .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #[test]
    fn phonetic_is_idempotent_ascii_nonempty(token in latin_token()) {
        let key = phonetic(&token);
        prop_assert!(!key.is_empty());
        prop_assert!(key.is_ascii());
        prop_assert_eq!(phonetic(&key), key.clone());
    }

    #[test]
    fn phonetic_is_idempotent_on_lao_like_letters(
        token in "[aeiouyw]?([bcdghkmnpstxyw]{0,2}[aeiouyw]{1,3}[bcdgkmnpstwyh]{0,3}){1,4}"
    ) {
        let key = phonetic(&token);
        prop_assert!(!key.is_empty());
        prop_assert_eq!(phonetic(&key), key.clone());
    }

    #[test]
    fn phonetic_is_idempotent_for_any_string(s in mixed_name()) {
        let key = phonetic(&s);
        prop_assert!(key.is_ascii());
        prop_assert_eq!(key.is_empty(), s.is_empty());
        prop_assert_eq!(phonetic(&key), key.clone());
    }

    #[test]
    fn romanize_lao_is_ascii(s in lao_block_string()) {
        let r = romanize_lao(&s);
        prop_assert!(r.is_ascii(), "{:?} -> {:?}", s, r);
        prop_assert!(r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    }

    #[test]
    fn latin_tokens_never_empty_and_nfc_invariant(s in mixed_name()) {
        let tokens = latin_tokens(&s);
        prop_assert!(tokens.iter().all(|t| !t.is_empty()));
        let nfc: String = s.nfc().collect();
        let nfd: String = s.nfd().collect();
        prop_assert_eq!(latin_tokens(&nfc), tokens.clone());
        prop_assert_eq!(latin_tokens(&nfd), tokens);
    }
}

/// The limitations listed above, pinned so that a rule change that fixes one is noticed.
#[test]
fn known_mismatches() {
    for (lao, spelling) in [("ດາວ", "dow"), ("ວັນຍາ", "vanya"), ("ເງິນ", "ngern")]
    {
        assert_ne!(phonetic(&romanize_lao(lao)), phonetic(spelling), "{lao}");
    }
}
