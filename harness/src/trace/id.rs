//! The shape of a requirement id.

/// `REQ-`, a family of capital letters, a number, and optionally `.N` for a part of a
/// requirement that is stated (and proven, or not) on its own: `REQ-R2`, `REQ-CI3`, `REQ-RC1.1`.
pub(super) fn is_valid(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("REQ-") else {
        return false;
    };
    let family = rest.bytes().take_while(u8::is_ascii_uppercase).count();
    let (main, part) = match rest[family..].split_once('.') {
        Some((main, part)) => (main, Some(part)),
        None => (&rest[family..], None),
    };
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    family > 0 && number(main) && part.is_none_or(number)
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn ids_have_a_family_a_number_and_an_optional_part() {
        for good in ["REQ-R2", "REQ-CI3", "REQ-RC1.1", "REQ-C10"] {
            assert!(is_valid(good), "{good}");
        }
        for bad in [
            "REQ-", "REQ-R", "REQ-2", "req-R2", "REQ-r2", "REQ-R2.", "REQ-R2.x", "R2",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
