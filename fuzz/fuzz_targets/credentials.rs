//! Username and password normalisation (`Accounts::validate_username`,
//! `password_policy::normalize`): no panics, and both are stable — normalising a normalised
//! value changes nothing, so the name or password a user types again finds the same account.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley::service::accounts::Accounts;
use parley::service::password_policy::normalize;

fuzz_target!(|text: &str| {
    let once = normalize(text);
    assert_eq!(
        normalize(&once),
        once,
        "password normalisation is idempotent"
    );
    if let Ok((display, key)) = Accounts::validate_username(text) {
        let (again, key_again) =
            Accounts::validate_username(&display).expect("a valid name stays valid");
        assert_eq!(again, display);
        assert_eq!(key_again, key);
    }
});
