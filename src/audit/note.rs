//! C2SP signed notes (Ed25519) and `tlog-checkpoint` bodies; key files in the `golang.org/x/mod/sumdb/note` text
//! format (`PRIVATE+KEY+<name>+<id>+<base64>` and `<name>+<id>+<base64>`), so Go tooling accepts our keys.
//!
//! Must never: print, log or `Debug`-format private key material.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;
use super::AuditError;

/// Signature type byte for Ed25519 in the C2SP signed-note spec.
const ALG_ED25519: u8 = 0x01;
/// Upper bound on note size we accept when parsing (notes are tiny; this bounds untrusted input).
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// `SHA-256(name || 0x0A || 0x01 || public key)[:4]` as a big-endian u32.
pub fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// The log's Ed25519 signing key with its note key name (= checkpoint origin).
pub struct NoteSigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// Generate a fresh key for `name`. Returns the signer; use [`Self::to_private_key_string`] to store it.
    pub fn generate(name: &str) -> Result<Self, AuditError> {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        Self::from_seed(name, seed)
    }

    fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, AuditError> {
        if !valid_key_name(name) {
            return Err(AuditError::Key(
                "key name must be non-empty without spaces or '+'".into(),
            ));
        }
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// A 32-byte secret derived from the signing key for one purpose: `HMAC-SHA256(key = Ed25519 seed, label)`.
    /// Distinct labels give independent keys; the seed itself is never used for anything but signing and this
    /// derivation, and the derived key reveals nothing about it. Used for the journal's frame MACs.
    pub(crate) fn derive_key(&self, label: &[u8]) -> Result<[u8; 32], AuditError> {
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.key.as_bytes())
            .map_err(|_| AuditError::Key("cannot derive a key".into()))?;
        mac.update(label);
        Ok(mac.finalize().into_bytes().into())
    }

    /// Parse `PRIVATE+KEY+<name>+<id hex>+<base64(0x01 || seed)>`. Error messages never contain key material.
    pub fn from_private_key_string(text: &str) -> Result<Self, AuditError> {
        let text = text.trim();
        let rest = text.strip_prefix("PRIVATE+KEY+").ok_or_else(|| {
            AuditError::Key("signing key does not start with PRIVATE+KEY+".into())
        })?;
        // The base64 part may itself contain '+': split into at most three fields.
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(AuditError::Key("malformed signing key".into()));
        };
        let raw = B64
            .decode(b64)
            .map_err(|_| AuditError::Key("signing key is not valid base64".into()))?;
        let (Some(&ALG_ED25519), Ok(seed)) = (
            raw.first(),
            <[u8; 32]>::try_from(raw.get(1..).unwrap_or(&[])),
        ) else {
            return Err(AuditError::Key("signing key is not an Ed25519 key".into()));
        };
        let signer = Self::from_seed(name, seed)?;
        if format!("{:08x}", signer.id) != id_hex {
            return Err(AuditError::Key(
                "signing key id does not match its key".into(),
            ));
        }
        Ok(signer)
    }

    /// The private key in note format. Handle with care: this is the secret.
    pub fn to_private_key_string(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            B64.encode(raw)
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// Key name (the log origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sign a note text (must end in a newline) and return the full signed note.
    pub fn sign(&self, text: &str) -> Result<String, AuditError> {
        if !text.ends_with('\n') {
            return Err(AuditError::Note("note text must end with a newline".into()));
        }
        let sig = self.key.sign(text.as_bytes());
        let mut raw = self.id.to_be_bytes().to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n\u{2014} {} {}\n",
            self.name,
            B64.encode(raw)
        ))
    }
}

/// A public key that verifies notes: `<name>+<id hex>+<base64(0x01 || public key)>`.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parse a verifier key string.
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        let text = text.trim();
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(AuditError::Key(
                "malformed verifier key (want name+id+base64)".into(),
            ));
        };
        if !valid_key_name(name) {
            return Err(AuditError::Key("malformed verifier key name".into()));
        }
        let raw = B64
            .decode(b64)
            .map_err(|_| AuditError::Key("verifier key is not valid base64".into()))?;
        let (Some(&ALG_ED25519), Ok(public)) = (
            raw.first(),
            <[u8; 32]>::try_from(raw.get(1..).unwrap_or(&[])),
        ) else {
            return Err(AuditError::Key("verifier key is not an Ed25519 key".into()));
        };
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| AuditError::Key("verifier key is not a valid Ed25519 point".into()))?;
        let id = key_id(name, &public);
        if format!("{id:08x}") != id_hex {
            return Err(AuditError::Key(
                "verifier key id does not match its key".into(),
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// Verifier key string.
    pub fn to_key_string(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }

    /// Verify a signed note; returns its text on success. Signatures by other keys are ignored (per the spec);
    /// at least one signature by this key must verify, and none by this key may fail.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, AuditError> {
        let (text, sigs) = split_note(note)?;
        let mut ok = false;
        for line in sigs.lines() {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or_else(|| AuditError::Note("malformed signature line".into()))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| AuditError::Note("malformed signature line".into()))?;
            let raw = B64
                .decode(b64)
                .map_err(|_| AuditError::Note("signature is not valid base64".into()))?;
            if raw.len() < 4 {
                return Err(AuditError::Note("signature is too short".into()));
            }
            let id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
            if name != self.name || id != self.id {
                continue;
            }
            let sig = Signature::from_slice(&raw[4..]).map_err(|_| {
                AuditError::Note(format!("signature by {name} has the wrong length"))
            })?;
            self.key
                .verify(text.as_bytes(), &sig)
                .map_err(|_| AuditError::Note(format!("signature by {name} does not verify")))?;
            ok = true;
        }
        if ok {
            return Ok(text);
        }
        let found: Vec<String> = sigs
            .lines()
            .filter_map(|l| {
                let (name, b64) = l.strip_prefix("\u{2014} ")?.split_once(' ')?;
                let raw = B64.decode(b64).ok()?;
                let id = raw.first_chunk::<4>().map(|b| u32::from_be_bytes(*b))?;
                Some(format!("{name}+{id:08x}"))
            })
            .collect();
        Err(AuditError::WrongKey {
            expected: format!("{}+{:08x}", self.name, self.id),
            found: if found.is_empty() {
                "no key".into()
            } else {
                found.join(", ")
            },
        })
    }
}

/// Split a signed note into (text including its final newline, signature block).
pub fn split_note(note: &str) -> Result<(&str, &str), AuditError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(AuditError::Note("note is too large".into()));
    }
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AuditError::Note("note contains control characters".into()));
    }
    let sep = note
        .rfind("\n\n")
        .ok_or_else(|| AuditError::Note("note has no signature block".into()))?;
    let (text, sigs) = (&note[..=sep], &note[sep + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(AuditError::Note("note has no signatures".into()));
    }
    Ok((text, sigs))
}

/// A checkpoint body: origin, tree size, root hash (C2SP `tlog-checkpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Log identity (origin line).
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// Root hash at that size.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text (three lines, each ending in a newline).
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parse a note text (extension lines are accepted and ignored).
    pub fn parse_text(text: &str) -> Result<Self, AuditError> {
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(AuditError::Note(
                "checkpoint has fewer than three lines".into(),
            ));
        };
        if origin.is_empty() {
            return Err(AuditError::Note("checkpoint origin is empty".into()));
        }
        if size.is_empty()
            || (size.len() > 1 && size.starts_with('0'))
            || !size.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(AuditError::Note(
                "checkpoint tree size is not a canonical decimal".into(),
            ));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| AuditError::Note("checkpoint tree size is out of range".into()))?;
        let root = B64
            .decode(root)
            .ok()
            .and_then(|r| <Hash>::try_from(r.as_slice()).ok())
            .ok_or_else(|| {
                AuditError::Note("checkpoint root is not a base64 SHA-256 hash".into())
            })?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Verify a signed checkpoint note with `verifier` and check that its origin is the verifier's name (the
    /// origin of shard 0, i.e. of a log that never rotated).
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, AuditError> {
        Self::open_with_origin(note, verifier, verifier.name())
    }

    /// Verify a signed checkpoint note with `verifier` and check that its origin is exactly `origin` (e.g. a
    /// shard's origin `<key name>/shards/<k>`).
    pub fn open_with_origin(
        note: &str,
        verifier: &NoteVerifier,
        origin: &str,
    ) -> Result<Self, AuditError> {
        let text = verifier.open(note)?;
        let cp = Self::parse_text(text)?;
        if cp.origin != origin {
            return Err(AuditError::Note(format!(
                "checkpoint origin {:?} is not the expected {:?}",
                cp.origin, origin
            )));
        }
        Ok(cp)
    }

    /// Verify a signed checkpoint note of any shard of the log signed by `verifier`: the origin must be the key
    /// name (shard 0) or `<key name>/shards/<k>` with k ≥ 1. Returns the checkpoint and its shard number.
    pub fn open_any_shard(note: &str, verifier: &NoteVerifier) -> Result<(Self, u64), AuditError> {
        let text = verifier.open(note)?;
        let cp = Self::parse_text(text)?;
        let shard =
            super::shard::shard_of_origin(verifier.name(), &cp.origin).ok_or_else(|| {
                AuditError::Note(format!(
                    "checkpoint origin {:?} is neither the key name {:?} nor one of its shards",
                    cp.origin,
                    verifier.name()
                ))
            })?;
        Ok((cp, shard))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_open_roundtrip() {
        let s = NoteSigner::generate("example.com/log").unwrap();
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 5,
            root: [7u8; 32],
        };
        let note = s.sign(&cp.to_text()).unwrap();
        let v = NoteVerifier::parse(&s.verifier().to_key_string()).unwrap();
        assert_eq!(Checkpoint::open(&note, &v).unwrap(), cp);
        let s2 = NoteSigner::from_private_key_string(&s.to_private_key_string()).unwrap();
        assert_eq!(s2.verifier().to_key_string(), s.verifier().to_key_string());
        assert!(!format!("{s:?}").contains(&s.to_private_key_string()[30..]));
    }

    /// The golang.org/x/mod/sumdb/note reference vector: same key id, same (deterministic) signature bytes.
    #[test]
    fn go_sumdb_note_vector() {
        let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
        let want = format!(
            "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        );
        let signer = NoteSigner::from_private_key_string(skey).unwrap();
        assert_eq!(signer.verifier().to_key_string(), vkey);
        assert_eq!(signer.sign(text).unwrap(), want);
        let v = NoteVerifier::parse(vkey).unwrap();
        assert_eq!(v.open(&want).unwrap(), text);
        assert!(v
            .open(&want.replace("cryptography", "cryptographY"))
            .is_err());
    }
}
