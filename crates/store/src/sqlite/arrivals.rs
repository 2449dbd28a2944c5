//! Storing a batch of tracking events in SQLite and judging each parcel it touches, in the
//! writer's transaction (see `watch::plan_arrival` for what the judgement is).
//!
//! SQLite has one writer, so the writer's time bounds how many scans herald takes in a second.
//! A large batch is therefore judged alongside its own insert, by a second thread that starts
//! at once: it takes the rows the writer holds in memory out itself (a bunch of parcels at a
//! time, with the parcels' events in the batch), the writer reads the others from SQLite and
//! hands them over before it inserts, and the thread runs the rules while the writer inserts;
//! once the insert is done the writer judges the bunches the thread has not taken yet itself,
//! so both cores finish together, and writes the results of the parcels that got a new event.
//! The rules need not wait for the insert to say which events are new: an event stored
//! before is in the parcel's digest already, and adding it again changes nothing
//! (`herald_core::digest`), so a parcel's verdict on all its events in the batch is its verdict
//! on the new ones. Small batches are judged on the writer alone, after the insert, as a
//! thread is not worth starting for them.
//!
//! A parcel's row comes from the writer's memory of the rows it wrote (`parcels::Parcels`)
//! when it holds it, else from SQLite (one statement per bunch); the rows written go back
//! there once the batch has committed (`store_and_commit`).

use super::parcels::Parcels;
use super::{enqueue, parcel_events, q, shipment_row};
use crate::sql::PreparedBatch;
use crate::watch::{self, ArrivalPlan, ArrivalRow};
use crate::{Ingested, Result, StoreError};
use herald_core::digest::Digest;
use herald_core::time::{from_micros, to_micros};
use herald_core::tracking::TrackingEvent;
use herald_core::watch::WatchPolicy;
use rusqlite::{CachedStatement, Connection, params};
// foldhash: see `parcels`.
use foldhash::HashMap;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, mpsc};

/// From how many parcels in one batch the second thread is worth starting.
const ALONGSIDE_FROM: usize = 32;

/// How many parcels go between the threads at a time: a hand-over may wake a sleeping thread,
/// which costs a system call, and reading rows costs a statement per bunch.
const HANDOVER: usize = 64;

/// The parcels of a batch in the order they first appear.
struct BatchParcels<'a> {
    names: Vec<(&'a str, &'a str)>,
    /// The parcel of each event (an index into `names`).
    of_event: Vec<usize>,
}

impl<'a> BatchParcels<'a> {
    fn of(events: &'a [TrackingEvent]) -> Self {
        let mut seen = HashMap::<(&str, &str), usize>::with_capacity_and_hasher(
            events.len(),
            Default::default(),
        );
        let mut p = BatchParcels {
            names: Vec::new(),
            of_event: Vec::with_capacity(events.len()),
        };
        for e in events {
            let name = (e.carrier.as_str(), e.tracking_number.as_str());
            let at = *seen.entry(name).or_insert_with(|| {
                p.names.push(name);
                p.names.len() - 1
            });
            p.of_event.push(at);
        }
        p
    }
}

/// What the rules made of one parcel.
#[allow(
    clippy::large_enum_variant,
    reason = "made once per parcel and moved twice; a box would cost an allocation each"
)]
enum Judged {
    /// No shipment has this tracking number yet: its events wait for one (`upsert_shipment`).
    NoShipment,
    Planned {
        row: ArrivalRow,
        plan: ArrivalPlan,
    },
    /// A shipment stored before digests were kept: judged on all its events, by the writer
    /// (which sees the events just inserted).
    FromAllEvents(ArrivalRow),
}

/// [`insert_events`], then commits `tx`, gives `answer` what storing did, and only then puts
/// the rows written back into `held`: the caller still holds the writer, so no other write
/// comes between, but whoever waits for the answer does not wait for the rows to be kept.
pub(super) fn store_and_commit(
    tx: rusqlite::Transaction<'_>,
    held: &mut Parcels,
    batch: &PreparedBatch,
    policy: &WatchPolicy,
    now_us: i64,
    window_us: i64,
    answer: impl FnOnce(Ingested),
) -> Result<()> {
    let (out, written) = insert_events(&tx, held, batch, policy, now_us, window_us)?;
    tx.commit()?;
    answer(out);
    held.keep(written);
    Ok(())
}

/// Stores events (each once) and judges each parcel they touch that has a shipment (see
/// `watch::plan_arrival`): status, next check and delivered notice at once, or due for the
/// sweep when it has a problem. Also returns the rows written, to go back into `held` once
/// they have committed; the rows it takes from `held` are gone from it until then.
fn insert_events(
    tx: &Connection,
    held: &mut Parcels,
    batch: &PreparedBatch,
    policy: &WatchPolicy,
    now_us: i64,
    window_us: i64,
) -> Result<(Ingested, Vec<ArrivalRow>)> {
    let events = &batch.events[..];
    held.check(tx)?;
    let parcels = BatchParcels::of(events);
    let mut out = Ingested {
        fresh: Vec::with_capacity(events.len()),
        ..Default::default()
    };
    let mut writes = Writes {
        tx,
        state: tx.prepare_cached(&q(watch::SET_ARRIVED_SQL))?,
        next_check: tx.prepare_cached(&q(watch::SET_NEXT_CHECK_SQL))?,
        now_us,
        window_us,
        policy,
        written: Vec::with_capacity(parcels.names.len()),
    };
    let mut rows = Rows {
        many: tx.prepare_cached(&arrivals_sql())?,
        held,
    };
    if parcels.names.len() >= ALONGSIDE_FROM {
        judged_alongside(&mut writes, &mut rows, batch, &parcels, &mut out)?;
    } else {
        let mut new = vec![Vec::new(); parcels.names.len()];
        insert(tx, batch, now_us, &mut out.fresh, |i, fresh| {
            if fresh {
                new[parcels.of_event[i]].push(&events[i]);
            }
            Ok(())
        })?;
        let touched: Vec<usize> = (0..new.len()).filter(|&p| !new[p].is_empty()).collect();
        let names: Vec<(&str, &str)> = touched.iter().map(|&p| parcels.names[p]).collect();
        for (row, p) in rows.of(&names)?.into_iter().zip(touched) {
            writes.apply(judge(row, &new[p], policy, now_us)?, true, &mut out)?;
        }
    }
    Ok((out, writes.written))
}

/// Where the writer gets parcels' rows: its memory, else SQLite.
struct Rows<'a> {
    /// [`arrivals_sql`].
    many: CachedStatement<'a>,
    held: &'a mut Parcels,
}

impl Rows<'_> {
    /// The rows of `names` (each parcel once), in their order; `None`: no shipment.
    fn of(&mut self, names: &[(&str, &str)]) -> Result<Vec<Option<ArrivalRow>>> {
        let mut rows: Vec<Option<ArrivalRow>> =
            names.iter().map(|n| self.held.take(n.0, n.1)).collect();
        let missing: Vec<usize> = (0..names.len()).filter(|&i| rows[i].is_none()).collect();
        if !missing.is_empty() {
            let unheld: Vec<(&str, &str)> = missing.iter().map(|&i| names[i]).collect();
            for (row, i) in read_arrivals(&mut self.many, &unheld)?
                .into_iter()
                .zip(missing)
            {
                rows[i] = row;
            }
        }
        Ok(rows)
    }
}

/// Parcels with their rows, waiting to be judged; shared by the writer and the judging thread.
/// The thread takes them as they are handed over (by the writer, or by the thread itself for
/// the rows held in memory); once its insert is done, the writer takes them too.
struct Ready<'e> {
    queue: Mutex<Queue<'e>>,
    more: Condvar,
}

struct Queue<'e> {
    /// The bunches not taken yet.
    bunches: VecDeque<Bunch<'e>>,
    /// The writer will hand over no more.
    closed: bool,
    /// The thread waits for a bunch: only then does a hand-over wake it (a wake is a system
    /// call, and a costly one in a virtual machine; while the thread is busy judging, none
    /// is needed).
    waiting: bool,
}

/// Parcels (their places in `BatchParcels::names`) with their rows (`None`: no shipment) and
/// their events in the batch.
type Bunch<'e> = Vec<(usize, Option<ArrivalRow>, &'e [&'e TrackingEvent])>;

/// What the rules made of a bunch's parcels, each with its place.
type Verdicts = Vec<(usize, Result<Judged>)>;

impl<'e> Ready<'e> {
    fn new() -> Self {
        Self {
            queue: Mutex::new(Queue {
                bunches: VecDeque::new(),
                closed: false,
                waiting: false,
            }),
            more: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<'e>> {
        // The queue stays whole whatever panicked while holding it.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hand_over(&self, bunch: Bunch<'e>) {
        let mut q = self.lock();
        q.bunches.push_back(bunch);
        let wake = q.waiting;
        drop(q);
        if wake {
            self.more.notify_one();
        }
    }

    /// No more bunches will come; `drop_waiting` also forgets those not taken yet (the batch
    /// failed).
    fn close(&self, drop_waiting: bool) {
        let mut q = self.lock();
        q.closed = true;
        if drop_waiting {
            q.bunches.clear();
        }
        drop(q);
        self.more.notify_all();
    }

    /// The next bunch, if one is waiting.
    fn take(&self) -> Option<Bunch<'e>> {
        self.lock().bunches.pop_front()
    }

    /// The next bunch, waiting for one; `None` once closed and empty.
    fn wait(&self) -> Option<Bunch<'e>> {
        let mut q = self.lock();
        loop {
            if let Some(b) = q.bunches.pop_front() {
                return Some(b);
            }
            if q.closed {
                return None;
            }
            q.waiting = true;
            q = self.more.wait(q).unwrap_or_else(PoisonError::into_inner);
            q.waiting = false;
        }
    }
}

/// Closes the queue when dropped.
struct CloseOnDrop<'a, 'e>(&'a Ready<'e>);

impl Drop for CloseOnDrop<'_, '_> {
    fn drop(&mut self) {
        self.0.close(true);
    }
}

/// The writer's side of a large batch: reads the rows it does not hold and hands them over a
/// bunch at a time (the judging thread takes the held ones itself); inserts; then judges what
/// the thread has not taken yet itself, and writes the result of every parcel that got a new
/// event.
fn judged_alongside(
    writes: &mut Writes<'_>,
    rows: &mut Rows<'_>,
    batch: &PreparedBatch,
    parcels: &BatchParcels<'_>,
    out: &mut Ingested,
) -> Result<()> {
    let events = &batch.events[..];
    let (policy, now_us, tx) = (writes.policy, writes.now_us, writes.tx);
    // Each parcel's events, side by side in one list (a counting sort by parcel): one
    // allocation for the batch rather than one per parcel, which the judging thread would
    // free while the writer allocates (glibc then locks the writer's arena).
    let mut starts = vec![0usize; parcels.names.len() + 1];
    for &p in &parcels.of_event {
        starts[p + 1] += 1;
    }
    for p in 0..parcels.names.len() {
        starts[p + 1] += starts[p];
    }
    let mut by_parcel: Vec<Option<&TrackingEvent>> = vec![None; events.len()];
    let mut next = starts.clone();
    for (e, &p) in events.iter().zip(&parcels.of_event) {
        by_parcel[next[p]] = Some(e);
        next[p] += 1;
    }
    let by_parcel: Vec<&TrackingEvent> = by_parcel.into_iter().flatten().collect();
    let of_parcel = |p: usize| &by_parcel[starts[p]..starts[p + 1]];
    // The parcels whose rows the writer holds are taken out by the judging thread, so that the
    // insert need not wait for them; the writer reads the others from SQLite first.
    let Rows { many, held } = rows;
    let held: &mut Parcels = held;
    let (mut in_memory, mut to_read) = (Vec::new(), Vec::new());
    for p in 0..parcels.names.len() {
        let events = of_parcel(p);
        let (carrier, number) = parcels.names[p];
        if held.holds(carrier, number) {
            in_memory.push((p, events));
        } else {
            to_read.push((p, events));
        }
    }
    let names = &parcels.names;
    let ready = Ready::new();
    std::thread::scope(|s| {
        let (to_write, judged) = mpsc::channel::<Verdicts>();
        let ready = &ready;
        let judge_thread = std::thread::Builder::new()
            .name("herald-judge".into())
            .spawn_scoped(s, move || {
                for bunch in in_memory.chunks(HANDOVER) {
                    ready.hand_over(
                        bunch
                            .iter()
                            .map(|&(p, events)| {
                                let (carrier, number) = names[p];
                                (p, held.take(carrier, number), events)
                            })
                            .collect(),
                    );
                }
                while let Some(bunch) = ready.wait() {
                    if to_write.send(judge_bunch(bunch, policy, now_us)).is_err() {
                        // The writer gave up on the batch.
                        break;
                    }
                }
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the judging thread: {e}")))?;
        // Should the writer panic, the thread must still stop, or the scope would wait for it
        // forever.
        let _stops_the_thread = CloseOnDrop(ready);
        let handed = parcels.names.len();
        let mut fresh_in = vec![false; parcels.names.len()];
        let stored = to_read
            .chunks(HANDOVER)
            .try_for_each(|bunch| {
                let wanted: Vec<(&str, &str)> = bunch.iter().map(|(p, _)| names[*p]).collect();
                let found = read_arrivals(many, &wanted)?;
                ready.hand_over(
                    bunch
                        .iter()
                        .zip(found)
                        .map(|(&(p, events), row)| (p, row, events))
                        .collect(),
                );
                Ok(())
            })
            .and_then(|()| {
                insert(tx, batch, now_us, &mut out.fresh, |i, fresh| {
                    fresh_in[parcels.of_event[i]] |= fresh;
                    Ok(())
                })
            });
        ready.close(stored.is_err());
        let mut failed = stored.err();
        let mut done = 0usize;
        let mut write = |(p, j): (usize, Result<Judged>), failed: &mut Option<StoreError>| {
            if failed.is_none() {
                match j.and_then(|j| writes.apply(j, fresh_in[p], out)) {
                    Ok(()) => done += 1,
                    Err(e) => *failed = Some(e),
                }
            }
        };
        // The writer judges too, writing what the thread sent back in between.
        while failed.is_none() {
            for j in judged.try_iter().flatten() {
                write(j, &mut failed);
            }
            let Some(bunch) = ready.take() else { break };
            for j in judge_bunch(bunch, policy, now_us) {
                write(j, &mut failed);
            }
        }
        if failed.is_some() {
            // Nothing more is written: the thread stops at its next bunch.
            ready.close(true);
            drop(judged);
        } else {
            for j in judged.iter().flatten() {
                write(j, &mut failed);
            }
        }
        let joined = judge_thread
            .join()
            .map_err(|_| StoreError::Corrupt("the judging thread failed".into()));
        match (failed, joined) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(())) if done != handed => Err(StoreError::Corrupt(format!(
                "{handed} parcels were handed over to be judged and {done} came back"
            ))),
            (None, Ok(())) => Ok(()),
        }
    })
}

/// Judges each parcel of a bunch.
fn judge_bunch(bunch: Bunch<'_>, policy: &WatchPolicy, now_us: i64) -> Verdicts {
    bunch
        .into_iter()
        .map(|(p, row, events)| (p, judge(row, events, policy, now_us)))
        .collect()
}

/// The rows of one carrier's parcels ($1 carrier, $2 JSON array of tracking numbers): one
/// statement for a bunch of 64 parcels took a third of the time of one statement per parcel
/// (1.3 µs a row against 3.6, warm cache).
fn arrivals_sql() -> String {
    format!(
        "SELECT {} FROM {} WHERE carrier = ?1 AND tracking_number IN (SELECT value FROM json_each(?2))",
        watch::arrival_columns(),
        crate::sql::SHIPMENTS_WITH_STATES
    )
}

/// The rows of `names` (each parcel once), in their order, with `many` prepared from
/// [`arrivals_sql`].
fn read_arrivals(
    many: &mut CachedStatement<'_>,
    names: &[(&str, &str)],
) -> Result<Vec<Option<ArrivalRow>>> {
    let mut rows: Vec<Option<ArrivalRow>> = names.iter().map(|_| None).collect();
    let mut carriers: Vec<&str> = names.iter().map(|n| n.0).collect();
    carriers.sort_unstable();
    carriers.dedup();
    for carrier in carriers {
        let at: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.0 == carrier)
            .map(|(i, n)| (n.1, i))
            .collect();
        let numbers = serde_json::to_string(&at.keys().collect::<Vec<_>>())
            .map_err(|e| StoreError::Corrupt(format!("tracking numbers as JSON: {e}")))?;
        let mut found = many.query(params![carrier, numbers])?;
        while let Some(r) = found.next()? {
            let row = arrival_row(r)?;
            if let Some(&i) = at.get(row.shipment.tracking_number.as_str()) {
                rows[i] = Some(row);
            }
        }
    }
    Ok(rows)
}

/// Inserts each event unless it is stored already, recording which were new and telling
/// `each` (the event's place in the batch, whether it was new) as it goes.
fn insert(
    tx: &Connection,
    batch: &PreparedBatch,
    now_us: i64,
    fresh: &mut Vec<bool>,
    mut each: impl FnMut(usize, bool) -> Result<()>,
) -> Result<()> {
    let mut st = tx.prepare_cached(&q(crate::sql::INSERT_TRACKING_EVENT_SQL))?;
    for (i, (e, p)) in batch.events.iter().zip(&batch.prepared).enumerate() {
        let n = st.execute(params![
            e.carrier,
            e.tracking_number,
            p.dedupe_key,
            p.json,
            to_micros(e.occurred_at),
            now_us
        ])?;
        fresh.push(n == 1);
        each(i, n == 1)?;
    }
    Ok(())
}

/// A row of [`arrivals_sql`].
pub(super) fn arrival_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ArrivalRow> {
    Ok(ArrivalRow {
        shipment: shipment_row(r)?,
        problem_keys: r.get(11)?,
        status: r.get(12)?,
        next_check_at: r.get(13)?,
        digest: r.get(14)?,
        status_at: r.get(15)?,
    })
}

fn judge(
    row: Option<ArrivalRow>,
    new: &[&TrackingEvent],
    policy: &WatchPolicy,
    now_us: i64,
) -> Result<Judged> {
    let Some(row) = row else {
        return Ok(Judged::NoShipment);
    };
    Ok(match watch::digest_after(&row, new)? {
        Some(digest) => {
            let plan = watch::plan_arrival(&row, &digest, policy, from_micros(now_us));
            Judged::Planned { row, plan }
        }
        None => Judged::FromAllEvents(row),
    })
}

/// The writer's part: the judged parcels' rows and messages.
struct Writes<'a> {
    tx: &'a Connection,
    /// `watch::SET_ARRIVED_SQL`.
    state: CachedStatement<'a>,
    /// `watch::SET_NEXT_CHECK_SQL`, for a parcel whose next check moves.
    next_check: CachedStatement<'a>,
    now_us: i64,
    window_us: i64,
    policy: &'a WatchPolicy,
    /// The rows as they stand once the batch commits: written, or kept as they were.
    written: Vec<ArrivalRow>,
}

impl Writes<'_> {
    /// Writes what the rules made of a parcel, if it got a new event (`fresh`); the row of one
    /// that did not is kept as it was.
    fn apply(&mut self, judged: Judged, fresh: bool, out: &mut Ingested) -> Result<()> {
        let (row, plan) = match judged {
            Judged::NoShipment => return Ok(()),
            Judged::Planned { row, .. } | Judged::FromAllEvents(row) if !fresh => {
                self.written.push(row);
                return Ok(());
            }
            Judged::Planned { row, plan } => (row, plan),
            Judged::FromAllEvents(row) => {
                let sh = &row.shipment;
                let digest = Digest::of(&parcel_events(self.tx, &sh.carrier, &sh.tracking_number)?);
                let plan =
                    watch::plan_arrival(&row, &digest, self.policy, from_micros(self.now_us));
                (row, plan)
            }
        };
        let set = self.state.execute(params![
            plan.digest,
            plan.status,
            plan.status_at,
            self.now_us,
            row.shipment.id
        ])?;
        watch::one_state_written(set as u64, row.shipment.id)?;
        if plan.next_check_at != row.next_check_at {
            self.next_check
                .execute(params![plan.next_check_at, row.shipment.id])?;
        }
        out.due_now += u64::from(plan.due_now);
        for m in &plan.messages {
            out.messages += u64::from(enqueue(self.tx, m, self.now_us, self.window_us)?);
        }
        let mut row = row;
        row.arrive(plan);
        self.written.push(row);
        Ok(())
    }
}
