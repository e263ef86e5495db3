//! Demo data for a newcomer's first start: a few families registered through the real write
//! path (imports of the parents, their marriage, households, births of their children), and
//! demo officials with tokens to try every API at once; then a generated population (see
//! [`populate`]) imported like a legacy register. Never used unless `--demo` is given.
use crate::import::{Format, ImportOptions, Progress};
use anyhow::Context;
use chrono::Duration;
use std::path::{Path, PathBuf};
use thabian_model::date::PartialDate;
use thabian_model::event::{EventPayload, ImportedRecord, LegalBasis, PersonParticulars};
use thabian_model::legacy::LegacyRecord;
use thabian_model::person::{
    Membership, Names, ParentRef, PersonName, Relationship, Residence, Status,
};
use thabian_model::pin::Pin;
use thabian_model::profile::{AdminTree, NamePart, Profile};
use thabian_model::sex::Sex;
use thabian_register::import::ImportSettings;
use thabian_register::{
    Change, NewOfficial, Principal, Register, RequestContext, Role, Submission,
};
use thabian_store::{IMPORT_HOUSEHOLD, IMPORT_PERSON};

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

/// The seed of the generated demo population: the same people on every fresh start.
pub const POPULATION_SEED: u64 = 1;
/// The generated population's file in the data directory while it is imported. Removed once the
/// import is complete (`thabian generate --people N --seed 1` writes the same file again); a file
/// left behind is an interrupted import, which the next `serve --demo` finishes.
pub const POPULATION_FILE: &str = "demo-population.ndjson";
/// Where the import lists refused records (kept only when there are some).
pub const POPULATION_ERRORS: &str = "demo-population.errors.csv";

/// A person of the generated population, to try the API on.
pub struct Example {
    /// What they are in their household: `household head`, `spouse`, `child`.
    pub label: &'static str,
    pub pin: String,
    pub name: String,
}

/// What [`populate`] imported.
pub struct DemoPopulation {
    pub summary: crate::import::ImportSummary,
    /// A household head, their spouse (if any) and a child of theirs.
    pub examples: Vec<Example>,
    /// The register's number of the examples' household.
    pub household: Option<String>,
    /// The list of refused records, when there were any.
    pub errors: Option<PathBuf>,
}

/// Whether an earlier `serve --demo` left its population file behind, unfinished.
pub fn population_pending(data_dir: &Path) -> bool {
    data_dir.join(POPULATION_FILE).exists()
}

/// Generates `people` persons for the register's profile and areas (seed [`POPULATION_SEED`])
/// into [`POPULATION_FILE`] in `data_dir`, unless an interrupted run left that file, and imports
/// it through the register's write path like `thabian import` would, as the administrator acting
/// as a national supervisor, under a legal basis that says it is demo data. `None` when the
/// profile has no synthetic-population data.
pub async fn populate(
    register: &Register,
    admin: &RequestContext,
    data_dir: &Path,
    people: u64,
) -> anyhow::Result<Option<DemoPopulation>> {
    let path = data_dir.join(POPULATION_FILE);
    let profile = register.profile();
    if path.exists() {
        tracing::info!(file = %path.display(), "finishing the demo population import an earlier start left unfinished");
    } else {
        if !thabian_synth::supported_profiles().contains(&profile.code.as_str()) {
            tracing::warn!(
                profile = %profile.code,
                "no synthetic-population data for this profile: the demo has the hand-written families only"
            );
            return Ok(None);
        }
        tracing::info!(people, seed = POPULATION_SEED, file = %path.display(), "generating the demo population");
        let (profile, areas, out) = (profile.clone(), register.areas().clone(), path.clone());
        tokio::task::spawn_blocking(move || write_population(&profile, &areas, people, &out))
            .await??;
    }
    tracing::info!(
        "importing the demo population: two passes through the register's write path (check and reserve PINs, then one record_imported event per person); the API answers once this is done"
    );
    let ctx = RequestContext {
        principal: Principal {
            role: Role::Supervisor,
            ..admin.principal.clone()
        },
        purpose: Some("demo population import".into()),
        client: admin.client.clone(),
    };
    let errors = data_dir.join(POPULATION_ERRORS);
    let options = ImportOptions {
        format: Format::Ndjson,
        mapping: Vec::new(),
        batch_size: 5_000,
        settings: ImportSettings {
            legal_basis: LegalBasis {
                act: "Demo data (not a legal registration)".into(),
                document_ref: Some(format!(
                    "thabian generate --seed {POPULATION_SEED} ({POPULATION_FILE})"
                )),
            },
            office: None,
            settle: false,
            check_duplicates: true,
        },
        errors: errors.clone(),
        progress: Progress::Auto,
    };
    let summary = crate::import::run(register, &ctx, &path, &options).await?;
    tracing::info!(
        imported = summary.imported,
        already_imported = summary.already_imported,
        refused = summary.rejected,
        seconds = (summary.seconds * 10.0).round() / 10.0,
        persons_per_second = summary.persons_per_second.round(),
        "demo population imported"
    );
    crate::dedup::after_import(register, &ctx, &data_dir.join("demo-duplicates.csv")).await?;
    let (examples, household) = examples(register, &path).await?;
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    let errors = if summary.rejected > 0 {
        Some(errors)
    } else {
        std::fs::remove_file(&errors).with_context(|| format!("removing {}", errors.display()))?;
        None
    };
    Ok(Some(DemoPopulation {
        summary,
        examples,
        household,
        errors,
    }))
}

fn write_population(
    profile: &Profile,
    areas: &AdminTree,
    people: u64,
    path: &Path,
) -> anyhow::Result<()> {
    // Written aside and renamed: the file in its place is always complete.
    let part = path.with_extension("ndjson.part");
    let file =
        std::fs::File::create(&part).with_context(|| format!("creating {}", part.display()))?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let lines = thabian_synth::generate(
        profile,
        areas,
        // A few duplicates, as a real migration brings: the duplicate check after the import
        // queues them for review (GET /v1/review-cases as the supervisor).
        &thabian_synth::Config {
            duplicates: 0.005,
            ..thabian_synth::Config::new(people, POPULATION_SEED)
        },
    )?;
    let summary = thabian_synth::write_ndjson(lines, &mut out, None, None)
        .with_context(|| format!("writing {}", part.display()))?;
    out.into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {}", part.display(), e.error()))?
        .sync_all()?;
    std::fs::rename(&part, path).with_context(|| format!("renaming {}", part.display()))?;
    tracing::info!(persons = summary.originals, "demo population generated");
    Ok(())
}

/// The first household of the file with a living head and a living child of theirs: the head,
/// the spouse and the child, with their PINs as imported, and the household's number.
async fn examples(
    register: &Register,
    path: &Path,
) -> anyhow::Result<(Vec<Example>, Option<String>)> {
    use std::io::BufRead;
    let input = std::io::BufReader::new(
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
    );
    let living = |r: &LegacyRecord| matches!(r.status, None | Some(Status::Living));
    let mut household: Vec<LegacyRecord> = Vec::new();
    let mut found = None;
    // Households are written one after the other; a few thousand lines hold many.
    for line in input.lines().take(20_000) {
        let Ok(record) = LegacyRecord::from_json_line(&line?) else {
            continue;
        };
        if household.first().map(|r| &r.household) != Some(&record.household) {
            if let Some(f) = pick(&household, living) {
                found = Some(f);
                break;
            }
            household.clear();
        }
        household.push(record);
    }
    let Some((members, source_household)) = found.or_else(|| pick(&household, living)) else {
        return Ok((Vec::new(), None));
    };
    let ids: Vec<String> = members.iter().map(|(_, r)| r.source_id.clone()).collect();
    let keys = register.store().import_keys(IMPORT_PERSON, &ids).await?;
    let pins: Vec<String> = keys.iter().map(|k| k.value.clone()).collect();
    let present: Vec<String> = register
        .store()
        .persons(&pins)
        .await?
        .into_iter()
        .map(|p| p.pin)
        .collect();
    let mut out = Vec::new();
    for (label, r) in members {
        let pin = keys
            .iter()
            .find(|k| k.source_id == r.source_id)
            .map(|k| k.value.clone())
            .filter(|pin| present.contains(pin));
        if let Some(pin) = pin {
            out.push(Example {
                label,
                pin,
                name: display_name(&register.profile().name_parts.display_order, &r),
            });
        }
    }
    let number = match source_household {
        Some(id) => register
            .store()
            .import_keys(IMPORT_HOUSEHOLD, &[id])
            .await?
            .into_iter()
            .next()
            .map(|k| k.value),
        None => None,
    };
    Ok((out, number))
}

type Picked = (Vec<(&'static str, LegacyRecord)>, Option<String>);

fn pick(household: &[LegacyRecord], living: impl Fn(&LegacyRecord) -> bool) -> Option<Picked> {
    let head = household
        .iter()
        .find(|r| r.relationship == Some(Relationship::Head) && living(r))?;
    let id = Some(&head.source_id);
    let child = household
        .iter()
        .find(|r| (r.father.as_ref() == id || r.mother.as_ref() == id) && living(r))?;
    let spouse = household
        .iter()
        .find(|r| r.spouse.as_ref() == id && r.relationship == Some(Relationship::Spouse));
    let mut members = vec![("household head", head.clone())];
    members.extend(spouse.map(|s| ("spouse", s.clone())));
    members.push(("child", child.clone()));
    Some((members, head.household.clone()))
}

/// The record's name in the profile's display order, with its romanization if it has one.
fn display_name(order: &[NamePart], r: &LegacyRecord) -> String {
    let join = |family: Option<&str>, middle: Option<&str>, given: Option<&str>| -> String {
        order
            .iter()
            .filter_map(|part| match part {
                NamePart::Family => family,
                NamePart::Middle => middle,
                NamePart::Given => given,
            })
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let national = join(
        r.family_name.as_deref(),
        r.middle_name.as_deref(),
        Some(r.given_name.as_str()),
    );
    match &r.given_name_latin {
        Some(given) => format!(
            "{national} ({})",
            join(
                r.family_name_latin.as_deref(),
                r.middle_name_latin.as_deref(),
                Some(given.as_str()),
            )
        ),
        None => national,
    }
}

/// The "where to look" block `serve --demo` prints before it starts answering: the addresses,
/// the tokens as shell variables (the names the README's tour uses) and people to look up.
pub fn print_guide(
    out: &mut impl std::io::Write,
    addr: std::net::SocketAddr,
    admin_token: Option<&str>,
    tokens: Option<&DemoTokens>,
    population: Option<&DemoPopulation>,
) -> std::io::Result<()> {
    let api = format!("http://{addr}");
    writeln!(out, "\nThabian demo: where to look")?;
    writeln!(out, "  API:     {api}/v1")?;
    writeln!(
        out,
        "  OpenAPI: {api}/openapi.json (every endpoint, its parameters and errors)"
    )?;
    writeln!(out, "  health:  {api}/healthz   metrics: {api}/metrics")?;
    if let Some(p) = population {
        let s = &p.summary;
        writeln!(
            out,
            "  people:  {} generated persons imported ({:.1} s, {:.0} persons/s), besides the hand-written families",
            s.imported + s.already_imported,
            s.seconds,
            s.persons_per_second
        )?;
        if let Some(errors) = &p.errors {
            writeln!(
                out,
                "           {} refused, listed in {}",
                s.rejected,
                errors.display()
            )?;
        }
    }
    writeln!(
        out,
        "\nPaste into a shell, then follow \"A five-minute tour\" in README.md:"
    )?;
    writeln!(out, "  API={api}")?;
    match admin_token {
        Some(t) => writeln!(out, "  ADMIN={t}   # administrator (shown once)")?,
        None => writeln!(
            out,
            "  # administrator: token printed at the first start (new one: thabian admin issue-token --official admin)"
        )?,
    }
    match tokens {
        Some(t) => {
            writeln!(out, "  SUP={}   # national supervisor", t.supervisor)?;
            writeln!(
                out,
                "  REG={}   # registrar of area {}",
                t.registrar, t.registrar_jurisdiction
            )?;
            writeln!(
                out,
                "  MIN={}   # ministry service account",
                t.service_account
            )?;
            writeln!(out, "  AUD={}   # auditor", t.auditor)?;
        }
        None => writeln!(
            out,
            "  # demo officials' tokens: printed at the first start"
        )?,
    }
    let mut people: Vec<(String, String)> = Vec::new();
    if let Some(p) = population {
        for (i, e) in p.examples.iter().enumerate() {
            let var = match e.label {
                "household head" => "HEAD".to_owned(),
                "spouse" => "SPOUSE".to_owned(),
                "child" => "CHILD".to_owned(),
                _ => format!("PERSON{i}"),
            };
            writeln!(out, "  {var}={}   # {}: {}", e.pin, e.label, e.name)?;
            people.push((var, e.label.to_owned()));
        }
        if let Some(h) = &p.household {
            writeln!(out, "  HOUSEHOLD={h}   # their household")?;
        }
    }
    if people.is_empty() {
        if let Some(t) = tokens {
            for (i, pin) in t.sample_pins.iter().enumerate() {
                let role = ["husband", "wife", "child"][i % 3];
                writeln!(
                    out,
                    "  PIN{}={pin}   # {role}, hand-written family {}",
                    i + 1,
                    i / 3 + 1
                )?;
            }
            if !t.sample_pins.is_empty() {
                people.push(("PIN1".into(), "household head".into()));
            }
            if t.sample_pins.len() >= 3 {
                people.push(("PIN3".into(), "child".into()));
            }
        }
    }
    if tokens.is_some() {
        let read = "curl -H \"Authorization: Bearer $SUP\" -H 'Purpose: tour'";
        if let Some((head, _)) = people.first() {
            writeln!(out, "  {read} $API/v1/persons/${head}")?;
        }
        if let Some((child, _)) = people.iter().find(|(_, l)| l == "child") {
            writeln!(out, "  {read} $API/v1/persons/${child}/relatives")?;
        }
        if population.is_some_and(|p| p.household.is_some()) {
            writeln!(out, "  {read} $API/v1/households/$HOUSEHOLD")?;
        }
        writeln!(
            out,
            "  curl -H \"Authorization: Bearer $MIN\" \"$API/v1/events?after=0&kinds=record_imported&limit=3\""
        )?;
    }
    writeln!(out, "Serving.")?;
    out.flush()
}
