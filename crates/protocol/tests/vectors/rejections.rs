//! The `rejections` section: every tampered payload is rejected for exactly the reason the
//! vectors (and the browser) give, checked as the recipient would.

use std::collections::BTreeSet;

use parley_protocol::{Reason, accept_exchange, check_exchange, decrypt, verify_change};

use crate::json::{self, n, s};
use crate::{entries, salt_of, set_for, user};

#[test]
fn every_rejection_is_rejected_for_the_stated_reason() {
    let mut seen = BTreeSet::new();
    for r in entries("rejections") {
        let (name, from, to) = (s(r, "name"), s(r, "from"), s(r, "to"));
        let expected: Reason = s(r, "expected").parse().unwrap();
        let recipient = user(to);
        let got = match s(r, "kind") {
            "msg" => {
                let ks = set_for(recipient, salt_of(s(r, "verify_with_key_set")));
                let p = json::msg_payload(&r["payload"]).unwrap();
                let res = decrypt(&ks, &p, from, n(r, "last_iv"));
                if expected == Reason::Replay {
                    assert_eq!(
                        res.as_ref().err().and_then(|e| e.iv),
                        Some(1),
                        "{name}: the IV is reported"
                    );
                }
                res.map(|_| ()).map_err(|e| e.reason)
            }
            "change" => {
                let old = set_for(recipient, salt_of(s(r, "verify_with_key_set")));
                let p = json::change_payload(&r["payload"]).unwrap();
                verify_change(&old, &p, &recipient.key, from).map(|_| ())
            }
            "ecdh" => {
                let p = json::ecdh_payload(&r["payload"]).unwrap();
                let public = check_exchange(&p, from, to).map(|_| ());
                let full = accept_exchange(&p, from, to, &recipient.key, to).map(|_| ());
                assert_eq!(public, full, "{name}: with and without the private key");
                full
            }
            kind => panic!("{name}: unknown kind {kind}"),
        };
        assert_eq!(got, Err(expected), "{name}");
        seen.insert(expected.as_str());
    }
    assert!(entries("rejections").len() >= 20);
    let needed = [
        "bad_key_set",
        "bad_mac",
        "bad_mac_new",
        "bad_mac_old",
        "bad_salt",
        "bad_tag",
        "malformed",
        "replay",
    ];
    assert_eq!(
        seen,
        needed.into_iter().collect(),
        "a vector for each reason"
    );
}
