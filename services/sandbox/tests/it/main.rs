//! Integration tests: a real sandbox on a loopback port, driven over HTTP with reqwest.

mod auth;
mod conformance;
mod contacts;
mod control;
mod extras;
mod faults;
mod helpers;
mod locations;
mod oauth;
mod persistence;
mod rate_limit;
mod search;
mod shift4shop;
mod telemetry;
