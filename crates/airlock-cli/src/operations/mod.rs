//! What commands do, as operations on the home and on node processes: starting,
//! stopping and querying nodes, enrolling, asking a project's authority, hosting a project,
//! the rules of Kafka inlet routes and ports.
//! Commands call these and print; operations never print results (progress goes to stderr).

pub mod confirm;
pub mod db_password;
pub mod enrollment;
pub mod hosting;
pub mod kafka;
pub mod process;
pub mod progress;
