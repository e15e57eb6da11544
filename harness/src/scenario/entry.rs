//! Entries of `tree`, `check` and `write`, and the paths that name them.

use std::collections::BTreeMap;

use serde_saphyr::{Location, Spanned};

use super::error::Problem;
use super::model::{CheckEntry, Entry, EntryKind, Mode, Owner, PartialEntry, WriteEntry};
use super::raw::{EntryNode, Node, Pairs, RawEntry};

/// The longest name of one path component (`NAME_MAX`) and of an xattr name (`XATTR_NAME_MAX`).
pub(super) const NAME_MAX: usize = 255;
/// The longest path a system call takes, and so the longest symlink destination: `PATH_MAX`
/// (4096) less its terminating NUL.
const PATH_MAX_BYTES: usize = 4095;
/// The largest xattr value the kernel stores (`XATTR_SIZE_MAX`).
const XATTR_SIZE_MAX: usize = 65536;

/// The starting tree: every entry complete, no `absent`.
pub(super) fn tree(
    pairs: &Pairs<EntryNode>,
    source: &str,
) -> Result<BTreeMap<String, Entry>, Problem> {
    let mut tree = BTreeMap::new();
    let mut order = Vec::new();
    for (key, node) in &pairs.0 {
        let path = path(key)?;
        let entry = match form(key, node, source)? {
            Form::Absent => {
                return Err(Problem::at(
                    &node.referenced,
                    "`absent` is not allowed in `tree`: leave the path out",
                ));
            }
            Form::Entry(partial) => complete(partial, "tree", node)?,
        };
        order.push((path.clone(), key.referenced));
        tree.insert(path, entry);
    }
    parents_are_dirs(&order, |ancestor| match tree.get(ancestor) {
        None
        | Some(Entry {
            kind: EntryKind::Dir,
            ..
        }) => None,
        Some(Entry { kind, .. }) => Some(format!(
            "which the tree makes a {}, not a directory",
            kind_name(kind)
        )),
    })?;
    Ok(tree)
}

/// A `write` step: complete entries to put in place, or `absent` to remove.
pub(super) fn write(
    pairs: &Pairs<EntryNode>,
    source: &str,
) -> Result<BTreeMap<String, WriteEntry>, Problem> {
    let mut changes = BTreeMap::new();
    let mut order = Vec::new();
    for (key, node) in &pairs.0 {
        let path = path(key)?;
        let change = match form(key, node, source)? {
            Form::Absent => WriteEntry::Remove,
            Form::Entry(partial) => WriteEntry::Put(complete(partial, "write", node)?),
        };
        order.push((path.clone(), key.referenced));
        changes.insert(path, change);
    }
    parents_are_dirs(&order, |ancestor| match changes.get(ancestor) {
        None
        | Some(WriteEntry::Put(Entry {
            kind: EntryKind::Dir,
            ..
        })) => None,
        Some(WriteEntry::Put(Entry { kind, .. })) => Some(format!(
            "which this step makes a {}, not a directory",
            kind_name(kind)
        )),
        Some(WriteEntry::Remove) => Some("which this step removes".to_owned()),
    })?;
    Ok(changes)
}

/// A `check` step: `absent`, or the properties to compare.
pub(super) fn check(
    pairs: &Pairs<EntryNode>,
    source: &str,
) -> Result<BTreeMap<String, CheckEntry>, Problem> {
    let mut checks = BTreeMap::new();
    for (key, node) in &pairs.0 {
        let path = path(key)?;
        let check = match form(key, node, source)? {
            Form::Absent => CheckEntry::Absent,
            Form::Entry(partial) if partial == PartialEntry::default() => {
                return Err(Problem::at(
                    &node.referenced,
                    "this check compares nothing: name `file`, `symlink`, `dir`, `mode`, \
                     `owner` or `xattrs`, or write `absent`",
                ));
            }
            Form::Entry(partial) => CheckEntry::Present(partial),
        };
        checks.insert(path, check);
    }
    Ok(checks)
}

/// A path below the scenario root, as `tree`, `check`, `write` and `fault: { immutable }` name
/// them: relative, no `.`, `..` or empty component, no trailing slash.
pub(super) fn path(text: &Spanned<String>) -> Result<String, Problem> {
    let path = &text.value;
    let reject = |why: &str| {
        Err(Problem::at(
            &text.referenced,
            format!("path `{path}` {why}"),
        ))
    };
    if path.is_empty() {
        return Err(Problem::at(&text.referenced, "empty path"));
    }
    if path.starts_with('/') {
        return reject("must be relative to the scenario root (no leading `/`)");
    }
    if path.ends_with('/') {
        return reject("must not end with `/`");
    }
    if path.contains('\0') {
        return reject("must not contain a NUL character");
    }
    if path.len() > PATH_MAX_BYTES {
        return reject(
            "is longer than 4095 bytes, the longest path a system call takes (PATH_MAX)",
        );
    }
    for component in path.split('/') {
        match component {
            "" => return reject("has an empty component (`//`)"),
            "." => return reject("must not contain a `.` component"),
            ".." => return reject("must not contain `..`: it must stay below the scenario root"),
            long if long.len() > NAME_MAX => {
                return reject("has a component longer than 255 bytes");
            }
            _ => {}
        }
    }
    Ok(path.clone())
}

enum Form {
    Absent,
    Entry(PartialEntry),
}

/// The entry at `key`, whatever the place: `absent`, or a map whose properties are all valid.
fn form(key: &Spanned<String>, node: &EntryNode, source: &str) -> Result<Form, Problem> {
    match &node.value {
        Node::Text(word) if word == "absent" => Ok(Form::Absent),
        Node::Map(raw) => properties(raw, source).map(Form::Entry),
        // A null has no node of its own to point at; its key does.
        Node::Null => Err(Problem::at(
            &key.referenced,
            format!(
                "`{}` has no entry: write a map such as `{{ file: \"...\" }}`, or `absent`",
                key.value
            ),
        )),
        other => Err(Problem::at(
            &node.referenced,
            format!(
                "expected an entry (a map such as `{{ file: \"...\" }}`) or `absent`, found {}",
                other.describe()
            ),
        )),
    }
}

fn properties(raw: &RawEntry, source: &str) -> Result<PartialEntry, Problem> {
    let mut kinds: Vec<(&str, &Location, EntryKind)> = Vec::new();
    if let Some(content) = &raw.file.0 {
        kinds.push((
            "file",
            &content.referenced,
            EntryKind::File {
                content: content.value.clone(),
            },
        ));
    }
    if let Some(destination) = &raw.symlink.0 {
        if destination.value.is_empty() || destination.value.contains('\0') {
            return Err(Problem::at(
                &destination.referenced,
                "a symlink destination must be non-empty text without NUL characters",
            ));
        }
        if destination.value.len() > PATH_MAX_BYTES {
            return Err(Problem::at(
                &destination.referenced,
                format!(
                    "a symlink destination is {} bytes long, more than {PATH_MAX_BYTES}, the most \
                     a symlink holds (PATH_MAX less its NUL)",
                    destination.value.len()
                ),
            ));
        }
        kinds.push((
            "symlink",
            &destination.referenced,
            EntryKind::Symlink {
                destination: destination.value.clone(),
            },
        ));
    }
    if let Some(dir) = &raw.dir.0 {
        match &dir.value {
            Node::Map(contents) if contents.0.is_empty() => {}
            Node::Map(_) => {
                return Err(Problem::at(
                    &dir.referenced,
                    "`dir` takes an empty map, `dir: {}`: what lies inside a directory is \
                     written as entries of its own",
                ));
            }
            other => {
                return Err(Problem::at(
                    &dir.referenced,
                    format!(
                        "`dir` takes an empty map, `dir: {{}}`, found {}",
                        other.describe()
                    ),
                ));
            }
        }
        kinds.push(("dir", &dir.referenced, EntryKind::Dir));
    }
    if kinds.len() > 1 {
        kinds.sort_by_key(|(_, at, _)| (at.line(), at.column()));
        let (first, (second, at, _)) = (kinds[0].0, &kinds[1]);
        return Err(Problem::at(
            at,
            format!(
                "an entry is one of `file`, `symlink` or `dir`, but this one has both `{first}` \
                 and `{second}`"
            ),
        ));
    }
    let kind = kinds.pop().map(|(_, _, kind)| kind);
    let is_symlink = matches!(kind, Some(EntryKind::Symlink { .. }));

    let mode = match &raw.mode.0 {
        Some(node) if is_symlink => {
            return Err(Problem::at(
                &node.referenced,
                "a symlink has no mode of its own: remove `mode`",
            ));
        }
        Some(node) => Some(mode(node, source)?),
        None => None,
    };
    let owner = raw.owner.0.as_ref().map(owner).transpose()?;
    let xattrs = match &raw.xattrs.0 {
        Some(pairs) => {
            if let (true, Some((name, _))) = (is_symlink, pairs.0.first()) {
                return Err(Problem::at(
                    &name.referenced,
                    "`user.*` xattrs cannot be set on a symlink: remove `xattrs`",
                ));
            }
            Some(xattrs(pairs)?)
        }
        None => None,
    };
    Ok(PartialEntry {
        kind,
        mode,
        owner,
        xattrs,
    })
}

/// An entry of `tree` or `write` must say what it is.
fn complete(partial: PartialEntry, place: &str, node: &EntryNode) -> Result<Entry, Problem> {
    let Some(kind) = partial.kind else {
        return Err(Problem::at(
            &node.referenced,
            format!("an entry in `{place}` needs one of `file`, `symlink` or `dir`"),
        ));
    };
    Ok(Entry {
        kind,
        mode: partial.mode,
        owner: partial.owner,
        xattrs: partial.xattrs.unwrap_or_default(),
    })
}

/// Permission bits from a quoted string of 3 or 4 octal digits.
fn mode(node: &Spanned<Node>, source: &str) -> Result<Mode, Problem> {
    let at = &node.referenced;
    match &node.value {
        Node::Text(digits) => {
            let octal = (3..=4).contains(&digits.len())
                && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
            octal
                .then(|| u32::from_str_radix(digits, 8).ok().and_then(Mode::new))
                .flatten()
                .ok_or_else(|| {
                    Problem::at(
                        at,
                        format!(
                            "mode `{digits}` is not 3 or 4 octal digits (such as \"0755\" or \
                             \"4755\")"
                        ),
                    )
                })
        }
        Node::Number(value) => {
            let spelled = spelling(source, at).unwrap_or(value);
            let quoted = if (3..=4).contains(&spelled.len())
                && spelled.bytes().all(|b| (b'0'..=b'7').contains(&b))
            {
                format!("\"{spelled}\"")
            } else {
                "\"0755\"".to_owned()
            };
            Err(Problem::at(
                at,
                format!(
                    "mode {spelled} must be quoted: unquoted, YAML reads it as the decimal \
                     number {value}; write mode: {quoted}"
                ),
            ))
        }
        other => Err(Problem::at(
            at,
            format!(
                "mode must be a quoted octal string such as \"0755\", found {}",
                other.describe()
            ),
        )),
    }
}

/// The text of a scalar as written in the file, by the byte span serde-saphyr recorded.
fn spelling<'s>(source: &'s str, at: &Location) -> Option<&'s str> {
    let span = at.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    source.get(start..start.checked_add(len)?)
}

/// `"UID:GID"`, both decimal.
fn owner(text: &Spanned<String>) -> Result<Owner, Problem> {
    let id = |part: &str| {
        (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    };
    let owner = text.value.split_once(':').and_then(|(uid, gid)| {
        Some(Owner {
            uid: id(uid)?,
            gid: id(gid)?,
        })
    });
    if let Some(Owner { uid, gid }) = owner
        && (uid == u32::MAX || gid == u32::MAX)
    {
        return Err(Problem::at(
            &text.referenced,
            format!(
                "owner `{}`: {} is (uid_t)-1, which chown reads as \"leave unchanged\", so no \
                 file can have it",
                text.value,
                u32::MAX
            ),
        ));
    }
    owner.ok_or_else(|| {
        Problem::at(
            &text.referenced,
            format!(
                "owner `{}` is not \"UID:GID\" with numeric ids, such as \"0:0\"",
                text.value
            ),
        )
    })
}

fn xattrs(pairs: &Pairs<Spanned<String>>) -> Result<BTreeMap<String, String>, Problem> {
    let mut xattrs = BTreeMap::new();
    for (name, value) in &pairs.0 {
        let text = &name.value;
        if !text.starts_with("user.") {
            return Err(Problem::at(
                &name.referenced,
                format!("xattr `{text}` must be in the `user.` namespace, such as `user.origin`"),
            ));
        }
        if text.len() == "user.".len() {
            return Err(Problem::at(
                &name.referenced,
                format!("xattr `{text}` has no name after its namespace, such as `user.origin`"),
            ));
        }
        if text.len() > NAME_MAX || text.contains('\0') {
            return Err(Problem::at(
                &name.referenced,
                format!("xattr `{text}` must be at most 255 bytes, without NUL characters"),
            ));
        }
        if value.value.len() > XATTR_SIZE_MAX {
            return Err(Problem::at(
                &value.referenced,
                format!(
                    "the value of xattr `{text}` is {} bytes long, more than {XATTR_SIZE_MAX}, the \
                     most an xattr holds (XATTR_SIZE_MAX)",
                    value.value.len()
                ),
            ));
        }
        xattrs.insert(text.clone(), value.value.clone());
    }
    Ok(xattrs)
}

/// No path may lie below one that `conflict` says is not a directory (its parents are implied
/// directories). Reports the first offending path, in document order.
fn parents_are_dirs(
    order: &[(String, Location)],
    conflict: impl Fn(&str) -> Option<String>,
) -> Result<(), Problem> {
    for (path, at) in order {
        let ancestors = path.match_indices('/').map(|(end, _)| &path[..end]);
        for ancestor in ancestors {
            if let Some(why) = conflict(ancestor) {
                return Err(Problem::at(
                    at,
                    format!("`{path}` lies below `{ancestor}`, {why}"),
                ));
            }
        }
    }
    Ok(())
}

fn kind_name(kind: &EntryKind) -> &'static str {
    match kind {
        EntryKind::File { .. } => "file",
        EntryKind::Symlink { .. } => "symlink",
        EntryKind::Dir => "dir",
    }
}
