//! The name vocabulary: the name-key components the register holds, to find a search token's
//! spelling variants among the names actually registered.
//!
//! A misspelt name token ("manivomg") shares no blocking key with the record it means
//! ("manivong"), so without help a search could only reach that record through its broad keys
//! (a given name and a year: thousands of persons at 10 M). Correcting the token against the
//! names the register holds, as a search engine corrects a term against its term dictionary,
//! lets the search use the specific keys of the registered spelling instead.
//!
//! Variants are the components one edit away (Damerau–Levenshtein in its optimal string
//! alignment form: one character inserted, deleted or replaced, or two adjacent ones swapped),
//! found with a symmetric-deletion index (the SymSpell method: two strings one edit apart share
//! a string obtained by deleting at most one character from each). No crate offers this over a
//! vocabulary that changes at run time without a dictionary file format of its own; the index
//! is a sorted array of hashes, about 12 bytes per deletion.
use std::hash::{Hash, Hasher};

/// Components shorter than this are not corrected: a short token has many registered
/// neighbours one edit away ("an": "anh", "ban", "lan" …), none of them a likely meaning.
pub const MIN_CORRECTED_LEN: usize = 4;

/// The name-key components of a register and their deletion index.
#[derive(Debug, Clone, Default)]
pub struct NameVocabulary {
    /// Sorted, deduplicated.
    tokens: Vec<String>,
    /// (hash of a token or of one of its single deletions, index into `tokens`), sorted.
    deletions: Vec<(u64, u32)>,
}

impl NameVocabulary {
    /// A vocabulary of `components` (name-key components: ASCII letters and digits, as
    /// [`crate::linkage::MatchRecord::blocking_keys`] writes them; others are ignored).
    pub fn new(components: impl IntoIterator<Item = String>) -> NameVocabulary {
        let mut tokens: Vec<String> = components
            .into_iter()
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric()))
            .collect();
        tokens.sort();
        tokens.dedup();
        let mut deletions = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            if t.len() < MIN_CORRECTED_LEN - 1 {
                continue;
            }
            let Ok(i) = u32::try_from(i) else { break };
            for h in deletion_hashes(t) {
                deletions.push((h, i));
            }
        }
        deletions.sort_unstable();
        deletions.dedup();
        NameVocabulary { tokens, deletions }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn contains(&self, component: &str) -> bool {
        self.tokens
            .binary_search_by(|t| t.as_str().cmp(component))
            .is_ok()
    }

    /// The registered components one edit away from `component` (never `component` itself),
    /// sorted, at most `max`. Empty for a component shorter than [`MIN_CORRECTED_LEN`].
    pub fn variants(&self, component: &str, max: usize) -> Vec<&str> {
        if component.len() < MIN_CORRECTED_LEN || !component.is_ascii() {
            return Vec::new();
        }
        let mut found: Vec<&str> = Vec::new();
        for h in deletion_hashes(component) {
            let start = self.deletions.partition_point(|(x, _)| *x < h);
            for (_, i) in self.deletions[start..].iter().take_while(|(x, _)| *x == h) {
                let Some(t) = self.tokens.get(*i as usize) else {
                    continue;
                };
                if t != component && one_edit(component.as_bytes(), t.as_bytes()) {
                    found.push(t);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found.truncate(max);
        found
    }
}

/// The hashes of `s` and of every string made by deleting one of its characters (bytes: the
/// components are ASCII).
fn deletion_hashes(s: &str) -> Vec<u64> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() + 1);
    out.push(hash(b, None));
    for skip in 0..b.len() {
        out.push(hash(b, Some(skip)));
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn hash(b: &[u8], skip: Option<usize>) -> u64 {
    // `DefaultHasher::new()` has fixed keys: the same hashes on every node and every run.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (i, c) in b.iter().enumerate() {
        if Some(i) != skip {
            c.hash(&mut h);
        }
    }
    h.write_u8(0xff);
    h.finish()
}

/// Whether `a` and `b` differ by exactly one edit: one byte inserted, deleted or replaced, or
/// two adjacent bytes swapped.
pub fn one_edit(a: &[u8], b: &[u8]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.len() - short.len() {
        0 => {
            let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            match diff.as_slice() {
                [_] => true,
                [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
                _ => false,
            }
        }
        1 => {
            let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
            short[prefix..] == long[prefix + 1..]
        }
        _ => false,
    }
}
