//! A behaviour case: a name and a plain function, runnable by `cargo test` on
//! the host and by the semihosting runner on a microcontroller.

use core::fmt;

/// Where and why a case failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The source line of the failed check.
    pub line: u32,
    /// The check, as written.
    pub check: &'static str,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.check)
    }
}

/// The outcome of one case.
pub type Outcome = Result<(), Failure>;

/// One named case.
#[derive(Clone, Copy)]
pub struct Case {
    /// The name printed by runners.
    pub name: &'static str,
    /// The body.
    pub run: fn() -> Outcome,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// Fails the case unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr) => {
        if !($cond) {
            return Err($crate::case::Failure {
                line: line!(),
                check: stringify!($cond),
            });
        }
    };
}

/// Fails the case unless both sides are equal.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr) => {
        if ($left) != ($right) {
            return Err($crate::case::Failure {
                line: line!(),
                check: concat!(stringify!($left), " == ", stringify!($right)),
            });
        }
    };
}

/// Runs `cases`, reporting each through `report`; returns (passed, failed).
pub fn run_all(
    cases: impl IntoIterator<Item = Case>,
    mut report: impl FnMut(&Case, &Outcome),
) -> (usize, usize) {
    let mut passed = 0usize;
    let mut failed = 0usize;
    for case in cases {
        let outcome = (case.run)();
        report(&case, &outcome);
        if outcome.is_ok() {
            passed = passed.saturating_add(1);
        } else {
            failed = failed.saturating_add(1);
        }
    }
    (passed, failed)
}
