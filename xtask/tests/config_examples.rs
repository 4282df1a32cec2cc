//! The configuration examples users copy from are valid: every YAML block of the man page
//! libvirt-usb-hotplugd(5) (docs/man/libvirt-usb-hotplugd.5.md), and the packaged
//! /etc/libvirt-usb-hotplugd/config.yml (contrib/config.yml), as installed (no machines) and
//! with its example uncommented.

use std::fs;
use std::path::{Path, PathBuf};

use hotplugd::config::{parse_machine_file, parse_main_file};

fn repo_file(path: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, text)
}

/// The fenced blocks of `markdown` whose info string starts with `yaml`: (info, text).
fn yaml_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks.retain(|(info, _)| info.starts_with("yaml"));
    blocks
}

#[test]
fn every_yaml_example_of_the_config_page_is_valid() {
    let (page, markdown) = repo_file("docs/man/libvirt-usb-hotplugd.5.md");
    let blocks = yaml_blocks(&markdown);
    assert!(blocks.len() >= 3, "the page has its examples: {blocks:?}");
    for (info, text) in blocks {
        let result = match info.strip_prefix("yaml").map(str::trim) {
            Some("") => parse_main_file(&text, &page).map(|main| main.machines.len()),
            Some(file) => {
                let name = Path::new(file).file_stem().and_then(|s| s.to_str());
                let name = name.expect("a machines.d file name");
                parse_machine_file(&text, Path::new(file), name).map(|_| 1)
            }
            None => unreachable!("only yaml blocks are kept"),
        };
        assert!(result.is_ok(), "```{info}\n{text}```\n{result:?}");
    }
}

#[test]
fn the_packaged_config_attaches_nothing_and_its_example_is_valid() {
    let (path, text) = repo_file("contrib/config.yml");
    let installed = parse_main_file(&text, &path).expect("the packaged config is valid");
    assert!(
        installed.machines.is_empty(),
        "as installed it has no machines"
    );

    let example: String = text
        .lines()
        .skip_while(|line| !line.starts_with("# interval:"))
        .map(|line| format!("{}\n", line.strip_prefix("# ").unwrap_or(line)))
        .collect();
    let example = parse_main_file(&example, &path).expect("the uncommented example is valid");
    let names: Vec<&str> = example.machines.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["webcam-test", "desk-vm"]);
}
