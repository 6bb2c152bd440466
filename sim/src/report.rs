//! Failure artefacts: the history as JSON lines and a self-contained HTML timeline
//! (porcupine-style: one lane per client and per node, faults marked, the first operation that
//! cannot be linearized highlighted).

use crate::checker::Verdict;
use crate::history::{write_history, Op, OpResult};
use crate::world::Outcome;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Writes `history.jsonl`, `timeline.html` and `summary.txt` for a failing outcome into `dir`.
pub fn write_failure(dir: &Path, outcome: &Outcome, command: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::File::create(dir.join("history.jsonl"))?;
    write_history(&outcome.history, std::io::BufWriter::new(file))?;
    std::fs::write(dir.join("timeline.html"), timeline_html(outcome))?;
    std::fs::write(dir.join("summary.txt"), summary(outcome, command))?;
    Ok(())
}

/// The text summary printed to CI logs.
pub fn summary(outcome: &Outcome, command: &str) -> String {
    let verdict = outcome.verdict.as_ref();
    let mut s = String::new();
    let _ = writeln!(s, "reproduce: {command}");
    let _ = writeln!(s, "params: {}", outcome.params.describe());
    for v in &outcome.violations {
        let _ = writeln!(
            s,
            "violation [{}] at {:.3}ms: {}",
            v.invariant.name(),
            v.at_ns as f64 / 1e6,
            v.detail
        );
    }
    if let Some(Verdict::Illegal(v)) = verdict {
        let _ = writeln!(
            s,
            "first op that cannot be linearized: #{} ({})",
            v.op, v.reason
        );
        let _ = writeln!(s, "component keys: {:?}", v.component);
        let _ = writeln!(s, "longest partial linearization: {:?}", v.linearization);
    }
    let _ = writeln!(s, "faults:");
    for f in &outcome.faults {
        let _ = writeln!(s, "  {:>10.3}ms {}", f.at_ns as f64 / 1e6, f.what);
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Whether `op` touches any key of `keys` (a range touches the keys inside its bounds).
fn touches(op: &Op, keys: &BTreeSet<String>) -> bool {
    match op {
        Op::Get { key }
        | Op::Put { key, .. }
        | Op::Del { key }
        | Op::Cas { key, .. }
        | Op::Incr { key, .. } => keys.contains(key),
        Op::GetMany { keys: ks } => ks.iter().any(|k| keys.contains(k)),
        Op::Batch { writes } => writes.iter().any(|w| keys.contains(&w.key)),
        Op::Range { lo, hi, .. } => keys.iter().any(|k| k >= lo && k < hi),
    }
}

/// A self-contained HTML page (inline SVG and CSS, no scripts needed) of the run. When the
/// history is not linearizable, only the failing component's operations are drawn. Time is
/// drawn by rank (every distinct instant one step), as porcupine does, so short operations next
/// to long ones stay visible.
pub fn timeline_html(outcome: &Outcome) -> String {
    let verdict = outcome.verdict.as_ref();
    let (bad, path, component): (Option<u64>, BTreeSet<u64>, Option<BTreeSet<String>>) =
        match verdict {
            Some(Verdict::Illegal(v)) => (
                Some(v.op),
                v.linearization.iter().copied().collect(),
                Some(v.component.iter().cloned().collect()),
            ),
            _ => (None, BTreeSet::new(), None),
        };
    let ops: Vec<_> = outcome
        .history
        .ops
        .iter()
        .filter(|o| component.as_ref().is_none_or(|c| touches(&o.op, c)))
        .collect();
    // Rank-compress every instant drawn.
    let mut instants: BTreeSet<u64> = ops
        .iter()
        .flat_map(|o| [Some(o.call), o.ret])
        .flatten()
        .collect();
    instants.extend(outcome.faults.iter().map(|f| f.at_ns));
    let rank: BTreeMap<u64, usize> = instants.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let end_rank = rank.len() + 1;
    let clients: BTreeSet<u64> = ops.iter().map(|o| o.client).collect();
    let lanes: BTreeMap<u64, usize> = clients.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let node_lane0 = lanes.len();
    let n_lanes = node_lane0 + outcome.params.nodes;
    let (lane_h, left, step) = (28.0, 90.0, 14.0);
    let width = left + step * end_rank as f64 + 20.0;
    let x =
        |t: Option<u64>| left + step * t.and_then(|t| rank.get(&t)).map_or(end_rank, |r| *r) as f64;
    let mut svg = String::new();
    let height = (n_lanes as f64 + 1.0) * lane_h + 20.0;
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">"#
    );
    for (c, i) in &lanes {
        let _ = write!(
            svg,
            r#"<text x="4" y="{}" class="lane">client {c}</text>"#,
            (*i as f64 + 0.7) * lane_h
        );
    }
    for n in 0..outcome.params.nodes {
        let y = (node_lane0 + n) as f64 * lane_h;
        let _ = write!(
            svg,
            r#"<text x="4" y="{}" class="lane">node n{n}</text><line x1="{left}" x2="{width}" y1="{}" y2="{}" class="axis"/>"#,
            y + lane_h * 0.7,
            y + lane_h / 2.0,
            y + lane_h / 2.0
        );
    }
    for f in &outcome.faults {
        let lane = f.node.map(|n| node_lane0 + n);
        let y = lane.map_or(0.0, |l| l as f64 * lane_h);
        let h = if lane.is_some() {
            lane_h
        } else {
            n_lanes as f64 * lane_h
        };
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{y}" width="4" height="{h}" class="fault"><title>{:.3}ms {}</title></rect>"#,
            x(Some(f.at_ns)),
            f.at_ns as f64 / 1e6,
            esc(&f.what)
        );
    }
    for o in &ops {
        let Some(&lane) = lanes.get(&o.client) else {
            continue;
        };
        let (x0, x1) = (x(Some(o.call)), x(o.ret));
        let class = if Some(o.id) == bad {
            "op bad"
        } else if path.contains(&o.id) {
            "op lin"
        } else if o.ret.is_none() || o.result == OpResult::Unknown {
            "op unknown"
        } else {
            "op"
        };
        let tip = format!(
            "#{} at n{} {:?} -> {:?} [{:.3}ms, {}]",
            o.id,
            o.node.unwrap_or(0),
            o.op,
            o.result,
            o.call as f64 / 1e6,
            o.ret.map_or("never returned".into(), |r| format!(
                "{:.3}ms",
                r as f64 / 1e6
            ))
        );
        let _ = write!(
            svg,
            r#"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" class="{class}"><title>{}</title></rect>"#,
            lane as f64 * lane_h + 4.0,
            (x1 - x0).max(4.0),
            lane_h - 8.0,
            esc(&tip)
        );
    }
    svg.push_str("</svg>");
    let verdict_text = match verdict {
        Some(Verdict::Illegal(v)) => format!("NOT linearizable: op #{} — {}", v.op, esc(&v.reason)),
        Some(Verdict::Unknown { .. }) => "linearizability unknown (budget exhausted)".into(),
        Some(Verdict::Ok) => "linearizable".into(),
        None => "not checked".into(),
    };
    let violations: String = outcome
        .violations
        .iter()
        .map(|v| format!("<li>[{}] {}</li>", v.invariant.name(), esc(&v.detail)))
        .collect();
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>level2pc-sim seed {seed}</title><style>
body{{font-family:sans-serif;margin:16px}} .lane{{font-size:12px}} .axis{{stroke:#ccc}}
.op{{fill:#8fc98f;stroke:#3a3}} .op.unknown{{fill:#ddd;stroke:#999}} .op.lin{{fill:#9cc3ff;stroke:#36c}}
.op.bad{{fill:#f55;stroke:#900;stroke-width:2}} .fault{{fill:#f90;opacity:.6}}
</style></head><body><h2>level2pc-sim seed {seed}</h2><p>{params}</p><p><b>{verdict_text}</b></p>
<ul>{violations}</ul><p>Legend: green = completed, grey = unknown outcome, blue = in the longest partial linearization,
red = the first operation that cannot be linearized, orange = faults (hover for details).
Time runs left to right by rank: each distinct instant is one step.{scope}</p>
<div style="overflow-x:auto">{svg}</div></body></html>"#,
        seed = outcome.params.seed,
        params = esc(&outcome.params.describe()),
        scope = if component.is_some() {
            " Only the failing component's operations are shown."
        } else {
            ""
        },
    )
}
