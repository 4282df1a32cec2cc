//! Pure parsers of the two process files the in-use guard reads: `/proc/self/mountinfo` and
//! `/proc/swaps` (formats: proc(5)).

/// One line of `mountinfo`: what is mounted where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// The `major:minor` of the mounted file system (field 3): the block device's for a file
    /// system on one, an anonymous device (`0:N`) for others, btrfs included.
    pub(crate) dev: (u32, u32),
    /// The mount point (field 5), unescaped.
    pub(crate) mount_point: String,
    /// The mount source (the first field after the file system type), unescaped: `/dev/sdb1`.
    pub(crate) source: String,
}

/// Parses `mountinfo`; an error is the 1-based number of a line that is not of its form.
///
/// ```text
/// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
/// (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
/// ```
pub(crate) fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, usize> {
    let mut mounts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mount = parse_mount(line).ok_or(index + 1)?;
        mounts.push(mount);
    }
    Ok(mounts)
}

fn parse_mount(line: &str) -> Option<Mount> {
    let fields: Vec<&str> = line.split(' ').collect();
    let (major, minor) = fields.get(2)?.split_once(':')?;
    let mount_point = fields.get(4)?;
    // Optional fields (7) run up to the separator `-`; the type and the source follow it.
    let separator = fields.iter().skip(6).position(|field| *field == "-")? + 6;
    let source = fields.get(separator + 2)?;
    Some(Mount {
        dev: (major.parse().ok()?, minor.parse().ok()?),
        mount_point: unescape_octal(mount_point),
        source: unescape_octal(source),
    })
}

/// The file names of `/proc/swaps` (a header line, then one line per swap area: file name, type,
/// size, used, priority), unescaped.
pub(crate) fn parse_swaps(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(unescape_octal)
        .collect()
}

/// The kernel writes a space, tab, newline and backslash in these files as `\040`, `\011`,
/// `\012` and `\134`; any other text is kept as it is.
fn unescape_octal(text: &str) -> String {
    if !text.contains('\\') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let octal = bytes
            .get(index + 1..index + 4)
            .filter(|digits| {
                bytes[index] == b'\\' && digits.iter().all(|b| (b'0'..=b'7').contains(b))
            })
            .and_then(|digits| u8::from_str_radix(std::str::from_utf8(digits).ok()?, 8).ok());
        match octal {
            Some(byte) => {
                out.push(byte);
                index += 4;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_mountinfo_fields_it_needs() {
        let text = "\
22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro
36 22 8:17 / /media/my\\040disk rw,nosuid,nodev shared:40 master:2 - vfat /dev/sdb1 rw,fmask=0022
41 22 0:45 / /srv rw,relatime shared:44 - btrfs /dev/sdc1 rw,space_cache=v2,subvolid=5
50 22 0:46 / /run/user/0 rw - tmpfs tmpfs rw,size=813452k
";
        let mounts = parse_mountinfo(text).expect("valid");
        assert_eq!(mounts.len(), 4);
        assert_eq!(
            mounts[1],
            Mount {
                dev: (8, 17),
                mount_point: "/media/my disk".into(),
                source: "/dev/sdb1".into(),
            }
        );
        assert_eq!(mounts[2].dev, (0, 45));
        assert_eq!(mounts[2].source, "/dev/sdc1");
        assert_eq!(mounts[3].source, "tmpfs");
    }

    #[test]
    fn a_line_not_of_the_form_is_named() {
        assert_eq!(
            parse_mountinfo("22 1 8:2 / / rw - ext4 /dev/sda2 rw\nbroken\n"),
            Err(2)
        );
        assert_eq!(
            parse_mountinfo("22 1 8-2 / / rw - ext4 /dev/sda2 rw\n"),
            Err(1)
        );
        assert_eq!(parse_mountinfo("22 1 8:2 / / rw shared:1 ext4\n"), Err(1));
        assert_eq!(parse_mountinfo(""), Ok(Vec::new()));
    }

    #[test]
    fn reads_the_swap_file_names() {
        let text = "\
Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority
/dev/sdb2                               partition\t2097148\t\t0\t\t-2
/swap\\040file                           file\t\t1048572\t\t0\t\t-3
";
        assert_eq!(parse_swaps(text), ["/dev/sdb2", "/swap file"]);
        assert!(parse_swaps("Filename Type Size Used Priority\n").is_empty());
        assert!(parse_swaps("").is_empty());
    }

    #[test]
    fn unescapes_octal_and_keeps_other_backslashes() {
        assert_eq!(unescape_octal(r"a\040b\134c\011"), "a b\\c\t");
        assert_eq!(unescape_octal(r"a\0x\"), r"a\0x\");
        assert_eq!(unescape_octal(r"\08"), r"\08");
    }
}
