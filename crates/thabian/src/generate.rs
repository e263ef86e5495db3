//! `thabian generate`: a synthetic population as legacy-register NDJSON (the input of
//! `thabian import`), deterministic for a seed, streamed (memory does not grow with `--people`).
//! See `thabian-synth` for the model.
use anyhow::{bail, Context};
use chrono::NaiveDate;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Output buffers: large enough that writing costs a syscall per few hundred records.
const BUFFER: usize = 256 * 1024;

#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Country profile: a built-in code (la, vn) or a profile JSON file.
    #[arg(long, default_value = "la")]
    pub profile: String,
    /// Admin areas below the provinces (CSV or JSON, as for `serve`): people are spread over
    /// the lowest-level areas; without it, over the provinces.
    #[arg(long)]
    pub areas_file: Option<PathBuf>,
    /// Number of original persons (broken lines included, duplicates are extra lines).
    #[arg(long)]
    pub people: u64,
    /// Seed: the same seed and options give byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Probability (0-1) that a person also appears as a duplicate record with errors.
    #[arg(long, default_value_t = 0.0)]
    pub duplicates: f64,
    /// Probability (0-1) that a person's line is replaced by a deliberately broken one.
    #[arg(long, default_value_t = 0.0)]
    pub broken: f64,
    /// Where to write the duplicates' ground truth (CSV
    /// `duplicate_source_id,original_source_id,errors`); required with --duplicates.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Where to write the list of broken lines (CSV `line,source_id,reason`); required with
    /// --broken.
    #[arg(long)]
    pub broken_list: Option<PathBuf>,
    /// The day the data describes (ages are computed on it).
    #[arg(long, default_value = "2026-01-01")]
    pub as_of: NaiveDate,
    /// Output file; default: standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    if args.duplicates > 0.0 && args.truth.is_none() {
        bail!("--duplicates needs --truth FILE (which line duplicates which)");
    }
    if args.broken > 0.0 && args.broken_list.is_none() {
        bail!("--broken needs --broken-list FILE (which lines are broken, and why)");
    }
    let profile = crate::load_profile(&args.profile)?;
    let areas = crate::load_areas(&profile, args.areas_file.as_deref())?;
    let config = thabian_synth::Config {
        people: args.people,
        seed: args.seed,
        duplicates: args.duplicates,
        broken: args.broken,
        as_of: args.as_of,
    };
    let lines = thabian_synth::generate(&profile, &areas, &config)?;

    let create = |path: &Path| -> anyhow::Result<BufWriter<File>> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(BufWriter::with_capacity(BUFFER, file))
    };
    let mut truth = args.truth.as_deref().map(create).transpose()?;
    let mut broken = args.broken_list.as_deref().map(create).transpose()?;
    let stdout = std::io::stdout();
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(create(path)?),
        None => Box::new(BufWriter::with_capacity(BUFFER, stdout.lock())),
    };
    let summary = thabian_synth::write_ndjson(
        lines,
        &mut out,
        truth.as_mut().map(|w| w as &mut dyn Write),
        broken.as_mut().map(|w| w as &mut dyn Write),
    )
    .context("writing the population")?;
    out.flush().context("writing the population")?;
    for (writer, path) in [(truth, &args.truth), (broken, &args.broken_list)] {
        if let (Some(mut w), Some(path)) = (writer, path) {
            w.flush()
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    eprintln!(
        "generated {} lines: {} persons ({} as broken lines), {} duplicates",
        summary.lines, summary.originals, summary.broken, summary.duplicates
    );
    Ok(())
}
