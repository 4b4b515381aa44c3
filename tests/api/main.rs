//! Integration tests: the real service over HTTP, on SQLite or (with `TEST_DATABASE_URL`)
//! PostgreSQL. Each test gets its own database.

mod cli;
mod families;
mod helpers;
mod isolation;
mod life_events;
mod operations;
mod planning;
mod privacy;
mod templates;
mod validation;
