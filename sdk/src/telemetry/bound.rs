//! Pre-bound attribute sets for the per-RPC instruments, so that recording an RPC costs a few
//! atomic operations instead of hashing and looking up its attributes in every instrument.
//!
//! Each telemetry layer keeps a [`PathCache`]: request path (`/pkg.Service/Method`, a `&str`
//! straight from the URI, no allocation) → an entry holding the `grpc.method` value and, per
//! status code, OpenTelemetry bound instruments (`Counter::bind` / `Histogram::bind`, the SDK's
//! `experimental_metrics_bound_instruments`) for that method and the layer's target. The map is
//! read-mostly: the first few paths are found by comparing them in order (no hashing, no
//! loads beyond one atomic read per slot); the rest by loading an `ArcSwap` of a hashed map, and
//! a miss copies the map once. Paths the method registry
//! records as `other` share one entry and are never cached by path, and the cache stops growing
//! at [`MAX_CACHED_PATHS`], so a peer sending arbitrary paths cannot grow it. Bound series stay
//! alive as long as their layer (they would under cumulative export anyway).
//! Paths are hashed with seeded XXH3 in one pass (SipHash cost more than the rest of the
//! lookup); the per-cache random seed keeps colliding paths from being chosen in advance.
//! This module decides no attribute values; `method` and the layers do.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use opentelemetry::Value;
use tonic::Code;

use super::names::OTHER_METHOD;

/// Most request paths one layer caches; beyond, entries are built per RPC (slower, still right).
pub(crate) const MAX_CACHED_PATHS: usize = 512;

/// How many gRPC status codes there are (`OK` = 0 … `UNAUTHENTICATED` = 16).
const CODES: usize = 17;

/// How many paths a cache also keeps in its scan slots (a channel or server usually serves a
/// handful of methods; comparing a few short strings costs less than hashing one and loading the
/// map).
const SCAN_SLOTS: usize = 8;

/// Request path → per-method entry, read without locks; see the module docs.
pub(crate) struct PathCache<E> {
    /// The first [`SCAN_SLOTS`] cached paths, filled in order (no holes), never changed once set.
    slots: [OnceLock<(Box<str>, Arc<E>)>; SCAN_SLOTS],
    paths: ArcSwap<HashMap<Box<str>, Arc<E>, PathHash>>,
    other: OnceLock<Arc<E>>,
}

/// Seeded one-pass XXH3 (64-bit) of a path (the `str` hash writes its bytes, then one `0xff`).
#[derive(Clone, Copy)]
struct PathHash(u64);

/// The hasher state of [`PathHash`].
struct PathHasher(u64);

impl BuildHasher for PathHash {
    type Hasher = PathHasher;
    fn build_hasher(&self) -> PathHasher {
        PathHasher(self.0)
    }
}

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u8(&mut self, byte: u8) {
        self.0 = self.0.rotate_left(8) ^ u64::from(byte);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl<E> PathCache<E> {
    pub(crate) fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| OnceLock::new()),
            paths: ArcSwap::from_pointee(HashMap::with_hasher(PathHash(fastrand::u64(..)))),
            other: OnceLock::new(),
        }
    }

    /// The entry of `path`. On a miss, `attribute` gives the path's `grpc.method` value and
    /// `make` builds the entry from it.
    pub(crate) fn get(
        &self,
        path: &str,
        attribute: impl FnOnce(&str) -> Value,
        make: impl FnOnce(Value) -> E,
    ) -> Arc<E> {
        for slot in &self.slots {
            match slot.get() {
                Some((cached, entry)) if **cached == *path => return entry.clone(),
                Some(_) => {}
                None => break,
            }
        }
        self.get_slow(path, attribute, make)
    }

    /// [`get`](Self::get) past the scan slots: the hashed map, or a new entry.
    #[inline(never)]
    fn get_slow(
        &self,
        path: &str,
        attribute: impl FnOnce(&str) -> Value,
        make: impl FnOnce(Value) -> E,
    ) -> Arc<E> {
        if let Some(entry) = self.paths.load().get(path) {
            return entry.clone();
        }
        let method = attribute(path);
        if method.as_str() == OTHER_METHOD {
            return self.other.get_or_init(|| Arc::new(make(method))).clone();
        }
        let entry = Arc::new(make(method));
        if self.paths.load().len() >= MAX_CACHED_PATHS {
            return entry;
        }
        let stored = self.paths.rcu(|paths| {
            let mut paths = HashMap::clone(paths);
            paths
                .entry(Box::from(path))
                .or_insert_with(|| entry.clone());
            paths
        });
        // `rcu` returns the map it replaced; the new one holds our entry or a racing thread's.
        drop(stored);
        let entry = self.paths.load().get(path).cloned().unwrap_or(entry);
        self.remember(path, &entry);
        entry
    }

    /// Puts a cached path into the first free scan slot, unless a slot holds it already (a
    /// racing thread) or all are taken.
    fn remember(&self, path: &str, entry: &Arc<E>) {
        for slot in &self.slots {
            if slot.get().is_none() && slot.set((Box::from(path), entry.clone())).is_ok() {
                return;
            }
            if slot.get().is_some_and(|(cached, _)| **cached == *path) {
                return;
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.paths.load().len()
    }

    #[cfg(test)]
    fn slots_used(&self) -> usize {
        self.slots.iter().filter(|s| s.get().is_some()).count()
    }
}

impl<E> std::fmt::Debug for PathCache<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PathCache")
            .field("paths", &self.paths.load().len())
            .finish_non_exhaustive()
    }
}

/// One lazily bound value per status code.
pub(crate) struct ByStatus<T> {
    slots: [OnceLock<T>; CODES],
}

impl<T> ByStatus<T> {
    pub(crate) fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The value for `code`, bound by `bind` the first time.
    pub(crate) fn get(&self, code: Code, bind: impl FnOnce() -> T) -> &T {
        let index = (code as usize).min(CODES - 1);
        self.slots[index].get_or_init(bind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(path: &str) -> Value {
        match path.strip_prefix("/pkg.S/") {
            Some(m) if !m.is_empty() => Value::from(format!("pkg.S/{m}")),
            _ => Value::from(OTHER_METHOD),
        }
    }

    #[test]
    fn a_path_is_built_once_and_other_paths_share_one_entry() {
        let cache: PathCache<String> = PathCache::new();
        let make = |v: Value| v.as_str().into_owned();
        let a = cache.get("/pkg.S/A", attribute, make);
        let again = cache.get("/pkg.S/A", |_| panic!("cached path recomputed"), make);
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(*a, "pkg.S/A");
        let x = cache.get("/evil/x", attribute, make);
        let y = cache.get("/evil/y", attribute, make);
        assert!(Arc::ptr_eq(&x, &y));
        assert_eq!(*x, OTHER_METHOD);
        assert_eq!(cache.len(), 1, "`other` paths are not cached by path");
    }

    #[test]
    fn the_cache_stops_growing_at_its_cap() {
        let cache: PathCache<String> = PathCache::new();
        for i in 0..MAX_CACHED_PATHS + 10 {
            let entry = cache.get(&format!("/pkg.S/M{i}"), attribute, |v| {
                v.as_str().into_owned()
            });
            assert_eq!(*entry, format!("pkg.S/M{i}"));
        }
        assert_eq!(cache.len(), MAX_CACHED_PATHS);
    }

    #[test]
    fn the_first_paths_are_scanned_the_rest_hashed_and_both_give_one_entry() {
        let cache: PathCache<String> = PathCache::new();
        let make = |v: Value| v.as_str().into_owned();
        cache.get("/evil/x", attribute, make);
        assert_eq!(cache.slots_used(), 0, "`other` paths take no slot");
        let paths: Vec<String> = (0..SCAN_SLOTS + 3)
            .map(|i| format!("/pkg.S/M{i}"))
            .collect();
        let first: Vec<Arc<String>> = paths
            .iter()
            .map(|p| cache.get(p, attribute, make))
            .collect();
        assert_eq!(cache.slots_used(), SCAN_SLOTS);
        assert_eq!(cache.len(), SCAN_SLOTS + 3);
        for (path, entry) in paths.iter().zip(&first) {
            let again = cache.get(path, |_| panic!("cached path recomputed"), make);
            assert!(
                Arc::ptr_eq(entry, &again),
                "{path}: one entry whether scanned or hashed"
            );
            assert_eq!(*again, path[1..]);
        }
        // A path that is a prefix of a cached one is a different path.
        assert_eq!(*cache.get("/pkg.S/M", attribute, make), "pkg.S/M");
    }

    #[test]
    fn each_status_binds_once() {
        let by: ByStatus<u32> = ByStatus::new();
        assert_eq!(*by.get(Code::Ok, || 1), 1);
        assert_eq!(*by.get(Code::Ok, || 2), 1);
        assert_eq!(*by.get(Code::NotFound, || 3), 3);
    }
}
