//! The rules of the scenario format: raw shapes to a typed [`Scenario`], or the first rule broken,
//! at the node that breaks it. Rules are checked key by key (description, filesystems, why,
//! policy, tree, steps), each step in order.

use std::num::NonZeroU64;
use std::path::Path;

use serde_saphyr::{Location, Spanned};
use switchyard::ErrorId;
use switchyard::crash::{CrashPoint, Phase};

use super::entry;
use super::error::{Position, Problem};
use super::model::{
    ApplyMode, ApplyStep, CrashAt, CrashMethod, CrashSpec, Fault, LinkRequest, PolicyOverrides,
    PolicySpec, Preset, PruneStep, RequirementRef, RollbackStep, Scenario, Step,
};
use super::raw::{
    Given, Node, Pairs, RawApply, RawCrash, RawPolicy, RawPrune, RawRollback, RawScenario, RawStep,
    STEP_NAMES, StepBody,
};
use crate::fs_kind::FsKind;

/// Checks every rule of the format; `source` is the file's text, for quoting what it says.
pub(super) fn scenario(
    raw: &RawScenario,
    name: String,
    file: &Path,
    source: &str,
) -> Result<Scenario, Problem> {
    let description = non_empty(&raw.description, "description")?;
    let proves = proves(&raw.proves)?;
    let scope = scope(&raw.filesystems)?;
    let why = why(&raw.why, &scope)?;
    let policy = policy(&raw.policy)?;
    let tree = match &raw.tree.0 {
        Some(pairs) => entry::tree(pairs, source)?,
        None => Default::default(),
    };
    let steps = Steps {
        source,
        scope: &scope,
        faults: Vec::new(),
        applied: false,
    }
    .all(&raw.steps)?;
    Ok(Scenario {
        name,
        file: file.to_path_buf(),
        description,
        proves,
        filesystems: scope.map(|listed| {
            let mut kinds: Vec<FsKind> = listed.kinds.into_iter().map(|(kind, _)| kind).collect();
            kinds.sort();
            kinds
        }),
        why,
        policy,
        tree,
        steps,
    })
}

/// The `proves` list: each id once. Whether an id exists is the traceability check's question.
fn proves(
    raw: &Given<Spanned<Vec<Spanned<String>>>>,
) -> Result<Option<Vec<RequirementRef>>, Problem> {
    let Some(list) = &raw.0 else {
        return Ok(None);
    };
    let mut ids: Vec<RequirementRef> = Vec::new();
    for id in &list.value {
        if ids.iter().any(|seen| seen.id == id.value) {
            return Err(Problem::at(
                &id.referenced,
                format!("requirement `{}` is listed twice in `proves`", id.value),
            ));
        }
        ids.push(RequirementRef {
            id: id.value.clone(),
            position: Position::of(&id.referenced),
        });
    }
    Ok(Some(ids))
}

/// The `filesystems` list as written: `None` when the key is left out.
type Scope = Option<Listed>;

#[derive(Debug)]
struct Listed {
    /// The list.
    at: Location,
    /// Each kind with its location, in the order written.
    kinds: Vec<(FsKind, Location)>,
}

impl Listed {
    fn narrows(&self) -> bool {
        self.kinds.len() < FsKind::ALL.len()
    }
}

fn scope(raw: &Given<Spanned<Vec<Spanned<String>>>>) -> Result<Scope, Problem> {
    let Some(list) = &raw.0 else {
        return Ok(None);
    };
    if list.value.is_empty() {
        return Err(Problem::at(
            &list.referenced,
            "`filesystems` names no filesystem; leave it out to run on every filesystem",
        ));
    }
    let mut kinds: Vec<(FsKind, Location)> = Vec::new();
    for name in &list.value {
        let kind: FsKind = name
            .value
            .parse()
            .map_err(|e| Problem::at(&name.referenced, format!("{e}")))?;
        if kinds.iter().any(|(seen, _)| *seen == kind) {
            return Err(Problem::at(
                &name.referenced,
                format!("filesystem `{kind}` is listed twice"),
            ));
        }
        kinds.push((kind, name.referenced));
    }
    Ok(Some(Listed {
        at: list.referenced,
        kinds,
    }))
}

/// `why` is required exactly when `filesystems` narrows the run below all five.
fn why(raw: &Given<Spanned<String>>, scope: &Scope) -> Result<Option<String>, Problem> {
    match (&raw.0, scope) {
        (Some(why), Some(listed)) if listed.narrows() => non_empty(why, "why").map(Some),
        (Some(why), _) => {
            let instead = match scope {
                None => "this scenario has no `filesystems` and runs on all of them",
                Some(_) => "its `filesystems` lists all of them",
            };
            Err(Problem::at(
                &why.referenced,
                format!(
                    "`why` explains why `filesystems` leaves some out, but {instead}: remove \
                     `why`"
                ),
            ))
        }
        (None, Some(listed)) if listed.narrows() => Err(Problem::at(
            &listed.at,
            "`filesystems` leaves some filesystems out of this scenario: add `why:` saying why \
             (reports show it)",
        )),
        (None, _) => Ok(None),
    }
}

fn policy(node: &Spanned<Node<RawPolicy>>) -> Result<PolicySpec, Problem> {
    match &node.value {
        Node::Text(name) => Ok(PolicySpec {
            preset: preset(name, &node.referenced)?,
            overrides: PolicyOverrides::default(),
        }),
        Node::Map(raw) => Ok(PolicySpec {
            preset: preset(&raw.preset.value, &raw.preset.referenced)?,
            overrides: PolicyOverrides {
                link_style: raw.link_style.0,
                require_lock: raw.require_lock.0,
                require_rescue: raw.require_rescue.0,
                require_smoke: raw.require_smoke.0,
                auto_rollback: raw.auto_rollback.0,
                allow_degraded: raw.allow_degraded.0,
                lock_manager: raw.lock_manager.0,
                lock_timeout_ms: raw.lock_timeout_ms.0,
                smoke_runner: raw.smoke_runner.0,
                smoke_timeout_ms: raw.smoke_timeout_ms.0,
                smoke_args: raw.smoke_args.0.as_deref().map(smoke_args).transpose()?,
                backup_store: raw.backup_store.0,
            },
        }),
        other => Err(Problem::at(
            &node.referenced,
            format!(
                "`policy` is a preset (production or permissive) or a map with `preset` and \
                 overrides, found {}",
                other.describe()
            ),
        )),
    }
}

/// Arguments of the health check's program: each becomes a C string, so none may hold a NUL.
fn smoke_args(args: &[Spanned<String>]) -> Result<Vec<String>, Problem> {
    args.iter()
        .map(|arg| {
            if arg.value.contains('\0') {
                return Err(Problem::at(
                    &arg.referenced,
                    "a `smoke_args` argument must not contain a NUL character: a program's \
                     arguments are C strings",
                ));
            }
            Ok(arg.value.clone())
        })
        .collect()
}

fn preset(name: &str, at: &Location) -> Result<Preset, Problem> {
    Preset::ALL
        .into_iter()
        .find(|preset| preset.as_str() == name)
        .ok_or_else(|| {
            Problem::at(
                at,
                format!("unknown policy preset `{name}` (expected one of: production, permissive)"),
            )
        })
}

/// The steps, in order, with what the earlier ones left in place.
struct Steps<'a> {
    source: &'a str,
    scope: &'a Scope,
    /// Faults injected and not yet cleared.
    faults: Vec<Fault>,
    /// Whether an earlier step applies a plan: rollback and prune need one.
    applied: bool,
}

impl Steps<'_> {
    fn all(mut self, list: &Spanned<Vec<Spanned<Node<RawStep>>>>) -> Result<Vec<Step>, Problem> {
        if list.value.is_empty() {
            return Err(Problem::at(
                &list.referenced,
                "`steps` is empty: a scenario needs at least one step",
            ));
        }
        let last = list.value.len() - 1;
        list.value
            .iter()
            .enumerate()
            .map(|(i, node)| self.step(node, i == last))
            .collect()
    }

    fn step(&mut self, node: &Spanned<Node<RawStep>>, is_last: bool) -> Result<Step, Problem> {
        let expected = STEP_NAMES.join(", ");
        let raw = match &node.value {
            Node::Map(raw) => raw,
            Node::Text(name) if STEP_NAMES.contains(&name.as_str()) => {
                return Err(Problem::at(
                    &node.referenced,
                    format!("a step is a map with one key: write `- {name}: ...`, not `- {name}`"),
                ));
            }
            other => {
                return Err(Problem::at(
                    &node.referenced,
                    format!(
                        "a step is a map with one key (one of: {expected}), found {}",
                        other.describe()
                    ),
                ));
            }
        };
        let Some(key) = &raw.key else {
            return Err(Problem::at(
                &node.referenced,
                format!("empty step: a step is a map with one key (one of: {expected})"),
            ));
        };
        if matches!(raw.body, StepBody::Unknown) {
            return Err(Problem::at(
                &key.referenced,
                format!("unknown step `{}` (expected one of: {expected})", key.value),
            ));
        }
        if let Some(extra) = &raw.extra {
            return Err(Problem::at(
                &extra.referenced,
                format!(
                    "a step has exactly one key, but this one also has `{}` (start each step \
                     with `- `, and indent a step's settings below its key)",
                    extra.value
                ),
            ));
        }
        if matches!(raw.body, StepBody::Rollback(_) | StepBody::Prune(_)) && !self.applied {
            return Err(Problem::at(
                &key.referenced,
                format!(
                    "`{}` needs an earlier `apply` step: before one, there is no plan to act on",
                    key.value
                ),
            ));
        }
        match &raw.body {
            StepBody::Apply(body) => {
                self.applied = true;
                self.apply(body, key, is_last).map(Step::Apply)
            }
            StepBody::Rollback(body) => self.rollback(body, is_last).map(Step::Rollback),
            StepBody::Check(body) => {
                let pairs = paths(body, key)?;
                entry::check(pairs, self.source).map(Step::Check)
            }
            StepBody::Write(body) => {
                let pairs = paths(body, key)?;
                entry::write(pairs, self.source).map(Step::Write)
            }
            StepBody::Fault(body) => {
                let fault = fault(body, key)?;
                if self.faults.contains(&fault) {
                    return Err(Problem::at(
                        &body.referenced,
                        format!("fault `{fault}` is already in place (undo it with `clear`)"),
                    ));
                }
                self.faults.push(fault.clone());
                Ok(Step::Fault(fault))
            }
            StepBody::Clear(body) => {
                let fault = fault(body, key)?;
                let Some(i) = self.faults.iter().position(|f| *f == fault) else {
                    return Err(Problem::at(
                        &body.referenced,
                        format!("nothing to clear: no earlier step injects fault `{fault}`"),
                    ));
                };
                self.faults.remove(i);
                Ok(Step::Clear(fault))
            }
            StepBody::Prune(body) => prune(body).map(Step::Prune),
            StepBody::Unknown => unreachable!("rejected above"),
        }
    }

    fn apply(
        &self,
        body: &Spanned<Node<RawApply>>,
        key: &Spanned<String>,
        is_last: bool,
    ) -> Result<ApplyStep, Problem> {
        let raw = match &body.value {
            Node::Map(raw) => raw,
            Node::Null => {
                return Err(Problem::at(
                    &key.referenced,
                    "`apply` needs `link` and/or `restore` requests, indented below it",
                ));
            }
            other => {
                return Err(Problem::at(
                    &body.referenced,
                    format!(
                        "`apply` is a map with `link` and/or `restore`, found {}",
                        other.describe()
                    ),
                ));
            }
        };
        let link: Vec<LinkRequest> = raw
            .link
            .0
            .iter()
            .flatten()
            .map(|request| LinkRequest {
                source: request.source.clone(),
                target: request.target.clone(),
            })
            .collect();
        let restore = raw.restore.0.clone().unwrap_or_default();
        if link.is_empty() && restore.is_empty() {
            return Err(Problem::at(
                &body.referenced,
                "`apply` needs at least one `link` or `restore` request",
            ));
        }
        let mode = raw.mode.0.as_ref().map_or(ApplyMode::Commit, |m| m.value);
        let expect = expect(&raw.expect)?;
        let crash = match &raw.crash.0 {
            Some(crash) => {
                let spec = self.crash(crash, Phase::Apply, is_last)?;
                if let Some(Spanned {
                    value: ApplyMode::DryRun,
                    referenced,
                    ..
                }) = &raw.mode.0
                {
                    return Err(Problem::at(
                        referenced,
                        "crash trials need `mode: commit`: a dry run reaches no crash point",
                    ));
                }
                Some(spec)
            }
            None => None,
        };
        Ok(ApplyStep {
            link,
            restore,
            mode,
            expect,
            crash,
        })
    }

    fn rollback(
        &self,
        body: &Spanned<Node<RawRollback>>,
        is_last: bool,
    ) -> Result<RollbackStep, Problem> {
        let raw = match &body.value {
            Node::Map(raw) => raw,
            // `rollback:` with nothing after it is the same as `rollback: {}`.
            Node::Null => return Ok(RollbackStep::default()),
            other => {
                return Err(Problem::at(
                    &body.referenced,
                    format!(
                        "`rollback` is a map (`rollback: {{}}` for the defaults), found {}",
                        other.describe()
                    ),
                ));
            }
        };
        let expect = expect(&raw.expect)?;
        let crash = match &raw.crash.0 {
            Some(crash) => Some(self.crash(crash, Phase::Rollback, is_last)?),
            None => None,
        };
        Ok(RollbackStep {
            expect,
            force: raw.force.0.unwrap_or(false),
            crash,
        })
    }

    fn crash(
        &self,
        node: &Spanned<Node<RawCrash>>,
        phase: Phase,
        is_last: bool,
    ) -> Result<CrashSpec, Problem> {
        if !is_last {
            return Err(Problem::at(
                &node.referenced,
                "`crash` is only allowed in the last step: a crash trial ends the scenario",
            ));
        }
        let raw = match &node.value {
            Node::Map(raw) => raw,
            other => {
                return Err(Problem::at(
                    &node.referenced,
                    format!(
                        "`crash` is a map with `at` and `how`, found {}",
                        other.describe()
                    ),
                ));
            }
        };
        let phase_points: Vec<&str> = CrashPoint::of_phase(phase).map(CrashPoint::name).collect();
        let phase_points = phase_points.join(", ");
        let at = match &raw.at.value {
            Node::Text(every) if every == "every" => CrashAt::Every,
            Node::Seq(names) => {
                if names.is_empty() {
                    return Err(Problem::at(
                        &raw.at.referenced,
                        "`at` lists no crash point; write `at: every` for all of them",
                    ));
                }
                let mut points = Vec::new();
                for name in names {
                    let point: CrashPoint = name.value.parse().map_err(|_| {
                        Problem::at(
                            &name.referenced,
                            format!(
                                "unknown crash point `{}` (expected one of: {phase_points})",
                                name.value
                            ),
                        )
                    })?;
                    if point.phase() != phase {
                        return Err(Problem::at(
                            &name.referenced,
                            format!(
                                "crash point `{point}` belongs to {}, but this `crash` is in \
                                 step `{}` (expected one of: {phase_points})",
                                phase_name(point.phase()),
                                phase_name(phase)
                            ),
                        ));
                    }
                    if points.contains(&point) {
                        return Err(Problem::at(
                            &name.referenced,
                            format!("crash point `{point}` is listed twice"),
                        ));
                    }
                    points.push(point);
                }
                CrashAt::Points(points)
            }
            other => {
                return Err(Problem::at(
                    &raw.at.referenced,
                    format!(
                        "`at` is `every` or a list of crash point names, found {}",
                        other.describe()
                    ),
                ));
            }
        };
        if raw.how.value.is_empty() {
            return Err(Problem::at(
                &raw.how.referenced,
                "`how` names no crash method (expected one or more of: kill, power_cut, recorded)",
            ));
        }
        let mut how = Vec::new();
        for method in &raw.how.value {
            if how.contains(&method.value) {
                return Err(Problem::at(
                    &method.referenced,
                    format!("crash method `{}` is listed twice", method.value.as_str()),
                ));
            }
            self.method_possible(method.value, &method.referenced)?;
            how.push(method.value);
        }
        Ok(CrashSpec { phase, at, how })
    }

    /// `power_cut` shuts the filesystem down with `FS_IOC_SHUTDOWN`, which not every kind has;
    /// `recorded` records a block device, which only the block filesystems have.
    fn method_possible(&self, method: CrashMethod, at: &Location) -> Result<(), Problem> {
        let (can, needs): (fn(FsKind) -> bool, &str) = match method {
            CrashMethod::Kill => return Ok(()),
            CrashMethod::PowerCut => (FsKind::supports_shutdown, "FS_IOC_SHUTDOWN, which is"),
            CrashMethod::Recorded => (
                FsKind::is_block,
                "a block device of the filesystem's own (tmpfs has none; overlay writes \
                 through to another filesystem), which is",
            ),
        };
        let name = method.as_str();
        let capable: Vec<&str> = FsKind::ALL
            .into_iter()
            .filter(|kind| can(*kind))
            .map(FsKind::as_str)
            .collect();
        let listed = capable.join(", ");
        let capable = match capable.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => listed.clone(),
        };
        match self.scope {
            None => Err(Problem::at(
                at,
                format!(
                    "`{name}` needs {needs} only on {capable}, but this scenario runs on every \
                     filesystem: narrow it with `filesystems: [{listed}]` and a `why`"
                ),
            )),
            Some(scope) => match scope.kinds.iter().find(|(kind, _)| !can(*kind)) {
                Some((kind, listed_at)) => Err(Problem::at(
                    listed_at,
                    format!(
                        "`{kind}` cannot run the `{name}` crash trials of this scenario: \
                         {name} needs {needs} only on {capable}"
                    ),
                )),
                None => Ok(()),
            },
        }
    }
}

/// The path map of a `check` or `write` step: at least one path.
fn paths<'n, V>(
    body: &'n Spanned<Node<Pairs<V>>>,
    key: &Spanned<String>,
) -> Result<&'n Pairs<V>, Problem> {
    match &body.value {
        Node::Map(pairs) if !pairs.0.is_empty() => Ok(pairs),
        Node::Map(_) | Node::Null => Err(Problem::at(
            &key.referenced,
            format!("`{}` names no path", key.value),
        )),
        other => Err(Problem::at(
            &body.referenced,
            format!(
                "`{}` is a map of paths to entries, found {}",
                key.value,
                other.describe()
            ),
        )),
    }
}

fn fault(
    body: &Spanned<Node<Pairs<Spanned<String>>>>,
    key: &Spanned<String>,
) -> Result<Fault, Problem> {
    let expected = format!("{}, {{ immutable: PATH }}", Fault::NAMES.join(", "));
    match &body.value {
        Node::Text(name) => match name.as_str() {
            "fill" => Ok(Fault::Fill),
            "read_only" => Ok(Fault::ReadOnly),
            "hold_lock" => Ok(Fault::HoldLock),
            "no_exchange" => Ok(Fault::NoExchange),
            "no_tmpfile" => Ok(Fault::NoTmpfile),
            "immutable" => Err(Problem::at(
                &body.referenced,
                format!(
                    "`immutable` needs a path: `{}: {{ immutable: usr/bin/ls }}`",
                    key.value
                ),
            )),
            _ => Err(Problem::at(
                &body.referenced,
                format!("unknown fault `{name}` (expected one of: {expected})"),
            )),
        },
        Node::Map(pairs) => {
            let mut keys = pairs.0.iter();
            match (keys.next(), keys.next()) {
                (None, _) => Err(Problem::at(
                    &body.referenced,
                    format!("empty fault (expected one of: {expected})"),
                )),
                (Some((name, _)), _) if name.value != "immutable" => Err(Problem::at(
                    &name.referenced,
                    format!(
                        "unknown fault `{}` (expected one of: {expected})",
                        name.value
                    ),
                )),
                (Some(_), Some((extra, _))) => Err(Problem::at(
                    &extra.referenced,
                    format!(
                        "a fault has exactly one key, but this one also has `{}`",
                        extra.value
                    ),
                )),
                (Some((_, path)), None) => entry::path(path).map(Fault::Immutable),
            }
        }
        other => Err(Problem::at(
            &body.referenced,
            format!(
                "`{}` names a fault (one of: {expected}), found {}",
                key.value,
                other.describe()
            ),
        )),
    }
}

fn prune(body: &Spanned<Node<RawPrune>>) -> Result<PruneStep, Problem> {
    let raw = match &body.value {
        Node::Map(raw) => raw,
        other => {
            return Err(Problem::at(
                &body.referenced,
                format!("`prune` is a map with `keep`, found {}", other.describe()),
            ));
        }
    };
    let keep = NonZeroU64::new(raw.keep.value).ok_or_else(|| {
        Problem::at(
            &raw.keep.referenced,
            "`keep` must be at least 1: pruning never removes the newest backup",
        )
    })?;
    Ok(PruneStep {
        keep,
        expect: expect(&raw.expect)?,
    })
}

fn expect(raw: &Given<Spanned<String>>) -> Result<Option<ErrorId>, Problem> {
    let Some(id) = &raw.0 else {
        return Ok(None);
    };
    id.value.parse().map(Some).map_err(|_| {
        let known: Vec<&str> = ErrorId::ALL.into_iter().map(ErrorId::as_str).collect();
        Problem::at(
            &id.referenced,
            format!(
                "unknown error id `{}` (expected one of: {})",
                id.value,
                known.join(", ")
            ),
        )
    })
}

fn non_empty(text: &Spanned<String>, key: &str) -> Result<String, Problem> {
    if text.value.trim().is_empty() {
        return Err(Problem::at(
            &text.referenced,
            format!("`{key}` must not be empty"),
        ));
    }
    Ok(text.value.clone())
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Apply => "apply",
        Phase::Rollback => "rollback",
    }
}
