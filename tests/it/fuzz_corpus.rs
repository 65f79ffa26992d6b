//! Replays the committed fuzz corpus (fuzz/corpus/<target>/) through the same properties the
//! cargo-fuzz targets check (fuzz/properties.rs), so every input the fuzzer ever kept — including any
//! crash that was fixed — is checked by the regular test suite, without the fuzzer.

#[allow(dead_code)]
#[path = "../../fuzz/properties.rs"]
mod properties;

use std::path::Path;

fn replay(target: &str, property: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut replayed = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        property(&data);
        replayed += 1;
    }
    assert!(replayed > 0, "the corpus for {target} is empty");
}

#[test]
fn command_corpus() {
    replay("command", properties::command);
}

#[test]
fn data_scanner_corpus() {
    replay("data_scanner", properties::data_scanner);
}

#[test]
fn address_corpus() {
    replay("address", properties::address);
}

#[test]
fn spool_journal_corpus() {
    replay("spool_journal", properties::spool_journal);
}

#[test]
fn config_corpus() {
    replay("config", properties::config);
}

#[test]
fn reply_corpus() {
    replay("reply", properties::reply);
}
