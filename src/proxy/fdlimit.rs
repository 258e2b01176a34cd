//! The open-files limit (`RLIMIT_NOFILE`) against `limits.max_connections`: at start-up the soft limit is raised to
//! the hard one (a service manager's default soft limit, often 1024, is far below the default 10,000 connections),
//! and the start-up banner and `serve --check` warn when the limit still cannot serve `limits.max_connections`
//! (each proxied connection holds about two descriptors, client and upstream, and the residency log, listeners and
//! pools need headroom). Running out of descriptors makes accepts fail and the residency log's tile and
//! checkpoint writes fail (retried; see `audit::writer`).
//!
//! Must never: lower a limit, or stop the gateway from starting because the limit cannot be read or raised (that
//! is a warning, not an error).

/// Descriptors kept for everything but proxied connections: listeners, the residency log (journal, tiles,
/// checkpoints, seals), policy and key files, the runtime, upstream pools' idle connections.
pub const RESERVED_FDS: u64 = 256;

/// Descriptors one proxied connection holds: the client's and the upstream's.
pub const FDS_PER_CONNECTION: u64 = 2;

/// Errors reading or raising the limit.
#[derive(Debug, thiserror::Error)]
pub enum FdLimitError {
    /// `getrlimit` failed.
    #[error("cannot read the open-files limit (RLIMIT_NOFILE): {0}")]
    Read(std::io::Error),
    /// `setrlimit` failed.
    #[error("cannot raise the open-files limit (RLIMIT_NOFILE): {0}")]
    Raise(std::io::Error),
}

/// The process's open-files limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The limit in force.
    pub soft: u64,
    /// The most the soft limit can be raised to without privileges.
    pub hard: u64,
}

/// The current limit (`None` where the platform has none).
pub fn current() -> Result<Option<FdLimit>, FdLimitError> {
    #[cfg(unix)]
    {
        let (soft, hard) =
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_err(FdLimitError::Read)?;
        Ok(Some(FdLimit { soft, hard }))
    }
    #[cfg(not(unix))]
    {
        Ok(None)
    }
}

/// Raise the soft limit to the hard limit (as far as the platform allows); returns the limit then in force.
pub fn raise_to_hard() -> Result<Option<FdLimit>, FdLimitError> {
    #[cfg(unix)]
    {
        rlimit::increase_nofile_limit(u64::MAX).map_err(FdLimitError::Raise)?;
    }
    current()
}

/// [`warning`] against the process's limit now, `which` picking the soft or the hard one; a limit that cannot be
/// read is itself the warning.
pub fn current_warning(max_connections: usize, which: impl Fn(&FdLimit) -> u64) -> Option<String> {
    match current() {
        Ok(Some(limit)) => warning(max_connections, which(&limit)),
        Ok(None) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// Descriptors `max_connections` proxied connections need, with the headroom.
pub fn needed(max_connections: usize) -> u64 {
    (max_connections as u64)
        .saturating_mul(FDS_PER_CONNECTION)
        .saturating_add(RESERVED_FDS)
}

/// A warning when `limit` open files cannot serve `max_connections` connections (`None` when they can).
pub fn warning(max_connections: usize, limit: u64) -> Option<String> {
    let needed = needed(max_connections);
    (limit < needed).then(|| {
        let fits = limit.saturating_sub(RESERVED_FDS) / FDS_PER_CONNECTION;
        let lower = if fits == 0 {
            String::new()
        } else {
            format!(" or set limits.max_connections to at most {fits}")
        };
        format!(
            "limits.max_connections = {max_connections} needs about {needed} open files ({FDS_PER_CONNECTION} per \
             connection + {RESERVED_FDS} for listeners and the residency log), but the open-files limit is {limit}: \
             raise it (systemd LimitNOFILE=, ulimit -n){lower}; when descriptors run out, accepts fail and the \
             residency log's checkpoints lag until they are free again"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_when_the_limit_is_too_low() {
        assert_eq!(needed(10_000), 20_256);
        assert!(warning(10_000, 1024).is_some_and(|w| w.contains("at most 384")));
        assert!(warning(10_000, 1 << 20).is_none());
        assert!(warning(384, 1024).is_none());
        assert!(warning(385, 1024).is_some());
        let w = warning(385, 1024).unwrap();
        assert!(w.contains("at most 384"), "{w}");
        // a limit below the reserve alone: raising it is the only advice
        let w = warning(10, 200).unwrap();
        assert!(!w.contains("at most"), "{w}");
    }

    #[test]
    fn raising_never_lowers() {
        let before = current().unwrap();
        let after = raise_to_hard().unwrap();
        if let (Some(b), Some(a)) = (before, after) {
            assert!(a.soft >= b.soft);
            assert_eq!(a.hard, b.hard);
        }
    }
}
