//! Where a stored response lives: OpenAI Responses API objects (`store: true`, `background: true`) are kept by the
//! provider that created them, and `GET`/`DELETE /v1/responses/{id}`, `…/input_items` and `POST …/cancel` must reach
//! that same provider. A request routed by model name to a domestic destination creates its response there; its
//! retrieval carries no model name, so without this table it would go to the family's default destination (the
//! public API, which does not know the id).
//!
//! [`ResponseHomes`] is a bounded, in-memory map from response id to (destination name, tenant), filled from the
//! create's response (its JSON `id`, or a stream's `response.created` event) and emptied by a successful `DELETE`.
//! The oldest entries are evicted first once `limits.tracked_responses` ids are held; an id that is not held (evicted,
//! created before the gateway started, or by another replica) is routed to the default destination as before. The
//! tenant is kept so that one tenant cannot read, cancel or delete another tenant's stored response through the
//! gateway's shared provider key: a known id asked for by another tenant is answered as not found.
//!
//! With a file ([`ResponseHomes::open`], `routing.stored_responses_file`) the table survives a restart: every change
//! is appended to the file as one JSON line (`{"id","destination","tenant"}` or `{"forget"}`) in the same lock
//! that changes the map, the file is replayed at start (a torn or unreadable line is skipped) and rewritten
//! compacted (temporary file + rename) at start and whenever it holds more than twice the table's lines. Appends are
//! not synced: a crash may lose the last ids, which are then routed as unknown ones. A failed write is logged once
//! (the path and the error, no id) and the table carries on in memory. One file per gateway process.
//!
//! Must never hold content: ids, destination names and tenant names only.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// Errors opening the stored-responses file.
#[derive(Debug, thiserror::Error)]
pub enum AffinityError {
    /// The file could not be read, created or rewritten.
    #[error("routing.stored_responses_file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Longest line read back from the file; longer ones are not the gateway's and are skipped.
const MAX_LINE_BYTES: usize = 1024;

/// One line of the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line<'a> {
    Remember {
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(borrow)]
        destination: Cow<'a, str>,
        #[serde(borrow)]
        tenant: Cow<'a, str>,
    },
    Forget {
        #[serde(borrow)]
        forget: Cow<'a, str>,
    },
}

/// The append-only file behind a table.
#[derive(Debug)]
struct Store {
    path: PathBuf,
    file: File,
    /// Lines in the file (for compaction).
    lines: usize,
    /// A write failed (logged once; the table carries on in memory).
    failed: bool,
}

impl Store {
    fn append(&mut self, line: &Line<'_>) {
        if self.failed {
            return;
        }
        let mut buf = serde_json::to_vec(line).unwrap_or_default();
        buf.push(b'\n');
        // One write of a short line on an O_APPEND file: lines are never interleaved.
        match self.file.write_all(&buf) {
            Ok(()) => self.lines += 1,
            Err(e) => self.fail(&e),
        }
    }

    fn fail(&mut self, e: &std::io::Error) {
        self.failed = true;
        tracing::warn!(
            path = %self.path.display(),
            error = %e,
            "stored-response homes are no longer written to their file; they are kept in memory only"
        );
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// The longest response id kept (OpenAI's are `resp_` + 48 hex digits; vLLM's `resp_` + 32).
pub const MAX_RESPONSE_ID_BYTES: usize = 128;

/// Whether `id` looks like a response id: 1 to [`MAX_RESPONSE_ID_BYTES`] of `[A-Za-z0-9_-]`. Anything else is never
/// stored (so the table cannot be filled with arbitrary text from an upstream body).
pub fn plausible_response_id(id: &str) -> bool {
    (1..=MAX_RESPONSE_ID_BYTES).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Where one stored response lives and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// The destination that created it.
    pub destination: Arc<str>,
    /// The tenant whose request created it.
    pub tenant: Arc<str>,
}

#[derive(Debug)]
struct Slot {
    home: Home,
    /// Insertion number: tells a live entry from a stale one in `order` (deleted, or replaced by a later insert).
    seq: u64,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Box<str>, Slot>,
    /// Insertion order for eviction; may hold stale entries (their `seq` no longer matches), compacted when it grows
    /// past twice the capacity.
    order: VecDeque<(Box<str>, u64)>,
    next_seq: u64,
}

/// A bounded id → [`Home`] table; see the module docs. Cheap to share (`&self` methods, one short lock each).
#[derive(Debug)]
pub struct ResponseHomes {
    capacity: usize,
    inner: Mutex<Inner>,
    store: Option<Mutex<Store>>,
}

impl ResponseHomes {
    /// A table in memory only, holding at most `capacity` ids (`0`: holds nothing; every lookup misses).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
            store: None,
        }
    }

    /// A table kept in `path` as well (see the module docs): what the file holds is loaded (the newest `capacity`
    /// ids), the file is rewritten with just that, and every later change is appended. The directory is created if
    /// missing. With `capacity` 0 the file is neither read nor written.
    pub fn open(capacity: usize, path: &Path) -> Result<Self, AffinityError> {
        let mut homes = Self::new(capacity);
        if capacity == 0 {
            return Ok(homes);
        }
        let io = |source| AffinityError::Io {
            path: path.to_owned(),
            source,
        };
        match File::open(path) {
            Ok(f) => {
                let mut reader = BufReader::new(f);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    // Bounded: a line longer than MAX_LINE_BYTES is read in pieces and each piece fails to parse.
                    let n = (&mut reader)
                        .take(MAX_LINE_BYTES as u64)
                        .read_until(b'\n', &mut line)
                        .map_err(io)?;
                    if n == 0 {
                        break;
                    }
                    match serde_json::from_slice::<Line<'_>>(line.trim_ascii_end()) {
                        Ok(Line::Remember {
                            id,
                            destination,
                            tenant,
                        }) => {
                            homes.insert(&id, &destination, &tenant);
                        }
                        Ok(Line::Forget { forget }) => {
                            homes.lock().map.remove(&*forget);
                        }
                        Err(_) => {}
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let lines = homes.rewrite(path).map_err(io)?;
        homes.store = Some(Mutex::new(Store {
            path: path.to_owned(),
            file: open_append(path).map_err(io)?,
            lines,
            failed: false,
        }));
        Ok(homes)
    }

    /// Write the live entries, oldest first, to `path` through a temporary file and a rename. Returns the lines.
    fn rewrite(&self, path: &Path) -> std::io::Result<usize> {
        let inner = self.lock();
        let mut out = Vec::with_capacity(inner.map.len() * 96);
        let mut lines = 0;
        for (id, seq) in &inner.order {
            let Some(slot) = inner.map.get(id).filter(|s| s.seq == *seq) else {
                continue;
            };
            let line = Line::Remember {
                id: Cow::Borrowed(id),
                destination: Cow::Borrowed(&slot.home.destination),
                tenant: Cow::Borrowed(&slot.home.tenant),
            };
            serde_json::to_writer(&mut out, &line).map_err(std::io::Error::other)?;
            out.push(b'\n');
            lines += 1;
        }
        drop(inner);
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let _ = fs::remove_file(&tmp);
        let mut f = open_append(&tmp)?;
        f.write_all(&out)?;
        f.sync_data()?;
        fs::rename(&tmp, path)?;
        Ok(lines)
    }

    /// The file's lock (taken before the table's), if there is a file.
    fn store_lock(&self) -> Option<std::sync::MutexGuard<'_, Store>> {
        self.store
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Append `line` to the file, compacting it when it has grown past twice the table.
    fn persist(&self, store: Option<std::sync::MutexGuard<'_, Store>>, line: &Line<'_>) {
        let Some(mut store) = store else {
            return;
        };
        store.append(line);
        if !store.failed && store.lines > 2 * self.capacity.max(1024) {
            let path = store.path.clone();
            match self
                .rewrite(&path)
                .and_then(|n| open_append(&path).map(|f| (n, f)))
            {
                Ok((n, f)) => {
                    store.lines = n;
                    store.file = f;
                }
                Err(e) => store.fail(&e),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map stays consistent whatever panicked while holding it (each method's updates are single calls).
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remember that response `id` was created on `destination` for `tenant`. Ids that are not
    /// [`plausible_response_id`] are ignored. Returns whether it was stored.
    pub fn remember(&self, id: &str, destination: &str, tenant: &str) -> bool {
        // The file's lock is held across the change and its line, so lines are in the order the map changed.
        let store = self.store_lock();
        if !self.insert(id, destination, tenant) {
            return false;
        }
        self.persist(
            store,
            &Line::Remember {
                id: id.into(),
                destination: destination.into(),
                tenant: tenant.into(),
            },
        );
        true
    }

    /// [`remember`](Self::remember) without writing the file.
    fn insert(&self, id: &str, destination: &str, tenant: &str) -> bool {
        if self.capacity == 0 || !plausible_response_id(id) {
            return false;
        }
        let home = Home {
            destination: Arc::from(destination),
            tenant: Arc::from(tenant),
        };
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.map.insert(Box::from(id), Slot { home, seq });
        inner.order.push_back((Box::from(id), seq));
        while inner.map.len() > self.capacity {
            let Some((old, old_seq)) = inner.order.pop_front() else {
                break;
            };
            if inner.map.get(&old).is_some_and(|s| s.seq == old_seq) {
                inner.map.remove(&old);
            }
        }
        if inner.order.len() > 2 * self.capacity.max(1) {
            let Inner { map, order, .. } = &mut *inner;
            order.retain(|(id, seq)| map.get(id).is_some_and(|s| s.seq == *seq));
        }
        true
    }

    /// Where response `id` lives, if it is held.
    pub fn lookup(&self, id: &str) -> Option<Home> {
        if self.capacity == 0 {
            return None;
        }
        self.lock().map.get(id).map(|s| s.home.clone())
    }

    /// Forget response `id` (it was deleted).
    pub fn forget(&self, id: &str) {
        if self.capacity == 0 {
            return;
        }
        let store = self.store_lock();
        if self.lock().map.remove(id).is_some() {
            self.persist(store, &Line::Forget { forget: id.into() });
        }
    }

    /// Whether the table holds anything at all (`limits.tracked_responses` > 0).
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// How many ids are held.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_looks_up_and_forgets() {
        let homes = ResponseHomes::new(4);
        assert!(homes.remember("resp_abc", "domestic", "team-a"));
        let home = homes.lookup("resp_abc").unwrap();
        assert_eq!(&*home.destination, "domestic");
        assert_eq!(&*home.tenant, "team-a");
        assert_eq!(homes.lookup("resp_other"), None);
        homes.forget("resp_abc");
        assert_eq!(homes.lookup("resp_abc"), None);
        assert!(homes.is_empty());
    }

    #[test]
    fn refuses_implausible_ids() {
        let homes = ResponseHomes::new(4);
        for id in ["", "resp abc", "resp/../x", "김철수", &"a".repeat(129)] {
            assert!(!homes.remember(id, "d", "t"), "{id:?}");
        }
        assert!(homes.remember(&"a".repeat(128), "d", "t"));
        assert_eq!(homes.len(), 1);
    }

    #[test]
    fn evicts_oldest_first_and_stays_bounded() {
        let homes = ResponseHomes::new(3);
        for i in 0..10 {
            homes.remember(&format!("resp_{i}"), "d", "t");
        }
        assert_eq!(homes.len(), 3);
        for i in 0..7 {
            assert_eq!(homes.lookup(&format!("resp_{i}")), None, "{i}");
        }
        for i in 7..10 {
            assert!(homes.lookup(&format!("resp_{i}")).is_some(), "{i}");
        }
        // Deletes and re-inserts leave stale order entries; the queue is compacted and never outgrows 2× capacity.
        for round in 0..100 {
            let id = format!("resp_r{round}");
            homes.remember(&id, "d", "t");
            homes.forget(&id);
            homes.remember("resp_same", "d", &format!("t{round}"));
            assert!(homes.lock().order.len() <= 6);
        }
        // A re-inserted id is not evicted by its own stale entry.
        assert_eq!(&*homes.lookup("resp_same").unwrap().tenant, "t99");
    }

    fn file_lines(path: &Path) -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_file_keeps_the_table_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/stored-responses.jsonl");
        let homes = ResponseHomes::open(8, &path).unwrap();
        assert!(homes.remember("resp_a", "domestic", "team-a"));
        assert!(homes.remember("resp_b", "domestic", "te\"am\\b 김"));
        homes.forget("resp_a");
        homes.forget("resp_unknown");
        assert_eq!(file_lines(&path).len(), 3, "two remembers and one forget");
        drop(homes);

        let homes = ResponseHomes::open(8, &path).unwrap();
        assert_eq!(homes.lookup("resp_a"), None);
        let b = homes.lookup("resp_b").unwrap();
        assert_eq!((&*b.destination, &*b.tenant), ("domestic", "te\"am\\b 김"));
        assert_eq!(file_lines(&path).len(), 1, "rewritten compacted at open");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn damaged_lines_are_skipped_and_the_newest_ids_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("homes.jsonl");
        let mut text = String::new();
        for i in 0..6 {
            text.push_str(&format!(
                "{{\"id\":\"resp_{i}\",\"destination\":\"d\",\"tenant\":\"t\"}}\n"
            ));
        }
        text.push_str("not json\n{\"id\":\"resp bad\",\"destination\":\"d\",\"tenant\":\"t\"}\n");
        text.push_str(&format!(
            "{{\"id\":\"resp_long\",\"destination\":\"{}\"}}\n",
            "x".repeat(5000)
        ));
        text.push_str("{\"forget\":\"resp_5\"}\n{\"id\":\"resp_torn\",\"desti");
        fs::write(&path, text).unwrap();
        let homes = ResponseHomes::open(3, &path).unwrap();
        // resp_5 forgotten; of the rest the newest three are kept (resp_2 was evicted before resp_5 went).
        assert_eq!(homes.len(), 2, "{:?}", file_lines(&path));
        assert!(homes.lookup("resp_3").is_some() && homes.lookup("resp_4").is_some());
        for gone in ["resp_0", "resp_2", "resp_5", "resp_torn", "resp_long"] {
            assert_eq!(homes.lookup(gone), None, "{gone}");
        }
        assert_eq!(file_lines(&path).len(), 2);
    }

    #[test]
    fn the_file_is_compacted_while_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("homes.jsonl");
        let homes = ResponseHomes::open(2, &path).unwrap();
        for i in 0..3000 {
            homes.remember(&format!("resp_{i}"), "d", "t");
        }
        let lines = file_lines(&path).len();
        assert!(lines <= 2 * 1024 + 1, "{lines}");
        drop(homes);
        let homes = ResponseHomes::open(2, &path).unwrap();
        assert!(homes.lookup("resp_2999").is_some() && homes.lookup("resp_2998").is_some());
        assert_eq!(homes.len(), 2);
    }

    #[test]
    fn capacity_zero_never_touches_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("homes.jsonl");
        let homes = ResponseHomes::open(0, &path).unwrap();
        assert!(!homes.remember("resp_abc", "d", "t"));
        assert!(!path.exists());
    }

    #[test]
    fn capacity_zero_holds_nothing() {
        let homes = ResponseHomes::new(0);
        assert!(!homes.remember("resp_abc", "d", "t"));
        assert_eq!(homes.lookup("resp_abc"), None);
    }
}
