//! Request bodies that carry one item (`{...}`) or a batch (`[...]` or `{"KEY": [...]}`),
//! parsed with the JSON path of anything wrong named in the error.

use crate::error::AppError;
use herald_core::order::FieldError;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The items of a body, and whether it was a batch (errors then name `[i]`).
pub struct Batch<T> {
    pub items: Vec<T>,
    pub is_batch: bool,
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        AppError::bad_request(format!("the body is not valid JSON: {inner}"))
    } else {
        let field = if path == "." { String::new() } else { path };
        AppError::invalid(vec![FieldError::new(field, inner.to_string())])
    }
}

/// Parses with plain serde first (the fast path) and, only if that fails, again with path
/// tracking to name the field at fault.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if let Ok(v) = serde_json::from_slice(body) {
        return Ok(v);
    }
    let mut d = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut d).map_err(path_error)
}

/// What a body holds, judged by its first bytes.
enum Shape {
    /// `[...]`.
    Array,
    /// `{"KEY": [...]}`.
    Wrapped,
    /// `{...}`: one item.
    One,
    /// Neither an object nor an array.
    Other,
}

fn shape(body: &[u8], key: &str) -> Shape {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Shape::Array,
        Some(b'{') => {
            let head = &body[..body.len().min(64 + key.len())];
            let quoted = format!("\"{key}\"");
            let wrapped = head
                .windows(quoted.len())
                .position(|w| w == quoted.as_bytes())
                .is_some_and(|i| {
                    head[i + quoted.len()..]
                        .iter()
                        .find(|b| !b.is_ascii_whitespace())
                        == Some(&b':')
                });
            if wrapped { Shape::Wrapped } else { Shape::One }
        }
        _ => Shape::Other,
    }
}

/// Parses one `T`, a JSON array of them, or an object whose only key is `key` holding an array.
/// `noun` names the items in messages; at most `max` items.
pub fn parse_batch<T: DeserializeOwned>(
    body: &[u8],
    key: &str,
    noun: &str,
    max: usize,
) -> Result<Batch<T>, AppError> {
    let (items, is_batch) = match shape(body, key) {
        Shape::Array => (parse::<Vec<T>>(body)?, true),
        Shape::Wrapped => {
            let mut map: BTreeMap<String, Vec<T>> = parse(body)?;
            if map.len() != 1 {
                let other = map.keys().find(|k| *k != key).cloned().unwrap_or_default();
                return Err(AppError::field(
                    &other,
                    format!("unknown field; a batch is {{\"{key}\": [...]}}"),
                ));
            }
            (map.remove(key).unwrap_or_default(), true)
        }
        Shape::One => (vec![parse::<T>(body)?], false),
        Shape::Other => {
            return Err(AppError::bad_request(format!(
                "the body must be a JSON object or array of {noun}"
            )));
        }
    };
    if items.is_empty() {
        return Err(AppError::field(key, "the batch is empty"));
    }
    if items.len() > max {
        return Err(AppError::field(
            key,
            format!("{} {noun} in one request; send at most {max}", items.len()),
        ));
    }
    Ok(Batch { items, is_batch })
}

/// Validates every item, naming `[i].field` for a batch; all or nothing.
pub fn validate_all<I, T>(
    batch: Batch<I>,
    validate: impl Fn(I) -> Result<T, Vec<FieldError>>,
) -> Result<Vec<T>, AppError> {
    let (out, errors) = check(0, batch.items, batch.is_batch, &validate);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AppError::invalid(errors))
    }
}

/// Validates `items`, the batch's from its `from`th on: the valid ones, and what is wrong with
/// the others, named `[i].field` when `in_batch`.
fn check<I, T>(
    from: usize,
    items: Vec<I>,
    in_batch: bool,
    validate: impl Fn(I) -> Result<T, Vec<FieldError>>,
) -> (Vec<T>, Vec<FieldError>) {
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match validate(item) {
            Ok(v) => out.push(v),
            Err(errs) if in_batch => {
                let at = format!("[{}]", from + i);
                errors.extend(errs.into_iter().map(|e| e.within(&at)));
            }
            Err(errs) => errors.extend(errs),
        }
    }
    (out, errors)
}

/// From how many items a batch is parsed and checked on two threads.
const TWO_THREADS_FROM: usize = 256;

/// [`parse_batch`] and then [`validate_all`], with the same answers, but a large batch's items
/// are parsed and checked on two threads, half each: the request's own and one more. The
/// database's single writer waits for every item of a batch; for 1,000 tracking events this
/// took parsing and checking from about 0.7 ms to 0.55 ms on a two-core machine, splitting
/// included (docs/benchmarks.md). A batch with an item that does not parse goes the
/// one-thread way, which names the field at fault.
pub fn parse_valid<I, T>(
    body: &[u8],
    key: &str,
    noun: &str,
    max: usize,
    validate: impl Fn(I) -> Result<T, Vec<FieldError>> + Sync,
) -> Result<Vec<T>, AppError>
where
    I: DeserializeOwned + Send,
    T: Send,
{
    if let Some(items) = split_items(body, key)
        && (TWO_THREADS_FROM..=max).contains(&items.len())
        && let Some(checked) = on_two_threads(&items, &validate)
    {
        return checked;
    }
    validate_all(parse_batch(body, key, noun, max)?, validate)
}

/// The raw items of a batch (`[...]` or `{"KEY": [...]}`), if it is one and is valid JSON.
fn split_items<'a>(body: &'a [u8], key: &str) -> Option<Vec<&'a RawValue>> {
    match shape(body, key) {
        Shape::Array => serde_json::from_slice(body).ok(),
        Shape::Wrapped => {
            let mut map: BTreeMap<&str, Vec<&RawValue>> = serde_json::from_slice(body).ok()?;
            if map.len() == 1 {
                map.remove(key)
            } else {
                None
            }
        }
        Shape::One | Shape::Other => None,
    }
}

/// Parses and checks `items`, half on another thread: `None` if an item does not parse.
fn on_two_threads<I, T>(
    items: &[&RawValue],
    validate: &(impl Fn(I) -> Result<T, Vec<FieldError>> + Sync),
) -> Option<Result<Vec<T>, AppError>>
where
    I: DeserializeOwned + Send,
    T: Send,
{
    let half = |from: usize, part: &[&RawValue]| -> Option<(Vec<T>, Vec<FieldError>)> {
        let parsed: Vec<I> = part
            .iter()
            .map(|raw| serde_json::from_str(raw.get()).ok())
            .collect::<Option<_>>()?;
        Some(check(from, parsed, true, validate))
    };
    let (first, second) = items.split_at(items.len() / 2);
    // The second half goes to rayon's pool, whose threads are started once (a thread started
    // per request cost a few hundred microseconds, and was often queued on the core of the
    // thread that started it).
    let mut theirs = None;
    let mine = rayon::in_place_scope(|s| {
        s.spawn(|_| theirs = Some(half(first.len(), second)));
        half(0, first)
    });
    let theirs = theirs.flatten();
    let ((mut out, mut errors), (rest, more)) = (mine?, theirs?);
    errors.extend(more);
    Some(if errors.is_empty() {
        out.extend(rest);
        Ok(out)
    } else {
        Err(AppError::invalid(errors))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::tracking::{TrackingEvent, TrackingEventInput};
    use proptest::prelude::*;

    /// What a request gets: the events, or the error's status, detail and fields.
    type Answer = Result<Vec<TrackingEvent>, (u16, String, Vec<FieldError>)>;

    fn answer(r: Result<Vec<TrackingEvent>, AppError>) -> Answer {
        r.map_err(|e| (e.status.as_u16(), e.detail, e.errors))
    }

    fn two_way(body: &[u8]) -> Answer {
        answer(parse_valid(
            body,
            "events",
            "tracking events",
            1_000,
            TrackingEventInput::validate,
        ))
    }

    fn one_way(body: &[u8]) -> Answer {
        answer(
            parse_batch(body, "events", "tracking events", 1_000)
                .and_then(|b| validate_all(b, TrackingEventInput::validate)),
        )
    }

    /// How an item of a generated batch is written.
    #[derive(Debug, Clone, Copy)]
    enum Item {
        Good,
        /// Parses, but its status is not one.
        BadStatus,
        /// Parses, but its time is not one.
        BadTime,
        /// Does not parse: a field herald does not know.
        Unknown,
        /// Does not parse: a number for a string.
        Number,
    }

    fn item(i: usize, kind: Item) -> String {
        let (status, at, extra) = match kind {
            Item::Good => ("\"in_transit\"", "2025-12-06T15:37:33Z", ""),
            Item::BadStatus => ("\"lost\"", "2025-12-06T15:37:33Z", ""),
            Item::BadTime => ("\"in_transit\"", "yesterday", ""),
            Item::Unknown => (
                "\"in_transit\"",
                "2025-12-06T15:37:33Z",
                ", \"colour\": \"red\"",
            ),
            Item::Number => ("7", "2025-12-06T15:37:33Z", ""),
        };
        format!(
            "{{\"carrier\": \"usps\", \"tracking_number\": \"9400{i:018}\", \"status\": {status}, \"occurred_at\": \"{at}\", \"location\": {{\"city\": \"Phoenix\", \"region\": \"AZ\"}}{extra}}}"
        )
    }

    fn body(items: &[Item], wrapped: bool) -> Vec<u8> {
        let list: Vec<String> = items.iter().enumerate().map(|(i, &k)| item(i, k)).collect();
        let array = format!("[\n{}\n]", list.join(",\n"));
        if wrapped {
            format!("{{\"events\": {array}}}")
        } else {
            array
        }
        .into_bytes()
    }

    #[test]
    fn a_large_batch_names_the_bad_items_in_either_half() {
        let mut items = vec![Item::Good; 1_000];
        items[3] = Item::BadStatus;
        items[700] = Item::BadTime;
        let Err((status, _, errors)) = two_way(&body(&items, false)) else {
            panic!("a batch with bad items was taken")
        };
        assert_eq!(status, 422);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["[3].status", "[700].occurred_at"]);
    }

    #[test]
    fn a_large_good_batch_keeps_its_order() {
        let events = two_way(&body(&[Item::Good; 999], true)).unwrap();
        assert_eq!(events.len(), 999);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.tracking_number, format!("9400{i:018}"));
        }
    }

    /// Items that parse: mostly good, a few not valid.
    fn kind() -> impl Strategy<Value = Item> {
        prop_oneof![
            300 => Just(Item::Good),
            1 => Just(Item::BadStatus),
            1 => Just(Item::BadTime),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Two threads or one, a batch gets the same answer: the same events in the same order,
        /// or the same error naming the same items and fields.
        #[test]
        fn two_threads_answer_as_one(
            mut items in prop::collection::vec(kind(), 200..1_100),
            unparsed in prop::option::weighted(0.3, (any::<prop::sample::Index>(), any::<bool>())),
            wrapped in any::<bool>(),
            broken in prop::bool::weighted(0.1),
        ) {
            if let Some((at, unknown)) = unparsed {
                let at = at.index(items.len());
                items[at] = if unknown { Item::Unknown } else { Item::Number };
            }
            let mut body = body(&items, wrapped);
            if broken {
                // Not JSON at all any more.
                let at = body.len() / 2;
                body.insert(at, b'}');
            }
            prop_assert_eq!(two_way(&body), one_way(&body));
        }
    }
}
