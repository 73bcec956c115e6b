"""Beat: periodic tasks (schedules, the scheduler, its state store and the leader lock)."""
