//! Writing a man page: the `.TH` line, sections of prose, tagged
//! paragraphs and verbatim blocks, and the sections clap_mangen renders
//! from a command, all escaped by the `roff` crate (clap_mangen's own):
//! backslashes, dashes, and leading dots or apostrophes never act as roff.

use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

/// One block of a section.
#[derive(Clone, Copy)]
pub enum Block<'a> {
    /// A paragraph of text.
    P(&'a str),
    /// A tagged paragraph: the term in bold, then its text.
    Tag(&'a str, &'a str),
    /// Lines shown exactly as they are (no filling, indented).
    Verbatim(&'a str),
    /// References to other pages: (name, section).
    Refs(&'a [(&'a str, &'a str)]),
}

/// A page being written.
pub struct Page {
    text: String,
    /// What `Roff` puts before every document it renders (the `Aq`
    /// string for apostrophes): wanted once per page.
    preamble: String,
}

impl Page {
    /// `.TH` first, with the name, the section and carme-slurm's version.
    pub fn new(name: &str, section: &str) -> Page {
        let preamble = Roff::new().render();
        // .nh: paths and options are never hyphenated.
        let text = format!(
            ".TH \"{name}\" {section} \"\" \"carme-slurm {}\"\n{preamble}.nh\n",
            env!("CARGO_PKG_VERSION")
        );
        Page { text, preamble }
    }

    fn push(&mut self, rendered: &str) {
        self.text
            .push_str(rendered.strip_prefix(&self.preamble).unwrap_or(rendered));
    }

    /// Sections clap_mangen renders from a command (`Man::render_*`).
    pub fn man(
        &mut self,
        man: &Man,
        render: fn(&Man, &mut dyn std::io::Write) -> std::io::Result<()>,
    ) {
        let mut out = Vec::new();
        render(man, &mut out).expect("writing to memory cannot fail");
        self.push(&String::from_utf8(out).expect("clap_mangen writes UTF-8"));
    }

    /// A section of our own; an empty `title` continues the section before.
    pub fn section(&mut self, title: &str, blocks: &[Block]) {
        let mut r = Roff::new();
        if !title.is_empty() {
            r.control("SH", [title]);
        }
        for b in blocks {
            match b {
                Block::P(text) => {
                    r.control("PP", []).text([roman(*text)]);
                }
                Block::Tag(term, text) => {
                    r.control("TP", []).text([bold(*term)]).text([roman(*text)]);
                }
                Block::Verbatim(lines) => {
                    r.control("PP", []).control("RS", ["4"]).control("nf", []);
                    for line in lines.lines() {
                        r.text([roman(line)]);
                    }
                    r.control("fi", []).control("RE", []);
                }
                Block::Refs(refs) => {
                    r.control("PP", []);
                    for (i, (name, section)) in refs.iter().enumerate() {
                        let sep = if i + 1 < refs.len() { "," } else { "" };
                        r.text([bold(*name), roman(format!("({section}){sep}"))]);
                    }
                }
            }
        }
        self.push(&r.render());
    }

    pub fn finish(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_lines_never_act_as_roff() {
        let mut p = Page::new("x", "5");
        p.section(
            "EXAMPLE",
            &[Block::Verbatim(".TH evil 1\n'br\na\\fBb\n  --flag\n")],
        );
        let text = p.finish();
        for bad in ["\n.TH evil", "\n'br", "a\\fBb", "--flag"] {
            assert!(!text.contains(bad), "{bad:?} unescaped in:\n{text}");
        }
        for good in [
            "\n\\&.TH evil 1\n",
            "\n\\*(Aqbr\n",
            "a\\\\fBb",
            "\\-\\-flag",
        ] {
            assert!(text.contains(good), "{good:?} missing in:\n{text}");
        }
    }

    #[test]
    fn the_preamble_comes_once_after_th() {
        let mut p = Page::new("x", "8");
        p.section("A", &[Block::P("it's")]);
        p.section("B", &[Block::P("don't")]);
        let text = p.finish();
        let preamble = Roff::new().render();
        assert!(!preamble.is_empty());
        assert_eq!(text.matches(&preamble).count(), 1, "{text}");
        assert!(text.starts_with(".TH \"x\" 8 "), "{text}");
    }
}
