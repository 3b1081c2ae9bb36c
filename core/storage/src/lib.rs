//! chillfi-storage (being written)
