//! Romanization of Lao names and phonetic keys that match names across scripts and spellings.
//!
//! Three steps turn a name into search keys:
//!
//! 1. [`latin_tokens`] folds the name ([`fold_for_search`]: NFC, lowercase, Latin diacritics
//!    removed, `đ` → `d`), romanizes any Lao text with [`romanize_lao`] and splits the result on
//!    whitespace, hyphens, dots and commas.
//! 2. [`phonetic`] maps each token to a key that collapses the usual variation in how Lao names are
//!    romanized and how Vietnamese names are written without marks.
//! 3. Two names match when their keys match. [`phonetic_tokens`] does steps 1 and 2 at once.
//!
//! # Romanization of Lao ([`romanize_lao`])
//!
//! One fixed romanization, the French-based one of BGN/PCGN 1966 and of Lao government usage
//! (*Xaignabouli*, *Oudomxay*, *Xiengkhouang*, *Khammouane*), with its diacritics folded away
//! (`é`, `è` → `e`, `ô` → `o`, `ư` → `u`), so the output is plain lowercase ASCII.
//!
//! Initial consonants: ກ `k`, ຂ ຄ `kh`, ງ `ng`, ຈ `ch`, ສ `s`, ຊ `x`, ຍ `gn`, ດ `d`, ຕ `t`,
//! ຖ ທ `th`, ນ `n`, ບ `b`, ປ `p`, ຜ ພ `ph`, ຝ ຟ `f`, ມ `m`, ຢ `y`, ຣ `r`, ລ `l`, ວ `v`,
//! ຫ ຮ `h`, ອ silent. The ligatures ຫງ ຫຍ ຫນ ຫມ ຫລ ຫຼ ຫວ ໜ ໝ (ຫ marking a high-class sonorant)
//! are romanized as the sonorant alone. ກວ ຂວ ຄວ before a vowel are the cluster `kou`/`khou`
//! (*Khouang*), a subscript ຼ or a ລ/ຣ directly carrying the vowel give `l`/`r` clusters. Pali
//! and Sanskrit letters take the value of the ordinary letter they sound like.
//!
//! Final consonants: ກ ຂ ຄ `k`, ງ `ng`, ດ ຕ ຈ ສ ຊ ທ ຖ `t`, ນ ລ ຣ `n`, ບ ປ ພ ຜ ຟ ຝ `p`, ມ `m`,
//! ຍ ຢ `y`, ວ `o` (`ou` after `i`). A consonant under the cancellation mark ໌ is silent.
//!
//! Vowels (written before, above, below or after the consonant; always romanized after it):
//! ະ ັ າ `a`; ິ ີ `i`; ຶ ື (and ຶອ ືອ) `eu`; ຸ ູ `ou`; ເ `e`; ແ `e` (BGN `è`); ໂ ົ `o`;
//! ອ ໍ ເ-າະ `o`; ເ-ິ ເ-ີ `eu`; ເ-ຍ `ia`; ຽ `ie` (*Vieng*, *Xieng*); ເ-ືອ `ua` (*Muang*); ົວ
//! and medial ວ `oua` (*Boua*, *Khammouane*); ໄ ໃ `ai`; ເ-ົາ ເ-າ `ao`; ຳ (or ໍາ) `am`. A
//! consonant without any vowel sign takes the inherent `o` when closed and `a` when open.
//! Tone marks are dropped, Lao digits become ASCII digits, ໆ repeats the previous syllable and
//! ຯ is dropped. `ເເ` (two ເ, a common typing substitute) is read as ແ.
//!
//! Everything that is not Lao is folded by [`fold_for_search`] and kept as it is, spaces
//! included.
//!
//! ## Limitations
//!
//! Lao is written without spaces between syllables and syllable boundaries are guessed: a
//! consonant carrying no vowel sign or tone mark after a vowel is read as that syllable's final,
//! unless it is followed by ອ or ວ used as a vowel. Old spellings that leave vowels implicit,
//! Pali and Sanskrit loans and rare combinations may be split wrongly. Lao romanizations that are
//! not systematic at all (English spellings like *Dow* for ດາວ) cannot be recovered.
//!
//! # Phonetic keys ([`phonetic`])
//!
//! The key is computed on letters only (digits are kept, anything else is dropped) and is
//! applied until nothing changes, so it is idempotent. The rules, and why:
//!
//! * Doubled letters collapse (*Sommsak*, *Vannaphone*): Lao final + identical initial, and
//!   English-style doubling, are not distinctive.
//! * Aspiration is dropped: `kh` = `k`, `th` = `t`, `ph` = `p`, and more generally an `h` after a
//!   consonant is silent (`sh`, `gh`, `dh`, ...). Lao writes ຂ/ຄ vs ກ, ທ/ຖ vs ຕ and ພ/ຜ vs ປ
//!   distinctly but romanizations drop or add the `h` (*Chanthavong*/*Jantavong*). Lao `ph` is an
//!   aspirated p, never f, so `ph` is *not* merged with `f`; in Vietnamese `ph` is always spelled
//!   `ph` and plain `p` hardly occurs, so this costs nothing there (and `f` stays `f`).
//! * `c`, `k`, `ck`, `q` → `k` (*Somsack*, Vietnamese *Cao*, *Quang* = *Kwang* = *Kouang*).
//! * `ch`, `j` → `j` (ຈ: *Chan*/*Jan*). `x`, `s` → `s` (ຊ is /s/; Vietnamese `x` is /s/ too).
//! * `r` → `l`: Lao ຣ is pronounced /l/ and names are spelled with both (*Souriya*/*Souliya*).
//! * `gn`, `ny` before a vowel → `y` (ຍ: *Souligna*/*Soulinya*/*Souliya*).
//! * `nh` at the end or before a consonant → `n` (French-style *Phanh*, *Souvanh*; southern
//!   Vietnamese merges final `nh` into `n` as well). `nh` before a vowel (Vietnamese *Nhung*)
//!   is kept. `ngh` = `ng`.
//! * Final `b` → `p`, final `d` → `t` (ບ and ດ are unreleased /p/, /t/ at the end of a syllable).
//! * `w` before a vowel → `v` (ວ: *Vongsa*/*Wongsa*), or `u` after a consonant (cluster ກວ:
//!   *Kwang*/*Kouang*); `w` elsewhere is the vowel ending: `o` after a, e (*Kaew* = *Kaeo* =
//!   *Keo*), `u` after i, nothing after o, u.
//! * `y` not before a vowel → `i` (*Bounmy*, *Noy*, *Xay* = *Sai*).
//! * `ou`, `oo`, `u` → `u` (French *Souk*, English *Sook*); `ee`, `i` → `i` (*Manee*);
//!   `ae`, `e` (and folded `è`) → `e` (ແ: *Kaeo*/*Keo*/*Kèo*, *Saeng*/*Seng*).
//! * `ie` → `ia` (ຽ/ເ-ຍ: *Vieng*/*Viang*; Vietnamese `ia`/`iê` are one diphthong);
//!   `eua`, `uea` → `ua` (ເ-ືອ: *Meuang*/*Mueang*/*Muang*).
//! * An `r` after a vowel and not before one is dropped (Thai-style *Somphorn* = *Somphone*); a
//!   final `s` after `ng` is dropped (Pali-style *Inthavongs*, *Inthavongse* for ວົງສ໌).
//! * A final `h` after a vowel is dropped (*Khamlah*); a final silent `e` after a consonant that
//!   itself follows a vowel is dropped (French-style *Phone*, *Phetsamone*; Vietnamese *Lê*,
//!   *Thế*, *Huế* keep theirs).
//!
//! These merges trade precision for recall, as duplicate detection needs: *Khanh* and *Canh*,
//! or *Thong* and *Tong*, share a key; other fields (birth date, parents) tell such records apart.
use crate::name::fold_for_search;

// Lao letters and signs used by name below (U+0E80–U+0EFF).
const KO: char = '\u{0E81}';
const KHO_SUNG: char = '\u{0E82}';
const KHO_TAM: char = '\u{0E84}';
const NGO: char = '\u{0E87}';
const NYO: char = '\u{0E8D}';
const NO: char = '\u{0E99}';
const MO: char = '\u{0EA1}';
const LO_LING: char = '\u{0EA3}';
const LO_LOOT: char = '\u{0EA5}';
const WO: char = '\u{0EA7}';
const HO_SUNG: char = '\u{0EAB}';
const O_LETTER: char = '\u{0EAD}';
const VISARGA: char = '\u{0EB0}'; // ະ
const MAI_KAN: char = '\u{0EB1}'; // ັ
const AA: char = '\u{0EB2}'; // າ
const AM: char = '\u{0EB3}'; // ຳ
const SIGN_I: char = '\u{0EB4}'; // ິ
const SIGN_II: char = '\u{0EB5}'; // ີ
const SIGN_Y: char = '\u{0EB6}'; // ຶ
const SIGN_YY: char = '\u{0EB7}'; // ື
const SIGN_U: char = '\u{0EB8}'; // ຸ
const SIGN_UU: char = '\u{0EB9}'; // ູ
const VIRAMA: char = '\u{0EBA}'; // ຺
const MAI_KON: char = '\u{0EBB}'; // ົ
const SEMI_LO: char = '\u{0EBC}'; // ຼ
const SEMI_NYO: char = '\u{0EBD}'; // ຽ
const PRE_E: char = '\u{0EC0}'; // ເ
const PRE_AE: char = '\u{0EC1}'; // ແ
const PRE_O: char = '\u{0EC2}'; // ໂ
const PRE_AI_MALAI: char = '\u{0EC3}'; // ໃ
const PRE_AI_MUAN: char = '\u{0EC4}'; // ໄ
const REPEAT: char = '\u{0EC6}'; // ໆ
const CANCEL: char = '\u{0ECC}'; // ໌
const NIGGAHITA: char = '\u{0ECD}'; // ໍ

fn is_lao(c: char) -> bool {
    ('\u{0E80}'..='\u{0EFF}').contains(&c)
}

/// Romanization of a Lao consonant at the start of a syllable; `None` for anything else.
fn initial_of(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{0E81}' | '\u{0EDE}' => "k",               // ກ, Khmu go
        '\u{0E82}' | '\u{0E84}' | '\u{0E86}' => "kh", // ຂ ຄ, Pali gha
        '\u{0E87}' => "ng",                           // ງ
        '\u{0E88}' | '\u{0E89}' => "ch",              // ຈ, Pali cha
        '\u{0E8A}' | '\u{0E8C}' => "x",               // ຊ, Pali jha
        '\u{0E8D}' | '\u{0E8E}' | '\u{0EDF}' => "gn", // ຍ, Pali nya, Khmu nyo
        '\u{0E94}' | '\u{0E91}' => "d",               // ດ, Pali dda
        '\u{0E95}' | '\u{0E8F}' => "t",               // ຕ, Pali tta
        '\u{0E96}' | '\u{0E97}' | '\u{0E90}' | '\u{0E92}' | '\u{0E98}' => "th", // ຖ ທ, Pali
        '\u{0E99}' | '\u{0E93}' | '\u{0EDC}' => "n",  // ນ, Pali nna, ໜ
        '\u{0E9A}' => "b",                            // ບ
        '\u{0E9B}' => "p",                            // ປ
        '\u{0E9C}' | '\u{0E9E}' | '\u{0EA0}' => "ph", // ຜ ພ, Pali bha
        '\u{0E9D}' | '\u{0E9F}' => "f",               // ຝ ຟ
        '\u{0EA1}' | '\u{0EDD}' => "m",               // ມ ໝ
        '\u{0EA2}' => "y",                            // ຢ
        '\u{0EA3}' => "r",                            // ຣ
        '\u{0EA5}' | '\u{0EAC}' => "l",               // ລ, Pali lla
        '\u{0EA7}' => "v",                            // ວ
        '\u{0EAA}' | '\u{0EA8}' | '\u{0EA9}' => "s",  // ສ, Sanskrit sha, ssa
        '\u{0EAB}' | '\u{0EAE}' => "h",               // ຫ ຮ
        '\u{0EAD}' => "",                             // ອ
        _ => return None,
    })
}

/// Romanization of a Lao consonant closing a syllable; `None` if it cannot close one.
fn final_of(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{0E81}' | '\u{0E82}' | '\u{0E84}' | '\u{0E86}' | '\u{0EDE}' => "k",
        '\u{0E87}' => "ng",
        '\u{0E88}' | '\u{0E89}' | '\u{0E8A}' | '\u{0E8C}' | '\u{0E8F}' | '\u{0E90}'
        | '\u{0E91}' | '\u{0E92}' | '\u{0E94}' | '\u{0E95}' | '\u{0E96}' | '\u{0E97}'
        | '\u{0E98}' | '\u{0EA8}' | '\u{0EA9}' | '\u{0EAA}' => "t",
        '\u{0E8E}' | '\u{0E93}' | '\u{0E99}' | '\u{0EA3}' | '\u{0EA5}' | '\u{0EAC}' => "n",
        '\u{0E9A}' | '\u{0E9B}' | '\u{0E9C}' | '\u{0E9D}' | '\u{0E9E}' | '\u{0E9F}'
        | '\u{0EA0}' => "p",
        '\u{0EA1}' => "m",
        '\u{0E8D}' | '\u{0EA2}' | '\u{0EDF}' => "y",
        '\u{0EA7}' => "o",
        _ => return None,
    })
}

fn is_pre_vowel(c: char) -> bool {
    matches!(c, PRE_E | PRE_AE | PRE_O | PRE_AI_MALAI | PRE_AI_MUAN)
}

fn is_tone(c: char) -> bool {
    ('\u{0EC8}'..='\u{0ECB}').contains(&c)
}

/// Vowel signs written above, below or after a consonant.
fn is_vowel_sign(c: char) -> bool {
    matches!(
        c,
        VISARGA
            | MAI_KAN
            | AA
            | AM
            | SIGN_I
            | SIGN_II
            | SIGN_Y
            | SIGN_YY
            | SIGN_U
            | SIGN_UU
            | MAI_KON
            | SEMI_NYO
            | NIGGAHITA
    )
}

/// Whether `c` belongs to the consonant before it (so that consonant starts a syllable).
fn is_attached(c: char) -> bool {
    is_tone(c) || is_vowel_sign(c) || c == SEMI_LO
}

fn lao_digit(c: char) -> Option<char> {
    let d = u32::from(c).checked_sub(0x0ED0)?;
    if d < 10 {
        char::from_digit(d, 10)
    } else {
        None
    }
}

/// Lao script to lowercase ASCII Latin, one consistent romanization (BGN/PCGN 1966 as used by
/// the Lao government for names and places, diacritics folded; see the module documentation),
/// other characters folded by [`fold_for_search`] and kept; spaces preserved.
///
/// `"ສົມສັກ"` → `"somsak"`, `"ແກ້ວ"` → `"keo"`, `"ໄຊຍະບູລີ"` → `"xaignabouli"`.
pub fn romanize_lao(s: &str) -> String {
    let folded = fold_for_search(s);
    if !folded.chars().any(is_lao) {
        return folded;
    }
    let chars: Vec<char> = folded.chars().collect();
    let mut out = String::with_capacity(folded.len() + 8);
    let mut last_syllable = 0..0;
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if !is_lao(c) {
            out.push(c);
            i += 1;
        } else if let Some(d) = lao_digit(c) {
            out.push(d);
            i += 1;
        } else if c == REPEAT {
            if let Some(prev) = out.get(last_syllable.clone()) {
                let prev = prev.to_owned();
                let start = out.len();
                out.push_str(&prev);
                last_syllable = start..out.len();
            }
            i += 1;
        } else if is_pre_vowel(c) || initial_of(c).is_some() || is_vowel_sign(c) || c == SEMI_LO {
            let start = out.len();
            i = syllable(&chars, i, &mut out);
            last_syllable = start..out.len();
        } else {
            // Tone marks without a consonant, ຯ, ໌, ຺, ໎ and unassigned code points.
            i += 1;
        }
    }
    out
}

/// Whether the char at `j`, after any tone marks, is a vowel sign.
fn vowel_sign_follows(ch: &[char], mut j: usize) -> bool {
    while ch.get(j).is_some_and(|&c| is_tone(c)) {
        j += 1;
    }
    ch.get(j).is_some_and(|&c| is_vowel_sign(c))
}

fn attached_at(ch: &[char], j: usize) -> bool {
    ch.get(j).is_some_and(|&c| is_attached(c))
}

/// Romanizes the syllable starting at `i` (a pre-posed vowel, a consonant or a vowel sign) into
/// `out` and returns the index after it. Always advances.
fn syllable(ch: &[char], start: usize, out: &mut String) -> usize {
    let at = |j: usize| ch.get(j).copied();
    let mut i = start;

    let mut pre = None;
    if let Some(c) = at(i).filter(|&c| is_pre_vowel(c)) {
        i += 1;
        if c == PRE_E && at(i) == Some(PRE_E) {
            pre = Some(PRE_AE);
            i += 1;
        } else {
            pre = Some(c);
        }
    }

    // Initial consonant, ligature or cluster.
    let mut initial = "";
    let mut cluster = "";
    let mut silent_carrier = false;
    if let Some(c) = at(i) {
        if let Some(r) = initial_of(c) {
            i += 1;
            initial = r;
            silent_carrier = c == O_LETTER;
            let next = at(i);
            if c == HO_SUNG && next == Some(SEMI_LO) {
                initial = "l";
                i += 1;
            } else if c == HO_SUNG
                && matches!(next, Some(NGO | NYO | NO | MO | LO_LOOT | LO_LING | WO))
                && (attached_at(ch, i + 1)
                    || (next != Some(WO) && matches!(at(i + 1), Some(O_LETTER | WO))))
            {
                initial = next.and_then(initial_of).unwrap_or("");
                i += 1;
            } else if next == Some(SEMI_LO) {
                cluster = "l";
                i += 1;
            } else if next == Some(WO)
                && matches!(c, KO | KHO_SUNG | KHO_TAM)
                && vowel_sign_follows(ch, i + 1)
            {
                cluster = "ou";
                i += 1;
            } else if matches!(next, Some(LO_LOOT | LO_LING))
                && matches!(
                    c,
                    '\u{0E81}'
                        | '\u{0E82}'
                        | '\u{0E84}'
                        | '\u{0E95}'
                        | '\u{0E97}'
                        | '\u{0E9A}'
                        | '\u{0E9B}'
                        | '\u{0E9C}'
                        | '\u{0E9E}'
                )
                && vowel_sign_follows(ch, i + 1)
            {
                cluster = if next == Some(LO_LING) { "r" } else { "l" };
                i += 1;
            }
        }
    }

    // Vowel signs above, below and after the consonant (tone marks skipped).
    let mut marks = ['\0'; 4];
    let mut n_marks = 0;
    while let Some(c) = at(i) {
        if is_tone(c) || c == VIRAMA {
            i += 1;
        } else if is_vowel_sign(c) && n_marks < marks.len() {
            if let Some(slot) = marks.get_mut(n_marks) {
                *slot = c;
            }
            n_marks += 1;
            i += 1;
        } else {
            break;
        }
    }
    let marks = marks.get(..n_marks).unwrap_or(&[]);
    let has = |m: char| marks.contains(&m);

    // A vowel letter (ອ, ວ, ຍ) completing the vowel, when it carries no sign of its own.
    let vowel_letter = at(i).filter(|&c| {
        !attached_at(ch, i + 1)
            && match c {
                O_LETTER => {
                    has(SIGN_Y)
                        || has(SIGN_YY)
                        || (pre.is_none() && (marks.is_empty() || marks == [MAI_KAN]))
                }
                WO => {
                    pre.is_none()
                        && (marks.is_empty()
                            || marks == [MAI_KON]
                            || (marks == [MAI_KAN]
                                && at(i + 1).is_some_and(|n| final_of(n).is_some())))
                }
                NYO => pre == Some(PRE_E) && (marks.is_empty() || marks == [MAI_KAN]),
                _ => false,
            }
    });
    if vowel_letter.is_some() {
        i += 1;
        // ົວະ
        if vowel_letter == Some(WO) && at(i) == Some(VISARGA) {
            i += 1;
        }
    }
    let open = marks.last() == Some(&VISARGA);

    let (nucleus, can_close) = match pre {
        Some(PRE_AI_MALAI | PRE_AI_MUAN) => ("ai", false),
        Some(PRE_E) => {
            if vowel_letter == Some(NYO) {
                ("ia", false)
            } else if vowel_letter == Some(O_LETTER) {
                ("ua", true)
            } else if has(SIGN_I) || has(SIGN_II) {
                ("eu", true)
            } else if has(MAI_KON) {
                ("ao", false)
            } else if has(AA) {
                if open {
                    ("o", false)
                } else {
                    ("ao", false)
                }
            } else {
                ("e", !open)
            }
        }
        Some(PRE_AE) => ("e", !open),
        Some(_) => ("o", !open),
        None => match vowel_letter {
            Some(WO) => ("oua", !has(MAI_KON)),
            Some(O_LETTER) if has(SIGN_Y) || has(SIGN_YY) => ("eu", false),
            Some(_) => ("o", true),
            None => {
                if has(AM) || (has(NIGGAHITA) && has(AA)) {
                    ("am", false)
                } else if has(NIGGAHITA) {
                    ("o", false)
                } else if has(SEMI_NYO) {
                    ("ie", true)
                } else if has(SIGN_I) || has(SIGN_II) {
                    ("i", true)
                } else if has(SIGN_Y) || has(SIGN_YY) {
                    ("eu", true)
                } else if has(SIGN_U) || has(SIGN_UU) {
                    ("ou", true)
                } else if has(MAI_KON) {
                    ("o", true)
                } else if marks.is_empty() {
                    ("", true)
                } else {
                    ("a", !open)
                }
            }
        },
    };

    // Final consonant: one that carries nothing itself and does not start the next syllable.
    let mut final_str = "";
    let mut has_final = false;
    if can_close {
        if let Some(f) = at(i) {
            if let Some(r) = final_of(f) {
                let next = at(i + 1);
                let starts_next = attached_at(ch, i + 1)
                    || (f != WO
                        && f != NYO
                        && matches!(next, Some(O_LETTER | WO))
                        && !attached_at(ch, i + 2))
                    || (matches!(f, KO | KHO_SUNG | KHO_TAM)
                        && next == Some(WO)
                        && vowel_sign_follows(ch, i + 2));
                if next == Some(CANCEL) {
                    i += 2;
                } else if !starts_next {
                    final_str = r;
                    has_final = true;
                    i += 1;
                }
            }
        }
    }
    // Any further consonants under the cancellation mark are silent (ຈັນທ໌).
    while at(i).is_some_and(|c| initial_of(c).is_some()) && at(i + 1) == Some(CANCEL) {
        i += 2;
    }

    out.push_str(initial);
    out.push_str(cluster);
    if nucleus.is_empty() {
        // Inherent vowel: o when closed (and for a bare ອ), a when open.
        out.push_str(if has_final || silent_carrier {
            "o"
        } else {
            "a"
        });
    } else {
        out.push_str(nucleus);
    }
    if final_str == "o" && nucleus.ends_with('i') {
        out.push_str("ou");
    } else {
        out.push_str(final_str);
    }
    if i == start {
        i + 1
    } else {
        i
    }
}

/// One sound of a phonetic key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ph {
    A,
    E,
    I,
    O,
    U,
    B,
    D,
    F,
    G,
    H,
    J,
    K,
    L,
    M,
    N,
    Ng,
    Nh,
    P,
    S,
    T,
    V,
    Y,
    Z,
    Digit(u8),
}

impl Ph {
    fn is_vowel(self) -> bool {
        matches!(self, Ph::A | Ph::E | Ph::I | Ph::O | Ph::U)
    }

    fn is_consonant(self) -> bool {
        !self.is_vowel() && !matches!(self, Ph::Digit(_))
    }

    fn render(self, out: &mut Vec<u8>) {
        let s: &[u8] = match self {
            Ph::A => b"a",
            Ph::E => b"e",
            Ph::I => b"i",
            Ph::O => b"o",
            Ph::U => b"u",
            Ph::B => b"b",
            Ph::D => b"d",
            Ph::F => b"f",
            Ph::G => b"g",
            Ph::H => b"h",
            Ph::J => b"j",
            Ph::K => b"k",
            Ph::L => b"l",
            Ph::M => b"m",
            Ph::N => b"n",
            Ph::Ng => b"ng",
            Ph::Nh => b"nh",
            Ph::P => b"p",
            Ph::S => b"s",
            Ph::T => b"t",
            Ph::V => b"v",
            Ph::Y => b"y",
            Ph::Z => b"z",
            Ph::Digit(d) => {
                out.push(d);
                return;
            }
        };
        out.extend_from_slice(s);
    }
}

fn is_vowel_byte(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// Appends a sound, collapsing doubled sounds and a silent `h` after a consonant.
fn emit(out: &mut Vec<Ph>, x: Ph) {
    if let Some(&top) = out.last() {
        if top == x && !matches!(x, Ph::Digit(_)) {
            return;
        }
        if x == Ph::H && top.is_consonant() {
            return;
        }
    }
    out.push(x);
}

/// One pass of the phonetic rules over lowercase ASCII letters and digits.
fn phonetic_pass(b: &[u8], codes: &mut Vec<Ph>, out: &mut Vec<u8>) {
    codes.clear();
    let vowel_at = |j: usize| b.get(j).is_some_and(|&x| is_vowel_byte(x));
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let n1 = b.get(i + 1).copied();
        let n2 = b.get(i + 2).copied();
        let top = codes.last().copied();
        let top_vowel = top.is_some_and(Ph::is_vowel);
        // A consonant closing a syllable: after a vowel and not before one.
        let final_pos = top_vowel && !(vowel_at(i + 1) || matches!(n1, Some(b'y' | b'w')));
        let mut advance = 1;
        match c {
            b'a' => {
                if n1 == Some(b'e') {
                    emit(codes, Ph::E);
                    advance = 2;
                } else {
                    emit(codes, Ph::A);
                }
            }
            b'e' => {
                if n1 == Some(b'e') {
                    emit(codes, Ph::I);
                    advance = 2;
                } else if n1 == Some(b'u') && n2 == Some(b'a') {
                    emit(codes, Ph::U);
                    emit(codes, Ph::A);
                    advance = 3;
                } else {
                    emit(codes, Ph::E);
                }
            }
            b'i' => {
                emit(codes, Ph::I);
                if n1 == Some(b'e') {
                    emit(codes, Ph::A);
                    advance = 2;
                }
            }
            b'o' => {
                if matches!(n1, Some(b'u' | b'o')) {
                    emit(codes, Ph::U);
                    advance = 2;
                } else {
                    emit(codes, Ph::O);
                }
            }
            b'u' => {
                emit(codes, Ph::U);
                if n1 == Some(b'e') && n2 == Some(b'a') {
                    emit(codes, Ph::A);
                    advance = 3;
                }
            }
            b'y' => emit(codes, if vowel_at(i + 1) { Ph::Y } else { Ph::I }),
            b'w' => {
                if vowel_at(i + 1) {
                    if top.is_some_and(Ph::is_consonant) {
                        emit(codes, Ph::U);
                    } else {
                        emit(codes, Ph::V);
                    }
                } else {
                    match top {
                        Some(Ph::O | Ph::U) => {}
                        Some(Ph::A | Ph::E) => emit(codes, Ph::O),
                        _ => emit(codes, Ph::U),
                    }
                }
            }
            b'v' => emit(codes, Ph::V),
            b'b' => emit(codes, if final_pos { Ph::P } else { Ph::B }),
            b'd' => emit(codes, if final_pos { Ph::T } else { Ph::D }),
            b'c' => {
                if n1 == Some(b'h') {
                    emit(codes, Ph::J);
                    advance = 2;
                } else {
                    emit(codes, Ph::K);
                }
            }
            b'k' | b'q' => emit(codes, Ph::K),
            b'g' => {
                if n1 == Some(b'n') && vowel_at(i + 2) {
                    emit(codes, Ph::Y);
                    advance = 2;
                } else {
                    emit(codes, Ph::G);
                }
            }
            b'n' => match n1 {
                Some(b'g') => {
                    emit(codes, Ph::Ng);
                    advance = 2;
                }
                Some(b'h') => {
                    emit(codes, if vowel_at(i + 2) { Ph::Nh } else { Ph::N });
                    advance = 2;
                }
                Some(b'y') if vowel_at(i + 2) => {
                    emit(codes, Ph::Y);
                    advance = 2;
                }
                _ => emit(codes, Ph::N),
            },
            // A final h after a vowel is silent.
            b'h' if top_vowel && n1.is_none() => {}
            b'h' => emit(codes, Ph::H),
            b'j' => emit(codes, Ph::J),
            // Pali-style silent final s in -vongs, -vongse (ວົງສ໌).
            b's' if top == Some(Ph::Ng) && (n1.is_none() || (n1 == Some(b'e') && n2.is_none())) => {
            }
            b'x' | b's' => emit(codes, Ph::S),
            // Thai-style r marking a long vowel (Somphorn, Phetsamorn).
            b'r' if top_vowel && !vowel_at(i + 1) && n1 != Some(b'y') => {}
            b'z' => emit(codes, Ph::Z),
            b'r' | b'l' => emit(codes, Ph::L),
            b'm' => emit(codes, Ph::M),
            b'f' => emit(codes, Ph::F),
            b'p' => emit(codes, Ph::P),
            b't' => emit(codes, Ph::T),
            b'0'..=b'9' => emit(codes, Ph::Digit(c)),
            _ => {}
        }
        i += advance;
    }
    // Final silent e (Phone, Phetsamone).
    let len = codes.len();
    if len >= 3
        && codes.last() == Some(&Ph::E)
        && codes.get(len - 2).is_some_and(|c| c.is_consonant())
        && codes.iter().take(len - 2).any(|c| c.is_vowel())
    {
        codes.pop();
    }
    out.clear();
    for &code in codes.iter() {
        code.render(out);
    }
}

/// A phonetic key of one folded lowercase ASCII Latin token, collapsing the usual variation of
/// romanized Lao and of Vietnamese written without marks (rules and their reasons are in the
/// module documentation). Idempotent, ASCII only, and never empty for a non-empty token.
///
/// A token that is not ASCII is first folded and romanized; characters other than ASCII
/// letters and digits are ignored. A token with none of those at all (e.g. another script)
/// gets a key made of the decimal code points of its characters, so that it is still
/// non-empty and only equal to itself.
pub fn phonetic(token: &str) -> String {
    let letters = |s: &str| -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| b.to_ascii_lowercase())
            .collect()
    };
    let mut cur = if token.is_ascii() {
        letters(token)
    } else {
        letters(&romanize_lao(token))
    };
    if cur.is_empty() {
        let mut key = String::new();
        for c in token.chars() {
            key.push_str(&u32::from(c).to_string());
        }
        return key;
    }
    let mut codes = Vec::with_capacity(cur.len());
    let mut next = Vec::with_capacity(cur.len());
    // Every pass keeps or shortens the string; a few passes reach the fixed point.
    for _ in 0..16 {
        phonetic_pass(&cur, &mut codes, &mut next);
        if next == cur {
            break;
        }
        std::mem::swap(&mut cur, &mut next);
    }
    cur.into_iter().map(char::from).collect()
}

fn is_token_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.' | ',' | '\u{2010}'
                ..='\u{2015}'
                    | '\u{2212}'
                    | '\u{FE58}'
                    | '\u{FE63}'
                    | '\u{FF0D}'
                    | '\u{FF0C}'
                    | '\u{FF0E}'
                    | '\u{3001}'
                    | '\u{3002}'
        )
}

/// The folded Latin tokens of a name in any script: NFC, split on whitespace and on
/// hyphens/dots/commas, Latin folded with [`fold_for_search`], Lao romanized with
/// [`romanize_lao`]. Empty tokens dropped.
///
/// `"Nguyễn Thị-Minh"` → `["nguyen", "thi", "minh"]`, `"ສົມສັກ ວົງສາ"` → `["somsak", "vongsa"]`.
pub fn latin_tokens(name: &str) -> Vec<String> {
    romanize_lao(name)
        .split(is_token_separator)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The phonetic keys of a name's tokens: [`phonetic`] of each of [`latin_tokens`].
pub fn phonetic_tokens(name: &str) -> Vec<String> {
    latin_tokens(name).iter().map(|t| phonetic(t)).collect()
}
