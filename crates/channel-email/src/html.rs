//! A small HTML-to-text converter for HTML-only mails.
//!
//! It is not a browser: it strips tags, drops `<script>`, `<style>`, `<head>` and comment
//! content, decodes the common entities and turns block elements (`<br>`, `<p>`, `<div>`,
//! `<li>`, table rows, headings, …) into line breaks, so the complaint reads as text in the
//! staff UI. It works on any input (unclosed tags, stray `<`, broken entities) without
//! panicking and in linear time.

/// Convert an HTML document or fragment to readable plain text.
///
/// Whitespace runs collapse to one space (except inside `<pre>`), block elements become
/// line breaks, list items get a `- ` bullet, and at most one blank line is kept between
/// paragraphs. The result is trimmed.
pub fn html_to_text(html: &str) -> String {
    html_to_text_counted(html).0
}

/// [`html_to_text`], also returning the work it did: the number of input and output bytes
/// it looked at, every scan included. The linear-time tests assert on this figure (it grows
/// in proportion to the input for every input shape), never on wall-clock time.
pub fn html_to_text_counted(html: &str) -> (String, u64) {
    let mut conv = Converter {
        out: Out::default(),
        work: 0,
        no_close_from: [usize::MAX; SKIPPED.len()],
    };
    let text = conv.run(html);
    (text, conv.work)
}

/// Elements whose content is skipped up to their close tag.
const SKIPPED: [&str; 4] = ["script", "style", "head", "title"];

/// One conversion: the output, the work meter and what is known about missing close tags.
struct Converter {
    out: Out,
    /// Bytes looked at so far (see [`html_to_text_counted`]).
    work: u64,
    /// Per element of [`SKIPPED`]: an offset from which on the input has no close tag of it
    /// (`usize::MAX`: not known). A search that found none is never repeated, so many
    /// unclosed `<title>`s cost one scan, not one scan each (which was quadratic).
    no_close_from: [usize; SKIPPED.len()],
}

impl Converter {
    fn count(&mut self, n: usize) {
        self.work = self.work.saturating_add(n as u64);
    }

    fn run(&mut self, html: &str) -> String {
        let mut rest = html;
        let mut pre_depth = 0usize;

        while !rest.is_empty() {
            let Some(lt) = rest.find('<') else {
                self.count(rest.len());
                self.text(rest, pre_depth > 0);
                break;
            };
            self.count(lt + 1);
            if lt > 0 {
                self.text(&rest[..lt], pre_depth > 0);
            }
            rest = &rest[lt..];

            // Comments, doctype, CDATA, processing instructions.
            if let Some(after) = rest.strip_prefix("<!--") {
                self.count(3);
                rest = match after.find("-->") {
                    Some(end) => {
                        self.count(end + 3);
                        &after[end + 3..]
                    }
                    None => {
                        self.count(after.len());
                        ""
                    }
                };
                continue;
            }
            if rest.starts_with("<!") || rest.starts_with("<?") {
                rest = match rest.find('>') {
                    Some(end) => {
                        self.count(end + 1);
                        &rest[end + 1..]
                    }
                    None => {
                        self.count(rest.len());
                        ""
                    }
                };
                continue;
            }

            let Some(tag) = parse_tag(rest) else {
                // A `<` that does not start a tag is text.
                self.count(2);
                self.text("<", pre_depth > 0);
                rest = &rest[1..];
                continue;
            };
            self.count(tag.len);
            rest = &rest[tag.len..];
            let name = tag.name.as_str();

            if !tag.closing
                && let Some(k) = SKIPPED.iter().position(|s| *s == name)
            {
                // Skip to the matching close tag; an unclosed `<head>`/`<title>` is ignored
                // (the content shows), an unclosed `<script>`/`<style>` hides the rest.
                let at = html.len() - rest.len();
                let found = if at >= self.no_close_from[k] {
                    None
                } else {
                    let (found, scanned) = find_close_tag(rest, name);
                    self.count(scanned);
                    if found.is_none() {
                        self.no_close_from[k] = at;
                    }
                    found
                };
                match found {
                    Some((_, after)) => rest = &rest[after..],
                    None if k < 2 => rest = "",
                    None => {}
                }
                continue;
            }

            let out = &mut self.out;
            match name {
                "br" => out.br(),
                "pre" => {
                    out.block();
                    if tag.closing {
                        pre_depth = pre_depth.saturating_sub(1);
                    } else if !tag.self_closing {
                        pre_depth += 1;
                    }
                }
                "li" if !tag.closing => {
                    out.newline();
                    out.raw("- ");
                }
                "td" | "th" if !tag.closing => out.space(),
                "hr" => {
                    out.block();
                    out.raw("----");
                    out.block();
                }
                "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "ul"
                | "ol" | "dl" | "table" | "section" | "article" | "header" | "footer"
                | "address" | "center" | "form" | "fieldset" | "figure" | "main" | "nav"
                | "aside" => out.block(),
                "tr" | "li" | "dt" | "dd" | "caption" | "body" | "html" => out.newline(),
                _ => {}
            }
        }
        let out = std::mem::take(&mut self.out);
        self.count(out.buf.len());
        out.finish()
    }

    /// Character data (entities still encoded) into the output.
    fn text(&mut self, raw: &str, pre: bool) {
        let (decoded, scanned) = decode_entities_counted(raw);
        self.count(scanned + decoded.len());
        self.out.text(&decoded, pre);
    }
}

/// A parsed start or end tag.
struct Tag {
    /// Lower-case element name.
    name: String,
    closing: bool,
    self_closing: bool,
    /// Bytes consumed, including `<` and `>`.
    len: usize,
}

/// Parse the tag at the start of `s` (which starts with `<`). Returns `None` when the `<`
/// is not followed by a tag name (then it is literal text). Quoted attribute values may
/// contain `>`. An unterminated tag consumes the rest of the input.
fn parse_tag(s: &str) -> Option<Tag> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-') {
        i += 1;
    }
    if i == name_start || !bytes[name_start].is_ascii_alphabetic() {
        return None;
    }
    let name = s[name_start..i].to_ascii_lowercase();
    let mut quote: Option<u8> = None;
    let mut last_non_space = 0u8;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => {
                return Some(Tag {
                    name,
                    closing,
                    self_closing: last_non_space == b'/',
                    len: i + 1,
                });
            }
            None => {}
        }
        if !b.is_ascii_whitespace() {
            last_non_space = b;
        }
        i += 1;
    }
    Some(Tag {
        name,
        closing,
        self_closing: false,
        len: s.len(),
    })
}

/// Find `</name ...>` in `s`, ASCII case-insensitively. Returns (start, end-after-`>`) and
/// the number of bytes looked at.
fn find_close_tag(s: &str, name: &str) -> (Option<(usize, usize)>, usize) {
    let bytes = s.as_bytes();
    let needle = name.as_bytes();
    let mut from = 0;
    while let Some(pos) = s[from..].find("</") {
        let start = from + pos;
        let name_at = start + 2;
        let name_end = name_at + needle.len();
        if name_end <= bytes.len()
            && bytes[name_at..name_end].eq_ignore_ascii_case(needle)
            && bytes
                .get(name_end)
                .is_none_or(|b| !b.is_ascii_alphanumeric())
        {
            return match s[name_end..].find('>') {
                Some(p) => (Some((start, name_end + p + 1)), name_end + p + 1),
                None => (Some((start, s.len())), s.len()),
            };
        }
        from = start + 2;
    }
    (None, s.len())
}

/// Decode HTML character references in `s` (named ones we know, decimal and hex).
/// Unknown or malformed references are kept verbatim.
pub fn decode_entities(s: &str) -> String {
    decode_entities_counted(s).0
}

/// [`decode_entities`] and the number of bytes it looked at (at most 34 characters after
/// each `&`, so linear in `s`).
fn decode_entities_counted(s: &str) -> (String, usize) {
    let mut out = String::with_capacity(s.len());
    let mut scanned = 0usize;
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        scanned += amp + 1;
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // An entity is at most ~32 chars up to `;`.
        let mut looked = 0usize;
        let semi = rest
            .char_indices()
            .take(34)
            .inspect(|&(i, c)| looked = i + c.len_utf8())
            .find(|&(_, c)| c == ';')
            .map(|(i, _)| i);
        scanned += looked;
        let decoded = semi.and_then(|semi| decode_entity(&rest[1..semi]).map(|c| (c, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    scanned += rest.len();
    out.push_str(rest);
    (out, scanned)
}

/// Decode the body of one character reference (between `&` and `;`).
fn decode_entity(body: &str) -> Option<char> {
    if let Some(num) = body.strip_prefix('#') {
        let code = if let Some(hex) = num.strip_prefix(['x', 'X']) {
            u32::from_str_radix(hex, 16).ok()?
        } else {
            num.parse::<u32>().ok()?
        };
        // Windows-1252 numeric references (&#150; etc.) are common in mail.
        let code = match code {
            0x80 => 0x20AC,
            0x91 => 0x2018,
            0x92 => 0x2019,
            0x93 => 0x201C,
            0x94 => 0x201D,
            0x95 => 0x2022,
            0x96 => 0x2013,
            0x97 => 0x2014,
            0x85 => 0x2026,
            0 => 0xFFFD,
            c => c,
        };
        return Some(char::from_u32(code).unwrap_or('\u{FFFD}'));
    }
    let c = match body {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "sect" => '§',
        "deg" => '°',
        "plusmn" => '±',
        "times" => '×',
        "divide" => '÷',
        "frac12" => '½',
        "iexcl" => '¡',
        "iquest" => '¿',
        "shy" => '\u{ad}',
        "zwnj" => '\u{200c}',
        "zwj" => '\u{200d}',
        "agrave" => 'à',
        "aacute" => 'á',
        "acirc" => 'â',
        "atilde" => 'ã',
        "auml" => 'ä',
        "aring" => 'å',
        "aelig" => 'æ',
        "ccedil" => 'ç',
        "egrave" => 'è',
        "eacute" => 'é',
        "ecirc" => 'ê',
        "euml" => 'ë',
        "igrave" => 'ì',
        "iacute" => 'í',
        "icirc" => 'î',
        "iuml" => 'ï',
        "ntilde" => 'ñ',
        "ograve" => 'ò',
        "oacute" => 'ó',
        "ocirc" => 'ô',
        "otilde" => 'õ',
        "ouml" => 'ö',
        "oslash" => 'ø',
        "ugrave" => 'ù',
        "uacute" => 'ú',
        "ucirc" => 'û',
        "uuml" => 'ü',
        "yacute" => 'ý',
        "yuml" => 'ÿ',
        "szlig" => 'ß',
        "Agrave" => 'À',
        "Aacute" => 'Á',
        "Acirc" => 'Â',
        "Auml" => 'Ä',
        "Aring" => 'Å',
        "Ccedil" => 'Ç',
        "Egrave" => 'È',
        "Eacute" => 'É',
        "Ecirc" => 'Ê',
        "Iacute" => 'Í',
        "Ntilde" => 'Ñ',
        "Oacute" => 'Ó',
        "Ouml" => 'Ö',
        "Uacute" => 'Ú',
        "Uuml" => 'Ü',
        _ => return None,
    };
    Some(c)
}

/// The text being built, tracking pending whitespace and line breaks.
#[derive(Default)]
struct Out {
    buf: String,
    /// A space is owed before the next visible character.
    pending_space: bool,
    /// Line breaks owed before the next visible character (capped at 2).
    pending_newlines: usize,
}

impl Out {
    /// Append character data (entities decoded).
    fn text(&mut self, decoded: &str, pre: bool) {
        if pre {
            for c in decoded.chars() {
                if c == '\n' {
                    self.pending_space = false;
                    self.buf.push('\n');
                } else {
                    self.push_visible(c);
                }
            }
            return;
        }
        for c in decoded.chars() {
            if c.is_whitespace() && c != '\u{a0}' {
                self.pending_space = true;
            } else if c == '\u{a0}' {
                self.push_visible(' ');
            } else {
                self.push_visible(c);
            }
        }
    }

    /// Append literal text produced by the converter itself.
    fn raw(&mut self, s: &str) {
        for c in s.chars() {
            self.push_visible(c);
        }
        self.pending_space = false;
    }

    fn push_visible(&mut self, c: char) {
        if self.pending_newlines > 0 {
            if !self.buf.is_empty() {
                for _ in 0..self.pending_newlines {
                    self.buf.push('\n');
                }
            }
            self.pending_newlines = 0;
            self.pending_space = false;
        } else if self.pending_space && !self.buf.is_empty() && !self.buf.ends_with('\n') {
            self.buf.push(' ');
        }
        self.pending_space = false;
        self.buf.push(c);
    }

    /// Owe a space (between table cells).
    fn space(&mut self) {
        self.pending_space = true;
    }

    /// End the current line (block-ish elements such as `<tr>`, `<li>`).
    fn newline(&mut self) {
        self.pending_newlines = self.pending_newlines.max(1);
    }

    /// A `<br>`: each one counts, so `<br><br>` keeps the author's blank line.
    fn br(&mut self) {
        self.pending_newlines = (self.pending_newlines + 1).min(2);
    }

    /// Separate paragraphs by one blank line.
    fn block(&mut self) {
        self.pending_newlines = 2;
    }

    fn finish(self) -> String {
        let mut lines: Vec<&str> = Vec::new();
        let mut blank = 0;
        for line in self.buf.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                blank += 1;
                if blank > 1 {
                    continue;
                }
            } else {
                blank = 0;
            }
            lines.push(line);
        }
        lines.join("\n").trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_breaks_and_lists() {
        let t = html_to_text(
            "<html><head><title>x</title><style>p{color:red}</style></head><body>\
             <p>Halo&nbsp;Pak,</p><p>Lampu jalan <b>mati</b>.<br>Sudah 3&nbsp;hari.</p>\
             <ul><li>satu</li><li>dua</li></ul><script>alert(1)</script>Salam &amp; terima kasih</body></html>",
        );
        assert_eq!(
            t,
            "Halo Pak,\n\nLampu jalan mati.\nSudah 3 hari.\n\n- satu\n- dua\n\nSalam & terima kasih"
        );
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("&lt;a&gt; &#233; &#xE9; &#150; &bogus; & x"),
            "<a> é é – &bogus; & x"
        );
        assert_eq!(decode_entities("&#99999999999;"), "&#99999999999;");
        assert_eq!(decode_entities("&#x110000;"), "\u{FFFD}");
    }

    #[test]
    fn broken_input_does_not_panic() {
        for s in [
            "<",
            "<<",
            "</",
            "<a",
            "<a href='>",
            "<!--",
            "<!",
            "<script>",
            "<style>x",
            "a < b",
            "<p",
            "&",
            "&#",
            "&#x;",
            "<pre>a\n  b</pre>",
            "<br/><br/>",
            "é<é>é",
            "<1>",
            "</>",
            "<div class=\"a>b\">x</div>",
        ] {
            let _ = html_to_text(s);
        }
        assert_eq!(html_to_text("a < b"), "a < b");
        assert_eq!(html_to_text("<div class=\"a>b\">x</div>"), "x");
        assert_eq!(html_to_text("<pre>a\n  b</pre>"), "a\n  b");
        assert_eq!(html_to_text("<script>hidden"), "");
        assert_eq!(html_to_text("<title>t</title>visible"), "visible");
    }
}
