//! Backup names and the sidecar that describes each swap.
//!
//! For a target `ls` and generation 3, all in the backup directory (beside the target, or its
//! mirror in the backup store):
//!
//! | name                        | what                                                    |
//! |-----------------------------|---------------------------------------------------------|
//! | `.ls.switchyard.3.json`     | the sidecar: prior state, placed state, backup name     |
//! | `.ls.switchyard.3.json.tmp` | the sidecar before it is renamed into place             |
//! | `.ls.switchyard.3.bak`      | the prior object itself                                 |
//! | `.ls.switchyard.3.bak.tmp`  | a copy on its way into a backup store on another filesystem |
//!
//! and beside the target, `.ls.switchyard.3.tmp`: the new link before the exchange, the prior
//! object right after it, and the displaced link during a restore.
//!
//! Names are deterministic so that transcripts are byte-stable; the newest generation wins.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::state::ObjectState;
use crate::sys;

/// The sidecar schema this engine writes and reads.
pub(crate) const SIDECAR_SCHEMA: u32 = 1;

const MARK: &str = ".switchyard.";

/// The names one generation of one target uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Names {
    pub(crate) generation: u32,
    pub(crate) sidecar: OsString,
    pub(crate) sidecar_tmp: OsString,
    pub(crate) backup: OsString,
    pub(crate) backup_tmp: OsString,
    pub(crate) temp: OsString,
}

impl Names {
    pub(crate) fn new(target_name: &OsStr, generation: u32) -> Names {
        let stem = |suffix: &str| {
            let mut name = OsString::from(".");
            name.push(target_name);
            name.push(format!("{MARK}{generation}.{suffix}"));
            name
        };
        Names {
            generation,
            sidecar: stem("json"),
            sidecar_tmp: stem("json.tmp"),
            backup: stem("bak"),
            backup_tmp: stem("bak.tmp"),
            temp: stem("tmp"),
        }
    }
}

/// What one of the engine's own files is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EngineFile {
    Sidecar,
    SidecarTemp,
    Backup,
    BackupTemp,
    /// The new link before the exchange, the prior object after it, or a displaced link.
    Temp,
}

/// One of the engine's file names, read back: whose it is, which generation, what it is. The
/// one place that knows the naming scheme; callers that must tell the engine's files from the
/// tree's (transcripts, crash checks) use this rather than matching names themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineName<'a> {
    /// The file name of the target it belongs to.
    pub target: &'a OsStr,
    pub generation: u32,
    pub file: EngineFile,
}

impl<'a> EngineName<'a> {
    /// `None` for a name that is not one of the engine's.
    pub fn parse(file_name: &'a OsStr) -> Option<EngineName<'a>> {
        const SUFFIXES: [(&str, EngineFile); 5] = [
            (".json.tmp", EngineFile::SidecarTemp),
            (".bak.tmp", EngineFile::BackupTemp),
            (".json", EngineFile::Sidecar),
            (".bak", EngineFile::Backup),
            (".tmp", EngineFile::Temp),
        ];
        let name = file_name.as_bytes().strip_prefix(b".")?;
        let (stem, file) = SUFFIXES
            .iter()
            .find_map(|(suffix, file)| Some((name.strip_suffix(suffix.as_bytes())?, *file)))?;
        let dot = stem.iter().rposition(|&b| b == b'.')?;
        let (head, digits) = (&stem[..dot], &stem[dot + 1..]);
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || digits[0] == b'0' {
            return None;
        }
        let target = head.strip_suffix(MARK.trim_end_matches('.').as_bytes())?;
        if target.is_empty() {
            return None;
        }
        Some(EngineName {
            target: OsStr::from_bytes(target),
            generation: std::str::from_utf8(digits).ok()?.parse().ok()?,
            file,
        })
    }
}

/// The engine's files in one directory, indexed by target: read once per operation, asked once
/// per target. (Scanning the whole listing per target made a plan of N targets cost N².)
#[derive(Debug)]
pub(crate) struct EngineFiles {
    by_target: HashMap<OsString, Vec<(u32, EngineFile)>>,
}

impl EngineFiles {
    /// Indexes the engine's names among `names`; every other name is left out.
    pub(crate) fn index(names: &[OsString]) -> EngineFiles {
        let mut by_target: HashMap<OsString, Vec<(u32, EngineFile)>> = HashMap::new();
        for parsed in names.iter().filter_map(|n| EngineName::parse(n)) {
            by_target
                .entry(parsed.target.to_owned())
                .or_default()
                .push((parsed.generation, parsed.file));
        }
        EngineFiles { by_target }
    }

    /// Every generation of `target_name` with a sidecar, oldest first.
    pub(crate) fn generations(&self, target_name: &OsStr) -> Vec<u32> {
        self.of(target_name, EngineFile::Sidecar)
    }

    /// Every generation of `target_name` with a sidecar temporary, oldest first.
    pub(crate) fn sidecar_temps(&self, target_name: &OsStr) -> Vec<u32> {
        self.of(target_name, EngineFile::SidecarTemp)
    }

    /// Every generation of `target_name` with a backup but no sidecar, oldest first.
    pub(crate) fn orphan_backups(&self, target_name: &OsStr) -> Vec<u32> {
        let with_sidecar = self.generations(target_name);
        let mut found = self.of(target_name, EngineFile::Backup);
        found.retain(|g| !with_sidecar.contains(g));
        found
    }

    /// Whether the listing holds `target_name`'s `file` of `generation`.
    pub(crate) fn has(&self, target_name: &OsStr, generation: u32, file: EngineFile) -> bool {
        self.by_target
            .get(target_name)
            .is_some_and(|found| found.contains(&(generation, file)))
    }

    fn of(&self, target_name: &OsStr, wanted: EngineFile) -> Vec<u32> {
        let mut found: Vec<u32> = self
            .by_target
            .get(target_name)
            .into_iter()
            .flatten()
            .filter(|(_, file)| *file == wanted)
            .map(|(generation, _)| *generation)
            .collect();
        found.sort_unstable();
        found
    }
}

/// A sidecar written but not yet published.
#[derive(Debug)]
pub(crate) enum SidecarTemp {
    /// A file with no name (`O_TMPFILE`).
    Unnamed(File),
    /// A file under the generation's temporary sidecar name.
    Named(File),
    /// The sidecar itself, written under its final name (the `sidecar-in-place` defect).
    #[cfg(feature = "defects")]
    InPlace(File),
}

impl AsFd for SidecarTemp {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            SidecarTemp::Unnamed(file) | SidecarTemp::Named(file) => file.as_fd(),
            #[cfg(feature = "defects")]
            SidecarTemp::InPlace(file) => file.as_fd(),
        }
    }
}

/// What one swap did, written durably before the swap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sidecar {
    pub(crate) schema_version: u32,
    pub(crate) plan_id: Uuid,
    pub(crate) action_id: Uuid,
    /// The target, relative to the root.
    pub(crate) target: String,
    pub(crate) generation: u32,
    /// What was at the target before; kept under `backup`.
    pub(crate) prior: ObjectState,
    /// What the swap put at the target.
    pub(crate) placed: ObjectState,
    /// The backup's file name in the backup directory; absent when the prior kind was `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) backup: Option<String>,
}

impl Sidecar {
    /// Writes the sidecar into a file with no name yet (`O_TMPFILE`), or where the filesystem
    /// cannot make one, under its temporary name. Not synced yet: the phase writes every sidecar
    /// first, then syncs each file (never the whole filesystem, whose unrelated dirty data is none
    /// of the engine's business) and gives each its name with [`Sidecar::publish`]. An unnamed
    /// file is never left behind by a crash; a named temporary can be, with its data lost, and
    /// then nothing proves it the engine's. A temporary in the way is replaced only when it is
    /// this engine's own sidecar of the same target and generation; anything else fails `EEXIST`.
    /// `stale_temp` says the directory's listing holds a named temporary of this generation.
    pub(crate) fn write_temp(
        &self,
        dir: BorrowedFd<'_>,
        names: &Names,
        stale_temp: bool,
    ) -> io::Result<SidecarTemp> {
        let mut json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        json.push(b'\n');
        #[cfg(feature = "defects")]
        if defect!(SidecarInPlace) {
            let mut file = sys::create_new(dir, &names.sidecar)?;
            file.write_all(&json)?;
            return Ok(SidecarTemp::InPlace(file));
        }
        if let Some(mut file) = sys::create_unnamed(dir)? {
            // A named temporary of this generation left by an earlier crash (where the
            // filesystem could not make unnamed files, or by an older engine) is ours and stale.
            if stale_temp && Sidecar::is_own_temp(dir, names, &self.target) {
                sys::unlink_at(dir, &names.sidecar_tmp)?;
            }
            file.write_all(&json)?;
            return Ok(SidecarTemp::Unnamed(file));
        }
        let mut file = match sys::create_new(dir, &names.sidecar_tmp) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !Sidecar::is_own_temp(dir, names, &self.target) {
                    return Err(e);
                }
                sys::unlink_at(dir, &names.sidecar_tmp)?;
                sys::create_new(dir, &names.sidecar_tmp)?
            }
            created => created?,
        };
        file.write_all(&json).inspect_err(|_| {
            // A partial temporary (a full disk fails the write after the create) is ours.
            let _ = sys::unlink_at(dir, &names.sidecar_tmp);
        })?;
        Ok(SidecarTemp::Named(file))
    }

    /// Whether the sidecar temporary of `names` is one this engine wrote for `target`: it reads
    /// and parses as a sidecar of this schema, for that target and generation.
    pub(crate) fn is_own_temp(dir: BorrowedFd<'_>, names: &Names, target: &str) -> bool {
        matches!(
            Sidecar::parse_at(dir, &names.sidecar_tmp, names.generation),
            Ok(Ok(s)) if s.target == target
        )
    }

    /// Whether the sidecar temporary of `names` is one this engine wrote for `target` in `plan`.
    pub(crate) fn is_own_temp_of_plan(
        dir: BorrowedFd<'_>,
        names: &Names,
        target: &str,
        plan: Uuid,
    ) -> bool {
        matches!(
            Sidecar::parse_at(dir, &names.sidecar_tmp, names.generation),
            Ok(Ok(s)) if s.target == target && s.plan_id == plan
        )
    }

    /// Whether `dir/name` holds exactly this sidecar, as this engine wrote it for this swap.
    pub(crate) fn is_at(&self, dir: BorrowedFd<'_>, name: &OsStr) -> bool {
        matches!(
            Sidecar::parse_at(dir, name, self.generation),
            Ok(Ok(s)) if s == *self
        )
    }

    /// Gives a synced sidecar its name; fails with `EEXIST` when the name is taken.
    pub(crate) fn publish(
        temp: &SidecarTemp,
        dir: BorrowedFd<'_>,
        names: &Names,
    ) -> io::Result<()> {
        match temp {
            SidecarTemp::Unnamed(file) => sys::link_unnamed(file, dir, &names.sidecar),
            SidecarTemp::Named(_) => {
                sys::rename_noreplace(dir, &names.sidecar_tmp, dir, &names.sidecar)
            }
            #[cfg(feature = "defects")]
            SidecarTemp::InPlace(_) => Ok(()),
        }
    }

    pub(crate) fn read(dir: BorrowedFd<'_>, names: &Names) -> io::Result<Result<Sidecar, String>> {
        Sidecar::parse_at(dir, &names.sidecar, names.generation)
    }

    fn parse_at(
        dir: BorrowedFd<'_>,
        name: &OsStr,
        generation: u32,
    ) -> io::Result<Result<Sidecar, String>> {
        let mut text = String::new();
        sys::open_read(dir, name)?.read_to_string(&mut text)?;
        Ok(match serde_json::from_str::<Sidecar>(&text) {
            Ok(s) if s.schema_version != SIDECAR_SCHEMA => Err(format!(
                "schema version {} (this engine reads {SIDECAR_SCHEMA})",
                s.schema_version
            )),
            Ok(s) if s.generation != generation => Err(format!(
                "it says generation {} but is named for {generation}",
                s.generation
            )),
            Ok(s) => Ok(s),
            Err(e) => Err(e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves: REQ-C3
    #[test]
    fn names_are_deterministic_and_parse_back() {
        let names = Names::new(OsStr::new("ls"), 3);
        assert_eq!(names.sidecar, ".ls.switchyard.3.json");
        assert_eq!(names.backup, ".ls.switchyard.3.bak");
        assert_eq!(names.temp, ".ls.switchyard.3.tmp");
        for (name, file) in [
            (&names.sidecar, EngineFile::Sidecar),
            (&names.sidecar_tmp, EngineFile::SidecarTemp),
            (&names.backup, EngineFile::Backup),
            (&names.backup_tmp, EngineFile::BackupTemp),
            (&names.temp, EngineFile::Temp),
        ] {
            let parsed = EngineName::parse(name).unwrap_or_else(|| panic!("{name:?}"));
            assert_eq!(
                (parsed.target, parsed.generation, parsed.file),
                (OsStr::new("ls"), 3, file)
            );
        }
        let dotted = EngineName::parse(OsStr::new(".a.b.switchyard.12.json")).unwrap();
        assert_eq!((dotted.target, dotted.generation), (OsStr::new("a.b"), 12));
        for not_ours in [
            "ls",
            ".ls.switchyard.txt",
            ".ls.switchyard.01.json",
            "..switchyard.1.bak",
            ".ls.1.json",
        ] {
            assert_eq!(EngineName::parse(OsStr::new(not_ours)), None, "{not_ours}");
        }
    }

    #[test]
    fn generations_sort_numerically() {
        let names: Vec<OsString> = [
            ".ls.switchyard.10.json",
            ".ls.switchyard.9.json",
            ".ls.switchyard.9.bak",
            ".l.switchyard.11.json",
            "ls",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        let files = EngineFiles::index(&names);
        assert_eq!(files.generations(OsStr::new("ls")), vec![9, 10]);
        assert_eq!(files.orphan_backups(OsStr::new("ls")), Vec::<u32>::new());
        assert_eq!(files.generations(OsStr::new("l")), vec![11]);
    }
}
