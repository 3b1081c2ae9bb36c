//! The path parsing of filename-tagger, plain Rust with no bindings: compiled into the
//! plugin, and natively into core/plugin-host's benchmark (the "same logic as a native
//! function" baseline).

/// What could be read from a path. Pure logic, testable on the host.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub artist: Option<String>,
    pub album: Option<String>,
    pub title: Option<String>,
    pub track: Option<u32>,
    pub disc: Option<u32>,
    pub year: Option<u32>,
}

fn clean(s: &str) -> Option<String> {
    let s = s.trim().trim_matches(|c| c == '_' || c == '-').trim();
    if s.is_empty() {
        None
    } else {
        Some(s.replace('_', " "))
    }
}

/// "07", "7", "1-07" (disc-track) at the start of `s`, then a separator.
fn leading_track(s: &str) -> (Option<u32>, Option<u32>, &str) {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return (None, None, s);
    }
    let (num, rest) = s.split_at(digits);
    let Ok(n) = num.parse::<u32>() else {
        return (None, None, s);
    };
    // disc-track: "1-07 Title"
    if let Some(r) = rest.strip_prefix('-') {
        let d2 = r.bytes().take_while(u8::is_ascii_digit).count();
        if (1..=3).contains(&d2) {
            if let Ok(t) = r[..d2].parse::<u32>() {
                let after = &r[d2..];
                if let Some(after) = strip_sep(after) {
                    return (Some(t), Some(n), after);
                }
            }
        }
    }
    match strip_sep(rest) {
        Some(after) if !after.trim().is_empty() => (Some(n), None, after),
        _ => (None, None, s),
    }
}

fn strip_sep(s: &str) -> Option<&str> {
    for sep in [" - ", " – ", ". ", ".", " ", "_", "-"] {
        if let Some(r) = s.strip_prefix(sep) {
            return Some(r);
        }
    }
    None
}

/// "Album (2001)", "Album [2001]", "2001 - Album" -> (album, year)
fn album_and_year(dir: &str) -> (Option<String>, Option<u32>) {
    let d = dir.trim();
    for (open, close) in [('(', ')'), ('[', ']')] {
        if let Some(stripped) = d.strip_suffix(close) {
            if let Some(pos) = stripped.rfind(open) {
                if let Some(y) = year(&stripped[pos + 1..]) {
                    return (clean(&stripped[..pos]), Some(y));
                }
            }
        }
        if let Some(stripped) = d.strip_prefix(open) {
            if let Some(pos) = stripped.find(close) {
                if let Some(y) = year(&stripped[..pos]) {
                    return (clean(&stripped[pos + 1..]), Some(y));
                }
            }
        }
    }
    if let Some((a, b)) = d.split_once(" - ") {
        if let Some(y) = year(a) {
            return (clean(b), Some(y));
        }
    }
    (clean(d), None)
}

fn year(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|y| (1000..=2100).contains(y))
}

fn disc_dir(dir: &str) -> Option<u32> {
    let l = dir.trim().to_ascii_lowercase();
    for p in ["disc", "disk", "cd"] {
        if let Some(rest) = l.strip_prefix(p) {
            let rest = rest.trim_start_matches([' ', '_', '-', '.']);
            if !rest.is_empty() && rest.len() <= 3 && rest.bytes().all(|b| b.is_ascii_digit()) {
                return rest.parse().ok();
            }
        }
    }
    None
}

/// Reads what it can from a '/'-separated relative path (the file name is its last part).
pub fn parse_path(relative_path: &str, use_folders: bool) -> Parsed {
    let parts: Vec<&str> = relative_path
        .split(['/', '\\'])
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect();
    let mut out = Parsed::default();
    let Some((file, dirs)) = parts.split_last() else {
        return out;
    };
    let stem = match file.rsplit_once('.') {
        Some((s, ext))
            if (1..=5).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            s
        }
        _ => file,
    };

    let (track, disc, rest) = leading_track(stem);
    out.track = track;
    out.disc = disc;
    // "Artist - Title" (possibly after a track number)
    match rest.split_once(" - ") {
        Some((a, t)) => {
            out.artist = clean(a);
            out.title = clean(t);
        }
        None => out.title = clean(rest),
    }

    if use_folders {
        let mut dirs: Vec<&str> = dirs.to_vec();
        if let Some(d) = dirs.last().and_then(|d| disc_dir(d)) {
            out.disc = out.disc.or(Some(d));
            dirs.pop();
        }
        match dirs.as_slice() {
            [.., artist_dir, album_dir] => {
                let (album, y) = album_and_year(album_dir);
                out.album = album;
                out.year = y;
                if out.artist.is_none() {
                    out.artist = clean(artist_dir);
                }
            }
            [album_dir] => {
                // "Artist - Album (2001)" or just "Album (2001)"
                let (album, y) = album_and_year(album_dir);
                out.year = y;
                match album.as_deref().and_then(|a| a.split_once(" - ")) {
                    Some((a, b)) => {
                        if out.artist.is_none() {
                            out.artist = clean(a);
                        }
                        out.album = clean(b);
                    }
                    None => out.album = album,
                }
            }
            [] => {}
        }
    }
    out
}
