//! Every knob of a simulation run, and how a seed draws them (swarm testing).
//!
//! A run is fully determined by its [`SimParams`]; the CLI prints the exact flags that rebuild
//! them, which is how a failing seed is reproduced and shrunk.

use level2pc::Mutant;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Which kinds of fault a run may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FaultKinds {
    /// Random frame loss on every link.
    pub loss: bool,
    /// Frame duplication.
    pub duplicate: bool,
    /// Extra delay on some frames, so they overtake each other.
    pub reorder: bool,
    /// Symmetric, one-way, isolating, majority/minority and bridge partitions.
    pub partitions: bool,
    /// Connection resets: every frame in flight on a link is lost.
    pub resets: bool,
    /// Crash (volatile state and unacknowledged persists lost) and restart from disk.
    pub crashes: bool,
    /// Process pauses: the node freezes while time (and its clock) runs on.
    pub pauses: bool,
    /// Per-node clock rate drift within ρ and random offsets.
    pub clock_drift: bool,
    /// Disk loss: the node restarts empty, asks to join, and is re-admitted as a new identity
    /// that catches up by state transfer.
    pub disk_loss: bool,
}

impl FaultKinds {
    /// Parses a profile name: `none`, `net`, `crash`, `clock`, `all`, or a comma-separated list
    /// of kinds (`loss,duplicate,reorder,partitions,resets,crashes,pauses,clock-drift,disk-loss`).
    pub fn parse(profile: &str) -> Result<FaultKinds, String> {
        let net = FaultKinds {
            loss: true,
            duplicate: true,
            reorder: true,
            partitions: true,
            resets: true,
            ..Default::default()
        };
        let node = FaultKinds {
            crashes: true,
            pauses: true,
            disk_loss: true,
            ..Default::default()
        };
        Ok(match profile {
            "none" => FaultKinds::default(),
            "net" => net,
            "crash" => node,
            "clock" => FaultKinds {
                clock_drift: true,
                ..Default::default()
            },
            "all" => FaultKinds {
                crashes: true,
                pauses: true,
                disk_loss: true,
                clock_drift: true,
                ..net
            },
            list => {
                let mut k = FaultKinds::default();
                for name in list.split(',').map(str::trim) {
                    match name {
                        "loss" => k.loss = true,
                        "duplicate" => k.duplicate = true,
                        "reorder" => k.reorder = true,
                        "partitions" => k.partitions = true,
                        "resets" => k.resets = true,
                        "crashes" => k.crashes = true,
                        "pauses" => k.pauses = true,
                        "clock-drift" => k.clock_drift = true,
                        "disk-loss" => k.disk_loss = true,
                        other => return Err(format!("unknown fault profile or kind `{other}`")),
                    }
                }
                k
            }
        })
    }

    /// The comma-separated list form (round-trips through [`FaultKinds::parse`]).
    pub fn to_list(&self) -> String {
        let names = [
            (self.loss, "loss"),
            (self.duplicate, "duplicate"),
            (self.reorder, "reorder"),
            (self.partitions, "partitions"),
            (self.resets, "resets"),
            (self.crashes, "crashes"),
            (self.pauses, "pauses"),
            (self.clock_drift, "clock-drift"),
            (self.disk_loss, "disk-loss"),
        ];
        let on: Vec<&str> = names.iter().filter(|(b, _)| *b).map(|(_, n)| *n).collect();
        if on.is_empty() {
            "none".into()
        } else {
            on.join(",")
        }
    }

    /// How many kinds are on.
    pub fn count(&self) -> usize {
        self.to_list().split(',').filter(|s| *s != "none").count()
    }
}

/// Rates and sizes drawn per seed (swarm testing: each seed its own mix).
#[derive(Clone, Debug, PartialEq)]
pub struct Rates {
    /// Probability a frame is lost.
    pub loss: f64,
    /// Probability a frame is delivered twice.
    pub duplicate: f64,
    /// Probability a frame gets a large extra delay.
    pub reorder: f64,
    /// Base one-way delay, microseconds.
    pub delay_min_us: u64,
    /// Random extra delay, microseconds.
    pub delay_jitter_us: u64,
    /// Mean time between injected node/partition faults, milliseconds.
    pub fault_interval_ms: u64,
    /// How long a partition, pause or crash lasts at most, milliseconds.
    pub fault_duration_ms: u64,
    /// Largest clock drift, parts per million (ρ · 10⁶).
    pub drift_ppm: u64,
    /// Disk fsync latency, microseconds (uniform up to this).
    pub fsync_us: u64,
}

/// The workload's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Concurrent clients (each a closed loop: one request at a time).
    pub clients: usize,
    /// Keys per group; batches and ranges stay inside one group.
    pub keys_per_group: usize,
    /// Operations on one group before the workload moves to a fresh one (keeps checker
    /// components small).
    pub ops_per_group: usize,
    /// Percentages of the op mix: get, get_many, range, put, del, batch, cas, set-if-absent,
    /// increment, delete-if-present (sum 100).
    pub mix: [u32; 10],
    /// Client think time between operations, microseconds (uniform up to this).
    pub think_us: u64,
    /// Client deadline per operation, milliseconds.
    pub deadline_ms: u64,
}

impl Workload {
    /// Reshapes the workload for contention: `keys` keys per group and a batch-heavy mix.
    pub fn make_hot(&mut self, keys: usize) {
        self.keys_per_group = keys;
        self.mix = HOT_MIX;
    }

    /// Whether this is the contention-heavy shape.
    pub fn is_hot(&self) -> bool {
        self.mix == HOT_MIX
    }
}

/// The op mix of the contention-heavy shape (get, get_many, range, put, del, batch, cas,
/// set-if-absent, increment, delete-if-present).
const HOT_MIX: [u32; 10] = [10, 10, 5, 15, 5, 25, 10, 5, 10, 5];

/// Everything that determines a run.
#[derive(Clone, Debug, PartialEq)]
pub struct SimParams {
    /// The seed of every random choice.
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Client operations issued in the fault phase.
    pub ops: usize,
    /// Fault kinds allowed.
    pub faults: FaultKinds,
    /// Rates drawn from the seed.
    pub rates: Rates,
    /// Workload shape drawn from the seed.
    pub workload: Workload,
    /// The engine mutant to run, if any.
    pub mutant: Option<Mutant>,
    /// Let clock drift exceed ρ (the assumption-violation mode).
    pub clock_violation: bool,
    /// Upper bound on injected faults (the shrinker lowers it).
    pub max_faults: usize,
}

/// The ρ the engine is configured for, parts per million.
pub const RHO_PPM: u64 = 1_000;

impl SimParams {
    /// Draws rates and workload from `seed`. With `swarm`, the seed also switches off a random
    /// subset of the allowed fault kinds, so that each seed explores its own mix.
    pub fn draw(
        seed: u64,
        nodes: usize,
        ops: usize,
        allowed: FaultKinds,
        swarm: bool,
    ) -> SimParams {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005e_ed0f_5a1a_d0c5);
        // The swarm draws are made whether or not swarm mode is on, so that the rates below
        // come out the same either way and `--faults <drawn list> --no-swarm` reproduces a seed.
        let keep: Vec<bool> = (0..9).map(|_| rng.gen_bool(0.7)).collect();
        let mut faults = allowed;
        if swarm {
            let kinds = [
                &mut faults.loss,
                &mut faults.duplicate,
                &mut faults.reorder,
                &mut faults.partitions,
                &mut faults.resets,
                &mut faults.crashes,
                &mut faults.pauses,
                &mut faults.clock_drift,
                &mut faults.disk_loss,
            ];
            for (on, keep) in kinds.into_iter().zip(keep) {
                *on = *on && keep;
            }
        }
        let rates = Rates {
            loss: rng.gen_range(0.0..0.15),
            duplicate: rng.gen_range(0.0..0.1),
            reorder: rng.gen_range(0.0..0.2),
            delay_min_us: rng.gen_range(50..500),
            delay_jitter_us: rng.gen_range(10..3_000),
            fault_interval_ms: rng.gen_range(150..1_500),
            fault_duration_ms: rng.gen_range(20..2_000),
            drift_ppm: RHO_PPM,
            fsync_us: rng.gen_range(10..2_000),
        };
        let mut mix = [0u32; 10];
        for m in mix.iter_mut() {
            *m = rng.gen_range(1..10);
        }
        let total: u32 = mix.iter().sum();
        let mut pct: Vec<u32> = mix.iter().map(|m| m * 100 / total).collect();
        pct[0] += 100 - pct.iter().sum::<u32>();
        // A third of the seeds get a contention-heavy shape: few keys, many batches. That is
        // where the guardian rule and replays are exercised hardest.
        let hot = rng.gen_bool(0.3);
        let hot_keys = rng.gen_range(2..=3);
        let mut workload = Workload {
            clients: rng.gen_range(2..=5),
            keys_per_group: rng.gen_range(2..=5),
            ops_per_group: rng.gen_range(20..80),
            mix: std::array::from_fn(|i| pct[i]),
            think_us: rng.gen_range(0..2_000),
            deadline_ms: rng.gen_range(500..3_000),
        };
        if hot {
            workload.make_hot(hot_keys);
        }
        SimParams {
            seed,
            nodes,
            ops,
            faults,
            rates,
            workload,
            mutant: None,
            clock_violation: false,
            max_faults: usize::MAX,
        }
    }

    /// A one-line description of the drawn mix, printed with a seed.
    pub fn describe(&self) -> String {
        let w = &self.workload;
        format!(
            "nodes={} ops={} faults={} max_faults={} loss={:.3} dup={:.3} reorder={:.3} fault_every={}ms clients={} keys/group={} mix(get,mget,range,put,del,batch,cas,setnx,incr,delx)={:?}{}",
            self.nodes,
            self.ops,
            self.faults.to_list(),
            if self.max_faults == usize::MAX { "inf".into() } else { self.max_faults.to_string() },
            self.rates.loss,
            self.rates.duplicate,
            self.rates.reorder,
            self.rates.fault_interval_ms,
            w.clients,
            w.keys_per_group,
            w.mix,
            if w.is_hot() { " (hot)" } else { "" }
        )
    }
}
