//! Entry names and link targets judged as text: what a name may contain, how it is
//! normalized (`./a`, `a//b` and `a` are one name), and the length rules that keep
//! every path the kernel will see under its limits, so a long name is refused by rule
//! rather than failing as an I/O error half-way through.

/// Longest file name component Linux accepts (`NAME_MAX`).
pub const MAX_COMPONENT: usize = 255;
/// Longest path a syscall accepts, without the terminating NUL (`PATH_MAX - 1`).
pub const MAX_PATH: usize = 4095;
/// Longest symlink target kept; `symlink(2)` itself refuses `PATH_MAX` or more.
pub const MAX_LINK_TARGET: usize = MAX_PATH;

/// Splits an entry name into its normalized components, or says which rule it breaks.
/// `..` is refused outright: a code archive has no need to climb, and judging it by
/// text would depend on what the earlier components turn out to be on disk.
pub fn components(name: &str) -> Result<Vec<&str>, String> {
    if name.contains('\0') {
        return Err("has a NUL byte in its name".into());
    }
    if name.starts_with('/') {
        return Err("escapes the code directory: its path is absolute".into());
    }
    let mut out = Vec::new();
    for comp in name.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err("escapes the code directory: '..' is not allowed in names".into()),
            c if c.len() > MAX_COMPONENT => {
                return Err(format!(
                    "has a name component of {} bytes; the limit is {MAX_COMPONENT}",
                    c.len()
                ))
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return Err("names nothing inside the code directory".into());
    }
    Ok(out)
}

/// Checks that `root/<components>` fits in a path the kernel accepts.
pub fn check_path_len(root_len: usize, comps: &[&str]) -> Result<(), String> {
    let len = root_len + comps.iter().map(|c| c.len() + 1).sum::<usize>();
    if len > MAX_PATH {
        return Err(format!(
            "has a path of {len} bytes once unpacked; the limit is {MAX_PATH}"
        ));
    }
    Ok(())
}

/// Checks a symlink's target as text: not empty, not absolute, no NUL, bounded.
/// Where it leads is judged later, against the whole tree.
pub fn check_link_target(target: &[u8]) -> Result<(), String> {
    if target.is_empty() {
        return Err("is a symlink with an empty target".into());
    }
    if target.len() > MAX_LINK_TARGET {
        return Err(format!(
            "is a symlink whose target is over {MAX_LINK_TARGET} bytes"
        ));
    }
    if target.contains(&0) {
        return Err("is a symlink whose target has a NUL byte".into());
    }
    if target[0] == b'/' {
        return Err(format!(
            "is a symlink to an absolute path ('{}')",
            shown(&String::from_utf8_lossy(target))
        ));
    }
    if let Some(c) = target
        .split(|&b| b == b'/')
        .find(|c| c.len() > MAX_COMPONENT)
    {
        return Err(format!(
            "is a symlink whose target has a component of {} bytes; the limit is {MAX_COMPONENT}",
            c.len()
        ));
    }
    Ok(())
}

/// A name as quoted in a message: long ones are cut so a refusal stays readable.
pub fn shown(name: &str) -> String {
    const KEEP: usize = 200;
    match name.char_indices().nth(KEEP) {
        Some((i, _)) => format!("{}…", &name[..i]),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_dot_and_empty_components() {
        assert_eq!(components("./a//b/./c").unwrap(), ["a", "b", "c"]);
        assert_eq!(components("a/").unwrap(), ["a"]);
    }

    #[test]
    fn refuses_climbing_absolute_nul_and_empty() {
        assert!(components("a/../b").unwrap_err().contains(".."));
        assert!(components("/etc/x").unwrap_err().contains("absolute"));
        assert!(components("a\0b").unwrap_err().contains("NUL"));
        assert!(components("./").is_err());
    }

    #[test]
    fn refuses_long_components_and_paths() {
        let long = "a".repeat(256);
        assert!(components(&long).unwrap_err().contains("256 bytes"));
        assert!(components(&"a".repeat(255)).is_ok());
        let deep = vec!["abcdefghi"; 400];
        assert!(check_path_len(100, &deep)
            .unwrap_err()
            .contains("4100 bytes"));
        assert!(check_path_len(100, &deep[..399]).is_ok());
    }

    #[test]
    fn link_targets_are_bounded_and_relative() {
        assert!(check_link_target(b"").is_err());
        assert!(check_link_target(b"/etc/passwd")
            .unwrap_err()
            .contains("absolute"));
        assert!(check_link_target(&vec![b'a'; 4096])
            .unwrap_err()
            .contains("over"));
        assert!(check_link_target(&[b'a'; 256]).unwrap_err().contains("256"));
        assert!(check_link_target(b"a\0").is_err());
        assert!(check_link_target(b"../x/./y").is_ok());
    }

    #[test]
    fn long_names_are_cut_in_messages() {
        assert_eq!(shown("abc"), "abc");
        assert_eq!(shown(&"é".repeat(300)).chars().count(), 201);
    }
}
