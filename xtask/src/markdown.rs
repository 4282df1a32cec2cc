//! The hand-written parts of the man pages: a small subset of CommonMark, turned into man(7) roff.
//!
//! | Markdown | roff |
//! |---|---|
//! | `# name(5)` (first line, optional) | the page's title, returned, not rendered |
//! | `## Heading` | `.SH HEADING` |
//! | `### Heading` | `.SS Heading` |
//! | a paragraph | `.PP` (none right after a heading) and its text |
//! | a fenced or indented code block | `.RS 4`, `.nf`, its lines, `.fi`, `.RE` |
//! | `* item` (nested too), `1. item` | `.IP \(bu 2`, `.IP 1. 4` (nested lists inside `.RS`/`.RE`) |
//! | a definition list (`term` then `: definition`) | `.TP`, the term, then the definition |
//! | `` `code` ``, `**strong**` | bold |
//! | `*emphasis*` | italic |
//! | `[text](url)` | text, then the url in angle brackets when it differs |
//!
//! HTML comments (`<!-- ... -->`, as blocks of their own) are left out. Anything else (tables, HTML, block quotes, images, rules, footnotes, deeper headings) is an
//! error naming its line, so that nothing is silently dropped from a page.
//!
//! ```
//! use std::path::Path;
//!
//! let text = "# demo(5)\n\n## Files\n\n`/etc/demo.yml`\n: The file.\n";
//! let page = xtask::markdown::render(text, Path::new("demo.5.md"))?;
//! assert_eq!(page.title.as_deref(), Some("demo(5)"));
//! assert_eq!(page.body(), ".SH FILES\n.TP\n\\fB/etc/demo.yml\\fR\nThe file.\n");
//! # Ok::<(), xtask::Error>(())
//! ```

use std::path::Path;

use clap_mangen::roff::{bold, italic, line_break, roman, Inline, Roff};
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::Error;

/// A rendered Markdown document.
#[derive(Debug)]
pub struct Page {
    /// The text of the level-1 heading that opens the document, when it has one.
    pub title: Option<String>,
    /// The body: every other block, as man(7) roff.
    pub roff: Roff,
}

impl Page {
    /// The body as roff text, to go after a page's `.TH` and roff's preamble (which defines the
    /// `Aq` string that its apostrophes are written as).
    pub fn body(&self) -> String {
        let preamble = Roff::new().render();
        let text = self.roff.render();
        text.strip_prefix(preamble.as_str())
            .unwrap_or(&text)
            .to_owned()
    }
}

/// Renders `markdown` (the subset in the module's documentation) as man(7) roff; `file` is where
/// it was read from, for errors.
pub fn render(markdown: &str, file: &Path) -> Result<Page, Error> {
    let mut writer = Writer::default();
    let options = Options::ENABLE_DEFINITION_LIST;
    for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
        let line = markdown[..range.start].matches('\n').count() + 1;
        writer.event(event).map_err(|what| Error::Markdown {
            file: file.to_owned(),
            line,
            what,
        })?;
    }
    Ok(Page {
        title: writer.title,
        roff: writer.roff,
    })
}

/// The block the writer is in, innermost last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// A list; `Some(n)`: ordered, `n` is the next item's number.
    List(Option<u64>),
    /// An item or a definition, whose first paragraph follows its `.IP`/`.TP` directly.
    Item { started: bool },
}

#[derive(Default)]
struct Writer {
    roff: Roff,
    title: Option<String>,
    blocks: Vec<Block>,
    /// The text of the line being built.
    line: Vec<Inline>,
    /// Open `**` and `*` spans.
    strong: usize,
    emphasis: usize,
    /// Open heading and its text so far.
    heading: Option<(HeadingLevel, String)>,
    /// The link being written: its url, and where its text starts in `line`.
    link: Option<(String, usize)>,
    in_code_block: bool,
    /// Right after `.SH` or `.SS`, which begin a paragraph themselves.
    after_heading: bool,
    /// Inside an HTML comment (`<!-- ... -->`, over several lines).
    in_comment: bool,
}

impl Writer {
    fn event(&mut self, event: Event<'_>) -> Result<(), String> {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) if self.in_code_block => {
                self.code_lines(&text);
                Ok(())
            }
            Event::Text(text) => {
                self.inline_text(&text, false);
                Ok(())
            }
            Event::Code(text) => {
                self.inline_text(&text, true);
                Ok(())
            }
            Event::SoftBreak => {
                self.inline_text(" ", false);
                Ok(())
            }
            Event::HardBreak => {
                self.line.push(line_break());
                Ok(())
            }
            Event::Html(text) => self.html_comment(&text),
            Event::InlineHtml(_) => Err("HTML is not supported (only comments)".into()),
            Event::Rule => Err("a horizontal rule is not supported".into()),
            other => Err(format!("{other:?} is not supported")),
        }
    }

    fn start(&mut self, tag: Tag<'_>) -> Result<(), String> {
        match tag {
            Tag::Heading { level, .. } => {
                if !self.blocks.is_empty() {
                    return Err("a heading inside a list is not supported".into());
                }
                self.heading = Some((level, String::new()));
            }
            Tag::Paragraph => self.paragraph_start(),
            Tag::CodeBlock(_) => {
                self.paragraph_start();
                self.roff.control("RS", ["4"]).control("nf", []);
                self.in_code_block = true;
            }
            Tag::List(first) => {
                self.after_heading = false;
                if self
                    .blocks
                    .last()
                    .is_some_and(|block| matches!(block, Block::Item { .. }))
                {
                    self.flush();
                    self.roff.control("RS", []);
                }
                self.blocks.push(Block::List(first));
            }
            Tag::Item => {
                let marker = match self.blocks.last_mut() {
                    Some(Block::List(Some(number))) => {
                        *number += 1;
                        format!("{}.", *number - 1)
                    }
                    _ => r"\(bu".to_owned(),
                };
                let indent = if marker == r"\(bu" { "2" } else { "4" };
                self.roff.control("IP", [marker.as_str(), indent]);
                self.blocks.push(Block::Item { started: true });
            }
            Tag::DefinitionList | Tag::HtmlBlock => {}
            Tag::DefinitionListTitle => {
                self.after_heading = false;
                self.roff.control("TP", []);
            }
            Tag::DefinitionListDefinition => {
                self.blocks.push(Block::Item { started: true });
            }
            Tag::Emphasis => self.emphasis += 1,
            Tag::Strong => self.strong += 1,
            Tag::Link { dest_url, .. } => {
                self.link = Some((dest_url.to_string(), self.line.len()));
            }
            other => return Err(format!("{other:?} is not supported")),
        }
        Ok(())
    }

    fn end(&mut self, tag: TagEnd) -> Result<(), String> {
        match tag {
            TagEnd::Heading(level) => {
                let (_, text) = self.heading.take().unwrap_or((level, String::new()));
                match level {
                    HeadingLevel::H1 if self.title.is_none() && self.roff.to_roff().is_empty() => {
                        self.title = Some(text);
                    }
                    HeadingLevel::H1 => {
                        return Err("a level-1 heading is the title: only one, first".into())
                    }
                    HeadingLevel::H2 => {
                        self.roff.control("SH", [text.to_uppercase().as_str()]);
                        self.after_heading = true;
                    }
                    HeadingLevel::H3 => {
                        self.roff.control("SS", [text.as_str()]);
                        self.after_heading = true;
                    }
                    _ => return Err("headings deeper than ### are not supported".into()),
                }
            }
            TagEnd::Paragraph | TagEnd::DefinitionListTitle => self.flush(),
            TagEnd::CodeBlock => {
                self.roff.control("fi", []).control("RE", []);
                self.in_code_block = false;
            }
            TagEnd::List(_) => {
                self.blocks.pop();
                if self
                    .blocks
                    .last()
                    .is_some_and(|block| matches!(block, Block::Item { .. }))
                {
                    self.roff.control("RE", []);
                }
            }
            TagEnd::Item | TagEnd::DefinitionListDefinition => {
                self.flush();
                self.blocks.pop();
            }
            TagEnd::DefinitionList | TagEnd::HtmlBlock => {}
            TagEnd::Emphasis => self.emphasis -= 1,
            TagEnd::Strong => self.strong -= 1,
            TagEnd::Link => {
                if let Some((url, start)) = self.link.take() {
                    let text: String = self.line[start..].iter().map(inline_text).collect();
                    if text != url && !url.starts_with('#') {
                        self.line.push(roman(format!(" <{url}>")));
                    }
                }
            }
            other => return Err(format!("{other:?} is not supported")),
        }
        Ok(())
    }

    /// Skips an HTML block's line when it is (part of) a comment; other HTML is refused.
    fn html_comment(&mut self, line: &str) -> Result<(), String> {
        if !self.in_comment && !line.trim_start().starts_with("<!--") {
            return Err("HTML is not supported (only comments)".into());
        }
        self.in_comment = !line.contains("-->");
        Ok(())
    }

    /// Starts a paragraph (or a code block): `.PP` at the top level, nothing for the first one of
    /// an item or definition (its `.IP`/`.TP` began it), `.IP` for the next ones.
    fn paragraph_start(&mut self) {
        self.flush();
        if std::mem::take(&mut self.after_heading) {
            return;
        }
        match self.blocks.last_mut() {
            Some(Block::Item { started }) if *started => *started = false,
            Some(Block::Item { .. }) => {
                self.roff.control("IP", []);
            }
            _ => {
                self.roff.control("PP", []);
            }
        }
    }

    fn inline_text(&mut self, text: &str, code: bool) {
        if let Some((_, heading)) = self.heading.as_mut() {
            heading.push_str(text);
        } else if code || self.strong > 0 {
            self.line.push(bold(text));
        } else if self.emphasis > 0 {
            self.line.push(italic(text));
        } else {
            self.line.push(roman(text));
        }
    }

    fn code_lines(&mut self, text: &str) {
        for line in text.lines() {
            if line.is_empty() {
                self.roff.control("sp", []);
            } else {
                self.roff.text([roman(line)]);
            }
        }
    }

    /// Writes the line being built, if any.
    fn flush(&mut self) {
        if let Some(Block::Item { started }) = self.blocks.last_mut() {
            if !self.line.is_empty() {
                *started = false;
            }
        }
        if !self.line.is_empty() {
            self.roff.text(std::mem::take(&mut self.line));
        }
    }
}

fn inline_text(inline: &Inline) -> &str {
    match inline {
        Inline::Roman(text) | Inline::Bold(text) | Inline::Italic(text) => text,
        Inline::LineBreak => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_md(markdown: &str) -> Result<Page, Error> {
        render(markdown, Path::new("t.md"))
    }

    fn roff(markdown: &str) -> String {
        render(markdown, Path::new("t.md")).expect("renders").body()
    }

    #[test]
    fn title_sections_and_paragraphs() {
        let page = render(
            "# demo(5)\n\n## Name\n\ndemo - a demo\n\n### Sub\n\nOne\ntwo.\n\nThree.\n",
            Path::new("t.md"),
        )
        .expect("renders");
        assert_eq!(page.title.as_deref(), Some("demo(5)"));
        assert_eq!(
            page.body(),
            ".SH NAME\ndemo \\- a demo\n.SS Sub\nOne two.\n.PP\nThree.\n"
        );
    }

    #[test]
    fn inline_styles_and_links() {
        assert_eq!(
            roff("A `key`, **strong**, *emphasis*, [site](https://example.org), [here](#x).\n"),
            ".PP\nA \\fBkey\\fR, \\fBstrong\\fR, \\fIemphasis\\fR, site <https://example.org>, here.\n"
        );
    }

    #[test]
    fn code_blocks_keep_their_lines_and_escape_control_characters() {
        assert_eq!(
            roff("```yaml\nmachines:\n\n.dot: 'x'\n```\n"),
            ".PP\n.RS 4\n.nf\nmachines:\n.sp\n\\&.dot: \\*(Aqx\\*(Aq\n.fi\n.RE\n"
        );
    }

    #[test]
    fn lists_nested_and_ordered() {
        assert_eq!(
            roff("* one\n* two\n  1. a\n  2. b\n"),
            ".IP \\(bu 2\none\n.IP \\(bu 2\ntwo\n.RS\n.IP 1. 4\na\n.IP 2. 4\nb\n.RE\n"
        );
    }

    #[test]
    fn definition_lists_with_several_paragraphs() {
        assert_eq!(
            roff("`interval` (duration)\n: How often.\n\n  More.\n\nAfter.\n"),
            ".TP\n\\fBinterval\\fR (duration)\nHow often.\n.IP\nMore.\n.PP\nAfter.\n"
        );
    }

    #[test]
    fn html_comments_are_left_out() {
        assert_eq!(roff("<!-- a\nnote -->\n\nText.\n"), ".PP\nText.\n");
    }

    #[test]
    fn unsupported_blocks_name_their_line() {
        let error = render_md("Text.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n").map(|_| ());
        assert!(
            error.is_ok(),
            "tables are not parsed without their option: plain text"
        );
        let error = render_md("Text.\n\n> quoted\n").expect_err("block quotes are refused");
        assert_eq!(
            error.to_string(),
            "t.md:3: BlockQuote(None) is not supported"
        );
        let error = render_md("## A\n\n<b>x</b>\n").expect_err("HTML is refused");
        assert_eq!(
            error.to_string(),
            "t.md:3: HTML is not supported (only comments)"
        );
    }
}
