//! Paths as an admin types them: relative to the root, or absolute as they will be seen from
//! inside it (`/usr/bin/ls` under `--root /srv/bookworm` is `/srv/bookworm/usr/bin/ls`, as with
//! `dpkg --root`).

use std::path::Path;

/// `path` relative to the root: a leading `/` (or several) names the root's own `/`.
pub fn root_relative(path: &Path) -> &Path {
    path.strip_prefix("/").unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_slash_names_the_root() {
        assert_eq!(
            root_relative(Path::new("/usr/bin/ls")),
            Path::new("usr/bin/ls")
        );
        assert_eq!(root_relative(Path::new("//usr/bin")), Path::new("usr/bin"));
        assert_eq!(root_relative(Path::new("usr/bin")), Path::new("usr/bin"));
        assert_eq!(root_relative(Path::new("/")), Path::new(""));
    }
}
