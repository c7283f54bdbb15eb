//! What a back-end can do, declared up front so that every caller — the files
//! module, FEAT, `OPTIONS`/`Allow`, MLST facts, SITE HELP — can refuse what it
//! cannot do before anything changes, instead of failing half-way.
//!
//! Each field is a promise that the conformance suite (`tests/conformance`) pins
//! for every back-end: a capability that is declared works as documented here,
//! and one that is not is refused with [`ErrorKind::Unsupported`](super::ErrorKind).
//!
//! Most back-ends know their capabilities when they open. An upstream FTP server's
//! depend on the server, and are learned per upstream: from its FEAT at the first
//! login (MFMT, the `UNIX.mode` fact), or from its first "not implemented" reply
//! (`SITE CHMOD`). There a volume's [`Storage::capabilities`](super::Storage::capabilities)
//! says what its upstream can do as far as known now, and the back-end's
//! [`Backend::capabilities`](super::Backend::capabilities) declares what any of its
//! volumes may do — what the pipeline registers handlers for, each of which then
//! asks the session's volume before it acts (and SITE HELP and FEAT, once a
//! session is logged in, show that volume's).

/// How a back-end resumes an interrupted upload (FTP `REST n` + `STOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// In place: the file is cut at the offset and written on from there (local
    /// disk). Cost: the new bytes. Not atomic: readers see the file grow.
    Native,
    /// A new object is assembled from the old one's first bytes (copied inside the
    /// back-end) and the new bytes, and replaces it atomically on commit (object
    /// stores). Cost: the new bytes plus a server-side copy.
    Assembled,
    /// The gateway reads the old bytes back and writes them again with the new
    /// ones. Cost: the whole file. Atomic on commit.
    Rewrite,
    /// Refused.
    None,
}

/// The capabilities of a back-end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `WriteMode::Append` works (FTP `APPE`).
    pub append: bool,
    /// How `WriteMode::At` (resumed uploads) works, if at all.
    pub resume: Resume,
    /// Renaming a file is atomic (one step, never a copy then a delete).
    pub atomic_rename: bool,
    /// Directories can be renamed at all.
    pub rename_dirs: bool,
    /// Directories exist on their own: an empty one stays, and listing a parent
    /// shows it (object stores emulate them with markers).
    pub empty_dirs: bool,
    /// `copy` is the back-end's own: the client sends nothing again (inside the
    /// store or disk; an upstream FTP server's bytes are relayed by the gateway
    /// between two upstream connections). WebDAV `COPY` is offered only then.
    pub server_side_copy: bool,
    /// Entries carry their permission bits: [`Metadata::mode`](super::Metadata)
    /// is set in `stat` and listings alike (the mode column of `LIST`). Without
    /// it a `stat` has no mode, and a listing carries one only where the back-end
    /// happens to see it (an upstream's `LIST` lines).
    pub modes: bool,
    /// Permission bits can be changed ([`Storage::set_mode`](super::Storage::set_mode):
    /// FTP `SITE CHMOD`). Separate from [`Capabilities::modes`]: an upstream FTP
    /// server may change modes without showing them in a `stat`.
    pub set_modes: bool,
    /// WebDAV dead properties can be stored ([`Storage::dead_props`](super::Storage::dead_props)).
    pub dead_properties: bool,
    /// Entries carry their modification time (FTP `MDTM`, the `modify` fact,
    /// HTTP `Last-Modified`).
    pub modified_times: bool,
    /// A file's modification time can be set ([`Storage::set_modified`](super::Storage::set_modified):
    /// FTP `MFMT` and `MFF modify`), so that clients that mirror keep the times.
    pub set_modified_times: bool,
    /// Reads may come back as local file regions and uploads may offer a local
    /// sink, so the data paths can use `sendfile`/`splice`.
    pub zero_copy: bool,
}

impl Capabilities {
    /// Whether resumed uploads are possible at all.
    pub fn resumes(&self) -> bool {
        self.resume != Resume::None
    }
}
