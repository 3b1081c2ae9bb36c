//! Log output: plain text or JSON on stderr. Colours only on a terminal (and never with
//! `NO_COLOR`); under systemd each line starts with its syslog priority (`<3>` … `<7>`), which
//! journald takes as the line's priority (`SyslogLevelPrefix=`, on by default) and strips.

use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{Config, LogFormat};

/// Where the log lines go, which decides how they are dressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub colour: bool,
    pub journal: bool,
}

impl Output {
    /// Read off the process: stderr a terminal, `NO_COLOR` set (to anything non-empty, as
    /// no-color.org says), stderr connected to the journal (systemd sets `JOURNAL_STREAM`).
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            colour: std::io::stderr().is_terminal() && !no_color,
            journal: std::env::var_os("JOURNAL_STREAM").is_some(),
        }
    }
}

pub fn init(cfg: &Config, force_json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let out = Output::detect();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(out.colour);
    if force_json || cfg.log.format == LogFormat::Json {
        builder.json().init();
    } else if out.journal {
        // The journal stamps every line itself.
        let text = tracing_subscriber::fmt::format()
            .without_time()
            .with_ansi(false);
        builder.event_format(SyslogPriority(text)).init();
    } else {
        builder.init();
    }
}

/// syslog(3) priority of a tracing level.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Prefixes each line of an inner format with `<priority>`.
struct SyslogPriority<F>(F);

impl<S, N, F> FormatEvent<S, N> for SyslogPriority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_syslog_priorities() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
    }
}
