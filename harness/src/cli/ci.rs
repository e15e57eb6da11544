//! Whether this process runs in CI, from the `CI` environment variable that CI services set.
//!
//! Only a true value counts: `true`, `1`, `yes` or `on`, in any case, around any whitespace.
//! `CI=false`, `CI=0`, `CI=no`, an empty `CI` or none at all mean a workstation.

/// Whether `CI` holds a true value.
pub(super) fn is_set() -> bool {
    std::env::var_os("CI").is_some_and(|v| truthy(&v.to_string_lossy()))
}

fn truthy(value: &str) -> bool {
    let value = value.trim();
    ["true", "1", "yes", "on"]
        .iter()
        .any(|t| value.eq_ignore_ascii_case(t))
}

#[cfg(test)]
mod tests {
    use super::truthy;

    #[test]
    fn only_true_values_mean_ci() {
        for yes in ["true", "TRUE", "True", "1", "yes", "Yes", "on", " true\n"] {
            assert!(truthy(yes), "{yes:?}");
        }
        for no in ["", "false", "FALSE", "0", "no", "off", "2", "truthy"] {
            assert!(!truthy(no), "{no:?}");
        }
    }
}
