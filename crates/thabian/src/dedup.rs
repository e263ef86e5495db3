//! `thabian dedup` and `thabian person search`: the CLI edge of the register's record linkage.
use anyhow::Context;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use thabian_model::linkage::{at_threshold, precision_recall_curve, SearchQuery, Thresholds};
use thabian_register::dedup::{DedupReport, DedupSettings, FoundPair};
use thabian_register::Role;

use crate::Platform;

#[derive(Debug, clap::Args)]
pub struct DedupArgs {
    /// Where the candidate pairs go (CSV: pin_a, pin_b, probability, weight, verdict, agreement:
    /// a letter per field, given family middle date_of_birth sex place_of_birth residence father
    /// mother address, E exact, C close, S similar, D disagree, M missing).
    #[arg(long, default_value = "duplicate-pairs.csv")]
    pub out: PathBuf,
    /// Report pairs at or above this posterior probability.
    #[arg(long, default_value_t = 0.5)]
    pub report_from: f64,
    /// Skip blocks (persons sharing one key) larger than this.
    #[arg(long, default_value_t = 200)]
    pub max_block: usize,
    /// Open a review case for every likely pair.
    #[arg(long)]
    pub queue: bool,
    /// Do not store the estimated model (by default the register's checks use it from now on).
    #[arg(long)]
    pub no_save_model: bool,
    /// Why the pass is run (recorded in the access log).
    #[arg(long, default_value = "duplicate clean-up")]
    pub purpose: String,
    /// Pairs whose truth is known, to measure the pass against (CSV with a header; the first
    /// two columns name the two records, by the source id they were imported under or by PIN).
    /// With a column `same_person` (true/false) the file is a labelled sample and the pass is
    /// measured on those pairs only; without it, it lists every pair of records of one person
    /// (as `thabian generate --truth` writes it), and every other pair counts as two people.
    /// Precision, recall and F1 go to stderr and, as JSON, to `--evaluation`.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Where the measurement against `--truth` goes (JSON).
    #[arg(long, requires = "truth")]
    pub evaluation: Option<PathBuf>,
}

pub async fn run_dedup(platform: &Platform, args: &DedupArgs) -> anyhow::Result<DedupReport> {
    let ctx = crate::operator_context(platform, Role::Supervisor, &args.purpose, "cli").await?;
    let truth = match &args.truth {
        Some(path) => Some(read_truth(platform, path).await?),
        None => None,
    };
    let settings = DedupSettings {
        max_block: args.max_block,
        // Measuring needs the pairs below the reporting threshold too (the curve, and how many
        // true pairs were compared at all); the file still gets only those at `report_from`.
        report_from: if truth.is_some() {
            args.report_from.min(EVALUATED_FROM)
        } else {
            args.report_from
        },
        save_model: !args.no_save_model,
        ..DedupSettings::default()
    };
    let report = platform.register.dedup(&ctx, &settings).await?;
    write_pairs(&args.out, &report, args.report_from)?;
    let queued = if args.queue {
        platform.register.queue_pairs(&ctx, &report.pairs).await?
    } else {
        0
    };
    let likely = report
        .pairs
        .iter()
        .filter(|p| p.verdict == thabian_model::linkage::Verdict::Likely)
        .count();
    eprintln!(
        "{} persons, {} keys in {} blocks ({} skipped as too large), {} distinct pairs compared\n\
         model {}{} (EM: {} iterations, converged: {}, prior {:.2e})\n\
         {} pairs reported ({} likely) to {}{}\n\
         load {:.1} s, blocking {:.1} s, training {:.1} s, scoring {:.1} s",
        report.persons,
        report.keys,
        report.blocks,
        report.blocks_skipped,
        report.distinct_pairs,
        report.model_id.as_deref().unwrap_or("(not saved)"),
        if report.trained {
            ", estimated now"
        } else {
            ", in use (too few persons to estimate one)"
        },
        report.model.training().iterations,
        report.model.training().converged,
        report.model.prior(),
        report
            .pairs
            .iter()
            .filter(|p| p.probability >= args.report_from)
            .count(),
        likely,
        args.out.display(),
        if args.queue {
            format!(", {queued} review cases opened")
        } else {
            String::new()
        },
        report.load_seconds,
        report.block_seconds,
        report.train_seconds,
        report.score_seconds,
    );
    if let Some(truth) = &truth {
        let v = evaluate(&report.pairs, truth);
        let line = |key: &str| {
            let p = &v[key];
            format!(
                "precision {:.4}, recall {:.4}, F1 {:.4} ({} true, {} false)",
                p["precision"].as_f64().unwrap_or(0.0),
                p["recall"].as_f64().unwrap_or(0.0),
                p["f1"].as_f64().unwrap_or(0.0),
                p["true_positives"],
                p["false_positives"]
            )
        };
        eprintln!(
            "against {} ({} pairs of one person{}):
  likely (p >= {}): {}
  possible (p >= {}): {}
  best F1 on the curve: {:.4} at p >= {:.4}
  compared at all (blocking recall): {:.4}",
            args.truth
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            v["same_person_pairs"],
            if truth.different.is_some() {
                ", a labelled sample"
            } else {
                ""
            },
            Thresholds::DEFAULT.likely,
            line("at_likely"),
            Thresholds::DEFAULT.possible,
            line("at_possible"),
            v["best_f1"]["f1"].as_f64().unwrap_or(0.0),
            v["best_f1"]["threshold"].as_f64().unwrap_or(0.0),
            v["blocking_recall"].as_f64().unwrap_or(0.0),
        );
        if let Some(path) = &args.evaluation {
            std::fs::write(path, serde_json::to_string_pretty(&v)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(report)
}

/// Pairs below this posterior are not kept for a measurement: their share of true pairs is
/// reported as not compared.
pub const EVALUATED_FROM: f64 = 0.001;

/// Pairs whose truth is known, as PIN pairs (the smaller PIN first).
pub struct Truth {
    /// Pairs of records of one person.
    pub same: HashSet<(String, String)>,
    /// A labelled sample's pairs of two people; `None`: `same` is complete, every other pair is
    /// two people.
    pub different: Option<HashSet<(String, String)>>,
    /// Rows whose records are not in the register (not imported, or refused).
    pub unresolved: usize,
}

fn ordered(a: String, b: String) -> (String, String) {
    if a < b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Reads a truth file (see [`DedupArgs::truth`]): identifiers are looked up as import source
/// ids first, then taken as PINs when they parse as one.
pub async fn read_truth(platform: &Platform, path: &std::path::Path) -> anyhow::Result<Truth> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let label = reader
        .headers()?
        .iter()
        .position(|h| h.trim() == "same_person");
    let mut rows = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let (Some(a), Some(b)) = (row.get(0), row.get(1)) else {
            anyhow::bail!(
                "{}: row {}: two identifiers expected",
                path.display(),
                i + 2
            );
        };
        let same = match label.map(|l| row.get(l).unwrap_or("").trim().to_ascii_lowercase()) {
            None => true,
            Some(v) if ["true", "1", "yes", "same"].contains(&v.as_str()) => true,
            Some(v) if ["false", "0", "no", "different"].contains(&v.as_str()) => false,
            Some(v) => anyhow::bail!(
                "{}: row {}: same_person is {v:?}, not true or false",
                path.display(),
                i + 2
            ),
        };
        rows.push((a.trim().to_owned(), b.trim().to_owned(), same));
    }
    let mut ids: Vec<String> = rows
        .iter()
        .flat_map(|(a, b, _)| [a.clone(), b.clone()])
        .collect();
    ids.sort();
    ids.dedup();
    let mut pin_of: HashMap<String, String> = HashMap::new();
    for chunk in ids.chunks(1000) {
        for k in platform
            .store
            .import_keys(thabian_store::IMPORT_PERSON, chunk)
            .await?
        {
            pin_of.insert(k.source_id, k.value);
        }
    }
    let pin = |id: &str| -> Option<String> {
        pin_of.get(id).cloned().or_else(|| {
            thabian_model::pin::Pin::parse(&platform.register.profile().pin, id)
                .ok()
                .map(|p| p.to_string())
        })
    };
    let mut truth = Truth {
        same: HashSet::new(),
        different: label.map(|_| HashSet::new()),
        unresolved: 0,
    };
    for (a, b, same) in rows {
        let (Some(a), Some(b)) = (pin(&a), pin(&b)) else {
            truth.unresolved += 1;
            continue;
        };
        let pair = ordered(a, b);
        match (same, truth.different.as_mut()) {
            (true, _) => {
                truth.same.insert(pair);
            }
            (false, Some(d)) => {
                d.insert(pair);
            }
            (false, None) => {}
        }
    }
    Ok(truth)
}

/// The pass's pairs measured against `truth`: precision, recall and F1 at the register's
/// thresholds and at 0.99, the curve and its best point, the share of true pairs compared at
/// all, and the commonest agreement patterns among the errors at the likely threshold.
pub fn evaluate(pairs: &[FoundPair], truth: &Truth) -> serde_json::Value {
    // (probability, is a true pair), over the pairs the truth speaks of.
    let scored: Vec<(f64, bool)> = pairs
        .iter()
        .filter_map(|p| {
            let key = ordered(p.a.to_string(), p.b.to_string());
            let same = truth.same.contains(&key);
            match &truth.different {
                Some(d) if !same && !d.contains(&key) => None,
                _ => Some((p.probability, same)),
            }
        })
        .collect();
    let total = truth.same.len();
    let compared = scored.iter().filter(|(_, t)| *t).count();
    let at = |t: f64| serde_json::to_value(at_threshold(&scored, total, t)).unwrap_or_default();
    let curve = precision_recall_curve(&scored, total);
    let best = curve
        .iter()
        .max_by(|a, b| a.f1.total_cmp(&b.f1))
        .map(|p| serde_json::to_value(p).unwrap_or_default())
        .unwrap_or_default();
    json!({
        "same_person_pairs": total,
        "labelled_different_pairs": truth.different.as_ref().map(HashSet::len),
        "unresolved_rows": truth.unresolved,
        "evaluated_from": EVALUATED_FROM,
        "blocking_recall": compared as f64 / total.max(1) as f64,
        "at_likely": at(Thresholds::DEFAULT.likely),
        "at_possible": at(Thresholds::DEFAULT.possible),
        "at_0_99": at(0.99),
        "best_f1": best,
        "curve": serde_json::to_value(curve).unwrap_or_default(),
        "errors_at_likely": error_patterns(pairs, truth, Thresholds::DEFAULT.likely),
    })
}

/// The commonest agreement patterns among the false positives and the missed pairs at
/// `threshold`, to see where the model errs. A pattern has one letter per field in
/// `Field::ALL` order (given, family, middle, date of birth, sex, place of birth, residence,
/// father, mother, address): Exact, Close, Similar, Disagree, Missing.
fn error_patterns(pairs: &[FoundPair], truth: &Truth, threshold: f64) -> serde_json::Value {
    let mut false_positives: HashMap<String, (u64, f64)> = HashMap::new();
    let mut missed: HashMap<String, (u64, f64)> = HashMap::new();
    for p in pairs {
        let key = ordered(p.a.to_string(), p.b.to_string());
        let is_true = truth.same.contains(&key);
        if !is_true && truth.different.as_ref().is_some_and(|d| !d.contains(&key)) {
            continue;
        }
        let bucket = match (is_true, p.probability >= threshold) {
            (false, true) => &mut false_positives,
            (true, false) => &mut missed,
            _ => continue,
        };
        let e = bucket.entry(p.comparison.pattern()).or_default();
        e.0 += 1;
        e.1 += p.weight;
    }
    let top = |m: HashMap<String, (u64, f64)>| -> serde_json::Value {
        let total: u64 = m.values().map(|v| v.0).sum();
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by(|x, y| y.1 .0.cmp(&x.1 .0).then(x.0.cmp(&y.0)));
        json!({
            "total": total,
            "top": v.into_iter().take(15).map(|(pattern, (n, w))| json!({
                "pattern": pattern, "pairs": n, "mean_weight": w / n.max(1) as f64,
            })).collect::<Vec<_>>(),
        })
    };
    json!({
        "fields": "given family middle date_of_birth sex place_of_birth residence father mother address; E exact, C close, S similar, D disagree, M missing",
        "threshold": threshold,
        "false_positives": top(false_positives),
        "missed": top(missed),
    })
}

fn write_pairs(path: &PathBuf, report: &DedupReport, from: f64) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "pin_a,pin_b,probability,weight,verdict,agreement")?;
    for p in report.pairs.iter().filter(|p| p.probability >= from) {
        let verdict = match p.verdict {
            thabian_model::linkage::Verdict::Likely => "likely",
            thabian_model::linkage::Verdict::Possible => "possible",
            thabian_model::linkage::Verdict::Unlikely => "unlikely",
        };
        writeln!(
            out,
            "{},{},{:.6},{:.3},{verdict},{}",
            p.a,
            p.b,
            p.probability,
            p.weight,
            p.comparison.pattern()
        )?;
    }
    out.flush()?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Any script, any part order, with or without diacritics.
    #[arg(long)]
    pub name: Option<String>,
    /// YYYY-MM-DD, YYYY-MM or YYYY.
    #[arg(long)]
    pub dob: Option<String>,
    /// ± years around the year of birth.
    #[arg(long, default_value_t = 0)]
    pub year_window: u8,
    /// male, female, unknown.
    #[arg(long)]
    pub sex: Option<String>,
    #[arg(long)]
    pub place_of_birth: Option<String>,
    #[arg(long)]
    pub residence: Option<String>,
    #[arg(long)]
    pub father_name: Option<String>,
    #[arg(long)]
    pub mother_name: Option<String>,
    #[arg(long, default_value_t = 10)]
    pub limit: u32,
    /// Why you search (recorded in the access log).
    #[arg(long, default_value = "cli")]
    pub purpose: String,
}

pub async fn run_search(platform: &Platform, args: &SearchArgs) -> anyhow::Result<()> {
    let ctx = crate::operator_context(platform, Role::Supervisor, &args.purpose, "cli").await?;
    let date_of_birth = args
        .dob
        .as_deref()
        .map(thabian_model::date::PartialDate::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--dob: {e}"))?;
    let sex = args
        .sex
        .as_deref()
        .map(|s| serde_json::from_value(serde_json::Value::String(s.to_owned())))
        .transpose()
        .map_err(|_| anyhow::anyhow!("--sex is male, female or unknown"))?;
    let query = SearchQuery {
        name: args.name.clone(),
        date_of_birth,
        year_window: args.year_window,
        sex,
        place_of_birth: args.place_of_birth.clone(),
        residence: args.residence.clone(),
        father_name: args.father_name.clone(),
        mother_name: args.mother_name.clone(),
    };
    let page = platform
        .register
        .search(&ctx, &query, 0, args.limit)
        .await?;
    println!(
        "{} ranked (model {}){}",
        page.total,
        page.model,
        if page.truncated {
            ", candidate set cut: narrow the query"
        } else {
            ""
        }
    );
    for hit in &page.hits {
        let who = hit
            .person
            .as_ref()
            .map(|p| {
                let n = &p.names.national;
                let latin = p
                    .names
                    .latin
                    .as_ref()
                    .map(|l| format!(" ({} {})", l.given, l.family.as_deref().unwrap_or("")))
                    .unwrap_or_default();
                format!(
                    "{} {} {}{latin}, born {}",
                    n.family.as_deref().unwrap_or(""),
                    n.middle.as_deref().unwrap_or(""),
                    n.given,
                    p.date_of_birth
                )
            })
            .unwrap_or_default();
        println!(
            "{:>7.2}  {}  {}",
            hit.score,
            hit.pin,
            who.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        for f in &hit.fields {
            println!(
                "           {:<15} {:<9} {:>6.2}  {}",
                f.field.as_str(),
                f.level.as_str(),
                f.weight,
                f.how
            );
        }
    }
    Ok(())
}

/// After a migration: the whole-register pass over what is now in the register (the imported
/// records against each other and against earlier ones), the model re-estimated from it, the
/// pairs written to `out` and the likely ones queued for review.
pub async fn after_import(
    register: &thabian_register::Register,
    ctx: &thabian_register::RequestContext,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    // The first import of a register estimates the model; later ones keep it (a file of new
    // people would teach EM a register with hardly any duplicates left). `thabian dedup`
    // re-estimates it on purpose.
    let in_use = register.linkage_model().await?.id;
    let settings = DedupSettings {
        train: in_use == thabian_register::dedup::INITIAL_MODEL,
        ..DedupSettings::default()
    };
    let report = register.dedup(ctx, &settings).await?;
    write_pairs(&out.to_path_buf(), &report, settings.report_from)?;
    // Review cases only on a model estimated from a register (EM's starting values would open
    // cases for relatives and namesakes).
    let calibrated = report.model_id.as_deref() != Some(thabian_register::dedup::INITIAL_MODEL);
    let queued = if calibrated {
        register.queue_pairs(ctx, &report.pairs).await?
    } else {
        0
    };
    eprintln!(
        "duplicate check: {} persons, {} candidate pairs compared in {:.1} s; {} pairs written to {}, \
         {queued} likely duplicates queued for review{}",
        report.persons,
        report.distinct_pairs,
        report.load_seconds + report.block_seconds + report.train_seconds + report.score_seconds,
        report.pairs.len(),
        out.display(),
        if report.trained { "; linkage model re-estimated" } else { "" },
    );
    Ok(())
}
