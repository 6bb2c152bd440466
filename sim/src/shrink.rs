//! Shrinking a failing run: fewer faults, fewer fault kinds, fewer operations, fewer clients and
//! nodes, keeping each reduction only while the run still fails the same way.

use crate::params::SimParams;
use crate::world::{run, Outcome, RunOptions};

/// Most simulation runs one shrink may spend.
const MAX_ATTEMPTS: usize = 80;

fn failure_kind(o: &Outcome) -> Option<&'static str> {
    o.violations
        .iter()
        .find(|v| v.invariant != crate::oracle::Invariant::LinearizabilityUnknown)
        .map(|v| v.invariant.name())
}

/// Returns the smallest failing parameters found and their outcome. `failing` must fail.
pub fn shrink(failing: &SimParams, original: Outcome, opts: RunOptions) -> (SimParams, Outcome) {
    let Some(kind) = failure_kind(&original) else {
        return (failing.clone(), original);
    };
    let mut best = (failing.clone(), original);
    let mut attempts = 0;
    let mut try_candidate = |candidate: SimParams, best: &mut (SimParams, Outcome)| -> bool {
        if attempts >= MAX_ATTEMPTS || candidate == best.0 {
            return false;
        }
        attempts += 1;
        let outcome = run(&candidate, opts);
        if failure_kind(&outcome) == Some(kind) {
            *best = (candidate, outcome);
            true
        } else {
            false
        }
    };
    // Fewer faults: cap at what was injected, then halve while it still fails.
    let injected = best.1.injected_faults();
    let mut cap = injected;
    while cap > 0 {
        let mut c = best.0.clone();
        c.max_faults = cap / 2;
        if !try_candidate(c, &mut best) {
            break;
        }
        cap /= 2;
    }
    if best.0.max_faults == usize::MAX {
        let mut c = best.0.clone();
        c.max_faults = injected;
        try_candidate(c, &mut best);
    }
    // Fewer fault kinds, one at a time.
    for k in 0..9 {
        let mut c = best.0.clone();
        let kinds = [
            &mut c.faults.loss,
            &mut c.faults.duplicate,
            &mut c.faults.reorder,
            &mut c.faults.partitions,
            &mut c.faults.resets,
            &mut c.faults.crashes,
            &mut c.faults.pauses,
            &mut c.faults.clock_drift,
            &mut c.faults.disk_loss,
        ];
        let flag = kinds.into_iter().nth(k);
        if let Some(flag) = flag.filter(|f| **f) {
            *flag = false;
            try_candidate(c, &mut best);
        }
    }
    // Fewer operations.
    while best.0.ops > 1 {
        let mut c = best.0.clone();
        c.ops /= 2;
        if !try_candidate(c, &mut best) {
            break;
        }
    }
    // Fewer clients and nodes.
    while best.0.workload.clients > 1 {
        let mut c = best.0.clone();
        c.workload.clients -= 1;
        if !try_candidate(c, &mut best) {
            break;
        }
    }
    while best.0.nodes > 2 {
        let mut c = best.0.clone();
        c.nodes -= 1;
        if !try_candidate(c, &mut best) {
            break;
        }
    }
    best
}
