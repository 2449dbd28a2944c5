//! Request bodies that carry one item (`{...}`) or a batch (`[...]` or `{"KEY": [...]}`),
//! parsed with the JSON path of anything wrong named in the error.

use crate::error::AppError;
use herald_core::order::FieldError;
use serde::de::DeserializeOwned;
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

/// The items of a batch (`[...]` or `{"KEY": [...]}`), each as its bytes in `body`, found by
/// a pass that follows only strings and nesting; serde checks each item when it parses it. A
/// full parse into `RawValue`s took a fifth of the parsing time of 1,000 tracking events, and
/// the request waited for it before the two threads could start. `None` when the body is not
/// plainly a batch (another key, escapes in the key, unbalanced): the full parser then answers.
pub fn split_items<'a>(body: &'a [u8], key: &str) -> Option<Vec<&'a [u8]>> {
    let mut at = skip_space(body, 0);
    let wrapped = match body.get(at)? {
        b'[' => false,
        b'{' => true,
        _ => return None,
    };
    if wrapped {
        at = skip_space(body, at + 1);
        let quoted_key = body.get(at..)?.strip_prefix(b"\"")?;
        let after_key = quoted_key
            .strip_prefix(key.as_bytes())?
            .strip_prefix(b"\"")?;
        at = body.len() - after_key.len();
        at = skip_space(body, at);
        if body.get(at) != Some(&b':') {
            return None;
        }
        at = skip_space(body, at + 1);
        if body.get(at) != Some(&b'[') {
            return None;
        }
    }
    let (items, end) = array_items(body, at)?;
    let mut rest = skip_space(body, end);
    if wrapped {
        if body.get(rest) != Some(&b'}') {
            return None;
        }
        rest = skip_space(body, rest + 1);
    }
    (rest == body.len()).then_some(items)
}

/// Past JSON's white space (which, unlike ASCII's, has no form feed).
fn skip_space(body: &[u8], from: usize) -> usize {
    from + body.get(from..).map_or(0, |b| {
        b.iter()
            .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            .count()
    })
}

/// The items of the array opening at `open`, and where the array ends (just after `]`).
fn array_items(body: &[u8], open: usize) -> Option<(Vec<&[u8]>, usize)> {
    let mut items = Vec::new();
    let mut i = skip_space(body, open + 1);
    if body.get(i) == Some(&b']') {
        return Some((items, i + 1));
    }
    let (mut start, mut depth) = (i, 0usize);
    loop {
        match *body.get(i)? {
            b'"' => {
                i = string_end(body, i + 1)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => depth -= 1,
            b']' => {
                items.push(&body[start..i]);
                return Some((items, i + 1));
            }
            b',' if depth == 0 => {
                items.push(&body[start..i]);
                start = i + 1;
            }
            b'}' => return None,
            _ => {}
        }
        i += 1;
    }
}

/// Just after the closing quote of the string whose text starts at `from`.
fn string_end(body: &[u8], mut from: usize) -> Option<usize> {
    loop {
        from += memchr::memchr2(b'"', b'\\', body.get(from..)?)?;
        if body[from] == b'\\' {
            from += 2;
        } else {
            return Some(from + 1);
        }
    }
}

/// Parses and checks `items`, half on another thread: `None` if an item does not parse.
fn on_two_threads<I, T>(
    items: &[&[u8]],
    validate: &(impl Fn(I) -> Result<T, Vec<FieldError>> + Sync),
) -> Option<Result<Vec<T>, AppError>>
where
    I: DeserializeOwned + Send,
    T: Send,
{
    let half = |from: usize, part: &[&[u8]]| -> Option<(Vec<T>, Vec<FieldError>)> {
        let parsed: Vec<I> = part
            .iter()
            .map(|item| serde_json::from_slice(item).ok())
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

    /// Any JSON value, strings with quotes, backslashes, brackets and commas in them.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z\\\\\",\\[\\]{}: \u{e9}\u{1F4E6}\n]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-z\\\\\"\\]]{0,6}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// The items as serde's full parse splits them.
    fn raw_items(body: &[u8], wrapped: bool) -> Vec<String> {
        if wrapped {
            let map: BTreeMap<String, Vec<&serde_json::value::RawValue>> =
                serde_json::from_slice(body).unwrap();
            map["events"].iter().map(|r| r.get().to_string()).collect()
        } else {
            let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(body).unwrap();
            items.iter().map(|r| r.get().to_string()).collect()
        }
    }

    #[test]
    fn the_split_leaves_out_what_is_not_plainly_a_batch() {
        for body in [
            &b"[1, 2"[..],
            b"[1, 2]]",
            b"[1, 2] x",
            b"[\"a\", \"b]",
            b"[\"a\\\"]",
            b"[1}, 2]",
            b"{\"events\": [1], \"more\": 2}",
            b"{\"other\": [1]}",
            b"{\"events\" [1]}",
            b"{\"events\": 1}",
            b"{\"events\": [1]",
            b"\"events\"",
            b"[1]\x0c",
            b"\x0c[1]",
        ] {
            assert_eq!(
                split_items(body, "events"),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Odd items are left to serde, which refuses them one by one.
        let odd = split_items(b"[1,,[2,3], ]", "events").unwrap();
        assert_eq!(odd, [&b"1"[..], b"", b"[2,3]", b" "]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Of any JSON array, compact or spread over lines, bare or under its key, the split
        /// finds the items serde's full parse finds, byte for byte.
        #[test]
        fn the_split_finds_the_items_serde_finds(
            items in prop::collection::vec(json(), 0..12),
            pretty in any::<bool>(),
            wrapped in any::<bool>(),
        ) {
            let array = serde_json::Value::Array(items);
            let value = if wrapped { serde_json::json!({ "events": array }) } else { array };
            let body = if pretty {
                serde_json::to_vec_pretty(&value).unwrap()
            } else {
                serde_json::to_vec(&value).unwrap()
            };
            let split = split_items(&body, "events").expect("a plain batch splits");
            let split: Vec<String> = split
                .iter()
                .map(|b| String::from_utf8(b.to_vec()).unwrap().trim().to_string())
                .collect();
            prop_assert_eq!(split, raw_items(&body, wrapped));
        }
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
