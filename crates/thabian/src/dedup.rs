//! `thabian dedup` and `thabian person search`: the CLI edge of the register's record linkage.
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use thabian_model::linkage::SearchQuery;
use thabian_register::dedup::{DedupReport, DedupSettings};
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
}

pub async fn run_dedup(platform: &Platform, args: &DedupArgs) -> anyhow::Result<DedupReport> {
    let ctx = crate::operator_context(platform, Role::Supervisor, &args.purpose, "cli").await?;
    let settings = DedupSettings {
        max_block: args.max_block,
        report_from: args.report_from,
        save_model: !args.no_save_model,
        ..DedupSettings::default()
    };
    let report = platform.register.dedup(&ctx, &settings).await?;
    write_pairs(&args.out, &report)?;
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
        report.pairs.len(),
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
    Ok(report)
}

fn write_pairs(path: &PathBuf, report: &DedupReport) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "pin_a,pin_b,probability,weight,verdict,agreement")?;
    for p in &report.pairs {
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
    write_pairs(&out.to_path_buf(), &report)?;
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
