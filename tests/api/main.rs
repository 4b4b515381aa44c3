//! Integration tests: the real service over HTTP, on SQLite or (with `TEST_DATABASE_URL`)
//! PostgreSQL. Each test gets its own database.

mod accountability;
mod cli;
mod console;
mod console_desk;
mod console_hand_off;
mod console_safety;
mod console_sign_in;
mod console_starters;
mod crash;
mod db_copy;
mod delivery;
mod delivery_pace;
mod events;
mod families;
mod health_information;
mod helpers;
mod isolation;
#[path = "../../src/bin/nonstop-bench/jpki_ca.rs"]
mod jpki_ca;
mod keys;
mod life_events;
mod mocks;
mod notices;
mod once_only;
mod operations;
mod paging;
mod planning;
mod privacy;
mod push_service;
mod retries;
mod signatures;
mod stale_writes;
mod submissions;
mod templates;
mod tenants;
mod time;
mod vaccinations;
mod validation;
mod writes;
