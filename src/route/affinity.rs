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
//! Must never hold content: ids, destination names and tenant names only.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

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
}

impl ResponseHomes {
    /// A table holding at most `capacity` ids (`0`: holds nothing; every lookup misses).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map stays consistent whatever panicked while holding it (each method's updates are single calls).
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remember that response `id` was created on `destination` for `tenant`. Ids that are not
    /// [`plausible_response_id`] are ignored. Returns whether it was stored.
    pub fn remember(&self, id: &str, destination: &str, tenant: &str) -> bool {
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
        self.lock().map.remove(id);
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

    #[test]
    fn capacity_zero_holds_nothing() {
        let homes = ResponseHomes::new(0);
        assert!(!homes.remember("resp_abc", "d", "t"));
        assert_eq!(homes.lookup("resp_abc"), None);
    }
}
