//! X2: two Parley instances on one PostgreSQL database. Users on different instances chat in
//! real time (events travel through LISTEN/NOTIFY), and a client whose instance restarts
//! catches up from the database with nothing lost or duplicated.
//!
//! This test always uses PostgreSQL: `PARLEY_TEST_DATABASE_URL`, or the local server the test
//! script provides at 127.0.0.1:5432.

use parley_api::ServerFrame;

use crate::common::{TestApp, spawn_on};
use crate::flows::*;
use crate::messaging::{backlog_ids, msg, ws_connect, ws_live};

/// A fresh PostgreSQL database shared by instances, and the secrets every instance on it must
/// share.
pub(crate) struct Cluster {
    url: String,
    pepper: String,
    totp_key: String,
}

impl Cluster {
    /// A fresh database; `seed` and `seed + 1` make the pepper and the TOTP key.
    pub(crate) async fn new(seed: u8) -> Cluster {
        let key =
            |b: u8| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [b; 32]);
        Cluster {
            url: fresh_database().await,
            pepper: key(seed),
            totp_key: key(seed + 1),
        }
    }

    /// An instance on `dir` (the same data directory again after a restart).
    pub(crate) async fn instance(&self, dir: tempfile::TempDir) -> TestApp {
        self.instance_with(dir, |_| {}).await
    }

    /// An instance on `dir` with the shared database and secrets, plus `tweak`.
    pub(crate) async fn instance_with(
        &self,
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut parley::core::Config),
    ) -> TestApp {
        let secret = |s: &str| Some(parley::core::secret::Secret::new(s.to_owned()));
        let (db, pepper, totp_key) = (
            secret(&self.url),
            secret(&self.pepper),
            secret(&self.totp_key),
        );
        spawn_on(dir, move |c| {
            (c.database_url, c.pepper, c.totp_key) = (db, pepper, totp_key);
            tweak(c);
        })
        .await
    }

    /// Two instances, each on a fresh data directory, each with `tweak`.
    pub(crate) async fn two_with(
        &self,
        tweak: impl Fn(&mut parley::core::Config),
    ) -> (TestApp, TestApp) {
        let one = self
            .instance_with(tempfile::tempdir().unwrap(), &tweak)
            .await;
        let two = self
            .instance_with(tempfile::tempdir().unwrap(), &tweak)
            .await;
        (one, two)
    }
}

async fn fresh_database() -> String {
    let base = std::env::var("PARLEY_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres:postgres@127.0.0.1:5432".into());
    crate::common::create_database(&base, "parley_scale").await
}

#[tokio::test]
async fn x2_two_instances_deliver_across_and_catch_up_after_a_restart() {
    let cluster = Cluster::new(1).await;
    let one = cluster.instance(tempfile::tempdir().unwrap()).await;
    let two = cluster.instance(tempfile::tempdir().unwrap()).await;

    // Alice signs up on instance 1, Bob on instance 2; sessions are valid on both.
    let alice = one.register("alice").await;
    let bob = two.register("bobby").await;
    let mut alice_ws = ws_live(&one, &alice).await;
    let mut bob_ws = ws_live(&two, &bob).await;

    // Both ways, in real time.
    let id = alice.sent(&bob, msg(1)).await.id;
    let got = message_of(next_frame(&mut bob_ws).await);
    assert_eq!(got.id, id, "Bob on instance 2 got Alice's message: {got:?}");
    ack(&mut bob_ws, id).await;
    let echo = message_of(next_frame(&mut alice_ws).await);
    assert_eq!(echo.id, id, "Alice's own echo");
    let d = next_frame(&mut alice_ws).await;
    assert!(
        matches!(d, ServerFrame::Delivered { id: got, .. } if got == id),
        "{d:?}"
    );
    let reply = bob.sent(&alice, msg(2)).await.id;
    assert_eq!(
        next_message(&mut alice_ws).await.id,
        reply,
        "Alice on instance 1 got Bob's reply"
    );
    assert_eq!(next_message(&mut bob_ws).await.id, reply, "Bob's own echo");

    // Instance 2 stops while Alice keeps sending; Bob's socket is gone.
    let dir_two = two.stop().await;
    drop(bob_ws);
    let mut while_down = Vec::new();
    for i in 0..5 {
        while_down.push(alice.sent(&bob, msg(10 + i)).await.id);
    }
    // It starts again (same database and keys); Bob reconnects and catches up exactly.
    let two = cluster.instance(dir_two).await;
    let mut bob_ws = ws_connect(&two, &bob).await;
    let caught: Vec<i64> = backlog_ids(&mut bob_ws).await;
    assert_eq!(
        caught, while_down,
        "nothing lost, nothing duplicated (the acked message is not resent)"
    );
    for id in &caught {
        ack(&mut bob_ws, *id).await;
    }
    // And live delivery works again through the restarted instance.
    let live = alice.sent(&bob, msg(99)).await.id;
    assert_eq!(next_message(&mut bob_ws).await.id, live);
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn r6_1_throttle_state_is_shared_across_instances() {
    let (one, two) = Cluster::new(3).await.two_with(|_| {}).await;
    one.register("alice").await;
    // Five failures on instance 1 ...
    for _ in 0..5 {
        let r = one.password_step("alice", "wrong password entirely").await;
        assert_error(&r, 401, "invalid_credentials");
    }
    // ... count on instance 2: even the right password must wait out the delay there.
    let r = two.password_step("alice", PW).await;
    assert_error(&r, 429, "rate_limited");
    one.stop().await;
    two.stop().await;
}
