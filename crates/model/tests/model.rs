//! Tests for `thabian-model`: one test binary for the crate, one module per area.
//! Add new areas as new `mod xxx_tests { .. }` blocks.

// Tests may unwrap and panic freely (the workspace denies it in library code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pin_tests {
    use expect_test::expect;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use thabian_model::pin::{
        generate_pin, passes_filters, verhoeff_check_digit, verhoeff_is_valid, Pin, PinContext,
        PinError, PinFilters, PinScheme,
    };
    use thabian_model::sex::Sex;

    fn random_verhoeff(length: u8) -> PinScheme {
        PinScheme::RandomVerhoeff {
            length,
            filters: PinFilters::default(),
        }
    }

    /// Every filter disabled; tests switch on one at a time.
    fn none() -> PinFilters {
        PinFilters {
            forbidden_first_digits: vec![],
            max_sequence_length: 0,
            repeating_limit: 0,
            repeating_block_limit: 0,
            reverse_digits_limit: 0,
            digits_group_limit: 0,
            max_adjacent_even_digits: 0,
            restricted_numbers: vec![],
            cyclic_numbers: vec![],
        }
    }

    fn with_check(body: &str) -> String {
        let c = verhoeff_check_digit(body).unwrap();
        format!("{body}{c}")
    }

    // ----- Verhoeff --------------------------------------------------------------------------

    #[test]
    fn verhoeff_known_vectors() {
        assert_eq!(verhoeff_check_digit("236"), Some(3));
        assert!(verhoeff_is_valid("2363"));
        assert_eq!(verhoeff_check_digit("12345"), Some(1));
        assert!(verhoeff_is_valid("123451"));
        assert!(!verhoeff_is_valid("123452"));
        assert_eq!(verhoeff_check_digit(""), Some(0));
        assert_eq!(verhoeff_check_digit("12a"), None);
        assert_eq!(verhoeff_check_digit("١٢٣"), None, "only ASCII digits");
        assert!(!verhoeff_is_valid(""));
        assert!(!verhoeff_is_valid("236 3"));
    }

    /// Exhaustive over digit pairs and over every position modulo 8 (the permutation cycle).
    #[test]
    fn verhoeff_detects_all_adjacent_transpositions_at_every_position() {
        for len in 2..=18 {
            for i in 0..len - 1 {
                for a in b'0'..=b'9' {
                    for b in b'0'..=b'9' {
                        if a == b {
                            continue;
                        }
                        let mut body = vec![b'3'; len];
                        body[i] = a;
                        body[i + 1] = b;
                        let good = with_check(std::str::from_utf8(&body).unwrap());
                        let mut bad = good.clone().into_bytes();
                        bad.swap(i, i + 1);
                        assert!(!verhoeff_is_valid(std::str::from_utf8(&bad).unwrap()));
                        // And the swap involving the check digit itself.
                        let mut bad = good.clone().into_bytes();
                        let n = bad.len();
                        if bad[n - 2] != bad[n - 1] {
                            bad.swap(n - 2, n - 1);
                            assert!(!verhoeff_is_valid(std::str::from_utf8(&bad).unwrap()));
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn verhoeff_round_trip(body in "[0-9]{0,30}") {
            prop_assert!(verhoeff_is_valid(&with_check(&body)));
        }

        #[test]
        fn verhoeff_detects_every_single_substitution(
            body in "[0-9]{1,30}",
            pos in any::<prop::sample::Index>(),
            delta in 1u8..10,
        ) {
            let good = with_check(&body);
            let mut bytes = good.into_bytes();
            let i = pos.index(bytes.len());
            bytes[i] = b'0' + (bytes[i] - b'0' + delta) % 10;
            let bad = String::from_utf8(bytes).unwrap();
            prop_assert!(!verhoeff_is_valid(&bad), "{bad} should be invalid");
        }

        #[test]
        fn verhoeff_detects_every_adjacent_transposition(
            body in "[0-9]{1,30}",
            pos in any::<prop::sample::Index>(),
        ) {
            let good = with_check(&body);
            let mut bytes = good.into_bytes();
            let i = pos.index(bytes.len() - 1);
            prop_assume!(bytes[i] != bytes[i + 1]);
            bytes.swap(i, i + 1);
            let bad = String::from_utf8(bytes).unwrap();
            prop_assert!(!verhoeff_is_valid(&bad), "{bad} should be invalid");
        }
    }

    // ----- Filters ---------------------------------------------------------------------------

    #[test]
    fn default_filters_are_mosips() {
        let f = PinFilters::default();
        assert_eq!(f.forbidden_first_digits, vec![0, 1]);
        assert_eq!(f.max_sequence_length, 2);
        assert_eq!(f.repeating_limit, 2);
        assert_eq!(f.repeating_block_limit, 2);
        assert_eq!(f.reverse_digits_limit, 5);
        assert_eq!(f.digits_group_limit, 5);
        assert_eq!(f.max_adjacent_even_digits, 2);
        assert_eq!(f.restricted_numbers, vec!["786", "666"]);
        assert_eq!(f.cyclic_numbers.len(), 8);
        assert_eq!(f.cyclic_numbers[0], "142857");
        // An empty `filters` object and a missing one both mean the defaults.
        let s: PinScheme =
            serde_json::from_str(r#"{"scheme":"random-verhoeff","length":10,"filters":{}}"#)
                .unwrap();
        assert_eq!(s, random_verhoeff(10));
        let s: PinScheme =
            serde_json::from_str(r#"{"scheme":"random-verhoeff","length":10}"#).unwrap();
        assert_eq!(s, random_verhoeff(10));
        let s: PinScheme = serde_json::from_str(r#"{"scheme":"vn-12"}"#).unwrap();
        assert_eq!(s, PinScheme::Vn12);
    }

    #[test]
    fn mosip_sample_passes_default_filters() {
        // MOSIP's own filter test sample (their test config allows a leading 1).
        let f = PinFilters {
            forbidden_first_digits: vec![],
            ..PinFilters::default()
        };
        assert!(passes_filters(&f, "1029384756"));
        assert!(!passes_filters(&PinFilters::default(), "1029384756"));
        assert!(passes_filters(&PinFilters::default(), "5029384756"));
    }

    #[test]
    fn filter_forbidden_first_digits() {
        let f = PinFilters::default();
        assert!(!passes_filters(&f, "0529384756"));
        assert!(!passes_filters(&f, "1529384756"));
        assert!(!passes_filters(&f, ""));
        assert!(!passes_filters(&f, "52938475a6"));
    }

    #[test]
    fn filter_sequence() {
        let f = PinFilters {
            max_sequence_length: 2,
            ..none()
        };
        assert!(!passes_filters(&f, "50123"), "ascending 123");
        assert!(!passes_filters(&f, "59870"), "descending 987");
        assert!(
            !passes_filters(&f, "58905"),
            "890 wraps like MOSIP's 0123456789012..."
        );
        assert!(!passes_filters(&f, "51095"), "109 wraps descending");
        assert!(passes_filters(&f, "51250"), "12 alone is allowed");
        assert!(passes_filters(&f, "5135"));
    }

    #[test]
    fn filter_repeating_digit() {
        let f = PinFilters {
            repeating_limit: 2,
            ..none()
        };
        assert!(!passes_filters(&f, "5115"), "11");
        assert!(!passes_filters(&f, "51215"), "1x1");
        assert!(passes_filters(&f, "51231"), "1xx1 is allowed with limit 2");
    }

    #[test]
    fn filter_repeating_block() {
        let f = PinFilters {
            repeating_block_limit: 2,
            ..none()
        };
        assert!(!passes_filters(&f, "481248"), "48xx48");
        assert!(!passes_filters(&f, "54848"), "4848");
        assert!(!passes_filters(&f, "4829134829"), "longer blocks too");
        assert!(passes_filters(&f, "5484"), "484 has no repeated block");
        assert!(
            passes_filters(&f, "5111"),
            "overlapping occurrences do not count"
        );
        assert!(!passes_filters(&f, "51111"));
    }

    #[test]
    fn filter_reverse_digits() {
        let f = PinFilters {
            reverse_digits_limit: 5,
            ..none()
        };
        assert!(!passes_filters(&f, "4345665434"));
        assert!(passes_filters(&f, "4345665435"));
        assert!(
            passes_filters(&f, "4343"),
            "shorter than the limit: filter off"
        );
    }

    #[test]
    fn filter_digits_group() {
        let f = PinFilters {
            digits_group_limit: 5,
            ..none()
        };
        assert!(!passes_filters(&f, "4345643456"));
        assert!(!passes_filters(&f, "434569843456"));
        assert!(passes_filters(&f, "4345643457"));
        assert!(
            passes_filters(&f, "43456"),
            "not shorter than the PIN: filter off"
        );
    }

    #[test]
    fn filter_adjacent_even_digits() {
        let f = PinFilters {
            max_adjacent_even_digits: 2,
            ..none()
        };
        assert!(!passes_filters(&f, "52465"), "3 adjacent even digits");
        assert!(!passes_filters(&f, "58888"));
        assert!(
            passes_filters(&f, "52435"),
            "2 adjacent even digits are allowed"
        );
        assert!(
            passes_filters(&f, "52405"),
            "0 does not count, as in MOSIP's [2468]"
        );
    }

    #[test]
    fn filter_restricted_and_cyclic() {
        let f = PinFilters {
            restricted_numbers: vec!["786".into(), "666".into()],
            ..none()
        };
        assert!(!passes_filters(&f, "5786"));
        assert!(!passes_filters(&f, "66653"));
        assert!(passes_filters(&f, "5787"));
        let f = PinFilters {
            cyclic_numbers: PinFilters::default().cyclic_numbers,
            ..none()
        };
        assert!(!passes_filters(&f, "9142857"));
        assert!(!passes_filters(&f, "905882352941176473"));
        assert!(passes_filters(&f, "9142858"));
    }

    #[test]
    fn all_filters_off_accepts_any_digits() {
        assert!(passes_filters(&none(), "0000000000"));
        assert!(!passes_filters(&none(), "00000 0000"));
    }

    // ----- Parsing ---------------------------------------------------------------------------

    #[test]
    fn parse_errors() {
        let s = random_verhoeff(10);
        let good = with_check("502938475");
        assert_eq!(Pin::parse(&s, &good).unwrap().as_str(), good);
        assert_eq!(
            Pin::parse(&s, "123"),
            Err(PinError::WrongLength {
                expected: 10,
                found: 3
            })
        );
        assert_eq!(Pin::parse(&s, "50293847a5"), Err(PinError::NotDigits));
        assert_eq!(
            Pin::parse(&s, &format!(" {}", &good[1..])),
            Err(PinError::NotDigits)
        );
        assert!(matches!(
            Pin::parse(&s, &format!("{good} ")),
            Err(PinError::WrongLength { .. })
        ));
        let mut bad = good.clone().into_bytes();
        bad[9] = b'0' + (bad[9] - b'0' + 1) % 10;
        assert_eq!(
            Pin::parse(&s, std::str::from_utf8(&bad).unwrap()),
            Err(PinError::BadCheckDigit)
        );
        assert_eq!(
            Pin::parse(&random_verhoeff(9), "123456789"),
            Err(PinError::InvalidSchemeLength { length: 9 })
        );
        // vn-12: any century/sex digit, no check digit, province not checked.
        for d in 0..10 {
            let v = format!("099{d}85123456");
            assert_eq!(Pin::parse(&PinScheme::Vn12, &v).unwrap().to_string(), v);
        }
        assert!(matches!(
            Pin::parse(&PinScheme::Vn12, "0010851234567"),
            Err(PinError::WrongLength {
                expected: 12,
                found: 13
            })
        ));
        assert_eq!(
            Pin::parse(&PinScheme::Vn12, "001O85123456"),
            Err(PinError::NotDigits)
        );
        // Error messages are for humans.
        assert_eq!(
            PinError::WrongLength {
                expected: 10,
                found: 3
            }
            .to_string(),
            "a PIN must have 10 digits, this one has 3 characters"
        );
    }

    #[test]
    fn pin_serde_and_trusted() {
        let p = Pin::from_trusted("5029384756".to_owned());
        assert_eq!(serde_json::to_string(&p).unwrap(), r#""5029384756""#);
        let back: Pin = serde_json::from_str(r#""5029384756""#).unwrap();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<Pin>(r#""50293""#).is_err());
        assert!(serde_json::from_str::<Pin>(r#""50293x4756""#).is_err());
    }

    proptest! {
        #[test]
        fn parse_rejects_wrong_length(len in 0usize..20, length in 10u8..=12) {
            prop_assume!(len != usize::from(length));
            let s = "5".repeat(len);
            let is_wrong_length = matches!(
                Pin::parse(&random_verhoeff(length), &s),
                Err(PinError::WrongLength { .. })
            );
            prop_assert!(is_wrong_length);
        }

        #[test]
        fn parse_rejects_non_digits(
            body in "[0-9]{11}",
            pos in 0usize..11,
            c in prop::sample::select(vec![' ', 'a', '-', '\u{0661}', '\n', '.']),
        ) {
            let mut chars: Vec<char> = body.chars().collect();
            chars[pos] = c;
            let s: String = chars.into_iter().collect();
            prop_assert_eq!(Pin::parse(&random_verhoeff(11), &s), Err(PinError::NotDigits));
            let s12 = format!("{s}0");
            prop_assert_eq!(Pin::parse(&PinScheme::Vn12, &s12), Err(PinError::NotDigits));
        }

        #[test]
        fn generated_random_verhoeff_pins_are_valid(seed in any::<u64>(), length in 10u8..=12) {
            let scheme = random_verhoeff(length);
            let mut rng = StdRng::seed_from_u64(seed);
            let pin = generate_pin(&scheme, &PinContext::default(), &mut rng).unwrap();
            prop_assert_eq!(pin.as_str().len(), usize::from(length));
            prop_assert!(passes_filters(&PinFilters::default(), pin.as_str()));
            prop_assert!(verhoeff_is_valid(pin.as_str()));
            prop_assert_eq!(Pin::parse(&scheme, pin.as_str()), Ok(pin));
        }

        #[test]
        fn generated_vn12_pins_encode_the_record(
            seed in any::<u64>(),
            province in 0u8..100,
            female in any::<bool>(),
            year in 1900i32..=2399,
        ) {
            let sex = if female { Sex::Female } else { Sex::Male };
            let ctx = PinContext {
                birth_registration_province: Some(format!("{province:02}")),
                sex: Some(sex),
                birth_year: Some(year),
            };
            let mut rng = StdRng::seed_from_u64(seed);
            let pin = generate_pin(&PinScheme::Vn12, &ctx, &mut rng).unwrap();
            let s = pin.as_str();
            prop_assert_eq!(s.len(), 12);
            prop_assert_eq!(&s[0..3], format!("0{province:02}"));
            let century_sex: i32 = s[3..4].parse().unwrap();
            prop_assert_eq!(century_sex / 2, (year - 1900) / 100);
            prop_assert_eq!(century_sex % 2 == 1, female);
            prop_assert_eq!(&s[4..6], format!("{:02}", year % 100));
            prop_assert_eq!(1900 + 100 * (century_sex / 2) + s[4..6].parse::<i32>().unwrap(), year);
            prop_assert_eq!(Pin::parse(&PinScheme::Vn12, s), Ok(pin.clone()));
        }
    }

    #[test]
    fn vn12_century_sex_digits() {
        let gen = |year, sex| {
            let ctx = PinContext {
                birth_registration_province: Some("01".into()),
                sex: Some(sex),
                birth_year: Some(year),
            };
            let pin = generate_pin(&PinScheme::Vn12, &ctx, &mut StdRng::seed_from_u64(1)).unwrap();
            pin.as_str()[0..6].to_owned()
        };
        assert_eq!(gen(1985, Sex::Male), "001085");
        assert_eq!(gen(1999, Sex::Female), "001199");
        assert_eq!(gen(2000, Sex::Male), "001200");
        assert_eq!(gen(2024, Sex::Female), "001324");
        assert_eq!(gen(2100, Sex::Male), "001400");
        assert_eq!(gen(2250, Sex::Female), "001750");
        assert_eq!(gen(2399, Sex::Male), "001899");
        assert_eq!(gen(2399, Sex::Female), "001999");
    }

    #[test]
    fn vn12_unnumberable_records() {
        let ok = PinContext {
            birth_registration_province: Some("79".into()),
            sex: Some(Sex::Female),
            birth_year: Some(1990),
        };
        let mut rng = StdRng::seed_from_u64(7);
        assert!(generate_pin(&PinScheme::Vn12, &ok, &mut rng)
            .unwrap()
            .as_str()
            .starts_with("079190"));
        let three = PinContext {
            birth_registration_province: Some("704".into()),
            ..ok.clone()
        };
        assert!(generate_pin(&PinScheme::Vn12, &three, &mut rng)
            .unwrap()
            .as_str()
            .starts_with("704190"));
        let cases = [
            PinContext {
                sex: Some(Sex::Unknown),
                ..ok.clone()
            },
            PinContext {
                sex: None,
                ..ok.clone()
            },
            PinContext {
                birth_year: None,
                ..ok.clone()
            },
            PinContext {
                birth_year: Some(1899),
                ..ok.clone()
            },
            PinContext {
                birth_year: Some(2400),
                ..ok.clone()
            },
            PinContext {
                birth_registration_province: None,
                ..ok.clone()
            },
            PinContext {
                birth_registration_province: Some("7".into()),
                ..ok.clone()
            },
            PinContext {
                birth_registration_province: Some("HN".into()),
                ..ok.clone()
            },
            PinContext {
                birth_registration_province: Some("0079".into()),
                ..ok.clone()
            },
        ];
        let messages: Vec<String> = cases
            .iter()
            .map(|ctx| match generate_pin(&PinScheme::Vn12, ctx, &mut rng) {
                Err(e @ PinError::NotNumberable { .. }) => e.to_string(),
                other => format!("unexpected {other:?}"),
            })
            .collect();
        expect![[r#"
            this record cannot be given a vn-12 PIN: the sex is not known, and the number encodes it
            this record cannot be given a vn-12 PIN: the sex is not known, and the number encodes it
            this record cannot be given a vn-12 PIN: the year of birth is not known, and the number encodes it
            this record cannot be given a vn-12 PIN: the year of birth 1899 is outside 1900–2399, which the number can encode
            this record cannot be given a vn-12 PIN: the year of birth 2400 is outside 1900–2399, which the number can encode
            this record cannot be given a vn-12 PIN: the province where the birth was registered is not known
            this record cannot be given a vn-12 PIN: the birth registration province code "7" is not a 2- or 3-digit code
            this record cannot be given a vn-12 PIN: the birth registration province code "HN" is not a 2- or 3-digit code
            this record cannot be given a vn-12 PIN: the birth registration province code "0079" is not a 2- or 3-digit code
        "#]]
        .assert_eq(&(messages.join("\n") + "\n"));
    }

    #[test]
    fn generation_rejects_bad_schemes() {
        let mut rng = StdRng::seed_from_u64(0);
        for length in [0u8, 9, 13, 255] {
            assert_eq!(
                generate_pin(&random_verhoeff(length), &PinContext::default(), &mut rng),
                Err(PinError::InvalidSchemeLength { length })
            );
        }
        // Filters that reject everything exhaust the attempts instead of looping forever.
        let impossible = PinScheme::RandomVerhoeff {
            length: 10,
            filters: PinFilters {
                forbidden_first_digits: (0..10).collect(),
                ..none()
            },
        };
        assert!(matches!(
            generate_pin(&impossible, &PinContext::default(), &mut rng),
            Err(PinError::FiltersExhausted { .. })
        ));
    }

    #[test]
    fn generation_is_deterministic_for_a_seed() {
        // `StdRng` is only reproducible within one `rand` version; update this listing with
        // `UPDATE_EXPECT=1` if `rand` is upgraded.
        let mut rng = StdRng::seed_from_u64(20240601);
        let mut lines = Vec::new();
        for length in [10u8, 11, 12] {
            for _ in 0..3 {
                let pin = generate_pin(&random_verhoeff(length), &PinContext::default(), &mut rng)
                    .unwrap();
                lines.push(format!("random-verhoeff {length}: {pin}"));
            }
        }
        let ctx = PinContext {
            birth_registration_province: Some("01".into()),
            sex: Some(Sex::Male),
            birth_year: Some(2024),
        };
        for _ in 0..3 {
            let pin = generate_pin(&PinScheme::Vn12, &ctx, &mut rng).unwrap();
            lines.push(format!("vn-12: {pin}"));
        }
        expect![[r#"
            random-verhoeff 10: 8415790659
            random-verhoeff 10: 9453749069
            random-verhoeff 10: 7940637539
            random-verhoeff 11: 49627385632
            random-verhoeff 11: 93028946185
            random-verhoeff 11: 90310689760
            random-verhoeff 12: 251796305782
            random-verhoeff 12: 905621420183
            random-verhoeff 12: 317681952851
            vn-12: 001224126745
            vn-12: 001224638601
            vn-12: 001224074440
        "#]]
        .assert_eq(&(lines.join("\n") + "\n"));
    }
}

mod date_tests {
    use chrono::{Datelike, NaiveDate};
    use proptest::prelude::*;
    use thabian_model::date::{age_in_completed_years, DateError, PartialDate};

    fn pd(s: &str) -> PartialDate {
        s.parse().unwrap()
    }

    fn nd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Any valid partial date: year only, year-month, or a full date.
    fn partial_date() -> impl Strategy<Value = PartialDate> {
        (1i32..=9999, 1u8..=12, 1u8..=31, 0u8..3).prop_filter_map(
            "day must exist",
            |(y, m, d, kind)| match kind {
                0 => PartialDate::from_year(y).ok(),
                1 => PartialDate::from_year_month(y, m).ok(),
                _ => PartialDate::from_ymd(y, m, d).ok(),
            },
        )
    }

    fn naive_date() -> impl Strategy<Value = NaiveDate> {
        (1i32..=9999, 1u32..=366)
            .prop_filter_map("day of year", |(y, o)| NaiveDate::from_yo_opt(y, o))
    }

    #[test]
    fn leap_days() {
        assert_eq!(
            "2023-02-29".parse::<PartialDate>(),
            Err(DateError::NoSuchDay {
                year: 2023,
                month: 2,
                day: 29
            })
        );
        assert!("2024-02-29".parse::<PartialDate>().is_ok());
        assert!("1900-02-29".parse::<PartialDate>().is_err());
        assert!("2000-02-29".parse::<PartialDate>().is_ok());
        assert_eq!(pd("2024-02").latest(), nd(2024, 2, 29));
        assert_eq!(pd("2023-02").latest(), nd(2023, 2, 28));
    }

    #[test]
    fn strict_format() {
        for bad in [
            "",
            "24",
            "02024",
            "2024-2",
            "2024-02-1",
            "2024-2-01",
            "+2024",
            " 2024",
            "2024 ",
            "2024-",
            "2024--01",
            "2024-02-01-",
            "2024-02-01T00",
            "0000",
            "2024-00",
            "2024-13",
            "2024-01-00",
            "2024-01-32",
            "2024-04-31",
            "２０２４",
            "-001",
        ] {
            assert!(
                bad.parse::<PartialDate>().is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert_eq!(
            "2024-2".parse::<PartialDate>(),
            Err(DateError::BadFormat("2024-2".into()))
        );
        assert_eq!(pd("0001").to_string(), "0001");
        assert_eq!(pd("9999-12-31").to_string(), "9999-12-31");
        assert_eq!(
            PartialDate::new(2024, None, Some(3)),
            Err(DateError::DayWithoutMonth)
        );
        assert_eq!(
            PartialDate::from_year(10000),
            Err(DateError::YearOutOfRange(10000))
        );
        assert_eq!(
            PartialDate::from_year_month(2024, 13),
            Err(DateError::MonthOutOfRange(13))
        );
        assert_eq!(
            DateError::NoSuchDay {
                year: 2023,
                month: 2,
                day: 29
            }
            .to_string(),
            "2023-02 has no day 29"
        );
    }

    #[test]
    fn parts_and_bounds() {
        let y = pd("1987");
        assert_eq!((y.year(), y.month(), y.day()), (1987, None, None));
        assert_eq!(y.earliest(), nd(1987, 1, 1));
        assert_eq!(y.latest(), nd(1987, 12, 31));
        assert!(!y.is_full());
        assert_eq!(y.to_full(), None);
        let ym = pd("1987-06");
        assert_eq!(
            (ym.earliest(), ym.latest()),
            (nd(1987, 6, 1), nd(1987, 6, 30))
        );
        assert_eq!(ym.to_full(), None);
        let full = pd("1987-06-05");
        assert!(full.is_full());
        assert_eq!(full.to_full(), Some(nd(1987, 6, 5)));
        assert_eq!(PartialDate::try_from_date(nd(1987, 6, 5)), Ok(full));
        assert_eq!(PartialDate::from(nd(1987, 6, 5)), full);
        assert!(PartialDate::try_from_date(nd(0, 1, 1)).is_err());
        assert!(PartialDate::try_from_date(nd(10000, 1, 1)).is_err());
        assert_eq!(PartialDate::from(nd(0, 6, 1)), pd("0001-01-01"));
        assert_eq!(PartialDate::from(nd(10000, 6, 1)), pd("9999-12-31"));
        assert!(y.contains(nd(1987, 7, 1)));
        assert!(!ym.contains(nd(1987, 7, 1)));
    }

    #[test]
    fn uncertain_comparisons() {
        assert!(pd("2019").definitely_before(&pd("2020-01")));
        assert!(!pd("2020").definitely_before(&pd("2020-06")));
        assert!(!pd("2020").definitely_after(&pd("2020-06")));
        assert!(pd("2020-07").definitely_after(&pd("2020-06-30")));
        assert!(!pd("2020-06-30").definitely_before(&pd("2020-06-30")));
        assert!(pd("2020").may_be_after(nd(2020, 6, 1)));
        assert!(!pd("2020-05").may_be_after(nd(2020, 6, 1)));
        assert!(pd("2020").may_be_before(nd(2020, 6, 1)));
        assert!(!pd("2020-07").may_be_before(nd(2020, 6, 1)));
    }

    #[test]
    fn ordering_is_sort_key() {
        let mut v = [
            pd("2020-02"),
            pd("2020-01-01"),
            pd("2019-12-31"),
            pd("2020"),
            pd("2020-01"),
        ];
        v.sort();
        let s: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            s,
            ["2019-12-31", "2020", "2020-01", "2020-01-01", "2020-02"]
        );
        assert_eq!(pd("2020-03").sort_key(), (2020, 3, 0));
    }

    #[test]
    fn ages() {
        let b = pd("2000-06-15");
        assert_eq!(b.min_age_at(nd(2010, 6, 14)), 9);
        assert_eq!(b.min_age_at(nd(2010, 6, 15)), 10);
        assert_eq!(b.max_age_at(nd(2010, 6, 15)), 10);
        assert!(b.min_age_at(nd(1999, 1, 1)) < 0, "not born yet");
        // 29 February: a year older on 1 March in common years.
        let leap = pd("2000-02-29");
        assert_eq!(leap.min_age_at(nd(2001, 2, 28)), 0);
        assert_eq!(leap.min_age_at(nd(2001, 3, 1)), 1);
        assert_eq!(leap.min_age_at(nd(2004, 2, 28)), 3);
        assert_eq!(leap.min_age_at(nd(2004, 2, 29)), 4);
        // Year only: somewhere between 9 and 10 in mid-2010.
        let y = pd("2000");
        assert_eq!(
            (y.min_age_at(nd(2010, 6, 15)), y.max_age_at(nd(2010, 6, 15))),
            (9, 10)
        );
        assert_eq!(
            (
                y.min_age_at(nd(2010, 12, 31)),
                y.max_age_at(nd(2010, 12, 31))
            ),
            (10, 10)
        );
        let ym = pd("2000-06");
        assert_eq!(
            (
                ym.min_age_at(nd(2018, 6, 10)),
                ym.max_age_at(nd(2018, 6, 10))
            ),
            (17, 18)
        );
    }

    #[test]
    fn serde_as_string() {
        let d = pd("2024-02");
        assert_eq!(serde_json::to_string(&d).unwrap(), r#""2024-02""#);
        assert_eq!(
            serde_json::from_str::<PartialDate>(r#""2024-02""#).unwrap(),
            d
        );
        assert!(serde_json::from_str::<PartialDate>(r#""2024-2""#).is_err());
        assert!(serde_json::from_str::<PartialDate>("2024").is_err());
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(d in partial_date()) {
            let s = d.to_string();
            prop_assert_eq!(s.parse::<PartialDate>(), Ok(d));
            let json = serde_json::to_string(&d).unwrap();
            prop_assert_eq!(json.clone(), format!("\"{s}\""));
            prop_assert_eq!(serde_json::from_str::<PartialDate>(&json).unwrap(), d);
        }

        #[test]
        fn string_round_trip(y in 1i32..=9999, m in 0u8..=13, d in 0u8..=32, kind in 0u8..3) {
            let s = match kind {
                0 => format!("{y:04}"),
                1 => format!("{y:04}-{m:02}"),
                _ => format!("{y:04}-{m:02}-{d:02}"),
            };
            if let Ok(p) = s.parse::<PartialDate>() {
                prop_assert_eq!(p.to_string(), s);
            }
        }

        #[test]
        fn accepts_exactly_the_calendar_dates(y in 1i32..=9999, m in 0u8..=13, d in 0u8..=32) {
            let ours = PartialDate::from_ymd(y, m, d);
            let chrono = NaiveDate::from_ymd_opt(y, u32::from(m), u32::from(d));
            prop_assert_eq!(ours.is_ok(), chrono.is_some());
            if let (Ok(p), Some(c)) = (ours, chrono) {
                prop_assert_eq!(p.to_full(), Some(c));
                prop_assert_eq!(p.earliest(), c);
                prop_assert_eq!(p.latest(), c);
                prop_assert_eq!(PartialDate::try_from_date(c), Ok(p));
                prop_assert_eq!(PartialDate::from(c), p);
            }
            prop_assert_eq!(PartialDate::from_year_month(y, m).is_ok(), (1..=12).contains(&m));
        }

        #[test]
        fn every_calendar_date_is_accepted(c in naive_date()) {
            let p = PartialDate::from(c);
            prop_assert_eq!(p.to_string().parse::<PartialDate>(), Ok(p));
            prop_assert_eq!(p.to_string(), c.format("%Y-%m-%d").to_string());
        }

        #[test]
        fn comparisons_consistent_with_bounds(a in partial_date(), b in partial_date()) {
            prop_assert!(a.earliest() <= a.latest());
            prop_assert_eq!(a.definitely_before(&b), a.latest() < b.earliest());
            prop_assert_eq!(a.definitely_after(&b), a.earliest() > b.latest());
            prop_assert_eq!(a.definitely_before(&b), b.definitely_after(&a));
            prop_assert!(!(a.definitely_before(&b) && a.definitely_after(&b)));
            prop_assert!(!a.definitely_before(&a));
            prop_assert_eq!(a.cmp(&b), a.sort_key().cmp(&b.sort_key()));
            prop_assert_eq!(a == b, a.sort_key() == b.sort_key());
            if a.definitely_before(&b) {
                prop_assert!(a < b, "definitely before implies sorted before");
            }
        }

        #[test]
        fn may_be_after_consistent(a in partial_date(), on in naive_date()) {
            prop_assert_eq!(a.may_be_after(on), a.latest() > on);
            prop_assert_eq!(a.may_be_before(on), a.earliest() < on);
        }

        #[test]
        fn min_age_at_most_max_age(a in partial_date(), on in naive_date()) {
            let (min, max) = (a.min_age_at(on), a.max_age_at(on));
            prop_assert!(min <= max);
            prop_assert!(max - min <= 1, "a year of uncertainty is at most one year of age");
            if a.is_full() {
                prop_assert_eq!(min, max);
            }
        }

        #[test]
        fn age_on_birthdays(c in naive_date(), n in 0i32..100) {
            let p = PartialDate::from(c);
            // Same month and day n years later, when that day exists.
            if let Some(birthday) = c.with_year(c.year() + n) {
                prop_assert_eq!(p.min_age_at(birthday), n);
                prop_assert_eq!(p.max_age_at(birthday), n);
                if let Some(eve) = birthday.pred_opt() {
                    prop_assert_eq!(age_in_completed_years(c, eve), n - 1);
                }
            }
        }
    }
}

mod name_tests {
    use proptest::prelude::*;
    use thabian_model::name::{fold_for_search, normalize_name, script_of, NameError, Script};
    use unicode_normalization::UnicodeNormalization;

    #[test]
    fn vietnamese_folding() {
        assert_eq!(fold_for_search("Nguyễn Văn An"), "nguyen van an");
        assert_eq!(fold_for_search("Đặng"), "dang");
        assert_eq!(fold_for_search("đoàn THỊ  Hằng "), "doan thi hang");
        assert_eq!(fold_for_search("Trần Hưng Đạo"), "tran hung dao");
        let nfd: String = "Nguyễn Văn An".nfd().collect();
        assert_eq!(fold_for_search(&nfd), "nguyen van an");
        // A mark with no precomposed form is dropped from a Latin letter too.
        assert_eq!(fold_for_search("q\u{0301}"), "q");
    }

    #[test]
    fn lao_is_never_stripped() {
        let lao = "ສົມສັກ";
        assert_eq!(fold_for_search(lao), lao);
        assert_eq!(
            fold_for_search(lao).chars().collect::<Vec<_>>(),
            lao.chars().collect::<Vec<_>>()
        );
        assert_eq!(fold_for_search("ສົມສັກ  ພົມມະວົງ"), "ສົມສັກ ພົມມະວົງ");
        assert_eq!(fold_for_search("Bounmy ສົມສັກ Đức"), "bounmy ສົມສັກ duc");
        // Tone mark and vowel sign both kept.
        assert_eq!(fold_for_search("ກ່ີ"), "ກ່ີ".nfc().collect::<String>());
    }

    #[test]
    fn normalization() {
        assert_eq!(
            normalize_name("  Nguyễn   Văn\tAn \n").unwrap(),
            "Nguyễn Văn An"
        );
        let nfc = "Nguyễn Văn An";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfc, nfd);
        assert_eq!(normalize_name(&nfd).unwrap(), nfc);
        assert_eq!(normalize_name(nfc).unwrap(), nfc);
        assert_eq!(normalize_name("ສົມສັກ").unwrap(), "ສົມສັກ");
        assert_eq!(
            normalize_name("McDONALD o'Neil").unwrap(),
            "McDONALD o'Neil"
        );
        assert_eq!(normalize_name("a\u{00A0}\u{3000}b").unwrap(), "a b");
        assert_eq!(normalize_name(""), Err(NameError::Empty));
        assert_eq!(normalize_name(" \t\n "), Err(NameError::Empty));
        assert_eq!(
            normalize_name("An\u{0000}"),
            Err(NameError::ControlCharacter { codepoint: 0 })
        );
        assert!(normalize_name("An\u{001B}[0m").is_err());
        assert!(normalize_name("An\u{007F}").is_err());
        assert!(
            normalize_name("An\u{0085}").is_ok(),
            "NEL is whitespace: collapsed"
        );
        assert!(normalize_name(&"a".repeat(200)).is_ok());
        assert_eq!(
            normalize_name(&"a".repeat(201)),
            Err(NameError::TooLong {
                max: 200,
                found: 201
            })
        );
        // Length counts characters after NFC: 200 NFD "ễ" (3 code points each) are fine.
        assert!(normalize_name(&"ễ".nfd().collect::<String>().repeat(200)).is_ok());
    }

    #[test]
    fn scripts() {
        assert_eq!(script_of("Nguyễn Văn An"), Script::Latin);
        assert_eq!(script_of("ສົມສັກ ພົມມະວົງ"), Script::Lao);
        assert_eq!(script_of("Bounmy ສົມສັກ"), Script::Mixed);
        assert_eq!(script_of("Иван"), Script::Other);
        assert_eq!(script_of("Ivan Иван"), Script::Mixed);
        assert_eq!(script_of("123 -"), Script::Other);
        assert_eq!(script_of(""), Script::Other);
        assert_eq!(script_of("O'Brien-Smith 3rd"), Script::Latin);
        assert_eq!(serde_json::to_string(&Script::Lao).unwrap(), r#""lao""#);
        assert_eq!(
            serde_json::from_str::<Script>(r#""mixed""#).unwrap(),
            Script::Mixed
        );
    }

    /// A Vietnamese letter with any tone mark, in either case.
    fn vietnamese_word() -> impl Strategy<Value = String> {
        let letters: Vec<char> = "aăâbcdđeêghiklmnoôơpqrstuưvxy".chars().collect();
        let tones = vec![
            "", "\u{0300}", "\u{0301}", "\u{0309}", "\u{0303}", "\u{0323}",
        ];
        prop::collection::vec(
            (
                prop::sample::select(letters),
                prop::sample::select(tones),
                any::<bool>(),
            ),
            1..8,
        )
        .prop_map(|parts| {
            parts
                .into_iter()
                .map(|(l, t, upper)| {
                    let s: String = format!("{l}{t}").nfc().collect();
                    if upper {
                        s.to_uppercase()
                    } else {
                        s
                    }
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn normalize_name_is_idempotent(s in any::<String>()) {
            if let Ok(n) = normalize_name(&s) {
                prop_assert_eq!(normalize_name(&n), Ok(n.clone()));
            }
        }

        #[test]
        fn normalize_name_is_idempotent_on_names(
            s in "[ \t\\PC]{0,40}",
            marks in prop::collection::vec(prop::sample::select(vec!['\u{0301}', '\u{0323}', '\u{0EC8}', '\u{0EB4}', ' ']), 0..5),
        ) {
            let s = format!("{s}{}", marks.into_iter().collect::<String>());
            if let Ok(n) = normalize_name(&s) {
                prop_assert_eq!(normalize_name(&n), Ok(n.clone()));
                let nfd: String = n.nfd().collect();
                prop_assert_eq!(normalize_name(&nfd), Ok(n.clone()));
            }
        }

        /// Folding starts from NFC, skipping the normalisation when a quick check says the text
        /// already is: any input folds as its NFC and NFD forms do.
        #[test]
        fn folding_does_not_depend_on_the_normal_form(
            s in "[ \\PC]{0,30}",
            marks in prop::collection::vec(prop::sample::select(vec!['\u{0301}', '\u{0323}', '\u{0EC8}', '\u{0EB4}', '\u{0130}', 'ẞ']), 0..5),
        ) {
            let s = format!("{s}{}", marks.into_iter().collect::<String>());
            let folded = fold_for_search(&s);
            prop_assert_eq!(fold_for_search(&s.nfc().collect::<String>()), folded.clone());
            prop_assert_eq!(fold_for_search(&s.nfd().collect::<String>()), folded);
        }

        #[test]
        fn vietnamese_folds_to_ascii(words in prop::collection::vec(vietnamese_word(), 1..4)) {
            let name = words.join(" ");
            let folded = fold_for_search(&name);
            prop_assert!(folded.chars().all(|c| c.is_ascii_lowercase() || c == ' '), "{}", folded);
            let bases = name.nfd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).count();
            prop_assert_eq!(folded.chars().count(), bases);
            let nfd: String = name.nfd().collect();
            prop_assert_eq!(fold_for_search(&nfd), folded.clone());
            prop_assert_eq!(fold_for_search(&folded), folded);
        }
    }
}

mod card_tests {
    use chrono::NaiveDate;
    use std::collections::HashMap;
    use thabian_model::card::{
        card_expiry, effective_status, ApplicationReason, BiometricRef, CardChange, CardEvent,
        CardStatus,
    };
    use thabian_model::date::PartialDate;
    use thabian_model::event::{Event, EventPayload, LegalBasis, EVENT_SCHEMA};
    use thabian_model::person::Person;
    use thabian_model::pin::Pin;
    use thabian_model::profile::{builtin, AdminTree, Profile};
    use thabian_model::rules::{check, RuleContext};

    fn profile(code: &str) -> Profile {
        builtin(code).unwrap().unwrap()
    }

    fn nd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn person(pin: &str, dob: &str) -> Person {
        serde_json::from_value(serde_json::json!({
            "pin": pin,
            "names": {"national": {"family": "Nguyễn", "given": "An"}},
            "sex": "male",
            "date_of_birth": dob,
            "place_of_birth": "01",
            "nationalities": ["VNM"],
            "ethnicity": null, "religion": null,
            "father": {"type": "unknown"}, "mother": {"type": "unknown"},
            "spouse": null, "permanent_residence": null, "temporary_residence": null,
            "household": null, "status": "living", "date_of_death": null, "place_of_death": null,
            "version": 1
        }))
        .unwrap()
    }

    fn face() -> BiometricRef {
        BiometricRef {
            id: "face-1".into(),
            sha256: "ab".repeat(32),
            format: "image/jpeg".into(),
            position: None,
        }
    }

    fn applied(number: &str, reason: ApplicationReason, replaces: Option<&str>) -> CardChange {
        CardChange::Applied {
            number: number.into(),
            reason,
            replaces: replaces.map(str::to_owned),
            face: face(),
            fingerprints: Vec::new(),
        }
    }

    /// Checks a card event against the rules and, when accepted, folds it into the record.
    struct Holder {
        profile: Profile,
        areas: AdminTree,
        person: Person,
        today: NaiveDate,
        seq: u64,
    }

    impl Holder {
        fn new(code: &str, pin: &str, dob: &str) -> Holder {
            let profile = profile(code);
            let areas = profile.admin_tree();
            Holder {
                profile,
                areas,
                person: person(pin, dob),
                today: nd(2026, 12, 7),
                seq: 10,
            }
        }

        fn record(&mut self, actor: &str, card: &str, change: CardChange) -> Result<(), String> {
            self.seq += 1;
            let event = Event {
                schema: EVENT_SCHEMA,
                id: format!("e{}", self.seq),
                seq: self.seq,
                effective: PartialDate::try_from_date(self.today).unwrap(),
                recorded_at: String::new(),
                office: "01".into(),
                actor: actor.into(),
                legal_basis: LegalBasis {
                    act: "Identification Law 2023".into(),
                    document_ref: None,
                },
                idempotency_key: None,
                payload: EventPayload::Card(CardEvent {
                    pin: self.person.pin.clone(),
                    card: card.into(),
                    change,
                }),
            };
            let persons: HashMap<Pin, Person> =
                [(self.person.pin.clone(), self.person.clone())].into();
            let ctx = RuleContext {
                today: self.today,
                profile: &self.profile,
                areas: &self.areas,
                persons: &persons,
                households: &HashMap::new(),
            };
            check(&event, &ctx).map_err(|v| v.code.to_owned())?;
            let pin = self.person.pin.clone();
            self.person = Person::apply(Some(self.person.clone()), &pin, &event).unwrap();
            Ok(())
        }

        fn status(&self, card: &str) -> CardStatus {
            self.person
                .cards
                .iter()
                .find(|c| c.id == card)
                .unwrap()
                .status
        }

        fn produce(&mut self, card: &str) {
            self.record("supervisor", card, CardChange::Approved)
                .unwrap();
            self.record("bureau", card, CardChange::Batched { batch: "B1".into() })
                .unwrap();
            self.record(
                "bureau",
                card,
                CardChange::Personalised {
                    date_of_issue: self.today,
                    date_of_expiry: Some(nd(2036, 12, 7)),
                    document_signer: "01".into(),
                    sod_sha256: "cd".repeat(32),
                    reason: None,
                },
            )
            .unwrap();
            self.record("clerk", card, CardChange::Issued).unwrap();
        }
    }

    #[test]
    fn a_card_goes_through_its_life_and_a_replacement_supersedes_it() {
        let mut h = Holder::new("la", "2345678901", "1990-05-01");
        h.record(
            "clerk",
            "c1",
            applied("L00000001", ApplicationReason::First, None),
        )
        .unwrap();
        assert_eq!(
            h.record("clerk", "c1", CardChange::Approved),
            Err("four-eyes".into())
        );
        assert_eq!(
            h.record("bureau", "c1", CardChange::Issued),
            Err("invalid-card-transition".into())
        );
        assert_eq!(
            h.record(
                "clerk",
                "c2",
                applied("L00000002", ApplicationReason::First, None)
            ),
            Err("card-application-pending".into())
        );
        h.produce("c1");
        assert_eq!(h.status("c1"), CardStatus::Issued);
        h.record("clerk", "c1", CardChange::Activated).unwrap();
        h.record("police", "c1", CardChange::ReportedLost).unwrap();
        assert_eq!(h.status("c1"), CardStatus::Lost);
        assert_eq!(
            h.record("clerk", "c1", CardChange::Activated),
            Err("invalid-card-transition".into())
        );
        assert_eq!(
            h.record(
                "clerk",
                "c2",
                applied("L00000002", ApplicationReason::First, None)
            ),
            Err("not-first-card".into())
        );
        h.record(
            "clerk",
            "c2",
            applied("L00000002", ApplicationReason::Replacement, Some("c1")),
        )
        .unwrap();
        h.produce("c2");
        h.record("clerk", "c2", CardChange::Activated).unwrap();
        assert_eq!(h.status("c1"), CardStatus::Lost);
        assert_eq!(h.status("c2"), CardStatus::Active);
        let valid = h
            .person
            .cards
            .iter()
            .filter(|c| c.status.is_valid())
            .count();
        assert_eq!(valid, 1);
    }

    #[test]
    fn a_renewal_supersedes_the_valid_card_only_when_issued() {
        let mut h = Holder::new("la", "2345678901", "1990-05-01");
        h.record(
            "clerk",
            "c1",
            applied("L00000001", ApplicationReason::First, None),
        )
        .unwrap();
        h.produce("c1");
        h.record(
            "clerk",
            "c2",
            applied("L00000003", ApplicationReason::Renewal, None),
        )
        .map(|_| ())
        .expect_err("a renewal names the card it renews");
        h.record(
            "clerk",
            "c2",
            applied("L00000003", ApplicationReason::Renewal, Some("c1")),
        )
        .unwrap();
        assert_eq!(
            h.status("c1"),
            CardStatus::Issued,
            "still the holder's card"
        );
        h.produce("c2");
        assert_eq!(h.status("c1"), CardStatus::Replaced);
        assert_eq!(h.status("c2"), CardStatus::Issued);
        assert_eq!(
            h.record("police", "c1", CardChange::ReportedStolen),
            Err("invalid-card-transition".into())
        );
    }

    #[test]
    fn suspension_reasons_numbers_and_dead_holders() {
        let mut h = Holder::new("vn", "001090012345", "1990-05-01");
        assert_eq!(
            h.record(
                "clerk",
                "c1",
                applied("L00000001", ApplicationReason::First, None)
            ),
            Err("invalid-card-number".into()),
            "a Vietnamese card number is the PIN"
        );
        h.record(
            "clerk",
            "c1",
            applied("001090012345", ApplicationReason::First, None),
        )
        .unwrap();
        h.produce("c1");
        assert_eq!(
            h.record("police", "c1", CardChange::Suspended { reason: " ".into() }),
            Err("reason-required".into())
        );
        h.record(
            "police",
            "c1",
            CardChange::Suspended {
                reason: "court order 12/2026".into(),
            },
        )
        .unwrap();
        h.record("police", "c1", CardChange::Reinstated).unwrap();
        assert_eq!(h.status("c1"), CardStatus::Active);
        h.person.status = thabian_model::person::Status::Deceased;
        h.record(
            "clerk",
            "c1",
            CardChange::Revoked {
                reason: "holder died".into(),
            },
        )
        .unwrap();
        assert_eq!(
            h.record(
                "clerk",
                "c2",
                applied("001090012345", ApplicationReason::Renewal, Some("c1"))
            ),
            Err("person-not-living".into())
        );
    }

    #[test]
    fn card_events_happen_on_the_day_they_are_recorded() {
        let mut h = Holder::new("la", "2345678901", "1990-05-01");
        h.record(
            "clerk",
            "c1",
            applied("L00000001", ApplicationReason::First, None),
        )
        .unwrap();
        let persons: HashMap<Pin, Person> = [(h.person.pin.clone(), h.person.clone())].into();
        let event = Event {
            schema: EVENT_SCHEMA,
            id: "x".into(),
            seq: 99,
            effective: PartialDate::try_from_date(nd(2026, 12, 1)).unwrap(),
            recorded_at: String::new(),
            office: "01".into(),
            actor: "supervisor".into(),
            legal_basis: LegalBasis {
                act: "Law".into(),
                document_ref: None,
            },
            idempotency_key: None,
            payload: EventPayload::Card(CardEvent {
                pin: h.person.pin.clone(),
                card: "c1".into(),
                change: CardChange::Approved,
            }),
        };
        let ctx = RuleContext {
            today: h.today,
            profile: &h.profile,
            areas: &h.areas,
            persons: &persons,
            households: &HashMap::new(),
        };
        assert_eq!(
            check(&event, &ctx).unwrap_err().code,
            "effective-date-mismatch"
        );
    }

    #[test]
    fn lao_cards_last_ten_years_then_twenty_and_for_life_from_sixty() {
        let la = profile("la");
        let v = &la.card.validity;
        let dob = PartialDate::parse("2010-03-15").unwrap();
        assert_eq!(
            card_expiry(v, &dob, nd(2025, 12, 17), true),
            Some(nd(2035, 12, 17))
        );
        assert_eq!(
            card_expiry(v, &dob, nd(2035, 12, 1), false),
            Some(nd(2055, 12, 1))
        );
        let old = PartialDate::parse("1960-01-01").unwrap();
        assert_eq!(card_expiry(v, &old, nd(2026, 1, 1), false), None);
        assert_eq!(
            card_expiry(
                v,
                &PartialDate::parse("2000-02-29").unwrap(),
                nd(2024, 2, 29),
                true
            ),
            Some(nd(2034, 2, 28)),
            "29 February becomes 28 February in a common year"
        );
    }

    #[test]
    fn vietnamese_cards_expire_at_the_renewal_ages() {
        let vn = profile("vn");
        let v = &vn.card.validity;
        let dob = PartialDate::parse("2000-06-10").unwrap();
        // Issued at 14: valid until the 25th birthday.
        assert_eq!(
            card_expiry(v, &dob, nd(2014, 7, 1), true),
            Some(nd(2025, 6, 10))
        );
        // Issued at 22: still the 25th birthday (more than two years before it).
        assert_eq!(
            card_expiry(v, &dob, nd(2022, 7, 1), false),
            Some(nd(2025, 6, 10))
        );
        // Issued at 23, within two years of 25: valid until 40.
        assert_eq!(
            card_expiry(v, &dob, nd(2023, 7, 1), false),
            Some(nd(2040, 6, 10))
        );
        // Issued at 58, within two years of 60: for life.
        assert_eq!(card_expiry(v, &dob, nd(2058, 7, 1), false), None);
        // An unknown day and month count from the earliest birth date the record allows.
        let partial = PartialDate::parse("2000").unwrap();
        assert_eq!(
            card_expiry(v, &partial, nd(2014, 7, 1), true),
            Some(nd(2025, 1, 1))
        );
    }

    #[test]
    fn a_valid_card_past_its_expiry_counts_as_expired() {
        let mut h = Holder::new("la", "2345678901", "1990-05-01");
        h.record(
            "clerk",
            "c1",
            applied("L00000001", ApplicationReason::First, None),
        )
        .unwrap();
        h.produce("c1");
        let card = h.person.cards[0].clone();
        assert_eq!(effective_status(&card, nd(2036, 12, 7)), CardStatus::Issued);
        assert_eq!(
            effective_status(&card, nd(2036, 12, 8)),
            CardStatus::Expired
        );
    }

    #[test]
    fn a_personalised_card_is_personalised_again_only_with_a_reason_and_before_issue() {
        let mut h = Holder::new("la", "2345678901", "1990-05-01");
        h.record(
            "clerk",
            "c1",
            applied("L00000001", ApplicationReason::First, None),
        )
        .unwrap();
        h.record("supervisor", "c1", CardChange::Approved).unwrap();
        h.record("bureau", "c1", CardChange::Batched { batch: "B1".into() })
            .unwrap();
        let personalised = |sod: &str, reason: Option<&str>| CardChange::Personalised {
            date_of_issue: nd(2026, 12, 7),
            date_of_expiry: Some(nd(2036, 12, 7)),
            document_signer: "01".into(),
            sod_sha256: sod.repeat(32),
            reason: reason.map(str::to_owned),
        };
        h.record("bureau", "c1", personalised("aa", None)).unwrap();
        for reason in [None, Some("  ")] {
            assert_eq!(
                h.record("bureau", "c1", personalised("bb", reason)),
                Err("reason-required".into())
            );
        }
        h.record("bureau", "c1", personalised("bb", Some("chip spoiled")))
            .unwrap();
        let card = h.person.cards[0].clone();
        assert_eq!(card.status, CardStatus::Personalised);
        assert_eq!(card.sod_sha256.as_deref(), Some("bb".repeat(32).as_str()));
        assert_eq!(card.status_reason.as_deref(), Some("chip spoiled"));
        h.record("clerk", "c1", CardChange::Issued).unwrap();
        assert_eq!(h.person.cards[0].status_reason, None);
        assert_eq!(
            h.record("bureau", "c1", personalised("cc", Some("again"))),
            Err("invalid-card-transition".into())
        );
    }

    #[test]
    fn an_expiry_is_recorded_only_after_the_date_of_expiry_and_once() {
        let mut h = Holder::new("la", "2345678901", "1990-05-01");
        h.record(
            "clerk",
            "c1",
            applied("L00000001", ApplicationReason::First, None),
        )
        .unwrap();
        h.produce("c1");
        h.record("clerk", "c1", CardChange::Activated).unwrap();
        let expiry = h.person.cards[0].date_of_expiry.unwrap();
        // On its date of expiry the card is still valid.
        h.today = expiry;
        assert_eq!(
            h.record("supervisor", "c1", CardChange::Expired),
            Err("card-not-expired".into())
        );
        h.today = expiry.succ_opt().unwrap();
        h.record("supervisor", "c1", CardChange::Expired).unwrap();
        assert_eq!(h.status("c1"), CardStatus::Expired);
        assert_eq!(
            h.record("supervisor", "c1", CardChange::Expired),
            Err("invalid-card-transition".into())
        );

        // A card reported lost keeps that status past its expiry: a border check must still
        // see "lost".
        let mut h = Holder::new("la", "2345678902", "1990-05-01");
        h.record(
            "clerk",
            "c1",
            applied("L00000002", ApplicationReason::First, None),
        )
        .unwrap();
        h.produce("c1");
        h.record("police", "c1", CardChange::ReportedLost).unwrap();
        h.today = h.person.cards[0]
            .date_of_expiry
            .unwrap()
            .succ_opt()
            .unwrap();
        assert_eq!(
            h.record("supervisor", "c1", CardChange::Expired),
            Err("invalid-card-transition".into())
        );

        // A card valid for life (personalised without a date of expiry) never expires.
        let mut h = Holder::new("la", "2345678903", "1950-05-01");
        h.record(
            "clerk",
            "c1",
            applied("L00000003", ApplicationReason::First, None),
        )
        .unwrap();
        h.produce("c1");
        h.person.cards[0].date_of_expiry = None;
        h.today = nd(2090, 1, 1);
        assert_eq!(
            h.record("supervisor", "c1", CardChange::Expired),
            Err("card-not-expired".into())
        );
    }

    #[test]
    fn card_events_round_trip_and_keep_their_kind() {
        let event = EventPayload::Card(CardEvent {
            pin: serde_json::from_value(serde_json::json!("2345678901")).unwrap(),
            card: "c1".into(),
            change: CardChange::Suspended {
                reason: "court order".into(),
            },
        });
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(
            text,
            r#"{"type":"card","pin":"2345678901","card":"c1","change":{"action":"suspended","reason":"court order"}}"#
        );
        assert_eq!(serde_json::from_str::<EventPayload>(&text).unwrap(), event);
        assert_eq!(event.kind(), "card_suspended");
        assert!(EventPayload::KINDS.contains(&event.kind()));
    }
}
