//! Plans recorded on disk, so that a later process can roll back or report a plan by its id
//! without being given the targets again.
//!
//! Each committed plan is written to `var/lib/switchyard/plans/<plan id>.json` inside its root
//! before any swap of the commit, with the sidecars' guarantees: the directories are resolved
//! inside the root, the record is written under a temporary name, synced, renamed into place,
//! and its directory synced. A record is only a list of requests and its place in the order
//! of commits; the sidecars beside the targets stay the truth about what was swapped.
//!
//! Records are ordered by a sequence number, one more than the highest recorded, given when a
//! record is saved (under the root's lock): the order `rollback --all` undoes them in, which
//! no clock stepping back can change. A damaged record is reported on its own, by the plan id
//! its file name carries, and blocks only what needs it.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Step};
use crate::path::SafePath;
use crate::plan::{ActionKind, LinkRequest, Plan, Request, RestoreRequest};
use crate::sys;
use crate::tree::{Root, SyncSet};

/// The plan record schema this engine writes and reads (2: with `sequence`).
pub const PLAN_RECORD_SCHEMA: u32 = 2;

/// Where plan records live, relative to the root.
pub const PLANS_DIR: &str = "var/lib/switchyard/plans";

/// A plan as data: its id and its requests, relative to the root it was recorded in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRecord {
    pub schema_version: u32,
    pub plan_id: Uuid,
    /// The record's place among the root's records: a later commit has a higher one. The
    /// order `rollback --all` undoes in.
    pub sequence: u64,
    /// When the plan was last recorded (RFC 3339, UTC), for people; not an order.
    pub recorded_at: String,
    pub requests: Vec<RecordedRequest>,
}

/// A record's schema version alone, read first so that a record of another schema is refused
/// as such rather than as malformed.
#[derive(Deserialize)]
struct Schema {
    schema_version: u32,
}

/// The records of a root.
#[derive(Debug, Default)]
pub struct Records {
    /// The readable ones, in commit order (oldest first).
    pub records: Vec<PlanRecord>,
    /// The damaged or unreadable ones, by the plan id their file name carries.
    pub unreadable: Vec<(Uuid, Error)>,
}

/// One request of a recorded plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum RecordedRequest {
    Link { source: PathBuf, target: PathBuf },
    Restore { target: PathBuf },
}

impl Plan {
    /// The plan as a record at `sequence`, stamped with the current time.
    pub fn record(&self, sequence: u64) -> PlanRecord {
        let requests = self
            .actions()
            .iter()
            .map(|action| match action.kind() {
                ActionKind::Link { source } => RecordedRequest::Link {
                    source: source.clone(),
                    target: action.target().rel().to_owned(),
                },
                ActionKind::Restore => RecordedRequest::Restore {
                    target: action.target().rel().to_owned(),
                },
            })
            .collect();
        PlanRecord {
            schema_version: PLAN_RECORD_SCHEMA,
            plan_id: self.id(),
            sequence,
            recorded_at: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            requests,
        }
    }

    /// Rebuilds a recorded plan over `root`. The ids are content-derived, so a record whose
    /// requests do not give its id back was altered, and is refused.
    pub fn from_record(root: &Path, record: &PlanRecord) -> Result<Plan, Error> {
        let bad = |reason: String| Error::BadPlanRecord {
            record: record.plan_id.to_string(),
            reason,
        };
        if record.schema_version != PLAN_RECORD_SCHEMA {
            return Err(bad(format!(
                "schema version {} (this engine reads {PLAN_RECORD_SCHEMA})",
                record.schema_version
            )));
        }
        let requests = record
            .requests
            .iter()
            .map(|r| {
                Ok(match r {
                    RecordedRequest::Link { source, target } => Request::Link(LinkRequest {
                        source: SafePath::new(root, source)?,
                        target: SafePath::new(root, target)?,
                    }),
                    RecordedRequest::Restore { target } => Request::Restore(RestoreRequest {
                        target: SafePath::new(root, target)?,
                    }),
                })
            })
            .collect::<Result<Vec<_>, Error>>()
            .map_err(|e| bad(e.to_string()))?;
        let plan = Plan::new(requests).map_err(|e| bad(e.to_string()))?;
        if plan.id() != record.plan_id {
            return Err(bad(format!(
                "its requests make plan {}, not the id it is recorded under",
                plan.id()
            )));
        }
        Ok(plan)
    }
}

/// The plan records of one root.
#[derive(Clone, Debug)]
pub struct PlanStore {
    root: PathBuf,
}

impl PlanStore {
    pub fn new(root: impl Into<PathBuf>) -> PlanStore {
        PlanStore { root: root.into() }
    }

    /// Records `plan` durably as the newest of the root's records (replacing an earlier record
    /// of the same plan, which moves it to the end). Call holding the root's lock, once the
    /// commit passed preflight and before its first change, so a crash mid-commit leaves it
    /// findable and in its place.
    pub fn save(&self, plan: &Plan) -> Result<PlanRecord, Error> {
        let newest = self.list()?.records.last().map_or(0, |r| r.sequence);
        let record = plan.record(newest + 1);
        self.put(&record)?;
        Ok(record)
    }

    /// Writes `record` durably as it is (replacing one of the same plan): to put back the
    /// record a failed commit replaced.
    pub fn put(&self, record: &PlanRecord) -> Result<(), Error> {
        let io = |source| Error::Io {
            target: PLANS_DIR.to_owned(),
            step: Step::WritePlanRecord,
            source,
        };
        let mut root = Root::open(&self.root)?;
        let mut sync = SyncSet::default();
        let dir = root
            .dir_creating(Path::new(PLANS_DIR), &mut sync)
            .map_err(io)?;
        let name = file_name(record.plan_id);
        let mut temp = name.clone();
        temp.push(".tmp");
        let mut json = serde_json::to_vec_pretty(record).map_err(|e| io(io::Error::other(e)))?;
        json.push(b'\n');
        // A temporary left by an earlier save of this plan that died is the engine's; a file of
        // anyone else's under that name stays, and the save fails naming it.
        if sys::lstat_at(dir.fd(), &temp).map_err(io)?.is_some() {
            if !is_stale_temp_of(&dir, &temp, record.plan_id) {
                return Err(Error::ForeignFile {
                    path: format!("{PLANS_DIR}/{}", temp.to_string_lossy()),
                    in_store: false,
                });
            }
            sys::unlink_at(dir.fd(), &temp).map_err(io)?;
        }
        let mut file = sys::create_new(dir.fd(), &temp).map_err(io)?;
        let written = file
            .write_all(&json)
            .and_then(|()| file.sync_all())
            .and_then(|()| sys::rename_replace(dir.fd(), &temp, dir.fd(), &name));
        if let Err(e) = written {
            // Created exclusively above: the temporary is this save's own.
            let _ = sys::unlink_if_exists(dir.fd(), &temp);
            return Err(io(e));
        }
        sync.add(&dir);
        sync.sync_dirs()?;
        Ok(())
    }

    /// Removes the record of plan `id` durably; a record that is not there is fine. For a
    /// plan nothing of which is left to roll back or tidy; call holding the root's lock.
    pub fn remove(&self, id: Uuid) -> Result<(), Error> {
        let Some(dir) = self.open_dir()? else {
            return Ok(());
        };
        let io = |source| Error::Io {
            target: shown(id),
            step: Step::WritePlanRecord,
            source,
        };
        if sys::unlink_if_exists(dir.fd(), &file_name(id)).map_err(io)? {
            sys::fsync(dir.fd()).map_err(io)?;
        }
        Ok(())
    }

    /// Every record, the readable ones in commit order. A root with no records has none; a
    /// damaged record is listed apart, so it hides no other.
    pub fn list(&self) -> Result<Records, Error> {
        let mut listed = Records::default();
        let Some(dir) = self.open_dir()? else {
            return Ok(listed);
        };
        for id in self.ids(&dir)? {
            match self.read(&dir, id) {
                Ok(record) => listed.records.push(record),
                Err(e) => listed.unreadable.push((id, e)),
            }
        }
        listed.records.sort_by_key(|r| (r.sequence, r.plan_id));
        Ok(listed)
    }

    /// The record of plan `id`, if there is one.
    pub fn get(&self, id: Uuid) -> Result<Option<PlanRecord>, Error> {
        let Some(dir) = self.open_dir()? else {
            return Ok(None);
        };
        if !self.ids(&dir)?.contains(&id) {
            return Ok(None);
        }
        self.read(&dir, id).map(Some)
    }

    /// The recorded plan whose id is, or starts with, `request` (at least one character).
    /// Matched on the records' file names; only the match is read, so another damaged record
    /// is no obstacle.
    pub fn find(&self, request: &str) -> Result<PlanRecord, Error> {
        let unknown = || Error::UnknownPlan {
            request: request.to_owned(),
        };
        let wanted = request.to_ascii_lowercase();
        let Some(dir) = self.open_dir()? else {
            return Err(unknown());
        };
        let found: Vec<Uuid> = self
            .ids(&dir)?
            .into_iter()
            .filter(|id| !wanted.is_empty() && id.to_string().starts_with(&wanted))
            .collect();
        match found[..] {
            [] => Err(unknown()),
            [id] => self.read(&dir, id),
            _ => Err(Error::AmbiguousPlan {
                request: request.to_owned(),
                matches: found
                    .iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The plan of a record, over this store's root.
    pub fn plan(&self, record: &PlanRecord) -> Result<Plan, Error> {
        Plan::from_record(&self.root, record)
    }

    fn open_dir(&self) -> Result<Option<std::rc::Rc<crate::tree::Dir>>, Error> {
        let mut root = Root::open(&self.root)?;
        match root.dir(Path::new(PLANS_DIR)) {
            Ok(dir) => Ok(Some(dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(read_err(PLANS_DIR)(e)),
        }
    }

    /// The plan ids the record files of `dir` are named by, sorted.
    fn ids(&self, dir: &crate::tree::Dir) -> Result<Vec<Uuid>, Error> {
        let names = sys::read_dir_names(dir.fd()).map_err(read_err(PLANS_DIR))?;
        let mut ids: Vec<Uuid> = names.iter().filter_map(|name| record_id(name)).collect();
        ids.sort();
        Ok(ids)
    }

    fn read(&self, dir: &crate::tree::Dir, id: Uuid) -> Result<PlanRecord, Error> {
        let shown = shown(id);
        let mut text = String::new();
        sys::open_read(dir.fd(), &file_name(id))
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(read_err(&shown))?;
        let bad = |reason: String| Error::BadPlanRecord {
            record: shown.clone(),
            reason,
        };
        let schema: Schema = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if schema.schema_version != PLAN_RECORD_SCHEMA {
            return Err(bad(format!(
                "schema version {} (this engine reads {PLAN_RECORD_SCHEMA})",
                schema.schema_version
            )));
        }
        let record: PlanRecord = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if record.plan_id != id {
            return Err(bad(format!("it holds plan {}", record.plan_id)));
        }
        Ok(record)
    }
}

/// A record's path as messages name it.
fn shown(id: Uuid) -> String {
    format!("{PLANS_DIR}/{}", file_name(id).to_string_lossy())
}

fn read_err(target: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        target: target.to_owned(),
        step: Step::ReadPlanRecord,
        source,
    }
}

/// Whether `dir/name` is what a save of plan `id` that died leaves under its temporary name: a
/// record of that plan, or an empty file (a crash between the create and the write's reaching
/// the disk).
fn is_stale_temp_of(dir: &crate::tree::Dir, name: &OsStr, id: Uuid) -> bool {
    let mut text = String::new();
    sys::open_read(dir.fd(), name)
        .and_then(|mut f| f.read_to_string(&mut text))
        .is_ok_and(|_| {
            text.is_empty()
                || serde_json::from_str::<PlanRecord>(&text).is_ok_and(|r| r.plan_id == id)
        })
}

fn file_name(id: Uuid) -> OsString {
    OsString::from(format!("{id}.json"))
}

/// The plan id a record's file name carries; `None` for temporaries and strangers.
fn record_id(name: &OsStr) -> Option<Uuid> {
    name.to_str()?.strip_suffix(".json")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(root: &str) -> Plan {
        Plan::new([
            Request::Link(LinkRequest {
                source: SafePath::new(root, "opt/ls").unwrap(),
                target: SafePath::new(root, "usr/bin/ls").unwrap(),
            }),
            Request::Restore(RestoreRequest {
                target: SafePath::new(root, "usr/bin/cat").unwrap(),
            }),
        ])
        .unwrap()
    }

    #[test]
    fn a_record_gives_its_plan_back_over_any_root() {
        let record = plan("/a").record(1);
        let text = serde_json::to_string(&record).unwrap();
        let read: PlanRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(
            Plan::from_record(Path::new("/b"), &read).unwrap(),
            plan("/b")
        );
    }

    #[test]
    fn an_altered_record_is_refused() {
        let mut record = plan("/a").record(1);
        record.requests.pop();
        let err = Plan::from_record(Path::new("/a"), &record).unwrap_err();
        assert!(matches!(err, Error::BadPlanRecord { .. }), "{err}");

        let mut escaping = plan("/a").record(1);
        escaping.requests[0] = RecordedRequest::Restore {
            target: PathBuf::from("../etc/passwd"),
        };
        assert!(matches!(
            Plan::from_record(Path::new("/a"), &escaping),
            Err(Error::BadPlanRecord { .. })
        ));
    }

    #[test]
    fn record_names_parse_back() {
        let id = plan("/a").id();
        assert_eq!(record_id(&file_name(id)), Some(id));
        assert_eq!(record_id(OsStr::new(&format!("{id}.json.tmp"))), None);
        assert_eq!(record_id(OsStr::new("notes.json")), None);
    }
}
