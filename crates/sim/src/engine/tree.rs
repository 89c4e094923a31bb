//! Shot branching: all shots start in one node holding one state; at a random event (a
//! mid-circuit measurement, a reset, a sampled noise channel, a condition some shots meet and
//! others don't) each shot draws its own number from its own stream and the node splits into
//! one child per outcome. Shots that took the same path share one state, so a circuit whose
//! measurements are all terminal is simulated once, and trajectories with rare errors cost far
//! less than one simulation per shot, while every shot sees exactly what it would have seen if
//! simulated alone.
//!
//! Memory: a split clones the state for all children but one, and only while the number of
//! live states stays within the budget; past it, a child's shots are set aside and later re-run
//! from the start on their own (their draws do not change, so neither do their results).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::blocked::{self, Item};
use super::program::{Prepared, Program, StepKind, matrix_items};
use super::rng::{SLOT_OUTCOME, SLOT_READOUT, uniform};
use super::state::{self, State};
use crate::ir::{C64, Condition};
use crate::run::SimError;

/// Shots that share a classical record.
#[derive(Debug, Clone)]
struct Group {
    record: Vec<u64>,
    shots: Vec<u64>,
}

struct Node {
    state: State,
    groups: Vec<Group>,
    at: usize,
    guard_done: bool,
}

/// What to do to a child's copy of the state.
enum Action {
    None,
    Project {
        q: usize,
        outcome: usize,
        p: f64,
        flip: bool,
    },
    Items(Vec<Item>),
}

/// Final classical records and how many shots ended with each.
pub(crate) type Tally = HashMap<Vec<u64>, u64>;

struct Ctx<'a> {
    prog: &'a Program,
    key: [u8; 32],
    max_live: usize,
    live: AtomicUsize,
    tally: Mutex<Tally>,
    deferred: Mutex<Vec<Vec<u64>>>,
    error: Mutex<Option<SimError>>,
    words: usize,
}

fn get_bit(rec: &[u64], c: usize) -> u64 {
    rec.get(c / 64).map_or(0, |w| (w >> (c % 64)) & 1)
}

fn set_bit(rec: &mut [u64], c: usize, b: u64) {
    if let Some(w) = rec.get_mut(c / 64) {
        let m = 1u64 << (c % 64);
        if b == 1 {
            *w |= m;
        } else {
            *w &= !m;
        }
    }
}

pub(crate) fn holds(guard: &[Condition], rec: &[u64]) -> bool {
    guard.iter().all(|c| {
        let len = c.clbits.len();
        if len < 64 && (c.value >> len) != 0 {
            return false;
        }
        c.clbits.iter().enumerate().all(|(j, &b)| {
            let want = if j < 64 { (c.value >> j) & 1 } else { 0 };
            get_bit(rec, b) == want
        })
    })
}

impl Ctx<'_> {
    fn fail(&self, e: SimError) {
        if let Ok(mut g) = self.error.lock()
            && g.is_none()
        {
            *g = Some(e);
        }
    }

    fn acquire(&self) -> bool {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
                (l < self.max_live).then_some(l + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }

    fn defer(&self, groups: &[Group]) {
        if let Ok(mut d) = self.deferred.lock() {
            d.push(
                groups
                    .iter()
                    .flat_map(|g| g.shots.iter().copied())
                    .collect(),
            );
        }
    }

    fn add(&self, t: Tally) {
        if let Ok(mut g) = self.tally.lock() {
            for (k, v) in t {
                *g.entry(k).or_insert(0) += v;
            }
        }
    }
}

fn apply_action(st: &mut State, a: &Action) -> Result<(), SimError> {
    match a {
        Action::None => Ok(()),
        Action::Project {
            q,
            outcome,
            p,
            flip,
        } => {
            st.project(*q, *outcome, *p);
            if *flip {
                let segs = blocked::segments(
                    vec![Item::K(super::kernels::Kern::X { q: *q })],
                    if st.density { 2 * st.n } else { st.n },
                );
                st.apply(&segs)?;
            }
            Ok(())
        }
        Action::Items(items) => {
            let nq = if st.density { 2 * st.n } else { st.n };
            st.apply(&blocked::segments(items.clone(), nq))
        }
    }
}

/// Runs `shots` shots of `prog`. `max_live` bounds the number of states held at once;
/// `par_children` runs children of a split in parallel (for small states).
pub(crate) fn execute(
    prog: &Program,
    key: [u8; 32],
    shots: u64,
    max_live: usize,
    par_children: bool,
) -> Result<Tally, SimError> {
    let ctx = Ctx {
        prog,
        key,
        max_live: max_live.max(1),
        live: AtomicUsize::new(0),
        tally: Mutex::new(HashMap::new()),
        deferred: Mutex::new(Vec::new()),
        error: Mutex::new(None),
        words: prog.num_clbits.div_ceil(64),
    };
    let mut roots: Vec<Vec<u64>> = vec![(0..shots).collect()];
    while let Some(shots) = roots.pop() {
        if shots.is_empty() {
            continue;
        }
        ctx.live.fetch_add(1, Ordering::AcqRel);
        let state = State::initial(prog)?;
        let node = Node {
            state,
            groups: vec![Group {
                record: vec![0; ctx.words],
                shots,
            }],
            at: 0,
            guard_done: false,
        };
        if par_children {
            let c = &ctx;
            rayon::scope(|s| {
                let mut stack = Vec::new();
                process(c, node, Some(s), &mut stack);
            });
        } else {
            let mut stack = vec![node];
            while let Some(n) = stack.pop() {
                process(&ctx, n, None, &mut stack);
            }
        }
        if let Some(e) = ctx.error.lock().ok().and_then(|mut g| g.take()) {
            return Err(e);
        }
        if let Ok(mut d) = ctx.deferred.lock() {
            roots.append(&mut d);
        }
    }
    ctx.tally
        .into_inner()
        .map_err(|_| SimError::Internal("a worker thread panicked".into()))
}

/// Hands a child node over: spawned in parallel, or pushed on the caller's stack.
fn hand_over<'s>(
    ctx: &'s Ctx<'s>,
    node: Node,
    scope: Option<&rayon::Scope<'s>>,
    stack: &mut Vec<Node>,
) {
    match scope {
        Some(s) => s.spawn(move |s2| {
            let mut st = Vec::new();
            process(ctx, node, Some(s2), &mut st);
        }),
        None => stack.push(node),
    }
}

type Child = (Vec<Group>, Action, usize, bool);

/// Splits `node` into `children`; returns the node to continue with (the last child, reusing
/// the state), or `None` when everything was handed over or failed.
fn split<'s>(
    ctx: &'s Ctx<'s>,
    node: Node,
    mut children: Vec<Child>,
    scope: Option<&rayon::Scope<'s>>,
    stack: &mut Vec<Node>,
) -> Option<Node> {
    children.retain(|c| c.0.iter().any(|g| !g.shots.is_empty()));
    let last = children.pop()?;
    for (groups, action, at, guard_done) in children {
        if !ctx.acquire() {
            ctx.defer(&groups);
            continue;
        }
        let mut st = match node.state.try_clone() {
            Ok(s) => s,
            Err(e) => {
                ctx.release();
                ctx.fail(e);
                continue;
            }
        };
        if let Err(e) = apply_action(&mut st, &action) {
            ctx.release();
            ctx.fail(e);
            continue;
        }
        hand_over(
            ctx,
            Node {
                state: st,
                groups,
                at,
                guard_done,
            },
            scope,
            stack,
        );
    }
    let (groups, action, at, guard_done) = last;
    let mut state = node.state;
    if let Err(e) = apply_action(&mut state, &action) {
        ctx.fail(e);
        return None;
    }
    Some(Node {
        state,
        groups,
        at,
        guard_done,
    })
}

fn process<'s>(
    ctx: &'s Ctx<'s>,
    mut node: Node,
    scope: Option<&rayon::Scope<'s>>,
    stack: &mut Vec<Node>,
) {
    loop {
        if ctx.error.lock().map_or(true, |g| g.is_some()) {
            ctx.release();
            return;
        }
        let Some(step) = ctx.prog.steps.get(node.at) else {
            leaf(ctx, &node);
            ctx.release();
            return;
        };
        if !step.guard.is_empty() && !node.guard_done {
            let (yes, no): (Vec<Group>, Vec<Group>) = node
                .groups
                .iter()
                .cloned()
                .partition(|g| holds(&step.guard, &g.record));
            if yes.is_empty() {
                node.at += 1;
                continue;
            }
            if !no.is_empty() {
                let at = node.at;
                let children = vec![
                    (no, Action::None, at + 1, false),
                    (yes, Action::None, at, true),
                ];
                match split(ctx, node, children, scope, stack) {
                    Some(n) => {
                        node = n;
                        continue;
                    }
                    None => {
                        ctx.release();
                        return;
                    }
                }
            }
        }
        node.guard_done = false;
        let next = node.at + 1;
        let children: Vec<Child> = match &step.kind {
            StepKind::Unitary(segs) => {
                if let Err(e) = node.state.apply(segs) {
                    ctx.fail(e);
                    ctx.release();
                    return;
                }
                node.at = next;
                continue;
            }
            StepKind::Measure {
                q,
                clbit,
                site,
                readout,
            } => {
                let (p0, p1) = node.state.probs(*q);
                let total = p0 + p1;
                if !(total > 0.0 && total.is_finite()) {
                    ctx.fail(SimError::Internal(
                        "the state has no probability left to measure".into(),
                    ));
                    ctx.release();
                    return;
                }
                let p0n = p0 / total;
                let mut by: [Vec<Group>; 2] = [Vec::new(), Vec::new()];
                for g in &node.groups {
                    // (outcome, recorded) → shots
                    let mut sub: [[Vec<u64>; 2]; 2] = Default::default();
                    for &s in &g.shots {
                        let o = if p0n >= 1.0 {
                            0
                        } else if p0n <= 0.0 {
                            1
                        } else if uniform(&ctx.key, s, *site, SLOT_OUTCOME) < p0n {
                            0
                        } else {
                            1
                        };
                        let mut r = o;
                        if let Some(ro) = readout {
                            let flip = if o == 0 { ro[0] } else { ro[1] };
                            if uniform(&ctx.key, s, *site, SLOT_READOUT) < flip {
                                r ^= 1;
                            }
                        }
                        if let Some(v) = sub.get_mut(o).and_then(|x| x.get_mut(r)) {
                            v.push(s);
                        }
                    }
                    for (o, rs) in sub.into_iter().enumerate() {
                        for (r, shots) in rs.into_iter().enumerate() {
                            if !shots.is_empty() {
                                let mut record = g.record.clone();
                                set_bit(&mut record, *clbit, r as u64);
                                if let Some(v) = by.get_mut(o) {
                                    v.push(Group { record, shots });
                                }
                            }
                        }
                    }
                }
                let [g0, g1] = by;
                vec![
                    (
                        g0,
                        Action::Project {
                            q: *q,
                            outcome: 0,
                            p: p0 / total,
                            flip: false,
                        },
                        next,
                        false,
                    ),
                    (
                        g1,
                        Action::Project {
                            q: *q,
                            outcome: 1,
                            p: p1 / total,
                            flip: false,
                        },
                        next,
                        false,
                    ),
                ]
            }
            StepKind::Reset { q, site } => {
                let (p0, p1) = node.state.probs(*q);
                let total = p0 + p1;
                if !(total > 0.0 && total.is_finite()) {
                    ctx.fail(SimError::Internal(
                        "the state has no probability left to reset".into(),
                    ));
                    ctx.release();
                    return;
                }
                let p0n = p0 / total;
                let mut by: [Vec<Group>; 2] = [Vec::new(), Vec::new()];
                for g in &node.groups {
                    let mut sub: [Vec<u64>; 2] = Default::default();
                    for &s in &g.shots {
                        let o = if p0n >= 1.0 {
                            0
                        } else if p0n <= 0.0 || uniform(&ctx.key, s, *site, SLOT_OUTCOME) >= p0n {
                            1
                        } else {
                            0
                        };
                        if let Some(v) = sub.get_mut(o) {
                            v.push(s);
                        }
                    }
                    for (o, shots) in sub.into_iter().enumerate() {
                        if !shots.is_empty()
                            && let Some(v) = by.get_mut(o)
                        {
                            v.push(Group {
                                record: g.record.clone(),
                                shots,
                            });
                        }
                    }
                }
                let [g0, g1] = by;
                vec![
                    (
                        g0,
                        Action::Project {
                            q: *q,
                            outcome: 0,
                            p: p0 / total,
                            flip: false,
                        },
                        next,
                        false,
                    ),
                    (
                        g1,
                        Action::Project {
                            q: *q,
                            outcome: 1,
                            p: p1 / total,
                            flip: true,
                        },
                        next,
                        false,
                    ),
                ]
            }
            StepKind::Channel { ch, q, site, slot } => {
                channel_children(ctx, &node, ch, q, *site, *slot, next)
            }
        };
        match split(ctx, node, children, scope, stack) {
            Some(n) => node = n,
            None => {
                ctx.release();
                return;
            }
        }
    }
}

fn channel_children(
    ctx: &Ctx<'_>,
    node: &Node,
    ch: &Prepared,
    q: &[usize],
    site: u64,
    slot: u64,
    next: usize,
) -> Vec<Child> {
    type Unitaries = Option<Vec<Option<Vec<C64>>>>;
    let (probs, unitaries): (Vec<f64>, Unitaries) = match &ch.fixed {
        Some(f) => (
            f.iter().map(|x| x.0).collect(),
            Some(f.iter().map(|x| x.1.clone()).collect()),
        ),
        None => (node.state.kraus_probs(ch, q), None),
    };
    let total: f64 = probs.iter().sum();
    let nk = probs.len();
    let mut by: Vec<Vec<Group>> = vec![Vec::new(); nk];
    for g in &node.groups {
        let mut sub: Vec<Vec<u64>> = vec![Vec::new(); nk];
        let only = probs.iter().filter(|&&p| p > 0.0).count() == 1;
        for &s in &g.shots {
            let choice = if only {
                probs.iter().position(|&p| p > 0.0).unwrap_or(0)
            } else {
                let r = uniform(&ctx.key, s, site, slot) * total;
                let mut acc = 0.0;
                let mut pick = probs.iter().rposition(|&p| p > 0.0).unwrap_or(0);
                for (i, &p) in probs.iter().enumerate() {
                    acc += p;
                    if p > 0.0 && r < acc {
                        pick = i;
                        break;
                    }
                }
                pick
            };
            if let Some(v) = sub.get_mut(choice) {
                v.push(s);
            }
        }
        for (i, shots) in sub.into_iter().enumerate() {
            if !shots.is_empty()
                && let Some(v) = by.get_mut(i)
            {
                v.push(Group {
                    record: g.record.clone(),
                    shots,
                });
            }
        }
    }
    by.into_iter()
        .enumerate()
        .map(|(i, groups)| {
            let action = if groups.is_empty() {
                Action::None
            } else {
                match &unitaries {
                    Some(us) => match us.get(i) {
                        Some(Some(u)) => Action::Items(matrix_items(q, u)),
                        _ => Action::None,
                    },
                    None => {
                        let p = probs.get(i).copied().unwrap_or(1.0) / total.max(f64::MIN_POSITIVE);
                        let f = 1.0 / (p * total).sqrt();
                        let k: Vec<C64> = ch
                            .kraus
                            .get(i)
                            .map_or_else(Vec::new, |k| k.iter().map(|x| x * f).collect());
                        Action::Items(matrix_items(q, &k))
                    }
                }
            };
            (groups, action, next, false)
        })
        .collect()
}

fn leaf(ctx: &Ctx<'_>, node: &Node) {
    let prog = ctx.prog;
    let mut tally: Tally = HashMap::new();
    if prog.terminal.is_empty() {
        for g in &node.groups {
            *tally.entry(g.record.clone()).or_insert(0) += g.shots.len() as u64;
        }
        ctx.add(tally);
        return;
    }
    let mut us: Vec<(f64, u64, usize)> = Vec::new();
    for (gi, g) in node.groups.iter().enumerate() {
        for &s in &g.shots {
            us.push((
                uniform(&ctx.key, s, prog.terminal_site, SLOT_OUTCOME),
                s,
                gi,
            ));
        }
    }
    us.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let u: Vec<f64> = us.iter().map(|x| x.0).collect();
    let idx = match node.state.sample(&u) {
        Ok(i) => i,
        Err(e) => {
            ctx.fail(e);
            return;
        }
    };
    let bitq = |i: usize, q: usize| (i.checked_shr(q as u32).unwrap_or(0) & 1) as u64;
    let any_readout = prog.terminal.iter().any(|t| t.readout.is_some());
    if any_readout {
        for (&(_, s, gi), &i) in us.iter().zip(&idx) {
            let Some(g) = node.groups.get(gi) else {
                continue;
            };
            let mut rec = g.record.clone();
            for t in &prog.terminal {
                let mut b = bitq(i, t.q);
                if let Some(ro) = t.readout {
                    let flip = if b == 0 { ro[0] } else { ro[1] };
                    if uniform(&ctx.key, s, t.site, SLOT_READOUT) < flip {
                        b ^= 1;
                    }
                }
                set_bit(&mut rec, t.clbit, b);
            }
            *tally.entry(rec).or_insert(0) += 1;
        }
    } else {
        let mut per: HashMap<(usize, usize), u64> = HashMap::new();
        for (&(_, _, gi), &i) in us.iter().zip(&idx) {
            *per.entry((gi, i)).or_insert(0) += 1;
        }
        for ((gi, i), count) in per {
            let Some(g) = node.groups.get(gi) else {
                continue;
            };
            let mut rec = g.record.clone();
            for t in &prog.terminal {
                set_bit(&mut rec, t.clbit, bitq(i, t.q));
            }
            *tally.entry(rec).or_insert(0) += count;
        }
    }
    ctx.add(tally);
}

/// Whether children of splits should run in parallel for a program (small states).
pub(crate) fn par_children(prog: &Program) -> bool {
    !state::parallel(prog.nq)
}
