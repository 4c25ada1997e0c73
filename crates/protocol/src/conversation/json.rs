//! A minimal JSON value, so the state machine judges server items exactly as the browser's
//! `JSON.parse` output is judged (a missing field, a string where a number belongs, `1.0` for
//! `1`), without tying the crate to a JSON library: the caller converts its parser's values.

use crate::encoding::MAX_COUNTER;

/// A JSON value as JavaScript sees it: numbers are `f64`, objects keep their fields in order
/// (a duplicate name is the caller's parser's business: JavaScript keeps the last).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (JavaScript's `number`).
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object: (name, value) pairs.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// `self[name]` of an object; `None` when absent (JavaScript's `undefined`) or not an object.
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `Number.isSafeInteger(v)`: an integral number within ±(2^53 − 1).
    pub fn as_safe_int(&self) -> Option<i64> {
        match self {
            #[allow(clippy::cast_possible_truncation)]
            Json::Num(n) if n.is_finite() && n.trunc() == *n && n.abs() <= MAX_COUNTER as f64 => {
                Some(*n as i64)
            }
            _ => None,
        }
    }

    /// A safe integer ≥ 1 (salts, IV counters, ids).
    pub fn as_counter(&self) -> Option<u64> {
        self.as_safe_int()
            .filter(|&n| n >= 1)
            .and_then(|n| u64::try_from(n).ok())
    }

    /// `isObject`: an object (not an array, not null).
    pub fn is_object(&self) -> bool {
        matches!(self, Json::Obj(_))
    }

    /// An object of the given fields.
    pub fn obj<const N: usize>(fields: [(&str, Json); N]) -> Json {
        Json::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// A number from an integer (exact up to 2^53).
    #[allow(clippy::cast_precision_loss)]
    pub fn int(n: i64) -> Json {
        Json::Num(n as f64)
    }

    /// A string, or `null`.
    pub fn opt_str(s: Option<&str>) -> Json {
        s.map_or(Json::Null, Json::str)
    }
}
