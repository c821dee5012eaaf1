"""The webhook worker: receives signed deliveries from the database, runs each job, reports through RPCs."""
