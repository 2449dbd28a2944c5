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

/// Parses one `T`, a JSON array of them, or an object whose only key is `key` holding an array.
/// `noun` names the items in messages; at most `max` items.
pub fn parse_batch<T: DeserializeOwned>(
    body: &[u8],
    key: &str,
    noun: &str,
    max: usize,
) -> Result<Batch<T>, AppError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let (items, is_batch) = match first {
        Some(b'[') => (parse::<Vec<T>>(body)?, true),
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
            if wrapped {
                let mut map: BTreeMap<String, Vec<T>> = parse(body)?;
                if map.len() != 1 {
                    let other = map.keys().find(|k| *k != key).cloned().unwrap_or_default();
                    return Err(AppError::field(
                        &other,
                        format!("unknown field; a batch is {{\"{key}\": [...]}}"),
                    ));
                }
                (map.remove(key).unwrap_or_default(), true)
            } else {
                (vec![parse::<T>(body)?], false)
            }
        }
        _ => {
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
    let mut out = Vec::with_capacity(batch.items.len());
    let mut errors = Vec::new();
    for (i, item) in batch.items.into_iter().enumerate() {
        match validate(item) {
            Ok(v) => out.push(v),
            Err(errs) => errors.extend(errs.into_iter().map(|e| {
                if batch.is_batch {
                    e.within(&format!("[{i}]"))
                } else {
                    e
                }
            })),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AppError::invalid(errors))
    }
}
