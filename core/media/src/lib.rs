//! chillfi-media (being written)
