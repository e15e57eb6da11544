//! Plans recorded on disk, so that a later process can roll back or report a plan by its id
//! without being given the targets again.
//!
//! Each committed plan is written to `var/lib/switchyard/plans/<plan id>.json` inside its root
//! before any swap of the commit, with the sidecars' guarantees: the directories are resolved
//! inside the root, the record is written under a temporary name, synced, renamed into place,
//! and its directory synced. A record is only a list of requests; the sidecars beside the
//! targets stay the truth about what was swapped.

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

/// The plan record schema this engine writes and reads.
pub const PLAN_RECORD_SCHEMA: u32 = 1;

/// Where plan records live, relative to the root.
pub const PLANS_DIR: &str = "var/lib/switchyard/plans";

/// A plan as data: its id and its requests, relative to the root it was recorded in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRecord {
    pub schema_version: u32,
    pub plan_id: Uuid,
    /// When the plan was last recorded (RFC 3339, UTC): the order `rollback --all` undoes in.
    pub recorded_at: String,
    pub requests: Vec<RecordedRequest>,
}

/// One request of a recorded plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum RecordedRequest {
    Link { source: PathBuf, target: PathBuf },
    Restore { target: PathBuf },
}

impl Plan {
    /// The plan as a record, stamped with the current time.
    pub fn record(&self) -> PlanRecord {
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

    /// Records `plan` durably (replacing an earlier record of the same plan, which refreshes
    /// its time). Call before committing the plan, so a crash mid-commit leaves it findable.
    pub fn save(&self, plan: &Plan) -> Result<PlanRecord, Error> {
        let record = plan.record();
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
        let mut json = serde_json::to_vec_pretty(&record).map_err(|e| io(io::Error::other(e)))?;
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
        Ok(record)
    }

    /// Every recorded plan, oldest first. A root with no records has none.
    pub fn list(&self) -> Result<Vec<PlanRecord>, Error> {
        let Some(dir) = self.open_dir()? else {
            return Ok(Vec::new());
        };
        let names = sys::read_dir_names(dir.fd()).map_err(read_err(PLANS_DIR))?;
        let mut records = Vec::new();
        for name in names {
            let Some(id) = record_id(&name) else {
                continue;
            };
            records.push(self.read(&dir, id)?);
        }
        records.sort_by(|a, b| (&a.recorded_at, a.plan_id).cmp(&(&b.recorded_at, b.plan_id)));
        Ok(records)
    }

    /// The recorded plan whose id is, or starts with, `request` (at least one character).
    pub fn find(&self, request: &str) -> Result<PlanRecord, Error> {
        let wanted = request.to_ascii_lowercase();
        let mut found: Vec<PlanRecord> = self
            .list()?
            .into_iter()
            .filter(|r| !wanted.is_empty() && r.plan_id.to_string().starts_with(&wanted))
            .collect();
        match found.len() {
            0 => Err(Error::UnknownPlan {
                request: request.to_owned(),
            }),
            1 => Ok(found.remove(0)),
            _ => Err(Error::AmbiguousPlan {
                request: request.to_owned(),
                matches: found
                    .iter()
                    .map(|r| r.plan_id.to_string())
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

    fn read(&self, dir: &crate::tree::Dir, id: Uuid) -> Result<PlanRecord, Error> {
        let name = file_name(id);
        let shown = format!("{PLANS_DIR}/{}", name.to_string_lossy());
        let mut text = String::new();
        sys::open_read(dir.fd(), &name)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(read_err(&shown))?;
        let record: PlanRecord = serde_json::from_str(&text).map_err(|e| Error::BadPlanRecord {
            record: shown.clone(),
            reason: e.to_string(),
        })?;
        if record.plan_id != id {
            return Err(Error::BadPlanRecord {
                record: shown,
                reason: format!("it holds plan {}", record.plan_id),
            });
        }
        Ok(record)
    }
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
        let record = plan("/a").record();
        let text = serde_json::to_string(&record).unwrap();
        let read: PlanRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(
            Plan::from_record(Path::new("/b"), &read).unwrap(),
            plan("/b")
        );
    }

    #[test]
    fn an_altered_record_is_refused() {
        let mut record = plan("/a").record();
        record.requests.pop();
        let err = Plan::from_record(Path::new("/a"), &record).unwrap_err();
        assert!(matches!(err, Error::BadPlanRecord { .. }), "{err}");

        let mut escaping = plan("/a").record();
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
