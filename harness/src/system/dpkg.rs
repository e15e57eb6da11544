//! `dpkg --verify` output, read into entries: a pure parser.

/// One line of `dpkg --verify`: the file and what differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Nine result characters (`??5??????`), or `missing`.
    pub flags: String,
    pub conffile: bool,
    pub path: String,
}

impl Verified {
    /// Whether the file's content differs from the package's (the md5sum check failed).
    pub fn content_differs(&self) -> bool {
        self.flags.chars().nth(2) == Some('5')
    }
}

/// Parses `dpkg --verify` output. A line it cannot read is returned as the error.
pub fn parse(output: &str) -> Result<Vec<Verified>, String> {
    output
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut words = line.split_whitespace();
            let flags = words.next().ok_or_else(|| line.to_owned())?;
            let mut next = words.next().ok_or_else(|| line.to_owned())?;
            let conffile = next == "c";
            if conffile {
                next = words.next().ok_or_else(|| line.to_owned())?;
            }
            if !(flags.len() == 9 || flags == "missing") || !next.starts_with('/') {
                return Err(line.to_owned());
            }
            Ok(Verified {
                flags: flags.to_owned(),
                conffile,
                path: next.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_conffiles_and_missing_files() {
        let found =
            parse("??5??????   /bin/cat\n??5?????? c /etc/default/x\nmissing     /usr/bin/gone\n")
                .unwrap();
        assert_eq!(found.len(), 3);
        assert!(found[0].content_differs() && !found[0].conffile);
        assert_eq!(found[0].path, "/bin/cat");
        assert!(found[1].conffile);
        assert_eq!(found[1].path, "/etc/default/x");
        assert!(!found[2].content_differs());
        assert!(parse("").unwrap().is_empty());
        assert!(parse("dpkg: warning: something\n").is_err());
    }
}
