//! Errors. Their `Display` text is shown to end users (in the UI and in
//! `inbox/failed/<name>.error.txt`), so it says what is wrong with *their file* in plain words.

/// Why a file could not be probed or converted.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("the file is empty")]
    Empty,
    /// The string names what the file looks like instead (e.g. `hls playlist`, `png image`).
    #[error("not an audio file we accept: detected {0}")]
    UnsupportedFormat(String),
    #[error("the file contains no audio stream")]
    NoAudioStream,
    #[error("the audio data is damaged or truncated: {0}")]
    Corrupt(String),
    #[error("the conversion was cancelled")]
    Cancelled,
    #[error("could not read or write the file: {0}")]
    Io(#[from] std::io::Error),
    /// An FFmpeg failure that is not the file's fault (missing encoder, bad settings, ...).
    #[error("audio processing failed: {0}")]
    Ffmpeg(String),
}

impl From<ffmpeg_next::Error> for MediaError {
    fn from(e: ffmpeg_next::Error) -> Self {
        MediaError::Ffmpeg(e.to_string())
    }
}
