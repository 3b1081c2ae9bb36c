//! Lyrics as read from a song's file: plain text, or LRC (`[mm:ss.xx]` before each line, several
//! stamps for a repeated line, `[ar:…]`-style header tags ignored) which becomes timed lines.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    /// Milliseconds from the start of the song; `None` in unsynced lyrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lyrics {
    pub synced: bool,
    pub lines: Vec<Line>,
}

/// `[mm:ss]`, `[mm:ss.x]`, `[mm:ss.xx]`, `[mm:ss.xxx]` (also with `:` before the fraction).
fn stamp(tag: &str) -> Option<u64> {
    let (min, rest) = tag.split_once(':')?;
    let (sec, frac) = match rest.split_once(['.', ':']) {
        Some((s, f)) => (s, f),
        None => (rest, ""),
    };
    let min: u64 = min.trim().parse().ok()?;
    let sec: u64 = sec.trim().parse().ok().filter(|s| *s < 60)?;
    let frac_ms = match frac.len() {
        0 => 0,
        1..=3 if frac.bytes().all(|b| b.is_ascii_digit()) => {
            frac.parse::<u64>().ok()? * 10u64.pow(3 - frac.len() as u32)
        }
        _ => return None,
    };
    Some(min * 60_000 + sec * 1000 + frac_ms)
}

pub fn parse(text: &str) -> Lyrics {
    let mut timed = Vec::new();
    for raw in text.lines() {
        let mut rest = raw.trim_start();
        let mut starts = Vec::new();
        while let Some(inner) = rest.strip_prefix('[') {
            let Some((tag, after)) = inner.split_once(']') else {
                break;
            };
            match stamp(tag) {
                Some(ms) => starts.push(ms),
                None if starts.is_empty() => break, // a header tag like [ar:Someone]
                None => break,
            }
            rest = after;
        }
        for start in starts {
            timed.push(Line {
                start_ms: Some(start),
                text: rest.trim().to_string(),
            });
        }
    }
    if !timed.is_empty() {
        timed.sort_by_key(|l| l.start_ms);
        return Lyrics {
            synced: true,
            lines: timed,
        };
    }
    Lyrics {
        synced: false,
        lines: text
            .lines()
            .map(|l| Line {
                start_ms: None,
                text: l.trim_end().to_string(),
            })
            .collect(),
    }
}

impl Lyrics {
    /// The words alone, one line each (the classic `getLyrics` answer).
    pub fn plain(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lrc_becomes_timed_lines_in_order() {
        let l = parse(
            "[ar:Someone]\n[ti:Song]\n[00:12.50]second\n[00:01.00][01:02.3]first and again\nno stamp\n",
        );
        assert!(l.synced);
        let got: Vec<_> = l
            .lines
            .iter()
            .map(|x| (x.start_ms, x.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(1000), "first and again"),
                (Some(12_500), "second"),
                (Some(62_300), "first and again"),
            ]
        );
    }

    #[test]
    fn plain_text_stays_as_written() {
        let l = parse("Line one\n\n[Chorus]\nLine two  ");
        assert!(!l.synced);
        assert_eq!(l.plain(), "Line one\n\n[Chorus]\nLine two");
        assert!(l.lines.iter().all(|x| x.start_ms.is_none()));
    }

    #[test]
    fn odd_stamps_are_not_times() {
        assert_eq!(stamp("00:61.00"), None);
        assert_eq!(stamp("aa:01"), None);
        assert_eq!(stamp("01:02:345"), Some(62_345));
        assert_eq!(stamp("1:02.5"), Some(62_500));
    }
}
