"""Pure statistics for stability and bioanalytical data (USP rounding now; ICH Q1E and OOT later)."""
