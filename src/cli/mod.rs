//! One module per subcommand.

pub mod check_config;
pub mod demo;
pub mod parse;
pub mod render;
pub mod run;
pub mod sim;
pub mod tail;
