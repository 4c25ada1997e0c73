//! The `rejections` section: every tampered payload is rejected for exactly the reason the
//! vectors (and the browser) give, checked as the recipient would.

use std::collections::BTreeSet;

use parley_protocol::{Reason, accept_exchange, check_exchange, decrypt_gated, verify_change};

use crate::json::{self, n, s};
use crate::{entries, salt_of, set_for, user};

#[test]
fn every_rejection_is_rejected_for_the_stated_reason() {
    let mut seen = BTreeSet::new();
    for r in entries("rejections") {
        let (name, from, to) = (s(r, "name"), s(r, "from"), s(r, "to"));
        let expected: Reason = s(r, "expected").parse().unwrap();
        let recipient = user(to);
        // A payload whose JSON is already out of range (e.g. a salt of 2^53) is `malformed`.
        let got = match s(r, "kind") {
            "msg" => 'msg: {
                let ks = set_for(recipient, salt_of(s(r, "verify_with_key_set")));
                let p = match json::msg_payload(&r["payload"]) {
                    Ok(p) => p,
                    Err(reason) => break 'msg Err(reason),
                };
                // `retired_after`: the last IV the sender announced in an accepted change.
                let (last, retired) = (
                    n(r, "last_iv"),
                    r.get("retired_after").map(|_| n(r, "retired_after")),
                );
                let res = decrypt_gated(&ks, &p, from, |iv| {
                    if retired.is_some_and(|after| iv > after) {
                        Some(Reason::RetiredKey)
                    } else {
                        (iv <= last).then_some(Reason::Replay)
                    }
                });
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
                match json::change_payload(&r["payload"]) {
                    Ok(p) => verify_change(&old, &p, &recipient.key, from).map(|_| ()),
                    Err(reason) => Err(reason),
                }
            }
            "ecdh" => 'ecdh: {
                let p = match json::ecdh_payload(&r["payload"]) {
                    Ok(p) => p,
                    Err(reason) => break 'ecdh Err(reason),
                };
                let public = check_exchange(&p, from, to).map(|_| ());
                let full = accept_exchange(&p, from, to, &recipient.key, to).map(|_| ());
                // Without the private key nothing tells whose key `keys[to]` is (not_my_key).
                if expected != Reason::NotMyKey {
                    assert_eq!(public, full, "{name}: with and without the private key");
                }
                full
            }
            kind => panic!("{name}: unknown kind {kind}"),
        };
        assert_eq!(got, Err(expected), "{name}");
        seen.insert(expected.as_str());
    }
    assert!(entries("rejections").len() >= 20);
    // Issue 8: a vector for every failure reason.
    assert_eq!(
        seen,
        Reason::ALL.iter().map(|r| r.as_str()).collect(),
        "a vector for each reason"
    );
}
