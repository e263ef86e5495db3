//! Demo data for a newcomer's first start: a few families registered through the real write
//! path (imports of the parents, their marriage, households, births of their children), and
//! demo officials with tokens to try every API at once. Never used unless `--demo` is given.
use anyhow::Context;
use chrono::Duration;
use thabian_model::date::PartialDate;
use thabian_model::event::{EventPayload, ImportedRecord, LegalBasis, PersonParticulars};
use thabian_model::person::{
    Membership, Names, ParentRef, PersonName, Relationship, Residence, Status,
};
use thabian_model::pin::Pin;
use thabian_model::sex::Sex;
use thabian_register::{Change, NewOfficial, Register, RequestContext, Role, Submission};

pub struct DemoTokens {
    pub supervisor: String,
    pub registrar: String,
    pub registrar_jurisdiction: String,
    pub service_account: String,
    pub auditor: String,
    pub sample_pins: Vec<String>,
}

struct Family {
    husband: (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
    ),
    wife: (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
    ),
    child: (
        &'static str,
        &'static str,
        Option<&'static str>,
        Sex,
        &'static str,
    ),
}

fn families(profile_code: &str) -> Vec<Family> {
    if profile_code == "vn" {
        vec![
            Family {
                husband: ("Nguyễn", "An", Some("Văn"), "1985-03-12"),
                wife: ("Trần", "Lan", Some("Thị"), "1988-07-01"),
                child: ("Nguyễn", "Minh", Some("Đức"), Sex::Male, "2015-09-20"),
            },
            Family {
                husband: ("Lê", "Hùng", Some("Quốc"), "1979"),
                wife: ("Phạm", "Hoa", Some("Thị"), "1982-11-30"),
                child: ("Lê", "Mai", Some("Thanh"), Sex::Female, "2010-02-14"),
            },
        ]
    } else {
        vec![
            Family {
                husband: ("ພົມມະຈັນ", "ສົມສັກ", None, "1984-05-02"),
                wife: ("ພົມມະຈັນ", "ບົວພັນ", None, "1987-01-15"),
                child: ("ພົມມະຈັນ", "ຄຳແພງ", None, Sex::Male, "2016-04-10"),
            },
            Family {
                husband: ("ສີສຸວັນ", "ບຸນມີ", None, "1978"),
                wife: ("ສີສຸວັນ", "ນາງແກ້ວ", None, "1981-09-09"),
                child: ("ສີສຸວັນ", "ດາວເຮືອງ", None, Sex::Female, "2011-12-01"),
            },
        ]
    }
}

fn name(family: &str, given: &str, middle: Option<&str>) -> Names {
    Names {
        national: PersonName {
            family: Some(family.into()),
            middle: middle.map(Into::into),
            given: given.into(),
        },
        latin: None,
    }
}

fn latin_names(profile_code: &str, n: Names) -> Names {
    // Lao records carry a romanized name too (the profile requires it); a fixed romanization of
    // the demo names keeps the demo self-contained.
    if profile_code != "la" {
        return n;
    }
    let romanize = |s: &str| -> String {
        match s {
            "ພົມມະຈັນ" => "Phommachanh",
            "ສົມສັກ" => "Somsak",
            "ບົວພັນ" => "Bouaphanh",
            "ຄຳແພງ" => "Khamphaeng",
            "ສີສຸວັນ" => "Sisouvanh",
            "ບຸນມີ" => "Bounmy",
            "ນາງແກ້ວ" => "Nangkeo",
            "ດາວເຮືອງ" => "Daoheuang",
            other => other,
        }
        .to_owned()
    };
    let latin = PersonName {
        family: n.national.family.as_deref().map(romanize),
        middle: None,
        given: romanize(&n.national.given),
    };
    Names {
        national: n.national,
        latin: Some(latin),
    }
}

fn date(s: &str) -> anyhow::Result<PartialDate> {
    PartialDate::parse(s).map_err(|e| anyhow::anyhow!("demo date {s}: {e}"))
}

pub async fn seed(register: &Register, admin: &RequestContext) -> anyhow::Result<DemoTokens> {
    let profile = register.profile().clone();
    let provinces: Vec<String> = profile.admin_areas.iter().map(|a| a.code.clone()).collect();
    let home = provinces
        .first()
        .cloned()
        .context("profile without areas")?;
    let other = provinces.get(1).cloned().unwrap_or_else(|| home.clone());
    let mk = |id: &str, name: &str, role: Role, jurisdiction: &str, office: &str| NewOfficial {
        id: id.into(),
        name: name.into(),
        role,
        jurisdiction: jurisdiction.into(),
        office: office.into(),
    };
    let officials = [
        mk(
            "demo-supervisor",
            "Demo supervisor (national)",
            Role::Supervisor,
            "*",
            &home,
        ),
        mk(
            "demo-registrar",
            "Demo registrar",
            Role::Registrar,
            &home,
            &home,
        ),
        mk(
            "demo-ministry",
            "Demo ministry system",
            Role::ServiceAccount,
            "*",
            &home,
        ),
        mk("demo-auditor", "Demo auditor", Role::Auditor, "*", &home),
    ];
    let mut tokens = Vec::new();
    for o in officials {
        let id = o.id.clone();
        register.create_official(admin, o).await?;
        tokens.push(
            register
                .issue_token(admin, &id, "demo", Duration::days(30))
                .await?
                .token,
        );
    }
    let supervisor = RequestContext {
        principal: register.authenticate(&tokens[0]).await?,
        purpose: Some("demo data".into()),
        client: None,
    };
    let basis = LegalBasis {
        act: "Demo data (not a legal registration)".into(),
        document_ref: None,
    };
    let nationality = profile.nationality_code.clone();
    let mut sample = Vec::new();
    for (i, f) in families(&profile.code).into_iter().enumerate() {
        let area = if i == 0 { home.clone() } else { other.clone() };
        let residence = |since: &str| -> anyhow::Result<Residence> {
            Ok(Residence {
                area: area.clone(),
                address_lines: vec![format!("House {}", 10 + i)],
                since: date(since)?,
            })
        };
        let import = |who: (&str, &str, Option<&str>, &str),
                      sex: Sex,
                      n: usize|
         -> anyhow::Result<Submission> {
            let particulars = PersonParticulars {
                names: latin_names(&profile.code, name(who.0, who.1, who.2)),
                sex,
                date_of_birth: date(who.3)?,
                place_of_birth: area.clone(),
                nationalities: vec![nationality.clone()],
                ethnicity: None,
                religion: None,
                father: ParentRef::Unknown,
                mother: ParentRef::Unknown,
            };
            let record = ImportedRecord {
                pin: Pin::from_trusted(String::new()),
                particulars,
                spouse: None,
                permanent_residence: Some(residence("2005-01-01")?),
                temporary_residence: None,
                household: None,
                status: Status::Living,
                date_of_death: None,
                source_id: format!("demo-{i}-{n}"),
            };
            Ok(Submission {
                change: Change::Import {
                    pin: None,
                    record: Box::new(record),
                },
                effective: date("2005-01-01")?,
                legal_basis: basis.clone(),
                office: Some(area.clone()),
                idempotency_key: Some(format!("demo-import-{i}-{n}")),
                target: None,
                if_match: None,
            })
        };
        let husband = register
            .submit(&supervisor, import(f.husband, Sex::Male, 0)?)
            .await?
            .pin
            .context("pin")?;
        let wife = register
            .submit(&supervisor, import(f.wife, Sex::Female, 1)?)
            .await?
            .pin
            .context("pin")?;
        let event = |change: Change, effective: &str| -> anyhow::Result<Submission> {
            Ok(Submission {
                change,
                effective: date(effective)?,
                legal_basis: basis.clone(),
                office: Some(area.clone()),
                idempotency_key: None,
                target: None,
                if_match: None,
            })
        };
        register
            .submit(
                &supervisor,
                event(
                    Change::Event(EventPayload::MarriageRegistered {
                        a: husband.clone(),
                        b: wife.clone(),
                    }),
                    "2008-06-01",
                )?,
            )
            .await?;
        let household = register
            .submit(
                &supervisor,
                event(
                    Change::CreateHousehold {
                        head: husband.clone(),
                        area: area.clone(),
                        address_lines: vec![format!("House {}", 10 + i)],
                    },
                    "2008-06-01",
                )?,
            )
            .await?
            .household
            .context("household")?;
        register
            .submit(
                &supervisor,
                event(
                    Change::Event(EventPayload::HouseholdJoined {
                        household: household.clone(),
                        pin: wife.clone(),
                        relationship: Relationship::Spouse,
                    }),
                    "2008-06-02",
                )?,
            )
            .await?;
        let c = f.child;
        let birth = Change::Birth {
            particulars: PersonParticulars {
                names: latin_names(&profile.code, name(c.0, c.1, c.2)),
                sex: c.3,
                date_of_birth: date(c.4)?,
                place_of_birth: area.clone(),
                nationalities: vec![nationality.clone()],
                ethnicity: None,
                religion: None,
                father: ParentRef::Registered {
                    pin: husband.clone(),
                },
                mother: ParentRef::Registered { pin: wife.clone() },
            },
            residence: Some(residence(c.4)?),
            household: Some(Membership {
                household: household.clone(),
                relationship: Relationship::Child,
            }),
        };
        let child = register
            .submit(&supervisor, event(birth, c.4)?)
            .await?
            .pin
            .context("pin")?;
        sample.extend([husband.to_string(), wife.to_string(), child.to_string()]);
    }
    Ok(DemoTokens {
        supervisor: tokens[0].clone(),
        registrar: tokens[1].clone(),
        registrar_jurisdiction: home,
        service_account: tokens[2].clone(),
        auditor: tokens[3].clone(),
        sample_pins: sample,
    })
}
