//! Generated test media (ffmpeg CLI). Written by the media crate's author.
