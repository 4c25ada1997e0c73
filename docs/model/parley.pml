/*
 * Parley's conversation state machine (docs/protocol.md §7–§11) against a malicious server:
 * a SPIN model. How to run it and what each variant shows: docs/model/README.md.
 *
 *   spin -a [-DOLD] docs/model/parley.pml && gcc -O0 -DSAFETY -o pan pan.c
 *   PARTY_STEPS=3 ADV_STEPS=1 CHECK=0 ./pan -m20000      (bounds and property read at run time)
 *
 * Two parties, Alice (0) and Bob (1), each with two tabs that share one storage (localStorage)
 * and one lock: every operation of a tab runs under the lock, so it is one atomic step here.
 * The server stores every post truthfully (its database: `log`) and is otherwise the adversary:
 * it delivers any stored message to either side any number of times (drop, reorder, duplicate,
 * replay), with any `created_at` (fresh or stale), re-inserts old payloads under new ids, forges
 * `ecdh`/`change`/`msg` with anything it can compute (its own identity key KE) and any id, and
 * lies in the key directory. The user can take a snapshot of one side's storage and restore it
 * later (profile backup, VM snapshot), which reloads that side's tabs.
 *
 * Abstraction: keys are small numbers; a key set is an entry of the registry `ks_*` (who it is
 * between, salt); messages carry key-set indices; MACs are modelled by who can compute a key set
 * (its two owners: a party whose identity key is in it, the server only if KE is). IV counters,
 * salts and the number of key sets are bounded (MAXIV, MAXSALT, MAXKS); MAXSALT stands for the
 * largest counter (2^53 - 1) and SALTSTEP for the receiver's bound (salt_max + 2^20). The budgets
 * (PARTY_STEPS, ADV_STEPS) bound the length of a run; they and CHECK are globals that the
 * environment variables of the same names set at run time (one compiled verifier per rule set),
 * with the -D values (or the defaults below) when unset, e.g. for `spin -t`.
 *
 * Rules: -DOLD = the browser module before issue 8 (web/protocol/*.js at commit ca09c39);
 * default = the NEW rules of docs/protocol.md (issue 8) as web/protocol implements them, with the
 * refinements A1-A4 of §14 (salt counter per pair of identity keys, `change` keeps its pair,
 * want on a tie with a `change` head, the warning for a message under an unpinned key in a
 * verified conversation), the salt bound (finding 5) and the own-`ecdh` rule of §9.6 (an own
 * exchange never moves the pin).
 *
 * Properties (assertions; -DCHECK=n keeps only property n, default all):
 *   1 IV    no (key set, direction, IV) is ever encrypted twice by an honest side
 *   2 FWD   a received message never moves a side back to a key set it had left (forward only)
 *   3 SHOW  nothing under a key other than the contact's is shown in a verified conversation
 *           without the key-change warning raised (and sending held back) first, and nothing
 *           under such a key in any conversation without the warning having been raised for it
 *   4 SEND  a verified conversation never encrypts to a key other than the verified one
 *   5 LIVE  after the adversary stops (honest server, reconnect catch-up), two round trips
 *           later both sides send and decrypt each other's messages
 */

#ifndef CHECK
#define CHECK 0
#endif
#define CHK(n) (check == 0 || check == n)

#ifndef PARTY_STEPS
#define PARTY_STEPS 4
#endif
#ifndef ADV_STEPS
#define ADV_STEPS 4
#endif
#ifndef RESTORES
#define RESTORES 1
#endif

#define MAXKS 16     /* key-set registry size (index 0 = none); bitmasks are 16 bits */
#define MAXIV 7      /* IV counters 1..MAXIV (bits of a byte) */
#define MAXSALT 8    /* salt counters 1..MAXSALT (MAXSALT: the largest counter, 2^53 - 1) */
#define SALTSTEP 2   /* a received salt above salt_max + SALTSTEP is bad_salt (2^20 in the JS) */
#define MAXLOG 24    /* messages the server stores */
#define MAXCH 14     /* exchange-log entries per side */

/* identity keys */
#define KA 1         /* Alice's */
#define KB 2         /* Bob's */
#define KE 3         /* the server's own key pair, a stand-in for either */

/* payload types */
#define ECDH 1
#define MSG 2
#define CHANGE 3

#define REAL(p) ((p) == 0 -> KA : KB)
#define OTHER(p) (1 - (p))
#define BIT(k) (1 << (k))
#define HAS(m, k) (((m) & BIT(k)) != 0)

/* ------------------------------------------------------------------ key-set registry */
/* A key set is between the key on Alice's side (KA or KE) and the key on Bob's side (KB or KE). */
byte ks_pa[MAXKS];
byte ks_pb[MAXKS];
byte ks_salt[MAXKS];
byte nks = 1;

#define PEERKEY(p, k) ((p) == 0 -> ks_pb[k] : ks_pa[k])
#define OWNKEY(p, k) ((p) == 0 -> ks_pa[k] : ks_pb[k])
#define SRV_KNOWS(k) (ks_pa[k] == KE || ks_pb[k] == KE)

/* ------------------------------------------------------------------ the server's database */
typedef Msg {
  byte typ;
  byte from;      /* server-stamped sender (0 or 1); the recipient is the other */
  byte ks;        /* key_set (ecdh, msg) or old key set (change) */
  byte ks2;       /* change: new key set */
  byte iv;        /* msg: IV counter; change: last_iv */
  byte id;        /* server id */
  bit forged;     /* made or re-inserted by the server, not posted by a client */
};
Msg log[MAXLOG];
byte nlog = 0;
byte nextid = 2;            /* ids of posts, in steps of 2 (odd ids are free for forgeries
                               between two posts); id 1 is below everything */
byte srvlast[2 * MAXKS];    /* highest IV the server holds per (sender, key set) */
short srvclosed[2];         /* key sets a sender posted a change from (bitmask) */

/* ghost: IVs ever encrypted by an honest side, per (key set, sender): bit iv */
byte used[2 * MAXKS];

/* ------------------------------------------------------------------ one side's storage */
typedef Party {
  byte pin;              /* the contact's pinned identity key */
  byte pinid;            /* server id of the exchange that pinned it (OLD) */
  byte vkey;             /* the verified key (0: not verified) */
  bit want;              /* "exchange wanted" */
  byte maxs[4];          /* highest salt seen per pair (indexed by the peer key: the own key of
                            an accepted key set is always this side's real key) */
  byte smax;             /* salt_max: the highest salt of the conversation (receiver's bound) */
  unsigned have : 16;             /* key sets stored (bitmask) */
  unsigned closed : 16;           /* own counters closed (bitmask) */
  byte ctr[MAXKS];       /* own IV counter per key set */
  byte lastin[MAXKS];    /* highest accepted incoming IV per key set */
  byte limit[MAXKS];     /* the peer's last IV from an accepted change (0: none, stored +1) */
  /* the exchange log, sorted by server id (§9.2) */
  byte nch;
  byte eid[MAXCH];
  byte etyp[MAXCH];
  byte eold[MAXCH];
  byte eks[MAXCH];
  bit eeng[MAXCH];
  /* ghosts, derived from the exchange log in the implementation */
  unsigned retired : 16;          /* key sets this side was on and left */
  byte warned;           /* keys a key-change warning was shown for */
  byte accepted;         /* keys the user accepted after a warning (acceptPeerKey) */
  /* NEW (docs/protocol.md, issue 8): */
  byte peerkeys;         /* every contact key ever seen (bitmask) */
  byte kw;               /* key_warning: 0 none, 1 set, 2 set on a verified contact (blocks sending) */
  byte kwkey;            /* the key the warning is about */
  bit ecur[MAXCH];       /* the ecdh named the contact's pinned key when it arrived */
};
Party st[2];
Party snap[2];
bit hassnap[2];
byte restores = 0;

/* per tab, in memory (not in storage): key sets whose counter this tab has synced with the
 * server since it loaded (NEW rule); a restore reloads both tabs of that side */
short synced[4];


/* the message most recently shown at each side (log index + 1), for the liveness check */
byte lastshown[2];

byte partysteps = 0;
byte advsteps = 0;
/* the bounds and the property, set at run time (see the top) */
byte maxparty = PARTY_STEPS;
byte maxadv = ADV_STEPS;
byte check = CHECK;
byte midid = 0;            /* MIDID=1: forgeries and replays may also take an id between posts */
byte fid;

/* scratch (global so that d_steps can use them; reset after use to keep states merged) */
byte hd, he, i, j, k, r, s, t, x, y, q;
bit ok;
/* arguments of receive (never changed inside it), of forge, and the tab and side of an action */
byte rp, rn;
bit rf;
byte bk, bs;
byte fp, tb, sp, n1, n2, pk;
bit cu;

/* ------------------------------------------------------------------ helpers */

/* the current key set (§9.2): walk the exchange log in id order */
#ifdef OLD
inline walk(p) {
  hd = 0; he = 0; j = 0;
  do
  :: j < st[p].nch ->
     if
     :: st[p].etyp[j] == ECDH || st[p].eold[j] == hd -> hd = st[p].eks[j]; he = st[p].eeng[j]
     :: else -> skip
     fi;
     j++
  :: else -> break
  od;
  j = 0
}
#else
/* NEW (state.js walkChain): an ecdh is admitted only with a higher salt than the head, or for a
 * new pair of identity keys naming the contact's pinned key; a change only from the head to a
 * higher salt; ties: the lower id stays */
inline walk(p) {
  hd = 0; he = 0; j = 0;
  do
  :: j < st[p].nch ->
     if
     :: st[p].etyp[j] == ECDH &&
        (hd == 0 || ks_salt[st[p].eks[j]] > ks_salt[hd]
         || (PEERKEY(p, st[p].eks[j]) != PEERKEY(p, hd) && st[p].ecur[j])) ->
        hd = st[p].eks[j]; he = st[p].eeng[j]
     :: st[p].etyp[j] == CHANGE && hd != 0 && st[p].eold[j] == hd && ks_salt[st[p].eks[j]] > ks_salt[hd] ->
        hd = st[p].eks[j]; he = st[p].eeng[j]
     :: else -> skip
     fi;
     j++
  :: else -> break
  od;
  j = 0
}
#endif

/* hd := current key set, r := 1 when the next send must start with an ecdh (§9.3) */
inline reason(p) {
  walk(p);
  r = (hd == 0 || he == 0 || !HAS(st[p].have, hd) || (st[p].pin != 0 && PEERKEY(p, hd) != st[p].pin)
       || HAS(st[p].closed, hd) || st[p].want)
}

/* insert an exchange entry in id order (after entries with the same id) */
inline addentry(p, id_, typ_, old_, ks_, eng_, cur_) {
  assert(st[p].nch < MAXCH);
  j = st[p].nch;
  do
  :: j > 0 && st[p].eid[j - 1] > id_ ->
     st[p].eid[j] = st[p].eid[j - 1]; st[p].etyp[j] = st[p].etyp[j - 1]; st[p].eold[j] = st[p].eold[j - 1];
     st[p].eks[j] = st[p].eks[j - 1]; st[p].eeng[j] = st[p].eeng[j - 1]; st[p].ecur[j] = st[p].ecur[j - 1];
     j--
  :: else -> break
  od;
  st[p].eid[j] = id_; st[p].etyp[j] = typ_; st[p].eold[j] = old_; st[p].eks[j] = ks_; st[p].eeng[j] = eng_; st[p].ecur[j] = cur_;
  st[p].nch++;
  j = 0
}

/* a new key set; OLD: the same (keys, salt) always gives the same key set (deterministic salt) */
inline derive(pa, pb, salt_, out) {
  out = 0;
#ifdef OLD
  j = 1;
  do
  :: j < nks && ks_pa[j] == pa && ks_pb[j] == pb && ks_salt[j] == salt_ -> out = j; break
  :: j < nks && !(ks_pa[j] == pa && ks_pb[j] == pb && ks_salt[j] == salt_) -> j++
  :: j >= nks -> break
  od;
  j = 0;
#endif
  if
  :: out == 0 ->
     assert(nks < MAXKS);
     ks_pa[nks] = pa; ks_pb[nks] = pb; ks_salt[nks] = salt_; out = nks; nks++
  :: else -> skip
  fi
}

inline post(typ_, from_, ks_, ks2_, iv_) {
  assert(nlog < MAXLOG);
  log[nlog].typ = typ_; log[nlog].from = from_; log[nlog].ks = ks_; log[nlog].ks2 = ks2_;
  log[nlog].iv = iv_; log[nlog].id = nextid; log[nlog].forged = 0;
  nextid = nextid + 2; nlog++
}

/* the head moved from `old_` to `new_` after a received exchange: it must not go back */
inline moved(p, old_, new_, chk_) {
  if
  :: old_ != new_ ->
     if :: chk_ && CHK(2) -> assert(!HAS(st[p].retired, new_)) :: else -> skip fi;
     if :: old_ != 0 -> st[p].retired = st[p].retired | BIT(old_) :: else -> skip fi
  :: else -> skip
  fi
}

/* ------------------------------------------------------------------ a side's own actions */

/* §4.2: new key sets count per pair of identity keys (OLD, and NEW since finding A4); the
 * conversation's salt_max (smax) is what a receiver's bound is taken from (NEW) */
#define SALTMAX(p, key) st[p].maxs[key]

/* bumpSalt(state, pair, salt): the pair (peer key) in bk, the salt in bs */
inline bump(p) {
  if :: bs > st[p].maxs[bk] -> st[p].maxs[bk] = bs :: else -> skip fi;
  if :: bs > st[p].smax -> st[p].smax = bs :: else -> skip fi;
  bk = 0; bs = 0
}

/* §7.1: an own ecdh with salt max_salt[pair] + 1 to the pinned key */

inline start_exchange(p) {
  s = SALTMAX(p, st[p].pin) + 1;
  if
  :: s <= MAXSALT ->
     walk(p); x = hd;
     if
     :: p == 0 -> derive(KA, st[p].pin, s, k)
     :: else -> derive(st[p].pin, KB, s, k)
     fi;
     st[p].have = st[p].have | BIT(k);
     bk = st[p].pin; bs = s; bump(p);
     st[p].want = 0;
     printf("MSC: %c posts ecdh    ks=%d salt=%d (to key %d) -> log[%d] id=%d\n", 65 + p, k, s, st[p].pin, nlog, nextid);
     addentry(p, nextid, ECDH, 0, k, 1, 1);
     post(ECDH, p, k, 0, 0);
     walk(p); moved(p, x, hd, 0);
     ok = 1
  :: else -> ok = 0   /* salt exhausted: the JS throws */
  fi;
  s = 0; x = 0; k = 0
}

/* encrypt and post one message under key set k */
inline encrypt_post(p) {
  if
  :: st[p].ctr[k] < MAXIV ->
     st[p].ctr[k]++;
     t = st[p].ctr[k];
     printf("MSC: %c encrypts msg  ks=%d iv=%d (to key %d) -> log[%d] id=%d\n", 65 + p, k, t, PEERKEY(p, k), nlog, nextid);
     if :: CHK(1) -> assert(!HAS(used[2 * k + p], t)) :: else -> skip fi;
     if
     :: CHK(4) -> assert(st[p].vkey == 0 || PEERKEY(p, k) == st[p].vkey || HAS(st[p].accepted, PEERKEY(p, k)))
     :: else -> skip
     fi;
     used[2 * k + p] = used[2 * k + p] | BIT(t);
     if :: t > srvlast[2 * k + p] -> srvlast[2 * k + p] = t :: else -> skip fi;
     post(MSG, p, k, 0, t);
     ok = 1
  :: else -> ok = 0   /* bound reached */
  fi;
  t = 0
}

/* NEW (§4.5, GET /api/keysets/{ks}/last-iv): before the first send under key set k since this
 * tab loaded, resume above every own IV the server holds, and close the counter if the server
 * holds an own change from k (a restored storage may have an old counter) */
inline resume(p, tab) {
  if
  :: !HAS(synced[2 * p + tab], k) ->
     if :: srvlast[2 * k + p] > st[p].ctr[k] -> st[p].ctr[k] = srvlast[2 * k + p] :: else -> skip fi;
     if :: HAS(srvclosed[p], k) -> st[p].closed = st[p].closed | BIT(k) :: else -> skip fi;
     synced[2 * p + tab] = synced[2 * p + tab] | BIT(k)
  :: else -> skip
  fi
}

inline send(p, tab) {
  ok = 1;
#ifndef OLD
  /* NEW: a warning about a verified contact's key blocks sending until the user accepts it */
  if :: st[p].kw == 2 -> ok = 0 :: else -> skip fi;
#endif
  if
  :: ok ->
     reason(p);
     if :: r -> start_exchange(p) :: else -> skip fi;
     if
     :: ok ->
        walk(p); k = hd;
#ifndef OLD
        resume(p, tab);
        if
        :: HAS(st[p].closed, k) ->
           k = 0; start_exchange(p);
           if :: ok -> walk(p); k = hd; synced[2 * p + tab] = synced[2 * p + tab] | BIT(k) :: else -> skip fi
        :: else -> skip
        fi;
#endif
        if :: ok -> encrypt_post(p) :: else -> skip fi
     :: else -> skip
     fi
  :: else -> skip
  fi;
  k = 0
}

/* §8.1 Refresh: resume the old counter from the server (NEW), close it, post a change to
 * salt max(max_salt[pair], old salt) + 1 */
inline refresh(p, tab) {
  reason(p);
#ifndef OLD
  if :: st[p].kw == 2 -> r = 2 :: else -> skip fi;   /* blocked */
#endif
  if
  :: r == 1 -> start_exchange(p)
  :: r == 0 ->
     x = hd;
#ifndef OLD
     k = x; resume(p, tab); k = 0;
#endif
     s = SALTMAX(p, PEERKEY(p, x));
     if :: ks_salt[x] > s -> s = ks_salt[x] :: else -> skip fi;
     s++;
     if
#ifndef OLD
     /* NEW: the server refuses a second change from the same (sender, key set): 409 */
     :: HAS(srvclosed[p], x) -> st[p].closed = st[p].closed | BIT(x)
#endif
     :: s <= MAXSALT && !HAS(srvclosed[p], x) ->
        derive(ks_pa[x], ks_pb[x], s, k);
        st[p].have = st[p].have | BIT(k);
        st[p].closed = st[p].closed | BIT(x);
        bk = PEERKEY(p, x); bs = s; bump(p);
        printf("MSC: %c posts change  ks=%d->%d salt=%d last_iv=%d -> log[%d] id=%d\n", 65 + p, x, k, s, st[p].ctr[x], nlog, nextid);
        addentry(p, nextid, CHANGE, x, k, 1, 0);
        srvclosed[p] = srvclosed[p] | BIT(x);
        post(CHANGE, p, x, k, st[p].ctr[x]);
        walk(p); moved(p, x, hd, 0)
     :: else -> skip
     fi;
     s = 0; x = 0; k = 0
  :: else -> skip
  fi
}

/* a contact key: OLD warns when the pin changes; NEW (R7) warns for every key never seen before
 * and blocks sending when the contact was verified */
inline notekey(p, key_) {
  if
  :: !HAS(st[p].peerkeys, key_) ->
     if
     :: st[p].peerkeys == 0 && st[p].pin == 0 -> skip   /* trust on first use */
     :: else ->
        if
        :: st[p].kw == 2 || (st[p].vkey != 0 && st[p].vkey == st[p].pin) -> st[p].kw = 2
        :: else -> st[p].kw = 1
        fi;
        st[p].kwkey = key_;
        st[p].warned = st[p].warned | BIT(key_)
     fi;
     st[p].peerkeys = st[p].peerkeys | BIT(key_)
  :: else -> skip
  fi
}

/* the key directory (GET /api/users/{peer}/keys) says `key_` */
inline set_peer_keys(p, key_) {
  if
  :: st[p].pin != key_ ->
     printf("MSC: key directory tells %c: contact key %d\n", 65 + p, key_);
#ifdef OLD
     if :: st[p].pin != 0 -> st[p].warned = st[p].warned | BIT(key_) :: else -> skip fi;
#else
     notekey(p, key_);
     /* a verified contact's pin leaves the verified key only with the warning, sending held
      * back, even for a key seen before (found by this model at 2 user / 2 server steps;
      * -DDIRPIN: before that fix) */
     if
#ifndef DIRPIN
     :: st[p].kw != 2 && st[p].vkey != 0 && st[p].vkey == st[p].pin && key_ != st[p].vkey ->
        st[p].kw = 2; st[p].kwkey = key_; st[p].warned = st[p].warned | BIT(key_)
#endif
     :: else -> skip
     fi;
#endif
     st[p].pin = key_
  :: else -> skip
  fi
}

/* ------------------------------------------------------------------ receiving (§6–§8) */

/* show a contact message of key set k_, seen for the first time: the SHOW property. cu: the
 * conversation was verified (isVerified) before it arrived. NEW (#warnUnpinned, finding A3): in
 * a verified conversation a message under a contact key other than the pinned one raises the
 * warning, with sending held back, before it is shown. */
inline display(p, k_) {
  cu = (st[p].vkey != 0 && st[p].vkey == st[p].pin && st[p].kw == 0);
#ifndef OLD
  if
  :: cu && PEERKEY(p, k_) != st[p].pin ->
     st[p].kw = 2; st[p].kwkey = PEERKEY(p, k_); st[p].warned = st[p].warned | BIT(PEERKEY(p, k_))
  :: else -> skip
  fi;
#endif
  if
  :: CHK(3) && PEERKEY(p, k_) != REAL(1 - p) ->
     assert(HAS(st[p].warned, PEERKEY(p, k_)) && (!cu || st[p].kw != 0))
  :: else -> skip
  fi;
  cu = 0
}

/* receive log[n] at side p; fresh: the server's created_at is within 60 s of the client's clock */
inline receive(p, n, fresh) {
  printf("MSC: %c receives log[%d] (type %d from %c, id %d, ks=%d, fresh=%d)\n", 65 + p, n, log[n].typ, 65 + log[n].from, log[n].id, log[n].ks, fresh);
  if
  /* ---------------------------------------------------------------- ecdh (§7.2) */
  :: log[n].typ == ECDH ->
     /* known by id: may only become engaged */
     y = 0; j = 0;
     do
     :: j < st[p].nch && st[p].eid[j] == log[n].id && st[p].etyp[j] == ECDH -> y = 1; q = j; break
     :: j < st[p].nch && !(st[p].eid[j] == log[n].id && st[p].etyp[j] == ECDH) -> j++
     :: j >= st[p].nch -> break
     od;
     if
     :: y ->
        walk(p); x = hd;
        if
        :: fresh && !st[p].eeng[q] -> st[p].eeng[q] = 1; if :: log[n].from != p -> st[p].want = 0 :: else -> skip fi
        :: else -> skip
        fi;
        j = 0;
        walk(p); moved(p, x, hd, 1)
     :: else ->
        j = 0;
        k = log[n].ks;
#ifdef OLD
        if
        :: OWNKEY(p, k) != REAL(p) ->
           /* not_my_key: still pins the named peer key (OLD) */
           if
           :: log[n].from != p && log[n].id > st[p].pinid ->
              if :: st[p].pin != 0 && st[p].pin != PEERKEY(p, k) -> st[p].warned = st[p].warned | BIT(PEERKEY(p, k)) :: else -> skip fi;
              st[p].pin = PEERKEY(p, k); st[p].pinid = log[n].id
           :: else -> skip
           fi;
           if :: fresh && log[n].from != p -> st[p].want = 1 :: else -> skip fi
        :: else ->
           walk(p); x = hd;
           st[p].have = st[p].have | BIT(k);
           if :: st[p].nch < MAXCH -> addentry(p, log[n].id, ECDH, 0, k, fresh, 0) :: else -> skip fi;
           bk = PEERKEY(p, k); bs = ks_salt[k]; bump(p);
           if :: fresh && log[n].from != p -> st[p].want = 0 :: else -> skip fi;
           /* pin (§9.6): only an ecdh with a higher id than the one that set the pin */
           if
           :: log[n].id > st[p].pinid ->
              if :: st[p].pin != 0 && st[p].pin != PEERKEY(p, k) -> st[p].warned = st[p].warned | BIT(PEERKEY(p, k)) :: else -> skip fi;
              st[p].pin = PEERKEY(p, k); st[p].pinid = log[n].id
           :: else -> skip
           fi;
           walk(p); moved(p, x, hd, 1)
        fi
#else
        if
        :: OWNKEY(p, k) != REAL(p) ->
           /* not_my_key: cannot be authenticated, no effect but "exchange wanted" when fresh */
           if :: fresh && log[n].from != p -> st[p].want = 1 :: else -> skip fi
        :: OWNKEY(p, k) == REAL(p) && HAS(st[p].have, k) -> skip   /* R4: a replay, no effect */
        :: OWNKEY(p, k) == REAL(p) && !HAS(st[p].have, k) && ks_salt[k] > st[p].smax + SALTSTEP ->
           skip                                                       /* bad_salt (finding 5) */
        :: OWNKEY(p, k) == REAL(p) && !HAS(st[p].have, k) && ks_salt[k] <= st[p].smax + SALTSTEP ->
           /* key confirmation holds: the server only makes ecdhs of key sets it can compute */
           walk(p); x = hd;
           st[p].have = st[p].have | BIT(k);
           pk = PEERKEY(p, k);
           y = HAS(st[p].peerkeys, pk);
           notekey(p, pk);
           /* §9.6 (#pin): only the contact's exchange moves the pin, and only to a key never seen
            * before with a higher id. An own exchange named the pin of its time: seen again (an
            * echo after a restore) it never moves the pin (-DOWNPIN: before that fix). */
           if
#ifdef OWNPIN
           :: !(log[n].id <= st[p].pinid || (y && st[p].pin != 0)) ->
#else
           :: log[n].from != p && !(log[n].id <= st[p].pinid || (y && st[p].pin != 0)) ->
#endif
              st[p].pin = pk; st[p].pinid = log[n].id
           :: else -> skip
           fi;
           cu = (st[p].pin == pk);
           if :: st[p].nch < MAXCH -> addentry(p, log[n].id, ECDH, 0, k, fresh, cu) :: else -> skip fi;
           bk = pk; bs = ks_salt[k]; bump(p);
           pk = 0; cu = 0;
           /* A2: the head came from a change (a tie then means the sender missed it) */
           q = 0; j = 0;
           do
           :: j < st[p].nch && st[p].eks[j] == x && st[p].etyp[j] == CHANGE -> q = 1; break
           :: j < st[p].nch && !(st[p].eks[j] == x && st[p].etyp[j] == CHANGE) -> j++
           :: j >= st[p].nch -> break
           od;
           j = 0;
           walk(p);
           if
           :: fresh && log[n].from != p ->
              st[p].want = (hd != k && x != 0 && (ks_salt[k] < ks_salt[x] || (ks_salt[k] == ks_salt[x] && q)))
           :: else -> skip
           fi;
           moved(p, x, hd, 1)
        fi
#endif
     fi;
     y = 0; q = 0; x = 0; k = 0
  /* ---------------------------------------------------------------- change (§8.2) */
  :: log[n].typ == CHANGE ->
     k = log[n].ks;
     if
     :: !HAS(st[p].have, k) -> if :: fresh && log[n].from != p -> st[p].want = 1 :: else -> skip fi
     :: else ->
        /* known by id? */
        y = 0; j = 0;
        do
        :: j < st[p].nch && st[p].eid[j] == log[n].id && st[p].etyp[j] == CHANGE -> y = 1; q = j; break
        :: j < st[p].nch && !(st[p].eid[j] == log[n].id && st[p].etyp[j] == CHANGE) -> j++
        :: j >= st[p].nch -> break
        od;
        walk(p); x = hd;
        if
        :: y -> if :: fresh -> st[p].eeng[q] = 1 :: else -> skip fi
#ifndef OLD
        :: !y && HAS(st[p].have, log[n].ks2) -> skip   /* R4: a replayed change, no effect */
        :: !y && !HAS(st[p].have, log[n].ks2) && ks_salt[log[n].ks2] > st[p].smax + SALTSTEP -> skip   /* bad_salt */
#endif
        :: else ->
           /* mac_old, salt, key-set id, mac_new all verify (a forged change is only possible
            * under a key set the server knows, and then it is a valid change of that set) */
           st[p].have = st[p].have | BIT(log[n].ks2);
           if
           :: log[n].from == p -> st[p].closed = st[p].closed | BIT(k)
           :: else ->
              if
              :: st[p].limit[k] == 0 || st[p].limit[k] > log[n].iv + 1 -> st[p].limit[k] = log[n].iv + 1
              :: else -> skip
              fi
           fi;
           if :: st[p].nch < MAXCH -> addentry(p, log[n].id, CHANGE, k, log[n].ks2, fresh, 0) :: else -> skip fi;
           bk = PEERKEY(p, k); bs = ks_salt[log[n].ks2]; bump(p)
        fi;
        j = 0;
        walk(p); moved(p, x, hd, 1)
     fi;
     y = 0; q = 0; x = 0; k = 0
  /* ---------------------------------------------------------------- msg (§6.1) */
  :: log[n].typ == MSG && log[n].from != p ->
     k = log[n].ks;
     if
     :: !HAS(st[p].have, k) -> if :: fresh -> st[p].want = 1 :: else -> skip fi   /* unknown_key_set */
     :: else ->
        if
        :: st[p].limit[k] != 0 && log[n].iv + 1 > st[p].limit[k] -> skip         /* retired_key */
        :: else ->
           if
           :: log[n].iv <= st[p].lastin[k] -> skip                                 /* replay */
           :: else -> st[p].lastin[k] = log[n].iv; printf("MSC: %c SHOWS msg of ks=%d (key %d) iv=%d\n", 65 + p, k, PEERKEY(p, k), log[n].iv); display(p, k); lastshown[p] = n + 1
           fi
        fi
     fi;
     k = 0
  :: else -> skip   /* own msg echo: nothing to check */
  fi
}


/* ------------------------------------------------------------------ the adversary */

/* deliver log[rn] to side rp with a fresh or stale created_at (the server chooses) */
inline deliver() {
  if :: rf = 0 :: rf = 1 fi;
  receive(rp, rn, rf);
  rp = 0; rn = 0; rf = 0
}

/* a forged entry "from fp", delivered to the other side at once (it stays in the log for
 * later replays); id_ is a new top id (nextid), 1 (below every post) or, with MIDID, an id
 * between the two newest posts (pickid) */
inline forge(typ_, ks_, ks2_, iv_, id_) {
  assert(nlog < MAXLOG);
  log[nlog].typ = typ_; log[nlog].from = fp; log[nlog].ks = ks_; log[nlog].ks2 = ks2_;
  log[nlog].iv = iv_; log[nlog].id = id_; log[nlog].forged = 1;
  printf("MSC: server forges/replays log[%d]: type %d \"from %c\" ks=%d ks2=%d iv=%d id=%d\n", nlog, typ_, 65 + fp, ks_, ks2_, iv_, id_);
  if :: log[nlog].id == nextid -> nextid = nextid + 2 :: else -> skip fi;
  rp = 1 - fp; rn = nlog;
  nlog++;
  deliver();
  fp = 0
}

/* the id of a replay or forgery: a new top id or (MIDID) one between the two newest posts */
inline pickid() {
  if
  :: fid = nextid
  :: midid -> fid = nextid - 3
  fi
}

inline adversary() {
  if
  /* deliver (or re-deliver: duplicate, reorder) a stored message; ecdh/change also as an echo */
  :: select(i : 0 .. nlog - 1);
     rn = i;
     if
     :: rp = 1 - log[i].from
     :: log[i].typ != MSG -> rp = log[i].from
     fi;
     deliver()
  /* replay a stored ecdh/change under a new id (and a new created_at) */
  :: select(i : 0 .. nlog - 1);
     if
     :: log[i].typ != MSG && nlog < MAXLOG ->
        fp = log[i].from;
        pickid();
        forge(log[i].typ, log[i].ks, log[i].ks2, log[i].iv, fid)
     :: else -> skip
     fi
  /* forge an ecdh "from q" that names the server's own key as q's, any salt, any id */
  :: nks < MAXKS && nlog < MAXLOG ->
     select(i : 0 .. 1);
     /* a low salt, the highest the receiver accepts (A4), the lowest it refuses (finding 5) */
     if
     :: s = 1
     :: s = st[i].smax + SALTSTEP
     :: s = st[i].smax + SALTSTEP + 1
     fi;
     if :: s > MAXSALT -> s = MAXSALT :: else -> skip fi;
     if :: i == 0 -> derive(KA, KE, s, k) :: else -> derive(KE, KB, s, k) fi;
     fp = 1 - i;
     if
     :: pickid(); forge(ECDH, k, 0, 0, fid)
     :: forge(ECDH, k, 0, 0, 1)
     fi;
     s = 0; k = 0
  /* forge a msg or a change under a key set the server can compute */
  :: nlog < MAXLOG ->
     select(k : 1 .. MAXKS - 1);
     if
     :: k < nks && SRV_KNOWS(k) ->
        fp = (ks_pa[k] == KE -> 0 : 1);   /* the server poses as the side whose key is KE */
        if
        :: select(t : 1 .. 2); forge(MSG, k, 0, t, nextid)
        :: nks < MAXKS && ks_salt[k] < MAXSALT ->
           /* the next salt, or the lowest the receiver refuses (finding 5) */
           if
           :: s = ks_salt[k] + 1
           :: st[1 - fp].smax + SALTSTEP + 1 > ks_salt[k] + 1 -> s = st[1 - fp].smax + SALTSTEP + 1
           fi;
           if :: s > MAXSALT -> s = MAXSALT :: else -> skip fi;
           derive(ks_pa[k], ks_pb[k], s, x);
           pickid();
           forge(CHANGE, k, x, 0, fid);
           s = 0
        :: else -> skip
        fi
     :: else -> skip
     fi;
     k = 0; t = 0; x = 0
  /* lie in the key directory */
  :: select(i : 0 .. 1); set_peer_keys(i, KE)
  fi;
  i = 0; fid = 0
}

/* ------------------------------------------------------------------ the users */

inline party() {
  select(i : 0 .. 1);
  if
  :: select(tb : 0 .. 1); send(i, tb); tb = 0
  :: select(tb : 0 .. 1); refresh(i, tb); tb = 0
  /* markVerified(): the users compared safety numbers (they match only for the real key) */
  :: st[i].pin == REAL(1 - i) && !(st[i].vkey == st[i].pin && st[i].kw == 0) ->
     printf("MSC: %c marks the contact verified (key %d)\n", 65 + i, st[i].pin); st[i].vkey = st[i].pin; st[i].kw = 0
  :: !hassnap[i] -> snapshot(i)
  :: hassnap[i] && restores < RESTORES -> restore(i)
#ifndef OLD
  /* acceptPeerKey(): the user accepts the key the warning is about */
  :: st[i].kw != 0 -> printf("MSC: %c accepts key %d\n", 65 + i, st[i].kwkey); st[i].accepted = st[i].accepted | BIT(st[i].kwkey); st[i].kw = 0
#endif
  fi;
  ok = 0; r = 0; hd = 0; he = 0; i = 0
}

inline copyparty(dst, src) {
  dst.pin = src.pin; dst.pinid = src.pinid; dst.vkey = src.vkey; dst.want = src.want; dst.smax = src.smax;
  j = 0;
  do :: j < 4 -> dst.maxs[j] = src.maxs[j]; j++ :: else -> break od;
  dst.have = src.have; dst.closed = src.closed;
  j = 0;
  do :: j < MAXKS -> dst.ctr[j] = src.ctr[j]; dst.lastin[j] = src.lastin[j]; dst.limit[j] = src.limit[j]; j++ :: else -> break od;
  dst.nch = src.nch;
  j = 0;
  do
  :: j < MAXCH -> dst.eid[j] = src.eid[j]; dst.etyp[j] = src.etyp[j]; dst.eold[j] = src.eold[j]; dst.eks[j] = src.eks[j]; dst.eeng[j] = src.eeng[j]; j++
  :: else -> break
  od;
  dst.retired = src.retired; dst.warned = src.warned; dst.accepted = src.accepted;
  dst.peerkeys = src.peerkeys; dst.kw = src.kw; dst.kwkey = src.kwkey;
  j = 0;
  do :: j < MAXCH -> dst.ecur[j] = src.ecur[j]; j++ :: else -> break od;
  j = 0
}

inline snapshot(p) {
  printf("MSC: snapshot of %c's storage\n", 65 + p);
  copyparty(snap[p], st[p]);
  hassnap[p] = 1
}

/* restore the snapshot: the browser restarts, both tabs reload (their memory is gone) */
inline restore(p) {
  printf("MSC: RESTORE %c's old snapshot (tabs reload)\n", 65 + p);
  copyparty(st[p], snap[p]);
  restores++;
  synced[2 * p] = 0; synced[2 * p + 1] = 0
}

/* ------------------------------------------------------------------ liveness: the adversary stops */

/* deliver, fresh, every post made since log index `from_` to the other side; the receiving
 * UI starts an exchange at once when it wants one (docs/protocol.md §13.1) */
inline flush(from_) {
  n1 = from_;
  do
  :: n1 < nlog ->
     rp = 1 - log[n1].from; rn = n1; rf = 1;
     receive(rp, rn, rf);
     if
     :: st[rp].want ->
        /* §13.1: refresh the contact's keys (setPeerKeys), then exchange() */
        sp = rp;
        if :: sp == 0 -> set_peer_keys(0, KB) :: else -> set_peer_keys(1, KA) fi;
        start_exchange(sp);
        assert(ok);
        sp = 0
     :: else -> skip
     fi;
     n1++
  :: else -> break
  od;
  n1 = 0; rp = 0; rn = 0; rf = 0
}

inline round(p, chk_) {
  z = nlog;
  lastshown[1 - p] = 0;
  send(p, 0);
  assert(ok);            /* the side can send */
  w = nlog - 1;          /* its message */
  flush(z);
  if :: chk_ && CHK(5) -> assert(lastshown[1 - p] == w + 1) :: else -> skip fi
}

byte z, w;

inline honest() {
  /* the key directory tells the truth again */
  set_peer_keys(0, KB); set_peer_keys(1, KA);
  /* the users compare safety numbers again: they match, the warning is cleared (markVerified) */
  if :: st[0].kw != 0 && st[0].pin == KB -> st[0].kw = 0 :: else -> skip fi;
  if :: st[1].kw != 0 && st[1].pin == KA -> st[1].kw = 0 :: else -> skip fi;
  /* reload: the history, every message the clients posted, in id order (stale), own
   * ecdh/change echoes included (what was processed before is recognised by its id) */
  n2 = 0;
  do
  :: n2 < 2 ->
     n1 = 0;
     do
     :: n1 < nlog ->
        if
        :: !log[n1].forged && (log[n1].from != n2 || log[n1].typ != MSG) ->
           rp = n2; rn = n1; rf = 0;
           receive(rp, rn, rf)
        :: else -> skip
        fi;
        n1++
     :: else -> break
     od;
     n2++
  :: else -> break
  od;
  n1 = 0; n2 = 0; rp = 0; rn = 0;
  /* two round trips; the second must go through both ways */
  round(0, 0); round(1, 0); round(0, 1); round(1, 1)
}

/* ------------------------------------------------------------------ the run */

active proctype world() {
  /* the bounds and the property from the environment (scripts/model-check.sh), if set */
  c_code {
    char *e;
    if ((e = getenv("PARTY_STEPS")) != NULL) now.maxparty = atoi(e);
    if ((e = getenv("ADV_STEPS")) != NULL) now.maxadv = atoi(e);
    if ((e = getenv("CHECK")) != NULL) now.check = atoi(e);
    if ((e = getenv("MIDID")) != NULL) now.midid = atoi(e);
  };
  /* an established conversation: Alice's ecdh (salt 1) is key set 1, id 2, seen by both */
  atomic {
    ks_pa[1] = KA; ks_pb[1] = KB; ks_salt[1] = 1; nks = 2;
    log[0].typ = ECDH; log[0].from = 0; log[0].ks = 1; log[0].id = 2; nlog = 1; nextid = 4;
    i = 0;
    do
    :: i < 2 ->
       st[i].pin = REAL(1 - i); st[i].maxs[REAL(1 - i)] = 1; st[i].smax = 1;
       st[i].have = BIT(1); st[i].nch = 1; st[i].eid[0] = 2; st[i].etyp[0] = ECDH; st[i].eks[0] = 1; st[i].eeng[0] = 1;
       st[i].peerkeys = BIT(REAL(1 - i));
       i++
    :: else -> break
    od;
    st[1].pinid = 2;   /* Bob pinned Alice's key from her ecdh; Alice's pin came from the directory */
    i = 0;
    /* both verified each other's key (safety numbers compared), or neither did */
    if :: skip :: st[0].vkey = KB; st[1].vkey = KA; printf("MSC: both verified (safety numbers compared)\n") fi
  };
  do
  :: partysteps < maxparty -> atomic { party(); partysteps++ }
  :: advsteps < maxadv && nlog > 0 -> atomic { adversary(); advsteps++ }
  :: atomic { break }
  od;
#ifndef NOLIVE
  printf("MSC: --- the adversary stops ---\n");
  atomic { honest() }
#endif
}
