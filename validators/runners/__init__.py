"""What each command runs: options in, a Report out (validate, train-check, split, gate)."""
