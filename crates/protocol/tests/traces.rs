//! Holds the Rust state machine (`parley_protocol::conversation`) to the browser's: every trace
//! of `tests/protocol/traces.json` (written by tests/protocol/make-traces.mjs from
//! web/protocol/conversation.js) is replayed with the recorded inputs — keys, clock, server
//! items, the server's answers to posts and last-IV queries, the salt nonces — and must give the
//! same events, errors, posted payloads (byte for byte: same keys, nonces, MACs) and state
//! probes, step by step. docs/protocol.md, "The Rust state machine and trace vectors".

use std::collections::{BTreeMap, VecDeque};
use std::sync::LazyLock;

use parley_protocol::conversation::{
    Conversation, Io, Json, LastIv, Nonce, PostError, Posted, Store,
};
use parley_protocol::{PrivateKey, from_b64};
use serde_json::{Map, Value, json};

static FILE: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../tests/protocol/traces.json"))
        .expect("traces.json is JSON")
});

fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Num(n.as_f64().expect("a JSON number")),
        Value::String(s) => Json::Str(s.clone()),
        Value::Array(a) => Json::Arr(a.iter().map(to_json).collect()),
        Value::Object(o) => Json::Obj(o.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

fn to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        #[allow(clippy::cast_possible_truncation)]
        Json::Num(n) if n.trunc() == *n && n.abs() < 9.1e15 => Value::from(*n as i64),
        Json::Num(n) => json!(n),
        Json::Str(s) => Value::String(s.clone()),
        Json::Arr(a) => Value::Array(a.iter().map(to_value).collect()),
        Json::Obj(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// The recorded I/O of one step.
struct StepIo {
    now: i64,
    nonces: VecDeque<String>,
    posts: VecDeque<Value>,
    last_iv: VecDeque<Value>,
    posted: Vec<Value>,
    problems: Vec<String>,
}

impl Io for StepIo {
    fn now(&mut self) -> i64 {
        self.now
    }

    fn nonce(&mut self) -> Nonce {
        let Some(b64) = self.nonces.pop_front() else {
            self.problems
                .push("drew a nonce the JS module did not draw".into());
            return [0; 16];
        };
        from_b64(&b64)
            .and_then(|b| b.try_into().ok())
            .expect("a 16-byte nonce")
    }

    fn post(&mut self, payload: &Json) -> Result<Posted, PostError> {
        self.posted.push(to_value(payload));
        let Some(post) = self.posts.pop_front() else {
            self.problems.push("posted more than the JS module".into());
            return Err(PostError {
                code: "unexpected_post".into(),
            });
        };
        let answer = &post["answer"];
        if let Some(code) = answer["error"].as_str() {
            return Err(PostError { code: code.into() });
        }
        Ok(Posted {
            id: answer["id"].as_i64().expect("id"),
            created_at: answer["created_at"].as_i64().expect("created_at"),
        })
    }

    fn last_iv(&mut self, key_set: &str) -> Option<LastIv> {
        let Some(a) = self.last_iv.pop_front() else {
            self.problems.push(format!(
                "asked the server's last IV of {key_set}, which the JS module did not"
            ));
            return None;
        };
        if a["key_set"] != key_set {
            self.problems.push(format!(
                "asked the last IV of {key_set}, the JS module of {}",
                a["key_set"]
            ));
        }
        Some(LastIv {
            last_iv: a["last_iv"].as_u64().expect("last_iv"),
            closed: a["closed"] == true,
        })
    }
}

struct Party {
    conv: Conversation,
    me: String,
    peer: String,
    key: String,
}

fn identity(name: &str) -> PrivateKey {
    let d = FILE["users"][name]["d"]
        .as_str()
        .unwrap_or_else(|| panic!("no user {name}"));
    PrivateKey::from_jwk_d(d).expect("a P-384 private key")
}

fn events_value(events: &[parley_protocol::conversation::Event]) -> Value {
    Value::Array(events.iter().map(|e| to_value(&e.to_json())).collect())
}

fn probe(c: &Conversation) -> Value {
    json!({
        "reason": c.exchange_reason().map(|r| r.as_str()),
        "blocked": c.send_blocked(),
        "verified": c.is_verified(),
        "warning": c.key_warning().map(|w| json!({ "old": w.old, "new": w.new, "id": w.id, "verified": w.verified })),
        "peer_key": c.peer_key(),
        "head": c.current_key_set_id(),
    })
}

/// Replay one trace; the mismatches, each naming the step.
fn replay(trace: &Value) -> Vec<String> {
    let mut parties: BTreeMap<String, Party> = BTreeMap::new();
    let mut snapshots: BTreeMap<String, Store> = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, step) in trace["steps"].as_array().expect("steps").iter().enumerate() {
        let name = step["party"].as_str().expect("party").to_owned();
        let op = step["op"].as_str().expect("op");
        let list = |k: &str| {
            step[k]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect::<VecDeque<_>>()
        };
        let mut io = StepIo {
            now: step["now"].as_i64().expect("now"),
            nonces: list("nonces")
                .into_iter()
                .map(|v| v.as_str().expect("b64").to_owned())
                .collect(),
            posts: list("posts"),
            last_iv: list("last_iv"),
            posted: Vec::new(),
            problems: Vec::new(),
        };
        let mut out = Map::new();
        if op == "open" {
            let (me, peer, key) = (
                step["me"].as_str().expect("me"),
                step["peer"].as_str().expect("peer"),
                step["key"].as_str().expect("key"),
            );
            let conv =
                Conversation::new(me, peer, identity(key), Store::default()).expect("valid ids");
            out.insert("probe".into(), probe(&conv));
            parties.insert(
                name.clone(),
                Party {
                    conv,
                    me: me.into(),
                    peer: peer.into(),
                    key: key.into(),
                },
            );
        } else {
            let party = parties
                .get_mut(&name)
                .unwrap_or_else(|| panic!("no party {name}"));
            // The key of the snapshot a step names (`snapshot`, `restore`, `rollback`).
            let snapshot_name = || format!("{name}/{}", step["name"]);
            let result = match op {
                "set_peer_keys" => Some(Ok(party
                    .conv
                    .set_peer_keys(&to_json(&step["keys"]), &mut io))),
                "send" => Some(
                    party
                        .conv
                        .send(step["text"].as_str().expect("text"), &mut io),
                ),
                "refresh" => Some(party.conv.refresh(&mut io)),
                "exchange" => Some(party.conv.exchange(&mut io)),
                "receive" => Some(Ok(party.conv.receive(&to_json(&step["message"]), &mut io))),
                "history" => {
                    let items: Vec<Json> = step["messages"]
                        .as_array()
                        .expect("messages")
                        .iter()
                        .map(to_json)
                        .collect();
                    Some(Ok(party.conv.load_history(&items, &mut io)))
                }
                "verify" => {
                    party.conv.mark_verified();
                    None
                }
                "accept" => {
                    party.conv.accept_peer_key();
                    None
                }
                "snapshot" => {
                    snapshots.insert(snapshot_name(), party.conv.store().clone());
                    None
                }
                "restore" => {
                    // An older copy of the storage, reloaded: a new instance over it.
                    let store = snapshots[&snapshot_name()].clone();
                    party.conv =
                        Conversation::new(&party.me, &party.peer, identity(&party.key), store)
                            .expect("valid ids");
                    None
                }
                "rollback" => {
                    // The storage under the running instance replaced by an older copy.
                    party
                        .conv
                        .replace_store(snapshots[&snapshot_name()].clone());
                    None
                }
                "reload" => {
                    // The same storage reloaded (a new page load), possibly with another identity.
                    let key = step["key"].as_str().expect("key").to_owned();
                    let store = party.conv.store().clone();
                    party.conv = Conversation::new(&party.me, &party.peer, identity(&key), store)
                        .expect("valid ids");
                    party.key = key;
                    None
                }
                other => panic!("unknown op {other}"),
            };
            match result {
                Some(Ok(events)) => {
                    out.insert("events".into(), events_value(&events));
                }
                Some(Err(e)) => {
                    out.insert("error".into(), Value::String(e.code().to_owned()));
                }
                None => {}
            }
            out.insert("probe".into(), probe(&party.conv));
        }
        let at = format!("trace {} step {i} ({name} {op})", trace["name"]);
        let got = Value::Object(out);
        if got != step["expect"] {
            problems.push(format!(
                "{at}:\n  JS:   {}\n  Rust: {}",
                serde_json::to_string(&step["expect"]).unwrap_or_default(),
                serde_json::to_string(&got).unwrap_or_default()
            ));
        }
        let recorded: Vec<Value> = step["posts"]
            .as_array()
            .map(|p| p.iter().map(|x| x["payload"].clone()).collect())
            .unwrap_or_default();
        if io.posted != recorded {
            problems.push(format!(
                "{at}: posted payloads differ\n  JS:   {}\n  Rust: {}",
                serde_json::to_string(&recorded).unwrap_or_default(),
                serde_json::to_string(&io.posted).unwrap_or_default()
            ));
        }
        if !io.nonces.is_empty() || !io.posts.is_empty() || !io.last_iv.is_empty() {
            io.problems
                .push("used fewer nonces, posts or last-IV answers than the JS module".into());
        }
        problems.extend(io.problems.into_iter().map(|p| format!("{at}: {p}")));
    }
    problems
}

#[test]
fn every_trace_gives_the_events_of_the_browser_module() {
    let traces = FILE["traces"].as_array().expect("traces");
    assert!(
        traces.len() >= 20,
        "traces.json holds {} traces",
        traces.len()
    );
    let mut failures = Vec::new();
    let mut steps = 0;
    for trace in traces {
        steps += trace["steps"].as_array().map_or(0, Vec::len);
        let problems = replay(trace);
        if !problems.is_empty() {
            failures.push(format!(
                "{} mismatches in {}; first:\n{}",
                problems.len(),
                trace["name"],
                problems[..problems.len().min(3)].join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} traces differ from the JS module:\n{}",
        failures.len(),
        traces.len(),
        failures.join("\n\n")
    );
    assert!(steps > 450, "only {steps} steps");
}

#[test]
fn a_changed_expectation_is_reported() {
    let mut trace = FILE["traces"][0].clone();
    let steps = trace["steps"].as_array_mut().expect("steps");
    let step = steps
        .iter_mut()
        .find(|s| s["expect"]["events"][0]["kind"] == "message" && s["op"] == "receive")
        .expect("a received message");
    step["expect"]["events"][0]["text"] = json!("something else");
    let problems = replay(&trace);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("something else"));
}
