"""The merchant service: shops, their credentials and rules, redemptions and statements."""
