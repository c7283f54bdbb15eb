//! What an upstream was found to lack by trying it, remembered per upstream for
//! the life of the process, so that the next attempt is refused up front (or
//! takes the other way at once) instead of asking the upstream again.
//!
//! FEAT does not say everything: no server lists `SITE CHMOD` there, and one
//! that takes `LIST` may refuse `LIST -a`. So these are learned from the first
//! refusal that leaves no doubt (see where each [`Lack`] is learned), logged
//! once, and shown in the volume's capabilities where they are one. A restart
//! forgets them (an upstream may have been reconfigured meanwhile).

use std::sync::atomic::{AtomicBool, Ordering};

/// Something an upstream can lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lack {
    /// `SITE CHMOD`: answered 500, 502 or 504 (vsftpd with `chmod_enable=NO`
    /// says 500 "Unknown SITE command").
    SiteChmod,
    /// `LIST -a`: refused with a 5xx where a plain `LIST` of the same
    /// directory worked.
    ListAll,
}

impl Lack {
    fn what(self) -> &'static str {
        match self {
            Lack::SiteChmod => "SITE CHMOD is refused from now on (the upstream does not implement it)",
            Lack::ListAll => "listings use a plain LIST from now on (the upstream refused LIST -a)",
        }
    }
}

/// The lacks of one upstream.
#[derive(Debug, Default)]
pub struct Learned {
    site_chmod: AtomicBool,
    list_all: AtomicBool,
}

impl Learned {
    fn flag(&self, lack: Lack) -> &AtomicBool {
        match lack {
            Lack::SiteChmod => &self.site_chmod,
            Lack::ListAll => &self.list_all,
        }
    }

    /// Whether the upstream was found to lack it.
    pub fn lacks(&self, lack: Lack) -> bool {
        self.flag(lack).load(Ordering::Relaxed)
    }

    /// Remembers that the upstream described as `upstream` lacks it; logged the
    /// first time.
    pub fn learn(&self, lack: Lack, upstream: &str) {
        if !self.flag(lack).swap(true, Ordering::Relaxed) {
            tracing::info!(upstream, "{}", lack.what());
        }
    }
}
