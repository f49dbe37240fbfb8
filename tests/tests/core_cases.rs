//! The core cases on the host: one `#[test]` each, for the fixed and the alloc table.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::panic
)]
#![allow(missing_docs)]

use sesh_tests::case::Case;
use sesh_tests::table_cases::CAPACITY;

fn alloc_table() -> sesh::AllocSessionTable<u32> {
    sesh::AllocSessionTable::with_max_sessions(CAPACITY)
}

fn run(cases: &[Case], name: &str) {
    let case = cases
        .iter()
        .find(|c| c.name.ends_with(name))
        .unwrap_or_else(|| panic!("no case {name}"));
    if let Err(failure) = (case.run)() {
        panic!("{}: {failure}", case.name);
    }
}

macro_rules! host_tests {
    ($($case:ident),* $(,)?) => {
        mod fixed {
            $(#[test] fn $case() { super::run(&sesh_tests::table_cases!("fixed", sesh_tests::fixed_table), stringify!($case)); })*
        }
        mod alloc {
            $(#[test] fn $case() { super::run(&sesh_tests::table_cases!("alloc", super::alloc_table), stringify!($case)); })*
        }
    };
}

host_tests!(
    create_then_get,
    unknown_ids_select_nothing,
    update_is_read_modify_write,
    idle_expiry_boundaries,
    absolute_expiry_boundaries,
    refresh_is_throttled,
    regenerate_moves_the_session,
    destroy_removes,
    full_table_drops_expired_first,
    full_table_evicts_lru_unprotected,
    all_protected_is_full,
    rng_failure_fails_closed,
    repeated_ids_never_overwrite,
    insert_never_overwrites_a_live_session,
    purge_and_next_expiry,
    snapshot_round_trip,
    snapshot_across_reboot,
    damaged_snapshots_are_refused_whole,
    foreign_and_future_snapshots,
);

#[test]
fn every_case_is_listed_on_the_host() {
    // The host list above must cover every case the MCU runner runs.
    let listed = sesh_tests::table_cases!("fixed", sesh_tests::fixed_table).len();
    assert_eq!(listed, 19);
}

/// The owner cases (issue 16) on both tables: the same bodies the MCU runner runs.
mod owner {
    macro_rules! owner_tests {
        ($($case:ident),* $(,)?) => {
            mod fixed {
                $(#[test] fn $case() { crate::run(&sesh_tests::owner_cases!("fixed", sesh_tests::fixed_table), stringify!($case)); })*
            }
            mod alloc {
                $(#[test] fn $case() { crate::run(&sesh_tests::owner_cases!("alloc", crate::alloc_table), stringify!($case)); })*
            }

            #[test]
            fn every_owner_case_is_listed_on_the_host() {
                let listed = [$(stringify!($case)),*];
                let cases = sesh_tests::owner_cases!("fixed", sesh_tests::fixed_table);
                assert_eq!(cases.len(), listed.len());
                for case in cases {
                    assert!(
                        listed.iter().any(|name| case.name.ends_with(name)),
                        "{} has no #[test] here",
                        case.name
                    );
                }
            }
        };
    }

    owner_tests!(
        listing_shows_each_session,
        revoke_never_crosses_users,
        revoke_all_keeps_the_current_one,
        per_user_cap_ends_the_least_recently_used,
        gone_sessions_leave_the_listing,
        lifetimes_are_per_session,
        sign_in_is_one_step,
        a_refused_sign_in_changes_nothing,
        owners_survive_a_snapshot,
    );
}

#[test]
fn cookie_and_signing_cases() {
    for case in sesh_tests::cookie_cases::COOKIE_CASES {
        if let Err(failure) = (case.run)() {
            panic!("{}: {failure}", case.name);
        }
    }
}

/// The cookie decision cases: the header rules both adapters follow.
#[test]
fn cookie_decision_cases() {
    for case in sesh_tests::decision_cases::DECISION_CASES {
        if let Err(failure) = (case.run)() {
            panic!("{}: {failure}", case.name);
        }
    }
}

/// The flash persistence cases (feature `flash`): the same bodies the MCU runner runs.
mod flash {
    macro_rules! flash_tests {
        ($($case:ident),* $(,)?) => {
            $(#[test] fn $case() { super::run(&sesh_tests::flash_cases::flash_cases(), stringify!($case)); })*

            #[test]
            fn every_flash_case_is_listed_on_the_host() {
                let listed = [$(stringify!($case)),*];
                let cases = sesh_tests::flash_cases::flash_cases();
                assert_eq!(cases.len(), listed.len());
                for case in cases {
                    assert!(
                        listed.iter().any(|name| case.name.ends_with(name)),
                        "{} has no #[test] here",
                        case.name
                    );
                }
            }
        };
    }

    flash_tests!(
        save_then_restore_gives_the_same_sessions,
        power_loss_at_every_step_of_a_save_leaves_the_old_or_the_new_snapshot,
        a_corrupted_page_restores_an_older_snapshot_or_nothing,
        a_damaged_snapshot_in_flash_is_refused,
        a_restore_after_reboot_keeps_the_remaining_lifetimes,
    );
}
