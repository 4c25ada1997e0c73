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
    let prop = &schema["properties"][field];
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
    let names = [
        schema::<RegisterStart>(),
        schema::<Login>(),
        schema::<FindUser>(),
    ];
    for s in &names {
        assert_eq!(bound(s, "username", "minLength"), len(USERNAME_MIN), "{s}");
        assert_eq!(bound(s, "username", "maxLength"), len(USERNAME_MAX), "{s}");
    }
    let check = schema::<PasswordCheck>();
    assert_eq!(bound(&check, "username", "maxLength"), len(USERNAME_MAX));

    let new_passwords = [
        (schema::<RegisterStart>(), "password"),
        (schema::<ChangePassword>(), "new_password"),
    ];
    for (s, field) in &new_passwords {
        assert_eq!(
            bound(s, field, "minLength"),
            len(PASSWORD_MIN_CODE_POINTS),
            "{s}"
        );
    }
    // A code point is at least one byte: the byte limit bounds the length in code points.
    let passwords = [
        (schema::<RegisterStart>(), "password"),
        (schema::<RegisterStart>(), "password_confirm"),
        (schema::<Login>(), "password"),
        (schema::<PasswordCheck>(), "password"),
        (schema::<PasswordBody>(), "password"),
        (schema::<ChangePassword>(), "password"),
        (schema::<ChangePassword>(), "new_password"),
        (schema::<ChangePassword>(), "new_password_confirm"),
        (schema::<Sensitive>(), "password"),
    ];
    for (s, field) in &passwords {
        assert_eq!(
            bound(s, field, "maxLength"),
            len(PASSWORD_MAX_BYTES),
            "{field}: {s}"
        );
    }
    for s in [schema::<RegisterStart>(), schema::<Login>()] {
        assert_eq!(
            bound(&s, "captcha_answer", "minLength"),
            len(CAPTCHA_LENGTH),
            "{s}"
        );
        assert_eq!(
            bound(&s, "captcha_answer", "maxLength"),
            len(CAPTCHA_LENGTH),
            "{s}"
        );
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
        assert_eq!(
            serde_json::to_value(kind).unwrap(),
            Value::from(kind.as_str())
        );
        assert_eq!(
            parley_api::SecurityEventKind::parse(kind.as_str()),
            Some(kind)
        );
    }
    for stage in [
        parley_api::RegistrationStage::Totp,
        parley_api::RegistrationStage::Recovery,
    ] {
        assert_eq!(
            serde_json::to_value(stage).unwrap(),
            Value::from(stage.as_str())
        );
        assert_eq!(
            parley_api::RegistrationStage::parse(stage.as_str()),
            Some(stage)
        );
    }
}
