"""pg-workflow: a PostgreSQL-native backend for the Workflow DevKit."""

__version__ = "0.1.0"
