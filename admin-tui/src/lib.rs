//! `meshtop`: the operator's terminal UI for Meshwork admin endpoints (`meshwork.admin.v1`).
//!
//! State → update → render (DESIGN.md "meshtop", STYLE.md rule 13): [`app`] holds the state and
//! the pure `update`, [`ui`] the pure `render`, [`data`] one task per admin endpoint, [`shell`] the
//! single `select!` loop over terminal input, ticks and data, and [`cli`] the arguments. It does
//! not serve anything and keeps no state beyond what the endpoints report.

pub mod app;
pub mod cli;
pub mod data;
pub mod model;
pub mod shell;
pub mod ui;

#[cfg(test)]
mod fixtures;
