//! chillfi-plugin-host (being written)
