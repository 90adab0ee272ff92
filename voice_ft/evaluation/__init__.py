"""Evaluation shared by every task: numpy metrics, classifier evaluation, and run reports (JSON, PNG plots)."""
