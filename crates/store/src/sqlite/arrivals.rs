//! Storing a batch of tracking events in SQLite and judging each parcel it touches, in the
//! writer's transaction (see `watch::plan_arrival` for what the judgement is).
//!
//! SQLite has one writer, so the writer's time bounds how many scans herald takes in a second.
//! A large batch is therefore judged alongside its own insert: while the writer inserts the
//! events, a second thread reads the touched parcels' rows on a read-only connection and runs
//! the rules on each as soon as the writer has said which of its events were new; the writer
//! writes the results as they come back. The read-only connection sees the database as it was
//! when the writer's transaction began (WAL snapshot; no other write can commit while the
//! writer holds its lock), which is what the writer itself would read, because storing events
//! does not touch shipment rows; so this is only done when the transaction has changed no
//! shipment row before (the caller says so by passing the store). Small batches are judged on
//! the writer alone, the same way, as a thread is not worth starting for them.

use super::{enqueue, parcel_events, q, shipment_row};
use crate::sql::PreparedEvent;
use crate::watch::{self, ArrivalPlan, ArrivalRow};
use crate::{Ingested, Result, StoreError};
use herald_core::digest::Digest;
use herald_core::time::{from_micros, to_micros};
use herald_core::tracking::TrackingEvent;
use herald_core::watch::WatchPolicy;
use rusqlite::{CachedStatement, Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::sync::mpsc;

/// From how many parcels in one batch the second thread is worth starting.
const ALONGSIDE_FROM: usize = 32;

/// How many parcels go between the threads at a time: a hand-over may wake a sleeping thread,
/// which costs a system call, so they go in bunches.
const HANDOVER: usize = 64;

/// The parcels of a batch in the order they first appear, and where each one's last event is.
struct Parcels<'a> {
    names: Vec<(&'a str, &'a str)>,
    /// The parcel of each event (an index into `names`).
    of_event: Vec<usize>,
    /// Each parcel's last event (an index into the batch).
    last_event: Vec<usize>,
}

impl<'a> Parcels<'a> {
    fn of(events: &'a [PreparedEvent]) -> Self {
        let mut seen = HashMap::<(&str, &str), usize>::with_capacity(events.len());
        let mut p = Parcels {
            names: Vec::new(),
            of_event: Vec::with_capacity(events.len()),
            last_event: Vec::new(),
        };
        for (i, e) in events.iter().enumerate() {
            let name = (e.event.carrier.as_str(), e.event.tracking_number.as_str());
            let at = *seen.entry(name).or_insert_with(|| {
                p.names.push(name);
                p.last_event.push(i);
                p.names.len() - 1
            });
            p.last_event[at] = i;
            p.of_event.push(at);
        }
        p
    }
}

/// What the rules made of one parcel.
enum Judged {
    /// No shipment has this tracking number yet: its events wait for one (`upsert_shipment`).
    NoShipment,
    Planned {
        shipment_id: i64,
        plan: ArrivalPlan,
    },
    /// A shipment stored before digests were kept: judged on all its events, by the writer
    /// (which sees the events just inserted).
    FromAllEvents(Box<ArrivalRow>),
}

/// Stores events (each once) and judges each parcel they touch that has a shipment (see
/// `watch::plan_arrival`): status, next check and delivered notice at once, or due for the
/// sweep when it has a problem.
pub(super) fn insert_events(
    tx: &Connection,
    events: &[PreparedEvent],
    policy: &WatchPolicy,
    now_us: i64,
    window_us: i64,
    snapshot: Option<&super::Inner>,
) -> Result<Ingested> {
    let parcels = Parcels::of(events);
    let mut out = Ingested {
        fresh: Vec::with_capacity(events.len()),
        ..Default::default()
    };
    let mut read = tx.prepare_cached(&q(&watch::arrival_sql()))?;
    let mut writes = Writes {
        tx,
        statement: tx.prepare_cached(&q(watch::SET_ARRIVED_SQL))?,
        now_us,
        window_us,
        policy,
    };
    match snapshot.filter(|_| parcels.names.len() >= ALONGSIDE_FROM) {
        Some(inner) => judged_alongside(inner, &mut writes, events, &parcels, &mut out)?,
        None => {
            let mut new = vec![Vec::new(); parcels.names.len()];
            insert(tx, events, now_us, &mut out.fresh, |i, fresh| {
                if fresh {
                    new[parcels.of_event[i]].push(&events[i].event);
                }
            })?;
            for (p, new) in new.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
                let row = read_arrival(&mut read, parcels.names[p])?;
                writes.apply(judge(row, new, policy, now_us)?, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// The writer's side of a large batch: inserts, hands each parcel's new events to the judging
/// thread once the parcel's last event is in, and writes what comes back.
fn judged_alongside(
    inner: &super::Inner,
    writes: &mut Writes<'_>,
    events: &[PreparedEvent],
    parcels: &Parcels<'_>,
    out: &mut Ingested,
) -> Result<()> {
    let (policy, now_us) = (writes.policy, writes.now_us);
    std::thread::scope(|s| {
        let (to_judge, inbox) = mpsc::channel::<Vec<(usize, Vec<&TrackingEvent>)>>();
        let (to_write, judged) = mpsc::channel::<Vec<Result<Judged>>>();
        let judge_thread = std::thread::Builder::new()
            .name("herald-judge".into())
            .spawn_scoped(s, move || -> Result<()> {
                let mut rows = read_snapshot(inner, &parcels.names)?;
                for bunch in inbox {
                    let done = bunch
                        .into_iter()
                        .map(|(p, new)| judge(rows[p].take(), &new, policy, now_us))
                        .collect();
                    if to_write.send(done).is_err() {
                        break;
                    }
                }
                Ok(())
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the judging thread: {e}")))?;
        let mut new = vec![Vec::new(); parcels.names.len()];
        let mut handed = 0usize;
        let mut bunch = Vec::with_capacity(HANDOVER);
        let inserted = insert(writes.tx, events, now_us, &mut out.fresh, |i, fresh| {
            let p = parcels.of_event[i];
            if fresh {
                new[p].push(&events[i].event);
            }
            // The parcel's last event is in: the judging thread can take it.
            if i == parcels.last_event[p] && !new[p].is_empty() {
                handed += 1;
                bunch.push((p, std::mem::take(&mut new[p])));
                if bunch.len() == HANDOVER {
                    // The thread only stops early when told to; a failed send is caught below
                    // by counting what came back.
                    let _ =
                        to_judge.send(std::mem::replace(&mut bunch, Vec::with_capacity(HANDOVER)));
                }
            }
        });
        let _ = to_judge.send(bunch);
        drop(to_judge);
        let mut failed = inserted.err();
        let mut written = 0usize;
        for j in judged.iter().flatten() {
            if failed.is_none() {
                match j.and_then(|j| writes.apply(j, out)) {
                    Ok(()) => written += 1,
                    Err(e) => failed = Some(e),
                }
            }
        }
        let joined = judge_thread
            .join()
            .unwrap_or_else(|_| Err(StoreError::Corrupt("the judging thread failed".into())));
        match (failed, joined) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(())) if written != handed => Err(StoreError::Corrupt(format!(
                "{handed} parcels were handed to the judging thread and {written} came back"
            ))),
            (None, Ok(())) => Ok(()),
        }
    })
}

/// Inserts each event unless it is stored already, recording which were new and telling
/// `each` (the event's place in the batch, whether it was new) as it goes.
fn insert(
    tx: &Connection,
    events: &[PreparedEvent],
    now_us: i64,
    fresh: &mut Vec<bool>,
    mut each: impl FnMut(usize, bool),
) -> Result<()> {
    let mut st = tx.prepare_cached(&q(crate::sql::INSERT_TRACKING_EVENT_SQL))?;
    for (i, p) in events.iter().enumerate() {
        let e = &p.event;
        let n = st.execute(params![
            e.carrier,
            e.tracking_number,
            p.dedupe_key,
            p.json,
            to_micros(e.occurred_at),
            now_us
        ])?;
        fresh.push(n == 1);
        each(i, n == 1);
    }
    Ok(())
}

/// The rows of `names` on a read-only connection of the store, in one read transaction: as
/// the writer sees them, as long as its transaction has not changed a shipment row.
fn read_snapshot(inner: &super::Inner, names: &[(&str, &str)]) -> Result<Vec<Option<ArrivalRow>>> {
    let reader = inner.take_reader()?;
    let rows = (|| {
        reader.execute_batch("BEGIN")?;
        let mut read = reader.prepare_cached(&q(&watch::arrival_sql()))?;
        let rows = names
            .iter()
            .map(|&name| read_arrival(&mut read, name))
            .collect::<Result<Vec<_>>>()?;
        drop(read);
        reader.execute_batch("COMMIT")?;
        Ok(rows)
    })();
    // One that failed part-way, still in its read transaction, is closed rather than pooled.
    inner.give_back(reader);
    rows
}

/// A parcel's row, with `read` prepared from `watch::arrival_sql`.
fn read_arrival(
    read: &mut CachedStatement<'_>,
    (carrier, tracking): (&str, &str),
) -> Result<Option<ArrivalRow>> {
    Ok(read
        .query_row(params![carrier, tracking], |r| {
            Ok(ArrivalRow {
                shipment: shipment_row(r)?,
                problem_keys: r.get(11)?,
                status: r.get(12)?,
                next_check_at: r.get(13)?,
                digest: r.get(14)?,
            })
        })
        .optional()?)
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
        Some(digest) => Judged::Planned {
            shipment_id: row.shipment.id,
            plan: watch::plan_arrival(&row, &digest, policy, from_micros(now_us)),
        },
        None => Judged::FromAllEvents(Box::new(row)),
    })
}

/// The writer's part: the judged parcels' rows and messages.
struct Writes<'a> {
    tx: &'a Connection,
    /// `watch::SET_ARRIVED_SQL`.
    statement: CachedStatement<'a>,
    now_us: i64,
    window_us: i64,
    policy: &'a WatchPolicy,
}

impl Writes<'_> {
    fn apply(&mut self, judged: Judged, out: &mut Ingested) -> Result<()> {
        let (shipment_id, plan) = match judged {
            Judged::NoShipment => return Ok(()),
            Judged::Planned { shipment_id, plan } => (shipment_id, plan),
            Judged::FromAllEvents(row) => {
                let sh = &row.shipment;
                let digest = Digest::of(&parcel_events(self.tx, &sh.carrier, &sh.tracking_number)?);
                let plan =
                    watch::plan_arrival(&row, &digest, self.policy, from_micros(self.now_us));
                (sh.id, plan)
            }
        };
        self.statement.execute(params![
            plan.digest,
            plan.status,
            plan.status_at,
            plan.next_check_at,
            self.now_us,
            shipment_id
        ])?;
        out.due_now += u64::from(plan.due_now);
        for m in &plan.messages {
            out.messages += u64::from(enqueue(self.tx, m, self.now_us, self.window_us)?);
        }
        Ok(())
    }
}
