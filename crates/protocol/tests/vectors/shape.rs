//! The shape of vectors.json: every section and every field of every entry, so that a value
//! added to the file by make-vectors.mjs fails here until a test in this binary checks it.

use crate::json::{fields, s};
use crate::{V, entries};

#[test]
fn the_file_has_exactly_the_fields_checked_here() {
    let top = [
        "change",
        "ecdh",
        "format",
        "generated_by",
        "key_sets",
        "messages",
        "name",
        "pair",
        "rejections",
        "safety_number",
        "shared_secret_hex",
        "spec",
        "users",
    ];
    assert_eq!(fields(&V), top);
    let format = [
        "change",
        "ecdh",
        "encodings",
        "key_sets",
        "messages",
        "pair",
        "rejections",
        "safety_number",
        "shared_secret_hex",
        "users",
    ];
    assert_eq!(fields(&V["format"]), format);
    assert_eq!(entries("users").len(), 2);
    for u in entries("users") {
        assert_eq!(
            fields(u),
            [
                "id",
                "name",
                "private_jwk",
                "public_key_b64",
                "public_key_hex"
            ]
        );
        assert_eq!(fields(&u["private_jwk"]), ["crv", "d", "kty", "x", "y"]);
    }
    assert_eq!(fields(&V["pair"]), ["id", "input_hex"]);
    for ks in entries("key_sets") {
        assert_eq!(
            fields(ks),
            ["hkdf_salt_hex", "id", "id_input_hex", "keys", "salt"]
        );
        ks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .for_each(|k| assert_eq!(fields(k), ["from", "hex", "info", "kind", "to"]));
    }
    let msg = [
        "aad",
        "ciphertext_hex",
        "from",
        "iv_counter",
        "iv_hex",
        "key_set",
        "mac_hex",
        "mac_input_hex",
        "name",
        "payload",
        "plaintext",
        "plaintext_hex",
        "salt",
        "to",
    ];
    entries("messages")
        .iter()
        .for_each(|m| assert_eq!(fields(m), msg));
    assert_eq!(fields(&V["ecdh"]), ["from", "payload", "to"]);
    let change = [
        "from",
        "input_hex",
        "last_iv_counter",
        "mac_new_hex",
        "mac_old_hex",
        "new_key_set",
        "old_key_set",
        "payload",
        "salt",
        "to",
    ];
    assert_eq!(fields(&V["change"]), change);
    for r in entries("rejections") {
        let mut want = vec!["expected", "from", "kind", "name", "payload", "to"];
        match s(r, "kind") {
            "msg" => {
                want.extend(["last_iv", "verify_with_key_set"]);
                if r.get("retired_after").is_some() {
                    want.push("retired_after");
                }
            }
            "change" => want.push("verify_with_key_set"),
            kind => assert_eq!(kind, "ecdh"),
        }
        want.sort_unstable();
        assert_eq!(fields(r), want, "{}", s(r, "name"));
    }
}
