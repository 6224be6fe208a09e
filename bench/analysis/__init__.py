"""Post-processing of records: aggregates, ECDFs, profiles. Reads records only."""
