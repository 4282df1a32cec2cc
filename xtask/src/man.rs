//! The man pages: one per command of the command line (section 8), each with its hand-written
//! Markdown part when there is one, and the stand-alone pages written in Markdown.

use std::fs;
use std::io;
use std::path::Path;

use clap::CommandFactory;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;
use hotplugd::cli::Cli;

use crate::markdown;
use crate::{Error, GeneratedFile, MAN_DIR};

/// The section of the daemon's pages.
const COMMAND_SECTION: &str = "8";

/// Turns hyphenation off: the pages are full of paths, options and names with dashes, which a
/// hyphen added at a line break would garble.
const NO_HYPHENATION: &str = ".nh\n";

/// The date argument of `.TH`: none, since a date would change the pages without a change to the
/// command line. Written as `""` because roff drops an empty argument, which would shift the
/// source and manual arguments after it into the date's place.
const NO_DATE: &str = "\"\"";

/// The command line as the pages and completions describe it: without the long version, which
/// holds what the build machine has (the git commit, the libvirt library), not what the CLI is.
pub(crate) fn command() -> clap::Command {
    let mut command = Cli::command()
        .long_version(None::<&'static str>)
        .disable_help_subcommand(true);
    command.build();
    command
}

/// Every page, rendered; `docs` is the folder of the Markdown parts.
pub(crate) fn pages(docs: &Path) -> Result<Vec<GeneratedFile>, Error> {
    let command = command();
    let source = format!(
        "{} {}",
        command.get_name(),
        command.get_version().unwrap_or_default()
    );
    let mut markdown_files = markdown_files(docs)?;
    let mut pages = Vec::new();

    let mut commands = vec![command.clone()];
    commands.extend(
        command
            .get_subcommands()
            .filter(|sub| !sub.is_hide_set())
            .cloned(),
    );
    for (index, page_command) in commands.into_iter().enumerate() {
        let versioned = page_command.get_version().is_some();
        let man = Man::new(page_command)
            .section(COMMAND_SECTION)
            .date(NO_DATE)
            .source(source.as_str())
            .manual("System Administration");
        let file_name = man.get_filename();
        let extra = match markdown_files
            .iter()
            .position(|name| *name == format!("{file_name}.md"))
        {
            Some(found) => {
                let name = markdown_files.remove(found);
                Some(read_markdown(&docs.join(name))?)
            }
            None => None,
        };
        let mut out = Vec::new();
        render_command_page(&man, extra, index > 0, versioned, &command, &mut out).map_err(
            |source| Error::Write {
                path: Path::new(MAN_DIR).join(&file_name),
                source,
            },
        )?;
        pages.push(GeneratedFile {
            path: Path::new(MAN_DIR).join(file_name),
            contents: out,
        });
    }

    for name in markdown_files {
        let file = docs.join(&name);
        let page_name = name.trim_end_matches(".md");
        let (title, section) = page_name.rsplit_once('.').unwrap_or((page_name, ""));
        let expected = format!("{title}({section})");
        let page = read_markdown(&file)?;
        if page.title.as_deref() != Some(expected.as_str()) {
            return Err(Error::Title { file, expected });
        }
        let mut title_line = Roff::new();
        title_line.control(
            "TH",
            [title, section, NO_DATE, source.as_str(), "File Formats"],
        );
        let mut contents = title_line.render().into_bytes();
        contents.extend(NO_HYPHENATION.as_bytes());
        contents.extend(page.body().into_bytes());
        pages.push(GeneratedFile {
            path: Path::new(MAN_DIR).join(page_name),
            contents,
        });
    }
    Ok(pages)
}

/// Writes a command's page: clap_mangen's sections, then the Markdown part, then (for a
/// subcommand) a SEE ALSO naming the main pages, then the version (when the command has one).
fn render_command_page(
    man: &Man,
    extra: Option<markdown::Page>,
    subcommand: bool,
    versioned: bool,
    main: &clap::Command,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let preamble = Roff::new().render();
    out.extend(preamble.as_bytes());
    // Each part is written with roff's preamble (the definition of the apostrophe string); the
    // page needs it once, at the top.
    let mut part = |render: &dyn Fn(&mut Vec<u8>) -> io::Result<()>| -> io::Result<()> {
        let mut bytes = Vec::new();
        render(&mut bytes)?;
        out.extend(bytes.strip_prefix(preamble.as_bytes()).unwrap_or(&bytes));
        Ok(())
    };
    part(&|w| {
        man.render_title(w)?;
        w.extend(NO_HYPHENATION.as_bytes());
        Ok(())
    })?;
    part(&|w| man.render_name_section(w))?;
    part(&|w| man.render_synopsis_section(w))?;
    part(&|w| man.render_description_section(w))?;
    part(&|w| man.render_options_section(w))?;
    if !subcommand {
        part(&|w| man.render_subcommands_section(w))?;
    }
    if let Some(extra) = &extra {
        part(&|w| extra.roff.to_writer(w))?;
    }
    if subcommand {
        let name = main.get_name();
        let mut see_also = Roff::new();
        see_also.control("SH", ["SEE ALSO"]).text([
            bold(name),
            roman("(8), "),
            bold(name),
            roman("(5)"),
        ]);
        part(&|w| see_also.to_writer(w))?;
    }
    if versioned {
        part(&|w| man.render_version_section(w))?;
    }
    Ok(())
}

/// The names of the Markdown files of `docs`, sorted.
fn markdown_files(docs: &Path) -> Result<Vec<String>, Error> {
    let cannot_read = |source: io::Error| Error::Read {
        path: docs.to_owned(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(docs).map_err(cannot_read)? {
        let name = entry.map_err(cannot_read)?.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".md") {
            names.push(name.into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn read_markdown(file: &Path) -> Result<markdown::Page, Error> {
    let text = fs::read_to_string(file).map_err(|source| Error::Read {
        path: file.to_owned(),
        source,
    })?;
    markdown::render(&text, file)
}
