//! The length and range constraints on the DTO fields (`#[schema(min_length = …)]`, read by
//! schemathesis to generate inputs) are literals, as utoipa's attributes require; this test holds
//! each to its bound in `limits.rs`, so the two cannot drift.

use parley_api::limits::{
    CAPTCHA_LENGTH, CLOCK_ADVANCE_MAX_SECS, PASSWORD_MAX_BYTES, PASSWORD_MIN_CODE_POINTS,
    USERNAME_MAX, USERNAME_MIN,
};
use serde_json::Value;
use utoipa::PartialSchema;

fn schema<T: PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).expect("a schema serializes")
}

/// The value of `keyword` on `field` of the schema, as a number (`null` when absent).
fn bound(schema: &Value, field: &str, keyword: &str) -> Option<i64> {
    // A struct with a `#[serde(flatten)]` field is an `allOf` of its parts.
    let prop = std::iter::once(schema)
        .chain(schema["allOf"].as_array().into_iter().flatten())
        .find_map(|s| s["properties"].get(field))?;
    prop.get(keyword)
        .or_else(|| {
            // `Option<String>` fields are `oneOf [null, string]` or `type: [string, null]`.
            prop.get("oneOf")
                .and_then(Value::as_array)
                .and_then(|alts| alts.iter().find_map(|a| a.get(keyword)))
        })
        .and_then(Value::as_i64)
}

fn len(n: usize) -> Option<i64> {
    Some(i64::try_from(n).expect("small"))
}

#[test]
fn username_password_and_captcha_lengths_are_the_limits() {
    use parley_api::{
        ChangePassword, FindUser, Login, PasswordBody, PasswordCheck, RegisterStart, Sensitive,
    };
    let (rs, login, find) = (
        schema::<RegisterStart>(),
        schema::<Login>(),
        schema::<FindUser>(),
    );
    let (check, change) = (schema::<PasswordCheck>(), schema::<ChangePassword>());
    let (body, sensitive) = (schema::<PasswordBody>(), schema::<Sensitive>());
    let (name_min, name_max) = (len(USERNAME_MIN), len(USERNAME_MAX));
    let (new_min, pw_max) = (len(PASSWORD_MIN_CODE_POINTS), len(PASSWORD_MAX_BYTES));
    let captcha = len(CAPTCHA_LENGTH);
    // (schema, field, minLength, maxLength). A code point is at least one byte: the byte
    // limit of a password bounds its length in code points.
    let table = [
        (&rs, "username", name_min, name_max),
        (&login, "username", name_min, name_max),
        (&find, "username", name_min, name_max),
        (&check, "username", None, name_max),
        (&rs, "password", new_min, pw_max),
        (&change, "new_password", new_min, pw_max),
        (&rs, "password_confirm", None, pw_max),
        (&login, "password", None, pw_max),
        (&check, "password", None, pw_max),
        (&body, "password", None, pw_max),
        (&change, "password", None, pw_max),
        (&change, "new_password_confirm", None, pw_max),
        (&sensitive, "password", None, pw_max),
        (&rs, "captcha_answer", captcha, captcha),
        (&login, "captcha_answer", captcha, captcha),
    ];
    for (s, field, min, max) in table {
        assert_eq!(bound(s, field, "minLength"), min, "{field}: {s}");
        assert_eq!(bound(s, field, "maxLength"), max, "{field}: {s}");
    }
    let clock = schema::<parley_api::AdvanceClock>();
    assert_eq!(bound(&clock, "advance_secs", "minimum"), Some(0));
    assert_eq!(
        bound(&clock, "advance_secs", "maximum"),
        Some(CLOCK_ADVANCE_MAX_SECS)
    );
}

/// The names stored in the database and sent on the wire are one: serde's and `as_str`'s.
#[test]
fn stored_names_are_the_wire_names() {
    for kind in parley_api::SecurityEventKind::ALL {
        assert_same_names(kind, kind.as_str(), parley_api::SecurityEventKind::parse);
    }
    for stage in [
        parley_api::RegistrationStage::Totp,
        parley_api::RegistrationStage::Recovery,
    ] {
        assert_same_names(stage, stage.as_str(), parley_api::RegistrationStage::parse);
    }
}

/// `value` is sent on the wire as its stored `name`, and `name` parses back to it.
fn assert_same_names<T>(value: T, name: &str, parse: fn(&str) -> Option<T>)
where
    T: serde::Serialize + PartialEq + std::fmt::Debug + Copy,
{
    assert_eq!(
        serde_json::to_value(value).expect("serializes"),
        Value::from(name)
    );
    assert_eq!(parse(name), Some(value));
}
