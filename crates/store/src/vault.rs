//! Identity at rest: the [`Vault`] seals what the citizen wrote and who they are before it
//! reaches the database, and turns look-up keys (e-mail addresses, chat ids, platform
//! message ids) into keyed hashes.
//!
//! Invariants:
//! - A sealed value is AES-256-GCM (RustCrypto `aes-gcm`, AES-NI and CLMUL detected at run
//!   time) under a key derived from the current 32-byte key of the [`KeyRing`], with a fresh
//!   random 96-bit nonce per value and the column's name as associated data, so a ciphertext
//!   moved to another column fails to open. Random 96-bit nonces keep one key well inside
//!   GCM's bound for up to 2^32 sealed values (about 400 million complaints); `aduan keys
//!   rotate` long before that. (XChaCha20-Poly1305 was measured 4–5× slower here: the
//!   `chacha20` crate picks its SIMD backend at compile time only.)
//!   Text columns hold `enc1:<key id>:<base64(nonce ‖ ciphertext)>`; binary columns hold
//!   `0xA1 ‖ key id (4 bytes) ‖ nonce ‖ ciphertext`. The key id says which key of the ring
//!   opens it, so a ring of several keys (during `aduan keys rotate`) opens every row.
//! - A keyed hash ([`Vault::blind`]) is HMAC-SHA-256 under a second key derived from the
//!   same ring key, over a domain label and the value; 128 bits in hex. Look-ups compute it
//!   with every key of the ring ([`Vault::blinds`]), so rows not yet rotated are still found.
//! - Nothing here logs or formats a plaintext; errors name the column only.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use aduan_core::store::StoreError;

const TEXT_PREFIX: &str = "enc1:";
const BYTES_MAGIC: u8 = 0xA1;
const NONCE_LEN: usize = 12;
const KEY_ID_LEN: usize = 4;

/// The raw key material of one ring entry.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl Key {
    /// A new random key.
    pub fn generate() -> Key {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        Key(k)
    }

    /// From standard base64 of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<Key, KeyError> {
        let bytes = STANDARD
            .decode(s.trim())
            .map_err(|_| KeyError::Invalid("not base64".into()))?;
        let k: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| KeyError::Invalid(format!("{} bytes, expected 32", v.len())))?;
        Ok(Key(k))
    }

    /// Standard base64 (what the key file and `ADUAN__PRIVACY__KEY` hold).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The 4-byte id written in front of every value sealed with this key.
    pub fn id(&self) -> [u8; KEY_ID_LEN] {
        let d = Sha256::new()
            .chain_update(b"aduan key id\0")
            .chain_update(self.0)
            .finalize();
        [d[0], d[1], d[2], d[3]]
    }

    /// The key id in hex (shown by `aduan keys rotate`; not secret).
    pub fn id_hex(&self) -> String {
        hex_lower(&self.id())
    }

    fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("any key length");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id_hex())
    }
}

/// Why a key could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid identity key: {0}")]
    Invalid(String),
    #[error("identity key file {path}: {error}")]
    Io { path: PathBuf, error: String },
}

/// The keys of an installation, newest first: the first seals, every one opens.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    /// A ring of `keys`, the first being current. Refuses an empty ring.
    pub fn new(keys: Vec<Key>) -> Result<KeyRing, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Invalid("no key".into()));
        }
        Ok(KeyRing { keys })
    }

    /// The keys, current first.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Parse the key file format: one base64 key per line, current first; `#` comments and
    /// blank lines ignored. Also accepts a comma-separated list (the environment form).
    pub fn parse(text: &str) -> Result<KeyRing, KeyError> {
        let keys = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(Key::from_base64)
            .collect::<Result<Vec<_>, _>>()?;
        KeyRing::new(keys)
    }

    /// The file form of the ring (written 0600 by [`KeyRing::store`]).
    pub fn to_file_text(&self) -> String {
        let mut s = String::from(
            "# aduan identity key ring: base64 32-byte keys, the first seals, all open.\n\
             # Back this file up with the database; without it the identities cannot be read.\n",
        );
        for k in &self.keys {
            s.push_str(&k.to_base64());
            s.push('\n');
        }
        s
    }

    /// Read the ring from `path`, creating it with one new key (mode 0600, parent 0700) when
    /// the file does not exist. Returns the ring and whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(KeyRing, bool), KeyError> {
        let io = |e: std::io::Error| KeyError::Io {
            path: path.to_path_buf(),
            error: e.to_string(),
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((KeyRing::parse(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let ring = KeyRing::new(vec![Key::generate()])?;
                ring.store_new(path).map_err(io)?;
                Ok((ring, true))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Replace the file at `path` with this ring atomically (temp file 0600 + rename).
    pub fn store(&self, path: &Path) -> Result<(), KeyError> {
        let tmp = path.with_extension("key.tmp");
        let result = (|| {
            let _ = std::fs::remove_file(&tmp);
            write_private(&tmp, self.to_file_text().as_bytes())?;
            std::fs::rename(&tmp, path)
        })();
        result.map_err(|e| KeyError::Io {
            path: path.to_path_buf(),
            error: e.to_string(),
        })
    }

    fn store_new(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        write_private(path, self.to_file_text().as_bytes())
    }
}

/// Create `dir` (and parents) with mode 0700 for the directories this call creates.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Write a new file readable by its owner only (fails when it exists).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

struct Entry {
    id: [u8; KEY_ID_LEN],
    /// `enc1:<id in hex>:`, the head of every text this key seals.
    text_head: String,
    cipher: Aes256Gcm,
    index: Hmac<Sha256>,
}

/// Seals and opens stored values and computes keyed hashes (see the module docs). Cheap to
/// clone.
#[derive(Clone)]
pub struct Vault {
    entries: Arc<Vec<Entry>>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self
            .entries
            .iter()
            .map(|e| e.id.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        f.debug_struct("Vault").field("keys", &ids).finish()
    }
}

impl Vault {
    pub fn new(ring: &KeyRing) -> Vault {
        let entries = ring
            .keys
            .iter()
            .map(|k| Entry {
                id: k.id(),
                text_head: format!("{TEXT_PREFIX}{}:", k.id_hex()),
                cipher: Aes256Gcm::new(&k.derive(b"aduan/seal/v1").into()),
                index: <Hmac<Sha256> as KeyInit>::new_from_slice(&k.derive(b"aduan/index/v1"))
                    .expect("any key length"),
            })
            .collect();
        Vault {
            entries: Arc::new(entries),
        }
    }

    /// A vault with a random key, for tests and benchmarks.
    pub fn ephemeral() -> Vault {
        Vault::new(&KeyRing::new(vec![Key::generate()]).expect("one key"))
    }

    fn current(&self) -> &Entry {
        &self.entries[0]
    }

    fn entry(&self, id: &[u8]) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    fn seal_raw(&self, column: &str, plain: &[u8]) -> (&Entry, [u8; NONCE_LEN], Vec<u8>) {
        let e = self.current();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = e
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: column.as_bytes(),
                },
            )
            .expect("AES-256-GCM encryption of a buffer far below its size bound cannot fail");
        (e, nonce, ct)
    }

    /// Open `ct` (ciphertext and tag) in its own buffer, which becomes the plaintext.
    fn open_raw(
        &self,
        column: &str,
        id: &[u8],
        nonce: &[u8],
        mut ct: Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let e = self.entry(id).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "{column}: sealed under a key that is not in the key ring"
            ))
        })?;
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("{column}: truncated sealed value")))?;
        e.cipher
            .decrypt_in_place(&Nonce::from(nonce), column.as_bytes(), &mut ct)
            .map_err(|_| StoreError::Corrupt(format!("{column}: sealed value does not verify")))?;
        Ok(ct)
    }

    /// Seal a text value for `column` (`table.column`).
    pub fn seal(&self, column: &str, plain: &str) -> String {
        let (e, nonce, ct) = self.seal_raw(column, plain.as_bytes());
        let mut raw = Vec::with_capacity(NONCE_LEN + ct.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ct);
        let mut out = String::with_capacity(e.text_head.len() + raw.len() * 4 / 3 + 4);
        out.push_str(&e.text_head);
        STANDARD.encode_string(&raw, &mut out);
        out
    }

    pub fn seal_opt(&self, column: &str, plain: Option<&str>) -> Option<String> {
        plain.map(|p| self.seal(column, p))
    }

    /// Open a text value sealed by [`Vault::seal`] for the same `column`.
    pub fn open(&self, column: &str, stored: &str) -> Result<String, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("{column}: not a sealed value"));
        let rest = stored.strip_prefix(TEXT_PREFIX).ok_or_else(corrupt)?;
        let (id_hex, b64) = rest.split_once(':').ok_or_else(corrupt)?;
        let id = decode_hex(id_hex).ok_or_else(corrupt)?;
        let mut raw = STANDARD.decode(b64).map_err(|_| corrupt())?;
        if raw.len() < NONCE_LEN {
            return Err(corrupt());
        }
        // Opened in the decoded buffer itself (no second allocation per value: a month's
        // report opens 200,000 analyses), the nonce moved out of its front first.
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&raw[..NONCE_LEN]);
        raw.drain(..NONCE_LEN);
        let plain = self.open_raw(column, &id, &nonce, raw)?;
        String::from_utf8(plain).map_err(|_| StoreError::Corrupt(format!("{column}: not UTF-8")))
    }

    pub fn open_opt(
        &self,
        column: &str,
        stored: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        stored.map(|s| self.open(column, s)).transpose()
    }

    /// Seal bytes (attachment contents) for `column`.
    pub fn seal_bytes(&self, column: &str, plain: &[u8]) -> Vec<u8> {
        let (e, nonce, ct) = self.seal_raw(column, plain);
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + ct.len());
        out.push(BYTES_MAGIC);
        out.extend_from_slice(&e.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Open bytes sealed by [`Vault::seal_bytes`].
    pub fn open_bytes(&self, column: &str, stored: &[u8]) -> Result<Vec<u8>, StoreError> {
        let head = 1 + KEY_ID_LEN + NONCE_LEN;
        if stored.len() < head || stored[0] != BYTES_MAGIC {
            return Err(StoreError::Corrupt(format!("{column}: not a sealed value")));
        }
        self.open_raw(
            column,
            &stored[1..1 + KEY_ID_LEN],
            &stored[1 + KEY_ID_LEN..head],
            stored[head..].to_vec(),
        )
    }

    /// Whether a stored text value is sealed under the current key (rotation skips it).
    pub fn is_current(&self, stored: &str) -> bool {
        stored.starts_with(&self.current().text_head)
    }

    /// Whether stored bytes are sealed under the current key.
    pub fn bytes_current(&self, stored: &[u8]) -> bool {
        stored.len() > KEY_ID_LEN
            && stored[0] == BYTES_MAGIC
            && stored[1..1 + KEY_ID_LEN] == self.current().id
    }

    /// The keyed hash of `value` in `domain`, under the current key.
    pub fn blind(&self, domain: &str, value: &str) -> String {
        blind_with(self.current(), domain, value)
    }

    pub fn blind_opt(&self, domain: &str, value: Option<&str>) -> Option<String> {
        value.map(|v| self.blind(domain, v))
    }

    /// The keyed hash of `value` under every key of the ring, current first (look-ups match
    /// rows not yet rotated).
    pub fn blinds(&self, domain: &str, value: &str) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| blind_with(e, domain, value))
            .collect()
    }

    /// Number of keys in the ring.
    pub fn key_count(&self) -> usize {
        self.entries.len()
    }
}

fn blind_with(e: &Entry, domain: &str, value: &str) -> String {
    let mut mac = e.index.clone();
    mac.update(domain.as_bytes());
    mac.update(&[0]);
    mac.update(value.as_bytes());
    let d = mac.finalize().into_bytes();
    hex_lower(&d[..16])
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_is_bound_to_its_column() {
        let v = Vault::ephemeral();
        let s = v.seal("complaints.name", "Ni Luh Putu Ayu");
        assert!(s.starts_with("enc1:"));
        assert!(!s.contains("Ayu"));
        assert_eq!(v.open("complaints.name", &s).unwrap(), "Ni Luh Putu Ayu");
        assert!(v.open("complaints.body", &s).is_err());
        // A fresh nonce per value: the same plaintext never seals the same way twice.
        assert_ne!(s, v.seal("complaints.name", "Ni Luh Putu Ayu"));
        assert!(v.open("complaints.name", "Ni Luh Putu Ayu").is_err());
        // Opened in its decoded buffer: a changed byte anywhere, or a value cut short
        // (down to no tag, no nonce, nothing), fails to verify and never panics.
        let (head, b64) = s.rsplit_once(':').unwrap();
        let raw = STANDARD.decode(b64).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x20;
            let bad = format!("{head}:{}", STANDARD.encode(&bad));
            assert!(v.open("complaints.name", &bad).is_err(), "byte {i}");
        }
        for n in 0..raw.len() {
            let cut = format!("{head}:{}", STANDARD.encode(&raw[..n]));
            assert!(v.open("complaints.name", &cut).is_err(), "{n} bytes");
        }
    }

    #[test]
    fn bytes_round_trip_and_tampering_is_caught() {
        let v = Vault::ephemeral();
        let mut s = v.seal_bytes("attachments.data", b"\x89PNG data");
        assert_eq!(
            v.open_bytes("attachments.data", &s).unwrap(),
            b"\x89PNG data"
        );
        let last = s.len() - 1;
        s[last] ^= 1;
        assert!(v.open_bytes("attachments.data", &s).is_err());
    }

    #[test]
    fn a_ring_opens_old_values_and_seals_with_the_first_key() {
        let old = Key::generate();
        let new = Key::generate();
        let before = Vault::new(&KeyRing::new(vec![old.clone()]).unwrap());
        let sealed = before.seal("messages.text", "NIK 5108012345678901");
        let during = Vault::new(&KeyRing::new(vec![new.clone(), old.clone()]).unwrap());
        assert_eq!(
            during.open("messages.text", &sealed).unwrap(),
            "NIK 5108012345678901"
        );
        assert!(!during.is_current(&sealed));
        assert!(during.is_current(&during.seal("messages.text", "x")));
        let hashes = during.blinds("ext", "5123:42");
        assert_eq!(hashes[1], before.blind("ext", "5123:42"));
        assert_eq!(hashes[0], during.blind("ext", "5123:42"));
        let after = Vault::new(&KeyRing::new(vec![new]).unwrap());
        assert!(after.open("messages.text", &sealed).is_err());
    }

    #[test]
    fn key_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/identity.key");
        let (ring, created) = KeyRing::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        let (again, created) = KeyRing::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.keys()[0].id(), ring.keys()[0].id());
        let two = KeyRing::new(vec![Key::generate(), ring.keys()[0].clone()]).unwrap();
        two.store(&path).unwrap();
        assert_eq!(KeyRing::load_or_create(&path).unwrap().0.keys().len(), 2);
        assert!(KeyRing::parse("not base64!").is_err());
        assert!(KeyRing::parse("# only a comment\n").is_err());
    }
}
