"""The book's pipeline: profiles, seeding, claims and verdicts, runs and records, the runner,
freshness, generated pages and the ``relubook`` command. Imports nothing (see ``DESIGN.md``)."""
