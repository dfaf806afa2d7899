//! Pure functions and types of the learning store: no I/O, no SQL, no proto.

pub mod budget;
pub mod diversity;
pub mod entropy;
pub mod entropy_sums;
pub mod explanation;
pub mod records;
pub mod replay;
pub mod response;

/// Turns -0.0 into +0.0 (the original leaks -0.0 from single-pattern entropy).
pub fn positive_zero(value: f64) -> f64 {
    value + 0.0
}

/// Fixed-point with 3 decimals, as the original's `%.3f` (for finite values).
pub fn fmt3(value: f64) -> String {
    format!("{:.3}", positive_zero(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_zero_becomes_positive() {
        assert!(positive_zero(-0.0).is_sign_positive());
        assert_eq!(fmt3(-0.0), "0.000");
    }

    #[test]
    fn three_decimals_round_from_the_binary_value() {
        assert_eq!(fmt3(0.0625), "0.062");
        assert_eq!(fmt3(0.0505), "0.051");
        assert_eq!(fmt3(0.0486), "0.049");
        assert_eq!(fmt3(0.0004), "0.000");
    }
}
