//! A self-contained HTML page for the examples: headings, paragraphs, preformatted text,
//! tables and inline SVG, with its style in the page itself (no scripts, no network).

use std::fmt::Write as _;
use std::path::Path;

/// A page being built, section by section.
pub struct Page {
    title: String,
    body: String,
}

/// `text` with `&`, `<`, `>` and `"` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}\
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:12px;line-height:1.3}\
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .7em;text-align:right}\
th:first-child,td:first-child{text-align:left}th{background:#eee}\
.charts{display:flex;flex-wrap:wrap;gap:1em}.charts svg{border:1px solid #ddd}\
details{margin:1em 0}summary{cursor:pointer;color:#246}";

impl Page {
    pub fn new(title: &str) -> Page {
        Page { title: title.to_string(), body: format!("<h1>{}</h1>\n", escape(title)) }
    }

    pub fn heading(&mut self, text: &str) -> &mut Page {
        let _ = writeln!(self.body, "<h2>{}</h2>", escape(text));
        self
    }

    pub fn paragraph(&mut self, text: &str) -> &mut Page {
        let _ = writeln!(self.body, "<p>{}</p>", escape(text));
        self
    }

    pub fn pre(&mut self, text: &str) -> &mut Page {
        let _ = writeln!(self.body, "<pre>{}</pre>", escape(text));
        self
    }

    /// Preformatted text folded away under `summary` (long dumps).
    pub fn folded(&mut self, summary: &str, text: &str) -> &mut Page {
        let _ =
            writeln!(self.body, "<details><summary>{}</summary><pre>{}</pre></details>", escape(summary), escape(text));
        self
    }

    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> &mut Page {
        self.body.push_str("<table><tr>");
        for h in header {
            let _ = write!(self.body, "<th>{}</th>", escape(h));
        }
        self.body.push_str("</tr>\n");
        for row in rows {
            self.body.push_str("<tr>");
            for cell in row {
                let _ = write!(self.body, "<td>{}</td>", escape(cell));
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</table>\n");
        self
    }

    /// SVG documents side by side (their XML prologue, if any, dropped so they sit inline).
    pub fn charts(&mut self, svgs: &[&str]) -> &mut Page {
        self.body.push_str("<div class=\"charts\">\n");
        for svg in svgs {
            let start = svg.find("<svg").unwrap_or(0);
            self.body.push_str(&svg[start..]);
            self.body.push('\n');
        }
        self.body.push_str("</div>\n");
        self
    }

    /// The whole document.
    pub fn html(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n{}</body></html>\n",
            escape(&self.title),
            self.body
        )
    }

    /// Writes the page to `path`, creating its folder.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.html())
    }
}
