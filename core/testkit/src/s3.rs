//! A real S3 server (SeaweedFS) for tests. Written by the storage crate's author.
