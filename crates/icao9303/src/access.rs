//! The access keys a chip derives from its machine-readable zone (Doc 9303 Part 11 §4.3 and
//! §9.7): the MRZ information, the Basic Access Control key seed and keys, and the PACE
//! password key. A personalisation machine needs them to write the chip's access keys; a
//! reader needs them to open it.
//!
//! Part 11 §9.7.1, the key derivation function: `KDF(K, c) = H(K || c)` with the 32-bit
//! big-endian counter `c` = 1 (encryption), 2 (MAC), 3 (PACE password), truncated to the key
//! length; SHA-1 for 3DES and AES-128, SHA-256 for AES-192 and AES-256. 3DES keys get odd
//! parity in the low bit of each byte.
use crate::mrz::{check_digit, MrzError, Td1};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The key derivation function's counter (Part 11 §9.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    Encryption = 1,
    Mac = 2,
    Password = 3,
}

/// The cipher a derived key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCipher {
    /// Two-key 3DES (16 bytes, odd parity): BAC and PACE with 3DES.
    TripleDes,
    Aes128,
    Aes192,
    Aes256,
}

/// The MRZ information of Part 11 §4.3.2: document number, date of birth and date of expiry,
/// each with its check digit, as printed in the MRZ (the document number padded with `<` to
/// at least nine characters; a longer number whole, with the check digit of the whole).
pub fn mrz_information(td1: &Td1) -> Result<String, MrzError> {
    let mut number = td1.document_number.clone();
    while number.len() < 9 {
        number.push('<');
    }
    let dob = td1.date_of_birth.as_str();
    let expiry = td1
        .date_of_expiry
        .as_ref()
        .map(|d| d.as_str().to_owned())
        .unwrap_or_else(|| "<<<<<<".to_owned());
    Ok(format!(
        "{number}{}{dob}{}{expiry}{}",
        check_digit(&number)?,
        check_digit(dob)?,
        check_digit(&expiry)?
    ))
}

/// `KDF(K, c)`: the key for `cipher` and `purpose` from the shared secret `k`.
pub fn kdf(k: &[u8], purpose: KeyPurpose, cipher: KeyCipher) -> Vec<u8> {
    let counter = (purpose as u32).to_be_bytes();
    let mut key = match cipher {
        KeyCipher::TripleDes | KeyCipher::Aes128 => {
            let mut h = Sha1::new();
            h.update(k);
            h.update(counter);
            h.finalize()[..16].to_vec()
        }
        KeyCipher::Aes192 | KeyCipher::Aes256 => {
            let mut h = Sha256::new();
            h.update(k);
            h.update(counter);
            let len = if cipher == KeyCipher::Aes192 { 24 } else { 32 };
            h.finalize()[..len].to_vec()
        }
    };
    if cipher == KeyCipher::TripleDes {
        for b in &mut key {
            // Odd parity: the low bit makes the number of one bits odd.
            let high = *b & 0xFE;
            *b = high | u8::from(high.count_ones() % 2 == 0);
        }
    }
    key
}

/// The BAC key seed: the first 16 bytes of SHA-1 of the MRZ information (Part 11 §9.7.2).
pub fn bac_key_seed(mrz_information: &str) -> [u8; 16] {
    let digest = Sha1::digest(mrz_information.as_bytes());
    let mut seed = [0u8; 16];
    seed.copy_from_slice(&digest[..16]);
    seed
}

/// The BAC document basic access keys `(K_enc, K_mac)` (3DES).
pub fn bac_keys(mrz_information: &str) -> (Vec<u8>, Vec<u8>) {
    let seed = bac_key_seed(mrz_information);
    (
        kdf(&seed, KeyPurpose::Encryption, KeyCipher::TripleDes),
        kdf(&seed, KeyPurpose::Mac, KeyCipher::TripleDes),
    )
}

/// The PACE password key `K_π` from the MRZ (Part 11 §9.7.3): `KDF(SHA-1(MRZ information), 3)`.
pub fn pace_mrz_password_key(mrz_information: &str, cipher: KeyCipher) -> Vec<u8> {
    let k = Sha1::digest(mrz_information.as_bytes());
    kdf(&k, KeyPurpose::Password, cipher)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::mrz::{MrzDate, Sex};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Doc 9303 Part 11, Appendix D.2 (the BAC worked example): document number L898902C,
    /// born 690806, expiring 940623.
    #[test]
    fn bac_worked_example() {
        let td1 = Td1 {
            document_code: "I".into(),
            issuing_state: "UTO".into(),
            document_number: "L898902C".into(),
            date_of_birth: MrzDate::new("690806").unwrap(),
            sex: Sex::Female,
            date_of_expiry: Some(MrzDate::new("940623").unwrap()),
            nationality: "UTO".into(),
            optional_data_1: String::new(),
            optional_data_2: String::new(),
            primary_identifier: "ERIKSSON".into(),
            secondary_identifier: "ANNA MARIA".into(),
        };
        let info = mrz_information(&td1).unwrap();
        assert_eq!(info, "L898902C<369080619406236");
        assert_eq!(
            bac_key_seed(&info).to_vec(),
            hex("239AB9CB282DAF66231DC5A4DF6BFBAE")
        );
        let (k_enc, k_mac) = bac_keys(&info);
        assert_eq!(k_enc, hex("AB94FDECF2674FDFB9B391F85D7F76F2"));
        assert_eq!(k_mac, hex("7962D9ECE03D1ACD4C76089DCE131543"));
    }

    /// Doc 9303 Part 11, the PACE worked examples (Appendices G and H): the MRZ information
    /// T22000129364081251010318 and its AES-128 password key.
    #[test]
    fn pace_worked_example() {
        let td1 = Td1 {
            document_code: "ID".into(),
            issuing_state: "D<<".into(),
            document_number: "T22000129".into(),
            date_of_birth: MrzDate::new("640812").unwrap(),
            sex: Sex::Female,
            date_of_expiry: Some(MrzDate::new("101031").unwrap()),
            nationality: "D<<".into(),
            optional_data_1: String::new(),
            optional_data_2: String::new(),
            primary_identifier: "MUSTERMANN".into(),
            secondary_identifier: "ERIKA".into(),
        };
        let info = mrz_information(&td1).unwrap();
        assert_eq!(info, "T22000129364081251010318");
        assert_eq!(
            Sha1::digest(info.as_bytes()).to_vec(),
            hex("7E2D2A41C74EA0B38CD36F863939BFA8E9032AAD")
        );
        assert_eq!(
            pace_mrz_password_key(&info, KeyCipher::Aes128),
            hex("89DED1B26624EC1E634C1989302849DD")
        );
    }

    #[test]
    fn triple_des_keys_have_odd_parity() {
        for seed in 0u8..32 {
            let key = kdf(&[seed; 16], KeyPurpose::Encryption, KeyCipher::TripleDes);
            assert!(key.iter().all(|b| b.count_ones() % 2 == 1));
        }
        assert_eq!(kdf(b"k", KeyPurpose::Mac, KeyCipher::Aes256).len(), 32);
        assert_eq!(kdf(b"k", KeyPurpose::Mac, KeyCipher::Aes192).len(), 24);
    }
}
