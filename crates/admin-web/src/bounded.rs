//! [`BoundedMap`]: a map of at most `cap` entries that, when full, forgets the entry
//! inserted longest ago to make room for a new one: bounded memory under a flood of new keys
//! without ever emptying the whole map (which would hand an attacker a fresh start for every
//! key it had used). Every operation is amortised O(1).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Oldest entries an insertion may spare (see [`BoundedMap::get_or_insert_keeping`]).
pub(crate) const MAX_KEPT: usize = 16;

pub(crate) struct BoundedMap<K, V> {
    /// Key → (insertion sequence number, value).
    map: HashMap<K, (u64, V)>,
    /// Keys in insertion order with their sequence number; an item whose number no longer
    /// matches the map's (the key was removed, or removed and inserted again) is stale and
    /// skipped.
    order: VecDeque<(K, u64)>,
    next: u64,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> BoundedMap<K, V> {
    pub(crate) fn new(cap: usize) -> Self {
        BoundedMap {
            map: HashMap::new(),
            order: VecDeque::new(),
            next: 0,
            cap: cap.max(1),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(_, v)| v)
    }

    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        let v = self.map.remove(k).map(|(_, v)| v);
        self.compact_if_needed();
        v
    }

    /// The value of `k`, inserted with `make` when absent; when the map is full the entry
    /// inserted longest ago is forgotten first.
    pub(crate) fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        self.get_or_insert_keeping(k, make, |_| false)
    }

    /// [`get_or_insert_with`](Self::get_or_insert_with), but an oldest entry for which `keep`
    /// holds is moved to the back instead of forgotten, up to [`MAX_KEPT`] times per insertion
    /// (then the oldest goes regardless, so the work stays bounded).
    pub(crate) fn get_or_insert_keeping(
        &mut self,
        k: K,
        make: impl FnOnce() -> V,
        keep: impl Fn(&V) -> bool,
    ) -> &mut V {
        if self.map.len() >= self.cap && !self.map.contains_key(&k) {
            let mut kept = 0;
            while self.map.len() >= self.cap && self.evict_oldest(&keep, &mut kept) {}
        }
        self.compact_if_needed();
        match self.map.entry(k) {
            Entry::Occupied(o) => &mut o.into_mut().1,
            Entry::Vacant(v) => {
                let seq = self.next;
                self.next += 1;
                self.order.push_back((v.key().clone(), seq));
                &mut v.insert((seq, make())).1
            }
        }
    }

    /// Forget the live entry inserted longest ago (or move it to the back when `keep` holds
    /// and fewer than [`MAX_KEPT`] were kept); false when there is none.
    fn evict_oldest(&mut self, keep: &impl Fn(&V) -> bool, kept: &mut usize) -> bool {
        while let Some((k, seq)) = self.order.pop_front() {
            let Some((s, v)) = self.map.get_mut(&k) else {
                continue;
            };
            if *s != seq {
                continue;
            }
            if *kept < MAX_KEPT && keep(v) {
                *kept += 1;
                let seq = self.next;
                self.next += 1;
                *s = seq;
                self.order.push_back((k, seq));
                continue;
            }
            self.map.remove(&k);
            return true;
        }
        false
    }

    /// Drop stale order items once they outnumber the live ones (amortised O(1)).
    fn compact_if_needed(&mut self) {
        if self.order.len() > 2 * self.cap.max(self.map.len()) {
            let map = &self.map;
            self.order
                .retain(|(k, s)| map.get(k).is_some_and(|(x, _)| x == s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_forgets_the_oldest_entry_only() {
        let mut m = BoundedMap::new(3);
        for k in 0..3 {
            *m.get_or_insert_with(k, || 0) += 1;
        }
        *m.get_or_insert_with(3, || 0) += 1;
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(&0), None, "the oldest is forgotten");
        for k in 1..4 {
            assert_eq!(m.get(&k), Some(&1), "{k} kept");
        }
        // Updating an existing key neither grows the map nor evicts.
        *m.get_or_insert_with(2, || 0) += 1;
        assert_eq!(m.get(&1), Some(&1));
        assert_eq!(m.get(&2), Some(&2));
    }

    #[test]
    fn kept_entries_survive_a_bounded_number_of_times() {
        let mut m = BoundedMap::new(3);
        m.get_or_insert_with("locked", || true);
        m.get_or_insert_with("a", || false);
        m.get_or_insert_with("b", || false);
        m.get_or_insert_keeping("c", || false, |v| *v);
        assert_eq!(m.get(&"locked"), Some(&true), "kept");
        assert_eq!(m.get(&"a"), None, "the oldest not kept is forgotten");
        // A map full of kept entries still takes new ones.
        let mut all = BoundedMap::new(2);
        all.get_or_insert_with(1, || true);
        all.get_or_insert_with(2, || true);
        all.get_or_insert_keeping(3, || true, |v| *v);
        assert_eq!(all.len(), 2);
        assert_eq!(all.get(&3), Some(&true));
    }

    #[test]
    fn removal_and_churn_stay_bounded() {
        let mut m = BoundedMap::new(100);
        for k in 0..100_000u32 {
            m.get_or_insert_with(k, || k);
            if k % 3 == 0 {
                m.remove(&k);
            }
            assert!(m.len() <= 100);
            assert!(m.order.len() <= 2 * 100 + 2, "order {}", m.order.len());
        }
        // The newest keys survive.
        assert_eq!(m.get(&99_998), Some(&99_998));
    }
}
