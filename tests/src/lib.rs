//! Helpers for the differential tests.
