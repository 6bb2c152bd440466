//! Splitting the history into independent components (checker.md §1.5,
//! option A): union-find over keys, where an op joins every key it touches
//! and a range touches every written key inside its bounds, because it also
//! observes their absence.

use super::incr;
use super::model::{CompiledOp, KeyIdx, Kind, Value, ValueId, ABSENT};
use super::prepare::{Body, CasOutcome, PrepOp};
use crate::fixed_hash::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

/// A set of keys no operation outside the set touches, with its operations.
#[derive(Debug)]
pub(super) struct Component<'h> {
    /// The keys, ascending; an op's `KeyIdx` indexes this.
    pub keys: Vec<&'h str>,
    /// The operations, in history order.
    pub ops: Vec<CompiledOp>,
    /// The component's value table: what each `ValueId` stands for.
    pub values: Vec<Value<'h>>,
    /// False if the increments' step tables would exceed the limits of
    /// `incr.rs`; the component is then not searched (its verdict is
    /// unknown).
    pub searchable: bool,
}

/// A component's interned values: id 0 is "absent", ids 1.. are the
/// strings its operations mention.
#[derive(Debug)]
struct Values<'h> {
    ids: HashMap<&'h str, ValueId>,
    table: Vec<Value<'h>>,
}

impl<'h> Values<'h> {
    fn new() -> Self {
        Values {
            ids: HashMap::default(),
            table: vec![Value::Absent],
        }
    }

    fn intern(&mut self, value: Option<&'h str>) -> ValueId {
        let Some(value) = value else { return ABSENT };
        let next = self.table.len() as ValueId;
        *self.ids.entry(value).or_insert_with(|| {
            self.table.push(Value::Named(value));
            next
        })
    }
}

/// The components, smallest (fewest ops) first.
pub(super) fn partition<'h>(ops: &[PrepOp<'h>]) -> Vec<Component<'h>> {
    let universe = Universe::new(ops);
    let mut sets = UnionFind::new(universe.keys.len());
    let op_keys: Vec<Vec<usize>> = ops.iter().map(|op| universe.keys_of(op)).collect();
    for keys in &op_keys {
        for pair in keys.windows(2) {
            sets.union(pair[0], pair[1]);
        }
    }
    let mut groups: BTreeMap<usize, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for key in 0..universe.keys.len() {
        groups.entry(sets.find(key)).or_default().0.push(key);
    }
    for (op, keys) in op_keys.iter().enumerate() {
        // An op touching no key (an empty range or batch) constrains nothing.
        if let Some(&first) = keys.first() {
            groups.entry(sets.find(first)).or_default().1.push(op);
        }
    }
    let mut components: Vec<Component<'h>> = groups
        .into_values()
        .filter(|(_, members)| !members.is_empty())
        .map(|(keys, members)| compile(&universe, ops, &keys, &members))
        .collect();
    components.sort_by(|a, b| (a.ops.len(), a.keys.first()).cmp(&(b.ops.len(), b.keys.first())));
    components
}

/// Every key the checked operations mention, numbered in byte order.
struct Universe<'h> {
    keys: Vec<&'h str>,
    index: BTreeMap<&'h str, usize>,
    written: BTreeSet<&'h str>,
}

impl<'h> Universe<'h> {
    fn new(ops: &[PrepOp<'h>]) -> Self {
        let mut all = BTreeSet::new();
        let mut written = BTreeSet::new();
        for op in ops {
            match &op.body {
                Body::Read(pairs) => all.extend(pairs.iter().map(|p| p.0)),
                Body::Write(pairs) => written.extend(pairs.iter().map(|p| p.0)),
                Body::Incr { key, .. } => {
                    written.insert(*key);
                }
                Body::Cas { key, outcome, .. } if *outcome != CasOutcome::Mismatch => {
                    written.insert(*key);
                }
                Body::Cas { key, .. } => {
                    all.insert(*key);
                }
                // Range entries were checked to be written keys already.
                Body::Range { entries, .. } => all.extend(entries.iter().map(|e| e.0.as_str())),
            }
        }
        all.extend(written.iter().copied());
        let keys: Vec<&'h str> = all.into_iter().collect();
        let index = keys.iter().enumerate().map(|(i, &k)| (k, i)).collect();
        Universe {
            keys,
            index,
            written,
        }
    }

    fn idx(&self, key: &str) -> usize {
        // Every key of a checked op was put in the universe by `new`.
        self.index.get(key).copied().unwrap_or(0)
    }

    /// The (sorted, distinct) keys an operation touches.
    fn keys_of(&self, op: &PrepOp<'h>) -> Vec<usize> {
        let mut keys: Vec<usize> = match &op.body {
            Body::Read(pairs) | Body::Write(pairs) => pairs.iter().map(|p| self.idx(p.0)).collect(),
            Body::Cas { key, .. } | Body::Incr { key, .. } => vec![self.idx(key)],
            Body::Range { lo, hi, .. } => self.written_in(lo, hi).map(|k| self.idx(k)).collect(),
        };
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Written keys in `[lo, hi)`, ascending.
    fn written_in<'s>(&'s self, lo: &'s str, hi: &'s str) -> impl Iterator<Item = &'h str> + 's {
        // `BTreeSet::range` panics on reversed bounds; those ranges are empty.
        let bounds = if lo < hi {
            Some((Bound::Included(lo), Bound::Excluded(hi)))
        } else {
            None
        };
        bounds
            .into_iter()
            .flat_map(move |b| self.written.range::<str, _>(b).copied())
    }
}

/// Builds a component from its keys (universe indices, ascending) and ops.
/// Increments are compiled last, once every value the component's
/// operations mention is interned.
fn compile<'h>(
    universe: &Universe<'h>,
    ops: &[PrepOp<'h>],
    keys: &[usize],
    members: &[usize],
) -> Component<'h> {
    let local: HashMap<usize, KeyIdx> = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, i as KeyIdx))
        .collect();
    let mut compiler = Compiler {
        universe,
        local: &local,
        values: Values::new(),
    };
    let mut compiled: Vec<CompiledOp> = members
        .iter()
        .filter_map(|&m| ops.get(m))
        .map(|op| compiler.compile(op))
        .collect();
    let mut values = compiler.values.table;
    let searchable = incr::compile_steps(&mut values, &mut compiled);
    Component {
        keys: keys
            .iter()
            .filter_map(|&k| universe.keys.get(k).copied())
            .collect(),
        ops: compiled,
        values,
        searchable,
    }
}

/// Translates prepared ops into component-local, interned form.
struct Compiler<'a, 'h> {
    universe: &'a Universe<'h>,
    local: &'a HashMap<usize, KeyIdx>,
    values: Values<'h>,
}

impl<'h> Compiler<'_, 'h> {
    fn key(&self, key: &str) -> KeyIdx {
        self.local
            .get(&self.universe.idx(key))
            .copied()
            .unwrap_or(0)
    }

    fn pairs(&mut self, pairs: &[(&'h str, Option<&'h str>)]) -> Box<[(KeyIdx, ValueId)]> {
        pairs
            .iter()
            .map(|&(k, v)| (self.key(k), self.values.intern(v)))
            .collect()
    }

    fn compile(&mut self, op: &PrepOp<'h>) -> CompiledOp {
        let kind = match &op.body {
            Body::Read(pairs) => Kind::Read(self.pairs(pairs)),
            Body::Write(pairs) => Kind::Write(self.pairs(pairs)),
            Body::Range {
                lo,
                hi,
                limit,
                entries,
            } => Kind::Range {
                keys: self
                    .universe
                    .written_in(lo, hi)
                    .map(|k| self.key(k))
                    .collect(),
                limit: limit.unwrap_or(u64::MAX),
                entries: entries
                    .iter()
                    .map(|(k, v)| (self.key(k), self.values.intern(Some(v))))
                    .collect(),
            },
            Body::Cas {
                key,
                expected,
                new,
                outcome,
            } => self.cas(key, *expected, *new, *outcome),
            // The step table needs the whole value table: `incr.rs`.
            Body::Incr { key, by } => Kind::IncrMaybe {
                key: self.key(key),
                by: *by,
                step: Box::default(),
            },
        };
        CompiledOp {
            call: op.call,
            ret: op.ret,
            kind,
            origin: op.index,
        }
    }

    fn cas(
        &mut self,
        key: &str,
        expected: Option<&'h str>,
        new: Option<&'h str>,
        outcome: CasOutcome,
    ) -> Kind {
        let key = self.key(key);
        let expected = self.values.intern(expected);
        let new = self.values.intern(new);
        match outcome {
            CasOutcome::Applied => Kind::CasApplied { key, expected, new },
            CasOutcome::Mismatch => Kind::CasMismatch { key, expected },
            CasOutcome::Maybe => Kind::CasMaybe { key, expected, new },
        }
    }
}

/// Disjoint sets over `0..n` with path halving and union by size.
struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
    }
}
