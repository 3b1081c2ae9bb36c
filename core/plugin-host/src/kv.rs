//! The per-plugin key-value store: a map kept in memory and written to one file
//! (`state_dir/<name>/kv.bin`) after every change.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"CFKV1\n";
pub const MAX_KEY_BYTES: usize = 256;

#[derive(Debug, PartialEq, Eq)]
pub enum KvFailure {
    QuotaExceeded,
    InvalidKey,
    Io(String),
}

#[derive(Debug)]
pub struct KvStore {
    path: PathBuf,
    map: BTreeMap<String, Vec<u8>>,
    used: usize,
}

fn entry_size(k: &str, v: &[u8]) -> usize {
    k.len() + v.len()
}

impl KvStore {
    /// Reads the store; a missing file is an empty store, a corrupt one is an error.
    pub fn open(path: &Path) -> std::io::Result<KvStore> {
        let mut map = BTreeMap::new();
        match std::fs::read(path) {
            Ok(bytes) => decode(&bytes, &mut map).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "corrupt key-value file")
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let used = map.iter().map(|(k, v)| entry_size(k, v)).sum();
        Ok(KvStore {
            path: path.to_path_buf(),
            map,
            used,
        })
    }

    pub fn used_bytes(&self) -> usize {
        self.used
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.map.get(key).cloned()
    }

    pub fn set(&mut self, key: &str, value: &[u8], quota: usize) -> Result<(), KvFailure> {
        check_key(key)?;
        let old = self.map.get(key).map_or(0, |v| entry_size(key, v));
        let new_used = self.used - old + entry_size(key, value);
        if new_used > quota {
            return Err(KvFailure::QuotaExceeded);
        }
        let previous = self.map.insert(key.to_string(), value.to_vec());
        let before = self.used;
        self.used = new_used;
        if let Err(e) = self.persist() {
            // Keep memory and disk in step.
            match previous {
                Some(p) => self.map.insert(key.to_string(), p),
                None => self.map.remove(key),
            };
            self.used = before;
            return Err(KvFailure::Io(e.to_string()));
        }
        Ok(())
    }

    pub fn delete(&mut self, key: &str) -> Result<(), KvFailure> {
        check_key(key)?;
        if let Some(v) = self.map.remove(key) {
            self.used -= entry_size(key, &v);
            self.persist().map_err(|e| KvFailure::Io(e.to_string()))?;
        }
        Ok(())
    }

    fn persist(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut buf = Vec::with_capacity(self.used + 16 + self.map.len() * 8);
        buf.extend_from_slice(MAGIC);
        for (k, v) in &self.map {
            buf.extend_from_slice(&(k.len() as u32).to_le_bytes());
            buf.extend_from_slice(k.as_bytes());
            buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
            buf.extend_from_slice(v);
        }
        let tmp = self.path.with_extension("bin.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&buf)?;
            f.sync_data()?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}

fn check_key(key: &str) -> Result<(), KvFailure> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(KvFailure::InvalidKey);
    }
    Ok(())
}

fn decode(bytes: &[u8], map: &mut BTreeMap<String, Vec<u8>>) -> Option<()> {
    let mut rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        if rest.len() < n {
            return None;
        }
        let (a, b) = rest.split_at(n);
        rest = b;
        Some(a)
    };
    while let Some(len) = take(4) {
        let klen = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let key = String::from_utf8(take(klen)?.to_vec()).ok()?;
        let vlen = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let value = take(vlen)?.to_vec();
        map.insert(key, value);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_quota() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p/kv.bin");
        let mut kv = KvStore::open(&path).unwrap();
        kv.set("a", b"12345", 10).unwrap();
        assert_eq!(kv.used_bytes(), 6);
        assert_eq!(kv.set("b", b"123456789", 10), Err(KvFailure::QuotaExceeded));
        kv.set("a", b"123456789", 10).unwrap(); // replacing counts the new size only
        assert_eq!(kv.set("", b"", 10), Err(KvFailure::InvalidKey));
        let again = KvStore::open(&path).unwrap();
        assert_eq!(again.get("a").as_deref(), Some(b"123456789".as_slice()));
        kv.delete("a").unwrap();
        assert_eq!(KvStore::open(&path).unwrap().get("a"), None);
    }
}
