"""DICOM networking: a Storage SCP that files received objects into the input tree, and a
query/retrieve client that asks a PACS to send dose reports to it. Dagster-free."""
