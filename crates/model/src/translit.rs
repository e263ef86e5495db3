//! Romanization and phonetic keys for name search (stub: replaced by the real module).
use crate::name::fold_for_search;

/// Lao script to lowercase ASCII Latin.
pub fn romanize_lao(s: &str) -> String {
    fold_for_search(s)
}

/// A phonetic key of one folded Latin token.
pub fn phonetic(token: &str) -> String {
    token.to_owned()
}

/// The folded Latin tokens of a name in any script.
pub fn latin_tokens(name: &str) -> Vec<String> {
    fold_for_search(name).split(' ').filter(|t| !t.is_empty()).map(str::to_owned).collect()
}
