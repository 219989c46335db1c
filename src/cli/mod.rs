//! One module per subcommand.

pub mod check_config;
pub mod demo;
pub mod parse;
pub mod render;
pub mod run;
pub mod sim;
mod sim_modbus;
pub mod tail;
