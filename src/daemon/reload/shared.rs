//! The provisioned domains of a cluster: every node follows the shared table (`cluster::domains`),
//! so a domain provisioned through any node takes mail on all of them. The table is read every
//! second; a difference from this node's store is written to the local store file (its copy) and
//! put in force like any provisioning change. A node whose table is still empty brings its own store
//! (moving into a cluster); after that the table is the authority.

use std::sync::{Arc, PoisonError};

use super::{Reloader, log_clashes};
use crate::config::provisioned::{parse, store_text};
use crate::config::reload::plan;

impl Reloader {
    /// Seeds an empty shared table with this node's store; logged either way.
    pub(super) async fn seed_shared(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let tables: Vec<(String, String)> = {
            let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
            let domains = store.domains();
            domains
                .names()
                .filter_map(|name| Some((name.to_string(), domains.table_text(name)?)))
                .collect()
        };
        match shared.seed(&tables).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                domains = n,
                "provisioned domains copied into the shared table"
            ),
            Err(error) => {
                tracing::warn!(%error, "provisioned domains not copied to the shared table")
            }
        }
    }

    /// Puts the shared table's domains in force when they differ from this node's.
    pub(super) async fn follow_shared(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let tables = match shared.read_all().await {
            Ok(tables) => tables,
            Err(error) => {
                tracing::debug!(%error, "shared provisioned domains not read; trying again");
                return;
            }
        };
        let running = self.live.get();
        let text = store_text(tables);
        let (domains, set) = match parse(
            &text,
            "the shared provisioned domains",
            running.delivery.port,
        ) {
            Ok(parsed) => parsed,
            Err(errors) => {
                tracing::error!(%errors, "the shared provisioned domains are invalid; this node keeps its own");
                return;
            }
        };
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        if store.domains().render() == domains.render() {
            return;
        }
        let mut base = (*running).clone();
        for name in running.provisioned.iter() {
            base = base.without_provisioned(name);
        }
        let (merged, clashes) = base.with_provisioned(&set);
        log_clashes(&clashes);
        if let Err(error) = store.replace(domains) {
            tracing::warn!(%error, "the local copy of the provisioned domains was not written");
        }
        drop(store);
        let plan = plan(&running, merged);
        self.put_in_force(Arc::new(plan.apply.clone()), &plan.removed);
        tracing::info!(summary = %plan.summary(), "provisioned domains changed through another node");
    }
}
