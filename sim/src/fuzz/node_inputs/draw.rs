//! Decoding the `node_inputs` steps from the fuzzer's bytes with [`Unstructured`], biased
//! toward small key and timestamp domains (where interesting collisions happen) and toward the
//! inputs that make writes commit (ACKs for this node's own INVs, heartbeats, lease grants).

use super::{Harness, Step, KEYS, ME, PEERS, VALUES};
use crate::fuzz::env::tolerate;
use arbitrary::Unstructured;
use level2pc::{
    BootInc, Bytes, Epoch, Instant, Message, NodeId, Op, RequestId, Ts, Update, UpdateRef, Write,
};
use std::sync::Arc;

impl Harness {
    pub(super) fn draw_step(&mut self, u: &mut Unstructured) -> Step {
        let kind = u.int_in_range(0u8..=99).unwrap_or(0);
        match kind {
            0..=29 => {
                let from = self.draw_sender(u);
                let msg = self.draw_message(u);
                Step::Deliver {
                    from,
                    msgs: vec![msg],
                    single: true,
                    regress_ns: self.draw_regress(u),
                }
            }
            30..=37 => {
                let from = self.draw_sender(u);
                let n = u.int_in_range(0..=4).unwrap_or(0);
                let msgs = (0..n).map(|_| self.draw_message(u)).collect();
                Step::Deliver {
                    from,
                    msgs,
                    single: false,
                    regress_ns: 0,
                }
            }
            38..=47 => {
                // A peer answers one of our INVs: what makes our writes commit.
                let from = PEERS[usize::from(u.ratio(1u8, 2u8).unwrap_or(false))];
                let ts = pick(u, &self.own_ts).unwrap_or_else(|| self.draw_ts(u));
                let epoch = self.node.view().epoch;
                let msg = if u.ratio(1u8, 8u8).unwrap_or(false) {
                    Message::Val { epoch, ts }
                } else {
                    Message::Ack { epoch, ts }
                };
                Step::Deliver {
                    from,
                    msgs: vec![msg],
                    single: true,
                    regress_ns: 0,
                }
            }
            48..=52 => {
                // Heartbeats from both peers (readiness).
                let epoch = self.node.view().epoch;
                let from = PEERS[usize::from(u.ratio(1u8, 2u8).unwrap_or(false))];
                Step::Deliver {
                    from,
                    msgs: vec![Message::Ping { epoch }],
                    single: true,
                    regress_ns: 0,
                }
            }
            53..=64 => Step::Tick {
                advance_ns: self.draw_advance(u),
            },
            65..=69 => {
                let upto = self.completed + u.int_in_range(1..=3).unwrap_or(1);
                Step::Complete { upto }
            }
            70..=79 => {
                let upto = match u.int_in_range(0u8..=9).unwrap_or(0) {
                    0..=5 => self.emitted,
                    6 => self.reported + 1,
                    7 => 0,
                    8 => u.int_in_range(0..=self.emitted + 3).unwrap_or(0),
                    _ => u64::MAX,
                };
                Step::Persisted { upto }
            }
            80..=96 => {
                let id = RequestId(u.int_in_range(0..=7).unwrap_or(0));
                let op = self.draw_op(u);
                let deadline = match u.int_in_range(0u8..=7).unwrap_or(0) {
                    0 => self.now,
                    1 => Instant(self.now.0.saturating_sub(1_000_000)),
                    2 => self.now.plus_ms(10),
                    3 | 4 => self.now.plus_ms(200),
                    5 | 6 => self.now.plus_ms(2_000),
                    _ => self.now.plus_ms(60_000),
                };
                Step::Submit { id, op, deadline }
            }
            _ => Step::Restart {
                advance_ns: self.draw_advance(u),
            },
        }
    }

    fn draw_sender(&self, u: &mut Unstructured) -> NodeId {
        match u.int_in_range(0u8..=19).unwrap_or(0) {
            0 => ME,
            1 => NodeId(3),
            2 => NodeId(u32::MAX),
            n => PEERS[usize::from(n % 2)],
        }
    }

    fn draw_regress(&self, u: &mut Unstructured) -> u64 {
        if u.ratio(1u8, 16u8).unwrap_or(false) {
            u.int_in_range(1..=5_000_000_000).unwrap_or(1)
        } else {
            0
        }
    }

    fn draw_advance(&self, u: &mut Unstructured) -> u64 {
        const MS: u64 = 1_000_000;
        match u.int_in_range(0u8..=11).unwrap_or(0) {
            0 => 0,
            1 => u.int_in_range(1..=MS).unwrap_or(1),
            2 | 3 => MS,
            4 => 10 * MS,
            5 | 6 => 50 * MS,
            7 => 100 * MS,
            8 => 500 * MS,
            9 => 1_001 * MS,
            10 => u.int_in_range(0..=3_000 * MS).unwrap_or(0),
            _ => {
                // Now and then a jump toward the end of the clock's range.
                if u.ratio(1u8, 8u8).unwrap_or(false) && !tolerate("end-of-time") {
                    u64::MAX / 2
                } else {
                    60_000 * MS
                }
            }
        }
    }

    fn draw_epoch(&self, u: &mut Unstructured) -> Epoch {
        let epoch = self.node.view().epoch;
        match u.int_in_range(0u8..=19).unwrap_or(0) {
            0 => Epoch(0),
            1 => Epoch(epoch.0 + 1),
            2 => Epoch(u64::MAX),
            _ => epoch,
        }
    }

    fn draw_ts(&self, u: &mut Unstructured) -> Ts {
        if !self.ts_pool.is_empty() && u.ratio(1u8, 2u8).unwrap_or(false) {
            return pick(u, &self.ts_pool).expect("non-empty");
        }
        let version = match u.int_in_range(0u8..=31).unwrap_or(0) {
            0 if !tolerate("version-overflow") => u64::MAX,
            1 if !tolerate("version-overflow") => u64::MAX - 1,
            2 => u.arbitrary::<u64>().unwrap_or(0) >> u32::from(tolerate("version-overflow")),
            n => u64::from(n % 9),
        };
        let node = NodeId(u.int_in_range(0..=3).unwrap_or(0));
        let boot = match u.int_in_range(0u8..=4).unwrap_or(0) {
            4 => self.node.boot(),
            n => BootInc(u64::from(n)),
        };
        Ts::new(version, node, boot)
    }

    fn draw_key(&self, u: &mut Unstructured) -> Bytes {
        if u.ratio(1u8, 16u8).unwrap_or(false) {
            let len = u.int_in_range(0..=9).unwrap_or(0);
            return Bytes::from(u.bytes(len).unwrap_or(&[]));
        }
        Bytes::from(pick(u, &KEYS).expect("keys"))
    }

    fn draw_value(&self, u: &mut Unstructured) -> Bytes {
        if u.ratio(1u8, 16u8).unwrap_or(false) {
            let len = u.int_in_range(0..=9).unwrap_or(0);
            return Bytes::from(u.bytes(len).unwrap_or(&[]));
        }
        Bytes::from(pick(u, &VALUES).expect("values"))
    }

    fn draw_writes(&self, u: &mut Unstructured, max: u32) -> Vec<Write> {
        let n = u.int_in_range(0..=max).unwrap_or(0);
        (0..n)
            .map(|_| {
                let key = self.draw_key(u);
                let value = if u.ratio(1u8, 4u8).unwrap_or(false) {
                    None
                } else {
                    Some(self.draw_value(u))
                };
                Write { key, value }
            })
            .collect()
    }

    /// An INV's update. Timestamps stay unique as the protocol assumes (§4.1: writer node and
    /// boot incarnation are part of every ts): a ts seen before always carries the update first
    /// seen under it, and no peer invents an update under this node's own writer id.
    fn draw_update(&mut self, u: &mut Unstructured) -> UpdateRef {
        if !self.update_pool.is_empty() && u.ratio(1u8, 3u8).unwrap_or(false) {
            // A replay: the same update again (from anyone).
            return pick(u, &self.update_pool).expect("non-empty");
        }
        let mut ts = self.draw_ts(u);
        if let Some(known) = self.registry.get(&ts) {
            return known.clone();
        }
        if ts.writer.node == ME {
            ts.writer.node = PEERS[(ts.version % 2) as usize];
            if let Some(known) = self.registry.get(&ts) {
                return known.clone();
            }
        }
        let mut writes = self.draw_writes(u, 4);
        if !u.ratio(1u8, 10u8).unwrap_or(false) {
            // Mostly canonical: sorted, one write per key (a correct peer sends nothing else).
            writes = level2pc::canonical_writes(writes);
        }
        // Some INVs are read-modify-writes (§11): one write, a base below, a step above it.
        let mut base = None;
        if writes.len() == 1 && u.ratio(1u8, 3u8).unwrap_or(false) {
            let b = self.draw_ts(u);
            let by = level2pc::WriterId {
                node: PEERS[usize::from(u.ratio(1u8, 2u8).unwrap_or(false))],
                boot: BootInc(u.int_in_range(0..=3).unwrap_or(0)),
            };
            let rank = u.int_in_range(0..=3).unwrap_or(0);
            if let Some(r) = Ts::rmw_on(b, rank, by, u.arbitrary().unwrap_or(0)) {
                if let Some(known) = self.registry.get(&r) {
                    return known.clone();
                }
                (ts, base) = (r, Some(b));
            }
        }
        let update = Arc::new(Update { ts, writes, base });
        if update.is_canonical() && ts != Ts::ZERO {
            self.registry.insert(ts, update.clone());
        }
        update
    }

    fn draw_message(&mut self, u: &mut Unstructured) -> Message {
        let epoch = self.draw_epoch(u);
        match u.int_in_range(0u8..=9).unwrap_or(0) {
            0..=3 => Message::Inv {
                epoch,
                update: self.draw_update(u),
            },
            4..=5 => Message::Ack {
                epoch,
                ts: self.draw_ts(u),
            },
            6..=7 => Message::Val {
                epoch,
                ts: self.draw_ts(u),
            },
            // A lease grant for one of this boot's first requests: it lets reads and writes
            // run (the node asks its acceptors for a lease on every heartbeat).
            8 => Message::LeaseGrant {
                id: (self.node.boot().0, u.int_in_range(1u64..=4).unwrap_or(1)),
                member: level2pc::MemberId { node: ME, adm: 1 },
            },
            _ => Message::Ping { epoch },
        }
    }

    fn draw_op(&self, u: &mut Unstructured) -> Op {
        // New kinds are drawn after the old draws, so older corpus files keep their meaning.
        match u.int_in_range(0u8..=9).unwrap_or(0) {
            0 | 1 => Op::Get {
                key: self.draw_key(u),
            },
            2 => {
                let n = u.int_in_range(0..=4).unwrap_or(0);
                let keys = (0..n).map(|_| self.draw_key(u)).collect();
                if u.ratio(1u8, 3u8).unwrap_or(false) {
                    Op::Versions { keys }
                } else {
                    Op::GetMany { keys }
                }
            }
            3 => {
                let (lo, hi) = (self.draw_key(u), self.draw_key(u));
                let limit = match u.int_in_range(0u8..=3).unwrap_or(0) {
                    0 => None,
                    1 => Some(usize::MAX),
                    n => Some(usize::from(n) - 2),
                };
                Op::Range { lo, hi, limit }
            }
            4..=5 => Op::Put {
                key: self.draw_key(u),
                value: self.draw_value(u),
            },
            6 => Op::Del {
                key: self.draw_key(u),
            },
            7 => {
                let key = self.draw_key(u);
                let mut change = self.draw_change(u);
                if u.ratio(1u8, 4u8).unwrap_or(false) {
                    change = self.watched(u, &key, change);
                }
                Op::Rmw { key, change }
            }
            _ => Op::Batch {
                writes: self.draw_writes(u, 5),
            },
        }
    }
}

impl Harness {
    fn draw_change(&self, u: &mut Unstructured) -> level2pc::Change {
        use level2pc::{Change, Presence};
        let maybe = |u: &mut Unstructured, d: &Self| {
            (!u.ratio(1u8, 3u8).unwrap_or(false)).then(|| d.draw_value(u))
        };
        match u.int_in_range(0u8..=4).unwrap_or(0) {
            0 => Change::Cas {
                expected: maybe(u, self),
                new: maybe(u, self),
            },
            1 => Change::IncrBy(match u.int_in_range(0u8..=3).unwrap_or(0) {
                0 => i64::MAX,
                1 => i64::MIN,
                n => i64::from(n),
            }),
            2 => Change::Delete,
            n => Change::Set {
                value: self.draw_value(u),
                only: match n {
                    3 => None,
                    _ if u.ratio(1u8, 2u8).unwrap_or(false) => Some(Presence::Absent),
                    _ => Some(Presence::Present),
                },
            },
        }
    }
}

impl Harness {
    /// `then` conditioned on `key`'s version: mostly the version the node holds (so it can
    /// apply), sometimes another; sometimes a check alone.
    fn watched(
        &self,
        u: &mut Unstructured,
        key: &Bytes,
        then: level2pc::Change,
    ) -> level2pc::Change {
        let held = self
            .node
            .inspect_key(key)
            .map_or(level2pc::Ts::ZERO, |e| e.ts);
        let version = match u.int_in_range(0u8..=3).unwrap_or(0) {
            0 => self.draw_ts(u),
            _ => held,
        };
        let then = (!u.ratio(1u8, 4u8).unwrap_or(false)).then(|| Box::new(then));
        level2pc::Change::IfVersion { version, then }
    }
}

fn pick<T: Clone>(u: &mut Unstructured, items: &[T]) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    let i = u.choose_index(items.len()).unwrap_or(0);
    Some(items[i].clone())
}
