//! The console password check, bounded: argon2 needs `m_cost` KiB of working memory per check (19 MiB
//! with the default parameters), and unbounded concurrent checks made the process grow by gigabytes and
//! keep them (issue 19). So at most [`PARALLEL`] checks run at once, at most [`QUEUED`] more wait, and
//! the rest are told to come back later ([`Busy`], answered with 429). Each running check borrows its
//! working memory from a pool of at most [`PARALLEL`] buffers that live as long as the server, so a
//! burst of logins costs no more memory than two checks.

use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use super::credentials::constant_time_eq;

/// Checks running at once (the machine's two cores).
pub const PARALLEL: usize = 2;
/// Checks waiting for a turn; beyond them the caller gets [`Busy`].
pub const QUEUED: usize = 8;

/// Too many password checks are running or waiting: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many logins at once; try again in a second")]
pub struct Busy;

/// A parsed argon2 PHC hash: what a check recomputes and compares.
#[derive(Clone)]
struct Prepared {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl Prepared {
    fn parse(phc: &str) -> Option<Prepared> {
        let hash = PasswordHash::new(phc).ok()?;
        let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&hash).ok()?;
        let salt = hash.salt.as_ref()?.as_ref().to_vec();
        let expected = hash.hash.as_ref()?.as_ref().to_vec();
        Some(Prepared {
            algorithm,
            version,
            params,
            salt,
            expected,
        })
    }

    /// Recomputes the hash of `password` in `memory` (at least `block_count` blocks).
    fn matches(&self, password: &[u8], memory: &mut [Block]) -> bool {
        let argon2 = Argon2::new(self.algorithm, self.version, self.params.clone());
        let mut out = vec![0u8; self.expected.len()];
        let blocks = self.params.block_count().min(memory.len());
        argon2
            .hash_password_into_with_memory(password, &self.salt, &mut out, &mut memory[..blocks])
            .is_ok()
            && constant_time_eq(&out, &self.expected)
    }
}

/// The bounded password checker; cheap to clone.
#[derive(Clone)]
pub struct PasswordChecker {
    /// `None` when the hash cannot be parsed: every check then fails (still after the same wait).
    prepared: Option<Arc<Prepared>>,
    /// Admission: running plus waiting checks.
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    /// Working memory of finished checks, reused by the next ones.
    pool: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl PasswordChecker {
    /// A checker for the argon2 PHC string `phc`.
    pub fn new(phc: &str) -> PasswordChecker {
        PasswordChecker {
            prepared: Prepared::parse(phc).map(Arc::new),
            admitted: Arc::new(Semaphore::new(PARALLEL + QUEUED)),
            running: Arc::new(Semaphore::new(PARALLEL)),
            pool: Arc::default(),
        }
    }

    /// Whether `password` is the password; [`Busy`] when too many checks are already under way.
    pub async fn check(&self, password: &str) -> Result<bool, Busy> {
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| Busy)?;
        let _running = self.running.acquire().await.map_err(|_| Busy)?;
        let Some(prepared) = self.prepared.clone() else {
            return Ok(false);
        };
        let mut memory = self.take_memory(prepared.params.block_count());
        let password = password.as_bytes().to_vec();
        // argon2 takes a while: keep it off the async workers.
        let checked = tokio::task::spawn_blocking(move || {
            let ok = prepared.matches(&password, &mut memory);
            (ok, memory)
        })
        .await;
        match checked {
            Ok((ok, memory)) => {
                self.give_back(memory);
                Ok(ok)
            }
            Err(_) => Ok(false),
        }
    }

    fn take_memory(&self, blocks: usize) -> Vec<Block> {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        match pool.pop() {
            Some(memory) if memory.len() >= blocks => memory,
            _ => vec![Block::default(); blocks],
        }
    }

    fn give_back(&self, memory: Vec<Block>) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        // At most PARALLEL checks hold memory at once, so the pool never holds more than that.
        if pool.len() < PARALLEL {
            pool.push(memory);
        }
    }

    /// Buffers in the pool (for tests).
    #[cfg(test)]
    fn pooled(&self) -> usize {
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::credentials::hash_password;

    #[tokio::test]
    async fn right_and_wrong_passwords_reusing_memory() {
        let checker = PasswordChecker::new(&hash_password("pw").unwrap());
        assert_eq!(checker.check("pw").await, Ok(true));
        assert_eq!(checker.check("wrong").await, Ok(false));
        assert_eq!(checker.check("").await, Ok(false));
        assert_eq!(checker.pooled(), 1, "one buffer, reused");
    }

    #[tokio::test]
    async fn an_unusable_hash_matches_nothing() {
        let checker = PasswordChecker::new("not a hash");
        assert_eq!(checker.check("not a hash").await, Ok(false));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_is_bounded_and_the_excess_is_busy() {
        let checker = PasswordChecker::new(&hash_password("pw").unwrap());
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let checker = checker.clone();
                tokio::spawn(async move { checker.check("wrong").await })
            })
            .collect();
        for task in tasks {
            assert_ne!(task.await.unwrap(), Ok(true));
        }
        assert!(checker.pooled() <= PARALLEL);
        let all = u32::try_from(PARALLEL + QUEUED).unwrap();
        let held = checker
            .admitted
            .clone()
            .try_acquire_many_owned(all)
            .unwrap();
        assert_eq!(checker.check("pw").await, Err(Busy), "no room: busy");
        drop(held);
        assert_eq!(checker.check("pw").await, Ok(true), "usable again");
    }
}
