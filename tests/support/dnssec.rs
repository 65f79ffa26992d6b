//! DNSSEC for [`TestDns`](super::dns::TestDns): a zone key made for one test ([`ZoneKey`]), the
//! trust-anchor file backupmx is given for it (`[dns] trust_anchor`), its DS record for a parent
//! zone, and the signing of a test zone (the root zone, whose key is then a private root anchor,
//! or a delegated child) with NSEC records for the names that do not exist. A signed zone can
//! also serve forged records: data replaced after signing, under the signatures of the originals.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_server::dnssec::NxProofKind;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::dnssec::crypto::Ed25519SigningKey;
use hickory_server::proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS};
use hickory_server::proto::dnssec::{DigestType, DnssecSigner, PublicKey, SigningKey};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use rustls_pki_types::PrivatePkcs8KeyDer;

/// How long the test zone's signatures are valid.
const SIGNATURE_LIFETIME: Duration = Duration::from_secs(86_400);

/// An Ed25519 key (RFC 8080) that signs the test zone.
pub struct ZoneKey {
    pkcs8: PrivatePkcs8KeyDer<'static>,
}

impl ZoneKey {
    pub fn generate() -> ZoneKey {
        ZoneKey {
            pkcs8: Ed25519SigningKey::generate_pkcs8().expect("generate an Ed25519 zone key"),
        }
    }

    fn signing_key(&self) -> Ed25519SigningKey {
        Ed25519SigningKey::from_pkcs8(&self.pkcs8).expect("the generated zone key")
    }

    /// The public key as published in the zone (zone key, secure entry point).
    pub fn dnskey(&self) -> DNSKEY {
        let public = self.signing_key().to_public_key().expect("public zone key");
        DNSKEY::from_key(&public)
    }

    /// The trust-anchor file's text: the root zone's DNSKEY record.
    pub fn trust_anchor(&self) -> String {
        format!(
            "; the test zone's key\n. 3600 IN DNSKEY {}\n",
            self.dnskey()
        )
    }

    /// Writes the trust anchor to `dir/trust-anchor.key` and returns the path.
    pub fn write_trust_anchor(&self, dir: &Path) -> PathBuf {
        let file = dir.join("trust-anchor.key");
        std::fs::write(&file, self.trust_anchor()).expect("write the trust anchor");
        file
    }

    /// The DS record (SHA-256) of this key as the key of `origin`, for the parent zone.
    pub fn ds(&self, origin: &Name, ttl: u32) -> Record {
        let dnskey = self.dnskey();
        let digest = dnskey
            .to_digest(origin, DigestType::SHA256)
            .expect("DS digest");
        let ds = DS::new(
            dnskey.calculate_key_tag().expect("key tag"),
            dnskey.public_key().algorithm(),
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        );
        Record::from_rdata(origin.clone(), ttl, RData::DNSSEC(DNSSECRData::DS(ds)))
    }

    fn signer(&self, origin: &Name) -> DnssecSigner {
        DnssecSigner::new(
            self.dnskey(),
            Box::new(self.signing_key()),
            origin.clone(),
            SIGNATURE_LIFETIME,
        )
    }
}

/// The proof of non-existence a signed test zone gives.
pub fn nx_proof() -> Option<NxProofKind> {
    Some(NxProofKind::Nsec)
}

/// Publishes `key`'s DNSKEY in `zone` (whose apex is `origin`) and signs every record set (NSEC
/// chain included).
pub fn sign(zone: &mut InMemoryZoneHandler<TokioRuntimeProvider>, key: &ZoneKey, origin: &Name) {
    zone.add_zone_signing_key_mut(key.signer(origin))
        .expect("add the zone key");
    zone.secure_zone_mut().expect("sign the test zone");
}

/// Replaces the data of each `forged` record's set (same name and type) after signing, keeping
/// the RRSIGs made for the original data: a record whose signature does not verify.
pub fn forge(zone: &mut InMemoryZoneHandler<TokioRuntimeProvider>, forged: &[Record]) {
    let records = zone.records_get_mut();
    for record in forged {
        let key = RrKey::new(LowerName::new(&record.name), record.record_type());
        let signed = records.get(&key).unwrap_or_else(|| {
            panic!("forge {} {}: not in the zone", record.name, key.record_type)
        });
        let mut replaced = (**signed).clone();
        assert!(
            !replaced.rrsigs().is_empty(),
            "forge: the set is not signed"
        );
        replaced.set_records(vec![record.clone()]);
        records.insert(key, std::sync::Arc::new(replaced));
    }
}
