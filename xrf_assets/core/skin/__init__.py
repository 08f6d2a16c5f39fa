"""Peak skin dose: irradiation event geometry (TID 10003) on a patient phantom (issue 16)."""
