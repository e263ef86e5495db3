//! Text mutations for duplicates: typos, romanization variants, Vietnamese diacritics.
//!
//! Every function returns `None` when it cannot change the text (too short, no mark to drop),
//! and only ever returns names that [`normalize_name`] leaves unchanged.
use rand::Rng;
use thabian_model::name::normalize_name;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Vietnamese tone marks (combining): grave, acute, tilde, hook above, dot below.
const TONES: [char; 5] = ['\u{300}', '\u{301}', '\u{303}', '\u{309}', '\u{323}'];

/// Letters a typist hits by mistake (frequent letters of romanized names first).
const LETTERS: &[u8] = b"aaeeiioouunnhhrsstlmkgpbdcyvx";

fn normalised(s: String) -> Option<String> {
    match normalize_name(&s) {
        Ok(n) if n == s => Some(s),
        _ => None,
    }
}

/// One keyboard error: substitution, deletion, transposition or insertion, never on the first
/// letter (people rarely get that wrong, and it keeps the capital).
pub(crate) fn typo<R: Rng>(rng: &mut R, s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n < 3 {
        return None;
    }
    for _ in 0..8 {
        let mut c = chars.clone();
        let letter = char::from(LETTERS[rng.gen_range(0..LETTERS.len())]);
        match rng.gen_range(0..4) {
            0 => {
                let i = rng.gen_range(1..n);
                c[i] = letter;
            }
            1 => {
                c.remove(rng.gen_range(1..n));
            }
            2 => {
                let i = rng.gen_range(1..n - 1);
                c.swap(i, i + 1);
            }
            _ => c.insert(rng.gen_range(1..=n), letter),
        }
        let out: String = c.into_iter().collect();
        if out != s {
            if let Some(out) = normalised(out) {
                return Some(out);
            }
        }
    }
    None
}

/// Another usual romanization of the same name: one `[from, to]` rule applied at one place
/// (case-insensitively; a capital stays a capital).
pub(crate) fn romanization_variant<R: Rng>(
    rng: &mut R,
    s: &str,
    rules: &[(String, String)],
) -> Option<String> {
    // ASCII lowercasing keeps byte offsets, so positions in `lower` are positions in `s`.
    let lower = s.to_ascii_lowercase();
    // Every (rule, position) where the rule matches.
    let matches: Vec<(usize, usize)> = rules
        .iter()
        .enumerate()
        .flat_map(|(r, (from, _))| {
            lower
                .match_indices(from.as_str())
                .map(move |(pos, _)| (r, pos))
        })
        .collect();
    if matches.is_empty() {
        return None;
    }
    let (r, pos) = matches[rng.gen_range(0..matches.len())];
    let (from, to) = &rules[r];
    let mut replacement = to.clone();
    if s[pos..].starts_with(|c: char| c.is_ascii_uppercase()) {
        replacement = capitalise(&replacement);
    }
    let out = format!("{}{}{}", &s[..pos], replacement, &s[pos + from.len()..]);
    (out != s && !out.is_empty())
        .then_some(out)
        .and_then(normalised)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The name without any diacritic: `Nguyễn` → `Nguyen`, `Đặng` → `Dang`.
pub(crate) fn drop_diacritics(s: &str) -> String {
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .nfc()
        .collect()
}

/// One tone mark replaced by another: `Nguyễn` → `Nguyển`. `None` without a tone mark.
pub(crate) fn wrong_tone<R: Rng>(rng: &mut R, s: &str) -> Option<String> {
    let mut chars: Vec<char> = s.nfd().collect();
    let positions: Vec<usize> = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| TONES.contains(c))
        .map(|(i, _)| i)
        .collect();
    if positions.is_empty() {
        return None;
    }
    let i = positions[rng.gen_range(0..positions.len())];
    let others: Vec<char> = TONES.iter().copied().filter(|t| *t != chars[i]).collect();
    chars[i] = others[rng.gen_range(0..others.len())];
    let out: String = chars.into_iter().nfc().collect();
    (out != s).then_some(out).and_then(normalised)
}
