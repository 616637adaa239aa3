"""Pure statistics for stability and bioanalytical data: USP rounding, ICH Q1E shelf life and
poolability, OOT limits (regression, by-time-point and slope control charts), exact tolerance factors
and ICH M10 incurred sample reanalysis. numpy/scipy only; no I/O."""
