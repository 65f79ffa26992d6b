//! The cache: expiry, subaddress fallback, the size bound and the persisted form.

use super::*;

const HOUR: Duration = Duration::from_secs(3600);

fn key(a: &str) -> AddressKey {
    AddressKey::parse(a).unwrap()
}

#[test]
fn entries_expire() {
    let mut c = Cache::new(10);
    c.insert(key("a@x.test"), Known::Good, 1_000, HOUR);
    assert_eq!(c.state(&key("A@X.test"), 1_000), CacheState::Good);
    assert_eq!(
        c.state(&key("a@x.test"), 1_000 + 3_599_999),
        CacheState::Good
    );
    assert_eq!(
        c.state(&key("a@x.test"), 1_000 + 3_600_000),
        CacheState::Unknown
    );
    c.purge_expired(1_000 + 3_600_000);
    assert!(c.is_empty());
}

#[test]
fn a_new_answer_replaces_the_old_one() {
    let mut c = Cache::new(10);
    c.insert(key("a@x.test"), Known::Good, 0, HOUR);
    c.insert(key("a@x.test"), Known::Bad, 10, HOUR);
    assert_eq!(c.len(), 1);
    assert_eq!(c.state(&key("a@x.test"), 20), CacheState::Bad);
    c.purge_expired(3_600_005);
    assert_eq!(
        c.len(),
        1,
        "the replaced entry's old expiry must not evict the new one"
    );
}

#[test]
fn subaddress_falls_back_but_an_exact_entry_wins() {
    let mut c = Cache::new(10);
    c.insert(key("a@x.test"), Known::Good, 0, HOUR);
    assert_eq!(c.state(&key("a+tag@x.test"), 1), CacheState::Good);
    c.insert(key("a+spam@x.test"), Known::Bad, 0, HOUR);
    assert_eq!(c.state(&key("a+spam@x.test"), 1), CacheState::Bad);
    assert_eq!(c.state(&key("b+tag@x.test"), 1), CacheState::Unknown);
}

#[test]
fn the_bound_evicts_expired_then_soonest_to_expire() {
    let mut c = Cache::new(2);
    c.insert(key("old@x.test"), Known::Good, 0, Duration::from_millis(5));
    c.insert(key("long@x.test"), Known::Good, 0, HOUR * 10);
    c.insert(key("new@x.test"), Known::Bad, 10, HOUR);
    assert_eq!(c.len(), 2);
    assert_eq!(c.state(&key("old@x.test"), 1), CacheState::Unknown);
    c.insert(key("newer@x.test"), Known::Bad, 20, HOUR);
    assert_eq!(c.len(), 2);
    assert_eq!(c.state(&key("new@x.test"), 21), CacheState::Unknown);
    assert_eq!(c.state(&key("long@x.test"), 21), CacheState::Good);
}

#[test]
fn remove_and_counts() {
    let mut c = Cache::new(10);
    c.insert(key("a@x.test"), Known::Good, 0, HOUR);
    c.insert(key("b@x.test"), Known::Bad, 0, HOUR);
    c.insert(key("c@y.test"), Known::Good, 0, HOUR);
    assert_eq!(c.counts("x.test", 1), (1, 1));
    assert_eq!(c.counts("y.test", 1), (1, 0));
    assert!(c.remove(&key("b@x.test")));
    assert!(!c.remove(&key("b@x.test")));
    assert_eq!(c.counts("x.test", 1), (1, 0));
}

#[test]
fn text_round_trip_skips_expired_entries() {
    let mut c = Cache::new(10);
    c.insert(key("a@x.test"), Known::Good, 100, HOUR);
    c.insert(key("\"q r\"@x.test"), Known::Bad, 100, HOUR);
    c.insert(key("gone@x.test"), Known::Bad, 0, Duration::from_millis(50));
    let text = c.to_text(60);
    assert!(text.starts_with("backupmx-recipients-cache 1\n"));
    assert_eq!(text.lines().count(), 3);
    let back = Cache::from_text(&text, 60, 10).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back.state(&key("a@x.test"), 61), CacheState::Good);
    assert_eq!(back.state(&key("\"Q R\"@x.test"), 61), CacheState::Bad);
    assert_eq!(back.get(&key("a@x.test"), 61).unwrap().learned_ms, 100);
    assert_eq!(Cache::from_text(&text, 60, 1).unwrap().len(), 1);
}

#[test]
fn a_damaged_file_names_its_line() {
    for (text, line) in [
        ("", 1),
        ("something else\n", 1),
        (
            "backupmx-recipients-cache 1\ngood 1 2 a@x.test\nmaybe 1 2 b@x.test\n",
            3,
        ),
        ("backupmx-recipients-cache 1\ngood x 2 a@x.test\n", 2),
        ("backupmx-recipients-cache 1\ngood 1 2 nodomain\n", 2),
    ] {
        match Cache::from_text(text, 0, 10) {
            Err(CacheError::Format { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn restored_entries_keep_their_times_and_the_bound() {
    let mut c = Cache::new(2);
    let entry = |known, expires_ms| Entry {
        known,
        expires_ms,
        learned_ms: 500,
    };
    c.restore(key("a@x.test"), entry(Known::Bad, 5_000), 1_000);
    assert_eq!(
        c.get(&key("a@x.test"), 1_000),
        Some(&entry(Known::Bad, 5_000))
    );
    // An entry already expired is not kept, and removes what was there.
    c.restore(key("a@x.test"), entry(Known::Good, 900), 1_000);
    assert!(c.is_empty());
    c.restore(key("a@x.test"), entry(Known::Good, 3_000), 1_000);
    c.restore(key("b@x.test"), entry(Known::Good, 4_000), 1_000);
    c.restore(key("c@x.test"), entry(Known::Good, 6_000), 1_000);
    assert_eq!(c.len(), 2, "the soonest to expire went");
    assert_eq!(c.state(&key("a@x.test"), 1_000), CacheState::Unknown);
    c.clear();
    assert!(c.is_empty());
}
