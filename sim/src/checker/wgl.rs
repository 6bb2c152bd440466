//! The Wing–Gong search with Lowe's memoisation, as porcupine's
//! `checkSingle` does it (checker.md §1.2–§1.3).
//!
//! The history is a doubly linked list of call and return entries, in time
//! order, holding exactly the operations not yet linearized. The candidates
//! for the next linearization point are the calls before the first return;
//! reaching a return means that op's deadline passed, so the search
//! backtracks. A cache of (linearized set, state) configurations already
//! explored prunes repeated work.

use super::model::{self, mix, CompiledOp, State, Undo, ValueId};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// "No node" in the linked list.
const NIL: u32 = u32::MAX;
/// The sentinel in front of the list.
const HEAD: u32 = 0;

/// How the search ended.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Every op with a known return was linearized.
    Linearizable,
    /// No linearization exists.
    Illegal(Stuck),
    /// The step budget ran out first.
    OutOfBudget,
}

/// The longest partial linearization found, and where it got stuck.
#[derive(Debug)]
pub(super) struct Stuck {
    /// The op whose return was reached without linearizing it.
    pub op: usize,
    /// The ops linearized, in order (indices into the component's ops).
    pub linearization: Vec<usize>,
    /// The state after them.
    pub state: Vec<ValueId>,
}

/// Searches for a linearization of `ops` over `keys` keys, taking at most
/// `budget` steps. Returns the outcome and the steps taken.
pub(super) fn search(ops: &[CompiledOp], keys: usize, budget: u64) -> (Outcome, u64) {
    let mut search = Search::new(ops, keys);
    let outcome = search.run(budget);
    (outcome, search.steps)
}

/// The doubly linked list of entries in an index arena: node 0 is the head,
/// nodes 1.. are the call and return entries in time order.
struct List {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// The op of each node (unused for the head).
    op: Vec<u32>,
    /// For a call node, its return node; `NIL` for return nodes.
    partner: Vec<u32>,
}

impl List {
    /// Sorts entries by time (calls before returns at equal times, because
    /// intervals are closed; unknown returns last) and links them.
    fn new(ops: &[CompiledOp]) -> Self {
        // (infinite?, time, is_return, op)
        let mut entries: Vec<(bool, u64, bool, u32)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            entries.push((false, op.call, false, i as u32));
            entries.push((op.ret.is_none(), op.ret.unwrap_or(0), true, i as u32));
        }
        entries.sort_unstable();
        let n = entries.len() + 1;
        let mut list = List {
            next: (1..=n as u32)
                .map(|i| if i as usize == n { NIL } else { i })
                .collect(),
            prev: (0..n as u32).map(|i| i.wrapping_sub(1)).collect(),
            op: vec![0; n],
            partner: vec![NIL; n],
        };
        let mut call_node = vec![NIL; ops.len()];
        for (pos, &(_, _, is_return, op)) in entries.iter().enumerate() {
            let node = pos as u32 + 1;
            list.op[node as usize] = op;
            if is_return {
                list.partner[call_node[op as usize] as usize] = node;
            } else {
                call_node[op as usize] = node;
            }
        }
        list
    }

    fn is_call(&self, node: u32) -> bool {
        self.partner[node as usize] != NIL
    }

    /// Removes an op's call and return nodes. O(1).
    fn lift(&mut self, call: u32) {
        self.unlink(call);
        self.unlink(self.partner[call as usize]);
    }

    /// Exactly undoes `lift` (lifts and unlifts are LIFO).
    fn unlift(&mut self, call: u32) {
        self.relink(self.partner[call as usize]);
        self.relink(call);
    }

    fn unlink(&mut self, node: u32) {
        let (p, n) = (self.prev[node as usize], self.next[node as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    fn relink(&mut self, node: u32) {
        let (p, n) = (self.prev[node as usize], self.next[node as usize]);
        self.next[p as usize] = node;
        if n != NIL {
            self.prev[n as usize] = node;
        }
    }
}

/// A hasher for keys that are already good hashes.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else in for completeness.
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

/// Configurations already explored: (linearized bitset, state) pairs in flat
/// arenas, chained per hash, so inserting allocates only amortised growth.
struct Cache {
    heads: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
    chain: Vec<u32>,
    bits: Vec<u64>,
    states: Vec<ValueId>,
    words: usize,
    keys: usize,
}

impl Cache {
    fn new(words: usize, keys: usize) -> Self {
        Cache {
            heads: HashMap::default(),
            chain: Vec::new(),
            bits: Vec::new(),
            states: Vec::new(),
            words,
            keys,
        }
    }

    /// Adds the configuration unless present; returns whether it was new.
    fn insert(&mut self, hash: u64, bits: &[u64], state: &[ValueId]) -> bool {
        let head = self.heads.get(&hash).copied().unwrap_or(NIL);
        let mut entry = head;
        while entry != NIL {
            let e = entry as usize;
            if &self.bits[e * self.words..(e + 1) * self.words] == bits
                && &self.states[e * self.keys..(e + 1) * self.keys] == state
            {
                return false;
            }
            entry = self.chain[e];
        }
        let id = self.chain.len() as u32;
        self.chain.push(head);
        self.bits.extend_from_slice(bits);
        self.states.extend_from_slice(state);
        self.heads.insert(hash, id);
        true
    }
}

/// One frame of the explicit backtracking stack.
struct Frame {
    /// The call node linearized.
    node: u32,
    /// Undo-log length before its step.
    undo_mark: usize,
}

/// The search state.
struct Search<'a> {
    ops: &'a [CompiledOp],
    list: List,
    state: State,
    undo: Vec<Undo>,
    linearized: Vec<u64>,
    /// Zobrist hash of `linearized`, kept incrementally.
    bits_hash: u64,
    cache: Cache,
    stack: Vec<Frame>,
    best: Option<Stuck>,
    steps: u64,
}

impl<'a> Search<'a> {
    fn new(ops: &'a [CompiledOp], keys: usize) -> Self {
        let words = ops.len().div_ceil(64);
        Search {
            ops,
            list: List::new(ops),
            state: State::new(keys),
            undo: Vec::new(),
            linearized: vec![0; words],
            bits_hash: 0,
            cache: Cache::new(words, keys),
            stack: Vec::with_capacity(ops.len()),
            best: None,
            steps: 0,
        }
    }

    fn run(&mut self, budget: u64) -> Outcome {
        let mut node = self.list.next[HEAD as usize];
        while node != NIL {
            if self.steps >= budget {
                return Outcome::OutOfBudget;
            }
            self.steps += 1;
            let op = self.list.op[node as usize] as usize;
            if self.list.is_call(node) {
                node = self.try_linearize(node, op);
            } else if self.ops[op].ret.is_none() {
                // The first return left is +infinity: every op with a known
                // return is placed, and pending writes can all go last
                // (which also stands for "never happened").
                return Outcome::Linearizable;
            } else {
                self.record_stuck(op);
                match self.backtrack() {
                    Some(next) => node = next,
                    None => {
                        return Outcome::Illegal(
                            self.best.take().unwrap_or_else(|| self.stuck_here(op)),
                        )
                    }
                }
            }
        }
        Outcome::Linearizable
    }

    /// Tries `op` (at call node `node`) as the next linearization point;
    /// returns the node to look at next.
    fn try_linearize(&mut self, node: u32, op: usize) -> u32 {
        let undo_mark = self.undo.len();
        if model::apply(&self.ops[op].kind, &mut self.state, &mut self.undo) {
            self.flip(op);
            let hash = self.bits_hash ^ self.state.hash();
            if self
                .cache
                .insert(hash, &self.linearized, self.state.values())
            {
                self.stack.push(Frame { node, undo_mark });
                self.list.lift(node);
                return self.list.next[HEAD as usize];
            }
            // Explored before from this very configuration: skip.
            self.flip(op);
            self.state.undo_to(&mut self.undo, undo_mark);
        }
        self.list.next[node as usize]
    }

    /// Undoes the last linearization point; returns the node after it (its
    /// next sibling candidate), or `None` if there is nothing to undo.
    fn backtrack(&mut self) -> Option<u32> {
        let frame = self.stack.pop()?;
        let op = self.list.op[frame.node as usize] as usize;
        self.flip(op);
        self.state.undo_to(&mut self.undo, frame.undo_mark);
        self.list.unlift(frame.node);
        Some(self.list.next[frame.node as usize])
    }

    /// Toggles `op` in the linearized set and its hash.
    fn flip(&mut self, op: usize) {
        self.linearized[op / 64] ^= 1 << (op % 64);
        self.bits_hash ^= mix(op as u64 ^ 0x2545_f491_4f6c_dd1d);
    }

    /// Keeps the longest partial linearization seen at a dead end. At a new
    /// maximum every candidate failed its step outright (a cached successor
    /// would have been deeper), which makes `op`'s failure explainable.
    fn record_stuck(&mut self, op: usize) {
        if self
            .best
            .as_ref()
            .is_some_and(|b| b.linearization.len() >= self.stack.len())
        {
            return;
        }
        self.best = Some(self.stuck_here(op));
    }

    fn stuck_here(&self, op: usize) -> Stuck {
        Stuck {
            op,
            linearization: self
                .stack
                .iter()
                .map(|f| self.list.op[f.node as usize] as usize)
                .collect(),
            state: self.state.values().to_vec(),
        }
    }
}
