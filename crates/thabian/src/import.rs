//! `thabian import FILE`: migrating a legacy register (NDJSON or CSV) in bulk.
//!
//! The file is read twice, streaming, in batches (memory does not grow with the file): pass 1
//! checks every record and reserves its PIN and household number; pass 2 imports the records
//! through the register's write path, one transaction per batch. A record whose parent comes
//! later in the file waits (only its position in the file is kept) and is offered again once
//! the pass is over. Every refused record goes to the error file with its line and reason.
//! Re-running the same command after a crash imports nothing twice and finishes the rest.
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thabian_model::legacy::{from_fields, LegacyRecord, FIELDS};
use thabian_register::import::{Carry, ImportSettings, Rejection, SourceLine};
use thabian_register::{Register, RequestContext};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Ndjson,
    Csv,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub format: Format,
    /// CSV column → record field (`-` ignores the column); unmapped columns must be named as
    /// fields.
    pub mapping: Vec<(String, String)>,
    pub batch_size: usize,
    pub settings: ImportSettings,
    pub errors: PathBuf,
    /// A progress bar (on a terminal) or periodic log lines.
    pub progress: Progress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Auto,
    Quiet,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportSummary {
    pub records: u64,
    pub imported: u64,
    pub already_imported: u64,
    /// Likely duplicates of registered persons, held in review cases instead of imported
    /// (listed in the errors file with the code `held-for-review`).
    pub held: u64,
    /// Held by an earlier run.
    pub already_held: u64,
    pub rejected: u64,
    pub rejected_by_code: BTreeMap<String, u64>,
    pub seconds: f64,
    pub persons_per_second: f64,
}

/// One record read from the file: where it starts (to read it again), its number, and the
/// record or why it could not be read.
struct Read {
    number: u64,
    offset: u64,
    record: Result<LegacyRecord, Unreadable>,
}

enum Reader {
    Ndjson {
        input: BufReader<File>,
        line: String,
        number: u64,
        offset: u64,
    },
    Csv {
        input: Box<csv::Reader<File>>,
        fields: Vec<String>,
        row: csv::StringRecord,
    },
}

impl Reader {
    fn open(path: &Path, options: &ImportOptions) -> anyhow::Result<Reader> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(match options.format {
            Format::Ndjson => Reader::Ndjson {
                input: BufReader::with_capacity(1 << 20, file),
                line: String::new(),
                number: 0,
                offset: 0,
            },
            Format::Csv => {
                let mut input = csv::ReaderBuilder::new()
                    .flexible(false)
                    .buffer_capacity(1 << 20)
                    .from_reader(file);
                let headers = input.headers().context("reading the CSV header")?.clone();
                let fields = map_columns(&headers, &options.mapping)?;
                Reader::Csv {
                    input: Box::new(input),
                    fields,
                    row: csv::StringRecord::new(),
                }
            }
        })
    }

    fn next(&mut self) -> anyhow::Result<Option<Read>> {
        match self {
            Reader::Ndjson {
                input,
                line,
                number,
                offset,
            } => loop {
                line.clear();
                let start = *offset;
                let n = input.read_line(line)?;
                if n == 0 {
                    return Ok(None);
                }
                *offset += n as u64;
                *number += 1;
                let text = line.trim_end_matches(['\n', '\r']);
                if text.trim().is_empty() {
                    continue;
                }
                return Ok(Some(Read {
                    number: *number,
                    offset: start,
                    record: parse_json(text),
                }));
            },
            Reader::Csv { input, fields, row } => {
                let position = input.position().clone();
                match input.read_record(row) {
                    Ok(false) => Ok(None),
                    Ok(true) => Ok(Some(Read {
                        number: position.line(),
                        offset: position.byte(),
                        record: from_fields(fields.iter().map(String::as_str).zip(row.iter()))
                            .map_err(|e| Unreadable {
                                source_id: String::new(),
                                code: e.code.to_owned(),
                                message: e.message,
                            }),
                    })),
                    // A row that cannot be split into cells is one bad record, not the end.
                    Err(e) => Ok(Some(Read {
                        number: position.line(),
                        offset: position.byte(),
                        record: Err(Unreadable {
                            source_id: String::new(),
                            code: "malformed-record".into(),
                            message: e.to_string(),
                        }),
                    })),
                }
            }
        }
    }

    /// Reads the record that starts at `offset` again.
    fn read_at(&mut self, offset: u64, number: u64) -> anyhow::Result<Option<Read>> {
        match self {
            Reader::Ndjson {
                input,
                number: n,
                offset: o,
                ..
            } => {
                input.seek(SeekFrom::Start(offset))?;
                *o = offset;
                *n = number - 1;
            }
            Reader::Csv { input, .. } => {
                let mut position = csv::Position::new();
                position.set_byte(offset).set_line(number);
                input.seek(position)?;
            }
        }
        self.next()
    }

    fn bytes_read(&self) -> u64 {
        match self {
            Reader::Ndjson { offset, .. } => *offset,
            Reader::Csv { input, .. } => input.position().byte(),
        }
    }
}

/// A record that could not be read into the legacy format.
struct Unreadable {
    source_id: String,
    code: String,
    message: String,
}

fn parse_json(text: &str) -> Result<LegacyRecord, Unreadable> {
    LegacyRecord::from_json_line(text).map_err(|e| {
        // Name the record in the report when its id at least can be read.
        let id = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| {
                v.get("source_id")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned)
            });
        Unreadable {
            source_id: id.unwrap_or_default(),
            code: e.code.to_owned(),
            message: e.message,
        }
    })
}

/// Which field each CSV column feeds: the mapping first, else a column named as a field.
fn map_columns(
    headers: &csv::StringRecord,
    mapping: &[(String, String)],
) -> anyhow::Result<Vec<String>> {
    for (_, field) in mapping {
        if !FIELDS.contains(&field.as_str()) {
            bail!(
                "--map: {field:?} is not a record field (fields: {})",
                FIELDS.join(", ")
            );
        }
    }
    headers
        .iter()
        .map(|column| {
            let column = column.trim();
            if let Some((_, field)) = mapping.iter().find(|(c, _)| c == column) {
                Ok(field.clone())
            } else if FIELDS.contains(&column) {
                Ok(column.to_owned())
            } else {
                bail!("CSV column {column:?} is not a record field: map it with --map {column:?}=FIELD (or =- to ignore it)")
            }
        })
        .collect()
}

/// Parses `--map "Column=field,Other=-"`.
pub fn parse_mapping(spec: &str) -> anyhow::Result<Vec<(String, String)>> {
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((c, f)) => Ok((c.trim().to_owned(), f.trim().to_owned())),
            None => bail!("--map: {pair:?} is not COLUMN=FIELD"),
        })
        .collect()
}

struct ErrorFile {
    out: csv::Writer<File>,
    count: u64,
    by_code: BTreeMap<String, u64>,
}

impl ErrorFile {
    fn create(path: &Path) -> anyhow::Result<ErrorFile> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = csv::Writer::from_writer(file);
        out.write_record(["line", "source_id", "code", "message"])?;
        Ok(ErrorFile {
            out,
            count: 0,
            by_code: BTreeMap::new(),
        })
    }

    fn write(&mut self, r: &Rejection) -> anyhow::Result<()> {
        self.out.write_record([
            r.line.to_string().as_str(),
            r.source_id.as_str(),
            r.code.as_str(),
            r.message.as_str(),
        ])?;
        self.count += 1;
        *self.by_code.entry(r.code.clone()).or_default() += 1;
        Ok(())
    }

    /// A held record is not refused: listed for the operator, not counted as an error.
    fn write_held(&mut self, h: &thabian_register::import::HeldRecord) -> anyhow::Result<()> {
        self.out.write_record([
            h.line.to_string().as_str(),
            h.source_id.as_str(),
            HELD_CODE,
            format!(
                "likely a registered person (p = {:.3}): held in review case {}",
                h.probability, h.case
            )
            .as_str(),
        ])?;
        Ok(())
    }
}

/// The code of held records in the errors file.
pub const HELD_CODE: &str = "held-for-review";

/// Shows how far a pass is: a bar on a terminal, a log line every few seconds otherwise.
struct Meter {
    bar: Option<indicatif::ProgressBar>,
    pass: &'static str,
    total_bytes: u64,
    started: Instant,
    last_log: Instant,
    quiet: bool,
}

impl Meter {
    fn new(pass: &'static str, total_bytes: u64, progress: Progress) -> Meter {
        let bar = (progress == Progress::Auto && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total_bytes);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>8} [{bar:30}] {percent:>3}% {msg} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_prefix(pass);
            bar
        });
        Meter {
            bar,
            pass,
            total_bytes,
            started: Instant::now(),
            last_log: Instant::now(),
            quiet: progress == Progress::Quiet,
        }
    }

    fn update(&mut self, bytes: u64, records: u64) {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = records as f64 / elapsed;
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(format!("{records} records, {rate:.0}/s"));
        } else if !self.quiet && self.last_log.elapsed() >= Duration::from_secs(5) {
            self.last_log = Instant::now();
            let share = bytes as f64 / self.total_bytes.max(1) as f64;
            let eta = if share > 0.0 {
                elapsed * (1.0 - share) / share
            } else {
                0.0
            };
            tracing::info!(
                pass = self.pass,
                records,
                per_second = rate.round(),
                percent = (share * 100.0).round(),
                eta_seconds = eta.round(),
                "import progress"
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Batches of records, with how many bytes of the file were read so far.
type Batches = tokio::sync::mpsc::Receiver<anyhow::Result<(Vec<Read>, u64)>>;

/// Reads batches on a blocking thread so that parsing overlaps the database work.
fn spawn_reader(path: PathBuf, options: ImportOptions) -> (Batches, tokio::task::JoinHandle<()>) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let handle = tokio::task::spawn_blocking(move || {
        let mut reader = match Reader::open(&path, &options) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        loop {
            let mut batch = Vec::with_capacity(options.batch_size);
            let mut failed = None;
            while batch.len() < options.batch_size {
                match reader.next() {
                    Ok(Some(r)) => batch.push(r),
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let done = batch.len() < options.batch_size;
            if !batch.is_empty() && tx.blocking_send(Ok((batch, reader.bytes_read()))).is_err() {
                return;
            }
            if let Some(e) = failed {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            if done {
                return;
            }
        }
    });
    (rx, handle)
}

fn split(batch: Vec<Read>) -> (Vec<SourceLine>, Vec<(u64, u64)>, Vec<Rejection>) {
    let mut lines = Vec::with_capacity(batch.len());
    let mut offsets = Vec::with_capacity(batch.len());
    let mut bad = Vec::new();
    for r in batch {
        match r.record {
            Ok(record) => {
                offsets.push((r.number, r.offset));
                lines.push(SourceLine {
                    number: r.number,
                    record,
                });
            }
            Err(u) => bad.push(Rejection {
                line: r.number,
                source_id: u.source_id,
                code: u.code,
                message: u.message,
            }),
        }
    }
    (lines, offsets, bad)
}

/// Runs both passes and the rounds for records that waited for a parent.
pub async fn run(
    register: &Register,
    ctx: &RequestContext,
    path: &Path,
    options: &ImportOptions,
) -> anyhow::Result<ImportSummary> {
    let started = Instant::now();
    let total_bytes = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let mut errors = ErrorFile::create(&options.errors)?;
    let mut summary = ImportSummary::default();

    // Pass 1: check and reserve.
    let mut meter = Meter::new("reserve", total_bytes, options.progress);
    let (mut rx, reader) = spawn_reader(path.to_owned(), options.clone());
    let mut reserved_batches = 0u64;
    while let Some(batch) = rx.recv().await {
        let (batch, bytes) = batch?;
        summary.records += batch.len() as u64;
        let (lines, _, bad) = split(batch);
        let mut rejected = bad;
        rejected.extend(register.reserve_import_keys(ctx, &lines).await?);
        rejected.sort_by_key(|r| r.line);
        for r in &rejected {
            errors.write(r)?;
        }
        meter.update(bytes, summary.records);
        reserved_batches += 1;
        if reserved_batches.is_power_of_two() {
            register.store().refresh_statistics().await?;
        }
    }
    reader.await?;
    meter.finish();
    register.store().refresh_statistics().await?;

    // Pass 2: import.
    let mut meter = Meter::new("import", total_bytes, options.progress);
    let mut waiting: Vec<(u64, u64)> = Vec::new();
    let (mut rx, reader) = spawn_reader(path.to_owned(), options.clone());
    let mut seen = 0u64;
    // Batch n commits on another task while batch n + 1 is prepared (two cores: the database's
    // work and ours overlap); commits stay in file order.
    let mut carry = Carry::default();
    let mut batches = 0u64;
    let mut committing: Option<tokio::task::JoinHandle<thabian_register::Result<()>>> = None;
    while let Some(batch) = rx.recv().await {
        let (batch, bytes) = batch?;
        seen += batch.len() as u64;
        let (lines, offsets, _) = split(batch);
        let prepared = register
            .prepare_import(ctx, &options.settings, &lines, carry)
            .await?;
        if let Some(previous) = committing.take() {
            previous.await??;
        }
        carry = prepared.carry;
        committing = Some(tokio::spawn(prepared.commit.commit()));
        batches += 1;
        if batches.is_power_of_two() {
            // While the tables grow by doubling, so that plans follow their size.
            register.store().refresh_statistics().await?;
        }
        record(&mut summary, &mut errors, &prepared.report)?;
        keep_waiting(&mut waiting, &offsets, &prepared.report.deferred);
        meter.update(bytes, seen);
    }
    if let Some(previous) = committing.take() {
        previous.await??;
    }
    drop(carry);
    reader.await?;
    meter.finish();

    // Records that waited for a parent further down the file, until no round makes progress.
    let mut reader = Reader::open(path, options)?;
    let mut settle = false;
    while !waiting.is_empty() {
        let round = std::mem::take(&mut waiting);
        let mut progressed = false;
        let settings = ImportSettings {
            settle,
            ..options.settings.clone()
        };
        for chunk in round.chunks(options.batch_size) {
            let mut lines = Vec::with_capacity(chunk.len());
            for (number, offset) in chunk {
                if let Some(Read {
                    record: Ok(record),
                    number,
                    ..
                }) = reader.read_at(*offset, *number)?
                {
                    lines.push(SourceLine { number, record });
                }
            }
            let report = register.import_batch(ctx, &settings, &lines).await?;
            progressed |= report.imported > 0;
            record(&mut summary, &mut errors, &report)?;
            keep_waiting(&mut waiting, chunk, &report.deferred);
        }
        if settle {
            break;
        }
        settle = !progressed;
    }
    errors.out.flush()?;
    summary.rejected = errors.count;
    summary.rejected_by_code = errors.by_code;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.persons_per_second = summary.imported as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

fn record(
    summary: &mut ImportSummary,
    errors: &mut ErrorFile,
    report: &thabian_register::import::BatchReport,
) -> anyhow::Result<()> {
    summary.imported += report.imported;
    summary.already_imported += report.already_imported;
    summary.held += report.held.len() as u64;
    summary.already_held += report.already_held;
    for r in &report.rejected {
        errors.write(r)?;
    }
    for h in &report.held {
        errors.write_held(h)?;
    }
    Ok(())
}

fn keep_waiting(waiting: &mut Vec<(u64, u64)>, offsets: &[(u64, u64)], deferred: &[u64]) {
    if deferred.is_empty() {
        return;
    }
    let deferred: std::collections::HashSet<u64> = deferred.iter().copied().collect();
    waiting.extend(
        offsets
            .iter()
            .filter(|(n, _)| deferred.contains(n))
            .copied(),
    );
}

impl ImportSummary {
    pub fn print(&self, errors: &Path, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{} records read: {} imported, {} already imported, {} refused ({:.1} s, {:.0} persons/s)",
            self.records,
            self.imported,
            self.already_imported,
            self.rejected,
            self.seconds,
            self.persons_per_second
        )?;
        for (code, n) in &self.rejected_by_code {
            writeln!(out, "  {n:>8}  {code}")?;
        }
        if self.held + self.already_held > 0 {
            writeln!(
                out,
                "{} records held for duplicate review ({} by this run, listed in {} as {HELD_CODE}; \
                 decide them in the review queue, then run the import again for the records that \
                 wait for them)",
                self.held + self.already_held,
                self.held,
                errors.display()
            )?;
        }
        if self.rejected > 0 {
            writeln!(out, "refused records: {}", errors.display())?;
        }
        Ok(())
    }
}
